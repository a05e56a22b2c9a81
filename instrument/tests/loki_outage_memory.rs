//! With Loki down, the caller's cost stays flat: events beyond the bound are dropped (and
//! counted) before being formatted, and memory stays at the bound. Asserts on drops and RSS,
//! never on time. Its own test binary, so no other test disturbs the RSS readings.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use mcp_instrument::logs::{LokiConfig, loki};
use support::{free_port, rss_bytes, wait_until};
use tracing_subscriber::prelude::*;

#[test]
fn with_loki_refusing_memory_stays_at_the_bound_and_every_drop_is_counted() {
    let port = free_port();
    let mut cfg = LokiConfig::new(format!("http://127.0.0.1:{port}"));
    cfg.labels = vec![("service".into(), "test".into())];
    cfg.max_bytes = 4 << 20;
    cfg.min_backoff = Duration::from_millis(20);
    cfg.max_backoff = Duration::from_millis(200);
    cfg.flush_timeout = Duration::from_millis(300);
    let (layer, handle) = loki(cfg).unwrap();
    let d = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    let emit = |n: u64| {
        tracing::dispatcher::with_default(&d, || {
            let span = tracing::info_span!("job", trace_id = "0af7651916cd43dd8448eb211c80319c");
            let _e = span.enter();
            for seq in 0..n {
                tracing::info!(
                    seq,
                    venue = "xnas",
                    side = "buy",
                    "Order accepted by the matching engine."
                );
            }
        });
    };
    let before = rss_bytes();
    emit(300_000);
    let first = rss_bytes();
    emit(300_000);
    let second = rss_bytes();
    assert!(wait_until(Duration::from_secs(10), || handle
        .stats()
        .push_errors
        >= 1));
    let s = handle.stats();
    eprintln!(
        "rss before {} KiB, after 300k {} KiB, after 600k {} KiB; {s:?}",
        before / 1024,
        first / 1024,
        second / 1024
    );
    assert!(s.held_bytes <= 4 << 20);
    assert_eq!(s.sent, 0);
    assert_eq!(
        s.dropped_total() + s.held_events,
        600_000,
        "every drop counted"
    );
    // The queue may hold 4 MiB; allow allocator slack, but nothing like tracing-loki's
    // hundreds of MiB.
    assert!(
        first.saturating_sub(before) < 32 << 20,
        "grew {} KiB",
        (first - before) / 1024
    );
    // Flat: the second 300k events (all dropped at the bound) add nothing that stays.
    assert!(
        second.saturating_sub(first) < 4 << 20,
        "grew {} KiB",
        (second - first) / 1024
    );
    let report = handle.shutdown();
    assert_eq!(report.stats.dropped_total(), 600_000);
}
