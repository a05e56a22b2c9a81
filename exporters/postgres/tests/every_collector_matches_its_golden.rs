//! Every collector (and every legacy group) over rows captured from a real PostgreSQL, compared
//! byte for byte with `tests/golden/<collector>.prom`, each golden linted by `promtool check
//! metrics`. No server runs: `mcp_testkit::pgwire::FakePostgres` replays the captured rows over
//! the wire protocol, so the collectors run unchanged through tokio-postgres (binary decoding,
//! NULLs and all).
//!
//! Three fixtures:
//! - `tests/fixtures/pg/rows.json`, captured from a primary (`PgCluster`) with a table, an index,
//!   pg_stat_statements, an idle session, an unused replication slot, a standby streaming through
//!   a second slot (`pg_stat_replication`), and an autovacuum worker caught in `pg_stat_activity`
//!   (a table of dead tuples vacuumed with a long cost delay): goldens `tests/golden/<collector>.prom`;
//! - `tests/fixtures/pg/rows-standby.json`, the same statements captured right afterwards on
//!   that standby (`mcp_testkit::standby::Standby`: recovery, a WAL receiver, the received and
//!   replayed positions instead of `pg_current_wal_lsn()`): `tests/golden/standby/<collector>.prom`;
//! - the primary's statements with every cell NULL (derived in the test), which each collector
//!   must survive: `tests/golden/null/<collector>.prom` (the standby sends the same statements).
//!
//! The capture runs every collector once on each real server and records the rows of every
//! statement they prepared, so a new collector needs no edit in this file. It fails rather than
//! write a fixture without a walsender, an autovacuum worker or a WAL receiver. Capture again
//! (after adding a collector or changing a statement) with
//! `MCP_CAPTURE_PG_FIXTURES=1 cargo nextest run -p mcp-postgres-exporter --run-ignored only -E 'test(capture_pg_fixtures)'`,
//! then regenerate the goldens with `MCP_UPDATE_GOLDEN=1 cargo nextest run -p mcp-postgres-exporter
//! -E 'binary(every_collector_matches_its_golden)'` and review both diffs (the captured values
//! are one machine's at one moment: counters, LSNs, timestamps and the port change every capture).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use mcp_exporter_core::{Collector, MetricSet};
use mcp_postgres_exporter::collector::TABLE;
use mcp_postgres_exporter::queries;
use mcp_postgres_exporter::session::{Conn, ScrapeOptions, Session, SlowCaches};
use mcp_testkit::golden;
use mcp_testkit::pgwire::{FakePostgres, Statement, parse_fixture, write_fixture};

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/pg/rows.json");
const FIXTURE_STANDBY: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/pg/rows-standby.json"
);

/// promtool complaints postgres_exporter v0.15 has always had; our names match it byte for byte.
const UPSTREAM_LINTS: &[(&str, &str)] = &[
    (
        "counter metrics should have \"_total\" suffix",
        "postgres_exporter's counters are named after the pg_stat_* columns (pg_stat_database_xact_commit)",
    ),
    (
        "use base unit",
        "upstream's milliseconds columns (pg_stat_database_blk_read_time, pg_stat_bgwriter_*_time)",
    ),
    (
        "non-histogram and non-summary metrics should not have \"_count\" suffix",
        "upstream's names (pg_stat_archiver_archived_count, pg_stat_activity_count)",
    ),
    (
        "metric names should be written in 'snake_case' not 'camelCase'",
        "pg_settings_* follow PostgreSQL's setting names",
    ),
];

fn all_null(statements: &[Statement]) -> Vec<Statement> {
    statements
        .iter()
        .map(|s| {
            let mut s = s.clone();
            // The version row is read at connect; a NULL there is a connect error, not a collector's.
            if s.sql != queries::VERSION {
                for row in &mut s.rows {
                    row.iter_mut().for_each(|c| *c = serde_json::Value::Null);
                }
            }
            s
        })
        .collect()
}

async fn connect(server: &FakePostgres) -> Arc<Conn> {
    let (client, connection) = tokio_postgres::connect(&server.dsn(), tokio_postgres::NoTls)
        .await
        .expect("connect to the replay server");
    tokio::spawn(connection);
    let row = client.query_one(queries::VERSION, &[]).await.unwrap();
    Arc::new(Conn::new(client, row.get(0), row.get(1)))
}

fn session(conn: Arc<Conn>) -> Session {
    let opts = ScrapeOptions {
        server: "127.0.0.1:5432".to_owned(),
        metric_prefix: "pg".to_owned(),
        constant_labels: Default::default(),
        exclude_databases: Vec::new(),
        splice_settings: false,
        settings_ttl: std::time::Duration::ZERO,
        database_size_ttl: std::time::Duration::ZERO,
    };
    Session::new(conn, Arc::new(opts), Arc::new(SlowCaches::default()))
}

