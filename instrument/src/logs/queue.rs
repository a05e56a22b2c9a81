//! The bounded hand-off between the callers (the layer) and the shipper thread.
//!
//! Why a mutex around a `VecDeque` and not a channel: the drop-oldest policy needs the caller to
//! evict the oldest waiting entry, which a channel cannot do, and the critical section is a
//! push (plus, rarely, a pop): tens of nanoseconds, never held across I/O or formatting.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Mutex, MutexGuard};

use super::DropPolicy;

/// What one entry costs besides its line's heap capacity: the `Entry` itself, the deque slot
/// and the allocator's header, rounded up.
pub(crate) const ENTRY_OVERHEAD: usize = 64;

/// Initial capacity of a line: the layer allocates this much up front, so it is also the
/// least an entry can cost.
pub(crate) const LINE_CAPACITY: usize = 256;

/// The least an entry costs; the precheck drops when even that would not fit, so a full
/// queue is detected before the caller pays for formatting.
const MIN_COST: usize = LINE_CAPACITY + ENTRY_OVERHEAD;

/// Most entries the shipper moves per lock acquisition (about a microsecond of holding).
const TAKE_CHUNK: usize = 256;

/// Why an event was dropped; the `reason` label of `mcp_log_events_dropped_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DropReason {
    /// The event bound (`max_events`) was reached.
    QueueFull = 0,
    /// The byte bound (`max_bytes`) was reached.
    BytesLimit = 1,
    /// Loki answered a batch with a non-retryable 4xx.
    Rejected = 2,
    /// Emitted after shutdown began, or still held when the flush deadline passed.
    Shutdown = 3,
}

pub(crate) const DROP_REASONS: [(DropReason, &str); 4] = [
    (DropReason::QueueFull, "queue_full"),
    (DropReason::BytesLimit, "bytes_limit"),
    (DropReason::Rejected, "rejected"),
    (DropReason::Shutdown, "shutdown"),
];

/// One log line waiting for Loki.
#[derive(Debug)]
pub(crate) struct Entry {
    pub secs: i64,
    pub nanos: i32,
    pub level: u8,
    pub line: String,
}

impl Entry {
    pub(crate) fn cost(&self) -> usize {
        self.line.capacity() + ENTRY_OVERHEAD
    }
}

/// Counters exported on `/metrics` and through [`super::LokiHandle::stats`].
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub sent: AtomicU64,
    pub dropped: [AtomicU64; 4],
    pub push_errors: AtomicU64,
    pub batches_sent: AtomicU64,
    /// Pushes of a batch retried after an attempt whose outcome is unknown (it timed out or
    /// was cut off after the request was sent): Loki may end up storing that batch twice.
    pub retried_unknown: AtomicU64,
    /// Of the events dropped at shutdown, those in a request whose outcome is unknown: Loki
    /// may have stored them after all.
    pub shutdown_in_doubt: AtomicU64,
}

#[derive(Debug)]
pub(crate) struct Shared {
    queue: Mutex<VecDeque<Entry>>,
    /// Events held: queued plus in the shipper's current batch.
    pub held_events: AtomicUsize,
    /// Bytes held (line capacity + [`ENTRY_OVERHEAD`] each): queued plus in flight.
    pub held_bytes: AtomicUsize,
    pub max_events: usize,
    pub max_bytes: usize,
    /// Longest line shipped; longer ones are replaced by a truncation notice.
    pub max_line_bytes: usize,
    pub policy: DropPolicy,
    /// Held bytes at which the shipper is woken before `batch_wait` runs out.
    pub wake_bytes: usize,
    pub wake: tokio::sync::Notify,
    pub closed: AtomicBool,
    /// Set by [`super::LokiHandle::flush_now`]: push everything queued without waiting.
    pub flush_requested: AtomicBool,
    pub counters: Counters,
    /// Why the latest failed push failed (`refused: HTTP 500 …`, `hung: …`), for the shutdown
    /// report; cleared by a delivered batch.
    pub last_failure: Mutex<Option<String>>,
}

