//! Bad configuration is one clear line on stderr and a non-zero exit, before anything listens;
//! `/probe` without a target (or with an unknown auth module) is HTTP 400 as upstream.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;

fn run(envs: &[(&str, &str)], args: &[&str]) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = exporter_command();
    cmd.current_dir(dir.path())
        .arg(format!("--web.listen-address=127.0.0.1:{}", free_port()))
        .args(args);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn assert_one_line_failure(envs: &[(&str, &str)], args: &[&str], needle: &str) {
    let (code, stderr) = run(envs, args);
    assert_ne!(code, 0, "{envs:?} {args:?}: {stderr}");
    let lines: Vec<_> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "{envs:?} {args:?}: {stderr}");
    assert!(lines[0].contains(needle), "{needle:?} not in {stderr}");
    assert!(!stderr.contains("hunter2"), "{stderr}");
}

#[test]
fn malformed_dsns_are_one_line_errors_without_the_password() {
    assert_one_line_failure(
        &[("DATA_SOURCE_NAME", "postgresql://u:hunter2@h:notaport/db")],
        &[],
        "port",
    );
    assert_one_line_failure(
        &[("DATA_SOURCE_NAME", "garbage hunter2")],
        &[],
        "data source name",
    );
    assert_one_line_failure(
        &[("DATA_SOURCE_NAME", "host=h password='hunter2")],
        &[],
        "unterminated",
    );
    assert_one_line_failure(
        &[(
            "DATA_SOURCE_NAME",
            "postgresql://u:hunter2@h/db?sslmode=verify-full",
        )],
        &[],
        "sslmode=verify-full",
    );
}

#[test]
fn unknown_collector_flag_is_rejected() {
    assert_one_line_failure(&[], &["--collector.nope"], "--collector.nope");
    assert_one_line_failure(&[], &["--no-such-flag"], "--no-such-flag");
}

#[test]
fn unreadable_file_variables_are_rejected() {
    assert_one_line_failure(
        &[
            ("DATA_SOURCE_URI", "127.0.0.1:5432/postgres"),
            ("DATA_SOURCE_PASS_FILE", "/nonexistent/pass"),
        ],
        &[],
        "DATA_SOURCE_PASS_FILE",
    );
    assert_one_line_failure(
        &[("DATA_SOURCE_URI_FILE", "/nonexistent/uri")],
        &[],
        "DATA_SOURCE_URI_FILE",
    );
}

#[test]
fn bad_auth_modules_file_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yml");
    std::fs::write(
        &bad,
        "auth_modules:\n  m:\n    type: userpass\n    userpass:\n      username: u\n      pasword: hunter2\n",
    )
    .unwrap();
    assert_one_line_failure(
        &[],
        &[&format!("--config.file={}", bad.display())],
        "config.file",
    );
    assert_one_line_failure(&[], &["--config.file=/nonexistent.yml"], "config.file");
    std::fs::write(&bad, "auth_modules: [").unwrap();
    assert_one_line_failure(
        &[],
        &[&format!("--config.file={}", bad.display())],
        "config.file",
    );
}

#[test]
fn queries_yaml_is_refused_clearly() {
    assert_one_line_failure(
        &[("PG_EXPORTER_EXTEND_QUERY_PATH", "/etc/queries.yaml")],
        &[],
        "extend.query-path",
    );
}

#[test]
fn probe_without_target_is_400() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pe.yml");
    std::fs::write(
        &file,
        "auth_modules:\n  m:\n    type: userpass\n    userpass:\n      username: u\n      password: hunter2\n",
    )
    .unwrap();
    // No PostgreSQL needed: startup must not connect.
    let exporter = Exporter::start(
        &[(
            "DATA_SOURCE_NAME",
            "postgresql://nobody@127.0.0.1:1/none?sslmode=disable",
        )],
        &[&format!("--config.file={}", file.display())],
    );
    let (code, body) = exporter.get("/probe");
    assert_eq!(code, 400);
    assert_eq!(body.trim(), "target is required");
    let (code, body) = exporter.get("/probe?target=127.0.0.1:1/x&auth_module=nope");
    assert_eq!(code, 400);
    assert_eq!(body.trim(), "auth_module nope not found");
    // A probe of a dead target is HTTP 200 with pg_up 0.
    let (code, body) =
        exporter.get("/probe?target=127.0.0.1:1/x%3Fsslmode%3Ddisable&auth_module=m");
    assert_eq!(code, 200);
    assert!(body.contains("pg_up 0\n"), "{body}");
    assert!(!body.contains("hunter2"));
    let (code, page) = exporter.get("/");
    assert_eq!(code, 200);
    assert!(page.contains("/metrics"));
}
