//! `mcp-agent check` against a real Prometheus and Alertmanager, with the agent (host, Redis,
//! PostgreSQL exporters on real backends) and a real example service as targets: everything
//! up passes; Grafana, Loki and Promtail absent are FAIL rows with the reason and exit 1;
//! `--skip` makes it pass; a killed target shows down with its error (and refused in the
//! network rows); a rule over a metric no one serves is reported; garbage and wrong credentials
//! are rows, not panics.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::process::{Command, Stdio};
use std::time::Duration;

use mcp_testkit::{Alertmanager, PgCluster, Prometheus, RedisServer, free_port, wait_until};
use support::{Proc, agent_cli, closed_url, example_binary, garbage_server, start_agent};

const JOBS: &str = "prometheus,alertmanager,cdb_services,node,redis,postgres";

const AM_CONFIG: &str = "route:\n  receiver: slack-warning\nreceivers:\n  - name: watchdog\n  - name: slack-critical\n  - name: slack-infrastructure\n  - name: slack-warning\n";

const RULES: &str = "groups:\n  - name: stack\n    rules:\n      - alert: RedisDown\n        expr: redis_up == 0 or up{job=\"redis\"} == 0\n        labels: {severity: critical, category: database}\n      - alert: HighMemory\n        expr: (1 - node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes) * 100 > 99\n        labels: {severity: warning, category: infrastructure}\n";

fn status_of(rows: &[serde_json::Value]) -> Vec<&str> {
    rows.iter().map(|r| r["status"].as_str().unwrap()).collect()
}

