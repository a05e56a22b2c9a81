//! The Prometheus text exposition format 0.0.4, written by hand.
//!
//! Why not `prometheus-client`: its encoder appends a period to every HELP, infers `_total` and unit
//! suffixes and writes OpenMetrics (`# EOF`), so the Go exporters' output cannot be reproduced with it.
//! This writer follows `github.com/prometheus/common/expfmt` (text_create.go) instead: families sorted
//! by name, label pairs sorted by name, metrics sorted by label values, floats printed like Go's
//! `strconv.FormatFloat(v, 'g', -1, 64)`.

use std::borrow::Cow;
use std::fmt::Write as _;

/// A name or HELP text: `&'static str` for literal names (no allocation), `String` for names built
/// from a backend's answer (Redis INFO fields, `/proc/meminfo` keys).
pub type Text = Cow<'static, str>;

/// The `# TYPE` of a family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricType {
    /// A monotonically increasing value.
    Counter,
    /// A value that can go up and down.
    Gauge,
    /// No type information (Go's `UntypedValue`).
    Untyped,
    /// Cumulative buckets plus `_sum` and `_count`.
    Histogram,
    /// Quantiles plus `_sum` and `_count`.
    Summary,
}

impl MetricType {
    fn as_str(self) -> &'static str {
        match self {
            MetricType::Counter => "counter",
            MetricType::Gauge => "gauge",
            MetricType::Untyped => "untyped",
            MetricType::Histogram => "histogram",
            MetricType::Summary => "summary",
        }
    }
}

/// The value of one metric (one label set) of a family.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// Counter, gauge or untyped.
    Single(f64),
    /// Histogram: `(upper bound, cumulative count)` pairs without `+Inf` (it is added from `count`).
    Histogram {
        /// Cumulative buckets in ascending order of upper bound.
        buckets: Vec<(f64, u64)>,
        /// Sum of observations.
        sum: f64,
        /// Count of observations.
        count: u64,
    },
    /// Summary: `(quantile, value)` pairs.
    Summary {
        /// Quantiles in ascending order.
        quantiles: Vec<(f64, f64)>,
        /// Sum of observations.
        sum: f64,
        /// Count of observations.
        count: u64,
    },
}

/// One metric: a label set and its value.
#[derive(Debug, Clone, PartialEq)]
pub struct Metric {
    /// Label pairs; sorted by name when encoded.
    pub labels: Vec<(Text, String)>,
    /// The value.
    pub value: Value,
}

/// A metric family: name, HELP, TYPE and its metrics.
#[derive(Debug, Clone, PartialEq)]
pub struct Family {
    /// Full metric name.
    pub name: Text,
    /// HELP text, unescaped.
    pub help: Text,
    /// TYPE.
    pub kind: MetricType,
    /// Metrics in insertion order; sorted when encoded.
    pub metrics: Vec<Metric>,
}

/// The metrics one scrape gathers, from any number of collectors.
///
/// Adding a sample never fails: a family whose name is reused with another type keeps the first type
/// and the conflicting sample is counted in [`MetricSet::dropped`]. Duplicate label sets are dropped
/// and counted when encoding (client_golang answers HTTP 500 there; we serve the rest).
#[derive(Debug, Default)]
pub struct MetricSet {
    families: Vec<Family>,
    // FxHash: family names are trusted literals or backend field names, and SipHash showed up
    // at 2-4 % of a scrape's CPU in the profile.
    index: rustc_hash::FxHashMap<Text, usize>,
    dropped: u64,
}

impl MetricSet {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of samples dropped because they conflicted with an earlier family or label set.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// The families gathered so far, in insertion order.
    pub fn families(&self) -> &[Family] {
        &self.families
    }

    /// Whether a family of this name exists.
    pub fn contains(&self, name: &str) -> bool {
        self.index.contains_key(name)
    }

