//! The host's log collector: Docker containers' json-file logs and plain files, shipped to Loki
//! with mcp-instrument's push client ([`mcp_instrument::logs::push`]).
//!
//! One loop reads whole lines from every target into one batch (at most `batch_max_bytes`),
//! pushes it, and only when Loki acknowledged it advances and persists the targets' positions.
//! While Loki is down or refusing, the loop retries that batch with backoff and reads nothing
//! more: the log files are the buffer, so memory stays at one batch and one read chunk, and
//! nothing is dropped. A 4xx other than 429 drops the batch, counted with Loki's reason.
//! Delivery is at least once: a batch whose push timed out may have been stored and is sent
//! again; a crash resends at most the batch that was in flight.

pub mod config;
pub mod docker;
pub mod parse;
pub mod positions;
pub mod tail;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use mcp_exporter_core::MetricSet;
use mcp_instrument::logs::push::{
    Bytes, LokiClient, PushEntry, PushError, PushStream, backoff, label_set,
};

pub use config::LogsConfig;
use parse::Lifter;
use positions::Positions;
use tail::{ChainEvents, Format, Line, Tailer};

/// Why the collector could not start.
#[derive(Debug, thiserror::Error)]
pub enum LogsError {
    /// The config is invalid.
    #[error("{0}")]
    Config(String),
    /// The positions file cannot be used.
    #[error(transparent)]
    Positions(#[from] positions::PositionsError),
}

/// The collector's counters, served as `mcp_agent_log_*`.
#[derive(Debug, Default)]
pub struct LogStats {
    lines_read: AtomicU64,
    bytes_read: AtomicU64,
    lines_sent: AtomicU64,
    bytes_sent: AtomicU64,
    batches_sent: AtomicU64,
    last_push: AtomicU64,
    rotations: AtomicU64,
    truncations: AtomicU64,
    lines_truncated: AtomicU64,
    label_overflow: AtomicU64,
    dropped: Mutex<BTreeMap<&'static str, u64>>,
    push_errors: Mutex<BTreeMap<String, u64>>,
    targets: Mutex<BTreeMap<String, TargetLag>>,
}

#[derive(Debug, Clone, Default)]
struct TargetLag {
    kind: &'static str,
    bytes: u64,
    seconds: f64,
}

impl LogStats {
    fn drop_lines(&self, reason: &'static str, n: u64) {
        if n > 0
            && let Ok(mut m) = self.dropped.lock()
        {
            *m.entry(reason).or_default() += n;
        }
    }

    fn push_error(&self, reason: String) {
        if let Ok(mut m) = self.push_errors.lock() {
            *m.entry(reason).or_default() += 1;
        }
    }

    /// Lines acknowledged by Loki so far.
    pub fn lines_sent(&self) -> u64 {
        self.lines_sent.load(Relaxed)
    }

    /// Lines dropped, by reason.
    pub fn dropped(&self) -> BTreeMap<&'static str, u64> {
        self.dropped.lock().map(|m| m.clone()).unwrap_or_default()
    }

    /// Targets tailed now, their summed lag in bytes, and the time of the last acknowledged push
    /// (seconds since the epoch, 0 before the first): for `mcp-agent check`.
    pub fn summary(&self) -> (usize, u64, u64) {
        let t = self.targets.lock().map(|m| m.clone()).unwrap_or_default();
        (
            t.len(),
            t.values().map(|l| l.bytes).sum(),
            self.last_push.load(Relaxed),
        )
    }

