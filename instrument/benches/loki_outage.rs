//! Memory under a Loki outage, and a 200,000-event burst with Loki up, with default bounds.
//!
//! `cargo bench -p mcp-instrument --bench loki_outage` (`MCP_OUTAGE_SECS` sets the outage
//! length, default 60). Prints one line per figure; the figures are in BENCHMARKS.md.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use mcp_instrument::logs::{LokiConfig, loki};
use tracing_subscriber::prelude::*;

fn rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse::<f64>().ok())
        })
        .unwrap_or(0.0)
        / 1024.0
}

fn dispatch(url: String) -> (tracing::Dispatch, mcp_instrument::logs::LokiHandle) {
    let mut cfg = LokiConfig::new(url);
    cfg.labels = vec![("service".into(), "bench".into())];
    cfg.flush_timeout = Duration::from_secs(10);
    let (layer, handle) = loki(cfg).unwrap();
    (
        tracing::Dispatch::new(tracing_subscriber::registry().with(layer)),
        handle,
    )
}

fn main() {
    // `cargo bench` passes `--bench`; this program has no options of its own.
    let secs: u64 = std::env::var("MCP_OUTAGE_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(60);

    // 1. Loki refusing, 20,000 events/s (200 every 10 ms) for `secs` seconds, default bounds.
    let (d, handle) = dispatch(format!("http://{}", common::refused()));
    let start_rss = rss_mib();
    let mut max_rss = start_rss;
    let start = Instant::now();
    let mut next = start;
    let mut seq = 0u64;
    let mut last_print = start;
    println!("loki_outage_refusing: rss at start {start_rss:.1} MiB");
    tracing::dispatcher::with_default(&d, || {
        let span = tracing::info_span!(
            "http_request",
            trace_id = "0af7651916cd43dd8448eb211c80319c"
        );
        let _e = span.enter();
        while start.elapsed() < Duration::from_secs(secs) {
            for _ in 0..200 {
                seq += 1;
                tracing::info!(
                    seq,
                    venue = "xnas",
                    side = "buy",
                    "Order accepted by the matching engine."
                );
            }
            next += Duration::from_millis(10);
            if let Some(wait) = next.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
            max_rss = max_rss.max(rss_mib());
            if last_print.elapsed() >= Duration::from_secs(5) {
                last_print = Instant::now();
                let s = handle.stats();
                println!(
                    "loki_outage_refusing: t={:>3}s rss {:.1} MiB held {:.1} MiB ({} events) dropped {} push_errors {}",
                    start.elapsed().as_secs(),
                    rss_mib(),
                    s.held_bytes as f64 / 1048576.0,
                    s.held_events,
                    s.dropped_total(),
                    s.push_errors
                );
            }
        }
    });
    let s = handle.stats();
    println!(
        "loki_outage_refusing: {seq} events in {secs}s; rss start {start_rss:.1} MiB, max {max_rss:.1} MiB, end {:.1} MiB; held {:.1} MiB; dropped {} (all counted: {})",
        rss_mib(),
        s.held_bytes as f64 / 1048576.0,
        s.dropped_total(),
        s.dropped_total() + s.held_events == seq
    );
    let t = Instant::now();
    let report = handle.shutdown();
    println!(
        "loki_outage_refusing: shutdown took {:?} (flush_timeout 10s), completed {}",
        t.elapsed(),
        report.completed
    );

    // 2. A 200,000-event tight burst with Loki up (a local 204 responder), default bounds.
    let (d, handle) = dispatch(format!("http://{}", common::loki_up()));
    let t = Instant::now();
    tracing::dispatcher::with_default(&d, || {
        let span = tracing::info_span!(
            "http_request",
            trace_id = "0af7651916cd43dd8448eb211c80319c"
        );
        let _e = span.enter();
        for seq in 0..200_000u64 {
            tracing::info!(
                seq,
                venue = "xnas",
                side = "buy",
                "Order accepted by the matching engine."
            );
        }
    });
    let burst = t.elapsed();
    let report = handle.shutdown();
    let s = report.stats;
    println!(
        "loki_burst_200k_default_bounds: emitted in {burst:?} ({:.0} ns/event); sent {} dropped {} (queue_full {}, bytes_limit {}); flush completed {}",
        burst.as_nanos() as f64 / 200_000.0,
        s.sent,
        s.dropped_total(),
        s.dropped_queue_full,
        s.dropped_bytes_limit,
        report.completed
    );
}
