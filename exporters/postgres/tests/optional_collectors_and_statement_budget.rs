//! The off-by-default collectors work when enabled (every one reports success), a duplicate series
//! is dropped and counted instead of failing the scrape, and a default scrape sends few statements
//! (counted with pg_stat_statements for a dedicated role; the Go exporter sends 12 in 0.11.1 and
//! about 24 in v0.15).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;

const OPTIONAL: &[(&str, &str)] = &[
    ("postmaster", "pg_postmaster_start_time_seconds"),
    ("long_running_transactions", "pg_long_running_transactions"),
    ("stat_statements", "pg_stat_statements_calls_total"),
    (
        "database_wraparound",
        "pg_database_wraparound_age_datfrozenxid_seconds",
    ),
    ("stat_activity_autovacuum", ""),
    ("process_idle", "pg_process_idle_seconds"),
    (
        "statio_user_indexes",
        "pg_statio_user_indexes_idx_blks_read_total",
    ),
    ("xlog_location", "pg_xlog_location_bytes"),
    ("stat_wal_receiver", ""),
];

#[test]
fn every_optional_collector_succeeds_when_enabled() {
    let pg = PgCluster::start_new();
    pg.psql("postgres", "CREATE EXTENSION pg_stat_statements");
    pg.psql(
        "postgres",
        "CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t SELECT generate_series(1, 100); SELECT count(*) FROM t;",
    );
    let _idle = pg.session("postgres");
    // psql connects asynchronously: wait until its backend is idle, so process_idle has a row
    // even on a loaded machine.
    assert!(mcp_testkit::wait_until(
        std::time::Duration::from_secs(20),
        || {
            pg.psql(
            "postgres",
            "SELECT count(*) FROM pg_stat_activity WHERE state = 'idle' AND backend_type = 'client backend'"
        ) != "0"
        }
    ));
    let mut args: Vec<String> = OPTIONAL
        .iter()
        .map(|(c, _)| format!("--collector.{c}"))
        .collect();
    args.push("--log.level=debug".to_owned());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let exporter = Exporter::start(&[("DATA_SOURCE_NAME", &pg.dsn("postgres"))], &args);
    let text = exporter.metrics();
    for (collector, family) in OPTIONAL {
        assert_eq!(
            sample(
                &text,
                &format!("pg_scrape_collector_success{{collector=\"{collector}\"}}")
            ),
            Some(1.0),
            "{collector}: {}",
            exporter.logs()
        );
        if !family.is_empty() {
            assert!(family_type(&text, family).is_some(), "{family} missing");
        }
    }
    assert_eq!(
        family_type(&text, "pg_process_idle_seconds").as_deref(),
        Some("histogram")
    );
    assert_eq!(
        family_type(&text, "pg_stat_statements_calls_total").as_deref(),
        Some("counter")
    );
    assert_eq!(
        label_keys(&text, "pg_stat_statements_calls_total").unwrap(),
        ["datname", "queryid", "user"]
    );
    assert_eq!(
        text.lines()
            .filter(|l| l.starts_with("pg_scrape_collector_success{"))
            .count(),
        18
    );
    assert!(text.contains("postgres_exporter_dropped_series_total 0\n"));
}

/// Statements the `exporter` role sent per scrape over 20 scrapes.
fn statements_per_scrape(pg: &PgCluster, args: &[&str]) -> f64 {
    let dsn = format!(
        "postgresql://exporter@127.0.0.1:{}/postgres?sslmode=disable",
        pg.port
    );
    let exporter = Exporter::start(&[("DATA_SOURCE_NAME", &dsn)], args);
    exporter.metrics();
    pg.psql("postgres", "SELECT pg_stat_statements_reset()");
    for _ in 0..20 {
        assert!(exporter.metrics().contains("pg_up 1\n"));
    }
    let calls: f64 = pg
        .psql(
            "postgres",
            "SELECT COALESCE(sum(calls), 0) FROM pg_stat_statements s JOIN pg_roles r ON r.oid = s.userid WHERE r.rolname = 'exporter'",
        )
        .parse()
        .unwrap();
    calls / 20.0
}

