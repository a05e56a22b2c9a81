//! Connection hygiene and bounded scrapes: concurrent scrapes use the one connection (counted in
//! `pg_stat_activity`, with our `application_name`), and a scrape against a server that is stuck
//! on a held lock answers within the Prometheus timeout with only the blocked collector failed;
//! the next scrape, once the lock is gone, succeeds on the same connection.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::*;

#[test]
fn concurrent_scrapes_never_open_extra_connections() {
    let pg = PgCluster::start_new();
    let exporter = Exporter::start(&[("DATA_SOURCE_NAME", &pg.dsn("postgres"))], &[]);
    exporter.metrics();
    let url = exporter.url("/metrics");
    let threads: Vec<_> = (0..16)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || {
                for _ in 0..10 {
                    let (code, body) = get_with(&url, &[]);
                    assert_eq!(code, 200);
                    assert!(body.contains("pg_up 1\n"));
                }
            })
        })
        .collect();
    // Count while the scrapes run, and after.
    let mut max_seen = 0;
    for _ in 0..20 {
        let n: usize = pg
            .psql(
                "postgres",
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'postgres_exporter'",
            )
            .parse()
            .unwrap();
        max_seen = max_seen.max(n);
        std::thread::sleep(Duration::from_millis(20));
    }
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(max_seen, 1);
    let total: usize = pg
        .psql(
            "postgres",
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'postgres_exporter'",
        )
        .parse()
        .unwrap();
    assert_eq!(total, 1);
}

#[test]
fn held_lock_fails_only_the_blocked_collector_within_the_scrape_timeout() {
    let pg = PgCluster::start_new();
    pg.psql("postgres", "CREATE DATABASE appdb");
    pg.psql(
        "appdb",
        "CREATE TABLE busy (id int); INSERT INTO busy VALUES (1);",
    );
    let exporter = Exporter::start(
        &[("DATA_SOURCE_NAME", &pg.dsn("appdb"))],
        &["--web.max-scrape-timeout=20s"],
    );
    assert!(exporter.metrics().contains("pg_up 1\n"));

    // ACCESS EXCLUSIVE blocks pg_total_relation_size() in stat_user_tables.
    let mut holder = pg.session("appdb");
    holder.send("BEGIN; LOCK busy IN ACCESS EXCLUSIVE MODE;");
    wait_until(Duration::from_secs(20), || {
        pg.psql(
            "appdb",
            "SELECT count(*) FROM pg_locks WHERE mode = 'AccessExclusiveLock' AND relation = 'busy'::regclass",
        ) != "0"
    });

    let start = Instant::now();
    let (code, text) = get_with(
        &exporter.url("/metrics"),
        &[("X-Prometheus-Scrape-Timeout-Seconds", "2")],
    );
    let took = start.elapsed();
    assert_eq!(code, 200);
    // Bounded by the header, not by the lock (which is held for as long as this test wants).
    assert!(took < Duration::from_secs(10), "took {took:?}");
    assert_eq!(sample(&text, "pg_up"), Some(1.0), "{text}");
    assert_eq!(
        sample(
            &text,
            "pg_scrape_collector_success{collector=\"stat_user_tables\"}"
        ),
        Some(0.0)
    );
    for c in [
        "database",
        "locks",
        "replication",
        "replication_slot",
        "stat_bgwriter",
        "stat_database",
        "statio_user_tables",
        "wal",
    ] {
        assert_eq!(
            sample(
                &text,
                &format!("pg_scrape_collector_success{{collector=\"{c}\"}}")
            ),
            Some(1.0),
            "{c}"
        );
    }
    // The stuck statement was cancelled on the server: nothing of ours waits on the lock.
    wait_until(Duration::from_secs(10), || {
        pg.psql(
            "postgres",
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'postgres_exporter' AND wait_event_type = 'Lock'",
        ) == "0"
    });

    drop(holder);
    let text = exporter.metrics();
    assert_eq!(
        sample(
            &text,
            "pg_scrape_collector_success{collector=\"stat_user_tables\"}"
        ),
        Some(1.0),
        "{text}"
    );
    let n: usize = pg
        .psql(
            "postgres",
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'postgres_exporter'",
        )
        .parse()
        .unwrap();
    assert_eq!(n, 1);
}

