//! The Prometheus text exposition format 0.0.4, written byte-for-byte the way client_golang writes
//! it (`github.com/prometheus/common/expfmt`, text_create.go).
//!
//! Why not `prometheus-client`'s encoder: it appends a period to every HELP, infers `_total` and unit
//! suffixes and writes OpenMetrics (`# EOF`), so a Go exporter's output cannot be reproduced with it.
//!
//! The crate has three layers, each usable alone:
//!
//! - [`escape_help`] and [`escape_label_value`]: the two escapings of the format;
//! - [`write_float`]: Go's `strconv.FormatFloat(v, 'g', -1, 64)`, which is how every Go exporter
//!   prints a sample value;
//! - [`Encoder`]: the family writer (`# HELP`, `# TYPE`, samples, histogram and summary series)
//!   that refuses to write a family name twice, so one body never holds two families of one name.
//!
//! With the `process` feature, [`process`] samples client_golang's `process_*` values from `/proc`.
//!
//! The writer does not sort: callers that want client_golang's order (families by name, series by
//! label values) write them in that order.
//!
//! ```
//! use mcp_text_format::{Encoder, MetricType};
//!
//! let mut body = String::new();
//! let mut enc = Encoder::new(&mut body);
//! if let Some(mut family) = enc.family("orders_total", Some("Orders accepted."), MetricType::Counter) {
//!     family.sample(&[("venue", "xnas")], 1234567.0);
//! }
//! // A second family of the same name is refused, and counted.
//! assert!(enc.family("orders_total", None, MetricType::Gauge).is_none());
//! assert_eq!(enc.duplicates(), 1);
//! assert_eq!(
//!     body,
//!     "# HELP orders_total Orders accepted.\n# TYPE orders_total counter\norders_total{venue=\"xnas\"} 1.234567e+06\n"
//! );
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

// The README's example is compiled and run as a doc test.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctest;

mod float;
#[cfg(feature = "process")]
pub mod process;

pub use float::write_float;

/// The `# TYPE` of a family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
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
    /// The word written after `# TYPE <name> `.
    pub fn as_str(self) -> &'static str {
        match self {
            MetricType::Counter => "counter",
            MetricType::Gauge => "gauge",
            MetricType::Untyped => "untyped",
            MetricType::Histogram => "histogram",
            MetricType::Summary => "summary",
        }
    }
}

/// Appends `help` with the HELP escaping of the format: backslash and newline (as client_golang).
///
/// ```
/// let mut out = String::new();
/// mcp_text_format::escape_help(&mut out, "a\\b\nc \"q\"");
/// assert_eq!(out, "a\\\\b\\nc \"q\"");
/// ```
pub fn escape_help(out: &mut String, help: &str) {
    escape(out, help, false);
}

/// Appends `value` with the label value escaping of the format: backslash, double quote and newline
/// (as client_golang).
///
/// ```
/// let mut out = String::new();
/// mcp_text_format::escape_label_value(&mut out, "a\\b\nc \"q\"");
/// assert_eq!(out, "a\\\\b\\nc \\\"q\\\"");
/// ```
pub fn escape_label_value(out: &mut String, value: &str) {
    escape(out, value, true);
}

// Copies runs without special bytes whole: most values need no escaping at all.
fn escape(out: &mut String, s: &str, quote: bool) {
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        let rep = match b {
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'"' if quote => "\\\"",
            _ => continue,
        };
        out.push_str(&s[start..i]);
        out.push_str(rep);
        start = i + 1;
    }
    out.push_str(&s[start..]);
}

/// A label set as written between `{` and `}`.
///
/// Implemented for slices and arrays of `(name, value)` pairs (values are escaped when written)
/// and for [`Escaped`] text formatted once in advance.
pub trait LabelSet {
    /// Whether there are no labels (then no braces are written, unless an extra label is).
    fn is_empty(&self) -> bool;
    /// Appends `a="b",c="d"` (no braces, no trailing comma), values escaped.
    fn write_to(&self, out: &mut String);
}

impl<K: AsRef<str>, V: AsRef<str>> LabelSet for [(K, V)] {
    fn is_empty(&self) -> bool {
        <[(K, V)]>::is_empty(self)
    }
    fn write_to(&self, out: &mut String) {
        for (i, (k, v)) in self.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(k.as_ref());
            out.push_str("=\"");
            escape_label_value(out, v.as_ref());
            out.push('"');
        }
    }
}

