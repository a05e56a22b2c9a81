//! What the four services share on the HTTP side: JSON errors, the trace id of a request,
//! readiness with its backend probe, and fault injection for the load driver.

use std::future::Future;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::backend::BackendError;

/// A request's trace id: the one mcp-instrument's layer assigned (from `traceparent` or
/// random), or a fresh one when instrumentation is off.
#[derive(Clone, Copy, Debug)]
pub struct Trace(pub mcp_instrument::TraceId);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Trace {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _state: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(Self(
            parts
                .extensions
                .get::<mcp_instrument::TraceId>()
                .copied()
                .unwrap_or_else(mcp_instrument::TraceId::random),
        ))
    }
}

impl Trace {
    /// A W3C `traceparent` header value continuing this trace (new parent span id).
    pub fn traceparent(&self) -> String {
        let span = (mcp_instrument::TraceId::random().0 as u64).max(1);
        format!("00-{}-{span:016x}-01", self.0)
    }
}

/// An error answer: status plus a JSON body `{"error": …, …, "trace_id": …}`.
#[derive(Debug)]
pub enum ApiError {
    /// 400: the request cannot be understood.
    BadRequest(String),
    /// 404: no such thing.
    NotFound(String),
    /// 422: risk said no.
    Rejected(String),
    /// 503: a backend is down or too slow.
    Unavailable(BackendError),
}

impl ApiError {
    /// The answer for this error, with the trace id in the body; logs backend failures.
    pub fn into_response_for(self, trace: Trace) -> Response {
        let trace_id = trace.0.to_string();
        match self {
            Self::BadRequest(detail) => (
                StatusCode::BAD_REQUEST,
                Json(json!({"error": "bad request", "detail": detail, "trace_id": trace_id})),
            )
                .into_response(),
            Self::NotFound(what) => (
                StatusCode::NOT_FOUND,
                Json(json!({"error": "not found", "detail": what, "trace_id": trace_id})),
            )
                .into_response(),
            Self::Rejected(reason) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                Json(json!({"error": "rejected", "reason": reason, "trace_id": trace_id})),
            )
                .into_response(),
            Self::Unavailable(e) => {
                // The request span carries the trace id into this line.
                tracing::error!(
                    backend = e.backend.name(),
                    op = e.op,
                    error = %e.detail,
                    "Backend unavailable."
                );
                let mut resp = (
                    StatusCode::SERVICE_UNAVAILABLE,
                    Json(json!({
                        "error": "backend unavailable",
                        "backend": e.backend.name(),
                        "op": e.op,
                        "detail": e.detail,
                        "trace_id": trace_id,
                    })),
                )
                    .into_response();
                resp.headers_mut().insert(
                    axum::http::header::RETRY_AFTER,
                    axum::http::HeaderValue::from_static("1"),
                );
                resp
            }
        }
    }
}

impl From<BackendError> for ApiError {
    fn from(e: BackendError) -> Self {
        Self::Unavailable(e)
    }
}

/// A handler's result: JSON on success, [`ApiError`] otherwise (rendered with the trace id).
pub type ApiResult = Result<Response, ApiError>;

/// Renders `result` for `trace`.
pub fn respond(trace: Trace, result: ApiResult) -> Response {
    match result {
        Ok(r) => r,
        Err(e) => e.into_response_for(trace),
    }
}

// === impl Ready ===

/// Readiness behind `/-/ready`: mcp-instrument's handle, or our own flag when instrumentation
/// is off (the benchmark's baseline still needs a readiness endpoint).
#[derive(Clone, Debug)]
pub struct Ready {
    own: Arc<AtomicBool>,
    instrument: Option<mcp_instrument::Readiness>,
}

impl Ready {
    /// Readiness driven through mcp-instrument (`None`: our own flag only).
    pub fn new(instrument: Option<mcp_instrument::Readiness>) -> Self {
        if let Some(r) = &instrument {
            r.set(false);
        }
        Self {
            own: Arc::new(AtomicBool::new(false)),
            instrument,
        }
    }

    /// Sets the state.
    pub fn set(&self, ready: bool) {
        self.own.store(ready, Relaxed);
        if let Some(r) = &self.instrument {
            r.set(ready);
        }
    }

    /// The state.
    pub fn get(&self) -> bool {
        self.own.load(Relaxed)
    }

    /// `/-/healthy` and `/-/ready` when mcp-instrument does not serve them.
    pub fn router(&self) -> axum::Router {
        let me = self.clone();
        axum::Router::new()
            .route("/-/healthy", axum::routing::get(|| async { "Healthy.\n" }))
            .route(
                "/-/ready",
                axum::routing::get(move || {
                    let ready = me.get();
                    async move {
                        if ready {
                            (StatusCode::OK, "Ready.\n")
                        } else {
                            (StatusCode::SERVICE_UNAVAILABLE, "Not ready.\n")
                        }
                    }
                }),
            )
    }
}

