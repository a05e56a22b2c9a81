//! One init call gives a Rust service Prometheus metrics, process and runtime metrics, health
//! endpoints, console logs and bounded log shipping to Loki, without ever blocking it.
//!
//! ```no_run
//! #[tokio::main]
//! async fn main() -> Result<(), mcp_instrument::InitError> {
//!     let guard = mcp_instrument::init("cdb_core")?; // MCP_METRICS_ADDR, MCP_LOKI_URL, RUST_LOG…
//!     metrics::counter!("orders_total").increment(1);
//!     tracing::info!(order_id = 42, "Order accepted.");
//!     drop(guard); // flushes the logs still held, within a bounded time
//!     Ok(())
//! }
//! ```
//!
//! What [`init`] installs:
//!
//! * a `metrics` recorder with global labels `service` and `instance`: counters and gauges are
//!   one atomic, histograms fixed atomic buckets ([`LATENCY_BUCKETS`] by default, never
//!   summaries, no per-sample buffering), output sorted and stable between scrapes;
//! * `/metrics`, `/-/healthy`, `/-/ready` on a standalone listener (`MCP_METRICS_ADDR`, default
//!   `0.0.0.0:9464`, its own thread), or merged into your router with [`router`];
//! * process metrics with client_golang's names, `mcp_build_info{service,version}`, Tokio
//!   runtime metrics and the log shipper's counters, all computed at scrape time;
//! * a global `tracing` subscriber: `RUST_LOG` filter, console output ([`LogFormat`]) and, with
//!   `MCP_LOKI_URL`, the bounded Loki shipper of [`logs`].
//!
//! For HTTP services add [`HttpMetricsLayer`] to the axum router.
//!
//! Nothing here panics: a second `init`, a port in use or a bad setting is an [`InitError`].

#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![warn(missing_debug_implementations)]

mod config;
pub mod drill;
mod error;
pub mod logs;
pub mod metrics;
mod server;
mod trace_id;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, OnceLock};

use axum::Router;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::{EnvFilter, Layer, Registry};

pub use config::{
    Builder, Config, DEFAULT_METRICS_ADDR, ENV_INSTANCE, ENV_LOG_FORMAT, ENV_LOKI_BATCH_WAIT_MS,
    ENV_LOKI_DROP_POLICY, ENV_LOKI_LABELS, ENV_LOKI_MAX_BYTES, ENV_LOKI_MAX_EVENTS, ENV_LOKI_URL,
    ENV_METRICS_ADDR, ENV_RUST_LOG, ENV_SERVICE, ENV_SERVICE_VERSION, LogFormat,
};
pub use error::InitError;
pub use logs::{FlushReport, LokiStats, last_flush_report};
pub use metrics::LATENCY_BUCKETS;
pub use metrics::http::HttpMetricsLayer;
pub use server::CONTENT_TYPE;
pub use trace_id::TraceId;

static INITIALIZED: AtomicBool = AtomicBool::new(false);
static TELEMETRY: OnceLock<Arc<metrics::Telemetry>> = OnceLock::new();
static ROUTE_CAP: AtomicUsize = AtomicUsize::new(metrics::http::DEFAULT_ROUTE_CAP);

/// Initialises everything for `service`, with every setting overridable by environment
/// variables (`MCP_SERVICE`, `MCP_METRICS_ADDR`, `MCP_LOKI_URL`, `RUST_LOG`, …; see
/// [`Builder`]). Keep the returned [`Guard`] alive for the life of the service.
///
/// Does not need to be called inside a Tokio runtime; when it is, that runtime's metrics are
/// exported.
///
/// ```no_run
/// let guard = mcp_instrument::init("cdb_risk").expect("instrumentation");
/// assert!(mcp_instrument::init("cdb_risk").is_err()); // a second call is an error, not a panic
/// # drop(guard);
/// ```
pub fn init(service: &str) -> Result<Guard, InitError> {
    Builder::new(service).init()
}

