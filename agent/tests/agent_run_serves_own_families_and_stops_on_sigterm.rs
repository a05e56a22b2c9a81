//! `mcp-agent run`: `/-/healthy` and the agent's own families (`/agent/metrics`) on every port,
//! `max_scrape_timeout` from the config file, and SIGTERM: no new connections, the in-flight
//! scrape finishes with its answer, exit 0 within a bound. `config check` names every problem.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use mcp_testkit::{RedisServer, free_port, http_get, sample, wait_until};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use support::{agent_cli, start_agent};

#[test]
fn own_families_health_and_graceful_sigterm() {
    let redis = RedisServer::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (host_port, redis_port) = (free_port(), free_port());
    let config = format!(
        "host:\n  listen_address: [\"127.0.0.1:{host_port}\"]\n\
         redis:\n  listen_address: [\"127.0.0.1:{redis_port}\"]\n  max_scrape_timeout: 2s\n  settings:\n    redis_addr: {}\n\
         postgres:\n  enabled: false\n",
        redis.url()
    );
    let path = dir.path().join("agent.yml");
    std::fs::write(&path, &config).unwrap();
    let checked = agent_cli(&["config", "check", path.to_str().unwrap()]);
    assert_eq!(checked.code, 0, "{}", checked.stderr);

    let (mut agent, serving) = start_agent(&config, dir.path(), 2);
    assert_eq!(serving.len(), 2, "{serving:?}");
    for port in [host_port, redis_port] {
        assert_eq!(
            http_get(&format!("http://127.0.0.1:{port}/-/healthy")).0,
            200
        );
    }
    let (status, body) = http_get(&format!("http://127.0.0.1:{redis_port}/metrics"));
    assert_eq!(status, 200);
    assert!(body.contains("redis_up 1"));
    let (status, own) = http_get(&format!("http://127.0.0.1:{host_port}/agent/metrics"));
    assert_eq!(status, 200);
    mcp_testkit::promtool_check_metrics(&own).unwrap();
    assert_eq!(
        sample(
            &own,
            &format!(
                "mcp_agent_build_info{{version=\"{}\"}}",
                env!("CARGO_PKG_VERSION")
            )
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(&own, "mcp_agent_scrapes_total{exporter=\"redis\"}"),
        Some(1.0)
    );
    assert_eq!(
        sample(&own, "mcp_agent_scrapes_total{exporter=\"host\"}"),
        Some(0.0)
    );
    assert_eq!(
        sample(
            &own,
            "mcp_agent_scrape_duration_seconds_count{exporter=\"redis\"}"
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(&own, "mcp_agent_scrape_errors_total{exporter=\"redis\"}"),
        Some(0.0)
    );
    // The exporters' own output stays theirs: no mcp_agent_ family in /metrics.
    assert!(!body.contains("mcp_agent_"));

    // A scrape in flight (Redis frozen, so it runs into max_scrape_timeout = 2s) when SIGTERM
    // comes: it still gets its answer, and the agent exits 0.
    redis.pause();
    let url = format!("http://127.0.0.1:{redis_port}/metrics");
    let scrape = std::thread::spawn(move || http_get(&url));
    let in_flight = wait_until(Duration::from_secs(10), || {
        let (_, own) = http_get(&format!("http://127.0.0.1:{host_port}/agent/metrics"));
        sample(&own, "mcp_agent_scrapes_in_flight{exporter=\"redis\"}") == Some(1.0)
    });
    assert!(in_flight);
    kill(Pid::from_raw(agent.0.id() as i32), Signal::SIGTERM).unwrap();
    let (status, body) = scrape.join().unwrap();
    redis.resume();
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("redis_up 0"), "{body}");
    let mut code = None;
    let exited = wait_until(Duration::from_secs(20), || {
        code = agent.0.try_wait().unwrap().map(|s| s.code());
        code.is_some()
    });
    assert!(exited, "the agent did not exit within 20 s of SIGTERM");
    assert_eq!(code, Some(Some(0)));
    // And it no longer accepts.
    assert!(std::net::TcpStream::connect(("127.0.0.1", host_port)).is_err());
}

#[test]
fn config_check_names_every_problem_with_its_key_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("agent.yml");
    std::fs::write(
        &path,
        "host:\n  listen_address: [\"127.0.0.1:9555\"]\nredis:\n  listen_address: [\"127.0.0.1:9555\"]\n  max_scrape_timeout: soon\n",
    )
    .unwrap();
    let out = agent_cli(&["config", "check", path.to_str().unwrap()]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(lines.len(), 2, "{}", out.stderr);
    assert!(lines.iter().any(|l| l.ends_with(
        "port 9555 is used by both host.listen_address[0] and redis.listen_address[0]"
    )));
    assert!(
        lines
            .iter()
            .any(|l| l.contains("redis.max_scrape_timeout: "))
    );

    std::fs::write(
        &path,
        "redis:\n  listen_adress: [\":1\"]\n  settings:\n    redis_adr: x\nhots: {}\n",
    )
    .unwrap();
    let out = agent_cli(&["config", "check", path.to_str().unwrap()]);
    assert_eq!(out.code, 1);
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(lines.len(), 3, "{}", out.stderr);
    for key in ["hots", "redis.listen_adress", "redis.settings.redis_adr"] {
        assert!(
            lines
                .iter()
                .any(|l| l.contains(&format!(": {key}: unknown key"))),
            "{key}: {}",
            out.stderr
        );
    }
    // The running agent refuses the same file with one line.
    let out = agent_cli(&["--config", path.to_str().unwrap()]);
    assert_eq!(out.code, 2);
    assert_eq!(out.stderr.trim().lines().count(), 1);
}
