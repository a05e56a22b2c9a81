//! The PostgreSQL harness: an initdb cluster on a free port (as the `postgres` user when root),
//! crashed with SIGKILL and restarted with its data intact; two clusters in parallel.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::TcpStream;

use mcp_testkit::PgCluster;

#[test]
fn cluster_is_killed_and_restarted_with_its_data() {
    let mut pg = PgCluster::start().unwrap();
    assert_ne!(pg.port(), 5432);
    pg.psql("postgres", "CREATE DATABASE app");
    pg.psql("app", "CREATE TABLE t (x int); INSERT INTO t VALUES (42)");
    assert_eq!(pg.psql("app", "SELECT x FROM t"), "42");

    let port = pg.port();
    pg.kill();
    assert!(TcpStream::connect(pg.host_port()).is_err());
    pg.restart().unwrap();
    assert_eq!(pg.port(), port);
    assert_eq!(pg.psql("app", "SELECT x FROM t"), "42");
}

#[test]
fn two_clusters_do_not_collide_and_background_sessions_stay_open() {
    let a = PgCluster::start().unwrap();
    let b = PgCluster::start().unwrap();
    assert_ne!(a.port(), b.port());
    a.psql("postgres", "CREATE TABLE only_in_a (x int)");
    assert_eq!(
        b.psql(
            "postgres",
            "SELECT count(*) FROM pg_tables WHERE tablename = 'only_in_a'"
        ),
        "0"
    );
    let mut session = a.psql_background("postgres", "BEGIN; SELECT 1;");
    let idle = mcp_testkit::wait_until(std::time::Duration::from_secs(10), || {
        a.psql(
            "postgres",
            "SELECT count(*) FROM pg_stat_activity WHERE state = 'idle in transaction'",
        ) == "1"
    });
    assert!(idle, "the background session holds its transaction open");
    session.kill().unwrap();
    let _ = session.wait();
}
