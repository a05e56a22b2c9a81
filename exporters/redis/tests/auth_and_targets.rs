//! Authentication (ACL user + password, password file keyed by target URI), wrong passwords
//! without leaks, multi-target `/scrape`, and one-line errors for bad flags.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Command;

use common::{Exporter, value};
use mcp_testkit::{RedisServer, http_get};

const SECRET: &str = "s3cr3t-FLAG-pw";

#[test]
fn acl_user_password_and_password_file_work_and_never_leak() {
    let redis = RedisServer::start().unwrap();
    redis.cli(&[
        "ACL",
        "SETUSER",
        "exporter",
        "on",
        &format!(">{SECRET}"),
        "+@all",
        "~*",
    ]);
    redis.cli(&["CONFIG", "SET", "requirepass", SECRET]);

    // User + password from flags/env.
    let ok = Exporter::start_env(
        &[
            &format!("--redis.addr={}", redis.url()),
            "--redis.user=exporter",
        ],
        &[("REDIS_PASSWORD", SECRET)],
    );
    let text = ok.metrics();
    assert_eq!(value(&text, "redis_up"), Some(1.0));
    assert!(!text.contains(SECRET));

    // Password file keyed by the target URI, used by /scrape.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pwd.json");
    std::fs::write(&file, format!("{{\"{}\": \"{SECRET}\"}}", redis.url())).unwrap();
    let multi = Exporter::start(&[
        "--redis.addr=",
        &format!("--redis.password-file={}", file.display()),
    ]);
    let (status, body) = http_get(&multi.url(&format!("/scrape?target={}", redis.url())));
    assert_eq!(status, 200);
    assert_eq!(value(&body, "redis_up"), Some(1.0), "{body}");
    let (status, _) = http_get(&multi.url("/scrape"));
    assert_eq!(status, 400, "missing target is a 400 like upstream");
    let (_, body) = http_get(&multi.url(&format!("/scrape?target={}", redis.url())));
    assert_eq!(
        value(&body, "redis_target_scrape_request_errors_total"),
        Some(1.0)
    );

    // Wrong password: redis_up 0, and the password appears nowhere.
    let wrong = Exporter::start_env(
        &[
            &format!("--redis.addr={}", redis.url()),
            "--log.level=debug",
        ],
        &[("REDIS_PASSWORD", "wrong-pass-XYZ")],
    );
    let text = wrong.metrics();
    assert_eq!(value(&text, "redis_up"), Some(0.0));
    assert_eq!(text.matches("redis_exporter_last_scrape_error{").count(), 1);
    assert!(text.contains("err=\"auth"), "{text}");
    // A password in the URL itself is not echoed either.
    let in_url = Exporter::start(&[
        &format!("--redis.addr=redis://:{SECRET}x@127.0.0.1:{}", redis.port()),
        "--log.level=debug",
    ]);
    let text2 = in_url.metrics();
    let (_, landing) = http_get(&in_url.url("/"));
    for out in [
        &text,
        &text2,
        &landing,
        &wrong.logs(),
        &in_url.logs(),
        &ok.logs(),
        &multi.logs(),
    ] {
        assert!(!out.contains(SECRET), "secret leaked: {out}");
        assert!(!out.contains("wrong-pass-XYZ"), "secret leaked: {out}");
    }
}

#[test]
fn bad_flags_exit_non_zero_with_one_line() {
    let bin = env!("CARGO_BIN_EXE_mcp-redis-exporter");
    for args in [
        vec!["--no-such-flag"],
        vec!["--check-streams=db0=s"],
        vec!["--connection-timeout=soon"],
        vec!["--check-keys=dbx=a"],
        vec!["--redis.password-file=/nonexistent/pwd.json"],
    ] {
        let out = Command::new(bin).args(&args).output().unwrap();
        assert!(!out.status.success(), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(stderr.trim().lines().count(), 1, "{args:?}: {stderr}");
    }
    // Go-style single-dash flags are accepted.
    let out = Command::new(bin)
        .args(["-redis.addr=redis://127.0.0.1:1", "--version"])
        .output()
        .unwrap();
    assert!(out.status.success());
    // --help shows no secret defaults.
    let help = Command::new(bin)
        .arg("--help")
        .env("REDIS_PASSWORD", SECRET)
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&help.stdout).contains(SECRET));
}

/// Issue 17 item 5: a port in use and a garbage `REDIS_ADDR` are one line each on stderr and a
/// non-zero exit, with no "Caused by" or backtrace even when `RUST_BACKTRACE` asks for one, and
/// the garbage address is not repeated back.
#[test]
fn start_up_errors_are_one_line_without_backtrace() {
    let bin = env!("CARGO_BIN_EXE_mcp-redis-exporter");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let out = Command::new(bin)
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .env("RUST_BACKTRACE", "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.contains(" INFO ")).collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(lines[0].contains("cannot listen on"), "{stderr}");
    assert!(
        !stderr.contains("Caused by") && !stderr.contains("backtrace"),
        "{stderr}"
    );

    let out = Command::new(bin)
        .env("REDIS_ADDR", "%%%garbage")
        .env("RUST_BACKTRACE", "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "accepted a garbage address: {stderr}"
    );
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("--redis.addr"), "{stderr}");
    assert!(!stderr.contains("garbage"), "{stderr}");
}