    /// Writes the `mcp_agent_log_*` families.
    pub fn render(&self, out: &mut MetricSet) {
        let c = |v: &AtomicU64| v.load(Relaxed) as f64;
        out.counter(
            "mcp_agent_log_lines_read_total",
            "Log lines read from targets.",
            &[],
            c(&self.lines_read),
        );
        out.counter(
            "mcp_agent_log_bytes_read_total",
            "Bytes of log files consumed.",
            &[],
            c(&self.bytes_read),
        );
        out.counter(
            "mcp_agent_log_lines_sent_total",
            "Log lines Loki acknowledged.",
            &[],
            c(&self.lines_sent),
        );
        out.counter(
            "mcp_agent_log_bytes_sent_total",
            "Bytes of line text Loki acknowledged.",
            &[],
            c(&self.bytes_sent),
        );
        out.counter(
            "mcp_agent_log_batches_sent_total",
            "Pushes Loki acknowledged.",
            &[],
            c(&self.batches_sent),
        );
        out.gauge(
            "mcp_agent_log_last_push_timestamp_seconds",
            "When Loki last acknowledged a push (0: never).",
            &[],
            c(&self.last_push),
        );
        out.counter(
            "mcp_agent_log_rotations_total",
            "Rotations seen (a new file behind a target's path).",
            &[],
            c(&self.rotations),
        );
        out.counter(
            "mcp_agent_log_truncations_total",
            "Files found shorter than what was read (truncation, copytruncate); read again from the start.",
            &[],
            c(&self.truncations),
        );
        out.counter(
            "mcp_agent_log_lines_truncated_total",
            "Lines cut at max_line_bytes.",
            &[],
            c(&self.lines_truncated),
        );
        out.counter(
            "mcp_agent_log_label_values_overflow_total",
            "Lifted label values replaced by __overflow__ at the per-label bound.",
            &[],
            c(&self.label_overflow),
        );
        let dropped = self.dropped();
        for reason in ["rejected", "rotated_unread", "bad_record"] {
            let v = dropped.get(reason).copied().unwrap_or(0);
            out.counter(
                "mcp_agent_log_lines_dropped_total",
                "Log lines (or, for rotated_unread, whole files) not delivered, by reason.",
                &[("reason", reason)],
                v as f64,
            );
        }
        for (reason, v) in self
            .push_errors
            .lock()
            .map(|m| m.clone())
            .unwrap_or_default()
        {
            out.counter(
                "mcp_agent_log_push_errors_total",
                "Failed push attempts, by reason (retried unless the reason is a 4xx other than 429).",
                &[("reason", &reason)],
                v as f64,
            );
        }
        let targets = self.targets.lock().map(|m| m.clone()).unwrap_or_default();
        out.gauge(
            "mcp_agent_log_targets",
            "Log targets tailed.",
            &[],
            targets.len() as f64,
        );
        for (target, lag) in &targets {
            out.gauge(
                "mcp_agent_log_target_lag_bytes",
                "Bytes of a target not yet acknowledged by Loki.",
                &[("target", target), ("kind", lag.kind)],
                lag.bytes as f64,
            );
            out.gauge(
                "mcp_agent_log_target_lag_seconds",
                "Seconds since a target with unacknowledged bytes last had a push acknowledged (0: caught up).",
                &[("target", target), ("kind", lag.kind)],
                lag.seconds,
            );
        }
    }
}

/// Lines read and not yet acknowledged, each with its target's key.
type Batch = Vec<(Arc<str>, Line)>;

struct Target {
    /// Its key in `Collector::targets`, shared by the lines of a batch.
    key: Arc<str>,
    tailer: Tailer,
    kind: &'static str,
    /// Display name for metrics: the container name or the path.
    name: String,
    labels: Vec<(String, String)>,
    lifter: Option<Lifter>,
    last_ack: Instant,
}

