//! Issue 17 item 2, through the real agent binary: a client's `X-Prometheus-Scrape-Timeout-Seconds`
//! cannot panic a handler. The agent serves host, Redis and PostgreSQL (real redis-server and
//! PostgreSQL), and every port's `/metrics` and `/agent/metrics` answers 200 with its metrics to
//! huge, negative, zero, non-finite, overflowing, empty and garbage values
//! (`mcp_testkit::startup::HOSTILE_SCRAPE_TIMEOUTS`, the exporters' list), sent by a real HTTP
//! client; the agent's stderr never says "panicked".
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::process::Command;
use std::time::Duration;

use mcp_testkit::startup::HOSTILE_SCRAPE_TIMEOUTS;
use mcp_testkit::{PgCluster, RedisServer, free_port};
use support::spawn_agent;

#[test]
fn every_endpoint_answers_normally_to_hostile_scrape_timeout_headers() {
    let redis = RedisServer::start().unwrap();
    let pg = PgCluster::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ports = [
        ("host", free_port(), "node_cpu_seconds_total{"),
        ("redis", free_port(), "redis_up 1"),
        ("postgres", free_port(), "pg_up 1"),
    ];
    let config = format!(
        "host:\n  listen_address: [\"127.0.0.1:{}\"]\n\
         redis:\n  listen_address: [\"127.0.0.1:{}\"]\n  settings:\n    redis_addr: {}\n\
         postgres:\n  listen_address: [\"127.0.0.1:{}\"]\n  settings:\n    data_source_names: [\"{}\"]\n",
        ports[0].1,
        ports[1].1,
        redis.url(),
        ports[2].1,
        pg.dsn("postgres"),
    );
    let path = dir.path().join("agent.yml");
    std::fs::write(&path, config).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mcp-agent"));
    cmd.arg("--config")
        .arg(&path)
        .env_remove("MCP_AGENT_CONFIG");
    let agent = spawn_agent(cmd, ports.len());
    assert_eq!(agent.serving.len(), ports.len(), "{}", agent.stderr());

    // A generous timeout turns a hang into a failure; a dropped connection is an error here.
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let mut answered = 0;
    for (name, port, expect) in ports {
        for value in HOSTILE_SCRAPE_TIMEOUTS {
            for (path, want) in [
                ("/metrics", expect),
                ("/agent/metrics", "mcp_agent_build_info"),
            ] {
                let url = format!("http://127.0.0.1:{port}{path}");
                let res = client
                    .get(&url)
                    .header("X-Prometheus-Scrape-Timeout-Seconds", *value)
                    .send()
                    .unwrap_or_else(|e| {
                        panic!(
                            "{name} {path} with {value:?}: no answer: {e}\n{}",
                            agent.stderr()
                        )
                    });
                let status = res.status().as_u16();
                let body = res.text().unwrap();
                assert_eq!(status, 200, "{name} {path} with {value:?}: {body}");
                assert!(
                    body.contains(want),
                    "{name} {path} with {value:?}: no {want} in\n{body}"
                );
                answered += 1;
            }
        }
    }
    assert_eq!(answered, 3 * HOSTILE_SCRAPE_TIMEOUTS.len() * 2);
    let stderr = agent.stderr();
    assert!(!stderr.contains("panicked"), "{stderr}");
    // Still serving after all of it.
    let (status, _) = mcp_testkit::http_get(&format!("http://127.0.0.1:{}/-/healthy", ports[0].1));
    assert_eq!(status, 200);
    println!("{answered} hostile-header requests answered 200, no panic");
}
