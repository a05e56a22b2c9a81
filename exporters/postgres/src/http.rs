//! The HTTP side: the telemetry path (every configured DSN) and `/probe` (one target per request,
//! with a bounded cache of persistent connections instead of upstream's two new connections per
//! probe, #727).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use mcp_exporter_core::MetricSet;
use mcp_exporter_core::web::{self, LandingPage, WebSetup};

use crate::ValidatedConfig;
use crate::dsn::Dsn;
use crate::session::ScrapeOptions;
use crate::target::{ScrapeResult, Target, TargetSpec};

const UP: &str = "pg_up";
const UP_HELP: &str = "Whether the last scrape of metrics from PostgreSQL was able to connect to the server (1 for yes, 0 for no).";
const DURATION: &str = "pg_exporter_last_scrape_duration_seconds";
const DURATION_HELP: &str = "Duration of the last scrape of metrics from PostgreSQL.";
const ERROR: &str = "pg_exporter_last_scrape_error";
const ERROR_HELP: &str = "Whether the last scrape of metrics from PostgreSQL resulted in an error (1 for error, 0 for success).";
const SCRAPES: &str = "pg_exporter_scrapes_total";
const SCRAPES_HELP: &str = "Total number of times PostgreSQL was scraped for metrics.";
const BUILD_INFO: &str = "postgres_exporter_build_info";
const BUILD_INFO_HELP: &str = "A metric with a constant '1' value labeled by version, revision, branch, goversion from which postgres_exporter was built, and the goos and goarch for the build.";
const DROPPED: &str = "postgres_exporter_dropped_series_total";
const DROPPED_HELP: &str = "Series dropped because another series had the same name and labels (client_golang answers HTTP 500 instead).";

/// Probe targets kept open at most; the least recently used beyond this is closed.
const PROBE_TARGETS_MAX: usize = 32;
/// A probe target unused this long is closed.
const PROBE_IDLE: Duration = Duration::from_secs(600);

pub(crate) struct AppState {
    config: ValidatedConfig,
    targets: Vec<Arc<Target>>,
    probes: Mutex<HashMap<String, (Arc<Target>, Instant)>>,
    max_timeout: Duration,
    scrapes: AtomicU64,
    dropped: AtomicU64,
}

impl AppState {
    pub(crate) fn new(config: ValidatedConfig, max_timeout: Duration) -> Self {
        let targets = config
            .dsns
            .iter()
            .enumerate()
            .map(|(i, dsn)| {
                // Only the first DSN feeds the collectors, as upstream (`dsns[0]`).
                let collectors = if i == 0 {
                    config.collectors.clone()
                } else {
                    Vec::new()
                };
                Arc::new(Target::new(spec(
                    &config,
                    dsn.clone(),
                    collectors,
                    max_timeout,
                )))
            })
            .collect();
        Self {
            config,
            targets,
            probes: Mutex::new(HashMap::new()),
            max_timeout,
            scrapes: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
        }
    }

    fn probe_target(&self, dsn: Dsn, key: String) -> Arc<Target> {
        let now = Instant::now();
        let Ok(mut probes) = self.probes.lock() else {
            return Arc::new(Target::new(spec(
                &self.config,
                dsn,
                self.config.collectors.clone(),
                self.max_timeout,
            )));
        };
        probes.retain(|_, (_, used)| now.duration_since(*used) < PROBE_IDLE);
        if let Some((t, used)) = probes.get_mut(&key) {
            *used = now;
            return t.clone();
        }
        if probes.len() >= PROBE_TARGETS_MAX
            && let Some(oldest) = probes
                .iter()
                .min_by_key(|(_, (_, used))| *used)
                .map(|(k, _)| k.clone())
        {
            probes.remove(&oldest);
        }
        let t = Arc::new(Target::new(spec(
            &self.config,
            dsn,
            self.config.collectors.clone(),
            self.max_timeout,
        )));
        probes.insert(key, (t.clone(), now));
        t
    }
}

fn spec(
    config: &ValidatedConfig,
    dsn: Dsn,
    collectors: Vec<&'static str>,
    max_timeout: Duration,
) -> TargetSpec {
    TargetSpec {
        opts: ScrapeOptions {
            server: dsn.server_label(),
            metric_prefix: config.metric_prefix.clone(),
            constant_labels: config.constant_labels.clone(),
            exclude_databases: config.exclude_databases.clone(),
            disable_settings: !config.settings,
            settings_ttl: config.settings_ttl,
            database_size_ttl: config.database_size_ttl,
        },
        dsn,
        collectors,
        default_metrics: config.default_metrics,
        settings: config.settings,
        application_name: config.application_name.clone(),
        statement_timeout: max_timeout,
        connect_timeout: config.connect_timeout,
    }
}

