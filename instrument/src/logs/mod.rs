//! Log shipping to Loki with a hard memory bound and counted drops.
//!
//! Why not `tracing-loki` 0.2.7: its queue behind the 512-slot channel grows without bound
//! while Loki is down or hung (measured 730 MiB in 35 s), its client has no timeout, a 400 is
//! retried with the whole backlog, drops are silent and its caller cost is ~1.4 µs. None of
//! that can be fixed from outside, so this module keeps its wire format (snappy-compressed
//! protobuf `logproto.PushRequest`) and replaces the rest:
//!
//! * the caller formats one JSON line and pushes it into a queue bounded in events **and**
//!   bytes ([`LokiConfig::max_events`], [`LokiConfig::max_bytes`]); when full it drops per
//!   [`DropPolicy`] and counts (`mcp_log_events_dropped_total{reason}`);
//! * a dedicated thread batches (≤ 1 MiB, ≤ 1 s by default), pushes with connect and request
//!   timeouts, retries 429/5xx/network errors with jittered exponential backoff, and drops a
//!   batch answered with another 4xx (counted as `rejected`);
//! * the memory held in flight is counted in the same bound, so the bound holds during an
//!   outage of any length;
//! * [`LokiHandle::shutdown`] flushes within [`LokiConfig::flush_timeout`] and counts what it
//!   could not deliver as `shutdown`; its [`FlushReport`] says how many events never reached
//!   Loki and why, and a dropped handle (or [`crate::Guard`]) prints that as one stderr line;
//! * delivery is at-least-once: a batch whose push timed out is sent again, and counted
//!   (`mcp_log_batches_retried_unknown_total`), because Loki may have stored it.
//!
//! Use it on its own with any subscriber:
//!
//! ```no_run
//! use tracing_subscriber::prelude::*;
//! # fn main() -> Result<(), mcp_instrument::InitError> {
//! let mut cfg = mcp_instrument::logs::LokiConfig::new("http://127.0.0.1:3100");
//! cfg.labels.push(("service".into(), "cdb_risk".into()));
//! let (layer, handle) = mcp_instrument::logs::loki(cfg)?;
//! let subscriber = tracing_subscriber::registry().with(layer);
//! tracing::subscriber::with_default(subscriber, || tracing::info!(order_id = 7, "Order accepted."));
//! let report = handle.shutdown();
//! assert_eq!(report.stats.dropped_total(), 0);
//! # Ok(()) }
//! ```

mod layer;
pub(crate) mod proto;
pub mod push;
pub(crate) mod queue;
mod shipper;

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

pub use layer::LokiLayer;
use queue::{DROP_REASONS, Shared};

use crate::error::InitError;

/// What to drop when the queue is full.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum DropPolicy {
    /// Drop the new event (the default): the backlog stays in order and the caller does not
    /// even format the event, so a full queue is the cheapest state.
    #[default]
    Newest,
    /// Evict the oldest queued event to make room: the most recent logs survive an outage.
    Oldest,
}

/// Settings of the Loki shipper. Start from [`LokiConfig::new`] and change fields.
#[derive(Clone, Debug)]
pub struct LokiConfig {
    /// Loki base URL (`http://loki:3100`) or full push URL (`…/loki/api/v1/push`).
    pub url: String,
    /// Static stream labels. [`crate::init`] puts `service` and `host` first; `level` is always
    /// added per event. Keep them few and low-cardinality: fields belong in the line.
    pub labels: Vec<(String, String)>,
    /// Most events held (queued plus in flight). Default 65,536.
    pub max_events: usize,
    /// Most bytes held (line capacity + 64 B per event, queued plus in flight). Default 16 MiB.
    pub max_bytes: usize,
    /// What to drop at the bound. Default [`DropPolicy::Newest`].
    pub drop_policy: DropPolicy,
    /// Largest batch, in held bytes (Alloy's default: 1 MiB, well under Loki's 6 MB burst).
    pub batch_max_bytes: usize,
    /// Largest batch, in events. Default 8,192.
    pub batch_max_events: usize,
    /// Longest a partial batch waits before it is pushed. Default 1 s.
    pub batch_wait: Duration,
    /// Timeout of one push, connection included. Default 10 s.
    pub request_timeout: Duration,
    /// Timeout of the TCP/TLS connect. Default 3 s.
    pub connect_timeout: Duration,
    /// First retry delay. Default 250 ms.
    pub min_backoff: Duration,
    /// Largest retry delay. Default 30 s.
    pub max_backoff: Duration,
    /// How long shutdown may take to flush what is held. Default 5 s.
    pub flush_timeout: Duration,
    /// `X-Scope-OrgID` tenant, for multi-tenant Loki.
    pub tenant: Option<String>,
    /// Longest line shipped, in bytes. Default 64 KiB, under Loki's 256 KB `max_line_size`,
    /// whose 400 would otherwise drop the whole batch. A longer line is replaced by a JSON
    /// object with `"truncated":true`, its original size and its first 4 KiB as `msg`.
    pub max_line_bytes: usize,
}

