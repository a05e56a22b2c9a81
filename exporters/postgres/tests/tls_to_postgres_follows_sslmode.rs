//! TLS to PostgreSQL follows libpq's `sslmode`: `require` encrypts, `verify-full` checks chain and
//! host name against `sslrootcert`, `verify-ca` the chain only; a server that refuses plaintext is
//! down for `disable`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::Command;

use common::*;

/// A CA and a server certificate for DNS name `localhost` signed by it.
fn make_certs(dir: &Path, prefix: &str) {
    mcp_testkit::certs::server_cert(dir, prefix, &["DNS:localhost"]);
}

#[test]
fn sslmode_require_verify_ca_and_verify_full_behave_like_libpq() {
    let certs = tempfile::tempdir().unwrap();
    make_certs(certs.path(), "");
    make_certs(certs.path(), "other-");
    let pg = PgCluster::start_new();
    // Server key and cert inside the cluster directory, owned by the server's user.
    let data = pg.data();
    std::fs::copy(certs.path().join("server.crt"), data.join("server.crt")).unwrap();
    std::fs::copy(certs.path().join("server.key"), data.join("server.key")).unwrap();
    for f in ["server.crt", "server.key"] {
        let path = data.join(f);
        Command::new("chmod")
            .args(["600", path.to_str().unwrap()])
            .status()
            .unwrap();
        let _ = Command::new("chown")
            .args(["postgres", path.to_str().unwrap()])
            .status();
    }
    std::fs::write(
        data.join("pg_hba.conf"),
        "local all all trust\nhostssl all all 127.0.0.1/32 trust\nhostnossl all all 127.0.0.1/32 reject\n",
    )
    .unwrap();
    pg.psql("postgres", "ALTER SYSTEM SET ssl = on");
    pg.psql("postgres", "SELECT pg_reload_conf()");
    wait_until(std::time::Duration::from_secs(10), || {
        pg.psql("postgres", "SHOW ssl") == "on"
    });

    let port = pg.port;
    let ca = certs.path().join("ca.crt");
    let other_ca = certs.path().join("other-ca.crt");
    let cases: Vec<(String, bool)> = vec![
        (
            format!("postgresql://postgres@127.0.0.1:{port}/postgres?sslmode=require"),
            true,
        ),
        (
            format!("postgresql://postgres@127.0.0.1:{port}/postgres?sslmode=prefer"),
            true,
        ),
        (
            format!("postgresql://postgres@127.0.0.1:{port}/postgres"),
            true,
        ),
        (
            format!("postgresql://postgres@127.0.0.1:{port}/postgres?sslmode=disable"),
            false,
        ),
        (
            format!(
                "postgresql://postgres@localhost:{port}/postgres?sslmode=verify-full&sslrootcert={}",
                ca.display()
            ),
            true,
        ),
        (
            format!(
                "host=127.0.0.1 port={port} user=postgres sslmode=verify-ca sslrootcert={}",
                ca.display()
            ),
            true,
        ),
        (
            format!(
                "host=127.0.0.1 port={port} user=postgres sslmode=verify-full sslrootcert={}",
                ca.display()
            ),
            false,
        ),
        (
            format!(
                "postgresql://postgres@localhost:{port}/postgres?sslmode=verify-full&sslrootcert={}",
                other_ca.display()
            ),
            false,
        ),
    ];
    for (dsn, up) in cases {
        let exporter = Exporter::start(&[("DATA_SOURCE_NAME", &dsn)], &[]);
        let text = exporter.metrics();
        assert_eq!(
            sample(&text, "pg_up"),
            Some(if up { 1.0 } else { 0.0 }),
            "{dsn}: {}",
            exporter.logs()
        );
        if up {
            let ssl = pg.psql(
                "postgres",
                "SELECT s.ssl FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) WHERE a.application_name = 'postgres_exporter'",
            );
            assert_eq!(ssl, "t", "{dsn}");
        }
    }
}
