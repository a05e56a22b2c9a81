//! The `/metrics` side: the `metrics` recorder, plus families computed at scrape time
//! (process, Tokio runtime, log shipper, build info).

pub mod http;
pub(crate) mod process;
pub(crate) mod recorder;
pub(crate) mod runtime;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};

use mcp_text_format::{Encoder, Escaped, MetricType};

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
    /// The whole exposition body (text format 0.0.4): every family once, sorted by name as
    /// client_golang writes them, the recorder's and the scrape-time ones merged.
    pub(crate) fn render(&self) -> String {
        let mut builtins = Vec::with_capacity(32);
        builtins.push(Builtin::one(
            "mcp_build_info",
            "Build information of the instrumented service; the value is always 1.",
            MetricType::Gauge,
            Some(("version", &self.version)),
            1.0,
        ));
        builtins.push(Builtin::one(
            "mcp_ready",
            "Whether the service reports itself ready (1) or not (0).",
            MetricType::Gauge,
            None,
            f64::from(u8::from(self.ready.load(Relaxed))),
        ));
        process::families(&mut builtins);
        if let Some(rt) = &self.runtime {
            rt.families(&mut builtins);
        }
        let loki = self.loki.as_ref().map(|stats| stats());
        if let Some(stats) = &loki {
            crate::logs::render(&mut builtins, stats);
        }
        builtins.push(Builtin {
            name: recorder::REJECTED_SERIES,
            help: "Series registered through the metrics facade but not exposed, by reason: reserved_name (named like a family mcp-instrument writes itself) or type_conflict (the name has another type already).",
            kind: MetricType::Counter,
            samples: recorder::Rejected::ALL
                .iter()
                .map(|&r| (Some(("reason", r.as_str())), self.registry.rejected(r) as f64))
                .collect(),
        });
        builtins.sort_by_key(|b| b.name);
        let mut out = String::with_capacity(64 * 1024);
        let mut enc = Encoder::new(&mut out);
        self.registry
            .render(&mut enc, Escaped(&self.labels), &builtins);
        out
    }
}

/// A family computed at scrape time (build info, readiness, process, runtime, log shipper),
/// written with the global labels.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Builtin<'a> {
    pub name: &'static str,
    pub help: &'static str,
    pub kind: MetricType,
    /// One sample per entry: an optional label written after the global ones, and the value.
    pub samples: Vec<(Option<(&'static str, &'a str)>, f64)>,
}

impl<'a> Builtin<'a> {
    /// A family of one sample.
    pub(crate) fn one(
        name: &'static str,
        help: &'static str,
        kind: MetricType,
        label: Option<(&'static str, &'a str)>,
        value: f64,
    ) -> Self {
        Self {
            name,
            help,
            kind,
            samples: vec![(label, value)],
        }
    }

