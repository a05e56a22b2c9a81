//! The `metrics` recorder behind `/metrics`.
//!
//! Why not metrics-exporter-prometheus' recorder: measured on this machine (BENCHMARKS.md), its
//! render of 10,000 series took 34 ms against a 5 ms target, its histogram handle 72 ns with
//! every sample buffered (16 B each) until an upkeep pass, and its counter handle pays a second
//! atomic for idle tracking. This recorder keeps the `metrics` facade (services still use the
//! macros and handles) and stores:
//!
//! * counters as one `AtomicU64`, gauges as one `AtomicU64` of f64 bits;
//! * histograms as fixed buckets of atomics plus an f64 sum: no per-sample buffer, no upkeep;
//! * each series' label text formatted once, at registration, so a scrape only writes values,
//!   in a stable order (families by name, series by labels).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, RwLock};

use mcp_text_format::{Encoder, Escaped, LabelSet as _, MetricType};
use metrics::{
    Counter, CounterFn, Gauge, GaugeFn, Histogram, HistogramFn, Key, KeyName, Metadata,
    SharedString, Unit,
};

/// `metrics::Key` hashes as its precomputed u64 hash; this hasher just keeps it.
#[derive(Default)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // Only reached if `Key`'s Hash impl changes; stay correct, if slower.
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

type KeyMap<T> = HashMap<Key, Arc<T>, BuildHasherDefault<KeyHasher>>;

#[derive(Debug, Default)]
struct CounterCell(AtomicU64);

impl CounterFn for CounterCell {
    fn increment(&self, value: u64) {
        self.0.fetch_add(value, Relaxed);
    }
    fn absolute(&self, value: u64) {
        self.0.fetch_max(value, Relaxed);
    }
}

#[derive(Debug, Default)]
struct GaugeCell(AtomicU64);

impl GaugeCell {
    fn update(&self, f: impl Fn(f64) -> f64) {
        let _ = self
            .0
            .fetch_update(Relaxed, Relaxed, |b| Some(f(f64::from_bits(b)).to_bits()));
    }
}

impl GaugeFn for GaugeCell {
    fn increment(&self, value: f64) {
        self.update(|v| v + value);
    }
    fn decrement(&self, value: f64) {
        self.update(|v| v - value);
    }
    fn set(&self, value: f64) {
        self.0.store(value.to_bits(), Relaxed);
    }
}

#[derive(Debug)]
struct HistogramCell {
    bounds: Arc<[f64]>,
    /// Per-bucket (non-cumulative) counts; the last slot is above the largest bound.
    counts: Box<[AtomicU64]>,
    sum: AtomicU64,
}

impl HistogramCell {
    fn new(bounds: Arc<[f64]>) -> Self {
        let counts = (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect();
        Self {
            bounds,
            counts,
            sum: AtomicU64::new(0f64.to_bits()),
        }
    }
}

impl HistogramFn for HistogramCell {
    fn record(&self, value: f64) {
        // Buckets are upper-inclusive (`le`); NaN lands in +Inf, like client_golang.
        let i = self.bounds.partition_point(|b| *b < value);
        if let Some(c) = self.counts.get(i) {
            c.fetch_add(1, Relaxed);
        }
        let _ = self.sum.fetch_update(Relaxed, Relaxed, |b| {
            Some((f64::from_bits(b) + value).to_bits())
        });
    }
}

#[derive(Debug)]
enum Cell {
    Counter(Arc<CounterCell>),
    Gauge(Arc<GaugeCell>),
    Histogram(Arc<HistogramCell>),
}

#[derive(Debug)]
struct Series {
    /// `a="b",c="d"`, global labels first, escaped; may be empty.
    labels: String,
    cell: Cell,
}

#[derive(Debug)]
struct Family {
    kind: MetricType,
    /// Sorted by `labels`.
    series: Vec<Series>,
}

/// The recorder's state, shared by the installed recorder and the scrape.
#[derive(Debug)]
pub(crate) struct Registry {
    global_labels: Vec<(String, String)>,
    bounds: Arc<[f64]>,
    /// `le="…"` values of the bounds, formatted once.
    le: Vec<String>,
    counters: RwLock<KeyMap<CounterCell>>,
    gauges: RwLock<KeyMap<GaugeCell>>,
    histograms: RwLock<KeyMap<HistogramCell>>,
    families: RwLock<BTreeMap<String, Family>>,
    help: RwLock<HashMap<String, String>>,
    /// Series not exposed, by [`Rejected`] reason; exported as [`REJECTED_SERIES`].
    rejected: [AtomicU64; 2],
    /// Family names already warned about: one log line per name, not per series.
    warned: Mutex<HashSet<String>>,
}

/// Name of the counter of series registered through the facade but not exposed.
pub(crate) const REJECTED_SERIES: &str = "mcp_metrics_series_rejected_total";

/// Why a series registered through the `metrics` facade is not exposed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Rejected {
    /// Named like a family mcp-instrument writes itself (process, runtime, log shipper, build
    /// and readiness families, or an HTTP layer family with another type).
    ReservedName = 0,
    /// A family of that name was registered earlier with another type.
    TypeConflict = 1,
}

