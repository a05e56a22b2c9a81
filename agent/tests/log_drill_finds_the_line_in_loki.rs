//! `mcp-agent log-drill` through a real example service (cdb_ws, shipping its logs with
//! mcp-instrument) to the test suite's Loki-compatible receiver, which decodes the real push
//! format and answers LogQL `query_range`; `--direct` pushes the line itself; an unreachable
//! service or Loki is "could not run".
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::process::{Command, Stdio};
use std::time::Duration;

use mcp_testkit::loki::FakeLoki;
use mcp_testkit::{PgCluster, RedisServer, free_port, wait_until};
use support::{Proc, agent_cli, closed_url, example_binary};

#[test]
fn log_drill_through_cdb_ws_finds_the_line_with_its_trace_id() {
    let loki = FakeLoki::start();
    let redis = RedisServer::start().unwrap();
    let pg = PgCluster::start().unwrap();
    let port = free_port();
    let _ws = Proc(
        Command::new(example_binary("cdb_ws"))
            .env("PORT", port.to_string())
            .env("REDIS_ADDR", redis.url())
            .env("DATABASE_URL", pg.dsn("postgres"))
            .env("MCP_LOKI_URL", loki.url())
            .env("MCP_LOKI_BATCH_WAIT_MS", "100")
            .env("MCP_LOG_FORMAT", "off")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let url = format!("http://127.0.0.1:{port}");
    assert!(wait_until(Duration::from_secs(30), || {
        mcp_testkit::http_get(&format!("{url}/-/healthy")).0 == 200
    }));

    let out = agent_cli(&[
        "log-drill",
        "--service",
        "cdb_ws",
        "--service-url",
        &url,
        "--loki-url",
        &loki.url(),
        "--output",
        "json",
    ]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let report = out.json();
    assert!(report["propagation_seconds"].as_f64().is_some(), "{report}");
    let drill_id = report["drill_id"].as_str().unwrap();
    let trace_id = report["trace_id"].as_str().unwrap();
    // The line came from the service's own shipper, with its stream labels.
    let lines = loki
        .select(&format!("{{service=\"cdb_ws\"}} |= \"{drill_id}\""))
        .unwrap();
    assert_eq!(lines.len(), 1, "{lines:?}");
    let line = lines[0].json();
    assert_eq!(line["msg"], "Log drill.");
    assert_eq!(line["trace_id"], trace_id);
    assert!(loki.queries() > 0);

    // The table names the propagation time.
    let out = agent_cli(&[
        "log-drill",
        "--service",
        "cdb_ws",
        "--service-url",
        &url,
        "--loki-url",
        &loki.url(),
    ]);
    assert_eq!(out.code, 0, "{}", out.stdout);
    assert!(
        out.stdout
            .lines()
            .any(|l| l.starts_with("PASS") && l.contains("propagation")),
        "{}",
        out.stdout
    );
}

#[test]
fn direct_push_and_unreachable_ends() {
    let loki = FakeLoki::start();
    let out = agent_cli(&[
        "log-drill",
        "--service",
        "not_ours",
        "--direct",
        "--loki-url",
        &loki.url(),
        "--output",
        "json",
    ]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert_eq!(
        loki.select("{service=\"not_ours\"} |= \"Log drill.\"")
            .unwrap()
            .len(),
        1
    );

    // The service is the thing asked for: unreachable is "could not run".
    let out = agent_cli(&[
        "log-drill",
        "--service",
        "cdb_ws",
        "--service-url",
        &closed_url(),
        "--loki-url",
        &loki.url(),
    ]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("connection refused"), "{}", out.stderr);

    // Loki unreachable with --direct: the same.
    let out = agent_cli(&[
        "log-drill",
        "--service",
        "x",
        "--direct",
        "--loki-url",
        &closed_url(),
    ]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert_eq!(out.stderr.trim().lines().count(), 1, "{}", out.stderr);

    // An unknown service with no URL.
    let out = agent_cli(&[
        "log-drill",
        "--service",
        "mystery",
        "--loki-url",
        &loki.url(),
    ]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("--service-url"), "{}", out.stderr);

    // A line that never arrives: FAIL after the timeout, exit 1.
    let out = agent_cli(&[
        "log-drill",
        "--service",
        "cdb_ws",
        "--service-url",
        &support::garbage_server(),
        "--loki-url",
        &loki.url(),
        "--timeout",
        "1s",
    ]);
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains("not the mcp-instrument drill endpoint"),
        "{}",
        out.stdout
    );
}