impl Shared {
    pub(crate) fn new(
        max_events: usize,
        max_bytes: usize,
        policy: DropPolicy,
        wake_bytes: usize,
    ) -> Self {
        Self {
            queue: Mutex::new(VecDeque::with_capacity(max_events.min(4096))),
            held_events: AtomicUsize::new(0),
            held_bytes: AtomicUsize::new(0),
            max_events,
            max_bytes,
            max_line_bytes: usize::MAX,
            policy,
            wake_bytes,
            wake: tokio::sync::Notify::new(),
            closed: AtomicBool::new(false),
            flush_requested: AtomicBool::new(false),
            counters: Counters::default(),
            last_failure: Mutex::new(None),
        }
    }

    fn lock(&self) -> MutexGuard<'_, VecDeque<Entry>> {
        // A panic while holding this lock cannot leave the deque inconsistent (push/pop only),
        // so a poisoned lock is still usable.
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn set_failure(&self, why: Option<String>) {
        *self.last_failure.lock().unwrap_or_else(|p| p.into_inner()) = why;
    }

    /// Records `why` only when no earlier failure is known: a push cut off by the flush deadline
    /// says nothing about Loki, so Loki's last real answer (say a 503) stays the reported reason.
    pub(crate) fn set_failure_if_none(&self, why: &str) {
        let mut last = self.last_failure.lock().unwrap_or_else(|p| p.into_inner());
        if last.is_none() {
            *last = Some(why.to_owned());
        }
    }

