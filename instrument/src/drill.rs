//! `GET /-/log-drill?id=<drill id>`: makes the service log one line an operator can look for in
//! Loki, so `mcp-agent log-drill` proves the real log path (service → shipper → Loki → LogQL)
//! rather than only Loki's API.
//!
//! The handler logs one INFO event, message `Log drill.`, with the fields `drill_id` and
//! `trace_id`. The trace id is the one of the request's W3C `traceparent` header when it has a
//! valid one (the caller then knows it in advance and can search for it), else the request's
//! trace id set by [`HttpMetricsLayer`](crate::HttpMetricsLayer), else a fresh random id. It
//! answers `200` with `{"drill_id":"…","trace_id":"…"}`.
//!
//! A drill id is 1 to 128 characters of `A-Z a-z 0-9 . _ : -`: it goes into a log line and into
//! a LogQL line filter, so nothing in it needs escaping. Anything else (or no `id`) is `400`
//! with `{"error":"…"}` and logs nothing, so the endpoint cannot be used to forge log lines.
//!
//! The route is part of [`router`](crate::router) and [`Guard::router`](crate::Guard::router),
//! so every service on mcp-instrument has it, on the standalone listener too.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use tower::ServiceExt as _;
//!
//! let guard = mcp_instrument::Builder::new("cdb_ws")
//!     .ignore_env()
//!     .no_metrics_listener()
//!     .init()?;
//! let request = http::Request::get("/-/log-drill?id=drill-1")
//!     .header("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
//!     .body(axum::body::Body::empty())?;
//! let response = guard.router().oneshot(request).await?;
//! assert_eq!(response.status(), 200);
//! let body = axum::body::to_bytes(response.into_body(), 1024).await?;
//! assert_eq!(
//!     &body[..],
//!     br#"{"drill_id":"drill-1","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736"}"#
//! );
//! # Ok(()) }
//! ```

use axum::Extension;
use axum::extract::RawQuery;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::trace_id::TraceId;

/// The path of the drill endpoint.
pub const PATH: &str = "/-/log-drill";

/// The message of the line it logs.
pub const MESSAGE: &str = "Log drill.";

/// The longest drill id accepted.
pub const MAX_ID_LEN: usize = 128;

/// The handler behind [`PATH`].
pub(crate) async fn log_drill(
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    layer_trace: Option<Extension<TraceId>>,
) -> Response {
    let id = match drill_id(query.as_deref()) {
        Ok(id) => id,
        Err(reason) => {
            let body = format!("{{\"error\":\"{reason}\"}}");
            return json(StatusCode::BAD_REQUEST, body);
        }
    };
    let trace_id = headers
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
        .and_then(TraceId::from_traceparent)
        .or(layer_trace.map(|Extension(t)| t))
        .unwrap_or_else(TraceId::random);
    tracing::info!(drill_id = %id, trace_id = %trace_id, "Log drill.");
    // Both values are restricted to characters that need no JSON escaping.
    let body = format!("{{\"drill_id\":\"{id}\",\"trace_id\":\"{trace_id}\"}}");
    json(StatusCode::OK, body)
}

fn json(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// The `id` parameter, validated; the error is a fixed message (it is echoed in JSON).
fn drill_id(query: Option<&str>) -> Result<String, &'static str> {
    let raw = query
        .unwrap_or("")
        .split('&')
        .find_map(|pair| pair.strip_prefix("id="))
        .ok_or("missing id parameter")?;
    if raw.is_empty() {
        return Err("empty id parameter");
    }
    if raw.len() > MAX_ID_LEN {
        return Err("id longer than 128 characters");
    }
    if !raw
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
    {
        return Err("id may only hold A-Z a-z 0-9 . _ : -");
    }
    Ok(raw.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drill_ids_are_restricted_to_safe_characters() {
        assert_eq!(drill_id(Some("id=abc-1.2_3:4")).unwrap(), "abc-1.2_3:4");
        assert_eq!(drill_id(Some("x=1&id=z")).unwrap(), "z");
        assert!(drill_id(None).is_err());
        assert!(drill_id(Some("id=")).is_err());
        assert!(drill_id(Some("id=a%22b")).is_err());
        assert!(drill_id(Some("id=a\"b")).is_err());
        assert!(drill_id(Some(&format!("id={}", "a".repeat(129)))).is_err());
    }
}
