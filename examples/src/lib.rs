//! The CDB services in miniature: small axum services instrumented with `mcp-instrument`.
//!
//! Each binary (`cdb_core` :8000, `cdb_risk` :8001, `cdb_execution` :8002, `cdb_ws` :8003)
//! serves its API plus `/metrics`, `/-/healthy` and `/-/ready` on its own port (`PORT`
//! overrides it). `MCP_METRICS_ADDR` additionally starts the standalone metrics listener;
//! `MCP_LOKI_URL` ships logs to Loki.

use std::net::SocketAddr;

use axum::Router;
use axum::extract::Path;
use axum::routing::{get, post};

/// One of the four services.
#[derive(Clone, Copy, Debug)]
pub enum Service {
    /// Reference data (`cdb_core`, :8000).
    Core,
    /// Risk checks (`cdb_risk`, :8001).
    Risk,
    /// Order execution (`cdb_execution`, :8002).
    Execution,
    /// Market-data stream gateway (`cdb_ws`, :8003).
    Ws,
}

impl Service {
    /// The service name (the `service` label).
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

    /// The service's API routes (without instrumentation).
    pub fn api(self) -> Router {
        let status = get(move || async move {
            tracing::info!(service = self.name(), "Status requested.");
            "ok\n"
        });
        // An explicit fallback, so requests matching no route also pass the metrics layer
        // (as `route="unmatched"`).
        let router = Router::new()
            .route("/api/v1/status", status)
            .fallback(|| async { (axum::http::StatusCode::NOT_FOUND, "not found\n") });
        match self {
            Self::Core => router.route("/api/v1/instruments/{symbol}", get(instrument)),
            Self::Risk => router
                .route("/api/v1/limits/{account}", get(limits))
                .route("/api/v1/check", post(check)),
            Self::Execution => router
                .route("/api/v1/orders", post(new_order))
                .route("/api/v1/orders/{id}", get(order)),
            Self::Ws => router.route("/ws/stream/{channel}", get(stream)),
        }
    }
}

async fn instrument(Path(symbol): Path<String>) -> String {
    metrics::counter!("cdb_instrument_lookups_total").increment(1);
    tracing::info!(symbol = %symbol, venue = "xnas", "Instrument looked up.");
    format!("{{\"symbol\":\"{symbol}\",\"tick\":0.01}}\n")
}

async fn limits(Path(account): Path<String>) -> String {
    tracing::info!(account = %account, "Limits read.");
    format!("{{\"account\":\"{account}\",\"max_notional\":1000000}}\n")
}

async fn check() -> &'static str {
    metrics::counter!("cdb_risk_checks_total", "result" => "pass").increment(1);
    tracing::info!(result = "pass", "Risk check done.");
    "{\"result\":\"pass\"}\n"
}

async fn new_order() -> &'static str {
    metrics::counter!("cdb_orders_total", "side" => "buy").increment(1);
    tracing::info!(side = "buy", qty = 100, "Order accepted.");
    "{\"id\":1}\n"
}

async fn order(Path(id): Path<u64>) -> String {
    tracing::info!(order_id = id, "Order read.");
    format!("{{\"id\":{id},\"state\":\"filled\"}}\n")
}

async fn stream(Path(channel): Path<String>) -> String {
    tracing::info!(channel = %channel, "Stream snapshot sent.");
    format!("{{\"channel\":\"{channel}\",\"seq\":0}}\n")
}

/// Runs `service` until SIGINT/SIGTERM: instrumentation, API with the HTTP metrics layer, and
/// the metrics endpoints merged into the service's port. Flushes logs on the way out.
pub async fn run(service: Service) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let guard = mcp_instrument::Builder::new(service.name())
        .version(env!("CARGO_PKG_VERSION"))
        // Metrics are served on the service's own port; MCP_METRICS_ADDR adds a listener.
        .no_metrics_listener()
        .ready_at_start(false)
        .init()?;
    describe();
    let port = match std::env::var("PORT") {
        Ok(p) => p
            .parse::<u16>()
            .map_err(|_| format!("invalid PORT={p:?}"))?,
        Err(_) => service.default_port(),
    };
    let addr = SocketAddr::from(([0, 0, 0, 0], port));
    let app = service
        .api()
        .layer(mcp_instrument::HttpMetricsLayer::new())
        .merge(guard.router());
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    tracing::info!(service = service.name(), address = %addr, "Listening.");
    guard.set_ready(true);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    tracing::info!(service = service.name(), "Shutting down.");
    if let Some(report) = guard.shutdown()
        && !report.completed
    {
        eprintln!("Log flush did not complete: {:?}", report.stats);
    }
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
    );
    std::process::ExitCode::from(if usage { 64 } else { 1 })
}

/// HELP text for the services' own metrics (Prometheus lints a family without it).
fn describe() {
    metrics::describe_counter!(
        "cdb_instrument_lookups_total",
        "Instrument reference-data lookups."
    );
    metrics::describe_counter!("cdb_risk_checks_total", "Pre-trade risk checks, by result.");
    metrics::describe_counter!("cdb_orders_total", "Orders accepted, by side.");
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