impl LokiConfig {
    /// Defaults for this URL.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            labels: Vec::new(),
            max_events: 65_536,
            max_bytes: 16 << 20,
            drop_policy: DropPolicy::Newest,
            batch_max_bytes: 1 << 20,
            batch_max_events: 8_192,
            batch_wait: Duration::from_secs(1),
            request_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(3),
            min_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(30),
            flush_timeout: Duration::from_secs(5),
            tenant: None,
            max_line_bytes: 64 << 10,
        }
    }
}

/// Counters of one shipper, as exported on `/metrics`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LokiStats {
    /// Events Loki accepted (`mcp_log_events_sent_total`).
    pub sent: u64,
    /// Dropped because `max_events` was reached.
    pub dropped_queue_full: u64,
    /// Dropped because `max_bytes` was reached.
    pub dropped_bytes_limit: u64,
    /// Dropped because Loki answered their batch with a non-retryable 4xx.
    pub dropped_rejected: u64,
    /// Dropped at or after shutdown.
    pub dropped_shutdown: u64,
    /// Failed push attempts (`mcp_log_push_errors_total`).
    pub push_errors: u64,
    /// Batches delivered.
    pub batches_sent: u64,
    /// Pushes of a batch retried after an attempt whose outcome is unknown (it timed out, or the
    /// connection broke after the request was sent): delivery is at-least-once, so Loki may
    /// store such a batch twice (`mcp_log_batches_retried_unknown_total`).
    pub batches_retried_unknown: u64,
    /// Of [`LokiStats::dropped_shutdown`], the events of a request cut off by the flush deadline
    /// before Loki answered: counted as not delivered, though Loki may have stored them.
    pub shutdown_in_doubt: u64,
    /// Events held right now (queued plus in flight).
    pub held_events: u64,
    /// Bytes held right now.
    pub held_bytes: u64,
}

impl LokiStats {
    /// All drops, whatever the reason.
    pub fn dropped_total(&self) -> u64 {
        self.dropped_queue_full
            + self.dropped_bytes_limit
            + self.dropped_rejected
            + self.dropped_shutdown
    }
}

/// What [`LokiHandle::shutdown`] achieved.
#[derive(Clone, Debug)]
pub struct FlushReport {
    /// Counters after the flush.
    pub stats: LokiStats,
    /// True only when every event the shipper was given reached Loki: it finished within the
    /// deadline **and** [`FlushReport::undelivered`] is 0.
    pub completed: bool,
    /// True when the shipper thread stopped within the deadline, whatever it delivered.
    pub finished_in_time: bool,
    /// Events that never reached Loki, over the shipper's whole life: every drop, whatever the
    /// reason (`stats.dropped_total()`).
    pub undelivered: u64,
    /// Why the last failed push failed (`refused: HTTP 500 Internal Server Error`,
    /// `hung: no answer within 10s`, `unreachable: …`), when the last push did not succeed.
    pub last_error: Option<String>,
    /// How long the flush took.
    pub elapsed: Duration,
}

