//! The CDB services in miniature: small axum services instrumented with `mcp-instrument`,
//! doing real work on Redis and PostgreSQL.
//!
//! Each binary (`cdb_core` :8000, `cdb_risk` :8001, `cdb_execution` :8002, `cdb_ws` :8003)
//! serves its API plus `/metrics`, `/-/healthy` and `/-/ready` on its own port (`PORT`
//! overrides it). `MCP_METRICS_ADDR` additionally starts the standalone metrics listener;
//! `MCP_LOKI_URL` ships logs to Loki; `MCP_INSTRUMENT=off` runs without mcp-instrument (the
//! benchmark's baseline). The environment is read by [`config::Settings`]; the README lists it.

pub mod api;
pub mod backend;
pub mod config;
pub mod core;
pub mod execution;
pub mod load;
pub mod risk;
pub mod schema;
pub mod ws;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::Duration;

use axum::Router;
use axum::routing::post;

use crate::api::{Faults, Ready};
use crate::backend::{Pg, Redis};
use crate::config::Settings;

/// One of the four services.
#[derive(Clone, Copy, Debug)]
pub enum Service {
    /// Reference and market data (`cdb_core`, :8000).
    Core,
    /// Risk checks (`cdb_risk`, :8001).
    Risk,
    /// Order execution (`cdb_execution`, :8002).
    Execution,
    /// Market-data stream gateway (`cdb_ws`, :8003).
    Ws,
}

impl Service {
    /// The service name (the `service` label, and the container's name).
    pub fn name(self) -> &'static str {
        match self {
            Self::Core => "cdb_core",
            Self::Risk => "cdb_risk",
            Self::Execution => "cdb_execution",
            Self::Ws => "cdb_ws",
        }
    }

    /// The default port.
    pub fn default_port(self) -> u16 {
        match self {
            Self::Core => 8000,
            Self::Risk => 8001,
            Self::Execution => 8002,
            Self::Ws => 8003,
        }
    }

    /// The service's API routes (without instrumentation); starts its background tasks.
    pub fn api(self, settings: &Settings, ready: Ready) -> Result<Router, backend::BackendError> {
        let router = match self {
            Self::Core => core::start(settings, ready)?,
            Self::Risk => risk::start(settings, ready)?,
            Self::Execution => execution::start(settings, ready)?,
            Self::Ws => ws::start(settings, ready)?,
        };
        let status = axum::routing::get(move || async move {
            tracing::info!(service = self.name(), "Status requested.");
            "ok\n"
        });
        Ok(router.route("/api/v1/status", status))
    }
}

/// Readiness for a service on Redis and PostgreSQL: probes both every second and migrates the
/// schema once PostgreSQL first answers (not ready until that is done).
pub(crate) fn probe_redis_and_pg(ready: Ready, redis: Arc<Redis>, pg: Arc<Pg>) {
    let migrated = Arc::new(AtomicBool::new(false));
    api::spawn_probe(ready, Duration::from_secs(1), move || {
        let (redis, pg, migrated) = (Arc::clone(&redis), Arc::clone(&pg), Arc::clone(&migrated));
        async move {
            pg.ping().await?;
            if !migrated.load(Relaxed) {
                schema::migrate(&pg).await?;
                migrated.store(true, Relaxed);
                tracing::info!("Schema migrated and seeded.");
            }
            redis.ping().await
        }
    });
}