/// The cap on distinct HTTP `route` label values in force.
pub(crate) fn route_cap() -> usize {
    ROUTE_CAP.load(Relaxed)
}

/// Readiness flag behind `/-/ready`; cheap to clone and flip from anywhere.
#[derive(Clone, Debug)]
pub struct Readiness(Arc<AtomicBool>);

impl Readiness {
    /// Sets whether `/-/ready` answers 200 (true) or 503 (false).
    pub fn set(&self, ready: bool) {
        self.0.store(ready, Relaxed);
    }

    /// The current state.
    pub fn get(&self) -> bool {
        self.0.load(Relaxed)
    }
}

/// Sets readiness through the global instrumentation; does nothing before [`init`].
pub fn set_ready(ready: bool) {
    if let Some(t) = TELEMETRY.get() {
        t.ready.store(ready, Relaxed);
    }
}

/// `/metrics`, `/-/healthy` and `/-/ready` as a router to merge into the service's own
/// (`app.merge(mcp_instrument::router())`). Before [`init`] it is an empty router.
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let _guard = mcp_instrument::Builder::new("cdb_ws").no_metrics_listener().init()?;
/// let app = axum::Router::new()
///     .route("/", axum::routing::get(|| async { "hello" }))
///     .merge(mcp_instrument::router());
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:8003").await?;
/// axum::serve(listener, app).await?;
/// # Ok(()) }
/// ```
pub fn router() -> Router {
    match TELEMETRY.get() {
        Some(t) => server::router_for(Arc::clone(t)),
        None => Router::new(),
    }
}

/// Keeps the instrumentation running; dropping it flushes held logs to Loki (bounded by
/// [`logs::LokiConfig::flush_timeout`]) and stops the metrics listener.
///
/// When log lines were lost (Loki refusing, hung or unreachable, a full queue), dropping the
/// guard or calling [`Guard::shutdown`] writes one line to stderr saying how many and why:
///
/// `mcp-instrument: 52429 of 52429 log lines not delivered to Loki (shutdown 52429); last push error: refused: HTTP 500 Internal Server Error`
///
/// The same figures stay available afterwards from [`last_flush_report`]. Nothing is printed
/// when every line was delivered.
///
/// The metrics recorder and the log subscriber stay installed (they are process-global);
/// after the guard is gone, events meant for Loki are dropped and counted as `shutdown`.
#[derive(Debug)]
pub struct Guard {
    telemetry: Arc<metrics::Telemetry>,
    listener: Option<server::Listener>,
    loki: Option<logs::LokiHandle>,
}

impl Guard {
    /// The address the standalone listener is bound to (useful with port 0).
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.listener.as_ref().map(|l| l.addr)
    }

    /// Sets whether `/-/ready` answers 200.
    pub fn set_ready(&self, ready: bool) {
        self.telemetry.ready.store(ready, Relaxed);
    }

    /// A handle to flip readiness from elsewhere.
    pub fn readiness(&self) -> Readiness {
        Readiness(Arc::clone(&self.telemetry.ready))
    }

    /// The three endpoints as a router (same as [`router`]).
    pub fn router(&self) -> Router {
        server::router_for(Arc::clone(&self.telemetry))
    }

    /// The `/metrics` body right now.
    pub fn render(&self) -> String {
        self.telemetry.render()
    }

    /// The Loki shipper's counters, when one runs.
    pub fn loki_stats(&self) -> Option<LokiStats> {
        self.loki.as_ref().map(logs::LokiHandle::stats)
    }

    /// Flushes logs (bounded) and stops the background threads; returns the flush outcome,
    /// after printing its one-line summary on stderr when lines were lost (as a drop does).
    pub fn shutdown(mut self) -> Option<FlushReport> {
        self.stop()
    }

    fn stop(&mut self) -> Option<FlushReport> {
        let report = self.loki.take().map(logs::LokiHandle::shutdown);
        if let Some(report) = &report {
            logs::print_summary(report);
        }
        if let Some(mut l) = self.listener.take() {
            l.stop();
        }
        report
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.stop();
    }
}

