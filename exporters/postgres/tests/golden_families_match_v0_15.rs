//! Golden comparison against a real cluster with activity: several databases and tables, an
//! idle-in-transaction session holding a lock, a deadlock, a replication slot with a streaming
//! `pg_receivewal`, archiving. Every contract family of v0.15.0's default output must be present
//! with its type and label keys, HELP must equal the Go exporter's (anchor capture) where the name
//! is shared, values must agree with direct SQL, and `promtool check metrics` may only report the
//! historic names upstream keeps.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;

fn anchor() -> std::path::PathBuf {
    mcp_testkit::anchors_dir().join("postgres_exporter_0.11.1.metrics.txt")
}

/// (family, type, label keys) of v0.15.0's default output.
const CONTRACT: &[(&str, &str, &[&str])] = &[
    ("pg_up", "gauge", &[]),
    (
        "pg_static",
        "untyped",
        &["server", "short_version", "version"],
    ),
    ("pg_exporter_last_scrape_duration_seconds", "gauge", &[]),
    ("pg_exporter_last_scrape_error", "gauge", &[]),
    ("pg_exporter_scrapes_total", "counter", &[]),
    ("pg_settings_max_connections", "gauge", &["server"]),
    ("pg_settings_shared_buffers_bytes", "gauge", &["server"]),
    (
        "pg_settings_statement_timeout_seconds",
        "gauge",
        &["server"],
    ),
    ("pg_settings_fsync", "gauge", &["server"]),
    (
        "pg_stat_activity_count",
        "gauge",
        &["application_name", "datname", "server", "state", "usename"],
    ),
    (
        "pg_stat_activity_max_tx_duration",
        "gauge",
        &["application_name", "datname", "server", "state", "usename"],
    ),
    (
        "pg_stat_database_conflicts_confl_tablespace",
        "counter",
        &["datid", "datname", "server"],
    ),
    (
        "pg_stat_database_conflicts_confl_lock",
        "counter",
        &["datid", "datname", "server"],
    ),
    (
        "pg_stat_database_conflicts_confl_snapshot",
        "counter",
        &["datid", "datname", "server"],
    ),
    (
        "pg_stat_database_conflicts_confl_bufferpin",
        "counter",
        &["datid", "datname", "server"],
    ),
    (
        "pg_stat_database_conflicts_confl_deadlock",
        "counter",
        &["datid", "datname", "server"],
    ),
    (
        "pg_stat_replication_pg_current_wal_lsn_bytes",
        "gauge",
        &[
            "application_name",
            "client_addr",
            "server",
            "slot_name",
            "state",
        ],
    ),
    (
        "pg_stat_replication_pg_wal_lsn_diff",
        "gauge",
        &[
            "application_name",
            "client_addr",
            "server",
            "slot_name",
            "state",
        ],
    ),
    (
        "pg_replication_slots_active",
        "gauge",
        &["database", "server", "slot_name"],
    ),
    (
        "pg_replication_slots_pg_wal_lsn_diff",
        "gauge",
        &["database", "server", "slot_name"],
    ),
    ("pg_stat_archiver_archived_count", "counter", &["server"]),
    ("pg_stat_archiver_failed_count", "counter", &["server"]),
    ("pg_stat_archiver_last_archive_age", "gauge", &["server"]),
    ("pg_database_size_bytes", "gauge", &["datname"]),
    ("pg_locks_count", "gauge", &["datname", "mode"]),
    ("pg_replication_lag_seconds", "gauge", &[]),
    ("pg_replication_is_replica", "gauge", &[]),
    (
        "pg_replication_slot_slot_current_wal_lsn",
        "gauge",
        &["slot_name"],
    ),
    (
        "pg_replication_slot_slot_confirmed_flush_lsn",
        "gauge",
        &["slot_name"],
    ),
    (
        "pg_replication_slot_slot_is_active",
        "gauge",
        &["slot_name"],
    ),
    ("pg_stat_bgwriter_checkpoints_timed_total", "counter", &[]),
    ("pg_stat_bgwriter_checkpoints_req_total", "counter", &[]),
    (
        "pg_stat_bgwriter_checkpoint_write_time_total",
        "counter",
        &[],
    ),
    (
        "pg_stat_bgwriter_checkpoint_sync_time_total",
        "counter",
        &[],
    ),
    ("pg_stat_bgwriter_buffers_checkpoint_total", "counter", &[]),
    ("pg_stat_bgwriter_buffers_clean_total", "counter", &[]),
    ("pg_stat_bgwriter_maxwritten_clean_total", "counter", &[]),
    ("pg_stat_bgwriter_buffers_backend_total", "counter", &[]),
    (
        "pg_stat_bgwriter_buffers_backend_fsync_total",
        "counter",
        &[],
    ),
    ("pg_stat_bgwriter_buffers_alloc_total", "counter", &[]),
    ("pg_stat_bgwriter_stats_reset_total", "counter", &[]),
    (
        "pg_stat_database_numbackends",
        "gauge",
        &["datid", "datname"],
    ),
    (
        "pg_stat_database_xact_commit",
        "counter",
        &["datid", "datname"],
    ),
    (
        "pg_stat_database_xact_rollback",
        "counter",
        &["datid", "datname"],
    ),
    (
        "pg_stat_database_blks_read",
        "counter",
        &["datid", "datname"],
    ),
    (
        "pg_stat_database_blks_hit",
        "counter",
        &["datid", "datname"],
    ),
    (
        "pg_stat_database_tup_returned",
        "counter",
        &["datid", "datname"],
    ),
    (
        "pg_stat_database_tup_fetched",
        "counter",
        &["datid", "datname"],
    ),
    (
        "pg_stat_database_tup_inserted",
        "counter",
        &["datid", "datname"],
    ),
    (
        "pg_stat_database_tup_updated",
        "counter",
        &["datid", "datname"],
    ),
    (
        "pg_stat_database_tup_deleted",
        "counter",
        &["datid", "datname"],
    ),
    (
        "pg_stat_database_conflicts",
        "counter",
        &["datid", "datname"],
    ),
    (
        "pg_stat_database_temp_files",
        "counter",
        &["datid", "datname"],
    ),
    (
        "pg_stat_database_temp_bytes",
        "counter",
        &["datid", "datname"],
    ),
    (
        "pg_stat_database_deadlocks",
        "counter",
        &["datid", "datname"],
    ),
    (
        "pg_stat_database_blk_read_time",
        "counter",
        &["datid", "datname"],
    ),
    (
        "pg_stat_database_blk_write_time",
        "counter",
        &["datid", "datname"],
    ),
    (
        "pg_stat_database_stats_reset",
        "counter",
        &["datid", "datname"],
    ),
    (
        "pg_stat_user_tables_seq_scan",
        "counter",
        &["datname", "relname", "schemaname"],
    ),
    (
        "pg_stat_user_tables_seq_tup_read",
        "counter",
        &["datname", "relname", "schemaname"],
    ),
    (
        "pg_stat_user_tables_idx_scan",
        "counter",
        &["datname", "relname", "schemaname"],
    ),
    (
        "pg_stat_user_tables_idx_tup_fetch",
        "counter",
        &["datname", "relname", "schemaname"],
    ),
    (
        "pg_stat_user_tables_n_tup_ins",
        "counter",
        &["datname", "relname", "schemaname"],
    ),
    (
        "pg_stat_user_tables_n_tup_upd",
        "counter",
        &["datname", "relname", "schemaname"],
    ),
    (
        "pg_stat_user_tables_n_tup_del",
        "counter",
        &["datname", "relname", "schemaname"],
    ),
    (
        "pg_stat_user_tables_n_tup_hot_upd",
        "counter",
        &["datname", "relname", "schemaname"],
    ),
    (
        "pg_stat_user_tables_n_live_tup",
        "gauge",
        &["datname", "relname", "schemaname"],
    ),
    (
        "pg_stat_user_tables_n_dead_tup",
        "gauge",
        &["datname", "relname", "schemaname"],
    ),
    (
        "pg_stat_user_tables_n_mod_since_analyze",
        "gauge",
        &["datname", "relname", "schemaname"],
    ),
    (
        "pg_stat_user_tables_last_vacuum",
        "gauge",
        &["datname", "relname", "schemaname"],
    ),
    (
        "pg_stat_user_tables_last_autovacuum",
        "gauge",
        &["datname", "relname", "schemaname"],
    ),
    (
        "pg_stat_user_tables_last_analyze",
        "gauge",
        &["datname", "relname", "schemaname"],
    ),
    (
        "pg_stat_user_tables_last_autoanalyze",
        "gauge",
        &["datname", "relname", "schemaname"],
    ),
    (
        "pg_stat_user_tables_vacuum_count",
        "counter",
        &["datname", "relname", "schemaname"],
    ),
    (
        "pg_stat_user_tables_autovacuum_count",
        "counter",
        &["datname", "relname", "schemaname"],
    ),
    (
        "pg_stat_user_tables_analyze_count",
        "counter",
        &["datname", "relname", "schemaname"],
    ),
    (
        "pg_stat_user_tables_autoanalyze_count",
        "counter",
        &["datname", "relname", "schemaname"],
    ),
    (
        "pg_stat_user_tables_size_bytes",
        "gauge",
        &["datname", "relname", "schemaname"],
    ),
    (
        "pg_statio_user_tables_heap_blocks_read",
        "counter",
        &["datname", "relname", "schemaname"],
    ),
    (
        "pg_statio_user_tables_heap_blocks_hit",
        "counter",
        &["datname", "relname", "schemaname"],
    ),
    (
        "pg_statio_user_tables_idx_blocks_read",
        "counter",
        &["datname", "relname", "schemaname"],
    ),
    (
        "pg_statio_user_tables_idx_blocks_hit",
        "counter",
        &["datname", "relname", "schemaname"],
    ),
    (
        "pg_statio_user_tables_toast_blocks_read",
        "counter",
        &["datname", "relname", "schemaname"],
    ),
    (
        "pg_statio_user_tables_toast_blocks_hit",
        "counter",
        &["datname", "relname", "schemaname"],
    ),
    (
        "pg_statio_user_tables_tidx_blocks_read",
        "counter",
        &["datname", "relname", "schemaname"],
    ),
    (
        "pg_statio_user_tables_tidx_blocks_hit",
        "counter",
        &["datname", "relname", "schemaname"],
    ),
    ("pg_wal_segments", "gauge", &[]),
    ("pg_wal_size_bytes", "gauge", &[]),
    (
        "pg_scrape_collector_duration_seconds",
        "gauge",
        &["collector"],
    ),
    ("pg_scrape_collector_success", "gauge", &["collector"]),
];

