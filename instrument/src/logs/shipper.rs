//! The shipper thread: batches the queue into snappy-compressed protobuf `PushRequest`s and
//! pushes them with timeouts, retrying 429/5xx/network errors with jittered backoff.
//!
//! It runs on its own thread and current-thread runtime, so encoding a backlog never stalls a
//! worker of the service's runtime (tracing-loki encodes inside `poll()` on the app's runtime).

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::LokiConfig;
use super::layer::IN_SHIPPER;
use super::proto::{EntryAdapter, PushRequest, StreamAdapter, Timestamp};
use super::push::{Bytes, compress, error_chain};
use super::queue::{DropReason, Entry, Shared};

/// Where the shipper thread stands, for [`super::LokiHandle`].
pub(crate) struct Shipper {
    pub shared: Arc<Shared>,
    pub client: reqwest::Client,
    pub url: String,
    pub tenant: Option<String>,
    /// Stream label sets `{k="v",…,level="…"}`, one per level index.
    pub streams: [String; 5],
    pub cfg: LokiConfig,
    /// `Some(deadline)` once shutdown began.
    pub shutdown: watch::Receiver<Option<Instant>>,
}

enum Outcome {
    Delivered,
    /// 4xx other than 429: the batch is bad, retrying cannot help.
    Rejected,
    /// The flush deadline passed; `in_doubt` when the last attempt's outcome is unknown (a
    /// request cut off after it was sent: Loki may have stored the batch).
    OutOfTime {
        in_doubt: bool,
    },
}