#[test]
fn a_default_scrape_sends_at_most_seven_statements() {
    let pg = PgCluster::start_new();
    pg.psql("postgres", "CREATE EXTENSION pg_stat_statements");
    pg.psql("postgres", "CREATE ROLE exporter LOGIN SUPERUSER");
    let cached = statements_per_scrape(&pg, &[]);
    eprintln!("statements per scrape: {cached}");
    assert!(cached <= 7.0, "{cached} statements per scrape");
    // Without the caches, pg_settings and pg_database_size are read on every scrape: two more.
    let uncached = statements_per_scrape(
        &pg,
        &[
            "--cache.settings-interval=0s",
            "--cache.database-size-interval=0s",
        ],
    );
    eprintln!("statements per scrape without caches: {uncached}");
    assert_eq!(uncached, cached + 2.0);
}

#[test]
fn duplicate_series_are_dropped_and_counted_not_http_500() {
    let pg = PgCluster::start_new();
    // The same server twice in DATA_SOURCE_NAME: every legacy series is produced twice with the
    // same `server` label (client_golang answers HTTP 500 "was collected before").
    let dsn = pg.dsn("postgres");
    let both = format!("{dsn},{dsn}");
    let exporter = Exporter::start(&[("DATA_SOURCE_NAME", &both)], &[]);
    let (code, text) = exporter.get("/metrics");
    assert_eq!(code, 200);
    assert!(text.contains("pg_up 1\n"));
    let dropped = sample(&text, "postgres_exporter_dropped_series_total").unwrap();
    assert!(dropped > 100.0, "{dropped}");
    let server = format!("127.0.0.1:{}", pg.port);
    let series = format!("pg_settings_max_connections{{server=\"{server}\"}} ");
    assert_eq!(text.lines().filter(|l| l.starts_with(&series)).count(), 1);
    assert!(exporter.logs().contains("Dropped duplicate series."));
}

#[test]
fn legacy_flags_shape_only_the_legacy_families() {
    let pg = PgCluster::start_new();
    let dsn = pg.dsn("postgres");
    let server = format!("127.0.0.1:{}", pg.port);

    let exporter = Exporter::start(
        &[
            ("DATA_SOURCE_NAME", &dsn),
            ("PG_EXPORTER_METRIC_PREFIX", "foo"),
            ("PG_EXPORTER_CONSTANT_LABELS", "env=test,team=db"),
        ],
        &[],
    );
    let text = exporter.metrics();
    // The prefix replaces `pg` in the built-in maps only, as upstream.
    assert!(
        family_type(&text, "foo_stat_activity_count").is_some(),
        "{text}"
    );
    assert!(family_type(&text, "foo_stat_archiver_archived_count").is_some());
    assert!(family_type(&text, "pg_stat_activity_count").is_none());
    assert!(family_type(&text, "pg_settings_max_connections").is_some());
    assert!(family_type(&text, "pg_stat_database_xact_commit").is_some());
    assert_eq!(sample(&text, "pg_up"), Some(1.0));
    assert!(text.contains(&format!(
        "pg_settings_max_connections{{env=\"test\",server=\"{server}\",team=\"db\"}} 50"
    )));
    assert!(text.contains(&format!(
        "foo_stat_archiver_failed_count{{env=\"test\",server=\"{server}\",team=\"db\"}} 0"
    )));
    drop(exporter);

    let exporter = Exporter::start(
        &[
            ("DATA_SOURCE_NAME", &dsn),
            ("PG_EXPORTER_DISABLE_DEFAULT_METRICS", "true"),
            ("PG_EXPORTER_DISABLE_SETTINGS_METRICS", "true"),
        ],
        &[],
    );
    let text = exporter.metrics();
    assert!(!text.contains("pg_settings_"));
    assert!(!text.contains("pg_static"));
    assert!(!text.contains("pg_stat_activity_count"));
    assert!(!text.contains("pg_stat_database_conflicts_confl"));
    assert!(family_type(&text, "pg_stat_database_xact_commit").is_some());
    assert_eq!(sample(&text, "pg_up"), Some(1.0));

    let exporter = Exporter::start(
        &[
            ("DATA_SOURCE_NAME", &dsn),
            ("PG_EXPORTER_WEB_TELEMETRY_PATH", "/m"),
        ],
        &["--collector.disable-defaults", "--collector.locks"],
    );
    let (code, text) = exporter.get("/m");
    assert_eq!(code, 200);
    assert_eq!(
        text.lines()
            .filter(|l| l.starts_with("pg_scrape_collector_success{"))
            .collect::<Vec<_>>(),
        ["pg_scrape_collector_success{collector=\"locks\"} 1"]
    );
}
