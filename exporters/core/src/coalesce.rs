//! Concurrent scrapes of one target share one collection.
//!
//! Two Prometheus replicas (or a replica and a curl) scraping at the same moment would otherwise
//! collect twice: double the backend work, and under a burst of N concurrent scrapes N response
//! bodies alive at once (the exporters' peak memory). A request that arrives while a collection
//! runs waits for it and serves its body; one that arrives after it finished starts a new one,
//! so no answer is older than the request. The postgres exporter does the same around its
//! connection (`target.rs`).

use std::sync::Mutex;
use std::time::Instant;

use bytes::Bytes;

/// One target's collections, run one at a time and shared by the requests that waited.
#[derive(Debug, Default)]
pub struct Coalescer {
    running: tokio::sync::Mutex<()>,
    last: Mutex<Option<(Instant, Bytes)>>,
}

impl Coalescer {
    /// A new coalescer with nothing collected yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// The body of a collection that finished after this call arrived: the one in flight, or a
    /// new one run by `collect`. If the one in flight outlives `deadline`, `collect` runs
    /// without waiting (its own deadline has passed, so it reports its collectors as failed
    /// rather than queue behind a stuck backend).
    pub async fn run<F, Fut>(&self, deadline: tokio::time::Instant, collect: F) -> Bytes
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = String>,
    {
        let arrived = Instant::now();
        let Ok(_guard) = tokio::time::timeout_at(deadline, self.running.lock()).await else {
            return Bytes::from(collect().await);
        };
        if let Ok(last) = self.last.lock()
            && let Some((finished, body)) = last.as_ref()
            && *finished > arrived
        {
            return body.clone();
        }
        let body = Bytes::from(collect().await);
        if let Ok(mut last) = self.last.lock() {
            *last = Some((Instant::now(), body.clone()));
        }
        body
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
        let c = Arc::new(Coalescer::new());
        let runs = Arc::new(AtomicUsize::new(0));
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        let one = |c: Arc<Coalescer>, runs: Arc<AtomicUsize>| async move {
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
        let c = Arc::new(Coalescer::new());
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