pub(crate) fn router(state: Arc<AppState>, setup: &WebSetup) -> axum::Router {
    let router = axum::Router::new()
        .route(&setup.telemetry_path, get(metrics))
        .route("/probe", get(probe))
        .with_state(state);
    web::finish_router(
        router,
        setup,
        LandingPage {
            name: "mcp-postgres-exporter",
            description: "Prometheus PostgreSQL exporter (drop-in for postgres_exporter v0.15.0)",
            version: env!("CARGO_PKG_VERSION"),
            links: vec![(
                "/probe?target=".to_owned(),
                "Probe (multi-target)".to_owned(),
            )],
        },
    )
}

/// Writes every target's families plus the exporter-level `pg_up` and `pg_exporter_*`.
fn assemble(state: &AppState, results: &[Arc<ScrapeResult>]) -> MetricSet {
    let mut set = MetricSet::new();
    for r in results {
        for family in &r.families {
            for metric in &family.metrics {
                set.push(
                    family.name.clone(),
                    family.help.clone(),
                    family.kind,
                    metric.labels.clone(),
                    metric.value.clone(),
                );
            }
        }
    }
    let up = results.iter().all(|r| r.up);
    let error = results.iter().any(|r| r.error);
    let duration = results.iter().map(|r| r.duration).max().unwrap_or_default();
    let scrapes = state.scrapes.fetch_add(1, Ordering::Relaxed) + 1;
    set.gauge(UP, UP_HELP, &[], if up { 1.0 } else { 0.0 });
    set.gauge(DURATION, DURATION_HELP, &[], duration.as_secs_f64());
    set.gauge(ERROR, ERROR_HELP, &[], if error { 1.0 } else { 0.0 });
    set.counter(SCRAPES, SCRAPES_HELP, &[], scrapes as f64);
    set
}

fn encode(state: &AppState, set: MetricSet, with_process: bool) -> String {
    let (mut text, dropped) = set.encode();
    if dropped > 0 {
        tracing::warn!(count = dropped, "Dropped duplicate series.");
    }
    let total = state.dropped.fetch_add(dropped, Ordering::Relaxed) + dropped;
    // Our own families sort after every `pg_*` family, so appending keeps the output sorted.
    let mut own = MetricSet::new();
    own.counter(DROPPED, DROPPED_HELP, &[], total as f64);
    if with_process {
        own.gauge(
            BUILD_INFO,
            BUILD_INFO_HELP,
            &[
                ("branch", ""),
                ("goarch", std::env::consts::ARCH),
                ("goos", std::env::consts::OS),
                ("goversion", "rust"),
                ("revision", ""),
                ("version", env!("CARGO_PKG_VERSION")),
            ],
            1.0,
        );
        mcp_exporter_core::process::collect(&mut own);
    }
    let (own_text, _) = own.encode();
    text.push_str(&own_text);
    text
}

async fn metrics(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let timeout = web::scrape_timeout(&headers, state.max_timeout);
    let deadline = tokio::time::Instant::now() + timeout;
    let results =
        futures_util::future::join_all(state.targets.iter().map(|t| t.scrape(deadline))).await;
    let set = assemble(&state, &results);
    web::metrics_response(encode(&state, set, true), &headers)
}

#[derive(serde::Deserialize)]
pub(crate) struct ProbeParams {
    target: Option<String>,
    auth_module: Option<String>,
}

async fn probe(
    State(state): State<Arc<AppState>>,
    Query(params): Query<ProbeParams>,
    headers: HeaderMap,
) -> Response {
    let dsn = match state
        .config
        .auth_modules
        .target_dsn(params.target.as_deref(), params.auth_module.as_deref())
    {
        Ok(dsn) => dsn,
        Err(error) => return (StatusCode::BAD_REQUEST, format!("{error}\n")).into_response(),
    };
    let key = format!(
        "{}\u{0}{}",
        params.target.as_deref().unwrap_or(""),
        params.auth_module.as_deref().unwrap_or("")
    );
    let target = state.probe_target(dsn, key);
    let timeout = web::scrape_timeout(&headers, state.max_timeout);
    let deadline = tokio::time::Instant::now() + timeout;
    let result = target.scrape(deadline).await;
    let set = assemble(&state, &[result]);
    web::metrics_response(encode(&state, set, false), &headers)
}
