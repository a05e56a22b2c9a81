//! One monitored server: a single persistent connection, scrapes that share it, and the caches
//! that outlive a scrape.
//!
//! - **One connection.** It is opened at the first scrape (startup never needs the server), checked
//!   before every scrape (`Client::is_closed`, which turns true as soon as the server closes the
//!   socket; after a timed-out scrape also an empty query, since a silently dropped network keeps
//!   the socket open for minutes) and reopened when it is gone. Failed attempts are spaced by a short exponential backoff
//!   (100 ms doubling to 1 s) so a burst of `/probe` requests cannot hammer a dead server.
//! - **Coalesced scrapes.** Scrapes of one target go through core's `Coalescer`: a request that
//!   arrives while a scrape is in flight waits for it and is answered with its result instead of
//!   starting another. So concurrent scrapes never open extra connections nor queue extra
//!   statements.
//! - **Bounded.** The connection is opened with `statement_timeout` set to
//!   `--web.max-scrape-timeout` (a startup option, no extra statement per scrape), so the server
//!   itself stops any statement that outlives the longest scrape. A request with a shorter
//!   `X-Prometheus-Scrape-Timeout-Seconds` gets a client-side deadline: collectors still running are
//!   marked failed, and a cancel request stops the statement on the server so the connection is
//!   free for the next scrape. (A per-scrape `SET LOCAL` inside a transaction would cost two extra
//!   statements on every scrape and hold a snapshot for its duration.)

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use mcp_exporter_core::coalesce::Coalescer;
use mcp_exporter_core::collector::ScrapeNames;
use mcp_exporter_core::encoder::{Family, MetricType};
use mcp_exporter_core::{CollectError, CollectorRunner, MetricSet};
use tokio_postgres::NoTls;
use tokio_postgres::tls::MakeTlsConnect;

use crate::dsn::Dsn;
use crate::queries;
use crate::reason::Reason;
use crate::session::{Conn, ScrapeOptions, Session, SettingsCache, SlowCaches, backend};
use crate::socket::{self, READ_CAP, ReadBudget};

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
    /// Served alone (one DSN, or a `/probe` target): the scrape encodes its own text.
    pub standalone: bool,
}

const UP: &str = "pg_up";
const UP_HELP: &str = "Whether the last scrape of metrics from PostgreSQL was able to connect to the server (1 for yes, 0 for no).";
const DURATION: &str = "pg_exporter_last_scrape_duration_seconds";
const DURATION_HELP: &str = "Duration of the last scrape of metrics from PostgreSQL.";
const ERROR: &str = "pg_exporter_last_scrape_error";
const ERROR_HELP: &str = "Whether the last scrape of metrics from PostgreSQL resulted in an error (1 for error, 0 for success).";
const SCRAPES: &str = "pg_exporter_scrapes_total";
const SCRAPES_HELP: &str = "Total number of times PostgreSQL was scraped for metrics.";

/// Writes `pg_up` and `pg_exporter_*` (exporter-level, no `server` label, as upstream).
pub fn write_exporter_families(
    set: &mut MetricSet,
    up: bool,
    error: bool,
    duration: Duration,
    scrapes: u64,
) {
    set.gauge(UP, UP_HELP, &[], if up { 1.0 } else { 0.0 });
    set.gauge(DURATION, DURATION_HELP, &[], duration.as_secs_f64());
    set.gauge(ERROR, ERROR_HELP, &[], if error { 1.0 } else { 0.0 });
    set.counter(SCRAPES, SCRAPES_HELP, &[], scrapes as f64);
}

/// What a scrape produced.
#[derive(Debug)]
pub enum ScrapeBody {
    /// A target served alone: the encoded text, `pg_up` and `pg_exporter_*` included, and the
    /// number of duplicate series dropped while encoding. Encoding once per scrape (not once per
    /// coalesced request) and without an intermediate copy keeps the CPU per scrape low.
    Encoded {
        /// Text format 0.0.4.
        text: String,
        /// Duplicates dropped.
        dropped: u64,
    },
    /// One of several DSNs: families to merge with the others' before encoding.
    Families(Vec<Family>),
}

