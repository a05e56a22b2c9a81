//! Concurrent scrapes of one target share one collection.
//!
//! Two Prometheus replicas (or a replica and a curl) scraping at the same moment would otherwise
//! collect twice: double the backend work, and under a burst of N concurrent scrapes N response
//! bodies alive at once (the exporters' peak memory). A request that arrives while a collection
//! runs waits for it and serves its body; one that arrives after it finished starts a new one,
//! so no answer is older than the request. Every exporter's scrapes go through one (postgres around
//! its one connection per target, with [`Coalescer::run_or`]).

use std::sync::Mutex;
use std::time::Instant;

use crate::body::MetricsBody;

/// One target's collections, run one at a time and shared by the requests that waited.
///
/// `V` is what a collection yields: the encoded body ([`MetricsBody`], the default: host and
/// redis; the requests that share it share its one gzip compression too) or a richer result
/// (postgres shares an `Arc` of its scrape result, whose `pg_up` the next request reads).
#[derive(Debug)]
pub struct Coalescer<V = MetricsBody> {
    running: tokio::sync::Mutex<()>,
    last: Mutex<Option<(Instant, V)>>,
}

impl<V> Default for Coalescer<V> {
    fn default() -> Self {
        Self {
            running: tokio::sync::Mutex::new(()),
            last: Mutex::new(None),
        }
    }
}

enum Turn<'a, V> {
    /// A collection finished after the request arrived: its value.
    Shared(V),
    /// This request collects, holding the lock.
    Collect(tokio::sync::MutexGuard<'a, ()>),
    /// The collection in flight outlived the deadline.
    Busy,
}

impl<V: Clone> Coalescer<V> {
    /// A new coalescer with nothing collected yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// The value of the last finished collection, if any.
    pub fn last(&self) -> Option<V> {
        self.last
            .lock()
            .ok()
            .and_then(|l| l.as_ref().map(|(_, v)| v.clone()))
    }

    async fn turn(&self, deadline: tokio::time::Instant, arrived: Instant) -> Turn<'_, V> {
        let Ok(guard) = tokio::time::timeout_at(deadline, self.running.lock()).await else {
            return Turn::Busy;
        };
        if let Ok(last) = self.last.lock()
            && let Some((finished, value)) = last.as_ref()
            && *finished > arrived
        {
            return Turn::Shared(value.clone());
        }
        Turn::Collect(guard)
    }

    fn keep(&self, value: &V) {
        if let Ok(mut last) = self.last.lock() {
            *last = Some((Instant::now(), value.clone()));
        }
    }

    /// The value of a collection that finished after this call arrived: the one in flight, or a
    /// new one run by `collect`. If the one in flight outlives `deadline`, `collect` runs
    /// without waiting (its own deadline has passed, so it reports its collectors as failed
    /// rather than queue behind a stuck backend).
    pub async fn run<F, Fut, R>(&self, deadline: tokio::time::Instant, collect: F) -> V
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = R>,
        R: Into<V>,
    {
        let arrived = Instant::now();
        match self.turn(deadline, arrived).await {
            Turn::Shared(value) => value,
            Turn::Busy => collect().await.into(),
            Turn::Collect(_guard) => {
                let value: V = collect().await.into();
                self.keep(&value);
                value
            }
        }
    }

    /// Like [`run`](Self::run), but when the collection in flight outlives `deadline` the answer
    /// is `busy()` instead of a second collection (postgres: the one connection is held by the
    /// stuck scrape, so a second one could only queue behind it).
    pub async fn run_or<F, Fut, R, B>(
        &self,
        deadline: tokio::time::Instant,
        collect: F,
        busy: B,
    ) -> V
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = R>,
        R: Into<V>,
        B: FnOnce() -> V,
    {
        let arrived = Instant::now();
        match self.turn(deadline, arrived).await {
            Turn::Shared(value) => value,
            Turn::Busy => busy(),
            Turn::Collect(_guard) => {
                let value: V = collect().await.into();
                self.keep(&value);
                value
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    #[tokio::test]
    async fn concurrent_requests_share_one_collection_later_ones_start_another() {
        let c: Arc<Coalescer<bytes::Bytes>> = Arc::new(Coalescer::new());
        let runs = Arc::new(AtomicUsize::new(0));
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        let one = |c: Arc<Coalescer<bytes::Bytes>>, runs: Arc<AtomicUsize>| async move {
            c.run(deadline, || async {
                let n = runs.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(100)).await;
                format!("run {n}")
            })
            .await
        };
        let first = tokio::spawn(one(c.clone(), runs.clone()));
        tokio::time::sleep(Duration::from_millis(20)).await;
        let waiters: Vec<_> = (0..8)
            .map(|_| tokio::spawn(one(c.clone(), runs.clone())))
            .collect();
        assert_eq!(first.await.unwrap(), "run 0");
        for w in waiters {
            // Arrived during run 0, which finished after they arrived.
            assert_eq!(w.await.unwrap(), "run 0");
        }
        // Arrives after run 0 finished: a fresh collection.
        assert_eq!(one(c.clone(), runs.clone()).await, "run 1");
        assert_eq!(runs.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_stuck_collection_does_not_hold_later_requests_past_their_deadline() {
        let c: Arc<Coalescer<bytes::Bytes>> = Arc::new(Coalescer::new());
        let c2 = c.clone();
        let far = tokio::time::Instant::now() + Duration::from_secs(30);
        let stuck = tokio::spawn(async move {
            c2.run(far, || async {
                tokio::time::sleep(Duration::from_secs(30)).await;
                String::from("late")
            })
            .await
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        let near = tokio::time::Instant::now() + Duration::from_millis(100);
        let started = Instant::now();
        let body = c
            .run(near, || async {
                String::from("timed out, collectors failed")
            })
            .await;
        assert_eq!(body, "timed out, collectors failed");
        assert!(started.elapsed() < Duration::from_secs(5));
        stuck.abort();
    }
}
