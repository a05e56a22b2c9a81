//! What a collector sees during one scrape: the connection (with its prepared statements), the
//! server version, the statements shared by several collectors (run once per scrape), and the
//! caches of slow, slow-changing queries that outlive a scrape.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::TryStreamExt as _;
use mcp_exporter_core::encoder::{MetricType, Text, Value};
use mcp_exporter_core::{CollectError, MetricSet};
use tokio::sync::OnceCell;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Row, Statement};

use crate::socket::ReadBudget;

use crate::queries;

/// One open connection to a server, with its prepared statements.
pub struct Conn {
    /// The client; its connection task runs in the background.
    pub client: Client,
    /// `server_version_num`.
    pub version_num: i32,
    /// `version()`.
    pub version: String,
    /// What this scrape may still read from the socket ([`crate::socket`]).
    pub read_budget: Arc<ReadBudget>,
    statements: Mutex<HashMap<&'static str, Statement>>,
}

/// Rows one statement may return. The socket's read cap bounds bytes; this bounds rows of a
/// tiny width (an endless stream of one-column rows) below it: past it collecting stops at once
/// and the connection is cut ([`ReadBudget::cut_at_row_cap`]), so the driver does not go on
/// reading the rest of the answer.
pub const MAX_ROWS: usize = 200_000;

impl std::fmt::Debug for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conn")
            .field("version_num", &self.version_num)
            .finish()
    }
}

impl Conn {
    /// Wraps a freshly opened client.
    pub fn new(client: Client, version_num: i32, version: String) -> Self {
        Self {
            client,
            version_num,
            version,
            read_budget: ReadBudget::new(crate::socket::READ_CAP),
            statements: Mutex::new(HashMap::new()),
        }
    }

    /// Every SQL text prepared on this connection so far, sorted: after a scrape, exactly the
    /// statements the collectors sent (the golden tests capture their rows by this list).
    pub fn prepared_sql(&self) -> Vec<&'static str> {
        let mut v: Vec<&'static str> = self
            .statements
            .lock()
            .map(|m| m.keys().copied().collect())
            .unwrap_or_default();
        v.sort_unstable();
        v
    }

    /// The budget of the socket this client runs over.
    pub fn with_read_budget(mut self, budget: Arc<ReadBudget>) -> Self {
        self.read_budget = budget;
        self
    }

    fn error(&self, error: tokio_postgres::Error) -> CollectError {
        if self.read_budget.spent() {
            CollectError::Backend(self.read_budget.error_text())
        } else {
            backend(error)
        }
    }

    /// Runs `sql` as a prepared statement; it is parsed once per connection.
    pub async fn query(&self, sql: &'static str) -> Result<Vec<Row>, CollectError> {
        let cached = self
            .statements
            .lock()
            .ok()
            .and_then(|m| m.get(sql).cloned());
        let statement = match cached {
            Some(s) => s,
            None => {
                let s = self.client.prepare(sql).await.map_err(|e| self.error(e))?;
                if let Ok(mut m) = self.statements.lock() {
                    m.insert(sql, s.clone());
                }
                s
            }
        };
        let stream = self
            .client
            .query_raw(&statement, std::iter::empty::<&(dyn ToSql + Sync)>())
            .await
            .map_err(|e| self.error(e))?;
        futures_util::pin_mut!(stream);
        let mut rows = Vec::new();
        while let Some(row) = stream.try_next().await.map_err(|e| self.error(e))? {
            if rows.len() >= MAX_ROWS {
                self.read_budget.cut_at_row_cap();
                return Err(CollectError::Backend(self.read_budget.error_text()));
            }
            rows.push(row);
        }
        Ok(rows)
    }
}

/// Turns a driver error into a collector error. tokio-postgres errors carry the server's message
/// and never the connection parameters, so no secret can leak through them.
pub fn backend(error: tokio_postgres::Error) -> CollectError {
    let text = match error.as_db_error() {
        Some(db) => format!("{}: {}", db.severity(), db.message()),
        None => error.to_string(),
    };
    CollectError::Backend(text)
}

/// What the scrape needs to know beyond the connection.
#[derive(Debug, Clone)]
pub struct ScrapeOptions {
    /// `server` label of the legacy families.
    pub server: String,
    /// `--metric-prefix` for the legacy built-in maps (`pg` by default).
    pub metric_prefix: String,
    /// `--constantLabels` on the legacy families.
    pub constant_labels: BTreeMap<String, String>,
    /// `--exclude-databases` (honoured by the `database` collector).
    pub exclude_databases: Vec<String>,
    /// Settings go into the output as the cached encoded block (standalone targets), not as samples.
    pub splice_settings: bool,
    /// How long `pg_settings` rows are reused.
    pub settings_ttl: Duration,
    /// How long database sizes are reused.
    pub database_size_ttl: Duration,
}

