//! Faults: Redis killed mid-loop → `redis_up 0` on the next scrape; restarted → `redis_up 1`
//! without restarting the exporter; SIGSTOPped → the scrape ends at its deadline with
//! `redis_up 0`; 1000 scrapes reuse one connection and open no file descriptors.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{Exporter, value};
use mcp_testkit::{RedisServer, wait_until};

fn connections_received(redis: &RedisServer) -> f64 {
    redis
        .cli(&["INFO", "stats"])
        .lines()
        .find_map(|l| l.strip_prefix("total_connections_received:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap()
}

#[test]
fn kill_restart_and_pause_are_reported_not_fatal() {
    let mut redis = RedisServer::start().unwrap();
    let ours = Exporter::start(&[
        &format!("--redis.addr={}", redis.url()),
        "--connection-timeout=1s",
    ]);
    assert_eq!(value(&ours.metrics(), "redis_up"), Some(1.0));

    redis.kill();
    let text = ours.metrics();
    assert_eq!(value(&text, "redis_up"), Some(0.0));
    assert!(
        text.contains("redis_exporter_last_scrape_error{err=\"connect"),
        "{text}"
    );

    redis.restart().unwrap();
    assert!(
        wait_until(Duration::from_secs(10), || value(
            &ours.metrics(),
            "redis_up"
        ) == Some(1.0)),
        "redis_up returns to 1 without restarting the exporter"
    );

    redis.pause();
    // The HTTP client's 30 s timeout would fail this call; the scrape ends at its own deadline
    // (X-Prometheus-Scrape-Timeout-Seconds is absent, so --connection-timeout=1s bounds it).
    let text = ours.metrics();
    redis.resume();
    assert_eq!(value(&text, "redis_up"), Some(0.0), "{text}");
    assert!(text.contains("err=\"timeout\""), "{text}");
    assert!(wait_until(Duration::from_secs(10), || value(
        &ours.metrics(),
        "redis_up"
    ) == Some(1.0)));

    // The error was logged once per state change, not once per scrape.
    let logs = ours.logs();
    assert!(logs.matches("Redis scrape failed.").count() <= 4, "{logs}");
}

#[test]
fn a_thousand_scrapes_share_one_connection_and_no_fds_leak() {
    let redis = RedisServer::start().unwrap();
    let ours = Exporter::start(&[&format!("--redis.addr={}", redis.url())]);
    ours.metrics();
    let fds = ours.fds();
    let before = connections_received(&redis);
    for _ in 0..1000 {
        assert!(ours.metrics().contains("redis_up 1\n"));
    }
    assert_eq!(
        connections_received(&redis),
        before + 1.0,
        "only the redis-cli call connected"
    );
    assert!(ours.fds() <= fds + 2, "fds {} -> {}", fds, ours.fds());
}

#[test]
fn concurrent_scrapes_share_one_collection() {
    let redis = RedisServer::start().unwrap();
    let ours = Exporter::start(&[
        &format!("--redis.addr={}", redis.url()),
        "--connection-timeout=20s",
    ]);
    let scrapes = |text: &str| value(text, "redis_exporter_scrapes_total").unwrap();
    let before = scrapes(&ours.metrics());
    // Paused, Redis holds the first collection; every request that arrives meanwhile waits
    // for it and is answered with its body instead of collecting again.
    redis.pause();
    let bodies: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..12).map(|_| s.spawn(|| ours.metrics())).collect();
        std::thread::sleep(Duration::from_millis(1500));
        redis.resume();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for b in &bodies {
        assert_eq!(value(b, "redis_up"), Some(1.0), "{b}");
        assert_eq!(scrapes(b), before + 1.0, "one collection served them all");
    }
    // A request after that collection finished gets a fresh one.
    assert_eq!(scrapes(&ours.metrics()), before + 2.0);
}
