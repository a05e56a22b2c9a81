//! `rediss://` through the exporter's own capped socket and tokio-rustls: the server certificate
//! checked against `--tls-ca-cert-file`, a client certificate presented, `--skip-tls-verification`
//! honoured, and an unknown CA refused as a connect error (a redis-server with `--tls-port`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::Command;

use common::{Exporter, value};
use mcp_testkit::{RedisServer, free_port};

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

/// `ca.crt`, and `NAME.crt`/`NAME.key` for `localhost` signed by it, for each name.
fn certs(dir: &Path, names: &[&str]) {
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"];
    let mut ca = vec![
        "req",
        "-x509",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=test-ca",
    ];
    ca.extend(ec);
    ca.extend(["-keyout", "ca.key", "-out", "ca.crt"]);
    openssl(dir, &ca);
    std::fs::write(dir.join("ext.cnf"), "subjectAltName=DNS:localhost\n").unwrap();
    for name in names {
        let (key, csr, crt) = (
            format!("{name}.key"),
            format!("{name}.csr"),
            format!("{name}.crt"),
        );
        let mut req = vec!["req", "-nodes", "-subj", "/CN=localhost"];
        req.extend(ec);
        req.extend(["-keyout", &key, "-out", &csr]);
        openssl(dir, &req);
        openssl(
            dir,
            &[
                "x509", "-req", "-in", &csr, "-CA", "ca.crt", "-CAkey", "ca.key", "-days", "2",
                "-extfile", "ext.cnf", "-out", &crt,
            ],
        );
    }
}

#[test]
fn rediss_checks_the_server_presents_a_client_cert_and_refuses_an_unknown_ca() {
    let dir = tempfile::tempdir().unwrap();
    certs(dir.path(), &["server", "client"]);
    let file = |n: &str| dir.path().join(n).display().to_string();
    let tls_port = free_port();
    let redis = RedisServer::start_with_args(&[
        "--tls-port",
        &tls_port.to_string(),
        "--tls-cert-file",
        &file("server.crt"),
        "--tls-key-file",
        &file("server.key"),
        "--tls-ca-cert-file",
        &file("ca.crt"),
    ])
    .unwrap();
    redis.cli(&["SET", "k", "v"]);
    let addr = format!("--redis.addr=rediss://localhost:{tls_port}");

    let verified = Exporter::start(&[
        &addr,
        &format!("--tls-ca-cert-file={}", file("ca.crt")),
        &format!("--tls-client-cert-file={}", file("client.crt")),
        &format!("--tls-client-key-file={}", file("client.key")),
    ]);
    let text = verified.metrics();
    assert_eq!(value(&text, "redis_up"), Some(1.0), "{text}");
    assert_eq!(value(&text, "redis_db_keys{db=\"db0\"}"), Some(1.0));

    let insecure = Exporter::start(&[
        &addr,
        "--skip-tls-verification",
        &format!("--tls-client-cert-file={}", file("client.crt")),
        &format!("--tls-client-key-file={}", file("client.key")),
    ]);
    assert_eq!(value(&insecure.metrics(), "redis_up"), Some(1.0));

    // The system roots do not know the test CA.
    let unknown = Exporter::start(&[
        &addr,
        &format!("--tls-client-cert-file={}", file("client.crt")),
        &format!("--tls-client-key-file={}", file("client.key")),
    ]);
    let text = unknown.metrics();
    assert_eq!(value(&text, "redis_up"), Some(0.0), "{text}");
    assert!(
        text.contains("redis_exporter_last_scrape_error{err=\"connect: tls handshake failed\"} 1"),
        "{text}"
    );
}
