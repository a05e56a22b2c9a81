//! Every collector (and every legacy group) over rows captured from a real PostgreSQL, compared
//! byte for byte with `tests/golden/<collector>.prom`, each golden linted by `promtool check
//! metrics`. No server runs: `mcp_testkit::pgwire::FakePostgres` replays the captured rows over
//! the wire protocol, so the collectors run unchanged through tokio-postgres (binary decoding,
//! NULLs and all).
//!
//! Two fixtures: `tests/fixtures/pg/rows.json`, captured from a `PgCluster` with a table, an
//! index, a replication slot, pg_stat_statements and an idle session; and the same statements with
//! every cell NULL (derived in the test), which each collector must survive: its output is
//! `tests/golden/null/<collector>.prom`.
//!
//! The capture runs every collector once on the real server and records the rows of every
//! statement they prepared, so a new collector needs no edit in this file. Capture again (after
//! adding a collector or changing a statement) with
//! `MCP_CAPTURE_PG_FIXTURES=1 cargo nextest run -p mcp-postgres-exporter --run-ignored only -E 'test(capture_pg_fixtures)'`,
//! then regenerate the goldens with `MCP_UPDATE_GOLDEN=1` and review both diffs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use mcp_exporter_core::{Collector, MetricSet};
use mcp_postgres_exporter::collector::TABLE;
use mcp_postgres_exporter::queries;
use mcp_postgres_exporter::session::{Conn, ScrapeOptions, Session, SlowCaches};
use mcp_testkit::golden;
use mcp_testkit::pgwire::{FakePostgres, Statement, parse_fixture, write_fixture};

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/pg/rows.json");

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
async fn every_collector_survives_all_null_rows() {
    let statements = parse_fixture(&std::fs::read_to_string(FIXTURE).unwrap()).unwrap();
    let failures = check(all_null(&statements), "null/").await;
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn every_golden_passes_promtool() {
    for (name, _) in everything() {
        for dir in ["", "null/"] {
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

/// Captures `tests/fixtures/pg/rows.json` from a real server (see the module doc).
#[tokio::test]
#[ignore = "captures fixtures from a real PgCluster; run on purpose with MCP_CAPTURE_PG_FIXTURES=1"]
async fn capture_pg_fixtures() {
    assert_eq!(
        std::env::var("MCP_CAPTURE_PG_FIXTURES").as_deref(),
        Ok("1"),
        "set MCP_CAPTURE_PG_FIXTURES=1 to overwrite the committed fixture"
    );
    let pg = mcp_testkit::PgCluster::start_with_conf(
        "shared_preload_libraries = 'pg_stat_statements'\n",
    )
    .unwrap();
    pg.psql(
        "postgres",
        "CREATE EXTENSION pg_stat_statements; \
         CREATE TABLE cdb_orders (id int PRIMARY KEY, qty int); \
         INSERT INTO cdb_orders SELECT g, g FROM generate_series(1, 1000) g; \
         UPDATE cdb_orders SET qty = qty + 1 WHERE id < 10; DELETE FROM cdb_orders WHERE id > 990; \
         ANALYZE cdb_orders; SELECT count(*) FROM cdb_orders WHERE id = 5; \
         SELECT pg_create_physical_replication_slot('cdb_replica', true);",
    );
    let mut idle = pg.psql_background("postgres", "SET application_name = 'cdb_core';");
    std::thread::sleep(std::time::Duration::from_millis(500));
    let (client, connection) = tokio_postgres::connect(&pg.dsn("postgres"), tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let row = client.query_one(queries::VERSION, &[]).await.unwrap();
    let conn = Arc::new(Conn::new(client, row.get(0), row.get(1)));
    // Run every collector and legacy group once on the real server: the connection's prepared
    // statements are then exactly what they send, so a new collector needs no edit here.
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
        let rows = client.query(&statement, &[]).await.unwrap();
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
    std::fs::create_dir_all(std::path::Path::new(FIXTURE).parent().unwrap()).unwrap();
    std::fs::write(FIXTURE, write_fixture(&captured)).unwrap();
    let _ = idle.kill();
    let _ = idle.wait();
}