type Console =
    Box<dyn Layer<tracing_subscriber::layer::Layered<EnvFilter, Registry>> + Send + Sync>;

/// Installs everything from resolved settings; [`init`] and [`Builder::init`] end here.
pub(crate) fn init_with(cfg: Config) -> Result<Guard, InitError> {
    if INITIALIZED.swap(true, Relaxed) {
        return Err(InitError::AlreadyInitialized);
    }
    // Nothing global is installed until every fallible local step has passed, so a failed
    // init (port in use, bad filter) can be retried.
    let result = install(cfg);
    if let Err(InitError::Bind { .. } | InitError::LogFilter { .. } | InitError::Loki(_)) = &result
    {
        INITIALIZED.store(false, Relaxed);
    }
    result
}

fn install(cfg: Config) -> Result<Guard, InitError> {
    let filter = EnvFilter::try_new(&cfg.log_filter).map_err(|e| InitError::LogFilter {
        filter: cfg.log_filter.clone(),
        reason: e.to_string(),
    })?;
    let listener = cfg.metrics_addr.map(server::bind).transpose()?;
    let loki = match cfg.loki.clone() {
        Some(mut lc) => {
            let mut labels = vec![
                ("service".to_owned(), cfg.service.clone()),
                ("host".to_owned(), cfg.instance.clone()),
            ];
            labels.append(&mut lc.labels);
            lc.labels = labels;
            Some(logs::loki(lc)?)
        }
        None => None,
    };

    let registry = Arc::new(metrics::recorder::Registry::new(
        vec![
            ("service".to_owned(), cfg.service.clone()),
            ("instance".to_owned(), cfg.instance.clone()),
        ],
        &cfg.buckets,
    ));
    ::metrics::set_global_recorder(metrics::recorder::Recorder(Arc::clone(&registry)))
        .map_err(|_| InitError::RecorderInstalled)?;
    metrics::describe();
    ROUTE_CAP.store(cfg.route_cap, Relaxed);

    let labels = format!(
        "service=\"{}\",instance=\"{}\"",
        logs::escape_label(&cfg.service),
        logs::escape_label(&cfg.instance)
    );
    let runtime = cfg
        .runtime
        .clone()
        .or_else(|| tokio::runtime::Handle::try_current().ok())
        .map(metrics::runtime::RuntimeMetrics::new);
    let (loki_layer, loki_handle) = match loki {
        Some((layer, handle)) => (Some(layer), Some(handle)),
        None => (None, None),
    };
    let telemetry = Arc::new(metrics::Telemetry {
        registry,
        labels,
        version: cfg.version.clone(),
        runtime,
        loki: loki_handle.as_ref().map(logs::LokiHandle::stats_source),
        ready: Arc::new(AtomicBool::new(cfg.ready_at_start)),
    });
    let _ = TELEMETRY.set(Arc::clone(&telemetry));

    let console: Option<Console> = match cfg.log_format {
        LogFormat::Off => None,
        LogFormat::Pretty => Some(Box::new(
            tracing_subscriber::fmt::layer()
                .pretty()
                .with_writer(std::io::stderr),
        )),
        LogFormat::Compact => Some(Box::new(
            tracing_subscriber::fmt::layer()
                .compact()
                .with_writer(std::io::stderr),
        )),
        LogFormat::Json => Some(Box::new(
            tracing_subscriber::fmt::layer()
                .json()
                .flatten_event(true)
                .with_current_span(true)
                .with_span_list(false)
                .with_writer(std::io::stderr),
        )),
    };
    let subscriber = tracing_subscriber::registry()
        .with(filter)
        .with(console)
        .with(loki_layer);
    tracing::subscriber::set_global_default(subscriber)
        .map_err(|_| InitError::SubscriberInstalled)?;

    let listener = match listener {
        Some(l) => Some(server::spawn(l, Arc::clone(&telemetry))?),
        None => None,
    };
    Ok(Guard {
        telemetry,
        listener,
        loki: loki_handle,
    })
}
