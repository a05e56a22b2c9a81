//! Issue 17, item 7: the batch in flight when Loki stopped answering was stored twice (once
//! from the timed-out request, once from the retry). Delivery is at-least-once by design (see
//! the README); what is new is that such retries are counted, as
//! `mcp_log_batches_retried_unknown_total`, so a duplicate in Loki can be explained. A retry
//! after an answer (a 500) or after a failed connect cannot duplicate and is not counted.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use mcp_instrument::logs::{LokiConfig, LokiHandle, loki};
use support::{FakeLoki, Mode, free_port, wait_until};
use tracing::Dispatch;
use tracing_subscriber::prelude::*;

fn config(url: &str) -> LokiConfig {
    let mut cfg = LokiConfig::new(url);
    cfg.labels = vec![("service".into(), "test".into())];
    cfg.batch_wait = Duration::from_millis(20);
    cfg.request_timeout = Duration::from_millis(300);
    cfg.connect_timeout = Duration::from_millis(300);
    cfg.min_backoff = Duration::from_millis(10);
    cfg.max_backoff = Duration::from_millis(50);
    cfg.flush_timeout = Duration::from_secs(3);
    cfg
}

fn shipper(url: &str) -> (Dispatch, LokiHandle) {
    let (layer, handle) = loki(config(url)).unwrap();
    (
        Dispatch::new(tracing_subscriber::registry().with(layer)),
        handle,
    )
}

fn emit(d: &Dispatch, n: u64) {
    tracing::dispatcher::with_default(d, || {
        for seq in 0..n {
            tracing::info!(seq, "Line.");
        }
    });
}

#[test]
fn a_retry_after_a_timed_out_push_is_counted() {
    let fake = FakeLoki::start();
    fake.set_mode(Mode::Hang);
    let (d, handle) = shipper(&fake.url());
    emit(&d, 10);
    // The first push hangs and times out; at least one retry follows while still hung.
    assert!(wait_until(Duration::from_secs(30), || fake.requests() >= 2));
    fake.set_mode(Mode::Accept);
    assert!(fake.wait_for_entries(10, Duration::from_secs(30)));
    let report = handle.shutdown();
    eprintln!(
        "figure: hung then up: {} pushes, {} retried after an unknown outcome, {} stored",
        fake.requests(),
        report.stats.batches_retried_unknown,
        fake.entry_count()
    );
    assert!(
        report.stats.batches_retried_unknown >= 1,
        "{:?}",
        report.stats
    );
    assert_eq!(report.stats.sent, 10);
    assert!(report.completed, "{report:?}");
    assert_eq!(report.undelivered, 0);
}

#[test]
fn retries_after_an_answer_or_a_failed_connect_are_not_counted() {
    let fake = FakeLoki::start();
    fake.set_mode(Mode::Status(500));
    let (d, handle) = shipper(&fake.url());
    emit(&d, 10);
    assert!(wait_until(Duration::from_secs(30), || fake.requests() >= 3));
    fake.set_mode(Mode::Accept);
    assert!(fake.wait_for_entries(10, Duration::from_secs(30)));
    let report = handle.shutdown();
    assert!(report.stats.push_errors >= 3);
    assert_eq!(
        report.stats.batches_retried_unknown, 0,
        "{:?}",
        report.stats
    );

    // Nothing listens on this port: every attempt fails to connect.
    let url = format!("http://127.0.0.1:{}", free_port());
    let (d, handle) = shipper(&url);
    emit(&d, 10);
    let stats = || handle.stats();
    assert!(wait_until(Duration::from_secs(30), || stats().push_errors >= 3));
    let report = handle.shutdown();
    assert_eq!(
        report.stats.batches_retried_unknown, 0,
        "{:?}",
        report.stats
    );
    assert_eq!(report.undelivered, 10);
    assert!(!report.completed, "lines were lost: not completed");
    assert!(
        report
            .last_error
            .as_deref()
            .unwrap_or("")
            .starts_with("unreachable:"),
        "{report:?}"
    );
}

#[test]
fn the_counter_is_on_metrics_with_help() {
    let fake = FakeLoki::start();
    fake.set_mode(Mode::Hang);
    let guard = mcp_instrument::Builder::new("retry_test")
        .ignore_env()
        .no_metrics_listener()
        .loki_url(fake.url())
        .loki_config({
            // init adds service and host itself.
            let mut c = config(&fake.url());
            c.labels.clear();
            c
        })
        .log_format(mcp_instrument::LogFormat::Off)
        .init()
        .unwrap();
    for seq in 0..5u64 {
        tracing::info!(seq, "Line.");
    }
    assert!(wait_until(Duration::from_secs(30), || fake.requests() >= 2));
    fake.set_mode(Mode::Accept);
    assert!(fake.wait_for_entries(5, Duration::from_secs(30)));
    let text = guard.render();
    assert!(
        text.contains("# HELP mcp_log_batches_retried_unknown_total "),
        "{text}"
    );
    assert!(
        text.contains("# TYPE mcp_log_batches_retried_unknown_total counter"),
        "{text}"
    );
    let value = text
        .lines()
        .find(|l| l.starts_with("mcp_log_batches_retried_unknown_total{"))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap();
    assert!(value >= 1.0, "{text}");
    drop(guard);
}