    /// Writes the family unless the encoder has written one of this name already.
    pub(crate) fn write(&self, enc: &mut Encoder<'_>, labels: Escaped<'_>) {
        if let Some(mut w) = enc.family(self.name, Some(self.help), self.kind) {
            for &(label, value) in &self.samples {
                w.sample_with("", &labels, label, value);
            }
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A scrape with every kind of family: recorded counters, gauges and histograms, and the
    /// scrape-time process, runtime, build, readiness and log shipper families.
    fn telemetry(rt: &tokio::runtime::Runtime) -> Telemetry {
        let registry = Arc::new(recorder::Registry::new(
            vec![
                ("service".to_owned(), "svc".to_owned()),
                ("instance".to_owned(), "box\"1".to_owned()),
            ],
            LATENCY_BUCKETS,
        ));
        let r = recorder::Recorder(Arc::clone(&registry));
        ::metrics::with_local_recorder(&r, || {
            describe();
            ::metrics::describe_counter!("zz_orders_total", "Orders.\nWith a \\ backslash.");
            ::metrics::counter!("zz_orders_total", "venue" => "x\"n\\as\nq").increment(1_234_567);
            ::metrics::describe_gauge!("aa_queue_depth", "Queue depth.");
            ::metrics::gauge!("aa_queue_depth").set(1e-7);
            ::metrics::histogram!(http::REQUEST_DURATION, "route" => "/a").record(0.003);
            ::metrics::counter!(http::REQUESTS_TOTAL, "route" => "/a").increment(1);
        });
        Telemetry {
            registry,
            labels: "service=\"svc\",instance=\"box\\\"1\"".to_owned(),
            version: "1.2.3\"rc".to_owned(),
            runtime: Some(runtime::RuntimeMetrics::new(rt.handle().clone())),
            loki: Some(Arc::new(|| LokiStats {
                sent: 3,
                ..LokiStats::default()
            })),
            ready: Arc::new(AtomicBool::new(true)),
        }
    }

    #[test]
    fn the_body_passes_promtool_with_every_family_once_in_name_order() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let body = telemetry(&rt).render();
        mcp_testkit::promtool_check_metrics(&body).unwrap_or_else(|e| panic!("{e}\n{body}"));
        let names: Vec<&str> = body
            .lines()
            .filter_map(|l| l.strip_prefix("# TYPE "))
            .filter_map(|l| l.split(' ').next())
            .collect();
        assert!(
            names.windows(2).all(|w| w[0] < w[1]),
            "not sorted or repeated: {names:?}"
        );
        for want in [
            "aa_queue_depth{service=\"svc\",instance=\"box\\\"1\"} 1e-07\n",
            "# HELP zz_orders_total Orders.\\nWith a \\\\ backslash.\n",
            "zz_orders_total{service=\"svc\",instance=\"box\\\"1\",venue=\"x\\\"n\\\\as\\nq\"} 1.234567e+06\n",
            "mcp_build_info{service=\"svc\",instance=\"box\\\"1\",version=\"1.2.3\\\"rc\"} 1\n",
            "mcp_log_events_sent_total{service=\"svc\",instance=\"box\\\"1\"} 3\n",
            "http_server_request_duration_seconds_bucket{service=\"svc\",instance=\"box\\\"1\",route=\"/a\",le=\"0.0025\"} 0\n",
            "http_server_request_duration_seconds_bucket{service=\"svc\",instance=\"box\\\"1\",route=\"/a\",le=\"0.005\"} 1\n",
            "http_server_request_duration_seconds_count{service=\"svc\",instance=\"box\\\"1\",route=\"/a\"} 1\n",
            "# TYPE process_cpu_seconds_total counter\n",
            "# TYPE process_threads gauge\n",
            "# TYPE tokio_runtime_workers gauge\n",
            "# TYPE mcp_ready gauge\n",
        ] {
            assert!(body.contains(want), "missing {want:?} in\n{body}");
        }
    }

    #[test]
    fn a_metric_named_like_a_built_in_family_is_rejected_and_counted() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let t = telemetry(&rt);
        let r = recorder::Recorder(Arc::clone(&t.registry));
        ::metrics::with_local_recorder(&r, || {
            // Scrape-time families: rejected whatever the type.
            ::metrics::counter!("process_cpu_seconds_total").absolute(987_654_321);
            ::metrics::gauge!("mcp_log_queue_bytes").set(987_654_321.0);
            ::metrics::gauge!("mcp_ready", "k" => "a").set(987_654_321.0);
            ::metrics::gauge!("mcp_ready", "k" => "b").set(987_654_321.0);
            // The HTTP layer's family with another type: rejected; with its own type it is the
            // same family (the handle feeds it).
            ::metrics::gauge!(http::REQUESTS_TOTAL).set(987_654_321.0);
            ::metrics::counter!(http::REQUESTS_TOTAL, "route" => "/b").increment(2);
            // A user family registered twice with two types: the first type stays.
            ::metrics::counter!("zz_orders_total", "venue" => "b").increment(1);
            ::metrics::gauge!("zz_orders_total", "venue" => "c").set(987_654_321.0);
            // A name sanitized into a reserved one is caught too.
            ::metrics::counter!("process.max.fds").increment(987_654_321);
        });
        let body = t.render();
        mcp_testkit::promtool_check_metrics(&body).unwrap_or_else(|e| panic!("{e}\n{body}"));
        let mut names: Vec<&str> = body
            .lines()
            .filter_map(|l| l.strip_prefix("# TYPE "))
            .collect();
        let all = names.len();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), all, "a family written twice:\n{body}");
        assert!(
            !body.contains("987654321") && !body.contains("9.87654321e+08"),
            "{body}"
        );
        assert!(body.contains("# TYPE process_cpu_seconds_total counter\n"));
        assert!(body.contains("# TYPE mcp_log_queue_bytes gauge\n"));
        assert!(body.contains("# TYPE zz_orders_total counter\n"));
        assert!(body.contains(
            "http_server_requests_total{service=\"svc\",instance=\"box\\\"1\",route=\"/b\"} 2\n"
        ));
        let rejected = |reason: &str| {
            format!(
                "mcp_metrics_series_rejected_total{{service=\"svc\",instance=\"box\\\"1\",reason=\"{reason}\"}}"
            )
        };
        assert!(
            body.contains(&format!("{} 6\n", rejected("reserved_name"))),
            "{body}"
        );
        assert!(
            body.contains(&format!("{} 1\n", rejected("type_conflict"))),
            "{body}"
        );
        // A recorded metric may use the counter's name no more than any other built-in.
        ::metrics::with_local_recorder(&r, || {
            ::metrics::counter!(recorder::REJECTED_SERIES).increment(1);
        });
        assert!(
            t.render()
                .contains(&format!("{} 7\n", rejected("reserved_name")))
        );
    }
}
