//! The markdown: per pair a table with both sides, the ratio ours/theirs and the spread across
//! rounds, the floor beside them, then the targets with a plain verdict.

use std::fmt::Write as _;

use crate::pairs::Pair;
use crate::side::Run;

/// Row key, label. `{multi}` and `{tls}` are filled per pair.
pub const ROWS: &[(&str, &str)] = &[
    ("cpu_seq_gz", "CPU-s per 1000 scrapes, sequential, gzip"),
    ("cpu_seq", "CPU-s per 1000 scrapes, sequential, plain text"),
    (
        "cpu_multi",
        "CPU-s per 1000 scrapes, {multi}, sequential, gzip",
    ),
    ("cpu_tls", "CPU-s per 1000 scrapes, {tls}, sequential, gzip"),
    ("cpu_c10", "CPU-s per 1000 scrapes, 10 concurrent, gzip"),
    ("cpu_c64", "CPU-s per 1000 scrapes, 64 concurrent, gzip"),
    ("idle_rss_mb", "RSS idle, MiB"),
    ("rss_after_mb", "RSS after the sequential scrapes, MiB"),
    ("anon_after_mb", "… of which anonymous (heap, stacks), MiB"),
    (
        "file_after_mb",
        "… of which file-backed (binary, libraries), MiB",
    ),
    ("hwm_mb", "RSS peak (VmHWM) at the end, MiB"),
    ("idle_rss_tls", "RSS idle, {tls} listener, MiB"),
    ("rss_tls", "RSS after the {tls} scrapes, MiB"),
    ("hwm_tls", "RSS peak (VmHWM), {tls} listener, MiB"),
    ("threads", "threads at the end"),
    ("p50_seq_gz", "latency p50, sequential, gzip, ms"),
    ("p99_seq_gz", "latency p99, sequential, gzip, ms"),
    ("p50_seq", "latency p50, sequential, plain text, ms"),
    ("p99_seq", "latency p99, sequential, plain text, ms"),
    ("p99_multi", "latency p99, {multi}, sequential, gzip, ms"),
    ("p99_tls", "latency p99, {tls}, sequential, gzip, ms"),
    ("p50_c10", "latency p50, 10 concurrent, gzip, ms"),
    ("p99_c10", "latency p99, 10 concurrent, gzip, ms"),
    ("p50_c64", "latency p50, 64 concurrent, gzip, ms"),
    ("p99_c64", "latency p99, 64 concurrent, gzip, ms"),
    ("wire_gz", "bytes on the wire per scrape, gzip"),
    ("wire_plain", "bytes on the wire per scrape, plain text"),
    ("wire_multi", "bytes on the wire per scrape, {multi}, gzip"),
    ("series", "series per scrape"),
    ("series_multi", "series per scrape, {multi}"),
    ("backend_work", "backend work per scrape"),
    ("backend_cpu", "backend CPU-s per 1000 scrapes"),
    ("bin_mb", "binary size, MiB"),
    (
        "failed_seq_gz",
        "failed scrapes, sequential gzip (sum over rounds)",
    ),
    (
        "failed_seq",
        "failed scrapes, sequential plain text (sum over rounds)",
    ),
    ("failed_multi", "failed scrapes, {multi} (sum over rounds)"),
    ("failed_tls", "failed scrapes, {tls} (sum over rounds)"),
    (
        "failed_c10",
        "failed scrapes, 10 concurrent (sum over rounds)",
    ),
    (
        "failed_c64",
        "failed scrapes, 64 concurrent (sum over rounds)",
    ),
    ("failed", "failed scrapes, all phases (sum over rounds)"),
];

/// Rows of the allocator A/B table.
const ALT_ROWS: &[&str] = &[
    "cpu_seq_gz",
    "p99_seq_gz",
    "idle_rss_mb",
    "rss_after_mb",
    "anon_after_mb",
    "hwm_mb",
];

/// One round of a pair (`Err` = skipped, with why).
#[derive(Debug)]
pub struct Round {
    /// The Go original (its TLS process merged in).
    pub go: Result<Run, String>,
    /// Ours (its TLS process merged in).
    pub ours: Result<Run, String>,
    /// The backend's own floor.
    pub floor: Result<Run, String>,
    /// Ours built with musl's own malloc instead of dlmalloc (the allocator A/B), when run.
    pub alt: Option<Result<Run, String>>,
}

