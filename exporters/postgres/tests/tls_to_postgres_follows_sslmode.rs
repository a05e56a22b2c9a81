//! TLS to PostgreSQL follows libpq's `sslmode`: `require` encrypts, `verify-full` checks chain and
//! host name against `sslrootcert`, `verify-ca` the chain only; a server that refuses plaintext is
//! down for `disable`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::Command;

use common::*;

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA and a server certificate for DNS name `localhost` signed by it.
fn make_certs(dir: &Path, prefix: &str) {
    let ca_key = format!("{prefix}ca.key");
    let ca_crt = format!("{prefix}ca.crt");
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=test-ca",
            "-keyout",
            &ca_key,
            "-out",
            &ca_crt,
        ],
    );
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=localhost",
            "-keyout",
            &format!("{prefix}server.key"),
            "-out",
            &format!("{prefix}server.csr"),
        ],
    );
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &format!("{prefix}server.csr"),
            "-CA",
            &ca_crt,
            "-CAkey",
            &ca_key,
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "ext.cnf",
            "-out",
            &format!("{prefix}server.crt"),
        ],
    );
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
