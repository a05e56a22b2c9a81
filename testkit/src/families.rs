//! Metric-family comparison of two text expositions: which families of a reference (a Go
//! exporter's captured `/metrics`) are missing from a candidate, or differ in type or label keys.
//!
//! The same rules as the hand tool `metric-diff` the team uses: a sample's family is its name, or
//! its name less `_bucket`/`_sum`/`_count`/`_total`/`_created`/`_info` when that base is declared
//! as a histogram, summary, counter or info; `le` and `quantile` are not label keys.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// One family: its TYPE (`untyped` when undeclared), the union of its samples' label keys, and
/// how many samples it has.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Family {
    /// `counter`, `gauge`, ... or `untyped`.
    pub kind: String,
    /// Label keys over all samples (without `le` and `quantile`).
    pub labels: BTreeSet<String>,
    /// Number of samples.
    pub samples: usize,
}

const SUFFIXES: [&str; 6] = ["_bucket", "_sum", "_count", "_total", "_created", "_info"];

fn label_keys(body: &str) -> BTreeSet<String> {
    let mut keys = BTreeSet::new();
    let b = body.as_bytes();
    let mut i = 0;
    while i < b.len() {
        while i < b.len() && (b[i] == b' ' || b[i] == b',') {
            i += 1;
        }
        let start = i;
        while i < b.len() && b[i] != b'=' {
            i += 1;
        }
        let key = body[start..i].trim();
        i += 1; // '='
        if i < b.len() && b[i] == b'"' {
            i += 1;
            while i < b.len() && b[i] != b'"' {
                i += if b[i] == b'\\' { 2 } else { 1 };
            }
            i += 1;
        }
        if !key.is_empty() && key != "le" && key != "quantile" {
            keys.insert(key.to_owned());
        }
    }
    keys
}

/// Parses a text exposition into its families, by name.
pub fn parse_families(text: &str) -> BTreeMap<String, Family> {
    let mut types: BTreeMap<String, String> = BTreeMap::new();
    let mut fams: BTreeMap<String, Family> = BTreeMap::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if let Some(rest) = line.strip_prefix('#') {
            let mut parts = rest.split_whitespace();
            if parts.next() == Some("TYPE")
                && let (Some(name), Some(kind)) = (parts.next(), parts.next())
            {
                types.insert(name.to_owned(), kind.to_owned());
            }
            continue;
        }
        let name_end = line
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
            .unwrap_or(line.len());
        if name_end == 0 {
            continue;
        }
        let name = &line[..name_end];
        let labels = match line[name_end..].strip_prefix('{') {
            Some(rest) => match rest.rfind('}') {
                Some(end) => label_keys(&rest[..end]),
                None => continue,
            },
            None => BTreeSet::new(),
        };
        let mut fam = name;
        if !types.contains_key(name) {
            for suf in SUFFIXES {
                if let Some(base) = name.strip_suffix(suf)
                    && matches!(
                        types.get(base).map(String::as_str),
                        Some("histogram" | "summary" | "counter" | "gaugehistogram" | "info")
                    )
                {
                    fam = base;
                    break;
                }
            }
        }
        let f = fams.entry(fam.to_owned()).or_insert_with(|| Family {
            kind: types
                .get(fam)
                .cloned()
                .unwrap_or_else(|| "untyped".to_owned()),
            ..Family::default()
        });
        f.labels.extend(labels);
        f.samples += 1;
    }
    for (name, kind) in types {
        fams.entry(name).or_insert(Family {
            kind,
            ..Family::default()
        });
    }
    fams
}

/// What to compare.
#[derive(Clone, Debug, Default)]
pub struct DiffOptions {
    /// Keep only families whose name starts with one of these (all when empty).
    pub prefixes: Vec<String>,
    /// Also require equal label keys.
    pub strict_labels: bool,
    /// Families exempt from every check, each with the reason it is allowed.
    pub allow: Vec<(String, String)>,
}

/// The result of [`diff_families`].
#[derive(Clone, Debug, Default)]
pub struct FamilyDiff {
    /// Reference families absent from the candidate.
    pub missing: Vec<String>,
    /// `name: type A -> B`.
    pub type_mismatches: Vec<String>,
    /// `name: labels [..] -> [..]` (only with `strict_labels`).
    pub label_mismatches: Vec<String>,
    /// Candidate families the reference does not have.
    pub extra: Vec<String>,
    /// Number of reference families compared.
    pub reference_families: usize,
}

impl FamilyDiff {
    /// Nothing missing or mismatched.
    pub fn ok(&self) -> bool {
        self.missing.is_empty()
            && self.type_mismatches.is_empty()
            && self.label_mismatches.is_empty()
    }

    /// A report in `metric-diff`'s words, one line per finding, then the summary line.
    pub fn report(&self) -> String {
        let mut out = String::new();
        for m in &self.missing {
            out.push_str(&format!("missing  {m}\n"));
        }
        for t in &self.type_mismatches {
            out.push_str(&format!("type     {t}\n"));
        }
        for l in &self.label_mismatches {
            out.push_str(&format!("labels   {l}\n"));
        }
        for e in &self.extra {
            out.push_str(&format!("extra    {e}\n"));
        }
        out.push_str(&format!(
            "missing {} of {} reference families; {} type mismatches; {} label mismatches; {} extra\n",
            self.missing.len(),
            self.reference_families,
            self.type_mismatches.len(),
            self.label_mismatches.len(),
            self.extra.len()
        ));
        out
    }
}

