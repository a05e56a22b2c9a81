//! One monitored server: a single persistent connection, scrapes that share it, and the caches
//! that outlive a scrape.
//!
//! - **One connection.** It is opened at the first scrape (startup never needs the server), checked
//!   before every scrape (`Client::is_closed`, which turns true as soon as the server closes the
//!   socket) and reopened when it is gone. Failed attempts are spaced by a short exponential backoff
//!   (100 ms doubling to 1 s) so a burst of `/probe` requests cannot hammer a dead server.
//! - **Coalesced scrapes.** Scrapes of one target hold an async mutex; a request that arrives while
//!   a scrape is in flight waits for it and is answered with its result instead of starting
//!   another. So concurrent scrapes never open extra connections nor queue extra statements.
//! - **Bounded.** The connection is opened with `statement_timeout` set to
//!   `--web.max-scrape-timeout` (a startup option, no extra statement per scrape), so the server
//!   itself stops any statement that outlives the longest scrape. A request with a shorter
//!   `X-Prometheus-Scrape-Timeout-Seconds` gets a client-side deadline: collectors still running are
//!   marked failed, and a cancel request stops the statement on the server so the connection is
//!   free for the next scrape. (A per-scrape `SET LOCAL` inside a transaction would cost two extra
//!   statements on every scrape and hold a snapshot for its duration.)

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mcp_exporter_core::collector::ScrapeNames;
use mcp_exporter_core::encoder::{Family, MetricType};
use mcp_exporter_core::{CollectError, CollectorRunner, MetricSet};
use tokio_postgres::NoTls;

use crate::dsn::Dsn;
use crate::queries;
use crate::session::{Conn, ScrapeOptions, Session, SlowCaches, backend};

/// The per-collector sample names, HELP as postgres_exporter's `collector.go`.
pub const SCRAPE_NAMES: ScrapeNames = ScrapeNames {
    duration: "pg_scrape_collector_duration_seconds",
    duration_help: "postgres_exporter: Duration of a collector scrape.",
    success: "pg_scrape_collector_success",
    success_help: "postgres_exporter: Whether a collector succeeded.",
};

const STATIC: &str = "pg_static";
const STATIC_HELP: &str = "Version string as reported by postgres";

const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(1);

/// How a target connects and what it collects.
#[derive(Debug, Clone)]
pub struct TargetSpec {
    /// Where.
    pub dsn: Dsn,
    /// Options of the scrape.
    pub opts: ScrapeOptions,
    /// Collectors to run (empty for the extra DSNs of a comma list, as upstream).
    pub collectors: Vec<&'static str>,
    /// Legacy built-in maps on.
    pub default_metrics: bool,
    /// Legacy `pg_settings_*` on.
    pub settings: bool,
    /// Default `application_name`.
    pub application_name: String,
    /// Server-side `statement_timeout`.
    pub statement_timeout: Duration,
    /// Connect timeout.
    pub connect_timeout: Duration,
}

/// The outcome of one scrape of one target, shared by coalesced requests.
#[derive(Debug)]
pub struct ScrapeResult {
    /// Families of this target (legacy + collectors + per-collector samples).
    pub families: Vec<Family>,
    /// Whether the server was reachable.
    pub up: bool,
    /// Whether a legacy query or the connection failed (`pg_exporter_last_scrape_error`).
    pub error: bool,
    /// How long the scrape took.
    pub duration: Duration,
    finished: Instant,
}

#[derive(Default)]
struct ConnState {
    conn: Option<Arc<Conn>>,
    failures: u32,
    retry_at: Option<Instant>,
}

/// A monitored server.
pub struct Target {
    spec: TargetSpec,
    pg_config: tokio_postgres::Config,
    opts: Arc<ScrapeOptions>,
    caches: Arc<SlowCaches>,
    collectors: CollectorRunner<Session>,
    legacy: CollectorRunner<Session>,
    state: tokio::sync::Mutex<ConnState>,
    last: Mutex<Option<Arc<ScrapeResult>>>,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target")
            .field("dsn", &self.spec.dsn)
            .finish()
    }
}