    pub(crate) fn failure(&self) -> Option<String> {
        self.last_failure
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub(crate) fn count_drop(&self, reason: DropReason, n: u64) {
        self.counters.dropped[reason as usize].fetch_add(n, Relaxed);
    }

    /// Cheap check before any formatting: with drop-newest, a full queue drops the event
    /// without the caller paying for serialisation.
    #[inline]
    pub(crate) fn precheck(&self) -> Option<DropReason> {
        if self.closed.load(Relaxed) {
            return Some(DropReason::Shutdown);
        }
        if self.policy == DropPolicy::Newest {
            if self.held_events.load(Relaxed) >= self.max_events {
                return Some(DropReason::QueueFull);
            }
            if self.held_bytes.load(Relaxed) + MIN_COST > self.max_bytes {
                return Some(DropReason::BytesLimit);
            }
        }
        None
    }

    /// Queues one entry or drops (and counts) according to the policy. Never waits for
    /// anything but the short queue lock.
    pub(crate) fn push(&self, entry: Entry) {
        let cost = entry.cost();
        if cost > self.max_bytes {
            self.count_drop(DropReason::BytesLimit, 1);
            return;
        }
        let mut evicted: Option<Entry> = None;
        let held_bytes;
        {
            let mut q = self.lock();
            if self.closed.load(Relaxed) {
                drop(q);
                self.count_drop(DropReason::Shutdown, 1);
                return;
            }
            loop {
                let events = self.held_events.load(Relaxed);
                let bytes = self.held_bytes.load(Relaxed);
                let reason = if events + 1 > self.max_events {
                    DropReason::QueueFull
                } else if bytes + cost > self.max_bytes {
                    DropReason::BytesLimit
                } else {
                    break;
                };
                // Drop-oldest evicts queued entries (not the batch in flight); anything else,
                // or nothing left to evict, drops the new entry.
                let old = match self.policy {
                    DropPolicy::Oldest => q.pop_front(),
                    DropPolicy::Newest => None,
                };
                match old {
                    Some(old) => {
                        self.held_events.fetch_sub(1, Relaxed);
                        self.held_bytes.fetch_sub(old.cost(), Relaxed);
                        self.count_drop(reason, 1);
                        // Free outside the lock only the last one; earlier ones are freed here,
                        // which is rare (an outage with drop-oldest) and cheap.
                        evicted = Some(old);
                    }
                    None => {
                        drop(q);
                        self.count_drop(reason, 1);
                        return;
                    }
                }
            }
            q.push_back(entry);
            self.held_events.fetch_add(1, Relaxed);
            held_bytes = self.held_bytes.fetch_add(cost, Relaxed) + cost;
        }
        drop(evicted);
        if held_bytes >= self.wake_bytes && held_bytes - cost < self.wake_bytes {
            self.wake.notify_one();
        }
    }

    /// Moves up to `max_bytes` worth (at least one entry) into `out`, oldest first. The moved
    /// entries stay counted as held until [`Shared::release`].
    ///
    /// Takes the lock for at most [`TAKE_CHUNK`] entries at a time, so a caller never waits
    /// behind a whole batch being moved.
    pub(crate) fn take_batch(&self, max_bytes: usize, max_events: usize, out: &mut Vec<Entry>) {
        let mut bytes = 0;
        loop {
            let mut q = self.lock();
            let mut moved = 0;
            while let Some(front) = q.front() {
                let c = front.cost();
                if !out.is_empty() && (bytes + c > max_bytes || out.len() >= max_events) {
                    return;
                }
                bytes += c;
                if let Some(e) = q.pop_front() {
                    out.push(e);
                }
                moved += 1;
                if moved == TAKE_CHUNK {
                    break;
                }
            }
            if moved < TAKE_CHUNK {
                return;
            }
        }
    }

    /// Forgets `events` entries of `bytes` cost that were delivered or dropped.
    pub(crate) fn release(&self, events: usize, bytes: usize) {
        self.held_events.fetch_sub(events, Relaxed);
        self.held_bytes.fetch_sub(bytes, Relaxed);
    }

    #[cfg(test)]
    pub(crate) fn queued_len(&self) -> usize {
        self.lock().len()
    }

    /// Empties the queue (at shutdown's deadline), returning what was dropped.
    pub(crate) fn drain_all(&self) -> (usize, usize) {
        let drained: VecDeque<Entry> = std::mem::take(&mut *self.lock());
        let bytes = drained.iter().map(Entry::cost).sum();
        (drained.len(), bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(n: usize) -> Entry {
        Entry {
            secs: 0,
            nanos: 0,
            level: 2,
            line: format!("{n:0>36}"),
        }
    }

    #[test]
    fn drop_newest_keeps_the_oldest_and_counts() {
        let s = Shared::new(3, usize::MAX, DropPolicy::Newest, usize::MAX);
        for i in 0..5 {
            s.push(entry(i));
        }
        assert_eq!(s.queued_len(), 3);
        assert_eq!(s.counters.dropped[0].load(Relaxed), 2);
        let mut out = Vec::new();
        s.take_batch(usize::MAX, usize::MAX, &mut out);
        assert!(out[0].line.ends_with('0'));
    }

    #[test]
    fn drop_oldest_keeps_the_newest_and_counts() {
        let s = Shared::new(3, usize::MAX, DropPolicy::Oldest, usize::MAX);
        for i in 0..5 {
            s.push(entry(i));
        }
        assert_eq!(s.queued_len(), 3);
        assert_eq!(s.counters.dropped[0].load(Relaxed), 2);
        let mut out = Vec::new();
        s.take_batch(usize::MAX, usize::MAX, &mut out);
        assert!(out[0].line.ends_with('2'));
    }

    #[test]
    fn batches_span_several_lock_chunks_and_respect_limits() {
        let s = Shared::new(10_000, usize::MAX, DropPolicy::Newest, usize::MAX);
        for i in 0..1_000 {
            s.push(entry(i));
        }
        let mut out = Vec::new();
        s.take_batch(usize::MAX, 600, &mut out);
        assert_eq!(out.len(), 600);
        assert!(out[599].line.ends_with("599"));
        out.clear();
        s.take_batch(usize::MAX, 600, &mut out);
        assert_eq!(out.len(), 400);
        assert_eq!(s.queued_len(), 0);
    }

    #[test]
    fn byte_bound_holds() {
        let one = entry(0).cost();
        let s = Shared::new(1000, one * 4, DropPolicy::Newest, usize::MAX);
        for i in 0..10 {
            s.push(entry(i));
        }
        assert!(s.held_bytes.load(Relaxed) <= one * 4);
        assert_eq!(s.counters.dropped[1].load(Relaxed), 6);
    }
}
