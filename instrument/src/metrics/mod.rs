//! The `/metrics` side: the `metrics` recorder, plus families computed at scrape time
//! (process, Tokio runtime, log shipper, build info).

pub mod http;
pub(crate) mod process;
pub(crate) mod recorder;
pub(crate) mod runtime;

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};

use crate::logs::LokiStats;

/// Default histogram buckets, in seconds: 100 µs to 10 s, finer at the low end than
/// Prometheus' defaults because these services answer in well under a millisecond.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// Everything a scrape renders, shared by the standalone listener and [`crate::router`].
pub(crate) struct Telemetry {
    pub registry: Arc<recorder::Registry>,
    /// `service="…",instance="…"`, escaped.
    pub labels: String,
    pub version: String,
    pub runtime: Option<runtime::RuntimeMetrics>,
    pub loki: Option<Arc<dyn Fn() -> LokiStats + Send + Sync>>,
    pub ready: Arc<AtomicBool>,
}

impl std::fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Telemetry")
            .field("labels", &self.labels)
            .finish_non_exhaustive()
    }
}

impl Telemetry {
    /// The whole exposition body (text format 0.0.4).
    pub(crate) fn render(&self) -> String {
        let mut out = String::with_capacity(64 * 1024);
        self.registry.render(&mut out);
        let labels = &self.labels;
        let _ = writeln!(
            out,
            "# HELP mcp_build_info Build information of the instrumented service; the value is always 1.\n# TYPE mcp_build_info gauge\nmcp_build_info{{{labels},version=\"{}\"}} 1",
            crate::logs::escape_label(&self.version)
        );
        let _ = writeln!(
            out,
            "# HELP mcp_ready Whether the service reports itself ready (1) or not (0).\n# TYPE mcp_ready gauge\nmcp_ready{{{labels}}} {}",
            u8::from(self.ready.load(Relaxed))
        );
        if let Some(s) = process::sample() {
            process::render(&mut out, labels, &s);
        }
        if let Some(rt) = &self.runtime {
            rt.render(&mut out, labels);
        }
        if let Some(stats) = &self.loki {
            crate::logs::render(&mut out, labels, &stats());
        }
        out
    }
}

/// Formats a sample value the way Prometheus parses it.
pub(crate) fn fmt_f64(v: f64) -> String {
    if v.is_nan() {
        "NaN".to_owned()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.to_owned()
    } else {
        format!("{v}")
    }
}

/// Describes the families the HTTP layer records, so they carry HELP.
pub(crate) fn describe() {
    metrics::describe_counter!(
        http::REQUESTS_TOTAL,
        "HTTP requests served, by method, matched route and status."
    );
    metrics::describe_histogram!(
        http::REQUEST_DURATION,
        metrics::Unit::Seconds,
        "Time to serve an HTTP request, by method, matched route and status."
    );
    metrics::describe_counter!(
        http::ROUTE_OVERFLOW,
        "HTTP requests whose route label was folded into route=\"other\" because the distinct-route cap was reached."
    );
}