impl Target {
    /// A target; nothing is opened until the first scrape.
    pub fn new(spec: TargetSpec) -> Self {
        let pg_config = spec.dsn.to_pg_config(
            &spec.application_name,
            spec.statement_timeout,
            spec.connect_timeout,
        );
        let collectors = spec
            .collectors
            .iter()
            .filter_map(|name| crate::collector::build(name).map(|c| (*name, c)))
            .collect();
        let legacy = crate::legacy::build(spec.default_metrics, spec.settings);
        Self {
            opts: Arc::new(spec.opts.clone()),
            caches: Arc::new(SlowCaches::default()),
            collectors: CollectorRunner::new(collectors, Some(SCRAPE_NAMES)),
            legacy: CollectorRunner::new(legacy, None),
            pg_config,
            spec,
            state: tokio::sync::Mutex::new(ConnState::default()),
            last: Mutex::new(None),
        }
    }

    /// The DSN, for logs (its `Display` masks the password).
    pub fn dsn(&self) -> &Dsn {
        &self.spec.dsn
    }

    /// Whether a connection is open now (for tests and health).
    pub async fn is_connected(&self) -> bool {
        let state = self.state.lock().await;
        state.conn.as_ref().is_some_and(|c| !c.client.is_closed())
    }

    fn last_result(&self) -> Option<Arc<ScrapeResult>> {
        self.last.lock().ok().and_then(|l| l.clone())
    }

    /// Scrapes the server until `deadline`, or returns the result of the scrape that was in flight
    /// when this call arrived.
    pub async fn scrape(&self, deadline: tokio::time::Instant) -> Arc<ScrapeResult> {
        let arrived = Instant::now();
        let mut state = match tokio::time::timeout_at(deadline, self.state.lock()).await {
            Ok(state) => state,
            // The previous scrape holds the connection past our deadline: answer with what we have
            // rather than queue behind it.
            Err(_) => {
                let up = self.last_result().is_some_and(|l| l.up);
                return Arc::new(self.failed_result(
                    arrived,
                    up,
                    "the previous scrape is still running",
                ));
            }
        };
        if let Some(last) = self.last_result()
            && last.finished > arrived
        {
            return last;
        }
        let result = Arc::new(self.scrape_locked(&mut state, deadline).await);
        if let Ok(mut last) = self.last.lock() {
            *last = Some(result.clone());
        }
        result
    }

    fn failed_result(&self, start: Instant, up: bool, why: &str) -> ScrapeResult {
        let mut set = MetricSet::new();
        self.collectors.mark_all_failed(&mut set, why);
        ScrapeResult {
            families: set.families().to_vec(),
            up,
            error: true,
            duration: start.elapsed(),
            finished: Instant::now(),
        }
    }

    async fn scrape_locked(
        &self,
        state: &mut ConnState,
        deadline: tokio::time::Instant,
    ) -> ScrapeResult {
        let start = Instant::now();
        let conn = match self.ensure_connected(state, deadline).await {
            Some(conn) => conn,
            None => return self.failed_result(start, false, "PostgreSQL is not reachable"),
        };
        let session = Session::new(conn.clone(), self.opts.clone(), self.caches.clone());
        let mut legacy_set = MetricSet::new();
        let mut collector_set = MetricSet::new();
        let (legacy, collected) = futures_util::future::join(
            self.legacy.run(&session, deadline, &mut legacy_set),
            self.collectors.run(&session, deadline, &mut collector_set),
        )
        .await;
        let timed_out = legacy
            .iter()
            .chain(collected.iter())
            .any(|o| matches!(o.error, Some(CollectError::Timeout)));
        if timed_out {
            // Stop whatever statement is still running so the connection is free again; the
            // answer does not wait for it.
            let token = conn.client.cancel_token();
            tokio::spawn(async move {
                if let Err(error) = token.cancel_query(NoTls).await {
                    tracing::debug!(error = %error, "Cancel request failed.");
                }
            });
        }
        let up = !conn.client.is_closed();
        if up {
            self.write_static(&session, &mut legacy_set);
        } else {
            tracing::warn!(dsn = %self.spec.dsn, "Connection to PostgreSQL lost.");
            state.conn = None;
            self.caches.clear();
        }
        let error = !up || legacy.iter().any(|o| o.error.is_some());
        legacy_set.extend(collector_set);
        ScrapeResult {
            families: legacy_set.families().to_vec(),
            up,
            error,
            duration: start.elapsed(),
            finished: Instant::now(),
        }
    }

