//! The Prometheus text exposition format 0.0.4 for the exporters: [`MetricSet`], the samples of one
//! scrape, sorted and encoded the way client_golang's expfmt does (families by name, label pairs by
//! name, metrics by label values).
//!
//! The format itself (escaping, Go float formatting, the family writer) lives in the published
//! `mcp-text-format` crate, shared with mcp-instrument; it is re-exported here so exporters keep
//! naming `mcp_exporter_core::encoder::…`.

use std::borrow::Cow;

pub use mcp_text_format::{
    Encoder, Escaped, FamilyWriter, LabelSet, MetricType, escape_help, escape_label_value,
    write_float,
};

/// A name or HELP text: `&'static str` for literal names (no allocation), `String` for names built
/// from a backend's answer (Redis INFO fields, `/proc/meminfo` keys).
pub type Text = Cow<'static, str>;

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
        let mut enc = Encoder::new(&mut out);
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
            write_family(&mut enc, family);
        }
        dropped += enc.duplicates();
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

fn write_family(enc: &mut Encoder<'_>, family: &Family) {
    // Names are unique in a set (the index), so the encoder never refuses one here.
    let Some(mut w) = enc.family(&family.name, Some(family.help.as_ref()), family.kind) else {
        return;
    };
    for metric in &family.metrics {
        let labels = metric.labels.as_slice();
        match &metric.value {
            Value::Single(v) => w.sample(labels, *v),
            Value::Histogram {
                buckets,
                sum,
                count,
            } => w.histogram(labels, buckets, *sum, *count),
            Value::Summary {
                quantiles,
                sum,
                count,
            } => w.summary(labels, quantiles, *sum, *count),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        fn any_label_value_encodes_to_one_line(value in ".*", help in ".*") {
            let mut set = MetricSet::new();
            set.gauge("g", help, &[("l", value.as_str())], 1.0);
            let (text, _) = set.encode();
            proptest::prop_assert_eq!(text.lines().count(), 3);
        }
    }
}
