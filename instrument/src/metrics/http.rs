//! HTTP server metrics and request spans as a tower layer, for axum.
//!
//! Apply it with `Router::layer` so axum's [`MatchedPath`] is known: the `route` label is the
//! route template (`/orders/{id}`), never the raw path, and the number of distinct routes is
//! capped (excess folded into `route="other"` and counted in `mcp_http_route_overflow_total`).
//! Requests that match no route pass the layer only when the router has an explicit
//! `fallback` (axum's default 404 bypasses `Router::layer`); they are labelled
//! `route="unmatched"`.
//!
//! Each request runs inside an `http_request` span carrying `method`, `route` and `trace_id`
//! (from a W3C `traceparent` header, or random), so every log line of the request carries the
//! trace id; the id is also returned in the `x-trace-id` response header.
//!
//! ```
//! use axum::{Router, routing::get};
//! let app: Router = Router::new()
//!     .route("/orders/{id}", get(|| async { "ok" }))
//!     .layer(mcp_instrument::HttpMetricsLayer::new());
//! ```

use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::task::{Context, Poll};
use std::time::Instant;

use axum::extract::MatchedPath;
use http::{HeaderValue, Method, Request, Response};
use tracing::Instrument as _;
use tracing::instrument::Instrumented;

use crate::trace_id::TraceId;

/// Name of the request counter.
pub const REQUESTS_TOTAL: &str = "http_server_requests_total";
/// Name of the request duration histogram.
pub const REQUEST_DURATION: &str = "http_server_request_duration_seconds";
/// Name of the counter of requests whose route was folded into `other`.
pub const ROUTE_OVERFLOW: &str = "mcp_http_route_overflow_total";
/// Default cap on distinct `route` label values.
pub const DEFAULT_ROUTE_CAP: usize = 100;
/// Response header carrying the request's trace id.
pub const TRACE_ID_HEADER: &str = "x-trace-id";

/// Tower layer recording `http_server_requests_total{method,route,status}` and
/// `http_server_request_duration_seconds{method,route,status}`, and wrapping each request in a
/// span with a `trace_id`.
#[derive(Clone, Debug)]
pub struct HttpMetricsLayer {
    routes: Arc<RouteCap>,
}

#[derive(Debug)]
struct RouteCap {
    cap: usize,
    seen: RwLock<HashSet<String>>,
}

impl RouteCap {
    fn label(&self, route: &str) -> String {
        let known = self.seen.read().map(|s| s.contains(route)).unwrap_or(false);
        if known {
            return route.to_owned();
        }
        let mut seen = self.seen.write().unwrap_or_else(|p| p.into_inner());
        if seen.contains(route) || seen.len() < self.cap {
            seen.insert(route.to_owned());
            return route.to_owned();
        }
        drop(seen);
        metrics::counter!(ROUTE_OVERFLOW).increment(1);
        "other".to_owned()
    }
}

impl Default for HttpMetricsLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl HttpMetricsLayer {
    /// A layer with the route cap from [`crate::Builder::route_label_cap`] (or the default, 100).
    pub fn new() -> Self {
        Self::with_route_cap(crate::route_cap())
    }

    /// A layer allowing at most `cap` distinct `route` values.
    pub fn with_route_cap(cap: usize) -> Self {
        Self {
            routes: Arc::new(RouteCap {
                cap,
                seen: RwLock::new(HashSet::new()),
            }),
        }
    }
}

impl<S> tower_layer::Layer<S> for HttpMetricsLayer {
    type Service = HttpMetrics<S>;
    fn layer(&self, inner: S) -> Self::Service {
        HttpMetrics {
            inner,
            routes: Arc::clone(&self.routes),
        }
    }
}

/// The service made by [`HttpMetricsLayer`].
#[derive(Clone, Debug)]
pub struct HttpMetrics<S> {
    inner: S,
    routes: Arc<RouteCap>,
}

/// Keeps the `method` label bounded: unknown methods become `other`.
fn method_label(m: &Method) -> &'static str {
    match *m {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::PATCH => "PATCH",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "other",
    }
}

impl<S, B, RB> tower_service::Service<Request<B>> for HttpMetrics<S>
where
    S: tower_service::Service<Request<B>, Response = Response<RB>>,
{
    type Response = Response<RB>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        let start = Instant::now();
        let method = method_label(req.method());
        let route = match req.extensions().get::<MatchedPath>() {
            Some(p) => self.routes.label(p.as_str()),
            None => "unmatched".to_owned(),
        };
        let trace_id = req
            .headers()
            .get("traceparent")
            .and_then(|v| v.to_str().ok())
            .and_then(TraceId::from_traceparent)
            .unwrap_or_else(TraceId::random);
        req.extensions_mut().insert(trace_id);
        let span =
            tracing::info_span!("http_request", method, route = %route, trace_id = %trace_id);
        let fut = {
            let _entered = span.enter();
            self.inner.call(req)
        };
        ResponseFuture {
            inner: fut.instrument(span),
            state: Some(Pending {
                start,
                method,
                route,
                trace_id,
            }),
        }
    }
}

#[derive(Debug)]
struct Pending {
    start: Instant,
    method: &'static str,
    route: String,
    trace_id: TraceId,
}

pin_project_lite::pin_project! {
    /// Future of [`HttpMetrics`]: records the metrics when the response is ready.
    #[derive(Debug)]
    pub struct ResponseFuture<F> {
        #[pin]
        inner: Instrumented<F>,
        state: Option<Pending>,
    }
}

impl<F, RB, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<RB>, E>>,
{
    type Output = Result<Response<RB>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut result = match this.inner.poll(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(r) => r,
        };
        if let Some(p) = this.state.take() {
            let status = match &mut result {
                Ok(resp) => {
                    if let Ok(v) = HeaderValue::from_str(&p.trace_id.to_string()) {
                        resp.headers_mut().insert(TRACE_ID_HEADER, v);
                    }
                    resp.status().as_str().to_owned()
                }
                Err(_) => "error".to_owned(),
            };
            let elapsed = p.start.elapsed().as_secs_f64();
            let labels = [
                ("method", p.method.to_owned()),
                ("route", p.route),
                ("status", status),
            ];
            metrics::histogram!(REQUEST_DURATION, &labels).record(elapsed);
            metrics::counter!(REQUESTS_TOTAL, &labels).increment(1);
        }
        Poll::Ready(result)
    }
}
