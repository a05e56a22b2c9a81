//! The example services as real processes: scrape `/metrics`, lint it with promtool, check
//! process and request metrics, and find a request's log line in a Loki-compatible receiver
//! by its trace id (the log-pipeline drill's path).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Child, Command};
use std::time::Duration;

use mcp_testkit::loki::FakeLoki;
use mcp_testkit::{PgCluster, RedisServer, free_port, wait_until};

struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn get(url: &str) -> Option<(u16, String)> {
    let resp = reqwest::blocking::Client::new()
        .get(url)
        .header(
            "traceparent",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        )
        .timeout(Duration::from_secs(5))
        .send()
        .ok()?;
    Some((resp.status().as_u16(), resp.text().ok()?))
}

/// `promtool check metrics` on the exposition text (through mcp-testkit).
fn promtool_check(body: &str) {
    if let Err(out) = mcp_testkit::promtool_check_metrics(body) {
        panic!("promtool check metrics failed:\n{out}\n{body}");
    }
}

fn sample(body: &str, prefix: &str) -> f64 {
    body.lines()
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no {prefix} in\n{body}"))
        .rsplit(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn cdb_core_serves_linted_metrics_counts_requests_and_ships_logs_with_trace_ids() {
    let fake = FakeLoki::start();
    let redis = RedisServer::start().unwrap();
    let pg = PgCluster::start().unwrap();
    let port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_cdb_core"))
        .env("PORT", port.to_string())
        .env("REDIS_ADDR", redis.url())
        .env("DATABASE_URL", pg.dsn("postgres"))
        .env("MCP_LOKI_URL", fake.url())
        .env("MCP_LOKI_BATCH_WAIT_MS", "100")
        .env("MCP_INSTANCE", "test-host")
        .env("MCP_METRICS_ADDR", "off")
        .env("RUST_LOG", "info")
        .env("MCP_LOG_FORMAT", "off")
        .spawn()
        .unwrap();
    let mut proc = Proc(child);
    let base = format!("http://127.0.0.1:{port}");
    assert!(
        wait_until(Duration::from_secs(30), || get(&format!("{base}/-/ready"))
            .is_some_and(|(s, _)| s == 200)),
        "service never became ready"
    );
    assert_eq!(get(&format!("{base}/-/healthy")).unwrap().0, 200);
    for _ in 0..5 {
        assert_eq!(
            get(&format!("{base}/api/v1/instruments/AAPL")).unwrap().0,
            200
        );
    }
    let (status, body) = get(&format!("{base}/metrics")).unwrap();
    assert_eq!(status, 200);
    promtool_check(&body);
    let labels = r#"service="cdb_core",instance="test-host""#;
    assert_eq!(
        sample(
            &body,
            &format!(
                r#"http_server_requests_total{{{labels},method="GET",route="/api/v1/instruments/{{symbol}}",status="200"}}"#
            )
        ),
        5.0
    );
    assert_eq!(
        sample(
            &body,
            &format!(
                r#"http_server_request_duration_seconds_count{{{labels},method="GET",route="/api/v1/instruments/{{symbol}}",status="200"}}"#
            )
        ),
        5.0
    );
    let rss = sample(&body, "process_resident_memory_bytes{");
    assert!(rss > 1e6 && rss < 1e9, "rss {rss}");
    let start = sample(&body, "process_start_time_seconds{");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert!(
        start <= now + 1.0 && start > now - 600.0,
        "start {start} now {now}"
    );
    assert!(sample(&body, "process_open_fds{") >= 3.0);
    assert!(sample(&body, "process_max_fds{") >= sample(&body, "process_open_fds{"));
    assert!(sample(&body, "process_threads{") >= 2.0);
    assert!(sample(&body, "process_virtual_memory_bytes{") >= rss);
    assert!(sample(&body, "process_cpu_seconds_total{") >= 0.0);
    assert_eq!(sample(&body, "mcp_build_info{"), 1.0);
    assert!(sample(&body, "tokio_runtime_workers{") >= 1.0);

    // The request's log line is in Loki, found by its trace id, with low-cardinality labels.
    assert!(wait_until(Duration::from_secs(30), || fake
        .entries()
        .iter()
        .any(|e| e.line.contains("0af7651916cd43dd8448eb211c80319c"))));
    let line = fake
        .entries()
        .into_iter()
        .find(|e| e.line.contains("0af7651916cd43dd8448eb211c80319c"))
        .unwrap();
    assert_eq!(
        line.labels,
        r#"{service="cdb_core",host="test-host",container_name="cdb_core",level="info"}"#
    );
    let v = line.json();
    assert_eq!(v["trace_id"], "0af7651916cd43dd8448eb211c80319c");
    assert_eq!(v["symbol"], "AAPL");
    assert_eq!(v["route"], "/api/v1/instruments/{symbol}");

    // SIGTERM: the service drains and its last log line is flushed to Loki.
    let pid = proc.0.id().to_string();
    let killed = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(killed.success());
    assert!(wait_until(Duration::from_secs(30), || proc
        .0
        .try_wait()
        .unwrap()
        .is_some()));
    assert!(
        fake.entries()
            .iter()
            .any(|e| e.line.contains("Shutting down.")),
        "the tail was flushed at shutdown"
    );
}

#[test]
fn minimal_is_configured_by_env_alone() {
    let port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_minimal"))
        .env("MCP_SERVICE", "tiny")
        .env("MCP_METRICS_ADDR", format!("127.0.0.1:{port}"))
        .env("RUST_LOG", "warn")
        .env_remove("MCP_LOKI_URL")
        .spawn()
        .unwrap();
    let _proc = Proc(child);
    let url = format!("http://127.0.0.1:{port}/metrics");
    assert!(wait_until(Duration::from_secs(30), || get(&url)
        .is_some_and(|(_, b)| b.contains("minimal_ticks_total"))));
    let (_, body) = get(&url).unwrap();
    promtool_check(&body);
    assert!(body.contains(r#"mcp_build_info{service="tiny""#), "{body}");
    assert!(body.contains("process_cpu_seconds_total{service=\"tiny\""));
}

#[test]
fn a_port_in_use_is_a_clear_error_and_a_nonzero_exit() {
    let blocker = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_minimal"))
        .env(
            "MCP_METRICS_ADDR",
            blocker.local_addr().unwrap().to_string(),
        )
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("cannot listen for /metrics"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn a_bad_env_value_is_one_clear_line_and_a_nonzero_exit() {
    let out = Command::new(env!("CARGO_BIN_EXE_minimal"))
        .env("MCP_METRICS_ADDR", "127.0.0.1:0")
        .env("MCP_LOG_FORMAT", "bogus")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64), "EX_USAGE");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(r#"invalid MCP_LOG_FORMAT="bogus": want pretty, compact, json or off"#),
        "{stderr}"
    );
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
}

#[test]
fn a_bad_service_setting_is_one_line_naming_it_without_the_secret() {
    for (var, value, want) in [
        (
            "PORT",
            "http",
            r#"cdb_execution: invalid PORT="http": want a port number"#,
        ),
        (
            "DATABASE_URL",
            "postgres://u:hunter2@[::1",
            "cdb_execution: invalid DATABASE_URL: want postgres://user@host:port/db",
        ),
        (
            "MCP_INSTRUMENT",
            "maybe",
            r#"cdb_execution: invalid MCP_INSTRUMENT="maybe": want on or off"#,
        ),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_cdb_execution"))
            .env(var, value)
            .env("MCP_METRICS_ADDR", "off")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(64), "{var}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(stderr.trim(), want);
        assert!(!stderr.contains("hunter2"));
    }
}