/// Builds the push client from the config (secrets read from their files).
fn client(cfg: &LogsConfig) -> Result<LokiClient, LogsError> {
    let read = |p: &std::path::Path, what: &str| {
        std::fs::read_to_string(p)
            .map(|s| s.trim().to_owned())
            .map_err(|e| {
                LogsError::Config(format!("logs.{what}: cannot read {}: {e}", p.display()))
            })
    };
    let mut b = LokiClient::builder(&cfg.loki_url)
        .tenant(cfg.tenant.clone())
        .request_timeout(Duration::from_secs(cfg.request_timeout_secs))
        .user_agent(concat!("mcp-agent/", env!("CARGO_PKG_VERSION")));
    if let Some(a) = &cfg.basic_auth {
        b = b.basic_auth(
            &a.username,
            &read(&a.password_file, "basic_auth.password_file")?,
        );
    }
    if let Some(f) = &cfg.bearer_token_file {
        b = b.bearer(&read(f, "bearer_token_file")?);
    }
    if let Some(tls) = &cfg.tls {
        if let Some(ca) = &tls.ca_file {
            let pem = std::fs::read(ca).map_err(|e| {
                LogsError::Config(format!(
                    "logs.tls.ca_file: cannot read {}: {e}",
                    ca.display()
                ))
            })?;
            b = b.ca_pem(pem);
        }
        b = b.insecure_skip_verify(tls.insecure_skip_verify);
    }
    b.build()
        .map_err(|e| LogsError::Config(format!("logs.loki_url: {e}")))
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_owned())
        .ok()
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".to_owned())
}

/// A target found by discovery.
struct Found {
    path: std::path::PathBuf,
    format: Format,
    kind: &'static str,
    name: String,
    labels: Vec<(String, String)>,
    parse: Option<config::ParseConfig>,
}

/// The collector.
pub struct Collector {
    cfg: LogsConfig,
    client: LokiClient,
    host: String,
    include: Vec<regex::Regex>,
    positions: Positions,
    targets: BTreeMap<String, Target>,
    stats: std::sync::Arc<LogStats>,
    events: ChainEvents,
    /// The read buffer of every target (one read chunk, see [`Tailer::read`]).
    read_buf: Vec<u8>,
}

impl std::fmt::Debug for Collector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Collector")
            .field("targets", &self.targets.len())
            .finish()
    }
}

impl Collector {
    /// Validates the config, builds the client and loads the positions.
    pub fn new(cfg: LogsConfig, stats: std::sync::Arc<LogStats>) -> Result<Self, LogsError> {
        if let Some(p) = cfg.problems().into_iter().next() {
            return Err(LogsError::Config(p.to_string()));
        }
        let client = client(&cfg)?;
        let positions = Positions::load(&cfg.positions_file)?;
        let include = cfg
            .docker
            .as_ref()
            .map(|d| {
                d.include
                    .iter()
                    .filter_map(|r| regex::Regex::new(r).ok())
                    .collect()
            })
            .unwrap_or_default();
        Ok(Self {
            host: cfg.host.clone().unwrap_or_else(hostname),
            client,
            include,
            positions,
            targets: BTreeMap::new(),
            stats,
            events: ChainEvents::default(),
            read_buf: Vec::new(),
            cfg,
        })
    }

