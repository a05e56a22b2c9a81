//! The README's main job, end to end: `mcp-agent` serves the host, Redis and PostgreSQL exporters
//! from one process against real redis-server and PostgreSQL instances, and a real Prometheus
//! scrapes all three with `up == 1`, `redis_up == 1` and `pg_up == 1`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::process::Command;
use std::time::Duration;

use support::start_agent;

use mcp_testkit::{PgCluster, Prometheus, RedisServer, free_port, http_get, wait_until};

#[test]
fn agent_serves_host_redis_and_postgres_to_prometheus() {
    let redis = RedisServer::start().unwrap();
    let pg = PgCluster::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (host_port, redis_port, pg_port) = (free_port(), free_port(), free_port());
    let config = format!(
        "host:\n  listen_address: [\"127.0.0.1:{host_port}\"]\n\
         redis:\n  listen_address: [\"127.0.0.1:{redis_port}\"]\n  settings:\n    redis_addr: {redis_url}\n\
         postgres:\n  listen_address: [\"127.0.0.1:{pg_port}\"]\n  settings:\n    data_source_names: [\"{dsn}\"]\n",
        redis_url = redis.url(),
        dsn = pg.dsn("postgres"),
    );
    let expect = 3;
    let (_agent, serving) = start_agent(&config, dir.path(), expect);
    assert_eq!(
        serving.len(),
        expect,
        "agent printed where it serves: {serving:?}"
    );
    assert!(
        serving
            .iter()
            .any(|l| l.contains(&format!("127.0.0.1:{redis_port}/metrics")))
    );

    let (status, body) = http_get(&format!("http://127.0.0.1:{redis_port}/metrics"));
    assert_eq!(status, 200);
    assert!(body.contains("redis_up 1"), "redis_up 1 in:\n{body}");
    let (status, body) = http_get(&format!("http://127.0.0.1:{pg_port}/metrics"));
    assert_eq!(status, 200);
    assert!(body.contains("pg_up 1"), "pg_up 1 in:\n{body}");
    let (status, body) = http_get(&format!("http://127.0.0.1:{host_port}/metrics"));
    assert_eq!(status, 200);
    assert!(body.contains("node_cpu_seconds_total{"));

    let node_job =
        format!("- job_name: node\n  static_configs: [{{targets: ['127.0.0.1:{host_port}']}}]\n");
    let prom = Prometheus::start(
        &format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n\
             - job_name: redis\n  static_configs: [{{targets: ['127.0.0.1:{redis_port}']}}]\n\
             - job_name: postgres\n  static_configs: [{{targets: ['127.0.0.1:{pg_port}']}}]\n{node_job}"
        ),
        &[],
    )
    .unwrap();
    let ready = wait_until(Duration::from_secs(30), || {
        let up = prom.query("up == 1");
        let redis_up = prom.query("redis_up == 1");
        let pg_up = prom.query("pg_up == 1");
        up.as_array().map(Vec::len) == Some(expect)
            && redis_up.as_array().map(Vec::len) == Some(1)
            && pg_up.as_array().map(Vec::len) == Some(1)
    });
    assert!(ready, "targets: {}", prom.targets());
}

#[test]
fn bad_config_file_is_one_line_and_non_zero_exit() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("agent.yml");
    std::fs::write(&path, "redis:\n  listen_adress: [\":1\"]\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_mcp-agent"))
        .arg("--config")
        .arg(&path)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
    assert!(stderr.contains("listen_adress"), "{stderr}");

    let out = Command::new(env!("CARGO_BIN_EXE_mcp-agent"))
        .arg("--no-such-flag")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim().lines().count(),
        1
    );
}

#[test]
fn port_in_use_is_a_clear_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("agent.yml");
    std::fs::write(
        &path,
        format!("host:\n  enabled: false\nredis:\n  listen_address: [\"127.0.0.1:{port}\"]\npostgres:\n  enabled: false\n"),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_mcp-agent"))
        .arg("--config")
        .arg(&path)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&port.to_string()), "{stderr}");
}

#[test]
fn a_port_listed_twice_is_a_config_error_naming_both_keys() {
    // Free, so without the config check the second bind would be the first error seen.
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("agent.yml");
    std::fs::write(
        &path,
        format!(
            "host:\n  listen_address: [\"127.0.0.1:{port}\"]\n\
             redis:\n  listen_address: [\"127.0.0.1:{port}\"]\npostgres:\n  enabled: false\n"
        ),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_mcp-agent"))
        .arg("run")
        .arg("--config")
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
    assert!(
        stderr.contains(&format!(
            "port {port} is used by both host.listen_address[0] and redis.listen_address[0]"
        )),
        "{stderr}"
    );
    assert!(!stderr.contains("in use"), "{stderr}");
    // Nothing was served.
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains(" serving "),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    // The same port on two loopback addresses is not a clash: the agent serves both.
    std::fs::write(
        &path,
        format!(
            "host:\n  listen_address: [\"127.0.0.1:{port}\"]\n\
             redis:\n  listen_address: [\"127.0.0.2:{port}\"]\n  settings:\n    redis_addr: redis://127.0.0.1:1\n\
             postgres:\n  enabled: false\n"
        ),
    )
    .unwrap();
    let (_agent, serving) = start_agent(&std::fs::read_to_string(&path).unwrap(), dir.path(), 2);
    assert_eq!(serving.len(), 2, "{serving:?}");
}