impl<K: AsRef<str>, V: AsRef<str>, const N: usize> LabelSet for [(K, V); N] {
    fn is_empty(&self) -> bool {
        N == 0
    }
    fn write_to(&self, out: &mut String) {
        self.as_slice().write_to(out);
    }
}

/// Label text already in the format's syntax, `a="b",c="d"` with escaped values: a recorder that
/// formats each series' labels once at registration writes them with no work per scrape.
/// Build it with [`LabelSet::write_to`]; the encoder copies it as is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Escaped<'a>(pub &'a str);

impl LabelSet for Escaped<'_> {
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    fn write_to(&self, out: &mut String) {
        out.push_str(self.0);
    }
}

/// No labels.
pub const NO_LABELS: Escaped<'static> = Escaped("");

/// Writes families into a `String`, refusing a family name it has already written.
///
/// Duplicate family names are impossible by construction in what one encoder writes: a second
/// [`Encoder::family`] with a name already written returns `None` and is counted in
/// [`Encoder::duplicates`] (Prometheus rejects a whole scrape whose body repeats a family).
/// Checking costs one string comparison per family while names come in ascending order (as
/// client_golang writes them), and a scan of the names written so far otherwise.
#[derive(Debug)]
pub struct Encoder<'a> {
    out: &'a mut String,
    /// Byte ranges, in `out`, of the names written (in the `# TYPE` line).
    names: Vec<(usize, usize)>,
    /// Whether every name so far was greater than the one before.
    ascending: bool,
    duplicates: u64,
}

impl<'a> Encoder<'a> {
    /// An encoder appending to `out` (which may already hold text; it is not checked).
    pub fn new(out: &'a mut String) -> Self {
        Self {
            out,
            names: Vec::new(),
            ascending: true,
            duplicates: 0,
        }
    }

    /// Families refused because their name had been written already.
    pub fn duplicates(&self) -> u64 {
        self.duplicates
    }

    /// Whether a family of this name has been written by this encoder.
    pub fn contains(&self, name: &str) -> bool {
        self.names.iter().any(|&(s, e)| &self.out[s..e] == name)
    }

    /// Starts a family: writes `# HELP` (when `help` is given, escaped) and `# TYPE`, and returns
    /// the writer of its samples. Returns `None`, writing nothing, if `name` was written before.
    /// `name` must be a valid metric name; it is written as is.
    pub fn family<'e, 'n>(
        &'e mut self,
        name: &'n str,
        help: Option<&str>,
        kind: MetricType,
    ) -> Option<FamilyWriter<'e, 'n>> {
        if let Some(&(s, e)) = self.names.last() {
            let last = &self.out[s..e];
            let fresh = if self.ascending && name > last {
                true
            } else {
                self.ascending = false;
                !self.contains(name)
            };
            if !fresh {
                self.duplicates += 1;
                return None;
            }
        }
        if let Some(help) = help {
            self.out.push_str("# HELP ");
            self.out.push_str(name);
            self.out.push(' ');
            escape_help(self.out, help);
            self.out.push('\n');
        }
        self.out.push_str("# TYPE ");
        let start = self.out.len();
        self.out.push_str(name);
        self.names.push((start, self.out.len()));
        self.out.push(' ');
        self.out.push_str(kind.as_str());
        self.out.push('\n');
        Some(FamilyWriter {
            out: self.out,
            name,
        })
    }
}

/// Writes the samples of one family; made by [`Encoder::family`].
#[derive(Debug)]
pub struct FamilyWriter<'e, 'n> {
    out: &'e mut String,
    name: &'n str,
}

impl FamilyWriter<'_, '_> {
    /// Writes `name{labels} value` (a counter, gauge or untyped sample).
    pub fn sample<L: LabelSet + ?Sized>(&mut self, labels: &L, value: f64) {
        self.sample_with("", labels, None, value);
    }