    fn discover(&mut self) {
        let mut found: BTreeMap<String, Found> = BTreeMap::new();
        if let Some(d) = &self.cfg.docker {
            match docker::discover(&d.root) {
                Ok(containers) => {
                    for (id, c) in containers {
                        let selected = if self.include.is_empty() {
                            d.exclude_label
                                .as_deref()
                                .is_none_or(|sel| !docker::has_label(&c.labels, sel))
                        } else {
                            self.include.iter().any(|r| r.is_match(&c.name))
                        };
                        if selected {
                            let labels = c.stream_labels(&self.host);
                            found.insert(
                                format!("docker:{id}"),
                                Found {
                                    path: c.log_path,
                                    format: Format::DockerJson,
                                    kind: "docker",
                                    name: c.name,
                                    labels,
                                    parse: d.parse.clone(),
                                },
                            );
                        }
                    }
                }
                Err(error) => {
                    tracing::debug!(root = %d.root.display(), error = %error, "Docker root not readable.");
                }
            }
        }
        for f in &self.cfg.files {
            let Ok(paths) = glob::glob(&f.path) else {
                continue;
            };
            for p in paths.flatten() {
                if !p.is_file() {
                    continue;
                }
                let mut labels: Vec<(String, String)> = f
                    .labels
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                labels.push(("filename".to_owned(), p.display().to_string()));
                labels.push(("host".to_owned(), self.host.clone()));
                let name = p.display().to_string();
                found.insert(
                    format!("file:{}", p.display()),
                    Found {
                        path: p,
                        format: Format::Plain,
                        kind: "file",
                        name,
                        labels,
                        parse: f.parse.clone(),
                    },
                );
            }
        }
        for (
            key,
            Found {
                path,
                format,
                kind,
                name,
                labels,
                parse,
            },
        ) in found
        {
            if self.targets.contains_key(&key) {
                continue;
            }
            let tailer = Tailer::open(
                &path,
                format,
                self.positions.targets.get(&key),
                &mut self.events,
            );
            tracing::info!(target_key = %key, path = %path.display(), "Tailing log target.");
            self.targets.insert(
                key.clone(),
                Target {
                    key: Arc::from(key),
                    tailer,
                    kind,
                    name,
                    labels,
                    lifter: parse.map(Lifter::new),
                    last_ack: Instant::now(),
                },
            );
        }
        // Positions of targets that no longer exist are forgotten once they are finished.
        let live: Vec<String> = self.targets.keys().cloned().collect();
        self.positions.targets.retain(|k, _| live.contains(k));
    }

    fn flush_events(&mut self) {
        let e = std::mem::take(&mut self.events);
        self.stats.rotations.fetch_add(e.rotated, Relaxed);
        self.stats.truncations.fetch_add(e.truncated, Relaxed);
        if e.lost_files > 0 {
            tracing::warn!(
                files = e.lost_files,
                "Log files rotated away before they were read; counted as dropped."
            );
            self.stats.drop_lines("rotated_unread", e.lost_files);
        }
    }

    /// Tops the held batch up to `batch_bytes` of line text: `held` is the text it already
    /// holds, kept by the caller so that no poll sums the batch again, and grows by what is
    /// read. A batch is thus at most `batch_bytes` plus one line, however many polls fill it.
    fn fill(&mut self, batch: &mut Batch, held: &mut usize) {
        let room = self.cfg.batch_bytes().saturating_sub(*held);
        *held += self.read_batch(room, batch);
    }

    /// Reads up to `budget` bytes of lines into `out`, (key, line) in target order. Returns the
    /// bytes of line text added.
    fn read_batch(&mut self, budget: usize, out: &mut Batch) -> usize {
        let mut left = budget;
        let mut added = 0usize;
        let max_line = self.cfg.max_line_bytes;
        let mut lines = Vec::new();
        for t in self.targets.values_mut() {
            if left == 0 {
                break;
            }
            t.tailer.check(&mut self.events);
            lines.clear();
            let s = t
                .tailer
                .read(left, max_line, &mut self.read_buf, &mut lines);
            self.stats.bytes_read.fetch_add(s.bytes, Relaxed);
            self.stats.lines_read.fetch_add(lines.len() as u64, Relaxed);
            self.stats.lines_truncated.fetch_add(s.truncated, Relaxed);
            self.stats.drop_lines("bad_record", s.bad_records);
            let used: usize = lines.iter().map(|l| l.text.len()).sum();
            added += used;
            left = left.saturating_sub(used.max(s.bytes as usize));
            out.extend(lines.drain(..).map(|l| (Arc::clone(&t.key), l)));
        }
        added
    }

