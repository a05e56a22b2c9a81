//! The markdown: per pair a table with both sides, the ratio ours/theirs and the spread across
//! rounds, the floor beside them, then the targets with a plain verdict.

use std::fmt::Write as _;

use crate::pairs::Pair;
use crate::side::Run;

/// Row key, label.
pub const ROWS: &[(&str, &str)] = &[
    ("cpu_seq", "CPU-s per 1000 scrapes, sequential"),
    ("cpu_c10", "CPU-s per 1000 scrapes, 10 concurrent"),
    ("cpu_c64", "CPU-s per 1000 scrapes, 64 concurrent"),
    ("idle_rss_mb", "RSS idle, MiB"),
    ("rss_after_mb", "RSS after the sequential scrapes, MiB"),
    ("anon_after_mb", "… of which anonymous (heap, stacks), MiB"),
    (
        "file_after_mb",
        "… of which file-backed (binary, libraries), MiB",
    ),
    ("hwm_mb", "RSS peak (VmHWM) at the end, MiB"),
    ("threads", "threads at the end"),
    ("p50_seq", "latency p50, sequential, ms"),
    ("p99_seq", "latency p99, sequential, ms"),
    ("p50_c10", "latency p50, 10 concurrent, ms"),
    ("p99_c10", "latency p99, 10 concurrent, ms"),
    ("p50_c64", "latency p50, 64 concurrent, ms"),
    ("p99_c64", "latency p99, 64 concurrent, ms"),
    ("bytes", "bytes per scrape"),
    ("series", "series per scrape"),
    ("backend_work", "backend work per scrape"),
    ("backend_cpu", "backend CPU-s per 1000 scrapes"),
    ("bin_mb", "binary size, MiB"),
    ("failed_seq", "failed scrapes, sequential (sum over rounds)"),
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

/// One round of a pair: Go, ours, floor (`Err` = skipped, with why).
pub type Round = (
    Result<Run, String>,
    Result<Run, String>,
    Result<Run, String>,
);

/// All rounds of one pair.
#[derive(Debug, Default)]
pub struct PairResult {
    /// Which pair.
    pub pair: Option<Pair>,
    /// Go side label (binary and version).
    pub go_label: String,
    /// Our side label.
    pub ours_label: String,
    /// Per round: Go, ours, floor (Err = skipped, with why).
    pub rounds: Vec<Round>,
    /// Why scrapes failed, per round and side.
    pub notes: Vec<String>,
    /// Skip reason for the whole pair.
    pub skipped: Option<String>,
}

/// A number with sensible precision.
pub fn num(v: f64) -> String {
    if v.is_nan() {
        "—".into()
    } else if v.abs() >= 1000.0 {
        let s = format!("{v:.0}");
        // Thousands separators keep byte counts readable.
        let (neg, digits) = s
            .strip_prefix('-')
            .map_or((false, s.as_str()), |d| (true, d));
        let mut out = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i) % 3 == 0 {
                out.push(',');
            }
            out.push(c);
        }
        if neg { format!("-{out}") } else { out }
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
    fn values(&self, which: usize, key: &str) -> Vec<f64> {
        self.rounds
            .iter()
            .filter_map(|r| match which {
                0 => r.0.as_ref().ok(),
                1 => r.1.as_ref().ok(),
                _ => r.2.as_ref().ok(),
            })
            .filter_map(|run| run.get(key).copied())
            .collect()
    }

    /// Per-round ratios ours/theirs for `key`.
    fn ratios(&self, key: &str) -> Vec<f64> {
        self.rounds
            .iter()
            .filter_map(|r| {
                let g = r.0.as_ref().ok()?.get(key)?;
                let o = r.1.as_ref().ok()?.get(key)?;
                (*g > 0.0).then(|| o / g)
            })
            .collect()
    }

    /// Ratio of the medians, with the per-round min–max.
    fn ratio_cell(&self, key: &str) -> (f64, String) {
        let g = median(&self.values(0, key));
        let o = median(&self.values(1, key));
        if g.is_nan() || o.is_nan() || g == 0.0 {
            return (f64::NAN, "—".into());
        }
        let r = o / g;
        let rs = self.ratios(key);
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
            .filter_map(|r| match which {
                0 => r.0.as_ref().err(),
                1 => r.1.as_ref().err(),
                _ => r.2.as_ref().err(),
            })
            .cloned()
            .collect();
        errs
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
        let _ = writeln!(
            out,
            "| figure | Go original | ours | ours/theirs | floor |\n|---|---|---|---|---|"
        );
        for (key, label) in ROWS {
            let label = if *key == "backend_work" {
                if pair.backend_unit().is_empty() {
                    continue;
                }
                pair.backend_unit()
            } else {
                label
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
                let int = matches!(*key, "threads" | "series" | "bytes");
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
        let _ = writeln!(out, "\nFloor: {}.", pair.floor_desc());
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
        if !self.notes.is_empty() {
            let _ = writeln!(out, "\nFailed scrapes:\n");
            for n in &self.notes {
                let _ = writeln!(out, "- {n}");
            }
        }
        let _ = writeln!(out);
    }

    /// Target rows: (pair, target, figure, verdict).
    pub fn targets(&self) -> Vec<[String; 4]> {
        let Some(pair) = self.pair else {
            return Vec::new();
        };
        let name = pair.name().to_owned();
        if self.skipped.is_some()
            || self.values(1, "cpu_seq").is_empty()
            || self.values(0, "cpu_seq").is_empty()
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
        for (key, target, max) in [
            ("cpu_seq", "CPU per scrape ≤ 0.2 × Go", 0.2),
            ("rss_after_mb", "RSS after scrapes ≤ 0.25 × Go", 0.25),
            ("hwm_mb", "peak RSS ≤ 0.25 × Go", 0.25),
            ("p99_c64", "p99 latency, 64 concurrent ≤ 0.5 × Go", 0.5),
        ] {
            let (r, cell) = self.ratio_cell(key);
            if r.is_nan() {
                rows.push([name.clone(), target.into(), "not run".into(), "—".into()]);
            } else {
                rows.push([name.clone(), target.into(), cell, verdict(r <= max)]);
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