impl FlushReport {
    /// The one stderr line [`crate::Guard`] prints at shutdown when events were lost, `None`
    /// when everything was delivered:
    ///
    /// `mcp-instrument: 52429 of 52429 log lines not delivered to Loki (shutdown 52429); last push error: refused: HTTP 500 Internal Server Error`
    pub fn summary(&self) -> Option<String> {
        if self.undelivered == 0 {
            return None;
        }
        let s = &self.stats;
        let total = s.sent + self.undelivered + s.held_events;
        let mut reasons = Vec::new();
        for (name, n) in [
            ("queue_full", s.dropped_queue_full),
            ("bytes_limit", s.dropped_bytes_limit),
            ("rejected", s.dropped_rejected),
            ("shutdown", s.dropped_shutdown),
        ] {
            if n > 0 {
                reasons.push(format!("{name} {n}"));
            }
        }
        let mut line = format!(
            "mcp-instrument: {} of {total} log lines not delivered to Loki ({})",
            self.undelivered,
            reasons.join(", ")
        );
        if s.shutdown_in_doubt > 0 {
            line.push_str(&format!(
                "; {} of them were in a push cut off unanswered, which Loki may have stored",
                s.shutdown_in_doubt
            ));
        }
        if !self.finished_in_time {
            line.push_str("; the shipper did not stop in time");
        }
        match &self.last_error {
            Some(why) => line.push_str(&format!("; last push error: {why}")),
            None if s.dropped_shutdown > 0 => {
                line.push_str("; flush deadline passed");
            }
            None => {}
        }
        // One line, whatever an error text held.
        Some(line.replace(['\n', '\r'], " "))
    }
}

/// Owner's side of a shipper: counters, and the bounded shutdown flush.
#[derive(Debug)]
pub struct LokiHandle {
    shared: Arc<Shared>,
    shutdown: tokio::sync::watch::Sender<Option<Instant>>,
    // In a Mutex only so the handle (and the Guard) is Sync.
    done: std::sync::Mutex<std::sync::mpsc::Receiver<()>>,
    flush_timeout: Duration,
    finished: bool,
    finished_in_time: bool,
}

impl LokiHandle {
    /// A snapshot of the counters.
    pub fn stats(&self) -> LokiStats {
        stats_of(&self.shared)
    }

    /// Asks the shipper to push everything queued now instead of waiting for
    /// [`LokiConfig::batch_wait`]; returns at once.
    pub fn flush_now(&self) {
        self.shared.flush_requested.store(true, Relaxed);
        self.shared.wake.notify_one();
    }

    pub(crate) fn stats_source(&self) -> Arc<dyn Fn() -> LokiStats + Send + Sync> {
        let shared = Arc::clone(&self.shared);
        Arc::new(move || stats_of(&shared))
    }

    /// Stops accepting events and flushes what is held, within the configured
    /// [`LokiConfig::flush_timeout`]. Never hangs: a hung Loki costs at most the timeout.
    /// Dropping the handle does the same.
    ///
    /// The report says how many events were never delivered and why; unlike dropping the
    /// handle, this prints nothing: the caller has the report.
    pub fn shutdown(mut self) -> FlushReport {
        let timeout = self.flush_timeout;
        self.flush(timeout)
    }

    /// Like [`LokiHandle::shutdown`] with an explicit deadline.
    pub fn shutdown_within(mut self, timeout: Duration) -> FlushReport {
        self.flush(timeout)
    }

    fn flush(&mut self, timeout: Duration) -> FlushReport {
        let start = Instant::now();
        if !self.finished {
            self.finished = true;
            self.shared.closed.store(true, Relaxed);
            let _ = self.shutdown.send(Some(start + timeout));
            self.shared.wake.notify_one();
            // The shipper obeys the deadline itself; the margin covers its last bookkeeping on a
            // loaded machine.
            let done = self.done.lock().unwrap_or_else(|p| p.into_inner());
            self.finished_in_time = match done.recv_timeout(timeout + Duration::from_secs(2)) {
                Ok(()) | Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => true,
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => false,
            };
        }
        let stats = stats_of(&self.shared);
        let undelivered = stats.dropped_total();
        let report = FlushReport {
            stats,
            completed: self.finished_in_time && undelivered == 0 && stats.held_events == 0,
            finished_in_time: self.finished_in_time,
            undelivered,
            last_error: self.shared.failure(),
            elapsed: start.elapsed(),
        };
        record_report(&report);
        report
    }
}

impl Drop for LokiHandle {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        let timeout = self.flush_timeout;
        let report = self.flush(timeout);
        print_summary(&report);
    }
}