    /// The push body of a batch and its bytes of line text. The lines' text moves into the
    /// body (the batch keeps what `ack` needs: targets, files and offsets). A target without a
    /// parser has one label set per stream, worked out once per batch, not once per line.
    fn encode(&mut self, batch: &mut [(Arc<str>, Line)]) -> (Bytes, u64) {
        let mut streams: Vec<PushStream> = Vec::new();
        let mut by_labels: HashMap<String, usize> = HashMap::new();
        let mut plain: HashMap<(&str, &str), usize> = HashMap::new();
        let mut slot: Vec<Option<usize>> = Vec::with_capacity(batch.len());
        // The stream of the line before, when its target has no parser: runs of lines of one
        // target and stream skip the lookups.
        let mut prev: Option<(&Arc<str>, &str, usize)> = None;
        for (key, line) in batch.iter() {
            if let Some((k, stream, i)) = prev
                && Arc::ptr_eq(k, key)
                && stream == line.stream
            {
                slot.push(Some(i));
                continue;
            }
            prev = None;
            let Some(t) = self.targets.get_mut(&**key) else {
                slot.push(None);
                continue;
            };
            if t.lifter.is_none()
                && let Some(&i) = plain.get(&(&**key, line.stream))
            {
                prev = Some((key, line.stream, i));
                slot.push(Some(i));
                continue;
            }
            let mut labels: Vec<(&str, &str)> = t
                .labels
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            if !line.stream.is_empty() {
                labels.push(("stream", line.stream));
            }
            let lifted = match &mut t.lifter {
                Some(l) => {
                    let before = l.overflowed;
                    let v = l.lift(&line.text);
                    self.stats
                        .label_overflow
                        .fetch_add(l.overflowed - before, Relaxed);
                    v
                }
                None => Vec::new(),
            };
            for (k, v) in &lifted {
                if !labels.iter().any(|(have, _)| have == k) {
                    labels.push((k.as_str(), v.as_str()));
                }
            }
            let set = label_set(labels);
            let i = match by_labels.get(&set) {
                Some(&i) => i,
                None => {
                    streams.push(PushStream {
                        labels: set.clone(),
                        entries: Vec::new(),
                    });
                    by_labels.insert(set, streams.len() - 1);
                    streams.len() - 1
                }
            };
            if t.lifter.is_none() {
                plain.insert((&**key, line.stream), i);
                prev = Some((key, line.stream, i));
            }
            slot.push(Some(i));
        }
        drop(plain);
        let mut bytes = 0u64;
        for ((_, line), i) in batch.iter_mut().zip(slot) {
            let Some(i) = i else { continue };
            bytes += line.text.len() as u64;
            streams[i].entries.push(PushEntry {
                secs: line.ts.0,
                nanos: line.ts.1,
                line: std::mem::take(&mut line.text),
            });
        }
        (
            Bytes::from(mcp_instrument::logs::push::encode_owned(streams)),
            bytes,
        )
    }

    fn ack(&mut self, batch: &[(Arc<str>, Line)]) {
        let mut last: BTreeMap<(&str, u64), u64> = BTreeMap::new();
        // A batch holds runs of lines of one file: one map entry per run, not per line.
        let mut run: Option<(&Arc<str>, u64, u64)> = None;
        for (key, line) in batch {
            match &mut run {
                Some((k, file, end)) if Arc::ptr_eq(k, key) && *file == line.file_id => {
                    *end = (*end).max(line.end_offset);
                }
                _ => close_run(&mut last, run.replace((key, line.file_id, line.end_offset))),
            }
        }
        close_run(&mut last, run);
        for ((key, file), end) in last {
            if let Some(t) = self.targets.get_mut(key) {
                t.tailer.ack(file, end);
                t.last_ack = Instant::now();
            }
        }
        self.save_positions();
    }

    fn save_positions(&mut self) {
        for (key, t) in &self.targets {
            if let Some(p) = t.tailer.position() {
                self.positions.targets.insert(key.clone(), p);
            }
        }
        self.positions.version = 1;
        if let Err(error) = self.positions.save(&self.cfg.positions_file) {
            tracing::warn!(error = %error, "Cannot save log positions; a restart may resend lines.");
        }
    }

