//! A streaming replica made with pg_basebackup: the replica reports `pg_replication_is_replica 1`
//! and its WAL receiver, every default collector succeeds there (the queries that would call
//! `pg_current_wal_lsn()` use the received position instead), and the primary reports the
//! walsender with the slot's name in `slot_name`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::*;

/// A standby made by pg_basebackup, run with pg_ctl (mcp-testkit has no standby yet); stopped on
/// drop.
struct Standby {
    dir: tempfile::TempDir,
    port: u16,
}

impl Standby {
    fn start(dir: tempfile::TempDir, port: u16) -> Standby {
        let s = Standby { dir, port };
        let out = pg_command("pg_ctl")
            .args([
                "-D",
                s.dir.path().join("data").to_str().unwrap(),
                "-l",
                s.dir.path().join("server.log").to_str().unwrap(),
                "-w",
                "start",
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "pg_ctl start: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        s
    }
}

impl Drop for Standby {
    fn drop(&mut self) {
        let _ = pg_command("pg_ctl")
            .args([
                "-D",
                self.dir.path().join("data").to_str().unwrap(),
                "-m",
                "immediate",
                "-w",
                "stop",
            ])
            .output();
    }
}

#[test]
fn replica_and_primary_both_report_replication() {
    let primary = PgCluster::start_new();
    primary.psql(
        "postgres",
        "SELECT pg_create_physical_replication_slot('standby_slot')",
    );
    primary.psql(
        "postgres",
        "CREATE TABLE t AS SELECT generate_series(1, 100) AS id",
    );

    // The standby: a base backup of the primary, on its own port and socket directory.
    let dir = tempfile::Builder::new()
        .prefix("mcp-pg-standby-")
        .tempdir()
        .unwrap();
    if is_root() {
        std::process::Command::new("chown")
            .args(["-R", "postgres", dir.path().to_str().unwrap()])
            .status()
            .unwrap();
    }
    let data = dir.path().join("data");
    let out = pg_command("pg_basebackup")
        .args([
            "-D",
            data.to_str().unwrap(),
            "-h",
            "127.0.0.1",
            "-p",
            &primary.port.to_string(),
            "-U",
            "postgres",
            "-R",
            "-S",
            "standby_slot",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "pg_basebackup: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let port = free_port();
    append(
        &data.join("postgresql.conf"),
        &format!(
            "\nport = {port}\nunix_socket_directories = '{}'\nhot_standby = on\n",
            dir.path().display()
        ),
    );
    let standby = Standby::start(dir, port);
    wait_until(Duration::from_secs(30), || {
        primary.psql(
            "postgres",
            "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'",
        ) == "1"
    });

    let on_standby = Exporter::start(
        &[(
            "DATA_SOURCE_NAME",
            &format!(
                "postgresql://postgres@127.0.0.1:{}/postgres?sslmode=disable",
                standby.port
            ),
        )],
        &["--collector.stat_wal_receiver", "--collector.xlog_location"],
    );
    let text = on_standby.metrics();
    assert_eq!(sample(&text, "pg_up"), Some(1.0), "{}", on_standby.logs());
    assert_eq!(sample(&text, "pg_replication_is_replica"), Some(1.0));
    assert_eq!(
        sample(&text, "pg_exporter_last_scrape_error"),
        Some(0.0),
        "{text}"
    );
    for line in text
        .lines()
        .filter(|l| l.starts_with("pg_scrape_collector_success{"))
    {
        assert!(line.ends_with(" 1"), "{line}\n{}", on_standby.logs());
    }
    assert_eq!(
        sample(
            &text,
            "pg_stat_wal_receiver_status{slot_name=\"standby_slot\",upstream_host=\"127.0.0.1\"}"
        ),
        Some(2.0),
        "{text}"
    );

    let on_primary = Exporter::start(&[("DATA_SOURCE_NAME", &primary.dsn("postgres"))], &[]);
    let text = on_primary.metrics();
    let server = format!("127.0.0.1:{}", primary.port);
    let diff = sample(
        &text,
        &format!(
            "pg_stat_replication_pg_wal_lsn_diff{{application_name=\"walreceiver\",client_addr=\"127.0.0.1\",server=\"{server}\",slot_name=\"standby_slot\",state=\"streaming\"}}"
        ),
    )
    .unwrap_or_else(|| panic!("{text}"));
    assert!(diff >= 0.0);
    assert_eq!(
        sample(
            &text,
            "pg_replication_slot_slot_is_active{slot_name=\"standby_slot\"}"
        ),
        Some(1.0)
    );
    drop(standby);
}
