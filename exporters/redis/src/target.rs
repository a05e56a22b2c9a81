//! One Redis target: a persistent multiplexed connection (reconnected with backoff), and the
//! fetch: the pipelined round trip of [`crate::pipeline`] plus the key checks, under the deadline.
//!
//! redis_exporter opens a new TCP connection (plus AUTH and CLIENT SETNAME) on every scrape, by
//! design (#1096). We keep one connection per target and share it between concurrent scrapes
//! (redis-rs multiplexes requests on it), so a scrape costs Redis exactly the commands it asks
//! for.

use std::sync::Arc;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::{AsyncConnectionConfig, Pipeline, Value};

use crate::config::Options;
use crate::connection::{Connection, Connector, ReplyBudget};
use crate::error::{ScrapeError, classify};
use crate::key_checks::{self, KeyCheck};
use crate::pipeline::{self, Snapshot};

struct ConnState {
    conn: Option<Connection>,
    /// No new connection attempt before this instant (backoff after failures).
    next_attempt: Instant,
    backoff: Duration,
    /// Why the last attempt failed: what a scrape during the backoff reports, so one outage
    /// reads as one category (issue 17 item 6).
    last_error: Option<ScrapeError>,
}

/// One Redis instance we scrape.
pub struct Target {
    /// The address without credentials, for logs and errors.
    pub display: String,
    connector: Connector,
    state: tokio::sync::Mutex<ConnState>,
    /// Whether the last scrape failed, to log once per state change.
    failing: Mutex<Option<String>>,
    /// Self metrics of this target.
    pub stats: Mutex<TargetStats>,
    /// Redis < 7 takes one pattern per CONFIG GET: after it refused our key list, ask for `*`.
    config_star: std::sync::atomic::AtomicBool,
}

/// Self metrics kept per target.
#[derive(Debug, Default, Clone)]
pub struct TargetStats {
    /// `redis_exporter_scrapes_total`.
    pub scrapes: u64,
    /// `redis_exporter_scrape_duration_seconds_sum`.
    pub duration_sum: f64,
}

impl std::fmt::Debug for ConnState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnState")
            .field("connected", &self.conn.is_some())
            .field("last_error", &self.last_error)
            .finish()
    }
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target")
            .field("display", &self.display)
            .finish()
    }
}

const MAX_BACKOFF: Duration = Duration::from_secs(2);