/// All rounds of one pair.
#[derive(Debug, Default)]
pub struct PairResult {
    /// Which pair.
    pub pair: Option<Pair>,
    /// Go side label (binary and version).
    pub go_label: String,
    /// Our side label.
    pub ours_label: String,
    /// Per round: Go, ours, floor, allocator B.
    pub rounds: Vec<Round>,
    /// Why scrapes failed, per round and side.
    pub notes: Vec<String>,
    /// Skip reason for the whole pair.
    pub skipped: Option<String>,
}

/// `1234567` as `1,234,567`.
pub fn thousands(v: u64) -> String {
    group_digits(&v.to_string())
}

/// A run of decimal digits with a comma before every group of three from the right.
fn group_digits(digits: &str) -> String {
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A number with sensible precision.
pub fn num(v: f64) -> String {
    if v.is_nan() {
        "—".into()
    } else if v.abs() >= 1000.0 {
        let s = format!("{v:.0}");
        // Thousands separators keep byte counts readable.
        match s.strip_prefix('-') {
            Some(digits) => format!("-{}", group_digits(digits)),
            None => group_digits(&s),
        }
    } else if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else if v.abs() >= 0.1 || v == 0.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

fn median(v: &[f64]) -> f64 {
    let mut v: Vec<f64> = v.iter().copied().filter(|x| !x.is_nan()).collect();
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    }
}

fn min_max(v: &[f64]) -> (f64, f64) {
    let v: Vec<f64> = v.iter().copied().filter(|x| !x.is_nan()).collect();
    let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if v.is_empty() {
        (f64::NAN, f64::NAN)
    } else {
        (lo, hi)
    }
}

/// Median with the min–max across rounds (just the value when there is one round).
fn spread(v: &[f64], int: bool) -> String {
    let num = |x: f64| {
        if int && x.abs() < 1000.0 {
            format!("{x:.0}")
        } else {
            num(x)
        }
    };
    let v: Vec<f64> = v.iter().copied().filter(|x| !x.is_nan()).collect();
    match v.len() {
        0 => "—".into(),
        1 => num(v[0]),
        _ => {
            let (lo, hi) = min_max(&v);
            format!("{} ({}–{})", num(median(&v)), num(lo), num(hi))
        }
    }
}

impl PairResult {
    fn side(r: &Round, which: usize) -> Option<&Result<Run, String>> {
        match which {
            0 => Some(&r.go),
            1 => Some(&r.ours),
            2 => Some(&r.floor),
            _ => r.alt.as_ref(),
        }
    }

    fn values(&self, which: usize, key: &str) -> Vec<f64> {
        self.rounds
            .iter()
            .filter_map(|r| Self::side(r, which)?.as_ref().ok())
            .filter_map(|run| run.get(key).copied())
            .collect()
    }

    /// Per-round ratios side `num`/side `den` for `key`.
    fn ratios(&self, key: &str, num: usize, den: usize) -> Vec<f64> {
        self.rounds
            .iter()
            .filter_map(|r| {
                let g = Self::side(r, den)?.as_ref().ok()?.get(key)?;
                let o = Self::side(r, num)?.as_ref().ok()?.get(key)?;
                (*g > 0.0).then(|| o / g)
            })
            .collect()
    }

    /// Ratio ours/theirs of the medians, with the per-round min–max.
    fn ratio_cell(&self, key: &str) -> (f64, String) {
        self.ratio_cell_of(key, 1, 0)
    }

    /// Ratio side `num`/side `den` of the medians, with the per-round min–max.
    fn ratio_cell_of(&self, key: &str, top: usize, den: usize) -> (f64, String) {
        let g = median(&self.values(den, key));
        let o = median(&self.values(top, key));
        if g.is_nan() || o.is_nan() || g == 0.0 {
            return (f64::NAN, "—".into());
        }
        let r = o / g;
        let rs = self.ratios(key, top, den);
        let cell = if rs.len() > 1 {
            let (lo, hi) = min_max(&rs);
            format!("**{}** ({}–{})", num(r), num(lo), num(hi))
        } else {
            format!("**{}**", num(r))
        };
        (r, cell)
    }

    fn side_errors(&self, which: usize) -> Vec<String> {
        let errs: Vec<String> = self
            .rounds
            .iter()
            .filter_map(|r| Self::side(r, which)?.as_ref().err())
            .cloned()
            .collect();
        errs
    }

    /// The figures and verdicts for machines (`--output json`).
    pub fn json(&self) -> serde_json::Value {
        let side = |r: &Result<Run, String>| match r {
            Ok(run) => serde_json::json!(run),
            Err(why) => serde_json::json!({ "skipped": why }),
        };
        let rounds: Vec<serde_json::Value> = self
            .rounds
            .iter()
            .map(|r| {
                serde_json::json!({
                    "go": side(&r.go),
                    "ours": side(&r.ours),
                    "floor": side(&r.floor),
                    "ours_musl_malloc": r.alt.as_ref().map(side),
                })
            })
            .collect();
        let targets: Vec<serde_json::Value> = self
            .targets()
            .into_iter()
            .map(|[_, target, figure, verdict]| {
                serde_json::json!({ "target": target, "figure": figure, "met": verdict == "met" })
            })
            .collect();
        serde_json::json!({
            "pair": self.pair.map(Pair::name),
            "go": self.go_label,
            "ours": self.ours_label,
            "skipped": self.skipped,
            "targets": targets,
            "rounds": rounds,
            "notes": self.notes,
        })
    }

    /// The label of a row for this pair.
    fn label(pair: Pair, key: &str, label: &str) -> Option<String> {
        if key == "backend_work" {
            let unit = pair.backend_unit();
            return (!unit.is_empty()).then(|| unit.to_owned());
        }
        let tls = if pair == Pair::Redis {
            "TLS only"
        } else {
            "TLS + basic auth"
        };
        Some(
            label
                .replace(
                    "{multi}",
                    &format!("multi-target {}", pair.multi_target_path()),
                )
                .replace("{tls}", tls),
        )
    }

    /// Whether ours is the glibc build (its RSS target is 0.30×, the static build's 0.25×).
    fn glibc(&self) -> bool {
        self.ours_label.contains("glibc")
    }

    /// The pair's section.
    pub fn markdown(&self, out: &mut String) {
        let Some(pair) = self.pair else { return };
        let _ = writeln!(
            out,
            "### {}: {} vs {}\n",
            pair.name(),
            self.ours_label,
            self.go_label
        );
        if let Some(why) = &self.skipped {
            let _ = writeln!(out, "Skipped: {why}\n");
            return;
        }
        if pair == Pair::Agent {
            let _ = writeln!(
                out,
                "Each side serves host, Redis and PostgreSQL on the same backends; three scrape loops \
                 run at once, one per exporter, sequential on one keep-alive connection each, gzip. \
                 CPU is the sum over the side's processes per 1000 scrapes *of each* exporter; RSS \
                 and threads are summed over the processes.\n"
            );
        }
        let _ = writeln!(
            out,
            "| figure | Go original | ours | ours/theirs | floor |\n|---|---|---|---|---|"
        );
        for (key, label) in ROWS {
            let Some(label) = Self::label(pair, key, label) else {
                continue;
            };
            let g = self.values(0, key);
            let o = self.values(1, key);
            let f = self.values(2, key);
            if g.is_empty() && o.is_empty() && f.is_empty() {
                continue;
            }
            let (g_cell, o_cell, f_cell, r_cell) = if key.starts_with("failed") {
                let sum = |v: &[f64]| {
                    if v.is_empty() {
                        "—".into()
                    } else {
                        format!("{:.0}", v.iter().sum::<f64>())
                    }
                };
                (sum(&g), sum(&o), sum(&f), String::new())
            } else {
                let int = key.starts_with("series") || key.starts_with("wire") || *key == "threads";
                (
                    spread(&g, int),
                    spread(&o, int),
                    spread(&f, int),
                    self.ratio_cell(key).1,
                )
            };
            let _ = writeln!(
                out,
                "| {label} | {g_cell} | {o_cell} | {r_cell} | {f_cell} |"
            );
        }
        if pair == Pair::Redis && !self.values(0, "cpu_tls").is_empty() {
            let _ = writeln!(
                out,
                "\nTLS rows: redis_exporter 1.45 has no basic auth (TLS from its \
                 `--tls-server-*` flags), so both sides serve TLS only; ours from \
                 `--web.config.file`."
            );
        }
        if !pair.floor_desc().is_empty() {
            let _ = writeln!(out, "\nFloor: {}.", pair.floor_desc());
        }
        for (which, name) in [(0, "Go original"), (1, "ours"), (2, "floor")] {
            let mut errs = self.side_errors(which);
            let rounds = errs.len();
            errs.dedup();
            if rounds > 0 {
                let _ = writeln!(
                    out,
                    "\n{name} skipped in {rounds} round(s): {}",
                    errs.join("; ")
                );
            }
        }
        self.alt_markdown(out);
        if !self.notes.is_empty() {
            let _ = writeln!(
                out,
                "\nNotes (failed scrapes, rows a side does not serve):\n"
            );
            for n in &self.notes {
                let _ = writeln!(out, "- {n}");
            }
        }
        let _ = writeln!(out);
    }

    /// The allocator A/B table: ours with dlmalloc (what we ship) beside ours with musl's own
    /// malloc, same source, same round.
    fn alt_markdown(&self, out: &mut String) {
        if self.rounds.iter().all(|r| r.alt.is_none()) {
            return;
        }
        let _ = writeln!(
            out,
            "\nAllocator A/B (static musl builds of the same source, same round; bench/run builds \
             the B side with `dlmalloc` patched to a shim over musl's malloc, see bench/README.md):\n\n\
             | figure | ours, dlmalloc | ours, musl's malloc | musl/dlmalloc |\n|---|---|---|---|"
        );
        for key in ALT_ROWS {
            let Some((_, label)) = ROWS.iter().find(|(k, _)| k == key) else {
                continue;
            };
            let o = self.values(1, key);
            let a = self.values(3, key);
            if o.is_empty() && a.is_empty() {
                continue;
            }
            let _ = writeln!(
                out,
                "| {label} | {} | {} | {} |",
                spread(&o, false),
                spread(&a, false),
                self.ratio_cell_of(key, 3, 1).1
            );
        }
        let mut errs = self.side_errors(3);
        let rounds = errs.len();
        errs.dedup();
        if rounds > 0 {
            let _ = writeln!(
                out,
                "\nmusl's-malloc build skipped in {rounds} round(s): {}",
                errs.join("; ")
            );
        }
    }

    /// Target rows: (pair, target, figure, verdict).
    pub fn targets(&self) -> Vec<[String; 4]> {
        let Some(pair) = self.pair else {
            return Vec::new();
        };
        let name = pair.name().to_owned();
        if self.skipped.is_some()
            || self.values(1, "cpu_seq_gz").is_empty()
            || self.values(0, "cpu_seq_gz").is_empty()
        {
            return vec![[
                name,
                "all".into(),
                "not measured (one side missing)".into(),
                "—".into(),
            ]];
        }
        let mut rows = Vec::new();
        let verdict = |ok: bool| {
            if ok {
                "met".to_owned()
            } else {
                "**MISSED**".to_owned()
            }
        };
        let (rss, rss_label) = if self.glibc() {
            (0.30, "0.30 × Go (glibc build)")
        } else {
            (0.25, "0.25 × Go (static build)")
        };
        let cpu = match pair {
            Pair::Postgres => 0.10,
            _ => 0.15,
        };
        let cpu_label = if pair == Pair::Agent {
            format!(
                "summed CPU per 1000 scrapes of each, gzip ≤ {cpu:.2} × the three Go exporters'"
            )
        } else {
            format!("CPU per scrape, gzip ≤ {cpu:.2} × Go")
        };
        let mut wanted: Vec<(&str, String, f64)> = vec![("cpu_seq_gz", cpu_label, cpu)];
        if pair == Pair::Agent {
            wanted.push((
                "rss_after_mb",
                "summed RSS after scrapes ≤ 1/6 of the three Go exporters'".into(),
                1.0 / 6.0,
            ));
        } else {
            wanted.push((
                "rss_after_mb",
                format!("RSS after scrapes ≤ {rss_label}"),
                rss,
            ));
            wanted.push(("hwm_mb", format!("peak RSS ≤ {rss_label}"), rss));
            wanted.push((
                "p99_c64",
                "p99 latency, 64 concurrent ≤ 0.5 × Go".into(),
                0.5,
            ));
        }
        for (key, target, max) in wanted {
            let (r, cell) = self.ratio_cell(key);
            if r.is_nan() {
                rows.push([name.clone(), target, "not run".into(), "—".into()]);
            } else {
                rows.push([name.clone(), target, cell, verdict(r <= max)]);
            }
        }
        let ours_failed: f64 = self.values(1, "failed").iter().sum();
        let go_failed: f64 = self.values(0, "failed").iter().sum();
        rows.push([
            name,
            "zero failed scrapes".into(),
            format!("ours {ours_failed:.0} (Go {go_failed:.0})"),
            verdict(ours_failed == 0.0),
        ]);
        rows
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(pairs: &[(&'static str, f64)]) -> Run {
        pairs.iter().copied().collect()
    }

    fn result(pair: Pair, ours_label: &str, go: Run, ours: Run, alt: Option<Run>) -> PairResult {
        PairResult {
            pair: Some(pair),
            go_label: "go".into(),
            ours_label: ours_label.into(),
            rounds: vec![Round {
                go: Ok(go),
                ours: Ok(ours),
                floor: Ok(Run::new()),
                alt: alt.map(Ok),
            }],
            ..PairResult::default()
        }
    }

    #[test]
    fn gzip_targets_per_pair_and_build() {
        let go = run(&[
            ("cpu_seq_gz", 1.0),
            ("rss_after_mb", 10.0),
            ("hwm_mb", 10.0),
            ("failed", 0.0),
        ]);
        let ours = run(&[
            ("cpu_seq_gz", 0.12),
            ("rss_after_mb", 2.8),
            ("hwm_mb", 2.4),
            ("failed", 0.0),
        ]);
        // redis: CPU ≤ 0.15 met; static RSS ≤ 0.25 missed at 0.28.
        let t = result(
            Pair::Redis,
            "x (static musl release build)",
            go.clone(),
            ours.clone(),
            None,
        )
        .targets();
        assert!(t[0][1].contains("≤ 0.15"), "{t:?}");
        assert_eq!(t[0][3], "met");
        assert_eq!(t[1][3], "**MISSED**", "{t:?}");
        // glibc build: RSS ≤ 0.30, met at 0.28.
        let t = result(
            Pair::Redis,
            "x (glibc release build)",
            go.clone(),
            ours.clone(),
            None,
        )
        .targets();
        assert!(t[1][1].contains("0.30"), "{t:?}");
        assert_eq!(t[1][3], "met");
        // postgres: CPU ≤ 0.10, missed at 0.12.
        let t = result(Pair::Postgres, "x", go.clone(), ours.clone(), None).targets();
        assert_eq!(t[0][3], "**MISSED**", "{t:?}");
        // agent: summed RSS ≤ 1/6, missed at 0.28; no p99 row.
        let t = result(Pair::Agent, "x", go, ours, None).targets();
        assert!(t[1][1].contains("1/6"), "{t:?}");
        assert_eq!(t[1][3], "**MISSED**");
        assert_eq!(t.len(), 3, "{t:?}");
    }

    #[test]
    fn json_for_machines() {
        let go = run(&[("cpu_seq_gz", 1.0), ("failed", 0.0)]);
        let ours = run(&[("cpu_seq_gz", 0.1), ("failed", 0.0)]);
        let j = result(Pair::Host, "x", go, ours, None).json();
        assert_eq!(j["pair"], "host");
        assert_eq!(j["targets"][0]["met"], true, "{j:#}");
        assert_eq!(j["rounds"][0]["ours"]["cpu_seq_gz"], 0.1, "{j:#}");
        assert!(j["rounds"][0]["ours_musl_malloc"].is_null(), "{j:#}");
    }

    #[test]
    fn labels_and_the_allocator_table() {
        let go = run(&[("cpu_tls", 2.0), ("cpu_multi", 1.0), ("cpu_seq_gz", 1.0)]);
        let ours = run(&[("cpu_tls", 0.2), ("cpu_multi", 0.1), ("cpu_seq_gz", 0.1)]);
        let alt = run(&[("cpu_seq_gz", 0.13)]);
        let mut md = String::new();
        result(Pair::Redis, "x", go, ours, Some(alt)).markdown(&mut md);
        assert!(
            md.contains(
                "| CPU-s per 1000 scrapes, TLS only, sequential, gzip | 2.00 | 0.20 | **0.10** |"
            ),
            "{md}"
        );
        assert!(md.contains("multi-target `/scrape?target=`"), "{md}");
        assert!(md.contains("redis_exporter 1.45 has no basic auth"), "{md}");
        assert!(
            md.contains("| CPU-s per 1000 scrapes, sequential, gzip | 0.10 | 0.13 | **1.30** |"),
            "{md}"
        );
    }
}