impl Rejected {
    pub(crate) const ALL: [Rejected; 2] = [Rejected::ReservedName, Rejected::TypeConflict];

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Rejected::ReservedName => "reserved_name",
            Rejected::TypeConflict => "type_conflict",
        }
    }
}

/// Whether a recorded family named `name` of type `kind` would clash with a family written at
/// scrape time (any type) or by the HTTP layer (another type). The built-in family wins.
fn reserved(name: &str, kind: MetricType) -> bool {
    const SCRAPE_TIME: [&str; 3] = ["mcp_build_info", "mcp_ready", REJECTED_SERIES];
    const SCRAPE_TIME_PREFIXES: [&str; 2] = ["mcp_log_", "tokio_runtime_"];
    let http = match name {
        super::http::REQUESTS_TOTAL | super::http::ROUTE_OVERFLOW => Some(MetricType::Counter),
        super::http::REQUEST_DURATION => Some(MetricType::Histogram),
        _ => None,
    };
    SCRAPE_TIME.contains(&name)
        || mcp_text_format::process::NAMES.contains(&name)
        || SCRAPE_TIME_PREFIXES.iter().any(|p| name.starts_with(p))
        || http.is_some_and(|k| k != kind)
}

impl Registry {
    pub(crate) fn new(global_labels: Vec<(String, String)>, bounds: &[f64]) -> Self {
        let mut b: Vec<f64> = bounds.iter().copied().filter(|v| v.is_finite()).collect();
        b.sort_by(f64::total_cmp);
        b.dedup();
        let le = b
            .iter()
            .map(|v| {
                let mut s = String::new();
                mcp_text_format::write_float(&mut s, *v);
                s
            })
            .collect();
        Self {
            global_labels: global_labels
                .into_iter()
                .map(|(k, v)| (sanitize_label(&k), v))
                .collect(),
            bounds: b.into(),
            le,
            counters: RwLock::default(),
            gauges: RwLock::default(),
            histograms: RwLock::default(),
            families: RwLock::default(),
            help: RwLock::default(),
            rejected: Default::default(),
            warned: Mutex::default(),
        }
    }

    fn labels_of(&self, key: &Key) -> String {
        let mut out = String::new();
        let own: Vec<(String, &str)> = key
            .labels()
            .map(|l| (sanitize_label(l.key()), l.value()))
            .collect();
        // A metric's own label wins over a global label of the same name.
        let globals = self
            .global_labels
            .iter()
            .filter(|(k, _)| !own.iter().any(|(o, _)| o == k))
            .map(|(k, v)| (k.as_str(), v.as_str()));
        let pairs: Vec<(&str, &str)> = globals
            .chain(own.iter().map(|(k, v)| (k.as_str(), *v)))
            .collect();
        pairs.as_slice().write_to(&mut out);
        out
    }