/// Compares the families of `candidate` with those of `reference`.
pub fn diff_families(reference: &str, candidate: &str, opts: &DiffOptions) -> FamilyDiff {
    let keep = |m: BTreeMap<String, Family>| -> BTreeMap<String, Family> {
        m.into_iter()
            .filter(|(k, _)| {
                opts.prefixes.is_empty() || opts.prefixes.iter().any(|p| k.starts_with(p))
            })
            .collect()
    };
    let (r, c) = (
        keep(parse_families(reference)),
        keep(parse_families(candidate)),
    );
    let allowed: BTreeSet<&str> = opts.allow.iter().map(|(n, _)| n.as_str()).collect();
    let mut d = FamilyDiff {
        reference_families: r.len(),
        ..FamilyDiff::default()
    };
    for (name, rf) in &r {
        if allowed.contains(name.as_str()) {
            continue;
        }
        let Some(cf) = c.get(name) else {
            d.missing
                .push(format!("{name}  ({}, labels {:?})", rf.kind, rf.labels));
            continue;
        };
        if rf.kind != cf.kind {
            d.type_mismatches
                .push(format!("{name}: type {} -> {}", rf.kind, cf.kind));
        }
        if opts.strict_labels && rf.labels != cf.labels {
            d.label_mismatches
                .push(format!("{name}: labels {:?} -> {:?}", rf.labels, cf.labels));
        }
    }
    d.extra = c
        .iter()
        .filter(|(k, _)| !r.contains_key(*k))
        .map(|(k, f)| format!("{k}  ({})", f.kind))
        .collect();
    d
}

/// `metric-diff REFERENCE CANDIDATE [--prefix P]... [--strict-labels] [--allow FILE]` as a
/// function: `reference` is a file (e.g. under [`crate::anchors_dir`]); `--allow FILE` names
/// a file of family names, one a line, `#` comments giving the reason. Returns (ok, report).
pub fn metric_diff(reference: &Path, candidate_text: &str, extra_args: &[&str]) -> (bool, String) {
    let reference_text = std::fs::read_to_string(reference)
        .unwrap_or_else(|e| panic!("read reference {}: {e}", reference.display()));
    let mut opts = DiffOptions::default();
    let mut args = extra_args.iter();
    while let Some(a) = args.next() {
        match *a {
            "--prefix" => opts
                .prefixes
                .push(args.next().expect("--prefix P").to_string()),
            "--strict-labels" => opts.strict_labels = true,
            "--allow" => {
                let path = args.next().expect("--allow FILE");
                let text = std::fs::read_to_string(path).expect("read allow file");
                for line in text.lines() {
                    let (name, why) = line.split_once('#').unwrap_or((line, ""));
                    if !name.trim().is_empty() {
                        opts.allow
                            .push((name.trim().to_owned(), why.trim().to_owned()));
                    }
                }
            }
            "--quiet" => {}
            other => panic!("metric_diff: unknown option {other}"),
        }
    }
    let d = diff_families(&reference_text, candidate_text, &opts);
    (d.ok(), d.report())
}

#[cfg(test)]
mod tests {
    use super::*;

    const REF: &str = "# HELP a_total A.\n# TYPE a_total counter\na_total{x=\"1\"} 1\n\
        # TYPE h histogram\nh_bucket{le=\"1\",k=\"v\"} 1\nh_sum{k=\"v\"} 1\nh_count{k=\"v\"} 1\n\
        # TYPE g gauge\ng{a=\"q,\\\"}\",b=\"\"} 2\n";

    #[test]
    fn families_fold_suffixes_and_ignore_le() {
        let f = parse_families(REF);
        assert_eq!(f["h"].kind, "histogram");
        assert_eq!(f["h"].samples, 3);
        assert_eq!(f["h"].labels, BTreeSet::from(["k".to_owned()]));
        assert_eq!(
            f["g"].labels,
            BTreeSet::from(["a".to_owned(), "b".to_owned()])
        );
        assert_eq!(f["a_total"].kind, "counter");
    }

    #[test]
    fn diff_reports_missing_type_and_labels() {
        let cand = "# TYPE a_total gauge\na_total 1\n# TYPE g gauge\ng{a=\"1\"} 1\nnew 1\n";
        let opts = DiffOptions {
            strict_labels: true,
            allow: vec![("h".into(), "not served here".into())],
            ..DiffOptions::default()
        };
        let d = diff_families(REF, cand, &opts);
        assert!(!d.ok());
        assert!(d.missing.is_empty(), "h is allowed");
        assert_eq!(d.type_mismatches.len(), 1);
        assert_eq!(d.label_mismatches.len(), 2);
        assert_eq!(d.extra.len(), 1);
        assert!(diff_families(REF, REF, &DiffOptions::default()).ok());
    }
}