/// A cached result of a slow query.
#[derive(Debug)]
pub struct Cached<T> {
    slot: Mutex<Option<(Instant, Arc<T>)>>,
}

impl<T> Default for Cached<T> {
    fn default() -> Self {
        Self {
            slot: Mutex::new(None),
        }
    }
}

impl<T> Cached<T> {
    /// The cached value if younger than `ttl`.
    pub fn get(&self, ttl: Duration) -> Option<Arc<T>> {
        let slot = self.slot.lock().ok()?;
        match &*slot {
            Some((at, v)) if at.elapsed() < ttl => Some(v.clone()),
            _ => None,
        }
    }

    /// Stores a fresh value.
    pub fn put(&self, value: T) -> Arc<T> {
        let v = Arc::new(value);
        if let Ok(mut slot) = self.slot.lock() {
            *slot = Some((Instant::now(), v.clone()));
        }
        v
    }

    /// Forgets the value (after a reconnect the server may have restarted with other settings).
    pub fn clear(&self) {
        if let Ok(mut slot) = self.slot.lock() {
            *slot = None;
        }
    }
}

/// One `pg_settings` row turned into a sample. Name and HELP are interned: they repeat on every
/// scrape and the set of settings of a server is fixed, so each distinct text is stored once and
/// a scrape copies no strings for them.
#[derive(Debug, Clone)]
pub struct SettingSample {
    /// Full metric name.
    pub name: &'static str,
    /// HELP.
    pub help: &'static str,
    /// Value.
    pub value: f64,
}

/// The cached `pg_settings` of a target: the samples, and the same samples already encoded with
/// this target's labels. About half of a default scrape's series are settings; a standalone
/// target splices the block into its output instead of re-encoding it on every scrape.
#[derive(Debug)]
pub struct SettingsCache {
    /// Samples.
    pub samples: Vec<SettingSample>,
    /// Text format 0.0.4 of the samples, sorted, with `server` and `--constantLabels`.
    pub block: String,
    /// Duplicate names dropped while encoding the block (two settings mapping to one name).
    pub block_dropped: u64,
}

/// Interns a metric name or HELP text built from a server's answer. The set is bounded by the
/// distinct `pg_settings` names of the servers monitored (a few hundred per PostgreSQL version).
pub fn intern(text: String) -> &'static str {
    static TABLE: std::sync::OnceLock<Mutex<std::collections::HashSet<&'static str>>> =
        std::sync::OnceLock::new();
    let table = TABLE.get_or_init(|| Mutex::new(std::collections::HashSet::new()));
    let Ok(mut set) = table.lock() else {
        return Box::leak(text.into_boxed_str());
    };
    if let Some(existing) = set.get(text.as_str()) {
        return existing;
    }
    let leaked: &'static str = Box::leak(text.into_boxed_str());
    set.insert(leaked);
    leaked
}

/// Caches that live as long as the target.
#[derive(Debug, Default)]
pub struct SlowCaches {
    /// `pg_settings` samples and their encoded block.
    pub settings: Cached<SettingsCache>,
    /// `(datname, size)` pairs.
    pub database_sizes: Cached<Vec<(String, f64)>>,
}

impl SlowCaches {
    /// Drops everything.
    pub fn clear(&self) {
        self.settings.clear();
        self.database_sizes.clear();
    }
}

/// Statements whose rows feed more than one family group; each runs at most once per scrape.
#[derive(Debug, Clone, Copy)]
pub enum Shared {
    /// [`queries::instance`].
    Instance = 0,
    /// [`queries::ACTIVITY_AND_LOCKS`].
    ActivityAndLocks = 1,
    /// [`queries::stat_database`].
    StatDatabase = 2,
    /// [`queries::REPLICATION`].
    Replication = 3,
}

type SharedRows = Result<Arc<Vec<Row>>, String>;

/// The scrape context handed to every collector.
pub struct Session {
    /// The connection.
    pub conn: Arc<Conn>,
    /// Options.
    pub opts: Arc<ScrapeOptions>,
    /// Caches.
    pub caches: Arc<SlowCaches>,
    /// The settings block to splice into this scrape's output, set when the settings group succeeded.
    pub settings_block: Mutex<Option<Arc<SettingsCache>>>,
    shared: [OnceCell<SharedRows>; 4],
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("server", &self.opts.server)
            .finish()
    }
}