    /// Writes `name<suffix>{labels,extra} value`: the general form behind the other methods, for
    /// series such as `_sum` or a bucket with a preformatted `le`. The extra label's value is escaped.
    pub fn sample_with<L: LabelSet + ?Sized>(
        &mut self,
        suffix: &str,
        labels: &L,
        extra: Option<(&str, &str)>,
        value: f64,
    ) {
        let out = &mut *self.out;
        out.push_str(self.name);
        out.push_str(suffix);
        let own = !labels.is_empty();
        if own || extra.is_some() {
            out.push('{');
            labels.write_to(out);
            if let Some((k, v)) = extra {
                if own {
                    out.push(',');
                }
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

    /// Writes a histogram's series: one `_bucket` per `(upper bound, cumulative count)` pair (in
    /// ascending order, without `+Inf`), the `+Inf` bucket from `count`, then `_sum` and `_count`.
    pub fn histogram<L: LabelSet + ?Sized>(
        &mut self,
        labels: &L,
        buckets: &[(f64, u64)],
        sum: f64,
        count: u64,
    ) {
        let mut le = String::new();
        for &(bound, cumulative) in buckets {
            le.clear();
            write_float(&mut le, bound);
            self.sample_with("_bucket", labels, Some(("le", &le)), cumulative as f64);
        }
        self.histogram_tail(labels, sum, count);
    }

    /// As [`FamilyWriter::histogram`], with each bucket's `le` value formatted in advance (with
    /// [`write_float`]): a recorder whose series share one set of bounds formats them once.
    pub fn histogram_le<'b, L: LabelSet + ?Sized>(
        &mut self,
        labels: &L,
        buckets: impl IntoIterator<Item = (&'b str, u64)>,
        sum: f64,
        count: u64,
    ) {
        for (le, cumulative) in buckets {
            self.sample_with("_bucket", labels, Some(("le", le)), cumulative as f64);
        }
        self.histogram_tail(labels, sum, count);
    }

    fn histogram_tail<L: LabelSet + ?Sized>(&mut self, labels: &L, sum: f64, count: u64) {
        self.sample_with("_bucket", labels, Some(("le", "+Inf")), count as f64);
        self.sample_with("_sum", labels, None, sum);
        self.sample_with("_count", labels, None, count as f64);
    }

    /// Writes a summary's series: one sample per `(quantile, value)` pair, then `_sum` and `_count`.
    pub fn summary<L: LabelSet + ?Sized>(
        &mut self,
        labels: &L,
        quantiles: &[(f64, f64)],
        sum: f64,
        count: u64,
    ) {
        let mut q = String::new();
        for &(quantile, value) in quantiles {
            q.clear();
            write_float(&mut q, quantile);
            self.sample_with("", labels, Some(("quantile", &q)), value);
        }
        self.sample_with("_sum", labels, None, sum);
        self.sample_with("_count", labels, None, count as f64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(f: impl FnOnce(&mut Encoder<'_>)) -> String {
        let mut out = String::new();
        f(&mut Encoder::new(&mut out));
        out
    }

    #[test]
    fn escapes_like_client_golang() {
        // expfmt's escapeString: HELP escapes `\` and newline, label values also `"`; nothing else
        // (tabs, carriage returns and non-ASCII pass through).
        let mut help = String::new();
        escape_help(&mut help, "a\\b\n\"c\"\t\rü");
        assert_eq!(help, "a\\\\b\\n\"c\"\t\rü");
        let mut value = String::new();
        escape_label_value(&mut value, "a\\b\n\"c\"\t\rü");
        assert_eq!(value, "a\\\\b\\n\\\"c\\\"\t\rü");
    }

    #[test]
    fn writes_help_type_and_samples() {
        let text = encode(|e| {
            let mut f = e
                .family(
                    "a_total",
                    Some("A help\\ with\nnewline"),
                    MetricType::Counter,
                )
                .unwrap();
            f.sample(&NO_LABELS, 3.0);
            let mut f = e.family("c", Some("C"), MetricType::Untyped).unwrap();
            f.sample(&[("v", "q\"u\\o\nte")], 1.5);
            let mut f = e.family("d", None, MetricType::Gauge).unwrap();
            f.sample(&Escaped("x=\"1\""), 1e-7);
        });
        assert_eq!(
            text,
            "# HELP a_total A help\\\\ with\\nnewline\n# TYPE a_total counter\na_total 3\n\
             # HELP c C\n# TYPE c untyped\nc{v=\"q\\\"u\\\\o\\nte\"} 1.5\n\
             # TYPE d gauge\nd{x=\"1\"} 1e-07\n"
        );
    }

    #[test]
    fn writes_histogram_and_summary() {
        let text = encode(|e| {
            let mut h = e.family("h", Some("H"), MetricType::Histogram).unwrap();
            h.histogram(&[("k", "v")], &[(0.1, 1), (1.0, 3)], 2.5, 4);
            let mut h = e.family("h2", Some("H"), MetricType::Histogram).unwrap();
            h.histogram_le(&NO_LABELS, [("0.5", 2)], 0.75, 2);
            let mut s = e.family("s", Some("S"), MetricType::Summary).unwrap();
            s.summary(&NO_LABELS, &[(0.5, 10.0), (0.99, 20.0)], 100.0, 7);
        });
        assert_eq!(
            text,
            "# HELP h H\n# TYPE h histogram\n\
             h_bucket{k=\"v\",le=\"0.1\"} 1\nh_bucket{k=\"v\",le=\"1\"} 3\nh_bucket{k=\"v\",le=\"+Inf\"} 4\n\
             h_sum{k=\"v\"} 2.5\nh_count{k=\"v\"} 4\n\
             # HELP h2 H\n# TYPE h2 histogram\n\
             h2_bucket{le=\"0.5\"} 2\nh2_bucket{le=\"+Inf\"} 2\nh2_sum 0.75\nh2_count 2\n\
             # HELP s S\n# TYPE s summary\ns{quantile=\"0.5\"} 10\ns{quantile=\"0.99\"} 20\ns_sum 100\ns_count 7\n"
        );
    }

    #[test]
    fn a_family_name_is_written_once_in_any_order() {
        let mut out = String::from("# preexisting text is not checked\n");
        let mut e = Encoder::new(&mut out);
        for name in ["b", "c", "a"] {
            e.family(name, None, MetricType::Gauge)
                .unwrap()
                .sample(&NO_LABELS, 1.0);
        }
        // "c" after "a": out of order, found by the scan; "b" too; "a" right after "a".
        assert!(e.family("c", Some("again"), MetricType::Counter).is_none());
        assert!(e.family("b", None, MetricType::Gauge).is_none());
        assert!(e.family("a", None, MetricType::Gauge).is_none());
        assert!(e.contains("b") && !e.contains("d"));
        assert!(e.family("d", None, MetricType::Gauge).is_some());
        assert_eq!(e.duplicates(), 3);
        assert_eq!(out.matches("# TYPE").count(), 4);
        assert!(!out.contains("again"));
    }

    proptest::proptest! {
        #[test]
        fn any_label_value_and_help_encode_to_one_line_each(value in ".*", help in ".*") {
            let text = encode(|e| {
                e.family("g", Some(&help), MetricType::Gauge).unwrap().sample(&[("l", value.as_str())], 1.0);
            });
            proptest::prop_assert_eq!(text.lines().count(), 3);
        }

        #[test]
        fn escaping_round_trips(value in ".*") {
            let mut out = String::new();
            escape_label_value(&mut out, &value);
            // Undo the three escapes as Prometheus' parser does.
            let mut back = String::new();
            let mut chars = out.chars();
            while let Some(c) = chars.next() {
                if c == '\\' {
                    match chars.next() {
                        Some('n') => back.push('\n'),
                        Some(o) => back.push(o),
                        None => proptest::prop_assert!(false, "dangling backslash"),
                    }
                } else {
                    proptest::prop_assert!(c != '"' && c != '\n');
                    back.push(c);
                }
            }
            proptest::prop_assert_eq!(back, value);
        }

        #[test]
        fn sorted_or_not_no_name_is_written_twice(names in proptest::collection::vec("[a-d]{1,2}", 0..30)) {
            let text = encode(|e| {
                for n in &names {
                    if let Some(mut f) = e.family(n, None, MetricType::Gauge) {
                        f.sample(&NO_LABELS, 1.0);
                    }
                }
            });
            let written: Vec<&str> = text.lines().filter_map(|l| l.strip_prefix("# TYPE ")).collect();
            let mut unique: Vec<&str> = names.iter().map(String::as_str).collect();
            unique.sort_unstable();
            unique.dedup();
            proptest::prop_assert_eq!(written.len(), unique.len());
        }
    }
}