/// Runs `service` until SIGINT/SIGTERM: instrumentation (unless `MCP_INSTRUMENT=off`), API with
/// the HTTP metrics layer, and the metrics endpoints merged into the service's port. Flushes
/// logs on the way out (bounded by mcp-instrument's flush deadline) and exits 0 after SIGTERM,
/// whether or not every log line reached Loki.
pub async fn run(service: Service) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let settings = Settings::from_env(service.default_port())?;
    let guard = if settings.instrument {
        let mut builder = mcp_instrument::Builder::new(service.name())
            .version(env!("CARGO_PKG_VERSION"))
            // Metrics are served on the service's own port; MCP_METRICS_ADDR adds a listener.
            .no_metrics_listener()
            .ready_at_start(false);
        // The team's queries select `{container_name="cdb_ws"}`; an operator's own
        // MCP_LOKI_LABELS entry wins.
        let env_labels = std::env::var(mcp_instrument::ENV_LOKI_LABELS).unwrap_or_default();
        if !env_labels.contains("container_name") {
            builder = builder.loki_label("container_name", service.name());
        }
        Some(builder.init()?)
    } else {
        None
    };
    describe();
    let ready = Ready::new(guard.as_ref().map(mcp_instrument::Guard::readiness));
    let faults = Arc::new(Faults::default());
    let mut app = service.api(&settings, ready.clone())?;
    if settings.faults {
        app = app.merge(
            Router::new()
                .route("/api/v1/fault", post(api::set_fault))
                .with_state(Arc::clone(&faults)),
        );
    }
    // An explicit fallback, so requests matching no route also pass the metrics layer
    // (as `route="unmatched"`).
    app = app
        .fallback(|| async { (axum::http::StatusCode::NOT_FOUND, "not found\n") })
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&faults),
            api::apply_fault,
        ));
    let app = match &guard {
        Some(g) => app
            .layer(mcp_instrument::HttpMetricsLayer::new())
            .merge(g.router()),
        None => app.merge(ready.router()),
    };
    let addr = SocketAddr::from(([0, 0, 0, 0], settings.port));
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    tracing::info!(service = service.name(), address = %addr, "Listening.");
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    tracing::info!(service = service.name(), "Shutting down.");
    // The guard prints the one stderr line saying how many log lines were not delivered and
    // why (nothing when all were); a second line here would only repeat it.
    drop(guard);
    Ok(())
}

/// Prints `error` as one line on stderr and picks the exit code: 64 (`EX_USAGE`) for bad
/// settings, 1 for anything else.
pub fn fail(program: &str, error: &(dyn std::error::Error + 'static)) -> std::process::ExitCode {
    eprintln!("{program}: {error}");
    let usage = matches!(
        error.downcast_ref::<mcp_instrument::InitError>(),
        Some(
            mcp_instrument::InitError::InvalidEnv { .. }
                | mcp_instrument::InitError::InvalidConfig(_)
                | mcp_instrument::InitError::LogFilter { .. }
                | mcp_instrument::InitError::Loki(_)
        )
    ) || error.downcast_ref::<config::ConfigError>().is_some();
    std::process::ExitCode::from(if usage { 64 } else { 1 })
}

/// HELP text for the services' own metrics (Prometheus lints a family without it).
fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        "cdb_instrument_lookups_total",
        "Instrument reference-data lookups, by result (found, unknown)."
    );
    describe_counter!(
        "cdb_ticks_published_total",
        "Price ticks written to Redis and published."
    );
    describe_counter!(
        "cdb_risk_checks_total",
        "Pre-trade risk checks, by result (pass, reject, error)."
    );
    describe_counter!(
        "cdb_risk_rejects_total",
        "Orders rejected by risk checks, by reason."
    );
    describe_counter!(
        "cdb_risk_cache_total",
        "Risk hot-cache lookups in Redis, by kind and result (hit, miss)."
    );
    describe_counter!(
        "cdb_orders_total",
        "Orders received, by side and result (filled, rejected, error)."
    );
    describe_counter!("cdb_fills_total", "Fills written.");
    describe_histogram!(
        "cdb_order_fill_latency_seconds",
        metrics::Unit::Seconds,
        "Time from an order's arrival to the commit of its fills."
    );
    describe_histogram!(
        "cdb_risk_call_duration_seconds",
        metrics::Unit::Seconds,
        "Duration of calls from execution to the risk service."
    );
    describe_counter!(
        "cdb_risk_call_errors_total",
        "Calls to the risk service that failed, timed out or answered an error."
    );
    describe_gauge!("cdb_ws_clients", "Websocket clients connected.");
    describe_counter!(
        "cdb_ws_messages_total",
        "Messages queued to websocket clients, by channel."
    );
    describe_counter!(
        "cdb_ws_clients_dropped_total",
        "Websocket clients disconnected by the server, by reason (slow: queue full; redis_unavailable: subscription lost)."
    );
    describe_histogram!(
        "cdb_redis_call_duration_seconds",
        metrics::Unit::Seconds,
        "Duration of Redis calls, by operation."
    );
    describe_counter!(
        "cdb_redis_errors_total",
        "Failed or timed-out Redis calls, by operation."
    );
    describe_histogram!(
        "cdb_pg_query_duration_seconds",
        metrics::Unit::Seconds,
        "Duration of PostgreSQL units of work (pool checkout included), by query."
    );
    describe_counter!(
        "cdb_pg_errors_total",
        "Failed or timed-out PostgreSQL units of work, by query."
    );
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}