/// Families whose HELP v0.15 changed on purpose relative to the 0.11.1 capture.
fn help_changed_in_v015(name: &str) -> bool {
    name.starts_with("pg_settings_")
}

/// Historic names promtool complains about and a drop-in must keep (upstream's own lint output).
fn accepted_lint(line: &str) -> bool {
    let name = line.split_whitespace().next().unwrap_or("");
    name.starts_with("pg_stat_database_")
        || name.starts_with("pg_stat_user_tables_")
        || name.starts_with("pg_statio_user_tables_")
        || name.starts_with("pg_stat_archiver_")
        || name.starts_with("pg_settings_") && name.ends_with("_count")
        || name == "pg_locks_count"
        || name == "pg_stat_activity_count"
}

fn helps(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| l.strip_prefix("# HELP "))
        .filter_map(|l| l.split_once(' '))
        .map(|(n, h)| (n.to_owned(), h.to_owned()))
        .collect()
}

#[test]
fn default_output_has_every_v015_family_with_upstream_types_labels_and_help() {
    let pg = PgCluster::start_with(
        "archive_mode = on\narchive_command = '/bin/true'\nwal_level = replica\n",
        false,
    );
    pg.psql("postgres", "CREATE DATABASE appdb");
    pg.psql("postgres", "CREATE DATABASE analytics");
    pg.psql(
        "appdb",
        "CREATE TABLE orders (id int PRIMARY KEY, v int); \
         INSERT INTO orders SELECT g, g FROM generate_series(1, 5000) g; \
         UPDATE orders SET v = v + 1 WHERE id <= 100; DELETE FROM orders WHERE id > 4900; ANALYZE orders;",
    );
    pg.psql(
        "analytics",
        "CREATE TABLE events (id int, payload text); INSERT INTO events SELECT g, 'x' FROM generate_series(1, 1000) g;",
    );
    pg.psql(
        "postgres",
        "SELECT pg_create_physical_replication_slot('golden_slot')",
    );
    pg.psql("postgres", "SELECT pg_switch_wal()");

    // A walsender streaming into the slot.
    let wal_dir = tempfile::tempdir().unwrap();
    let mut receiver = Command::new(mcp_testkit::find_binary("pg_receivewal").unwrap())
        .args([
            "-D",
            wal_dir.path().to_str().unwrap(),
            "-S",
            "golden_slot",
            "-h",
            "127.0.0.1",
            "-p",
            &pg.port.to_string(),
            "-U",
            "postgres",
            "--no-loop",
        ])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(pg.dir().join("receivewal.log")).unwrap())
        .spawn()
        .unwrap();

    // A deadlock in appdb.
    let mut a = pg.session("appdb");
    let mut b = pg.session("appdb");
    a.send("BEGIN; UPDATE orders SET v = 0 WHERE id = 1;");
    b.send("BEGIN; UPDATE orders SET v = 0 WHERE id = 2;");
    // Both must hold their first row before the crossing updates, or there is no deadlock (a
    // psql that connects late on a loaded machine just queues behind the other).
    wait_until(Duration::from_secs(20), || {
        pg.psql(
            "appdb",
            "SELECT count(*) FROM pg_stat_activity WHERE datname = 'appdb' AND state = 'idle in transaction'",
        ) == "2"
    });
    a.send("UPDATE orders SET v = 0 WHERE id = 2;");
    b.send("UPDATE orders SET v = 0 WHERE id = 1;");
    // The victim's statistics are flushed once its transaction block ends.
    std::thread::sleep(Duration::from_millis(1000));
    a.send("ROLLBACK;");
    b.send("ROLLBACK;");
    wait_until(Duration::from_secs(20), || {
        pg.psql(
            "appdb",
            "SELECT deadlocks FROM pg_stat_database WHERE datname = 'appdb'",
        ) != "0"
    });
    drop((a, b));

    // An idle-in-transaction session holding a lock.
    let mut holder = pg.session("appdb");
    holder.send("BEGIN; LOCK orders IN SHARE ROW EXCLUSIVE MODE;");
    wait_until(Duration::from_secs(20), || {
        pg.psql(
            "appdb",
            "SELECT count(*) FROM pg_stat_activity WHERE state = 'idle in transaction'",
        ) == "1"
    });
    wait_until(Duration::from_secs(20), || {
        let n = pg.psql("postgres", "SELECT count(*) FROM pg_stat_replication");
        if n != "1" {
            eprintln!(
                "receivewal: {}",
                std::fs::read_to_string(pg.dir().join("receivewal.log")).unwrap_or_default()
            );
        }
        n == "1"
    });

    let exporter = Exporter::start(&[("DATA_SOURCE_NAME", &pg.dsn("appdb"))], &[]);
    let _first = exporter.metrics();
    let text = exporter.metrics();
    std::fs::write(
        concat!(env!("CARGO_TARGET_TMPDIR"), "/golden_default.metrics.txt"),
        &text,
    )
    .unwrap();

    // Families are sorted and each appears once (the cached settings block is spliced in place).
    let names: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# HELP "))
        .map(|l| l.split(' ').next().unwrap_or(""))
        .collect();
    let mut sorted = names.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(names, sorted, "families out of order or repeated");

    // Families, types and labels.
    let mut problems = Vec::new();
    for (name, kind, labels) in CONTRACT {
        match family_type(&text, name) {
            None => problems.push(format!("missing {name}")),
            Some(t) if t != *kind => problems.push(format!("{name}: type {t}, want {kind}")),
            Some(_) => {
                let mut got = label_keys(&text, name).unwrap_or_default();
                got.sort();
                if got != *labels {
                    problems.push(format!("{name}: labels {got:?}, want {labels:?}"));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");

    // HELP byte-for-byte with the Go exporter where the family exists in both.
    let anchor = std::fs::read_to_string(anchor()).unwrap();
    let ours: std::collections::HashMap<_, _> = helps(&text).into_iter().collect();
    let mut help_problems = Vec::new();
    for (name, help) in helps(&anchor) {
        if help_changed_in_v015(&name) {
            continue;
        }
        if let Some(h) = ours.get(&name)
            && *h != help
        {
            help_problems.push(format!("{name}: {h:?} != {help:?}"));
        }
    }
    assert!(help_problems.is_empty(), "{help_problems:#?}");

    // Values agree with direct SQL.
    let server = format!("127.0.0.1:{}", pg.port);
    let v = |series: &str| sample(&text, series).unwrap_or_else(|| panic!("no {series}"));
    assert_eq!(v("pg_up"), 1.0);
    assert_eq!(v("pg_exporter_last_scrape_error"), 0.0);
    assert_eq!(
        v(&format!(
            "pg_settings_max_connections{{server=\"{server}\"}}"
        )),
        50.0
    );
    assert_eq!(v(&format!("pg_settings_fsync{{server=\"{server}\"}}")), 0.0);
    let shared_buffers: f64 = pg
        .psql(
            "postgres",
            "SELECT setting::float8 * 8192 FROM pg_settings WHERE name = 'shared_buffers'",
        )
        .parse()
        .unwrap();
    assert_eq!(
        v(&format!(
            "pg_settings_shared_buffers_bytes{{server=\"{server}\"}}"
        )),
        shared_buffers
    );
    let appdb_oid = pg.psql(
        "postgres",
        "SELECT oid FROM pg_database WHERE datname = 'appdb'",
    );
    let deadlocks: f64 = pg
        .psql(
            "appdb",
            "SELECT deadlocks FROM pg_stat_database WHERE datname = 'appdb'",
        )
        .parse()
        .unwrap();
    assert!(deadlocks >= 1.0);
    assert_eq!(
        v(&format!(
            "pg_stat_database_deadlocks{{datid=\"{appdb_oid}\",datname=\"appdb\"}}"
        )),
        deadlocks
    );
    assert_eq!(
        v("pg_locks_count{datname=\"appdb\",mode=\"sharerowexclusivelock\"}"),
        1.0
    );
    assert_eq!(
        v("pg_locks_count{datname=\"analytics\",mode=\"sireadlock\"}"),
        0.0
    );
    assert_eq!(
        v(&format!(
            "pg_stat_activity_count{{application_name=\"psql\",datname=\"appdb\",server=\"{server}\",state=\"idle in transaction\",usename=\"postgres\"}}"
        )),
        1.0
    );
    assert!(
        v(&format!(
            "pg_stat_activity_max_tx_duration{{application_name=\"psql\",datname=\"appdb\",server=\"{server}\",state=\"idle in transaction\",usename=\"postgres\"}}"
        )) > 0.0
    );
    // The zero rows of the cross join are there.
    assert_eq!(
        v(&format!(
            "pg_stat_activity_count{{application_name=\"\",datname=\"template1\",server=\"{server}\",state=\"disabled\",usename=\"\"}}"
        )),
        0.0
    );
    let size: f64 = pg
        .psql("postgres", "SELECT pg_database_size('analytics')")
        .parse()
        .unwrap();
    let ours = v("pg_database_size_bytes{datname=\"analytics\"}");
    assert!((ours - size).abs() / size < 0.05, "{ours} vs {size}");
    let live: f64 = pg
        .psql(
            "appdb",
            "SELECT n_live_tup FROM pg_stat_user_tables WHERE relname = 'orders'",
        )
        .parse()
        .unwrap();
    assert_eq!(
        v(
            "pg_stat_user_tables_n_live_tup{datname=\"appdb\",relname=\"orders\",schemaname=\"public\"}"
        ),
        live
    );
    assert!(
        v(
            "pg_stat_user_tables_last_analyze{datname=\"appdb\",relname=\"orders\",schemaname=\"public\"}"
        ) > 1.0e9
    );
    assert_eq!(
        v(&format!(
            "pg_replication_slots_active{{database=\"\",server=\"{server}\",slot_name=\"golden_slot\"}}"
        )),
        1.0
    );
    assert_eq!(
        v("pg_replication_slot_slot_is_active{slot_name=\"golden_slot\"}"),
        1.0
    );
    // slot_name carries the slot, not the walsender pid (README: deviation from v0.15).
    assert!(
        text.contains("slot_name=\"golden_slot\",state=\"streaming\""),
        "{text}"
    );
    let version_num: i32 = pg
        .psql("postgres", "SHOW server_version_num")
        .parse()
        .unwrap();
    let short = format!("{}.{}.0", version_num / 10000, version_num % 100);
    assert!(text.contains(&format!("short_version=\"{short}\"")));
    for line in text
        .lines()
        .filter(|l| l.starts_with("pg_scrape_collector_success"))
    {
        assert!(line.ends_with(" 1"), "{line}");
    }
    assert_eq!(
        text.lines()
            .filter(|l| l.starts_with("pg_scrape_collector_success{"))
            .count(),
        9
    );

    // promtool: only the historic names upstream keeps.
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
    }
    let out = child.wait_with_output().unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let unexpected: Vec<_> = report
        .lines()
        .filter(|l| !l.trim().is_empty() && !accepted_lint(l))
        .collect();
    assert!(unexpected.is_empty(), "promtool: {unexpected:#?}");

    // metric-diff against the Go exporter's capture: nothing missing but what v0.15 removed.
    let allow = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        allow.path(),
        "# untyped PG14 columns of the legacy SELECT * (v0.13 moved stat_database to a collector)\n\
         pg_stat_database_active_time\npg_stat_database_checksum_failures\n\
         pg_stat_database_checksum_last_failure\npg_stat_database_idle_in_transaction_time\n\
         pg_stat_database_session_time\npg_stat_database_sessions\npg_stat_database_sessions_abandoned\n\
         pg_stat_database_sessions_fatal\npg_stat_database_sessions_killed\n",
    )
    .unwrap();
    let (ok, report) = mcp_testkit::metric_diff(
        &mcp_testkit::anchors_dir().join("postgres_exporter_0.11.1.metrics.txt"),
        &text,
        &["--prefix", "pg_", "--allow", allow.path().to_str().unwrap()],
    );
    assert!(
        ok,
        "family diff against the Go exporter's capture:\n{report}"
    );

    drop(holder);
    let _ = receiver.kill();
    let _ = receiver.wait();
}