impl Target {
    /// A target reached through `connector`; nothing is connected until the first scrape.
    pub fn new(display: String, connector: Connector) -> Self {
        Target {
            display,
            connector,
            state: tokio::sync::Mutex::new(ConnState {
                conn: None,
                next_attempt: Instant::now(),
                backoff: Duration::from_millis(100),
                last_error: None,
            }),
            failing: Mutex::new(None),
            stats: Mutex::new(TargetStats::default()),
            config_star: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Returns the shared connection and its reply budget, connecting first when there is none,
    /// and whether it was reused. The lock is held only while connecting, so concurrent scrapes
    /// share one connection attempt.
    async fn connection(
        &self,
        opts: &Options,
        timeout: Duration,
    ) -> Result<(MultiplexedConnection, Arc<ReplyBudget>, f64, bool), ScrapeError> {
        let mut state = self.state.lock().await;
        if let Some(c) = &state.conn {
            return Ok((c.conn.clone(), c.budget.clone(), 0.0, true));
        }
        if Instant::now() < state.next_attempt {
            return Err(state
                .last_error
                .clone()
                .unwrap_or_else(|| ScrapeError::Connect("connection refused".into())));
        }
        let start = Instant::now();
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(timeout)
            .set_response_timeout(timeout);
        let result = tokio::time::timeout(timeout, self.connector.connect(config)).await;
        let connection = match result {
            Ok(Ok(c)) => c,
            Ok(Err(error)) => {
                self.fail_connect(&mut state, error.clone());
                return Err(error);
            }
            Err(_) => {
                self.fail_connect(&mut state, ScrapeError::Timeout);
                return Err(ScrapeError::Timeout);
            }
        };
        let mut conn = connection.conn.clone();
        if opts.set_client_name {
            // Once per connection, not per scrape: the name shows in CLIENT LIST like upstream's.
            let mut cmd = redis::cmd("CLIENT");
            cmd.arg("SETNAME").arg("redis_exporter");
            if let Ok(Err(error)) =
                tokio::time::timeout(timeout, cmd.query_async::<Value>(&mut conn)).await
            {
                tracing::debug!(target_addr = %self.display, error = %error, "CLIENT SETNAME failed.");
            }
        }
        let budget = connection.budget.clone();
        state.backoff = Duration::from_millis(100);
        state.last_error = None;
        state.conn = Some(connection);
        Ok((conn, budget, start.elapsed().as_secs_f64(), false))
    }

    fn fail_connect(&self, state: &mut ConnState, error: ScrapeError) {
        state.conn = None;
        state.last_error = Some(error);
        state.next_attempt = Instant::now() + state.backoff;
        state.backoff = (state.backoff * 2).min(MAX_BACKOFF);
    }

    /// Drops the connection after an I/O error or a timeout, so the next scrape reconnects
    /// instead of queueing behind replies that may never come.
    async fn reset(&self) {
        let mut state = self.state.lock().await;
        state.conn = None;
    }

    /// Fetches everything one scrape needs before `deadline`.
    pub async fn fetch(
        &self,
        opts: &Options,
        checks: &KeyCheck,
        deadline: tokio::time::Instant,
    ) -> Result<Snapshot, ScrapeError> {
        let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
        let timeout = remaining.min(opts.connection_timeout);
        let work = async {
            let (conn, budget, connect_seconds, reused) = self.connection(opts, timeout).await?;
            match self
                .fetch_on(conn, &budget, connect_seconds, opts, checks)
                .await
            {
                // The kept connection died (Redis restarted or went away): one fresh attempt,
                // so a restart costs no failed scrape and an outage reads as its connect error.
                Err(ScrapeError::Connect(_)) if reused => {
                    self.reset().await;
                    let (conn, budget, connect_seconds, _) = self.connection(opts, timeout).await?;
                    self.fetch_on(conn, &budget, connect_seconds, opts, checks)
                        .await
                }
                result => result,
            }
        };
        let result = match tokio::time::timeout_at(deadline, work).await {
            Ok(r) => r,
            Err(_) => Err(ScrapeError::Timeout),
        };
        if let Err(error) = &result
            && error.drops_connection()
        {
            self.reset().await;
        }
        self.log_state(&result);
        result
    }

    /// One scrape's round trips on `conn`; a read past the budget is [`ScrapeError::TooLarge`].
    async fn fetch_on(
        &self,
        conn: MultiplexedConnection,
        budget: &ReplyBudget,
        connect_seconds: f64,
        opts: &Options,
        checks: &KeyCheck,
    ) -> Result<Snapshot, ScrapeError> {
        budget.restart();
        let result = self.fetch_inner(conn, connect_seconds, opts, checks).await;
        match result {
            Err(_) if budget.exceeded() => Err(ScrapeError::TooLarge),
            r => r,
        }
    }

    async fn fetch_inner(
        &self,
        mut conn: MultiplexedConnection,
        connect_seconds: f64,
        opts: &Options,
        checks: &KeyCheck,
    ) -> Result<Snapshot, ScrapeError> {
        let mut snap = Snapshot {
            connect_seconds,
            ..Snapshot::default()
        };
        if opts.ping_on_connect {
            let start = Instant::now();
            redis::cmd("PING")
                .query_async::<Value>(&mut conn)
                .await
                .map_err(|e| classify(&e))?;
            snap.ping_seconds = Some(start.elapsed().as_secs_f64());
        }

        let star = self.config_star.load(std::sync::atomic::Ordering::Relaxed);
        let commands = pipeline::commands(opts, star);
        let mut pipe = Pipeline::with_capacity(commands.len());
        let mut slots = Vec::with_capacity(commands.len());
        for (slot, cmd) in commands {
            pipe.add_command(cmd);
            slots.push(slot);
        }
        let replies = conn
            .req_packed_commands(&pipe, 0, pipe.len())
            .await
            .map_err(|e| classify(&e))?;
        if snap.read(&slots, replies, opts)?.config_refused {
            self.config_star
                .store(true, std::sync::atomic::Ordering::Relaxed);
        }
        if !checks.is_empty() {
            snap.keys = key_checks::run(&mut conn, checks, opts).await?;
        }
        Ok(snap)
    }

    fn log_state(&self, result: &Result<Snapshot, ScrapeError>) {
        let now = result.as_ref().err().map(ScrapeError::to_string);
        let Ok(mut last) = self.failing.lock() else {
            return;
        };
        if *last != now {
            match &now {
                Some(error) => tracing::warn!(
                    target_addr = %self.display,
                    error = %error,
                    "Redis scrape failed."
                ),
                None => tracing::info!(target_addr = %self.display, "Redis scrape succeeded."),
            }
            *last = now;
        }
    }
}

/// A shared, reference-counted target.
pub type SharedTarget = Arc<Target>;
