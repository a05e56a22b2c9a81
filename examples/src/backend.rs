//! Redis and PostgreSQL behind timed, counted calls.
//!
//! Every call has a deadline, is timed into `cdb_redis_call_duration_seconds{op}` /
//! `cdb_pg_query_duration_seconds{query}` and, on failure, counted in
//! `cdb_redis_errors_total{op}` / `cdb_pg_errors_total{query}`. Neither client ever needs a
//! restart: Redis goes through the redis crate's `ConnectionManager` (made lazily, so a
//! service can start before Redis), which reconnects by itself; PostgreSQL through a
//! deadpool pool, which replaces closed connections on checkout.

use std::future::Future;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

/// Longest any one Redis call may take, reconnect included.
pub const REDIS_TIMEOUT: Duration = Duration::from_secs(2);
/// Longest any one PostgreSQL unit of work may take, pool checkout included.
pub const PG_TIMEOUT: Duration = Duration::from_secs(3);

/// Which backend failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// Redis.
    Redis,
    /// PostgreSQL.
    Postgres,
    /// The risk service (for `cdb_execution`).
    Risk,
}

impl Backend {
    /// The name used in error bodies and metric labels.
    pub fn name(self) -> &'static str {
        match self {
            Self::Redis => "redis",
            Self::Postgres => "postgres",
            Self::Risk => "cdb_risk",
        }
    }
}

/// A backend call that failed or timed out. The detail never holds a DSN or password.
#[derive(Debug, thiserror::Error)]
#[error("{} {op} failed: {detail}", backend.name())]
pub struct BackendError {
    /// Which backend.
    pub backend: Backend,
    /// The operation (`op` / `query` label).
    pub op: &'static str,
    /// What went wrong.
    pub detail: String,
}

impl BackendError {
    pub(crate) fn new(backend: Backend, op: &'static str, detail: impl ToString) -> Self {
        Self {
            backend,
            op,
            detail: detail.to_string(),
        }
    }
}

// === impl Redis ===

/// A Redis client whose connection is made on first use and remade after failures.
pub struct Redis {
    client: redis::Client,
    conn: RwLock<Option<ConnectionManager>>,
    connecting: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Redis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Not the connection info: it may hold the password.
        f.write_str("Redis")
    }
}

impl Redis {
    /// A client for `info`; connects on first call.
    pub fn new(info: redis::ConnectionInfo) -> Result<Arc<Self>, BackendError> {
        let client =
            redis::Client::open(info).map_err(|e| BackendError::new(Backend::Redis, "open", e))?;
        Ok(Arc::new(Self {
            client,
            conn: RwLock::new(None),
            connecting: tokio::sync::Mutex::new(()),
        }))
    }

    /// The pub/sub connection a subscriber needs (a separate socket, not pooled).
    pub async fn pubsub(&self) -> Result<redis::aio::PubSub, BackendError> {
        match tokio::time::timeout(REDIS_TIMEOUT, self.client.get_async_pubsub()).await {
            Ok(Ok(p)) => Ok(p),
            Ok(Err(e)) => Err(self.fail("subscribe", e.to_string())),
            Err(_) => Err(self.fail("subscribe", "timed out")),
        }
    }