    /// Adds a series to its family, or rejects it (the handle still works, its values are just
    /// not exposed): one body never holds two families of one name.
    fn add_series(&self, key: &Key, kind: MetricType, cell: Cell) {
        let name = sanitize_name(key.name());
        let rejected = if reserved(&name, kind) {
            Rejected::ReservedName
        } else {
            let labels = self.labels_of(key);
            let mut families = self.families.write().unwrap_or_else(|p| p.into_inner());
            let family = families.entry(name.clone()).or_insert_with(|| Family {
                kind,
                series: Vec::new(),
            });
            if family.kind == kind {
                if let Err(at) = family
                    .series
                    .binary_search_by(|s| s.labels.as_str().cmp(&labels))
                {
                    family.series.insert(at, Series { labels, cell });
                }
                return;
            }
            Rejected::TypeConflict
        };
        self.rejected[rejected as usize].fetch_add(1, Relaxed);
        // Logged with no registry lock held: a subscriber may record metrics itself.
        let first = self
            .warned
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(name.clone());
        if first {
            tracing::warn!(
                metric = %name,
                reason = rejected.as_str(),
                "Metric not exposed: its name is taken by another family; counted in {REJECTED_SERIES}."
            );
        }
    }

    /// Series rejected so far, by reason.
    pub(crate) fn rejected(&self, reason: Rejected) -> u64 {
        self.rejected[reason as usize].load(Relaxed)
    }

    fn get_or_create<T>(
        &self,
        map: &RwLock<KeyMap<T>>,
        key: &Key,
        make: impl FnOnce() -> T,
        kind: MetricType,
        wrap: impl FnOnce(Arc<T>) -> Cell,
    ) -> Arc<T> {
        if let Some(c) = map.read().unwrap_or_else(|p| p.into_inner()).get(key) {
            return Arc::clone(c);
        }
        let mut w = map.write().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = w.get(key) {
            return Arc::clone(c);
        }
        let cell = Arc::new(make());
        w.insert(key.clone(), Arc::clone(&cell));
        drop(w);
        self.add_series(key, kind, wrap(Arc::clone(&cell)));
        cell
    }

    fn describe(&self, key: KeyName, description: SharedString) {
        let mut help = self.help.write().unwrap_or_else(|p| p.into_inner());
        help.insert(sanitize_name(key.as_str()), description.into_owned());
    }