impl Session {
    /// A context for one scrape.
    pub fn new(conn: Arc<Conn>, opts: Arc<ScrapeOptions>, caches: Arc<SlowCaches>) -> Self {
        Self {
            conn,
            opts,
            caches,
            settings_block: Mutex::new(None),
            shared: Default::default(),
        }
    }

    /// `server_version_num`.
    pub fn version_num(&self) -> i32 {
        self.conn.version_num
    }

    /// Runs a statement of this collector alone.
    pub async fn query(&self, sql: &'static str) -> Result<Vec<Row>, CollectError> {
        self.conn.query(sql).await
    }

    /// The rows of a shared statement, running it if no collector has yet in this scrape.
    pub async fn shared(&self, which: Shared) -> Result<Arc<Vec<Row>>, CollectError> {
        let sql = match which {
            Shared::Instance => queries::instance(self.version_num()),
            Shared::ActivityAndLocks => queries::ACTIVITY_AND_LOCKS,
            Shared::StatDatabase => queries::stat_database(self.version_num()),
            Shared::Replication => queries::REPLICATION,
        };
        let result = self.shared[which as usize]
            .get_or_init(|| async {
                self.conn
                    .query(sql)
                    .await
                    .map(Arc::new)
                    .map_err(|e| e.to_string())
            })
            .await;
        result.clone().map_err(CollectError::Backend)
    }

    /// Adds a sample of a legacy family: `server` and `--constantLabels` are appended and
    /// `--metric-prefix` replaces the leading `pg` when `prefixed` (the built-in maps only).
    pub fn legacy(
        &self,
        out: &mut MetricSet,
        spec: LegacySpec,
        labels: &[(&'static str, &str)],
        value: f64,
    ) {
        let (name, help, kind, prefixed) = spec;
        let name: Text = if prefixed && self.opts.metric_prefix != "pg" {
            Text::Owned(format!(
                "{}{}",
                self.opts.metric_prefix,
                name.strip_prefix("pg").unwrap_or(name)
            ))
        } else {
            Text::Borrowed(name)
        };
        let mut all: Vec<(Text, String)> = Vec::with_capacity(labels.len() + 1);
        for (k, v) in labels {
            all.push((Text::Borrowed(k), (*v).to_owned()));
        }
        all.push((Text::Borrowed("server"), self.opts.server.clone()));
        for (k, v) in &self.opts.constant_labels {
            all.push((Text::Owned(k.clone()), v.clone()));
        }
        out.push(name, Text::Borrowed(help), kind, all, Value::Single(value));
    }
}

/// Adds a gauge sample with literal label names (no allocation for names, HELP or label keys,
/// unlike `MetricSet::gauge`, which copies them; this is the hot path of a scrape).
pub fn gauge(
    out: &mut MetricSet,
    name: &'static str,
    help: &'static str,
    labels: &[(&'static str, &str)],
    value: f64,
) {
    emit(out, name, help, MetricType::Gauge, labels, value);
}

/// Adds a counter sample; see [`gauge`].
pub fn counter(
    out: &mut MetricSet,
    name: &'static str,
    help: &'static str,
    labels: &[(&'static str, &str)],
    value: f64,
) {
    emit(out, name, help, MetricType::Counter, labels, value);
}

fn emit(
    out: &mut MetricSet,
    name: &'static str,
    help: &'static str,
    kind: MetricType,
    labels: &[(&'static str, &str)],
    value: f64,
) {
    let labels = labels
        .iter()
        .map(|(k, v)| (Text::Borrowed(*k), (*v).to_owned()))
        .collect();
    out.push(
        Text::Borrowed(name),
        Text::Borrowed(help),
        kind,
        labels,
        Value::Single(value),
    );
}

/// A legacy family: name, HELP, type, and whether `--metric-prefix` applies.
pub type LegacySpec = (&'static str, &'static str, MetricType, bool);

/// Reads a float column, `None` for NULL or a type mismatch.
pub fn f(row: &Row, i: usize) -> Option<f64> {
    row.try_get::<_, Option<f64>>(i).ok().flatten()
}

/// Reads a text column, `""` for NULL.
pub fn s(row: &Row, i: usize) -> String {
    row.try_get::<_, Option<String>>(i)
        .ok()
        .flatten()
        .unwrap_or_default()
}

/// Reads a text column, `None` for NULL.
pub fn opt_s(row: &Row, i: usize) -> Option<String> {
    row.try_get::<_, Option<String>>(i).ok().flatten()
}
