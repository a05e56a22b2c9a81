//! `/metrics`, `/-/healthy` and `/-/ready`: as an axum [`Router`] to merge into the service's
//! own router, and as a standalone listener on its own thread and runtime.
//!
//! The standalone listener is the default for latency-sensitive services: rendering a scrape
//! (milliseconds for thousands of series) then never runs on a worker of the service's runtime.

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;

use crate::error::InitError;
use crate::metrics::Telemetry;

/// Content type of the text exposition format, with the version Prometheus 2 and 3 expect.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The router serving the three endpoints for `telemetry`.
pub(crate) fn router_for(telemetry: Arc<Telemetry>) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/-/healthy", get(healthy))
        .route("/-/ready", get(ready))
        .route(crate::drill::PATH, get(crate::drill::log_drill))
        .with_state(telemetry)
}

async fn metrics(State(t): State<Arc<Telemetry>>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], t.render())
}

async fn healthy() -> impl IntoResponse {
    "Healthy.\n"
}

async fn ready(State(t): State<Arc<Telemetry>>) -> impl IntoResponse {
    if t.ready.load(Relaxed) {
        (StatusCode::OK, "Ready.\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "Not ready.\n")
    }
}

/// Binds now (so a port in use is an error from `init`), serves later on its own thread.
pub(crate) fn bind(addr: SocketAddr) -> Result<TcpListener, InitError> {
    let listener = TcpListener::bind(addr).map_err(|source| InitError::Bind { addr, source })?;
    listener
        .set_nonblocking(true)
        .map_err(|source| InitError::Bind { addr, source })?;
    Ok(listener)
}

/// Handle to stop the standalone listener.
#[derive(Debug)]
pub(crate) struct Listener {
    pub addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Listener {
    pub(crate) fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        // Not joined: a scrape in progress must not hold up the service's shutdown.
        drop(self.thread.take());
    }
}

pub(crate) fn spawn(
    listener: TcpListener,
    telemetry: Arc<Telemetry>,
) -> Result<Listener, InitError> {
    let addr = listener.local_addr().map_err(|source| InitError::Thread {
        name: "mcp-metrics",
        source,
    })?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|source| InitError::Thread {
            name: "mcp-metrics",
            source,
        })?;
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::Builder::new()
        .name("mcp-metrics".to_owned())
        .spawn(move || {
            rt.block_on(async move {
                let listener = match tokio::net::TcpListener::from_std(listener) {
                    Ok(l) => l,
                    Err(error) => {
                        tracing::error!(error = %error, "Cannot serve /metrics.");
                        return;
                    }
                };
                let app = router_for(telemetry);
                let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
                    let _ = rx.await;
                });
                if let Err(error) = serve.await {
                    tracing::error!(error = %error, "The /metrics listener stopped.");
                }
            });
        })
        .map_err(|source| InitError::Thread {
            name: "mcp-metrics",
            source,
        })?;
    Ok(Listener {
        addr,
        stop: Some(tx),
        thread: Some(thread),
    })
}