#[test]
fn check_passes_when_up_and_names_what_is_missing_or_down() {
    let redis = RedisServer::start().unwrap();
    let pg = PgCluster::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (host_port, redis_port, pg_port) = (free_port(), free_port(), free_port());
    let config = format!(
        "host:\n  listen_address: [\"127.0.0.1:{host_port}\"]\n\
         redis:\n  listen_address: [\"127.0.0.1:{redis_port}\"]\n  settings:\n    redis_addr: {}\n\
         postgres:\n  listen_address: [\"127.0.0.1:{pg_port}\"]\n  settings:\n    data_source_names: [\"{}\"]\n",
        redis.url(),
        pg.dsn("postgres"),
    );
    let (_agent, serving) = start_agent(&config, dir.path(), 3);
    assert_eq!(serving.len(), 3, "{serving:?}");

    let ws_port = free_port();
    let ws = Command::new(example_binary("cdb_ws"))
        .env("PORT", ws_port.to_string())
        .env("REDIS_ADDR", redis.url())
        .env("DATABASE_URL", pg.dsn("postgres"))
        .env("MCP_LOG_FORMAT", "off")
        .env_remove("MCP_LOKI_URL")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut ws = Proc(ws);

    let am = Alertmanager::start(AM_CONFIG).unwrap();
    let am_hostport = am.url().trim_start_matches("http://").to_owned();
    let prom = Prometheus::start(
        &format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
             rule_files: [rules.yml]\nscrape_configs:\n\
             - job_name: prometheus\n  static_configs: [{{targets: ['{{{{self}}}}']}}]\n\
             - job_name: alertmanager\n  static_configs: [{{targets: ['{am_hostport}']}}]\n\
             - job_name: cdb_services\n  static_configs: [{{targets: ['127.0.0.1:{ws_port}'], labels: {{service: cdb_ws}}}}]\n\
             - job_name: node\n  static_configs: [{{targets: ['127.0.0.1:{host_port}']}}]\n\
             - job_name: redis\n  static_configs: [{{targets: ['127.0.0.1:{redis_port}']}}]\n\
             - job_name: postgres\n  static_configs: [{{targets: ['127.0.0.1:{pg_port}']}}]\n"
        ),
        &[("rules.yml", RULES)],
    )
    .unwrap();
    let ready = wait_until(Duration::from_secs(60), || {
        prom.query("up == 1").as_array().map(Vec::len) == Some(6)
            && !prom
                .query("rate(node_cpu_seconds_total[2m])")
                .as_array()
                .unwrap()
                .is_empty()
            && prom.query("ALERTS").as_array().is_some()
    });
    assert!(ready, "targets: {}", prom.targets());
    // Rule evaluation has run at least once.
    std::thread::sleep(Duration::from_secs(2));

    let agent_urls = format!(
        "http://127.0.0.1:{host_port},http://127.0.0.1:{redis_port},http://127.0.0.1:{pg_port}"
    );
    let (grafana, loki, promtail) = (closed_url(), closed_url(), closed_url());
    let base: Vec<String> = [
        "check",
        "--output",
        "json",
        "--prometheus-url",
        &prom.url(),
        "--alertmanager-url",
        &am.url(),
        "--grafana-url",
        &grafana,
        "--loki-url",
        &loki,
        "--promtail-url",
        &promtail,
        "--agent-url",
        &agent_urls,
        "--expect-jobs",
        JOBS,
        "--cdb-services",
        "cdb_ws",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let args = |extra: &[&str]| -> Vec<String> {
        let mut a = base.clone();
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    };
    let run = |extra: &[&str]| {
        let a = args(extra);
        agent_cli(&a.iter().map(String::as_str).collect::<Vec<_>>())
    };

    // Everything we run is up; Grafana, Loki and Promtail are absent: exit 1, and exactly their
    // rows fail, each naming the refused connection.
    let out = run(&[]);
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    let report = out.json();
    let failed: Vec<&serde_json::Value> = report["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["status"] == "FAIL")
        .collect();
    assert!(!failed.is_empty());
    for row in &failed {
        let cat = row["category"].as_str().unwrap();
        let check = row["check"].as_str().unwrap();
        assert!(
            cat == "grafana"
                || cat == "loki"
                || check.contains("Grafana")
                || check.contains("Loki")
                || check.contains("Promtail"),
            "unexpected failure: {row}"
        );
        assert!(
            row["detail"]
                .as_str()
                .unwrap()
                .contains("connection refused"),
            "{row}"
        );
    }
    for needle in ["Grafana healthy", "Loki ready", "Promtail ready"] {
        assert_eq!(status_of(&out.rows(needle)), ["FAIL"], "{needle}");
    }
    // Docker rows say why they are skipped.
    let docker: Vec<_> = out.rows("(Docker)");
    assert_eq!(docker.len(), 2);
    for row in docker {
        assert_eq!(row["status"], "SKIP");
        assert!(
            row["detail"].as_str().unwrap().contains("DOCKER_HOST"),
            "{row}"
        );
    }
    // What passes names what it saw.
    for needle in [
        "Prometheus ready",
        "Alertmanager ready",
        "job cdb_services",
        "up cdb_ws",
        "redis_up",
        "pg_up",
        "host CPU",
        "host memory",
        "host disk",
        "receivers",
        "config loaded",
        "group stack",
        "alert rule metrics",
    ] {
        assert_eq!(
            status_of(&out.rows(needle)),
            ["PASS"],
            "{needle}: {}",
            out.stdout
        );
    }
    assert_eq!(
        out.rows("mcp-agent 127.0.0.1").len(),
        3,
        "one row per agent port"
    );
    let network: Vec<_> = report["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["category"] == "network")
        .collect();
    assert_eq!(network.len(), 6);
    assert!(network.iter().all(|r| r["status"] == "PASS"));

    // The same in the table: aligned rows, no colour when not a terminal.
    let a = args(&[]);
    let mut table_args: Vec<&str> = a.iter().map(String::as_str).collect();
    table_args.retain(|x| *x != "json" && *x != "--output");
    let table = agent_cli(&table_args);
    assert_eq!(table.code, 1);
    assert!(!table.stdout.contains('\x1b'));
    assert!(
        table
            .stdout
            .lines()
            .any(|l| l.starts_with("FAIL  components"))
    );
    assert!(table.stdout.trim_end().ends_with("skipped"));

    // Skipping the absent parts makes it pass.
    let out = run(&["--skip", "grafana,loki"]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);

    // A killed target: down with its lastError, refused in the network category.
    let _ = ws.0.kill();
    let _ = ws.0.wait();
    let down = wait_until(Duration::from_secs(30), || {
        prom.targets()
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["labels"]["job"] == "cdb_services" && t["health"] == "down")
    });
    assert!(down, "{}", prom.targets());
    let out = run(&["--only", "targets,network"]);
    assert_eq!(out.code, 1);
    let rows = out.rows(&format!("cdb_services 127.0.0.1:{ws_port}"));
    assert_eq!(status_of(&rows), ["FAIL"]);
    let detail = rows[0]["detail"].as_str().unwrap();
    assert!(
        detail.starts_with("down: ") && detail.contains("refused"),
        "{detail}"
    );
    let rows = out.rows(&format!("127.0.0.1:{ws_port}"));
    let net = rows.iter().find(|r| r["category"] == "network").unwrap();
    assert!(
        net["detail"]
            .as_str()
            .unwrap()
            .starts_with("connection refused"),
        "{net}"
    );

    // Unknown categories are usage errors.
    let out = run(&["--skip", "grafan"]);
    assert_eq!(out.code, 2);
    assert_eq!(out.stderr.trim().lines().count(), 1, "{}", out.stderr);
    assert!(out.stderr.contains("grafan"));
}

#[test]
fn a_rule_over_a_metric_no_one_serves_is_reported() {
    let rules = "groups:\n  - name: orphans\n    rules:\n      - alert: NeverFires\n        expr: rate(no_exporter_serves_this_total[5m]) > 0 and on(instance) up == 1\n        labels: {severity: warning, category: application}\n      - alert: Fine\n        expr: up == 0\n        labels: {severity: warning, category: monitoring}\n";
    let prom = Prometheus::start(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files: [rules.yml]\nscrape_configs:\n- job_name: prometheus\n  static_configs: [{targets: ['{{self}}']}]\n",
        &[("rules.yml", rules)],
    )
    .unwrap();
    assert!(wait_until(Duration::from_secs(30), || {
        prom.query("up == 1").as_array().map(Vec::len) == Some(1)
    }));
    let out = agent_cli(&[
        "check",
        "--only",
        "rules",
        "--output",
        "json",
        "--prometheus-url",
        &prom.url(),
    ]);
    assert_eq!(out.code, 1, "{}", out.stdout);
    let rows = out.rows("alert NeverFires");
    assert_eq!(status_of(&rows), ["FAIL"], "{}", out.stdout);
    let detail = rows[0]["detail"].as_str().unwrap();
    assert!(detail.contains("no_exporter_serves_this_total"), "{detail}");
    assert!(!detail.contains(" up"), "up has series: {detail}");
    assert!(out.rows("alert Fine").is_empty());
}

#[test]
fn garbage_unreachable_and_wrong_credentials_are_rows_not_panics() {
    let garbage = garbage_server();
    let closed = closed_url();
    let out = agent_cli(&[
        "check",
        "--only",
        "targets,rules,promql,alertmanager",
        "--output",
        "json",
        "--prometheus-url",
        &garbage,
        "--alertmanager-url",
        &closed,
    ]);
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
    let report = out.json();
    for row in report["rows"].as_array().unwrap() {
        if row["check"] == "(category)" {
            assert_eq!(row["status"], "SKIP", "{row}");
            continue;
        }
        assert_eq!(row["status"], "FAIL", "{row}");
        let d = row["detail"].as_str().unwrap();
        if row["category"] == "alertmanager" {
            assert!(d.contains("connection refused"), "{row}");
        } else {
            assert!(d.contains("invalid JSON"), "{row}");
        }
    }

    // Wrong credentials: the agent's port behind basic auth answers 401, shown as such; the
    // password is in no output.
    let dir = tempfile::tempdir().unwrap();
    let hash = bcrypt::hash("right-password", 4).unwrap();
    let web = dir.path().join("web.yml");
    std::fs::write(&web, format!("basic_auth_users:\n  admin: {hash}\n")).unwrap();
    let port = free_port();
    let config = format!(
        "host:\n  listen_address: [\"127.0.0.1:{port}\"]\n  web_config_file: {}\nredis:\n  enabled: false\npostgres:\n  enabled: false\n",
        web.display()
    );
    let (_agent, serving) = start_agent(&config, dir.path(), 1);
    assert_eq!(serving.len(), 1);
    let creds = dir.path().join("creds");
    std::fs::write(&creds, "admin:wrong-password\n").unwrap();
    let url = format!("http://127.0.0.1:{port}");
    let cred_path = creds.to_str().unwrap();
    let common = [
        "check",
        "--only",
        "components",
        "--agent-url",
        url.as_str(),
        "--agent-credentials-file",
        cred_path,
    ];
    let out = agent_cli(&common);
    assert!(!out.stdout.contains("wrong-password") && !out.stderr.contains("wrong-password"));
    let row = out
        .stdout
        .lines()
        .find(|l| l.contains(&format!("mcp-agent 127.0.0.1:{port}")))
        .unwrap();
    assert!(row.starts_with("FAIL") && row.contains("HTTP 401"), "{row}");
    std::fs::write(&creds, "admin:right-password\n").unwrap();
    let out = agent_cli(&common);
    let row = out
        .stdout
        .lines()
        .find(|l| l.contains(&format!("mcp-agent 127.0.0.1:{port}")))
        .unwrap();
    assert!(row.starts_with("PASS"), "{row}");

    // --help names the exit codes.
    for cmd in [
        &["--help"][..],
        &["check", "--help"],
        &["fire-drill", "--help"],
        &["log-drill", "--help"],
    ] {
        let out = agent_cli(cmd);
        assert_eq!(out.code, 0);
        assert!(
            out.stdout
                .contains("Exit codes: 0 every check passed; 1 a check failed; 2 could not run"),
            "{cmd:?}"
        );
    }

    // Flags: unknown subcommand or flag, a missing secret file, a URL with credentials: one
    // line, exit 2.
    for args in [
        &["chek"][..],
        &["check", "--no-such-flag"],
        &["check", "--grafana-credentials-file", "/nonexistent/creds"],
        &[
            "check",
            "--grafana-url",
            "http://admin:hunter2@localhost:3000",
        ],
        &["fire-drill", "--drill-id", "bad id"],
        &["log-drill"],
    ] {
        let out = agent_cli(args);
        assert_eq!(out.code, 2, "{args:?}: {}", out.stderr);
        assert_eq!(
            out.stderr.trim().lines().count(),
            1,
            "{args:?}: {}",
            out.stderr
        );
        assert!(!out.stderr.contains("hunter2"), "{}", out.stderr);
    }
}

/// DOCKER_HOST set but no docker CLI to ask the engine with: the Docker rows are SKIP with that
/// reason (as without an engine), not FAIL.
#[test]
fn docker_rows_are_skip_when_the_docker_cli_is_missing() {
    let empty_path = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_mcp-agent"))
        .args(["check", "--only", "components,volumes", "--output", "json"])
        .args([
            "--prometheus-url",
            &closed_url(),
            "--alertmanager-url",
            &closed_url(),
        ])
        .args(["--grafana-url", &closed_url(), "--loki-url", &closed_url()])
        .args(["--agent-url", &closed_url(), "--http-timeout", "1s"])
        .env_remove("MCP_AGENT_CONFIG")
        .env("DOCKER_HOST", "tcp://127.0.0.1:1")
        // No directory on PATH holds a `docker` program.
        .env("PATH", empty_path.path())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let out = support::Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    for check in ["containers (Docker)", "volumes (Docker)"] {
        let rows = out.rows(check);
        assert_eq!(status_of(&rows), ["SKIP"], "{check}: {}", out.stdout);
        let detail = rows[0]["detail"].as_str().unwrap();
        assert!(
            detail.contains("docker CLI is not installed"),
            "{check}: {detail}"
        );
    }
    // The unreachable components are still FAIL rows, so the exit code says a check failed.
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
}