    /// Writes every family in text format 0.0.4, sorted by name, series sorted by labels, with
    /// `builtins` (sorted by name, written with `global` labels) merged in. A built-in family
    /// wins over a recorded one of the same name: the encoder refuses the second.
    pub(crate) fn render(
        &self,
        enc: &mut Encoder<'_>,
        global: Escaped<'_>,
        builtins: &[super::Builtin<'_>],
    ) {
        let families = self.families.read().unwrap_or_else(|p| p.into_inner());
        let help = self.help.read().unwrap_or_else(|p| p.into_inner());
        let mut builtins = builtins.iter().peekable();
        // One buffer for every histogram's buckets: each atomic is read once, so the buckets,
        // `+Inf` and `_count` agree even while observations arrive.
        let mut buckets: Vec<(&str, u64)> = Vec::with_capacity(self.le.len());
        for (name, family) in families.iter() {
            while let Some(b) = builtins.next_if(|b| b.name <= name.as_str()) {
                b.write(enc, global);
            }
            let Some(mut w) = enc.family(name, help.get(name).map(String::as_str), family.kind)
            else {
                continue;
            };
            for s in &family.series {
                let labels = Escaped(&s.labels);
                match &s.cell {
                    Cell::Counter(c) => w.sample(&labels, c.0.load(Relaxed) as f64),
                    Cell::Gauge(g) => w.sample(&labels, f64::from_bits(g.0.load(Relaxed))),
                    Cell::Histogram(h) => {
                        let mut cumulative = 0u64;
                        buckets.clear();
                        buckets.extend(self.le.iter().zip(h.counts.iter()).map(|(le, c)| {
                            cumulative += c.load(Relaxed);
                            (le.as_str(), cumulative)
                        }));
                        let above = h.counts.get(self.le.len()).map_or(0, |c| c.load(Relaxed));
                        // The count is the sum of the buckets, so it always agrees with them.
                        let count = cumulative + above;
                        let sum = f64::from_bits(h.sum.load(Relaxed));
                        w.histogram_le(&labels, buckets.iter().copied(), sum, count);
                    }
                }
            }
        }
        for b in builtins {
            b.write(enc, global);
        }
    }
}

/// The installed `metrics::Recorder`.
#[derive(Debug, Clone)]
pub(crate) struct Recorder(pub Arc<Registry>);

impl metrics::Recorder for Recorder {
    fn describe_counter(&self, key: KeyName, _unit: Option<Unit>, description: SharedString) {
        self.0.describe(key, description);
    }
    fn describe_gauge(&self, key: KeyName, _unit: Option<Unit>, description: SharedString) {
        self.0.describe(key, description);
    }
    fn describe_histogram(&self, key: KeyName, _unit: Option<Unit>, description: SharedString) {
        self.0.describe(key, description);
    }
    fn register_counter(&self, key: &Key, _metadata: &Metadata<'_>) -> Counter {
        let r = &self.0;
        Counter::from_arc(r.get_or_create(
            &r.counters,
            key,
            CounterCell::default,
            MetricType::Counter,
            Cell::Counter,
        ))
    }
    fn register_gauge(&self, key: &Key, _metadata: &Metadata<'_>) -> Gauge {
        let r = &self.0;
        Gauge::from_arc(r.get_or_create(
            &r.gauges,
            key,
            || GaugeCell(AtomicU64::new(0f64.to_bits())),
            MetricType::Gauge,
            Cell::Gauge,
        ))
    }
    fn register_histogram(&self, key: &Key, _metadata: &Metadata<'_>) -> Histogram {
        let r = &self.0;
        let bounds = Arc::clone(&r.bounds);
        Histogram::from_arc(r.get_or_create(
            &r.histograms,
            key,
            || HistogramCell::new(bounds),
            MetricType::Histogram,
            Cell::Histogram,
        ))
    }
}

fn sanitize_name(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == ':' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

fn sanitize_label(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use metrics::Recorder as _;

    fn render(r: &Recorder) -> String {
        let mut out = String::new();
        r.0.render(&mut Encoder::new(&mut out), Escaped(""), &[]);
        out
    }

    fn registry() -> Recorder {
        Recorder(Arc::new(Registry::new(
            vec![("service".into(), "svc".into())],
            &[0.1, 1.0],
        )))
    }

    #[test]
    fn renders_sorted_families_and_series_with_global_labels() {
        let r = registry();
        metrics::with_local_recorder(&r, || {
            metrics::describe_counter!("b_total", "Bs.\nTwo lines.");
            metrics::counter!("b_total", "x" => "2").increment(2);
            metrics::counter!("b_total", "x" => "1").increment(1);
            metrics::counter!("a.total", "service" => "own").absolute(7);
            metrics::gauge!("g").set(1.5);
            metrics::gauge!("g").decrement(0.25);
            let h = metrics::histogram!("h_seconds", "q" => "a\"b");
            for v in [0.0625, 0.09375, 0.5, 3.0] {
                h.record(v);
            }
        });
        let out = render(&r);
        assert_eq!(
            out,
            "# TYPE a_total counter\n\
             a_total{service=\"own\"} 7\n\
             # HELP b_total Bs.\\nTwo lines.\n\
             # TYPE b_total counter\n\
             b_total{service=\"svc\",x=\"1\"} 1\n\
             b_total{service=\"svc\",x=\"2\"} 2\n\
             # TYPE g gauge\n\
             g{service=\"svc\"} 1.25\n\
             # TYPE h_seconds histogram\n\
             h_seconds_bucket{service=\"svc\",q=\"a\\\"b\",le=\"0.1\"} 2\n\
             h_seconds_bucket{service=\"svc\",q=\"a\\\"b\",le=\"1\"} 3\n\
             h_seconds_bucket{service=\"svc\",q=\"a\\\"b\",le=\"+Inf\"} 4\n\
             h_seconds_sum{service=\"svc\",q=\"a\\\"b\"} 3.65625\n\
             h_seconds_count{service=\"svc\",q=\"a\\\"b\"} 4\n"
        );
    }

    #[test]
    fn handles_and_macros_share_one_series() {
        let r = registry();
        let c = r.register_counter(
            &Key::from_name("c_total"),
            &metrics::Metadata::new("t", metrics::Level::INFO, None),
        );
        c.increment(1);
        metrics::with_local_recorder(&r, || metrics::counter!("c_total").increment(2));
        let out = render(&r);
        assert!(out.contains("c_total{service=\"svc\"} 3\n"), "{out}");
    }
}