    fn publish_lag(&mut self) {
        let mut m = BTreeMap::new();
        for t in self.targets.values_mut() {
            let bytes = t.tailer.lag_bytes();
            m.insert(
                t.name.clone(),
                TargetLag {
                    kind: t.kind,
                    bytes,
                    seconds: if bytes == 0 {
                        0.0
                    } else {
                        t.last_ack.elapsed().as_secs_f64()
                    },
                },
            );
        }
        if let Ok(mut g) = self.stats.targets.lock() {
            *g = m;
        }
    }

    /// Pushes a batch until Loki takes it, rejects it, or `deadline` passes. True when the
    /// batch is settled (delivered or dropped), false when time ran out.
    async fn deliver(
        &mut self,
        batch: &mut [(Arc<str>, Line)],
        deadline: &tokio::sync::watch::Receiver<Option<Instant>>,
    ) -> bool {
        // One body for every attempt: a retry passes a clone, a reference count, not a copy.
        let (body, bytes) = self.encode(batch);
        let mut attempt = 0u32;
        let mut failing = false;
        loop {
            let timeout = match *deadline.borrow() {
                Some(d) => d.saturating_duration_since(Instant::now()),
                None => Duration::from_secs(self.cfg.request_timeout_secs),
            };
            if timeout.is_zero() {
                return false;
            }
            let result = self
                .client
                .push_within(
                    body.clone(),
                    timeout.min(Duration::from_secs(self.cfg.request_timeout_secs)),
                )
                .await;
            match result {
                Ok(()) => {
                    if failing {
                        tracing::info!(url = %self.client.url(), "Loki push recovered.");
                    }
                    self.stats.lines_sent.fetch_add(batch.len() as u64, Relaxed);
                    self.stats.bytes_sent.fetch_add(bytes, Relaxed);
                    self.stats.batches_sent.fetch_add(1, Relaxed);
                    let now = SystemTime::now()
                        .duration_since(SystemTime::UNIX_EPOCH)
                        .unwrap_or_default();
                    self.stats.last_push.store(now.as_secs(), Relaxed);
                    return true;
                }
                Err(e @ PushError::Rejected { .. }) => {
                    self.stats.push_error(e.category());
                    tracing::warn!(url = %self.client.url(), lines = batch.len(), error = %e, "Loki rejected a batch; dropping it.");
                    self.stats.drop_lines("rejected", batch.len() as u64);
                    return true;
                }
                Err(e) => {
                    self.stats.push_error(e.category());
                    if !failing {
                        failing = true;
                        tracing::warn!(url = %self.client.url(), error = %e, "Loki push failed; reading paused, retrying with backoff.");
                    }
                    let mut wait =
                        backoff(attempt, Duration::from_millis(250), self.cfg.max_backoff());
                    attempt = attempt.saturating_add(1);
                    if let Some(d) = *deadline.borrow() {
                        wait = wait.min(d.saturating_duration_since(Instant::now()));
                    }
                    let mut d = deadline.clone();
                    let already = d.borrow().is_some();
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => {}
                        _ = d.wait_for(Option::is_some), if !already => {}
                    }
                    self.publish_lag();
                }
            }
        }
    }

    /// Runs until `shutdown` resolves, then flushes what was read (within `flush_timeout_secs`),
    /// saves the positions and returns.
    pub async fn run(mut self, shutdown: impl std::future::Future<Output = ()>) {
        let (tx, rx) = tokio::sync::watch::channel::<Option<Instant>>(None);
        let flush = self.cfg.flush_timeout();
        let watcher = async move {
            shutdown.await;
            let _ = tx.send(Some(Instant::now() + flush));
            // Keep the sender alive so receivers see the deadline.
            std::future::pending::<()>().await;
        };
        tokio::pin!(watcher);
        let mut next_discover = Instant::now();
        let mut batch: Batch = Vec::new();
        // Bytes of line text in `batch`.
        let mut held = 0usize;
        let mut batch_started: Option<Instant> = None;
        let mut rx_loop = rx.clone();
        loop {
            let stopping = rx.borrow().is_some();
            if !stopping && Instant::now() >= next_discover {
                self.discover();
                next_discover = Instant::now() + self.cfg.discover_interval();
            }
            if !stopping {
                self.fill(&mut batch, &mut held);
                if !batch.is_empty() && batch_started.is_none() {
                    batch_started = Some(Instant::now());
                }
            }
            self.flush_events();
            let due = batch_started.is_some_and(|t| t.elapsed() >= self.cfg.batch_wait());
            if !batch.is_empty() && (stopping || due || held * 2 >= self.cfg.batch_bytes()) {
                let settled = tokio::select! {
                    s = self.deliver(&mut batch, &rx) => s,
                    _ = &mut watcher => unreachable_pending(),
                };
                if settled {
                    self.ack(&batch);
                } else {
                    for t in self.targets.values_mut() {
                        t.tailer.rewind();
                    }
                }
                batch.clear();
                held = 0;
                batch_started = None;
                if !settled {
                    break;
                }
                // Finished targets (container removed, file deleted, all acknowledged) go.
                let before = self.targets.len();
                self.targets.retain(|_, t| !t.tailer.done());
                if self.targets.len() != before {
                    self.save_positions();
                }
                self.publish_lag();
                continue;
            }
            if stopping {
                break;
            }
            self.publish_lag();
            tokio::select! {
                _ = tokio::time::sleep(self.cfg.poll_interval()) => {}
                _ = &mut watcher => {}
                _ = rx_loop.wait_for(Option::is_some) => {}
            }
        }
        self.save_positions();
        let lost: u64 = batch.len() as u64;
        tracing::info!(
            unsent_lines = lost,
            "Log collector stopped; positions saved."
        );
    }
}