    fn write_static(&self, session: &Session, out: &mut MetricSet) {
        if !self.spec.default_metrics {
            return;
        }
        let short = short_version(session.version_num());
        session.legacy(
            out,
            (STATIC, STATIC_HELP, MetricType::Untyped, false),
            &[
                ("short_version", short.as_str()),
                ("version", session.conn.version.as_str()),
            ],
            1.0,
        );
    }

    async fn ensure_connected(
        &self,
        state: &mut ConnState,
        deadline: tokio::time::Instant,
    ) -> Option<Arc<Conn>> {
        if let Some(conn) = &state.conn {
            if !conn.client.is_closed() {
                return Some(conn.clone());
            }
            tracing::warn!(dsn = %self.spec.dsn, "Connection to PostgreSQL lost.");
            state.conn = None;
            self.caches.clear();
        }
        if let Some(at) = state.retry_at
            && Instant::now() < at
        {
            return None;
        }
        match tokio::time::timeout_at(deadline, self.connect()).await {
            Ok(Ok(conn)) => {
                let conn = Arc::new(conn);
                tracing::info!(
                    dsn = %self.spec.dsn,
                    server_version = conn.version_num,
                    "Connected to PostgreSQL."
                );
                state.conn = Some(conn.clone());
                state.failures = 0;
                state.retry_at = None;
                Some(conn)
            }
            result => {
                let error = match result {
                    Ok(Err(error)) => error.to_string(),
                    _ => "timed out".to_owned(),
                };
                state.failures = state.failures.saturating_add(1);
                let backoff = BACKOFF_MIN
                    .saturating_mul(1 << state.failures.min(8).saturating_sub(1))
                    .min(BACKOFF_MAX);
                state.retry_at = Some(Instant::now() + backoff);
                // Log the first failure of a series at warn, the repeats at debug.
                if state.failures == 1 {
                    tracing::warn!(dsn = %self.spec.dsn, error = %error, "Cannot connect to PostgreSQL.");
                } else {
                    tracing::debug!(dsn = %self.spec.dsn, error = %error, "Cannot connect to PostgreSQL.");
                }
                None
            }
        }
    }

    async fn connect(&self) -> Result<Conn, CollectError> {
        let (client, connection) = self.pg_config.connect(NoTls).await.map_err(backend)?;
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(error = %error, "PostgreSQL connection closed.");
            }
        });
        let row = client
            .query_one(queries::VERSION, &[])
            .await
            .map_err(backend)?;
        let version_num: i32 = row.try_get(0).map_err(backend)?;
        let version: String = row.try_get(1).map_err(backend)?;
        Ok(Conn::new(client, version_num, version))
    }
}

/// `short_version` of `pg_static`: `15.18.0` for 150018, as upstream's semver parse of `version()`.
pub fn short_version(version_num: i32) -> String {
    let major = version_num / 10_000;
    let minor = version_num % 100;
    format!("{major}.{minor}.0")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_version_matches_upstream_semver() {
        assert_eq!(short_version(150_018), "15.18.0");
        assert_eq!(short_version(170_002), "17.2.0");
        assert_eq!(short_version(130_000), "13.0.0");
    }
}
