//! A streaming replica made with pg_basebackup: the replica reports `pg_replication_is_replica 1`
//! and its WAL receiver, every default collector succeeds there (the queries that would call
//! `pg_current_wal_lsn()` use the received position instead), and the primary reports the
//! walsender with the slot's name in `slot_name`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use mcp_testkit::standby::Standby;

#[test]
fn replica_and_primary_both_report_replication() {
    let primary = PgCluster::start_new();
    primary.psql(
        "postgres",
        "CREATE TABLE t AS SELECT generate_series(1, 100) AS id",
    );
    // A base backup of the primary on its own port, streaming through `standby_slot`.
    let standby = Standby::from_primary(primary.cluster(), "standby_slot").unwrap();

    let on_standby = Exporter::start(
        &[("DATA_SOURCE_NAME", &standby.dsn("postgres"))],
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