#[test]
fn server_side_statement_timeout_bounds_a_scrape_without_the_header() {
    let pg = PgCluster::start_new();
    pg.psql("postgres", "CREATE TABLE busy (id int)");
    let exporter = Exporter::start(
        &[("DATA_SOURCE_NAME", &pg.dsn("postgres"))],
        &["--web.max-scrape-timeout=3s"],
    );
    assert!(exporter.metrics().contains("pg_up 1\n"));
    let mut holder = pg.session("postgres");
    holder.send("BEGIN; LOCK busy IN ACCESS EXCLUSIVE MODE;");
    wait_until(Duration::from_secs(20), || {
        pg.psql(
            "postgres",
            "SELECT count(*) FROM pg_locks WHERE mode = 'AccessExclusiveLock' AND relation = 'busy'::regclass",
        ) != "0"
    });
    let (code, text) = exporter.get("/metrics");
    assert_eq!(code, 200);
    assert_eq!(
        sample(
            &text,
            "pg_scrape_collector_success{collector=\"stat_user_tables\"}"
        ),
        Some(0.0)
    );
    assert_eq!(sample(&text, "pg_up"), Some(1.0));
    drop(holder);
    let text = exporter.metrics();
    assert_eq!(
        sample(
            &text,
            "pg_scrape_collector_success{collector=\"stat_user_tables\"}"
        ),
        Some(1.0)
    );
}

#[test]
fn frozen_backend_answers_within_the_scrape_timeout_then_is_replaced() {
    let pg = PgCluster::start_new();
    let exporter = Exporter::start(&[("DATA_SOURCE_NAME", &pg.dsn("postgres"))], &[]);
    assert!(exporter.metrics().contains("pg_up 1\n"));
    let backends = "SELECT pid FROM pg_stat_activity WHERE application_name = 'postgres_exporter'";
    let frozen = pg.psql("postgres", backends);
    // SIGSTOP the exporter's backend: every statement hangs, like a wedged server or network.
    let signal = |sig: &str| {
        std::process::Command::new("kill")
            .args([sig, &frozen])
            .status()
            .unwrap()
    };
    assert!(signal("-STOP").success());
    let start = Instant::now();
    let (code, text) = get_with(
        &exporter.url("/metrics"),
        &[("X-Prometheus-Scrape-Timeout-Seconds", "2")],
    );
    let took = start.elapsed();
    assert_eq!(code, 200);
    assert!(took < Duration::from_secs(10), "took {took:?}");
    assert_eq!(sample(&text, "pg_exporter_last_scrape_error"), Some(1.0));
    // Every collector that needs the server failed; `database` answers from its size cache.
    for line in text
        .lines()
        .filter(|l| l.starts_with("pg_scrape_collector_success{") && !l.contains("\"database\""))
    {
        assert!(line.ends_with(" 0"), "{line}");
    }

    // The next scrape pings the suspect connection, gets no answer, and reconnects.
    let (code, text) = get_with(
        &exporter.url("/metrics"),
        &[("X-Prometheus-Scrape-Timeout-Seconds", "5")],
    );
    assert_eq!(code, 200);
    assert_eq!(sample(&text, "pg_up"), Some(1.0), "{text}");
    assert_eq!(
        sample(
            &text,
            "pg_scrape_collector_success{collector=\"stat_database\"}"
        ),
        Some(1.0),
        "{text}\n{}",
        exporter.logs()
    );
    assert!(signal("-CONT").success());

    // The frozen backend goes away once it runs again; one connection is left, the new one.
    wait_until(Duration::from_secs(20), || {
        let now = pg.psql("postgres", backends);
        !now.is_empty() && !now.contains('\n') && now != frozen
    });
    let text = exporter.metrics();
    assert!(text.contains("pg_exporter_last_scrape_error 0\n"), "{text}");
    assert!(exporter.logs().contains("does not answer; reconnecting."));
}
