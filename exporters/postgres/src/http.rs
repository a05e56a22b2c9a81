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
use crate::reason::Reason;
use crate::session::ScrapeOptions;
use crate::target::{ScrapeBody, ScrapeResult, Target, TargetSpec, write_exporter_families};

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
                let standalone = config.dsns.len() == 1;
                Arc::new(Target::new(spec(
                    &config,
                    dsn.clone(),
                    collectors,
                    max_timeout,
                    standalone,
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
                true,
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
            true,
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
    standalone: bool,
) -> TargetSpec {
    TargetSpec {
        opts: ScrapeOptions {
            server: dsn.server_label(),
            metric_prefix: config.metric_prefix.clone(),
            constant_labels: config.constant_labels.clone(),
            exclude_databases: config.exclude_databases.clone(),
            splice_settings: standalone,
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
        standalone,
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

/// Merges the families of several DSNs and adds the exporter-level `pg_up` and `pg_exporter_*`.
fn assemble(state: &AppState, results: &[Arc<ScrapeResult>]) -> MetricSet {
    let mut set = MetricSet::new();
    for r in results {
        if let ScrapeBody::Families(families) = &r.body {
            for family in families {
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
    }
    let up = results.iter().all(|r| r.up);
    let error = results.iter().any(|r| r.reason.is_some());
    let duration = results.iter().map(|r| r.duration).max().unwrap_or_default();
    let scrapes = state.scrapes.fetch_add(1, Ordering::Relaxed) + 1;
    write_exporter_families(&mut set, up, error, duration, scrapes);
    set
}

/// The body for a set of results: the standalone target's text as is, or the merge of several.
fn body(state: &AppState, results: &[Arc<ScrapeResult>], with_process: bool) -> String {
    // As `pg_exporter_last_scrape_error` (1 when any target failed): the first failure's reason.
    let reason = results.iter().find_map(|r| r.reason);
    if let [single] = results
        && let ScrapeBody::Encoded { text, dropped } = &single.body
    {
        let mut out = String::with_capacity(text.len() + 4096);
        out.push_str(text);
        append_own(state, &mut out, *dropped, reason, with_process);
        return out;
    }
    let (mut text, dropped) = assemble(state, results).encode();
    append_own(state, &mut text, dropped, reason, with_process);
    text
}

/// Appends our own families; they sort after every `pg_*` family, so the output stays sorted.
fn append_own(
    state: &AppState,
    text: &mut String,
    dropped: u64,
    reason: Option<Reason>,
    with_process: bool,
) {
    if dropped > 0 {
        tracing::warn!(count = dropped, "Dropped duplicate series.");
    }
    let total = state.dropped.fetch_add(dropped, Ordering::Relaxed) + dropped;
    let mut own = MetricSet::new();
    own.counter(DROPPED, DROPPED_HELP, &[], total as f64);
    // One series at a time, as redis_exporter's `last_scrape_error{err}`: the reason and 1, or
    // an empty reason and 0.
    own.gauge(
        crate::reason::FAMILY,
        crate::reason::HELP,
        &[("reason", reason.map_or("", Reason::label))],
        if reason.is_some() { 1.0 } else { 0.0 },
    );
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
}

async fn metrics(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let timeout = web::scrape_timeout(&headers, state.max_timeout);
    let deadline = tokio::time::Instant::now() + timeout;
    let results =
        futures_util::future::join_all(state.targets.iter().map(|t| t.scrape(deadline))).await;
    web::metrics_response(body(&state, &results, true), &headers)
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
    web::metrics_response(body(&state, &[result], false), &headers)
}
