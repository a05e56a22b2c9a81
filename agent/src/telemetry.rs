//! The agent's own families, served at [`PATH`] on every exporter port: build info and, per
//! exporter, scrapes answered, scrapes answered with an error status, time spent answering and
//! scrapes in flight.
//!
//! They live on their own path, not in the exporters' `/metrics`, so that each exporter's output
//! stays exactly that of the Go exporter it replaces (drop-in dashboards and goldens). The path is
//! outside the web config's basic auth: it holds counts and durations only.

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Instant;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// Where the agent's families are served.
pub const PATH: &str = "/agent/metrics";

/// Counters of one exporter.
#[derive(Debug, Default)]
pub struct ExporterStats {
    scrapes: AtomicU64,
    errors: AtomicU64,
    micros: AtomicU64,
    in_flight: AtomicU64,
}

/// Every exporter's counters.
#[derive(Debug, Default)]
pub struct AgentStats {
    exporters: Vec<(&'static str, ExporterStats)>,
    /// The log collector's counters, when it runs.
    logs: std::sync::OnceLock<Arc<crate::logs::LogStats>>,
}

impl AgentStats {
    /// Counters for these exporters, in this order.
    pub fn new(names: &[&'static str]) -> Arc<Self> {
        Arc::new(Self {
            exporters: names
                .iter()
                .map(|n| (*n, ExporterStats::default()))
                .collect(),
            logs: std::sync::OnceLock::new(),
        })
    }

    fn of(&self, name: &str) -> Option<&ExporterStats> {
        self.exporters
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, s)| s)
    }

    /// Serve the log collector's `mcp_agent_log_*` families beside the agent's own.
    pub fn set_logs(&self, stats: Arc<crate::logs::LogStats>) {
        let _ = self.logs.set(stats);
    }

    /// Scrapes being answered now, all exporters.
    pub fn in_flight(&self) -> u64 {
        self.exporters
            .iter()
            .map(|(_, s)| s.in_flight.load(Relaxed))
            .sum()
    }

    /// The text exposition of the families.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(1024);
        out.push_str("# HELP mcp_agent_build_info A metric with a constant '1' value labeled by the version of mcp-agent.\n# TYPE mcp_agent_build_info gauge\n");
        let _ = writeln!(
            out,
            "mcp_agent_build_info{{version=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION")
        );
        let family = |out: &mut String,
                      name: &str,
                      kind: &str,
                      help: &str,
                      f: &dyn Fn(&ExporterStats) -> String| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for (exporter, s) in &self.exporters {
                out.push_str(&f(s).replace("{e}", exporter));
            }
        };
        family(
            &mut out,
            "mcp_agent_scrapes_total",
            "counter",
            "Scrapes of each exporter's metrics path answered by the agent.",
            &|s| {
                format!(
                    "mcp_agent_scrapes_total{{exporter=\"{{e}}\"}} {}\n",
                    s.scrapes.load(Relaxed)
                )
            },
        );
        family(
            &mut out,
            "mcp_agent_scrape_errors_total",
            "counter",
            "Scrapes of each exporter answered with an HTTP error status.",
            &|s| {
                format!(
                    "mcp_agent_scrape_errors_total{{exporter=\"{{e}}\"}} {}\n",
                    s.errors.load(Relaxed)
                )
            },
        );
        family(
            &mut out,
            "mcp_agent_scrape_duration_seconds",
            "summary",
            "Time spent answering scrapes of each exporter.",
            &|s| {
                format!(
                    "mcp_agent_scrape_duration_seconds_sum{{exporter=\"{{e}}\"}} {}\nmcp_agent_scrape_duration_seconds_count{{exporter=\"{{e}}\"}} {}\n",
                    s.micros.load(Relaxed) as f64 / 1e6,
                    s.scrapes.load(Relaxed)
                )
            },
        );
        family(
            &mut out,
            "mcp_agent_scrapes_in_flight",
            "gauge",
            "Scrapes of each exporter being answered now.",
            &|s| {
                format!(
                    "mcp_agent_scrapes_in_flight{{exporter=\"{{e}}\"}} {}\n",
                    s.in_flight.load(Relaxed)
                )
            },
        );
        if let Some(logs) = self.logs.get() {
            let mut set = mcp_exporter_core::MetricSet::new();
            logs.render(&mut set);
            out.push_str(&set.encode().0);
        }
        out
    }
}

#[derive(Clone)]
struct Counted {
    stats: Arc<AgentStats>,
    exporter: &'static str,
    path: String,
}

async fn count(State(c): State<Counted>, req: Request, next: Next) -> Response {
    if req.uri().path() != c.path {
        return next.run(req).await;
    }
    let Some(s) = c.stats.of(c.exporter) else {
        return next.run(req).await;
    };
    // A guard, so a scrape whose client goes away (the future dropped) still leaves the gauge.
    struct InFlight<'a>(&'a AtomicU64);
    impl Drop for InFlight<'_> {
        fn drop(&mut self) {
            self.0.fetch_sub(1, Relaxed);
        }
    }
    s.in_flight.fetch_add(1, Relaxed);
    let _in_flight = InFlight(&s.in_flight);
    let start = Instant::now();
    let res = next.run(req).await;
    s.micros
        .fetch_add(start.elapsed().as_micros() as u64, Relaxed);
    s.scrapes.fetch_add(1, Relaxed);
    if res.status().is_client_error() || res.status().is_server_error() {
        s.errors.fetch_add(1, Relaxed);
    }
    res
}

/// Wraps an exporter's router: its scrapes are counted, and [`PATH`] serves the families.
pub fn instrument(
    router: Router,
    stats: &Arc<AgentStats>,
    exporter: &'static str,
    telemetry_path: &str,
) -> Router {
    let counted = Counted {
        stats: Arc::clone(stats),
        exporter,
        path: telemetry_path.to_owned(),
    };
    let render_stats = Arc::clone(stats);
    router
        .layer(axum::middleware::from_fn_with_state(counted, count))
        .merge(Router::new().route(
            PATH,
            get(move || {
                let s = Arc::clone(&render_stats);
                async move {
                    (
                        [(
                            header::CONTENT_TYPE,
                            "text/plain; version=0.0.4; charset=utf-8",
                        )],
                        s.render(),
                    )
                        .into_response()
                }
            }),
        ))
}