    /// Adds a gauge sample.
    pub fn gauge(
        &mut self,
        name: impl Into<Text>,
        help: impl Into<Text>,
        labels: &[(&'static str, &str)],
        value: f64,
    ) {
        self.push(
            name.into(),
            help.into(),
            MetricType::Gauge,
            owned(labels),
            Value::Single(value),
        );
    }

    /// Adds a counter sample.
    pub fn counter(
        &mut self,
        name: impl Into<Text>,
        help: impl Into<Text>,
        labels: &[(&'static str, &str)],
        value: f64,
    ) {
        self.push(
            name.into(),
            help.into(),
            MetricType::Counter,
            owned(labels),
            Value::Single(value),
        );
    }

    /// Adds an untyped sample.
    pub fn untyped(
        &mut self,
        name: impl Into<Text>,
        help: impl Into<Text>,
        labels: &[(&'static str, &str)],
        value: f64,
    ) {
        self.push(
            name.into(),
            help.into(),
            MetricType::Untyped,
            owned(labels),
            Value::Single(value),
        );
    }

    /// Adds a histogram; `buckets` are cumulative `(le, count)` pairs without `+Inf`.
    pub fn histogram(
        &mut self,
        name: impl Into<Text>,
        help: impl Into<Text>,
        labels: &[(&'static str, &str)],
        buckets: Vec<(f64, u64)>,
        sum: f64,
        count: u64,
    ) {
        self.push(
            name.into(),
            help.into(),
            MetricType::Histogram,
            owned(labels),
            Value::Histogram {
                buckets,
                sum,
                count,
            },
        );
    }

    /// Adds a summary with `(quantile, value)` pairs.
    pub fn summary(
        &mut self,
        name: impl Into<Text>,
        help: impl Into<Text>,
        labels: &[(&'static str, &str)],
        quantiles: Vec<(f64, f64)>,
        sum: f64,
        count: u64,
    ) {
        self.push(
            name.into(),
            help.into(),
            MetricType::Summary,
            owned(labels),
            Value::Summary {
                quantiles,
                sum,
                count,
            },
        );
    }

    /// Adds a sample with owned labels (for label names built at run time).
    pub fn push(
        &mut self,
        name: Text,
        help: Text,
        kind: MetricType,
        labels: Vec<(Text, String)>,
        value: Value,
    ) {
        let metric = Metric { labels, value };
        // Collectors write a family's samples one after another: compare with the last family
        // before hashing the name.
        let found = match self.families.last() {
            Some(last) if last.name == name => Some(self.families.len() - 1),
            _ => self.index.get(&name).copied(),
        };
        match found {
            Some(i) => {
                let family = &mut self.families[i];
                if family.kind == kind {
                    family.metrics.push(metric);
                } else {
                    self.dropped += 1;
                }
            }
            None => {
                self.index.insert(name.clone(), self.families.len());
                self.families.push(Family {
                    name,
                    help,
                    kind,
                    metrics: vec![metric],
                });
            }
        }
    }

    /// Moves every sample of `other` into this set (the merge of concurrent collectors' output).
    /// Families move whole: one lookup per family, no per-sample copy of the name.
    pub fn extend(&mut self, other: MetricSet) {
        self.dropped += other.dropped;
        for family in other.families {
            match self.index.get(&family.name) {
                Some(&i) => {
                    let mine = &mut self.families[i];
                    if mine.kind == family.kind {
                        mine.metrics.extend(family.metrics);
                    } else {
                        self.dropped += family.metrics.len() as u64;
                    }
                }
                None => {
                    self.index.insert(family.name.clone(), self.families.len());
                    self.families.push(family);
                }
            }
        }
    }

    /// Encodes the set in text format 0.0.4. Returns the text and the number of samples dropped
    /// (conflicting types plus duplicate label sets).
    pub fn encode(mut self) -> (String, u64) {
        let mut dropped = self.dropped;
        self.families.sort_by(|a, b| a.name.cmp(&b.name));
        let mut out = String::with_capacity(self.families.len() * 256);
        for family in &mut self.families {
            if family.metrics.is_empty() {
                continue;
            }
            for metric in &mut family.metrics {
                metric.labels.sort_by(|a, b| a.0.cmp(&b.0));
            }
            family
                .metrics
                .sort_by(|a, b| compare_labels(&a.labels, &b.labels));
            let before = family.metrics.len();
            family.metrics.dedup_by(|b, a| a.labels == b.labels);
            dropped += (before - family.metrics.len()) as u64;
            write_family(&mut out, family);
        }
        (out, dropped)
    }
}

// Label names are literals at every call site: borrowed, never copied. Only values allocate.
fn owned(labels: &[(&'static str, &str)]) -> Vec<(Text, String)> {
    labels
        .iter()
        .map(|(k, v)| (Cow::Borrowed(*k), (*v).to_owned()))
        .collect()
}

fn compare_labels(a: &[(Text, String)], b: &[(Text, String)]) -> std::cmp::Ordering {
    for (x, y) in a.iter().zip(b.iter()) {
        let ord = x.1.cmp(&y.1);
        if ord != std::cmp::Ordering::Equal {
            return ord;
        }
    }
    a.len().cmp(&b.len())
}

fn write_family(out: &mut String, family: &Family) {
    out.push_str("# HELP ");
    out.push_str(&family.name);
    out.push(' ');
    escape_help(out, &family.help);
    out.push_str("\n# TYPE ");
    out.push_str(&family.name);
    out.push(' ');
    out.push_str(family.kind.as_str());
    out.push('\n');
    for metric in &family.metrics {
        match &metric.value {
            Value::Single(v) => write_sample(out, &family.name, "", &metric.labels, None, *v),
            Value::Histogram {
                buckets,
                sum,
                count,
            } => {
                let mut buf = String::new();
                for (le, c) in buckets {
                    buf.clear();
                    write_float(&mut buf, *le);
                    write_sample(
                        out,
                        &family.name,
                        "_bucket",
                        &metric.labels,
                        Some(("le", &buf)),
                        *c as f64,
                    );
                }
                write_sample(
                    out,
                    &family.name,
                    "_bucket",
                    &metric.labels,
                    Some(("le", "+Inf")),
                    *count as f64,
                );
                write_sample(out, &family.name, "_sum", &metric.labels, None, *sum);
                write_sample(
                    out,
                    &family.name,
                    "_count",
                    &metric.labels,
                    None,
                    *count as f64,
                );
            }
            Value::Summary {
                quantiles,
                sum,
                count,
            } => {
                let mut buf = String::new();
                for (q, v) in quantiles {
                    buf.clear();
                    write_float(&mut buf, *q);
                    write_sample(
                        out,
                        &family.name,
                        "",
                        &metric.labels,
                        Some(("quantile", &buf)),
                        *v,
                    );
                }
                write_sample(out, &family.name, "_sum", &metric.labels, None, *sum);
                write_sample(
                    out,
                    &family.name,
                    "_count",
                    &metric.labels,
                    None,
                    *count as f64,
                );
            }
        }
    }
}

fn write_sample(
    out: &mut String,
    name: &str,
    suffix: &str,
    labels: &[(Text, String)],
    extra: Option<(&str, &str)>,
    value: f64,
) {
    out.push_str(name);
    out.push_str(suffix);
    if !labels.is_empty() || extra.is_some() {
        out.push('{');
        let mut first = true;
        for (k, v) in labels
            .iter()
            .map(|(k, v)| (k.as_ref(), v.as_str()))
            .chain(extra)
        {
            if !first {
                out.push(',');
            }
            first = false;
            out.push_str(k);
            out.push_str("=\"");
            escape_label_value(out, v);
            out.push('"');
        }
        out.push('}');
    }
    out.push(' ');
    write_float(out, value);
    out.push('\n');
}

/// HELP escaping of the 0.0.4 format: backslash and newline.
pub fn escape_help(out: &mut String, help: &str) {
    for c in help.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// Label value escaping of the 0.0.4 format: backslash, double quote and newline.
pub fn escape_label_value(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// Writes `v` as Go's `strconv.FormatFloat(v, 'g', -1, 64)` does, which is what the Go exporters
/// serve (expfmt's `writeFloat`): the shortest digits that round-trip, in exponent form when the
/// decimal exponent is below -4 or at least 6. Go decides with precision 6 for the shortest form
/// (strconv/ftoa.go: `if shortest { eprec = 6 }`), so 1234567 prints as `1.234567e+06`.
pub fn write_float(out: &mut String, v: f64) {
    if v.is_nan() {
        out.push_str("NaN");
        return;
    }
    if v.is_infinite() {
        out.push_str(if v > 0.0 { "+Inf" } else { "-Inf" });
        return;
    }
    if v == 0.0 {
        out.push_str(if v.is_sign_negative() { "-0" } else { "0" });
        return;
    }
    // Most samples are integers (bytes, counts, seconds since epoch). Below 2^53 every integer is
    // exact and the spacing of doubles is at most 1, so its shortest round-trip digits are its
    // decimal digits without trailing zeros: no float formatting needed.
    const EXACT: f64 = 9_007_199_254_740_992.0; // 2^53
    if v.fract() == 0.0 && v.abs() < EXACT {
        let mut buf = [0u8; 20];
        let mut n = v.abs() as u64;
        let mut i = buf.len();
        while n > 0 {
            i -= 1;
            buf[i] = b'0' + (n % 10) as u8;
            n /= 10;
        }
        let all = &buf[i..];
        let exp = all.len() as i32 - 1;
        let digits = match all.iter().rposition(|&d| d != b'0') {
            Some(last) => &all[..=last],
            None => all,
        };
        write_go_g(out, v < 0.0, digits, exp);
        return;
    }
    // Rust's `{:e}` gives the same shortest round-trip digits ("1.0412032e7", "-5e-5"), written
    // to the stack rather than a new String.
    let mut sci = StackBuf::default();
    let _ = write!(sci, "{:e}", v.abs());
    let text = sci.as_bytes();
    let (mantissa, exp) = match text.iter().position(|&b| b == b'e') {
        Some(e) => (
            &text[..e],
            std::str::from_utf8(&text[e + 1..])
                .ok()
                .and_then(|x| x.parse::<i32>().ok())
                .unwrap_or(0),
        ),
        None => (text, 0),
    };
    let mut digits = [0u8; 32];
    let mut n = 0;
    for &b in mantissa.iter().filter(|b| b.is_ascii_digit()) {
        if n < digits.len() {
            digits[n] = b;
            n += 1;
        }
    }
    write_go_g(out, v < 0.0, &digits[..n], exp);
}

/// Writes `0.d1d2… × 10^(exp+1)` as Go's `FormatFloat(v, 'g', -1, 64)`: `%e` with at least two
/// exponent digits when the exponent is below -4 or at least 6 (shortest precision uses 6 as
/// the limit), else plain decimal. `digits` are ASCII, the first non-zero, no trailing zeros.
fn write_go_g(out: &mut String, negative: bool, digits: &[u8], exp: i32) {
    let digit = |d: &u8| char::from(*d);
    if negative {
        out.push('-');
    }
    if (-4..6).contains(&exp) {
        if exp < 0 {
            out.push_str("0.");
            for _ in 0..(-exp - 1) {
                out.push('0');
            }
            out.extend(digits.iter().map(digit));
        } else {
            let int_len = exp as usize + 1;
            for i in 0..int_len {
                out.push(digits.get(i).map(digit).unwrap_or('0'));
            }
            if digits.len() > int_len {
                out.push('.');
                out.extend(digits[int_len..].iter().map(digit));
            }
        }
    } else {
        let mut it = digits.iter();
        if let Some(first) = it.next() {
            out.push(digit(first));
        }
        if digits.len() > 1 {
            out.push('.');
            out.extend(it.map(digit));
        }
        out.push('e');
        out.push(if exp < 0 { '-' } else { '+' });
        let e = exp.unsigned_abs();
        if e < 10 {
            out.push('0');
        }
        let _ = write!(out, "{e}");
    }
}

/// A fixed buffer for one formatted float (`{:e}` of an f64 is at most 24 bytes).
struct StackBuf {
    buf: [u8; 40],
    len: usize,
}

impl Default for StackBuf {
    fn default() -> Self {
        Self {
            buf: [0; 40],
            len: 0,
        }
    }
}

impl StackBuf {
    fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl std::fmt::Write for StackBuf {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let end = self.len + s.len();
        let dst = self.buf.get_mut(self.len..end).ok_or(std::fmt::Error)?;
        dst.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(v: f64) -> String {
        let mut s = String::new();
        write_float(&mut s, v);
        s
    }

    #[test]
    fn floats_match_go_format_float_g_shortest() {
        // Expected strings are what Go's strconv.FormatFloat(v, 'g', -1, 64) prints.
        let cases: &[(f64, &str)] = &[
            (0.0, "0"),
            (1.0, "1"),
            (-1.0, "-1"),
            (299.0, "299"),
            (123456.0, "123456"),
            (1234567.0, "1.234567e+06"),
            (1e6, "1e+06"),
            (10412032.0, "1.0412032e+07"),
            (0.5, "0.5"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (1.5e-7, "1.5e-07"),
            (1.8446744073709552e19, "1.8446744073709552e+19"),
            (1e100, "1e+100"),
            (0.001234, "0.001234"),
            (999999.0, "999999"),
            (1.7e9, "1.7e+09"),
            (-1234567.0, "-1.234567e+06"),
            (-0.5, "-0.5"),
            (123.456, "123.456"),
            (100.0, "100"),
            (9007199254740993.0, "9.007199254740992e+15"),
            (1.795479968e9, "1.795479968e+09"),
            (0.1 + 0.2, "0.30000000000000004"),
            (5e-324, "5e-324"),
            (f64::MAX, "1.7976931348623157e+308"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
            (f64::NAN, "NaN"),
        ];
        for (v, want) in cases {
            assert_eq!(f(*v), *want, "formatting {v}");
        }
    }

    /// The straightforward formatting (Rust's shortest `{:e}` digits, re-laid out as Go's 'g'):
    /// the fast paths of `write_float` must print exactly this.
    fn reference(v: f64) -> String {
        if v.is_nan() || v.is_infinite() || v == 0.0 {
            return f(v);
        }
        let sci = format!("{v:e}");
        let (mantissa, exp) = sci.split_once('e').unwrap();
        let exp: i32 = exp.parse().unwrap();
        if (-4..6).contains(&exp) {
            format!("{v}")
        } else {
            format!(
                "{mantissa}e{}{:02}",
                if exp < 0 { '-' } else { '+' },
                exp.unsigned_abs()
            )
        }
    }

    proptest::proptest! {
        #[test]
        fn any_float_prints_as_the_reference(bits in proptest::num::u64::ANY) {
            let v = f64::from_bits(bits);
            proptest::prop_assert_eq!(f(v), reference(v));
        }

        #[test]
        fn any_integer_prints_as_the_reference(n in -(1i64 << 54)..(1i64 << 54)) {
            let v = n as f64;
            proptest::prop_assert_eq!(f(v), reference(v));
        }

        #[test]
        fn short_decimals_print_as_the_reference(n in -10_000_000i64..10_000_000, scale in 0u32..12) {
            let v = n as f64 / 10f64.powi(scale as i32);
            proptest::prop_assert_eq!(f(v), reference(v));
        }
    }

    #[test]
    fn encodes_sorted_families_labels_and_metrics() {
        let mut set = MetricSet::new();
        set.gauge("b_gauge", "B help", &[("z", "1"), ("a", "x")], 2.0);
        set.gauge("b_gauge", "B help", &[("z", "0"), ("a", "x")], 1.0);
        set.counter("a_total", "A help\\ with\nnewline", &[], 3.0);
        set.untyped("c", "C", &[("v", "q\"u\\o\nte")], 1.5);
        let (text, dropped) = set.encode();
        assert_eq!(dropped, 0);
        assert_eq!(
            text,
            "# HELP a_total A help\\\\ with\\nnewline\n# TYPE a_total counter\na_total 3\n\
             # HELP b_gauge B help\n# TYPE b_gauge gauge\nb_gauge{a=\"x\",z=\"0\"} 1\nb_gauge{a=\"x\",z=\"1\"} 2\n\
             # HELP c C\n# TYPE c untyped\nc{v=\"q\\\"u\\\\o\\nte\"} 1.5\n"
        );
    }

    #[test]
    fn duplicates_and_type_conflicts_are_dropped_and_counted() {
        let mut set = MetricSet::new();
        set.gauge("x", "h", &[("a", "1")], 1.0);
        set.gauge("x", "h", &[("a", "1")], 2.0);
        set.counter("x", "h", &[("a", "2")], 2.0);
        let (text, dropped) = set.encode();
        assert_eq!(dropped, 2);
        assert_eq!(text, "# HELP x h\n# TYPE x gauge\nx{a=\"1\"} 1\n");
    }

    #[test]
    fn extend_merges_families_whole_and_counts_conflicts() {
        let mut a = MetricSet::new();
        a.gauge("x", "h", &[("a", "1")], 1.0);
        a.gauge("y", "h", &[], 1.0);
        a.gauge("x", "h", &[("a", "0")], 0.0); // back to an earlier family: found by the index
        let mut b = MetricSet::new();
        b.gauge("x", "h", &[("a", "2")], 2.0);
        b.counter("y", "h", &[("b", "1")], 1.0);
        b.counter("y", "h", &[("b", "2")], 1.0);
        b.gauge("z", "h", &[], 3.0);
        a.extend(b);
        let (text, dropped) = a.encode();
        assert_eq!(dropped, 2);
        assert_eq!(
            text,
            "# HELP x h\n# TYPE x gauge\nx{a=\"0\"} 0\nx{a=\"1\"} 1\nx{a=\"2\"} 2\n\
             # HELP y h\n# TYPE y gauge\ny 1\n# HELP z h\n# TYPE z gauge\nz 3\n"
        );
    }

    #[test]
    fn encodes_histogram_and_summary() {
        let mut set = MetricSet::new();
        set.histogram("h", "H", &[("k", "v")], vec![(0.1, 1), (1.0, 3)], 2.5, 4);
        set.summary("s", "S", &[], vec![(0.5, 10.0), (0.99, 20.0)], 100.0, 7);
        let (text, _) = set.encode();
        assert_eq!(
            text,
            "# HELP h H\n# TYPE h histogram\n\
             h_bucket{k=\"v\",le=\"0.1\"} 1\nh_bucket{k=\"v\",le=\"1\"} 3\nh_bucket{k=\"v\",le=\"+Inf\"} 4\n\
             h_sum{k=\"v\"} 2.5\nh_count{k=\"v\"} 4\n\
             # HELP s S\n# TYPE s summary\ns{quantile=\"0.5\"} 10\ns{quantile=\"0.99\"} 20\ns_sum 100\ns_count 7\n"
        );
    }

    proptest::proptest! {
        #[test]
        fn any_float_round_trips_through_the_text(v in proptest::num::f64::ANY) {
            let s = f(v);
            let back: f64 = match s.as_str() {
                "+Inf" => f64::INFINITY,
                "-Inf" => f64::NEG_INFINITY,
                other => other.parse().unwrap(),
            };
            if v.is_nan() { proptest::prop_assert!(back.is_nan()); } else { proptest::prop_assert_eq!(back, v); }
        }

        #[test]
        fn any_label_value_encodes_to_one_line(value in ".*", help in ".*") {
            let mut set = MetricSet::new();
            set.gauge("g", help, &[("l", value.as_str())], 1.0);
            let (text, _) = set.encode();
            proptest::prop_assert_eq!(text.lines().count(), 3);
        }
    }
}
