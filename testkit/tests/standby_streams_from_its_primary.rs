//! The standby harness: a pg_basebackup of a running cluster, in recovery on its own port,
//! streaming through the slot it was given (rows written on the primary afterwards reach it), and
//! gone when dropped.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::TcpStream;
use std::time::Duration;

use mcp_testkit::PgCluster;
use mcp_testkit::standby::Standby;

#[test]
fn standby_streams_from_its_primary_and_stops_on_drop() {
    let primary = PgCluster::start().unwrap();
    primary.psql("postgres", "CREATE TABLE t AS SELECT 1 AS x");
    let standby = Standby::from_primary(&primary, "test_slot").unwrap();
    assert_ne!(standby.port(), primary.port());
    assert_eq!(standby.slot(), "test_slot");
    assert_eq!(standby.psql("postgres", "SELECT pg_is_in_recovery()"), "t");
    assert_eq!(standby.psql("postgres", "SELECT x FROM t"), "1");
    assert_eq!(
        primary.psql(
            "postgres",
            "SELECT active FROM pg_replication_slots WHERE slot_name = 'test_slot'"
        ),
        "t"
    );
    assert_eq!(
        standby.psql("postgres", "SELECT status FROM pg_stat_wal_receiver"),
        "streaming"
    );

    primary.psql("postgres", "INSERT INTO t VALUES (2)");
    assert!(
        mcp_testkit::wait_until(Duration::from_secs(30), || {
            standby.psql("postgres", "SELECT count(*) FROM t") == "2"
        }),
        "the row never reached the standby"
    );

    let addr = standby.host_port();
    drop(standby);
    assert!(TcpStream::connect(addr).is_err());
}