/// `(golden name, collector)`: the table's collectors and the legacy groups (`legacy_<name>`).
fn everything() -> Vec<(String, Box<dyn Collector<Session>>)> {
    let mut v: Vec<(String, Box<dyn Collector<Session>>)> = TABLE
        .iter()
        .map(|e| (e.info.name.to_owned(), (e.new)()))
        .collect();
    for (name, group) in mcp_postgres_exporter::legacy::build(true, true) {
        v.push((format!("legacy_{name}"), group));
    }
    v
}

async fn check(statements: Vec<Statement>, dir: &str) -> Vec<String> {
    let server = FakePostgres::replay(&write_fixture(&statements)).unwrap();
    let conn = connect(&server).await;
    let mut failures = Vec::new();
    for (name, collector) in everything() {
        let session = session(conn.clone());
        let mut out = MetricSet::new();
        let text = match collector.collect(&session, &mut out).await {
            Ok(()) => out.encode().0,
            Err(error) => format!("# collector failed: {error}\n"),
        };
        let path = golden::path(env!("CARGO_MANIFEST_DIR"), &format!("{dir}{name}"));
        if let Err(report) = golden::compare(&path, &text) {
            failures.push(format!("{name}: {report}"));
        }
    }
    failures
}

#[tokio::test]
async fn every_collector_matches_its_golden_over_captured_rows() {
    let statements = parse_fixture(&std::fs::read_to_string(FIXTURE).unwrap()).unwrap();
    let failures = check(statements, "").await;
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[tokio::test]
async fn every_collector_matches_its_golden_over_rows_captured_on_a_standby() {
    let statements = parse_fixture(&std::fs::read_to_string(FIXTURE_STANDBY).unwrap()).unwrap();
    let failures = check(statements, "standby/").await;
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[tokio::test]
async fn every_collector_survives_all_null_rows() {
    let statements = parse_fixture(&std::fs::read_to_string(FIXTURE).unwrap()).unwrap();
    let failures = check(all_null(&statements), "null/").await;
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn every_golden_passes_promtool() {
    for (name, _) in everything() {
        for dir in ["", "standby/", "null/"] {
            let path = golden::path(env!("CARGO_MANIFEST_DIR"), &format!("{dir}{name}"));
            let text = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            golden::assert_promtool_clean(&text, UPSTREAM_LINTS);
        }
    }
}

fn cell(row: &tokio_postgres::Row, i: usize, ty: &str) -> serde_json::Value {
    use serde_json::Value;
    let num = |v: f64| {
        serde_json::Number::from_f64(v)
            .map(Value::Number)
            .unwrap_or_else(|| Value::String(format!("{v}")))
    };
    match ty {
        "bool" => row
            .get::<_, Option<bool>>(i)
            .map_or(Value::Null, Value::Bool),
        "int4" => row
            .get::<_, Option<i32>>(i)
            .map_or(Value::Null, Value::from),
        "int8" => row
            .get::<_, Option<i64>>(i)
            .map_or(Value::Null, Value::from),
        "float8" => row.get::<_, Option<f64>>(i).map_or(Value::Null, num),
        _ => row
            .get::<_, Option<String>>(i)
            .map_or(Value::Null, Value::String),
    }
}

/// Runs every collector and legacy group once on the server at `dsn`, then captures the rows of
/// every statement they prepared (the connection's prepared statements are exactly what they
/// send, so a new collector needs no edit here).
async fn capture(dsn: &str) -> Vec<Statement> {
    let (client, connection) = tokio_postgres::connect(dsn, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let row = client.query_one(queries::VERSION, &[]).await.unwrap();
    let conn = Arc::new(Conn::new(client, row.get(0), row.get(1)));
    for (_, collector) in everything() {
        let mut out = MetricSet::new();
        let _ = collector.collect(&session(conn.clone()), &mut out).await;
    }
    let client = &conn.client;
    let mut statements = conn.prepared_sql();
    statements.push(queries::VERSION);
    let mut captured = Vec::new();
    for sql in statements {
        let statement = client.prepare(sql).await.unwrap();
        let columns: Vec<(String, String)> = statement
            .columns()
            .iter()
            .map(|c| (c.name().to_owned(), c.type_().name().to_owned()))
            .collect();
        let rows = client
            .query(&statement, &[])
            .await
            .unwrap_or_else(|e| panic!("{sql} on {dsn}: {e}"));
        let rows = rows
            .iter()
            .map(|r| {
                columns
                    .iter()
                    .enumerate()
                    .map(|(i, (_, ty))| cell(r, i, ty))
                    .collect()
            })
            .collect();
        captured.push(Statement {
            sql: sql.to_owned(),
            columns,
            rows,
        });
    }
    captured
}

/// The rows `sql` returned in a capture (panics if the capture has no such statement).
fn rows_of<'a>(captured: &'a [Statement], sql: &str) -> &'a [Vec<serde_json::Value>] {
    &captured
        .iter()
        .find(|s| s.sql == sql)
        .unwrap_or_else(|| panic!("no rows captured for {sql}"))
        .rows
}

/// Writes a capture, after checking it names no directory of the capturing machine.
fn write_capture(path: &str, captured: &[Statement]) {
    let text = write_fixture(captured);
    for dir in [std::env::temp_dir(), mcp_testkit::workspace_root()] {
        let dir = dir.display().to_string();
        assert!(!text.contains(&dir), "{path} would name {dir}");
    }
    std::fs::create_dir_all(std::path::Path::new(path).parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// How long an autovacuum worker may take to show up in `pg_stat_activity` (naptime is 1 s).
const AUTOVACUUM_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// Captures `tests/fixtures/pg/rows.json` and `rows-standby.json` from a real primary and its
/// streaming standby (see the module doc).
#[tokio::test]
#[ignore = "captures fixtures from a real PgCluster; run on purpose with MCP_CAPTURE_PG_FIXTURES=1"]
async fn capture_pg_fixtures() {
    assert_eq!(
        std::env::var("MCP_CAPTURE_PG_FIXTURES").as_deref(),
        Ok("1"),
        "set MCP_CAPTURE_PG_FIXTURES=1 to overwrite the committed fixtures"
    );
    let pg = mcp_testkit::PgCluster::start_with_conf(
        "shared_preload_libraries = 'pg_stat_statements'\nautovacuum_naptime = 1\n",
    )
    .unwrap();
    // `cdb_orders` is left alone by autovacuum so that its counters are the statements' own;
    // `cdb_churn` is all dead tuples and vacuumed at one page per 100 ms, so its autovacuum
    // worker is still running when the rows are captured.
    pg.psql(
        "postgres",
        "CREATE EXTENSION pg_stat_statements; \
         CREATE TABLE cdb_orders (id int PRIMARY KEY, qty int) WITH (autovacuum_enabled = off); \
         INSERT INTO cdb_orders SELECT g, g FROM generate_series(1, 1000) g; \
         UPDATE cdb_orders SET qty = qty + 1 WHERE id < 10; DELETE FROM cdb_orders WHERE id > 990; \
         ANALYZE cdb_orders; SELECT count(*) FROM cdb_orders WHERE id = 5; \
         SELECT pg_create_physical_replication_slot('cdb_replica', true);",
    );
    let standby = mcp_testkit::standby::Standby::from_primary(&pg, "cdb_standby").unwrap();
    pg.psql(
        "postgres",
        "CREATE TABLE cdb_churn (id int, pad text) \
         WITH (autovacuum_vacuum_cost_delay = 100, autovacuum_vacuum_cost_limit = 1); \
         INSERT INTO cdb_churn SELECT g, repeat('x', 100) FROM generate_series(1, 50000) g; \
         DELETE FROM cdb_churn;",
    );
    let vacuuming = "SELECT count(*) FROM pg_stat_activity \
         WHERE query LIKE 'autovacuum: VACUUM%cdb_churn%' AND xact_start IS NOT NULL";
    assert!(
        mcp_testkit::wait_until(AUTOVACUUM_TIMEOUT, || pg.psql("postgres", vacuuming) == "1"),
        "no autovacuum worker on cdb_churn in pg_stat_activity after {} s; autovacuum stats: {}",
        AUTOVACUUM_TIMEOUT.as_secs(),
        pg.psql(
            "postgres",
            "SELECT n_dead_tup, last_autovacuum, autovacuum_count FROM pg_stat_user_tables \
             WHERE relname = 'cdb_churn'"
        )
    );
    let mut idle = pg.psql_background("postgres", "SET application_name = 'cdb_core';");
    let mut idle_on_standby = standby
        .cluster()
        .psql_background("postgres", "SET application_name = 'cdb_core';");
    std::thread::sleep(std::time::Duration::from_millis(500));

    let primary = capture(&pg.dsn("postgres")).await;
    assert!(
        !rows_of(&primary, queries::STAT_ACTIVITY_AUTOVACUUM).is_empty(),
        "the autovacuum worker finished before the capture"
    );
    assert!(
        rows_of(&primary, queries::REPLICATION)
            .iter()
            .any(|r| r[0] == "r"),
        "no walsender in the primary's pg_stat_replication"
    );
    let replica = capture(&standby.dsn("postgres")).await;
    assert_eq!(
        rows_of(&replica, queries::STAT_WAL_RECEIVER).len(),
        1,
        "no WAL receiver on the standby"
    );
    write_capture(FIXTURE, &primary);
    write_capture(FIXTURE_STANDBY, &replica);
    for child in [&mut idle, &mut idle_on_standby] {
        let _ = child.kill();
        let _ = child.wait();
    }
}