impl Shipper {
    pub(crate) fn run(mut self) {
        IN_SHIPPER.with(|f| f.set(true));
        let rt = match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(rt) => rt,
            Err(error) => {
                tracing::error!(error = %error, "Cannot start the Loki shipper runtime; logs will not be shipped.");
                self.shared.closed.store(true, Relaxed);
                return;
            }
        };
        rt.block_on(self.main_loop());
    }

    fn deadline(&self) -> Option<Instant> {
        *self.shutdown.borrow()
    }

    async fn main_loop(&mut self) {
        let mut batch: Vec<Entry> = Vec::new();
        let mut failing = false;
        loop {
            let shutting_down = self.deadline().is_some();
            let flush = self.shared.flush_requested.load(Relaxed);
            if !shutting_down
                && !flush
                && self.shared.held_bytes.load(Relaxed) < self.shared.wake_bytes
            {
                // Wait for a full batch, the linger time, or shutdown.
                let wake = self.shared.wake.notified();
                let mut shutdown = self.shutdown.clone();
                tokio::select! {
                    _ = wake => {}
                    _ = tokio::time::sleep(self.cfg.batch_wait) => {}
                    _ = shutdown.wait_for(Option::is_some) => {}
                }
            }
            batch.clear();
            self.shared.take_batch(
                self.cfg.batch_max_bytes,
                self.cfg.batch_max_events,
                &mut batch,
            );
            if batch.is_empty() {
                self.shared.flush_requested.store(false, Relaxed);
                if self.deadline().is_some() {
                    return;
                }
                continue;
            }
            let events = batch.len();
            let bytes: usize = batch.iter().map(Entry::cost).sum();
            let body = self.encode(&mut batch);
            let outcome = self.push_with_retries(&body, &mut failing).await;
            // The body goes with its batch: no peak-sized buffer is kept after a big one.
            drop(body);
            self.shared.release(events, bytes);
            let c = &self.shared.counters;
            match outcome {
                Outcome::Delivered => {
                    c.sent.fetch_add(events as u64, Relaxed);
                    c.batches_sent.fetch_add(1, Relaxed);
                }
                Outcome::Rejected => self.shared.count_drop(DropReason::Rejected, events as u64),
                Outcome::OutOfTime { in_doubt } => {
                    self.shared.count_drop(DropReason::Shutdown, events as u64);
                    if in_doubt {
                        c.shutdown_in_doubt.fetch_add(events as u64, Relaxed);
                    }
                    let (n, b) = self.shared.drain_all();
                    self.shared.release(n, b);
                    self.shared.count_drop(DropReason::Shutdown, n as u64);
                    return;
                }
            }
        }
    }

    /// Builds the snappy-compressed `PushRequest` for `batch` (entries are moved out). A
    /// [`Bytes`], so that every attempt at the push shares it instead of copying it.
    fn encode(&self, batch: &mut Vec<Entry>) -> Bytes {
        let mut streams: Vec<StreamAdapter> = Vec::new();
        let mut index = [usize::MAX; 5];
        for e in batch.drain(..) {
            let lvl = e.level as usize % 5;
            if index[lvl] == usize::MAX {
                index[lvl] = streams.len();
                streams.push(StreamAdapter {
                    labels: self.streams[lvl].clone(),
                    entries: Vec::new(),
                    hash: 0,
                });
            }
            streams[index[lvl]].entries.push(EntryAdapter {
                timestamp: Some(Timestamp {
                    seconds: e.secs,
                    nanos: e.nanos,
                }),
                line: e.line,
            });
        }
        Bytes::from(compress(PushRequest { streams }))
    }

    async fn push_with_retries(&mut self, body: &Bytes, failing: &mut bool) -> Outcome {
        let mut attempt: u32 = 0;
        // Whether the previous attempt may have reached Loki although we saw no answer.
        let mut in_doubt = false;
        loop {
            let deadline = self.deadline();
            if let Some(d) = deadline
                && Instant::now() >= d
            {
                return Outcome::OutOfTime { in_doubt };
            }
            if in_doubt {
                // At-least-once: the batch goes again, so Loki may store it twice.
                self.shared.counters.retried_unknown.fetch_add(1, Relaxed);
            }
            let mut timeout = self.cfg.request_timeout;
            if let Some(d) = deadline {
                timeout = timeout.min(d.saturating_duration_since(Instant::now()));
            }
            let mut req = self
                .client
                .post(&self.url)
                .timeout(timeout)
                .header("Content-Type", "application/x-protobuf")
                .header("Content-Encoding", "snappy")
                .body(body.clone());
            if let Some(t) = &self.tenant {
                req = req.header("X-Scope-OrgID", t);
            }
            // A request in flight when shutdown begins keeps going, but only until the deadline.
            let send = req.send();
            tokio::pin!(send);
            let mut shutdown = self.shutdown.clone();
            let result = tokio::select! {
                r = &mut send => Some(r),
                _ = shutdown.wait_for(Option::is_some) => None,
            };
            let result = match result {
                Some(r) => r,
                None => {
                    let d = self.deadline().unwrap_or_else(Instant::now);
                    match tokio::time::timeout_at(d.into(), send).await {
                        Ok(r) => r,
                        Err(_) => {
                            self.shared
                                .set_failure_if_none("hung: no answer by the flush deadline");
                            return Outcome::OutOfTime { in_doubt: true };
                        }
                    }
                }
            };
            let retry_reason = match result {
                Ok(resp) if resp.status().is_success() => {
                    if *failing {
                        *failing = false;
                        tracing::info!(url = %self.url, "Loki push recovered.");
                    }
                    self.shared.set_failure(None);
                    return Outcome::Delivered;
                }
                Ok(resp) => {
                    let status = resp.status();
                    self.shared.counters.push_errors.fetch_add(1, Relaxed);
                    // Loki answered: the batch was not stored, a retry cannot duplicate it.
                    in_doubt = false;
                    if status.as_u16() != 429 && !status.is_server_error() {
                        let text = resp.text().await.unwrap_or_default();
                        let text: String = text.chars().take(300).collect();
                        tracing::warn!(url = %self.url, status = status.as_u16(), error = %text, "Loki rejected a batch; dropping it.");
                        self.shared
                            .set_failure(Some(format!("rejected: HTTP {status}")));
                        return Outcome::Rejected;
                    }
                    self.shared
                        .set_failure(Some(format!("refused: HTTP {status}")));
                    format!("HTTP {status}")
                }
                Err(error) => {
                    self.shared.counters.push_errors.fetch_add(1, Relaxed);
                    let chain = error_chain(&error);
                    // A connect error never sent the batch; a timeout or a connection cut
                    // afterwards may have delivered it without our seeing the answer.
                    in_doubt = !error.is_connect();
                    let why = if error.is_connect() {
                        format!("unreachable: {chain}")
                    } else if error.is_timeout() && timeout < self.cfg.request_timeout {
                        // The request's timeout had been shortened to the flush deadline: we ran
                        // out of time, which says nothing new about Loki.
                        self.shared
                            .set_failure_if_none("hung: no answer by the flush deadline");
                        return Outcome::OutOfTime { in_doubt: true };
                    } else if error.is_timeout() {
                        format!("hung: no answer within {:?}", self.cfg.request_timeout)
                    } else {
                        format!("failed: {chain}")
                    };
                    self.shared.set_failure(Some(why));
                    chain
                }
            };
            if !*failing {
                *failing = true;
                tracing::warn!(url = %self.url, error = %retry_reason, "Loki push failed; retrying with backoff.");
            }
            let mut wait = backoff(attempt, self.cfg.min_backoff, self.cfg.max_backoff);
            attempt = attempt.saturating_add(1);
            if let Some(d) = self.deadline() {
                wait = wait.min(d.saturating_duration_since(Instant::now()));
            }
            let mut shutdown = self.shutdown.clone();
            let already = self.deadline().is_some();
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                // Shutdown cuts a long backoff short: the flush gets its attempts in.
                _ = shutdown.wait_for(Option::is_some), if !already => {}
            }
        }
    }
}

/// Exponential backoff with "equal jitter": half fixed, half random, so retries from many
/// instances spread out but each still waits at least half the step.
pub(crate) fn backoff(attempt: u32, min: Duration, max: Duration) -> Duration {
    let step = min.saturating_mul(1u32 << attempt.min(20)).min(max);
    let half = step / 2;
    let jitter = (crate::trace_id::random_u64() % 1_000_000) as f64 / 1_000_000.0;
    half + half.mul_f64(jitter)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        let min = Duration::from_millis(100);
        let max = Duration::from_secs(5);
        let b0 = backoff(0, min, max);
        assert!(b0 >= Duration::from_millis(50) && b0 <= min);
        let b10 = backoff(10, min, max);
        assert!(b10 >= Duration::from_millis(2500) && b10 <= max);
    }
}
