//! Fault handling: the cluster is killed in the middle of a scrape loop, then restarted, without
//! restarting the exporter; and a long scrape loop grows neither file descriptors nor server
//! connections.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::*;

const COLLECTORS: [&str; 9] = [
    "database",
    "locks",
    "replication",
    "replication_slot",
    "stat_bgwriter",
    "stat_database",
    "stat_user_tables",
    "statio_user_tables",
    "wal",
];

/// `postgres_exporter_last_scrape_error_reason{reason="REASON"}`.
fn reason_series(reason: &str) -> String {
    format!("postgres_exporter_last_scrape_error_reason{{reason=\"{reason}\"}}")
}

fn exporter_backends(pg: &PgCluster) -> usize {
    pg.psql(
        "postgres",
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'postgres_exporter'",
    )
    .parse()
    .unwrap()
}

#[test]
fn killed_cluster_is_pg_up_0_at_once_and_pg_up_1_after_restart() {
    let mut pg = PgCluster::start_new();
    let exporter = Exporter::start(&[("DATA_SOURCE_NAME", &pg.dsn("postgres"))], &[]);
    for _ in 0..5 {
        let text = exporter.metrics();
        assert_eq!(sample(&text, "pg_up"), Some(1.0));
        // A good scrape: the reason family's one series is the empty reason, 0.
        assert_eq!(sample(&text, &reason_series("")), Some(0.0), "{text}");
    }

    // A scrape loop runs while the cluster dies: every answer is HTTP 200.
    let url = exporter.url("/metrics");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let looper = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut codes = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                codes.push(get_with(&url, &[]).0);
            }
            codes
        })
    };
    std::thread::sleep(Duration::from_millis(200));
    pg.stop();
    std::thread::sleep(Duration::from_millis(200));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let codes = looper.join().unwrap();
    assert!(
        !codes.is_empty() && codes.iter().all(|c| *c == 200),
        "{codes:?}"
    );
    // The very next scrape notices: HTTP 200, pg_up 0, error 1, every collector 0.
    let (code, text) = exporter.get("/metrics");
    assert_eq!(code, 200);
    assert_eq!(sample(&text, "pg_up"), Some(0.0), "{text}");
    assert_eq!(sample(&text, "pg_exporter_last_scrape_error"), Some(1.0));
    for c in COLLECTORS {
        assert_eq!(
            sample(
                &text,
                &format!("pg_scrape_collector_success{{collector=\"{c}\"}}")
            ),
            Some(0.0),
            "{c}"
        );
    }
    assert!(!text.contains("pg_static{"));
    // The scrape loop already saw the connection go and tried to reconnect: nothing listens
    // at the port any more.
    assert_eq!(
        sample(&text, &reason_series("connection refused")),
        Some(1.0),
        "{text}"
    );
    // And it stays down without panicking while the server is gone. These scrapes come faster
    // than the reconnect backoff (100 ms doubling to 1 s), so most are refused without an
    // attempt: they repeat the failed attempt's reason, one outage reading as one series.
    for _ in 0..10 {
        let (code, text) = exporter.get("/metrics");
        assert_eq!(code, 200);
        assert_eq!(sample(&text, "pg_up"), Some(0.0));
        assert_eq!(
            sample(&text, &reason_series("connection refused")),
            Some(1.0),
            "{text}"
        );
        assert_eq!(sample(&text, &reason_series("")), None, "{text}");
    }

    pg.start();
    // Reconnect attempts are spaced by at most 1 s of backoff; after that the next scrape is up.
    std::thread::sleep(Duration::from_millis(1100));
    let text = exporter.metrics();
    assert_eq!(sample(&text, "pg_up"), Some(1.0), "{text}");
    // Up again: back to the empty reason, and the outage's series is gone.
    assert_eq!(sample(&text, &reason_series("")), Some(0.0), "{text}");
    assert_eq!(
        sample(&text, &reason_series("connection refused")),
        None,
        "{text}"
    );
    for c in COLLECTORS {
        assert_eq!(
            sample(
                &text,
                &format!("pg_scrape_collector_success{{collector=\"{c}\"}}")
            ),
            Some(1.0),
            "{c}"
        );
    }
    assert!(!exporter.logs().contains("panicked"));
}

#[test]
fn five_hundred_scrapes_grow_neither_fds_nor_connections() {
    let pg = PgCluster::start_new();
    let exporter = Exporter::start(&[("DATA_SOURCE_NAME", &pg.dsn("postgres"))], &[]);
    for _ in 0..10 {
        exporter.metrics();
    }
    let fds_before = exporter.open_fds();
    let backend = "SELECT pid, backend_start FROM pg_stat_activity WHERE application_name = 'postgres_exporter'";
    let backend_before = pg.psql("postgres", backend);
    assert_eq!(exporter_backends(&pg), 1);
    for _ in 0..500 {
        let text = exporter.metrics();
        assert!(text.contains("pg_up 1\n"));
    }
    assert_eq!(exporter_backends(&pg), 1);
    // The same backend served all 500 scrapes: no reconnect, no extra session.
    assert_eq!(pg.psql("postgres", backend), backend_before);
    let fds_after = exporter.open_fds();
    assert!(
        fds_after <= fds_before + 2,
        "fds {fds_before} -> {fds_after}"
    );
}