/// The outcome of one scrape of one target, shared by coalesced requests.
#[derive(Debug)]
pub struct ScrapeResult {
    /// Samples of this target (legacy + collectors + per-collector samples).
    pub body: ScrapeBody,
    /// Whether the server was reachable.
    pub up: bool,
    /// Why a legacy query or the connection failed (`postgres_exporter_last_scrape_error_reason`);
    /// `Some` exactly when the scrape failed (`pg_exporter_last_scrape_error` 1).
    pub reason: Option<Reason>,
    /// How long the scrape took.
    pub duration: Duration,
}

#[derive(Default)]
struct ConnState {
    conn: Option<Arc<Conn>>,
    failures: u32,
    retry_at: Option<Instant>,
    /// The last scrape timed out: the connection may be wedged (a silent network drop keeps the
    /// socket open for many minutes). The next scrape pings it first.
    suspect: bool,
    /// Why the last connection attempt failed; scrapes refused during the backoff report it
    /// too, so one outage reads as one reason.
    last_failure: Option<Reason>,
}

/// How long the ping of a suspect connection may take.
const PING_TIMEOUT: Duration = Duration::from_secs(2);

/// A monitored server.
pub struct Target {
    spec: TargetSpec,
    pg_config: tokio_postgres::Config,
    tls: Result<Option<crate::tls::MakeRustls>, String>,
    opts: Arc<ScrapeOptions>,
    caches: Arc<SlowCaches>,
    /// Legacy groups first (rows that write no per-collector samples: they have none upstream),
    /// then the collectors, lock-prone last.
    runner: CollectorRunner<Session>,
    /// Only ever locked inside the coalescer's turn, so never contended.
    state: tokio::sync::Mutex<ConnState>,
    coalesce: Coalescer<Arc<ScrapeResult>>,
    scrapes: AtomicU64,
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
        // All statements of a scrape are pipelined over the one connection and the server runs
        // them in order, so a statement that can wait on a relation lock goes last: if it gets
        // stuck, only it misses the deadline, not everything queued behind it.
        let mut names = spec.collectors.clone();
        names.sort_by_key(|name| crate::collector::may_block_on_locks(name));
        let mut runner = CollectorRunner::empty(Some(SCRAPE_NAMES));
        for (name, group) in crate::legacy::build(spec.default_metrics, spec.settings) {
            runner.push(name, group, false);
        }
        for name in names {
            if let Some(entry) = crate::collector::TABLE.iter().find(|e| e.info.name == name) {
                runner.push(entry.info.name, (entry.new)(), true);
            }
        }
        Self {
            tls: spec.dsn.tls(),
            opts: Arc::new(spec.opts.clone()),
            caches: Arc::new(SlowCaches::default()),
            runner,
            pg_config,
            spec,
            state: tokio::sync::Mutex::new(ConnState::default()),
            coalesce: Coalescer::new(),
            scrapes: AtomicU64::new(0),
        }
    }

    /// The DSN, for logs (its `Display` masks the password).
    pub fn dsn(&self) -> &Dsn {
        &self.spec.dsn
    }

    /// Scrapes the server until `deadline`, or returns the result of the scrape that was in flight
    /// when this call arrived.
    pub async fn scrape(&self, deadline: tokio::time::Instant) -> Arc<ScrapeResult> {
        let arrived = Instant::now();
        self.coalesce
            .run_or(
                deadline,
                || async {
                    let mut state = self.state.lock().await;
                    Arc::new(self.scrape_locked(&mut state, deadline).await)
                },
                // The previous scrape holds the connection past our deadline: answer with what we
                // have rather than queue behind it.
                || {
                    let up = self.coalesce.last().is_some_and(|l| l.up);
                    Arc::new(self.failed_result(
                        arrived,
                        up,
                        "the previous scrape is still running",
                        Reason::Timeout,
                    ))
                },
            )
            .await
    }

    fn failed_result(&self, start: Instant, up: bool, why: &str, reason: Reason) -> ScrapeResult {
        let mut set = MetricSet::new();
        self.runner.mark_all_failed(&mut set, why);
        self.finish(set, up, Some(reason), start, None)
    }

    /// `reason` is `Some` exactly when the scrape counts as failed.
    fn finish(
        &self,
        mut set: MetricSet,
        up: bool,
        reason: Option<Reason>,
        start: Instant,
        settings: Option<Arc<SettingsCache>>,
    ) -> ScrapeResult {
        let duration = start.elapsed();
        let body = if self.spec.standalone {
            let scrapes = self.scrapes.fetch_add(1, Ordering::Relaxed) + 1;
            write_exporter_families(&mut set, up, reason.is_some(), duration, scrapes);
            let (mut text, mut dropped) = set.encode();
            if let Some(settings) = settings {
                crate::legacy::splice_settings(&mut text, &settings.block);
                dropped += settings.block_dropped;
            }
            ScrapeBody::Encoded { text, dropped }
        } else {
            ScrapeBody::Families(set.families().to_vec())
        };
        ScrapeResult {
            body,
            up,
            reason,
            duration,
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
            None => {
                let reason = state.last_failure.unwrap_or(Reason::Other);
                return self.failed_result(start, false, "PostgreSQL is not reachable", reason);
            }
        };
        conn.read_budget.reset();
        let session = Session::new(conn.clone(), self.opts.clone(), self.caches.clone());
        let mut set = MetricSet::new();
        let outcomes = self.runner.run(&session, deadline, &mut set).await;
        let timed_out = outcomes
            .iter()
            .any(|o| matches!(o.error, Some(CollectError::Timeout)));
        state.suspect = timed_out;
        if timed_out {
            // Stop whatever statement is still running so the connection is free again; the
            // answer does not wait for it.
            let token = conn.client.cancel_token();
            let tls = self.tls.clone();
            let (host, port) = (self.spec.dsn.host.clone(), self.spec.dsn.port);
            let timeout = self.spec.connect_timeout;
            tokio::spawn(async move {
                if let Err(error) = cancel(token, tls, &host, port, timeout).await {
                    tracing::debug!(error = %error, "Cancel request failed.");
                }
            });
        }
        let cut = conn.read_budget.cut();
        match cut {
            Some(Reason::RowCap) => tracing::warn!(
                dsn = %self.spec.dsn,
                max_rows = crate::session::MAX_ROWS,
                "A statement returned more rows than the row cap; connection dropped."
            ),
            Some(_) => tracing::warn!(
                dsn = %self.spec.dsn,
                cap_mib = conn.read_budget.cap() >> 20,
                "PostgreSQL sent more than the read cap in one scrape; connection dropped."
            ),
            None => {}
        }
        // The caps are read from the budget, not from `is_closed`: the driver notices the cut
        // only at its next read, which may come after this line.
        let up = !conn.client.is_closed() && cut.is_none();
        if up {
            self.write_static(&session, &mut set);
        } else {
            tracing::warn!(dsn = %self.spec.dsn, "Connection to PostgreSQL lost.");
            state.conn = None;
            self.caches.clear();
        }
        // Legacy groups (no per-collector samples) report through the error gauge, as upstream.
        let legacy_failure = outcomes
            .iter()
            .filter(|o| !o.reports)
            .find_map(|o| o.error.as_ref());
        let reason = cut.or_else(|| {
            if up {
                legacy_failure.map(Reason::of_collect)
            } else {
                // The connection was lost during the scrape.
                let first = outcomes.iter().find_map(|o| o.error.as_ref());
                Some(first.map_or(Reason::Other, Reason::of_collect))
            }
        });
        let settings = session
            .settings_block
            .lock()
            .ok()
            .and_then(|mut s| s.take());
        self.finish(set, up, reason, start, settings)
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
        if let Some(conn) = state.conn.clone() {
            if !conn.client.is_closed() && !state.suspect {
                return Some(conn);
            }
            if !conn.client.is_closed() {
                // After a timed-out scrape: an empty query answers at once on a healthy
                // connection (the stuck statement was cancelled) and never on a wedged one.
                // A quarter of what is left, so a reconnect still fits in this scrape.
                let now = tokio::time::Instant::now();
                let until = now + PING_TIMEOUT.min(deadline.saturating_duration_since(now) / 4);
                if let Ok(Ok(_)) =
                    tokio::time::timeout_at(until, conn.client.simple_query("")).await
                {
                    state.suspect = false;
                    return Some(conn);
                }
                tracing::warn!(dsn = %self.spec.dsn, "PostgreSQL connection does not answer; reconnecting.");
            } else {
                tracing::warn!(dsn = %self.spec.dsn, "Connection to PostgreSQL lost.");
            }
            state.conn = None;
            state.suspect = false;
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
                state.last_failure = None;
                Some(conn)
            }
            result => {
                let (reason, error) = match result {
                    Ok(Err((reason, error))) => (reason, error.to_string()),
                    _ => (Reason::Timeout, "timed out".to_owned()),
                };
                state.last_failure = Some(reason);
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

    /// Opens our own capped socket (see [`crate::socket`]) and runs the startup over it, so even
    /// the handshake and the version query are bounded. A failure comes with its category.
    async fn connect(&self) -> Result<Conn, (Reason, CollectError)> {
        let budget = ReadBudget::new(READ_CAP);
        let dsn = &self.spec.dsn;
        let timeout = dsn.connect_timeout.unwrap_or(self.spec.connect_timeout);
        let stream = socket::open(&dsn.host, dsn.port, timeout, budget.clone())
            .await
            .map_err(|e| (Reason::of_io(&e), CollectError::Backend(e.to_string())))?;
        let capped = |error: tokio_postgres::Error| match budget.cut() {
            Some(reason) => (reason, CollectError::Backend(budget.error_text())),
            None => (Reason::of_pg(&error), backend(error)),
        };
        let other = |e: String| (Reason::Other, CollectError::Backend(e));
        let client = match self.tls.clone().map_err(other)? {
            Some(mut tls) => {
                let connect =
                    MakeTlsConnect::<socket::CappedStream>::make_tls_connect(&mut tls, &dsn.host)
                        .map_err(|e| other(e.to_string()))?;
                let (client, connection) = self
                    .pg_config
                    .connect_raw(stream, connect)
                    .await
                    .map_err(capped)?;
                spawn_connection(connection);
                client
            }
            None => {
                let (client, connection) = self
                    .pg_config
                    .connect_raw(stream, NoTls)
                    .await
                    .map_err(capped)?;
                spawn_connection(connection);
                client
            }
        };
        let row = client
            .query_one(queries::VERSION, &[])
            .await
            .map_err(capped)?;
        let version_num: i32 = row.try_get(0).map_err(|e| (Reason::Other, backend(e)))?;
        let version: String = row.try_get(1).map_err(|e| (Reason::Other, backend(e)))?;
        Ok(Conn::new(client, version_num, version).with_read_budget(budget))
    }
}

/// Sends a cancel request over a socket of our own (the client runs over `connect_raw`, so its
/// token has no socket settings of its own to connect with).
async fn cancel(
    token: tokio_postgres::CancelToken,
    tls: Result<Option<crate::tls::MakeRustls>, String>,
    host: &str,
    port: u16,
    timeout: Duration,
) -> Result<(), String> {
    let stream = socket::open(host, port, timeout, ReadBudget::new(1 << 20))
        .await
        .map_err(|e| e.to_string())?;
    match tls {
        Ok(Some(mut tls)) => {
            let connect = MakeTlsConnect::<socket::CappedStream>::make_tls_connect(&mut tls, host)
                .map_err(|e| e.to_string())?;
            token.cancel_query_raw(stream, connect).await
        }
        _ => token.cancel_query_raw(stream, NoTls).await,
    }
    .map_err(|e| e.to_string())
}

/// Drives a connection in the background until the client is dropped or the server goes away.
fn spawn_connection<S, T>(connection: tokio_postgres::Connection<S, T>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    tokio::spawn(async move {
        if let Err(error) = connection.await {
            tracing::debug!(error = %error, "PostgreSQL connection closed.");
        }
    });
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