/// Records a run of lines of one file (target, file id, largest end offset) for [`Collector::ack`].
fn close_run<'a>(last: &mut BTreeMap<(&'a str, u64), u64>, run: Option<(&'a Arc<str>, u64, u64)>) {
    if let Some((k, file, end)) = run {
        let e = last.entry((&**k, file)).or_default();
        *e = (*e).max(end);
    }
}

/// The watcher never completes (it waits forever after sending the deadline).
fn unreachable_pending() -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn polls_top_the_held_batch_up_to_its_bound_and_no_further() {
        let dir = tempfile::tempdir().unwrap();
        let line = "x".repeat(99);
        let text: String = (0..200).map(|_| format!("{line}\n")).collect();
        std::fs::write(dir.path().join("a.log"), &text).unwrap();
        let cfg: LogsConfig = mcp_exporter_core::yaml::from_str(&format!(
            // Loki is never contacted: no push happens here.
            "loki_url: http://127.0.0.1:9\npositions_file: {0}/positions.json\nhost: h\n\
             files: [{{path: \"{0}/*.log\"}}]\nbatch_max_bytes: 2048\nmax_line_bytes: 1024\n",
            dir.path().display()
        ))
        .unwrap();
        let mut c = Collector::new(cfg, Arc::new(LogStats::default())).unwrap();
        c.discover();
        let (mut batch, mut held) = (Batch::new(), 0usize);
        c.fill(&mut batch, &mut held);
        // The file holds ten batches: the first poll fills one...
        assert!(held >= 2048, "{held}");
        // ...and later polls, the batch not yet pushed, add at most what is left of its room.
        for _ in 0..5 {
            c.fill(&mut batch, &mut held);
            assert!(held <= 2048 + 1024, "{held}");
            assert_eq!(held, batch.iter().map(|(_, l)| l.text.len()).sum::<usize>());
        }
        assert_eq!(batch.len(), held / 99);
    }
}