    async fn manager(&self) -> Result<ConnectionManager, String> {
        if let Some(c) = self.current() {
            return Ok(c);
        }
        let _one = self.connecting.lock().await;
        if let Some(c) = self.current() {
            return Ok(c);
        }
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Duration::from_secs(1))
            .set_response_timeout(Duration::from_secs(1))
            .set_number_of_retries(1)
            .set_max_delay(500);
        let c = ConnectionManager::new_with_config(self.client.clone(), config)
            .await
            .map_err(|e| e.to_string())?;
        if let Ok(mut slot) = self.conn.write() {
            *slot = Some(c.clone());
        }
        Ok(c)
    }

    fn current(&self) -> Option<ConnectionManager> {
        self.conn.read().ok().and_then(|c| c.clone())
    }

    fn fail(&self, op: &'static str, detail: impl ToString) -> BackendError {
        metrics::counter!("cdb_redis_errors_total", "op" => op).increment(1);
        BackendError::new(Backend::Redis, op, detail)
    }

    /// Runs one command, timed and counted as `op`.
    pub async fn cmd<T: redis::FromRedisValue>(
        &self,
        op: &'static str,
        cmd: &redis::Cmd,
    ) -> Result<T, BackendError> {
        self.timed(op, async {
            let mut c = self.manager().await?;
            cmd.query_async::<T>(&mut c)
                .await
                .map_err(|e| e.to_string())
        })
        .await
    }

    /// Runs a pipeline (atomic when built with `.atomic()`), timed and counted as `op`.
    pub async fn pipe<T: redis::FromRedisValue>(
        &self,
        op: &'static str,
        pipe: &redis::Pipeline,
    ) -> Result<T, BackendError> {
        self.timed(op, async {
            let mut c = self.manager().await?;
            pipe.query_async::<T>(&mut c)
                .await
                .map_err(|e| e.to_string())
        })
        .await
    }

    /// `work` under the Redis timeout, its duration recorded and its failure counted as `op`.
    async fn timed<T>(
        &self,
        op: &'static str,
        work: impl Future<Output = Result<T, String>>,
    ) -> Result<T, BackendError> {
        let start = Instant::now();
        let result = tokio::time::timeout(REDIS_TIMEOUT, work).await;
        metrics::histogram!("cdb_redis_call_duration_seconds", "op" => op)
            .record(start.elapsed().as_secs_f64());
        match result {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(self.fail(op, e)),
            Err(_) => Err(self.fail(op, "timed out")),
        }
    }

    /// `PING`, for readiness.
    pub async fn ping(&self) -> Result<(), BackendError> {
        let pong: String = self.cmd("ping", &redis::cmd("PING")).await?;
        if pong == "PONG" {
            Ok(())
        } else {
            Err(self.fail("ping", format!("unexpected answer {pong:?}")))
        }
    }
}

// === impl Pg ===

/// A PostgreSQL connection pool.
#[derive(Debug)]
pub struct Pg {
    pool: deadpool_postgres::Pool,
}

impl Pg {
    /// A pool of at most `size` connections for `config`; connects on first use.
    pub fn new(mut config: tokio_postgres::Config, size: usize) -> Result<Arc<Self>, BackendError> {
        // The server enforces the deadline too, so a query abandoned by our timeout does not
        // keep running there.
        config.options(format!("-c statement_timeout={}", PG_TIMEOUT.as_millis()));
        let manager = deadpool_postgres::Manager::from_config(
            config,
            tokio_postgres::NoTls,
            deadpool_postgres::ManagerConfig {
                // A connection whose socket closed (server restart) is dropped on checkout.
                recycling_method: deadpool_postgres::RecyclingMethod::Fast,
            },
        );
        let pool = deadpool_postgres::Pool::builder(manager)
            .max_size(size)
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .wait_timeout(Some(PG_TIMEOUT))
            .create_timeout(Some(Duration::from_secs(3)))
            .recycle_timeout(Some(Duration::from_secs(1)))
            .build()
            .map_err(|e| BackendError::new(Backend::Postgres, "pool", e))?;
        Ok(Arc::new(Self { pool }))
    }

    /// Runs `work` on a pooled connection within [`PG_TIMEOUT`], timed and counted as `query`.
    pub async fn run<T, F, Fut>(&self, query: &'static str, work: F) -> Result<T, BackendError>
    where
        F: FnOnce(deadpool_postgres::Object) -> Fut,
        Fut: Future<Output = Result<T, tokio_postgres::Error>>,
    {
        let start = Instant::now();
        let job = async {
            let client = self.pool.get().await.map_err(|e| pool_error(&e))?;
            work(client).await.map_err(|e| pg_error(&e))
        };
        let result = tokio::time::timeout(PG_TIMEOUT, job).await;
        metrics::histogram!("cdb_pg_query_duration_seconds", "query" => query)
            .record(start.elapsed().as_secs_f64());
        let detail = match result {
            Ok(Ok(v)) => return Ok(v),
            Ok(Err(e)) => e,
            Err(_) => "timed out".to_owned(),
        };
        metrics::counter!("cdb_pg_errors_total", "query" => query).increment(1);
        Err(BackendError::new(Backend::Postgres, query, detail))
    }

    /// `SELECT 1`, for readiness.
    pub async fn ping(&self) -> Result<(), BackendError> {
        self.run("ping", |c| async move {
            c.simple_query("SELECT 1").await.map(drop)
        })
        .await
    }
}

fn pool_error(e: &deadpool_postgres::PoolError) -> String {
    match e {
        deadpool_postgres::PoolError::Backend(e) => pg_error(e),
        other => other.to_string(),
    }
}

/// The server's message when there is one (tokio-postgres' Display says only "db error").
fn pg_error(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{}: {}", db.code().code(), db.message()),
        None => match std::error::Error::source(e) {
            Some(src) => format!("{e}: {src}"),
            None => e.to_string(),
        },
    }
}