/// The report of the latest shutdown flush in this process.
static LAST_REPORT: std::sync::Mutex<Option<FlushReport>> = std::sync::Mutex::new(None);

fn record_report(report: &FlushReport) {
    *LAST_REPORT.lock().unwrap_or_else(|p| p.into_inner()) = Some(report.clone());
}

/// The report of the latest shutdown flush in this process (by [`crate::Guard`]'s drop or
/// [`LokiHandle::shutdown`]), so the number of undelivered events stays available after the
/// guard is gone and `/metrics` can no longer be scraped.
pub fn last_flush_report() -> Option<FlushReport> {
    LAST_REPORT
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone()
}

/// Writes [`FlushReport::summary`] to stderr, when there is one. Straight to stderr, not
/// through `tracing`: the subscriber's Loki layer is closed by now, and the console layer may
/// be off.
pub(crate) fn print_summary(report: &FlushReport) {
    if let Some(line) = report.summary() {
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr().lock(), "{line}");
    }
}

fn stats_of(shared: &Shared) -> LokiStats {
    let c = &shared.counters;
    LokiStats {
        sent: c.sent.load(Relaxed),
        dropped_queue_full: c.dropped[0].load(Relaxed),
        dropped_bytes_limit: c.dropped[1].load(Relaxed),
        dropped_rejected: c.dropped[2].load(Relaxed),
        dropped_shutdown: c.dropped[3].load(Relaxed),
        push_errors: c.push_errors.load(Relaxed),
        batches_sent: c.batches_sent.load(Relaxed),
        batches_retried_unknown: c.retried_unknown.load(Relaxed),
        shutdown_in_doubt: c.shutdown_in_doubt.load(Relaxed),
        held_events: shared.held_events.load(Relaxed) as u64,
        held_bytes: shared.held_bytes.load(Relaxed) as u64,
    }
}

/// Builds a Loki layer and starts its shipper thread.
///
/// Needs no tokio runtime from the caller: the shipper owns a thread and a current-thread
/// runtime. Errors only on invalid settings or when the thread cannot start.
pub fn loki(cfg: LokiConfig) -> Result<(LokiLayer, LokiHandle), InitError> {
    let url = push_url(&cfg.url)?;
    if cfg.max_events == 0 || cfg.max_bytes == 0 || cfg.batch_max_bytes == 0 {
        return Err(InitError::Loki(
            "max_events, max_bytes and batch_max_bytes must be positive".to_owned(),
        ));
    }
    let streams = stream_labels(&cfg.labels)?;
    let client = reqwest::Client::builder()
        .connect_timeout(cfg.connect_timeout)
        .user_agent(concat!("mcp-instrument/", env!("CARGO_PKG_VERSION")))
        // Loki is addressed directly; an HTTP(S)_PROXY meant for other traffic must not
        // swallow the logs.
        .no_proxy()
        .build()
        .map_err(|e| InitError::Loki(e.to_string()))?;
    // Wake the shipper once a full batch is waiting, or half the bound, whichever is smaller.
    let wake_bytes = cfg.batch_max_bytes.min(cfg.max_bytes / 2).max(1);
    let mut shared = Shared::new(cfg.max_events, cfg.max_bytes, cfg.drop_policy, wake_bytes);
    shared.max_line_bytes = cfg.max_line_bytes.max(256);
    let shared = Arc::new(shared);
    let (tx, rx) = tokio::sync::watch::channel(None);
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    let shipper = shipper::Shipper {
        shared: Arc::clone(&shared),
        client,
        url,
        tenant: cfg.tenant.clone(),
        streams,
        cfg: cfg.clone(),
        shutdown: rx,
    };
    std::thread::Builder::new()
        .name("mcp-loki".to_owned())
        .spawn(move || {
            shipper.run();
            let _ = done_tx.send(());
        })
        .map_err(|source| InitError::Thread {
            name: "mcp-loki",
            source,
        })?;
    Ok((
        LokiLayer {
            shared: Arc::clone(&shared),
        },
        LokiHandle {
            shared,
            shutdown: tx,
            done: std::sync::Mutex::new(done_rx),
            flush_timeout: cfg.flush_timeout,
            finished: false,
            finished_in_time: false,
        },
    ))
}

