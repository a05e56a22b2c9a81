//! HTTP: the router, `/metrics` (the default target, coalesced) and `/scrape?target=` (any
//! target, with its own key checks), as upstream.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::{HeaderMap, StatusCode};
use mcp_exporter_core::MetricSet;
use mcp_exporter_core::web::{self, LandingPage, WebSetup};
use serde::Deserialize;

use crate::VERSION;
use crate::addr::{normalize_addr, parse_target, strip_password};
use crate::config::ValidatedConfig;
use crate::error::Error;
use crate::exporter::Exporter;
use crate::key_checks::KeyCheck;

async fn metrics(State(exp): State<Arc<Exporter>>, headers: HeaderMap) -> Response {
    match &exp.default {
        Some(target) => {
            let deadline = exp.deadline(&headers);
            let body = exp
                .coalesce
                .run(deadline, || exp.scrape(target, &exp.cfg.checks, deadline))
                .await;
            web::metrics_response(body, &headers)
        }
        None => {
            // --redis.addr="" : only /scrape serves Redis metrics; /metrics serves the process.
            let mut out = MetricSet::new();
            mcp_exporter_core::process::collect(&mut out);
            web::metrics_response(out.encode().0, &headers)
        }
    }
}

#[derive(Debug, Deserialize)]
struct ScrapeParams {
    target: Option<String>,
    #[serde(rename = "check-keys")]
    check_keys: Option<String>,
    #[serde(rename = "check-single-keys")]
    check_single_keys: Option<String>,
    #[serde(rename = "count-keys")]
    count_keys: Option<String>,
}

async fn scrape_target(
    State(exp): State<Arc<Exporter>>,
    Query(params): Query<ScrapeParams>,
    headers: HeaderMap,
) -> Response {
    let bad = |exp: &Exporter, msg: &str| {
        exp.request_error();
        (StatusCode::BAD_REQUEST, format!("{msg}\n")).into_response()
    };
    let Some(target) = params.target.filter(|t| !t.trim().is_empty()) else {
        return bad(&exp, "'target' parameter must be specified");
    };
    // Credentials in the target are dropped ("so users don't send them in plain text via
    // http", upstream v1.69); the user is kept, the password comes from the flags or the file.
    let addr = strip_password(&normalize_addr(target.trim()));
    if parse_target(&addr).is_err() {
        return bad(&exp, "invalid 'target' parameter");
    }
    let checks = if params.check_keys.is_some()
        || params.check_single_keys.is_some()
        || params.count_keys.is_some()
    {
        match KeyCheck::parse(
            params.check_keys.as_deref().unwrap_or(""),
            params.check_single_keys.as_deref().unwrap_or(""),
            params.count_keys.as_deref().unwrap_or(""),
        ) {
            Ok(c) => c,
            Err(e) => return bad(&exp, &e),
        }
    } else {
        KeyCheck::default()
    };
    let target = match exp.target(&addr) {
        Ok(t) => t,
        Err(e) => return bad(&exp, &e),
    };
    let text = exp.scrape(&target, &checks, exp.deadline(&headers)).await;
    web::metrics_response(text, &headers)
}

/// Builds the full router: the telemetry path, `/scrape`, `/health`, `/`, `/-/healthy`. Nothing
/// connects to Redis until the first scrape.
pub async fn app(config: ValidatedConfig, web: &WebSetup) -> Result<Router, Error> {
    // rustls needs one process-wide crypto provider for `rediss://`; a second install is a no-op.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let exp = Arc::new(Exporter::new(config, web.max_scrape_timeout)?);
    let router = Router::new()
        .route(&web.telemetry_path, get(metrics))
        .route("/scrape", get(scrape_target))
        .route("/health", get(|| async { "ok" }))
        .with_state(exp);
    Ok(web::finish_router(
        router,
        web,
        LandingPage {
            name: "mcp-redis-exporter",
            description: "Redis metrics with redis_exporter's names.",
            version: VERSION,
            links: vec![(
                "/scrape?target=redis://127.0.0.1:6379".into(),
                "Scrape a target".into(),
            )],
        },
    ))
}