/// Probes the backends every `period` and sets `ready` to whether all answered; logs each
/// change once (not each probe). `probe` returns the first failure.
pub fn spawn_probe<F, Fut>(ready: Ready, period: Duration, mut probe: F)
where
    F: FnMut() -> Fut + Send + 'static,
    Fut: Future<Output = Result<(), BackendError>> + Send,
{
    tokio::spawn(async move {
        let mut last: Option<bool> = None;
        loop {
            let result = probe().await;
            let ok = result.is_ok();
            if last != Some(ok) {
                match &result {
                    Ok(()) => tracing::info!("Backends answer; ready."),
                    Err(e) => tracing::error!(
                        backend = e.backend.name(),
                        op = e.op,
                        error = %e.detail,
                        "Backend down; not ready."
                    ),
                }
                last = Some(ok);
            }
            ready.set(ok);
            tokio::time::sleep(period).await;
        }
    });
}

// === impl Faults ===

/// Fault injection (`POST /api/v1/fault`, enabled by `CDB_FAULT_INJECTION=on`): for a while,
/// a share of API requests answers 500, or every API request is delayed.
#[derive(Debug, Default)]
pub struct Faults {
    active: Mutex<Option<Fault>>,
}

#[derive(Clone, Copy, Debug)]
struct Fault {
    error_ratio: f64,
    delay: Duration,
    until: Instant,
}

/// Body of `POST /api/v1/fault`.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultRequest {
    /// Share of requests answered with 500, 0 to 1.
    #[serde(default)]
    pub error_ratio: f64,
    /// Delay added to every request, in milliseconds (at most 30,000).
    #[serde(default)]
    pub delay_ms: u64,
    /// How long the fault lasts, in seconds (at most 3,600; 0 clears it).
    pub duration_secs: u64,
}

impl Faults {
    fn current(&self) -> Option<Fault> {
        let mut g = self.active.lock().unwrap_or_else(|p| p.into_inner());
        match *g {
            Some(f) if f.until > Instant::now() => Some(f),
            Some(_) => {
                *g = None;
                None
            }
            None => None,
        }
    }

    fn set(&self, f: Option<Fault>) {
        *self.active.lock().unwrap_or_else(|p| p.into_inner()) = f;
    }
}

/// `POST /api/v1/fault`.
pub async fn set_fault(
    State(faults): State<Arc<Faults>>,
    body: Result<Json<FaultRequest>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let Ok(Json(req)) = body else {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "bad request", "detail": "want {\"error_ratio\":0..1,\"delay_ms\":N,\"duration_secs\":N}"})),
        )
            .into_response();
    };
    if !(0.0..=1.0).contains(&req.error_ratio) || req.delay_ms > 30_000 || req.duration_secs > 3600
    {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "bad request", "detail": "error_ratio 0..1, delay_ms <= 30000, duration_secs <= 3600"})),
        )
            .into_response();
    }
    let fault = (req.duration_secs > 0).then(|| Fault {
        error_ratio: req.error_ratio,
        delay: Duration::from_millis(req.delay_ms),
        until: Instant::now() + Duration::from_secs(req.duration_secs),
    });
    faults.set(fault);
    tracing::warn!(
        error_ratio = req.error_ratio,
        delay_ms = req.delay_ms,
        duration_secs = req.duration_secs,
        "Fault injection set."
    );
    Json(json!({"error_ratio": req.error_ratio, "delay_ms": req.delay_ms, "duration_secs": req.duration_secs})).into_response()
}

/// Middleware applying the active fault to API requests (not to the fault endpoint itself).
pub async fn apply_fault(State(faults): State<Arc<Faults>>, req: Request, next: Next) -> Response {
    if req.uri().path() == "/api/v1/fault" {
        return next.run(req).await;
    }
    if let Some(f) = faults.current() {
        if !f.delay.is_zero() {
            tokio::time::sleep(f.delay).await;
        }
        if f.error_ratio > 0.0 && unit_random() < f.error_ratio {
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                Json(json!({"error": "injected fault"})),
            )
                .into_response();
        }
    }
    next.run(req).await
}

/// A uniform number in [0, 1) (trace-id randomness is plenty for sampling).
pub fn unit_random() -> f64 {
    (mcp_instrument::TraceId::random().0 >> 75) as f64 / (1u64 << 53) as f64
}