fn push_url(url: &str) -> Result<String, InitError> {
    let parsed = reqwest::Url::parse(url)
        .map_err(|e| InitError::Loki(format!("invalid URL {url:?}: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(InitError::Loki(format!("URL {url:?} is not http(s)")));
    }
    let trimmed = url.trim_end_matches('/');
    Ok(if parsed.path().trim_end_matches('/').is_empty() {
        format!("{trimmed}/loki/api/v1/push")
    } else {
        trimmed.to_owned()
    })
}

/// The five label sets, `{k="v",…,level="info"}`, in Loki's label syntax.
fn stream_labels(labels: &[(String, String)]) -> Result<[String; 5], InitError> {
    let mut base = String::from("{");
    for (i, (k, v)) in labels.iter().enumerate() {
        if labels[..i].iter().any(|(seen, _)| seen == k) {
            return Err(InitError::Loki(format!("duplicate label name {k:?}")));
        }
        let valid = !k.is_empty()
            && !k.starts_with(|c: char| c.is_ascii_digit())
            && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid || k == "level" {
            return Err(InitError::Loki(format!(
                "invalid or reserved label name {k:?}"
            )));
        }
        let _ = write!(base, "{k}=\"{}\",", escape_label(v));
    }
    Ok(layer::LEVEL_NAMES.map(|lvl| format!("{base}level=\"{lvl}\"}}")))
}

pub(crate) fn escape_label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Appends the shipper's families to those a `/metrics` scrape writes.
pub(crate) fn render(out: &mut Vec<crate::metrics::Builtin<'_>>, s: &LokiStats) {
    use crate::metrics::Builtin;
    use mcp_text_format::MetricType::{Counter, Gauge};
    out.push(Builtin::one(
        "mcp_log_events_sent_total",
        "Log events delivered to Loki.",
        Counter,
        None,
        s.sent as f64,
    ));
    let values = [
        s.dropped_queue_full,
        s.dropped_bytes_limit,
        s.dropped_rejected,
        s.dropped_shutdown,
    ];
    out.push(Builtin {
        name: "mcp_log_events_dropped_total",
        help: "Log events dropped before reaching Loki, by reason.",
        kind: Counter,
        samples: DROP_REASONS
            .iter()
            .zip(values)
            .map(|((_, reason), v)| (Some(("reason", *reason)), v as f64))
            .collect(),
    });
    out.push(Builtin::one(
        "mcp_log_push_errors_total",
        "Failed Loki push attempts (network errors and non-2xx answers).",
        Counter,
        None,
        s.push_errors as f64,
    ));
    out.push(Builtin::one(
        "mcp_log_batches_retried_unknown_total",
        "Log batch pushes retried after an attempt with an unknown outcome (timed out or cut off); Loki may store such a batch twice.",
        Counter,
        None,
        s.batches_retried_unknown as f64,
    ));
    out.push(Builtin::one(
        "mcp_log_queue_events",
        "Log events held for Loki (queued and in flight).",
        Gauge,
        None,
        s.held_events as f64,
    ));
    out.push(Builtin::one(
        "mcp_log_queue_bytes",
        "Bytes of log events held for Loki (queued and in flight).",
        Gauge,
        None,
        s.held_bytes as f64,
    ));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_url_appends_the_api_path_to_a_base_url() {
        assert_eq!(
            push_url("http://loki:3100").unwrap(),
            "http://loki:3100/loki/api/v1/push"
        );
        assert_eq!(
            push_url("http://loki:3100/loki/api/v1/push").unwrap(),
            "http://loki:3100/loki/api/v1/push"
        );
        assert!(push_url("ftp://x").is_err());
    }

    #[test]
    fn stream_labels_allow_digits_and_reject_level() {
        let s = stream_labels(&[("k8s_ns".into(), "a\"b".into())]).unwrap();
        assert_eq!(s[2], "{k8s_ns=\"a\\\"b\",level=\"info\"}");
        assert!(stream_labels(&[("level".into(), "x".into())]).is_err());
        assert!(stream_labels(&[("bad-name".into(), "x".into())]).is_err());
    }
}
