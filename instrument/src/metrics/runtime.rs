//! Tokio runtime metrics, read at scrape time from the runtime `init` was called in (or the
//! one given to the builder). Only tokio's stable metrics are used, so no `tokio_unstable`.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use mcp_text_format::MetricType::{Counter, Gauge};

use super::Builtin;

/// Keeps the handle and the previous busy reading, for the busy ratio between scrapes.
#[derive(Debug)]
pub(crate) struct RuntimeMetrics {
    handle: tokio::runtime::Handle,
    last: Mutex<Option<(Instant, Duration)>>,
}

impl RuntimeMetrics {
    pub(crate) fn new(handle: tokio::runtime::Handle) -> Self {
        Self {
            handle,
            last: Mutex::new(None),
        }
    }

    /// Appends the runtime families.
    pub(crate) fn families(&self, out: &mut Vec<Builtin<'_>>) {
        let m = self.handle.metrics();
        let workers = m.num_workers();
        let busy: Duration = (0..workers).map(|w| m.worker_total_busy_duration(w)).sum();
        let parks: u64 = (0..workers).map(|w| m.worker_park_count(w)).sum();
        let now = Instant::now();
        // Busy share of the worker time since the previous scrape (since start on the first).
        let ratio = {
            let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
            let r = match *last {
                Some((t, b)) => {
                    let wall = now.duration_since(t).as_secs_f64() * workers.max(1) as f64;
                    if wall > 0.0 {
                        (busy.saturating_sub(b).as_secs_f64() / wall).clamp(0.0, 1.0)
                    } else {
                        0.0
                    }
                }
                None => 0.0,
            };
            *last = Some((now, busy));
            r
        };
        let mut family = |name, kind, help, value: f64| {
            out.push(Builtin::one(name, help, kind, None, value));
        };
        family(
            "tokio_runtime_workers",
            Gauge,
            "Number of worker threads of the Tokio runtime.",
            workers as f64,
        );
        family(
            "tokio_runtime_alive_tasks",
            Gauge,
            "Number of tasks alive in the Tokio runtime.",
            m.num_alive_tasks() as f64,
        );
        family(
            "tokio_runtime_global_queue_depth",
            Gauge,
            "Number of tasks waiting in the Tokio runtime's global queue.",
            m.global_queue_depth() as f64,
        );
        family(
            "tokio_runtime_worker_busy_seconds_total",
            Counter,
            "Time the Tokio worker threads spent busy, summed over workers.",
            busy.as_secs_f64(),
        );
        family(
            "tokio_runtime_worker_parks_total",
            Counter,
            "Times the Tokio worker threads parked, summed over workers.",
            parks as f64,
        );
        family(
            "tokio_runtime_busy_ratio",
            Gauge,
            "Share of Tokio worker time spent busy since the previous scrape (0 to 1).",
            ratio,
        );
    }
}
