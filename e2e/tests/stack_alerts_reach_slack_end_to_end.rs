//! The stack, end to end on loopback: Redis, PostgreSQL, mcp-agent, the four CDB example
//! services, Prometheus loaded with the COMMITTED prometheus.yml and alert.rules.yml, Alertmanager
//! with the COMMITTED alertmanager.yml, a Slack webhook recorder and a second Prometheus as the
//! remote-write receiver. Faults are injected and the Slack payloads they cause are checked.
//!
//! What this test changes in the committed files, and why (also printed when it runs):
//! - prometheus.yml: static targets rewritten to loopback ports; scrape and evaluation intervals
//!   1 s (15 s in the stack); the grafana and loki jobs dropped (those components do not run here,
//!   so LokiDown's `absent()` branch fires, which the test also checks); the commented
//!   remote_write block uncommented with the receiver's URL. The promtail job is kept as committed
//!   (DNS discovery of `mcp_promtail`): Promtail does not run here and this host's resolver knows
//!   no container, as in the stack without the `promtail` profile; the test checks that the job is
//!   loaded, looks the name up, has no target and never fires ServiceDown. That a running
//!   mcp_promtail is found needs Docker's DNS and is not tested here.
//! - alert.rules.yml: every `for:` shortened to 2 s, so each alert fires within seconds;
//!   expressions, thresholds, labels and annotations are the committed ones.
//! - Prometheus runs with --rules.alert.resend-delay=2s (default 1m), so alerts evaluated before its
//!   notifier has found Alertmanager are re-sent within seconds (it affects only that start-up race).
//! - alertmanager.yml: only slack_api_url_file, pointed at a file holding the recorder's URL.
//! - The example services run with CDB_FAULT_INJECTION=on (the stack runs them without it): the
//!   endpoint `cdb_load --fault` uses to answer 5xx or answer late, which is what the error-ratio
//!   and latency alerts fire on here.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Command, Stdio};
use std::sync::{Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use mcp_e2e::{
    Loopback, PanelQuery, Proc, PromProc, alertmanager_config, binary, dashboard_queries, query,
    rewrite_prometheus_config, shorten_rules, substitute, wait_http_ok,
};
use mcp_testkit::slack::{SlackPayload, SlackReceiver};
use mcp_testkit::{Alertmanager, PgCluster, RedisServer, free_port, http_get};

const SERVICES: [(&str, u16); 4] = [
    ("cdb_core", 8000),
    ("cdb_risk", 8001),
    ("cdb_execution", 8002),
    ("cdb_ws", 8003),
];
/// Long enough for a loaded 2-core machine; the happy path takes seconds.
const ALERT_TIMEOUT: Duration = Duration::from_secs(90);
/// Redis maxmemory: small, so filling past 80 % is quick.
const REDIS_MAXMEMORY: u64 = 32 * 1024 * 1024;
/// How full Redis is made for HighRedisMemory (> 90 %): a margin over the threshold.
const REDIS_HIGH_PERCENT: u64 = 93;
const PG_MAX_CONNECTIONS: u32 = 40;
/// How long a fault thread waits for another one's phase: each phase's own waits are bounded by
/// ALERT_TIMEOUT, so this only turns a hang into a failure.
const GATE_TIMEOUT: Duration = Duration::from_secs(300);
/// The cdb_load bursts: long enough for a few 1 s scrapes. Their samples stay in the alerts'
/// rate[5m] windows after the burst, so an alert arriving after the burst still fires on it.
const BURST: &str = "8s";
/// The `--fault slow` delay: above CdbHighLatencyP99's 0.5 s, clear of the 0.5 s bucket bound.
const SLOW_MS: u64 = 800;
/// What CdbHighErrorRate and CdbHighLatencyP99 compare with their thresholds, per service (for
/// the failure messages and the figures).
const RATIO_5XX: &str = "sum by (service) (rate(http_server_requests_total{status=~\"5..\"}[5m])) \
     / sum by (service) (rate(http_server_requests_total[5m]))";
const P99: &str = "histogram_quantile(0.99, sum by (service, le) \
     (rate(http_server_request_duration_seconds_bucket[5m])))";

/// A one-way signal between the fault threads: the scenarios that kill a backend wait for the
/// ones that still need it. Opened by [`OpenOnDrop`], so a thread that panics still releases its
/// waiters (who then fail or finish on their own) instead of hanging them.
#[derive(Default)]
struct Gate {
    open: Mutex<bool>,
    cv: Condvar,
}

impl Gate {
    fn open(&self) {
        *self.open.lock().unwrap_or_else(PoisonError::into_inner) = true;
        self.cv.notify_all();
    }

    /// Whether it opened within `timeout`.
    fn wait(&self, timeout: Duration) -> bool {
        let open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let (open, _) = self
            .cv
            .wait_timeout_while(open, timeout, |o| !*o)
            .unwrap_or_else(PoisonError::into_inner);
        *open
    }
}

struct OpenOnDrop<'a>(&'a Gate);

impl Drop for OpenOnDrop<'_> {
    fn drop(&mut self) {
        self.0.open();
    }
}

/// Starts `cdb_load` (the examples' load driver) against cdb_core and cdb_execution with
/// `extra` flags, JSON summary on stdout, no websocket subscribers (cdb_ws is the ServiceDown
/// scenario's), no progress lines.
fn start_load(core_port: u16, exec_port: u16, ws_port: u16, extra: &[&str]) -> std::process::Child {
    Command::new(binary("cdb_load"))
        .arg("--core-url")
        .arg(format!("http://127.0.0.1:{core_port}"))
        .arg("--execution-url")
        .arg(format!("http://127.0.0.1:{exec_port}"))
        .arg("--ws-url")
        .arg(format!("ws://127.0.0.1:{ws_port}"))
        .args([
            "--subscribers",
            "0",
            "--progress-interval",
            "0",
            "--output",
            "json",
        ])
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits for a `cdb_load` run to end (it is bounded by its duration and client timeouts) and
/// returns its JSON summary.
fn finish_load(what: &str, child: std::process::Child) -> serde_json::Value {
    let out = child.wait_with_output().unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(
        out.status.success(),
        "cdb_load ({what}) {}: {stdout}\n{stderr}",
        out.status
    );
    serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("cdb_load ({what}) summary is JSON: {e}: {stdout}"))
}

/// The 5xx a service has answered so far, by its own `/metrics` (read directly, not through
/// Prometheus' last scrape).
fn answered_5xx(port: u16) -> f64 {
    let (_, body) = http_get(&format!("http://127.0.0.1:{port}/metrics"));
    body.lines()
        .filter(|l| l.starts_with("http_server_requests_total{") && l.contains("status=\"5"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        // fold from +0.0: an empty f64 `sum()` is -0.0, which prints as "-0".
        .fold(0.0, |a, b| a + b)
}

struct Service {
    name: &'static str,
    port: u16,
    env: Vec<(String, String)>,
    proc: Proc,
}

fn start_service(
    name: &'static str,
    port: u16,
    env: &[(String, String)],
    dir: &std::path::Path,
) -> Proc {
    let mut cmd = Command::new(binary(name));
    cmd.env("PORT", port.to_string()).envs(env.iter().cloned());
    let mut proc = Proc::spawn(name, cmd, dir);
    wait_http_ok(
        &mut proc,
        &format!("http://127.0.0.1:{port}/-/healthy"),
        Duration::from_secs(60),
    );
    proc
}

/// The first payload after `since` on `channel` whose text contains every one of `needles`.
fn wait_slack(
    slack: &SlackReceiver,
    since: Instant,
    channel: &str,
    needles: &[&str],
) -> Option<SlackPayload> {
    slack.wait_for(ALERT_TIMEOUT, |p| {
        p.at >= since && p.channel() == channel && needles.iter().all(|n| p.text().contains(n))
    })
}

/// [`wait_slack`], or the test fails with `context()` (what was awaited, and the state that
/// explains why it did not come) and every payload seen.
fn expect_slack(
    slack: &SlackReceiver,
    since: Instant,
    channel: &str,
    needles: &[&str],
    context: impl FnOnce() -> String,
) -> SlackPayload {
    wait_slack(slack, since, channel, needles)
        .unwrap_or_else(|| panic!("{}; seen:\n{}", context(), channels_seen(slack)))
}

fn channels_seen(slack: &SlackReceiver) -> String {
    slack
        .payloads()
        .iter()
        .map(|p| {
            format!(
                "{} | {}",
                p.channel(),
                p.text().lines().next().unwrap_or("")
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The value of the first sample of an instant query's result.
fn sample(result: &serde_json::Value) -> Option<f64> {
    result[0]["value"][1].as_str()?.parse().ok()
}

fn report(alert: &str, channel: &str, fault: Instant, p: &SlackPayload) -> String {
    let line = format!(
        "{alert:<28} {channel:<24} fault -> Slack {:>6.1} s",
        p.at.duration_since(fault).as_secs_f64()
    );
    println!("e2e: {line}");
    line
}

#[test]
fn committed_stack_fires_each_alert_to_its_slack_channel() {
    let started = Instant::now();
    println!(
        "e2e: committed prometheus.yml with static targets on loopback, 1 s scrape/eval, jobs grafana \
         and loki dropped (not run here), job promtail as committed (DNS name mcp_promtail, which no \
         resolver here knows), remote_write uncommented; alert.rules.yml with every for: shortened \
         to 2 s; Prometheus --rules.alert.resend-delay=2s; alertmanager.yml with only \
         slack_api_url_file changed"
    );
    // Build first: the binaries are the slow part on a cold target dir.
    for (name, _) in SERVICES {
        binary(name);
    }
    binary("cdb_load");
    let agent_bin = binary("mcp-agent");
    println!(
        "e2e: binaries ready after {:.0} s",
        started.elapsed().as_secs_f64()
    );
    let dir = tempfile::tempdir().unwrap();

    // --- backends --------------------------------------------------------------------------
    let maxmemory = REDIS_MAXMEMORY.to_string();
    let mut redis = RedisServer::start_with_args(&[
        "--maxmemory",
        &maxmemory,
        "--maxmemory-policy",
        "allkeys-lru",
    ])
    .unwrap();
    let mut pg =
        PgCluster::start_with_conf(&format!("max_connections = {PG_MAX_CONNECTIONS}")).unwrap();
    pg.psql("postgres", "CREATE DATABASE cdb");
    let database_url = format!("postgres://postgres@127.0.0.1:{}/cdb", pg.port());
    let loki = mcp_testkit::loki::FakeLoki::start();
    let slack = SlackReceiver::start();

    // --- mcp-agent: the three exporters on loopback ports ----------------------------------------
    let (host_port, redis_port, pg_port) = (free_port(), free_port(), free_port());
    let agent_cfg = dir.path().join("agent.yml");
    std::fs::write(
        &agent_cfg,
        format!(
            "host:\n  listen_address: [\"127.0.0.1:{host_port}\"]\n\
             redis:\n  listen_address: [\"127.0.0.1:{redis_port}\"]\n  settings:\n    redis_addr: {}\n\
             postgres:\n  listen_address: [\"127.0.0.1:{pg_port}\"]\n  settings:\n    data_source_names: [\"{}\"]\n",
            redis.url(),
            pg.dsn("postgres"),
        ),
    )
    .unwrap();
    let mut cmd = Command::new(&agent_bin);
    cmd.arg("--config").arg(&agent_cfg);
    let mut agent = Proc::spawn("mcp-agent", cmd, dir.path());
    for port in [host_port, redis_port, pg_port] {
        wait_http_ok(
            &mut agent,
            &format!("http://127.0.0.1:{port}/metrics"),
            Duration::from_secs(30),
        );
    }

    // --- the four CDB services (env per CONTRACTS.md) --------------------------------------------
    let ports: Vec<u16> = SERVICES.iter().map(|_| free_port()).collect();
    let risk_url = format!("http://127.0.0.1:{}", ports[1]);
    let mut services: Vec<Service> = SERVICES
        .iter()
        .zip(&ports)
        .map(|((name, _), &port)| {
            let env = vec![
                ("REDIS_ADDR".to_owned(), redis.url()),
                ("DATABASE_URL".to_owned(), database_url.clone()),
                ("RISK_URL".to_owned(), risk_url.clone()),
                ("MCP_LOKI_URL".to_owned(), loki.url()),
                ("MCP_LOKI_BATCH_WAIT_MS".to_owned(), "200".to_owned()),
                // The fault endpoint cdb_load drives (CdbHighErrorRate, CdbHighLatencyP99).
                ("CDB_FAULT_INJECTION".to_owned(), "on".to_owned()),
            ];
            let proc = start_service(name, port, &env, dir.path());
            Service {
                name,
                port,
                env,
                proc,
            }
        })
        .collect();

    // --- Alertmanager (committed routing), remote-write receiver, Prometheus (committed config) ---
    let url_file = dir.path().join("slack_webhook_url");
    std::fs::write(&url_file, slack.url()).unwrap();
    let am = Alertmanager::start(&alertmanager_config(&url_file)).unwrap();
    let am_addr = am.url().trim_start_matches("http://").to_owned();
    let receiver = PromProc::start(
        "remote-write-receiver",
        "global: {scrape_interval: 1m}\n",
        &[],
        &["--web.enable-remote-write-receiver"],
        dir.path(),
    );
    let receiver_url = receiver.url();
    let mut targets: Vec<(String, String)> = SERVICES
        .iter()
        .zip(&ports)
        .map(|((name, port), p)| (format!("{name}:{port}"), format!("127.0.0.1:{p}")))
        .collect();
    targets.push(("mcp_agent:9100".into(), format!("127.0.0.1:{host_port}")));
    targets.push(("mcp_agent:9121".into(), format!("127.0.0.1:{redis_port}")));
    targets.push(("mcp_agent:9187".into(), format!("127.0.0.1:{pg_port}")));
    let lb = Loopback {
        targets,
        alertmanager: am_addr,
        remote_write: Some(format!("{receiver_url}/api/v1/write")),
        drop_jobs: vec!["grafana".into(), "loki".into()],
    };
    let config = rewrite_prometheus_config(&lb).to_string();
    let rules = shorten_rules("2s");
    // --rules.alert.resend-delay 2 s (default 1 m): alerts of the first evaluations, sent before the
    // notifier has discovered Alertmanager, are re-sent after 2 s instead of a minute.
    let prom = PromProc::start(
        "prometheus",
        &config,
        &[("alert.rules.yml", &rules)],
        &["--rules.alert.resend-delay=2s"],
        dir.path(),
    );
    let prom_started = Instant::now();

    // Traffic, so the request, latency and log panels have data.
    let drive = |services: &[Service]| {
        for s in services {
            for _ in 0..3 {
                http_get(&format!("http://127.0.0.1:{}/api/v1/status", s.port));
            }
        }
    };
    drive(&services);

    // --- every target up -------------------------------------------------------------------------
    // CDB services, exporters, the agent's own families, prometheus + alertmanager.
    let expected_targets = 4 + 3 + 1 + 2;
    let all_up = mcp_testkit::wait_until(Duration::from_secs(60), || {
        let t = prom.targets();
        let t = t.as_array().cloned().unwrap_or_default();
        t.len() == expected_targets && t.iter().all(|t| t["health"] == "up")
    });
    assert!(
        all_up,
        "every target of the committed jobs up: {:#}",
        prom.targets()
    );
    let jobs: Vec<String> = prom
        .targets()
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["labels"]["job"].as_str().unwrap_or("").to_owned())
        .collect();
    for job in [
        "prometheus",
        "alertmanager",
        "cdb_services",
        "node",
        "redis",
        "postgres",
    ] {
        assert!(jobs.iter().any(|j| j == job), "job {job} in {jobs:?}");
    }
    println!(
        "e2e: all {expected_targets} targets up ({:.0} s after Prometheus started)",
        prom_started.elapsed().as_secs_f64()
    );

    // --- the promtail job: loaded, looks mcp_promtail up, has no target -------------------------
    // As in the stack without the `promtail` profile: the name resolves nowhere, so no target, no
    // `up` series and (checked at the end) no ServiceDown. Whether the resolver answered NXDOMAIN
    // or failed is printed: a name never resolved has no target either way (prometheus.yml).
    let mut lookups = None;
    let looked_up = mcp_testkit::wait_until(Duration::from_secs(30), || {
        lookups = sample(&prom.query("prometheus_sd_dns_lookups_total"));
        lookups.is_some_and(|n| n > 0.0)
    });
    assert!(
        looked_up,
        "the promtail job's DNS discovery ran: {lookups:?}"
    );
    let discovered = prom.query(r#"prometheus_sd_discovered_targets{config="promtail"}"#);
    assert_eq!(
        sample(&discovered),
        Some(0.0),
        "the promtail job is loaded and discovered no target: {discovered}"
    );
    let promtail_up = prom.query(r#"up{job="promtail"}"#);
    assert!(
        promtail_up.as_array().is_some_and(|r| r.is_empty()),
        "no up series for promtail: {promtail_up}"
    );
    // Both counters read back to back: a refresh (every 15 s) seldom falls between the two.
    let lookups = sample(&prom.query("prometheus_sd_dns_lookups_total")).unwrap_or(0.0);
    let failures = sample(&prom.query("prometheus_sd_dns_lookup_failures_total")).unwrap_or(0.0);
    println!(
        "e2e: job promtail loaded, 0 targets, no up series; {lookups} DNS lookups of mcp_promtail \
         so far: {} answered NXDOMAIN, {failures} failed",
        lookups - failures
    );

    // The compose healthchecks of the processes that run here, ports substituted: they pass on a
    // healthy process and fail on a closed port.
    let prom_addr = prom.url().trim_start_matches("http://").to_owned();
    let am_addr = am.url().trim_start_matches("http://").to_owned();
    let (h, r, p) = (
        host_port.to_string(),
        redis_port.to_string(),
        pg_port.to_string(),
    );
    for (svc, repl) in [
        ("prometheus", vec![("127.0.0.1:9090", prom_addr.as_str())]),
        ("alertmanager", vec![("127.0.0.1:9093", am_addr.as_str())]),
        (
            "mcp-agent",
            vec![
                ("9100", h.as_str()),
                ("9121", r.as_str()),
                ("9187", p.as_str()),
            ],
        ),
    ] {
        let cmd = mcp_e2e::compose_healthcheck(svc, &repl);
        assert!(mcp_e2e::run_healthcheck(&cmd), "{svc} healthcheck {cmd:?}");
    }
    let closed = free_port().to_string();
    let cmd = mcp_e2e::compose_healthcheck(
        "mcp-agent",
        &[
            ("9100", h.as_str()),
            ("9121", closed.as_str()),
            ("9187", p.as_str()),
        ],
    );
    assert!(
        !mcp_e2e::run_healthcheck(&cmd),
        "agent healthcheck fails on a closed port"
    );
    println!(
        "e2e: compose healthchecks of prometheus, alertmanager, mcp-agent pass (and fail on a closed port)"
    );

    // --- every PromQL expression of every committed dashboard returns data -----------------------
    let queries = dashboard_queries();
    let promql: Vec<&PanelQuery> = queries
        .iter()
        .filter(|q| q.datasource == "prometheus")
        .collect();
    assert!(
        promql.len() >= 30,
        "dashboards have their panels: {}",
        promql.len()
    );
    let mut empty: Vec<String> = Vec::new();
    for q in &promql {
        let expr = substitute(&q.expr, "1m");
        let ok = mcp_testkit::wait_until(Duration::from_secs(30), || {
            drive(&services);
            query(&prom.url(), &expr)
                .as_array()
                .is_some_and(|r| !r.is_empty())
        });
        if !ok {
            empty.push(format!(
                "{} / {}: {expr} -> {}",
                q.dashboard,
                q.panel,
                query(&prom.url(), &expr)
            ));
        }
    }
    assert!(
        empty.is_empty(),
        "dashboard queries without data:\n{}",
        empty.join("\n")
    );
    println!(
        "e2e: {} PromQL expressions of {} dashboards return data ({:.0} s after Prometheus started)",
        promql.len(),
        4,
        prom_started.elapsed().as_secs_f64()
    );
    // The logs panel's selector, as the README's runbooks use it, finds the service's pushed lines
    // (LogQL here is answered by the test's Loki-compatible receiver).
    let logs_found = mcp_testkit::wait_until(Duration::from_secs(30), || {
        drive(&services);
        loki.select(r#"{container_name="cdb_ws"}"#)
            .is_ok_and(|r| !r.is_empty())
    });
    // Checked at the end (so every other assertion runs first): the `container_name` stream
    // label is set by the example services (CONTRACTS.md).
    let mut deferred: Vec<String> = Vec::new();
    if !logs_found {
        deferred.push(format!(
            "{{container_name=\"cdb_ws\"}} finds no line of cdb_ws; streams seen: {:?}",
            loki.entries()
                .iter()
                .map(|e| e.label_map())
                .collect::<std::collections::BTreeSet<_>>()
        ));
    }

    // --- Watchdog reaches its route ----------------------------------------------------------------
    let watchdog = slack.wait_for(ALERT_TIMEOUT, |p| {
        p.channel() == "#alerts-watchdog" && p.text().contains("Watchdog")
    });
    assert!(
        watchdog.is_some(),
        "Watchdog on #alerts-watchdog; seen:\n{}",
        channels_seen(&slack)
    );
    let am_alerts = am.alerts();
    let watchdog_receivers: Vec<String> = am_alerts
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["labels"]["alertname"] == "Watchdog")
        .flat_map(|a| a["receivers"].as_array().cloned().unwrap_or_default())
        .map(|r| r["name"].as_str().unwrap_or("").to_owned())
        .collect();
    assert_eq!(watchdog_receivers, ["watchdog"], "{am_alerts:#}");
    println!(
        "e2e: Watchdog reached receiver watchdog {:.1} s after Prometheus started",
        watchdog
            .unwrap()
            .at
            .duration_since(prom_started)
            .as_secs_f64()
    );
    // The loki job is absent here: LokiDown's absent() branch fires, to #alerts-critical.
    let loki_down = wait_slack(
        &slack,
        started,
        "#alerts-critical",
        &["LokiDown", "Loki is down"],
    );
    assert!(
        loki_down.is_some(),
        "LokiDown (job absent) on #alerts-critical; seen:\n{}",
        channels_seen(&slack)
    );

    // --- faults, in parallel where they do not share a backend -------------------------------------
    // Who needs what: the cdb_load bursts (CdbHighErrorRate, CdbHighLatencyP99) need Redis and
    // PostgreSQL up and PostgreSQL not full, or the services would answer 503s of their own
    // (a second, unintended error-rate cause). So the bursts start once
    // TooManyPostgresConnections has released its sessions (`pg_released`), and PostgreSQLDown
    // and RedisDown kill their backends only after the bursts are over (`bursts_done`); with no
    // traffic after that, the dead backends add no 5xx. Each phase is seconds long, all within
    // the minute ServiceDown's resolution waits for (group_interval).
    let port_of = |name: &str| services.iter().find(|s| s.name == name).unwrap().port;
    let (core_port, exec_port, ws_port) = (
        port_of("cdb_core"),
        port_of("cdb_execution"),
        port_of("cdb_ws"),
    );
    let risk_port = port_of("cdb_risk");
    let (pg_released, bursts_done) = (Gate::default(), Gate::default());
    let (pg_released, bursts_done) = (&pg_released, &bursts_done);
    let mut lines: Vec<String> = Vec::new();
    std::thread::scope(|s| {
        // cdb_ws stops -> ServiceDown on #alerts-critical, then resolves when it is back.
        let ws = services.iter_mut().find(|s| s.name == "cdb_ws").unwrap();
        let slack_ref = &slack;
        let dir_path = dir.path();
        let service_down = s.spawn(move || {
            let fault = Instant::now();
            ws.proc.kill();
            // The instance in the needles: the backends killed meanwhile must not be mistaken
            // for it (a ServiceDown of their exporter would be another group).
            let instance = format!("127.0.0.1:{}", ws.port);
            let p = expect_slack(
                slack_ref,
                fault,
                "#alerts-critical",
                &["ServiceDown", "FIRING", &instance],
                || "ServiceDown on #alerts-critical".to_owned(),
            );
            let text = p.text();
            assert!(
                text.contains(&format!("127.0.0.1:{}", ws.port))
                    && text.contains("Runbook: https://"),
                "ServiceDown text names the target and the runbook: {text}"
            );
            let mut out = vec![report("ServiceDown", "#alerts-critical", fault, &p)];
            let back = Instant::now();
            ws.proc = start_service(ws.name, ws.port, &ws.env, dir_path);
            let r = expect_slack(
                slack_ref,
                back,
                "#alerts-critical",
                &["ServiceDown", "RESOLVED", &instance],
                || "ServiceDown resolved on #alerts-critical".to_owned(),
            );
            out.push(report(
                "ServiceDown (resolved)",
                "#alerts-critical",
                back,
                &r,
            ));
            out
        });

        // PostgreSQL: connections past 90 % of max_connections -> TooManyPostgresConnections;
        // then, once the bursts are done with it, this test's PostgreSQL killed -> PostgreSQLDown.
        let pg_ref = &mut pg;
        let prom_ref = &prom;
        let postgres = s.spawn(move || {
            let released = OpenOnDrop(pg_released);
            let fault = Instant::now();
            let target = (f64::from(PG_MAX_CONNECTIONS) * 0.9).floor() as usize + 1;
            let mut held = Vec::new();
            // Open idle sessions until the exporter's own count is past the threshold, leaving
            // slots for the exporter and the services.
            let reached = mcp_testkit::wait_until(Duration::from_secs(60), || {
                let now: usize = pg_ref
                    .psql(
                        "postgres",
                        "SELECT count(*) FROM pg_stat_activity WHERE datname IS NOT NULL",
                    )
                    .parse()
                    .unwrap_or(0);
                // This psql's own session is counted in `now`.
                if now > target {
                    return true;
                }
                held.push(pg_ref.psql_background("cdb", "SELECT 1;"));
                false
            });
            assert!(reached, "opened {} sessions", held.len());
            let p = expect_slack(
                slack_ref,
                fault,
                "#alerts-infrastructure",
                &["TooManyPostgresConnections", "FIRING"],
                || {
                    format!(
                        "TooManyPostgresConnections on #alerts-infrastructure; \
                         pg_stat_activity_count {}",
                        prom_ref.query("sum(pg_stat_activity_count)")
                    )
                },
            );
            let mut out = vec![report(
                "TooManyPostgresConnections",
                "#alerts-infrastructure",
                fault,
                &p,
            )];
            for mut c in held {
                let _ = c.kill();
                let _ = c.wait();
            }
            drop(released);
            assert!(
                bursts_done.wait(GATE_TIMEOUT),
                "the cdb_load bursts did not end within {GATE_TIMEOUT:?}"
            );
            // The exporter keeps answering, with pg_up 0 (critical, database: #alerts-critical,
            // the first matching route). PostgreSQLDown hides a ServiceDown only of the same
            // instance (the exporter's), which is not scraped down here.
            let fault = Instant::now();
            pg_ref.kill();
            let instance = format!("127.0.0.1:{pg_port}");
            let p = expect_slack(
                slack_ref,
                fault,
                "#alerts-critical",
                &["PostgreSQLDown", "FIRING", &instance],
                || {
                    format!(
                        "PostgreSQLDown on #alerts-critical; pg_up {}",
                        prom_ref.query("pg_up")
                    )
                },
            );
            let text = p.text();
            assert!(
                text.contains("PostgreSQL is down") && text.contains("Runbook: https://"),
                "PostgreSQLDown text has its summary and runbook: {text}"
            );
            out.push(report("PostgreSQLDown", "#alerts-critical", fault, &p));
            out
        });

        // Redis: fill past 80 % of maxmemory -> RedisBackpressure; past 90 % -> HighRedisMemory;
        // then, once the bursts are done with it, kill it -> RedisDown.
        let redis_ref = &mut redis;
        let redis_faults = s.spawn(move || {
            let used = |r: &RedisServer| -> u64 {
                r.cli(&["INFO", "memory"])
                    .lines()
                    .find_map(|l| l.strip_prefix("used_memory:"))
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(0)
            };
            // 512 KiB per round until past `percent` of maxmemory; the fill reached.
            let mut round = 0;
            let mut fill_past = |percent: u64, max_rounds: usize| -> f64 {
                while used(redis_ref) * 100 < REDIS_MAXMEMORY * percent {
                    redis_ref.cli(&[
                        "EVAL",
                        "for i=1,128 do redis.call('SET', ARGV[1]..i, string.rep('x', 4096)) end",
                        "0",
                        &format!("fill:{round}:"),
                    ]);
                    round += 1;
                    assert!(round < max_rounds, "Redis does not fill past {percent}%");
                }
                used(redis_ref) as f64 / REDIS_MAXMEMORY as f64
            };
            let fault = Instant::now();
            // Stopping between 82 % and 90 % (HighRedisMemory is not the point yet).
            let fill = fill_past(82, 200);
            let p = expect_slack(
                slack_ref,
                fault,
                "#alerts-infrastructure",
                &["RedisBackpressure", "FIRING"],
                || {
                    format!(
                        "RedisBackpressure on #alerts-infrastructure at {:.0}% of maxmemory",
                        fill * 100.0
                    )
                },
            );
            let mut out = vec![report(
                "RedisBackpressure",
                "#alerts-infrastructure",
                fault,
                &p,
            )];
            println!("e2e: Redis filled to {:.0}% of maxmemory", fill * 100.0);
            // HighRedisMemory is critical (#alerts-critical), RedisBackpressure a warning: the
            // critical-hides-warning rule needs the same alertname, so neither hides the other.
            // It is seen before the kill: a dead Redis has no redis_memory_* series.
            let fault = Instant::now();
            let fill = fill_past(REDIS_HIGH_PERCENT, 400);
            let p = expect_slack(
                slack_ref,
                fault,
                "#alerts-critical",
                &["HighRedisMemory", "FIRING"],
                || {
                    format!(
                        "HighRedisMemory on #alerts-critical at {:.0}% of maxmemory",
                        fill * 100.0
                    )
                },
            );
            let text = p.text();
            assert!(
                text.contains(&format!("127.0.0.1:{redis_port}"))
                    && text.contains("uses more than 90% of maxmemory")
                    && text.contains("Runbook: https://"),
                "HighRedisMemory text names the exporter, the summary and the runbook: {text}"
            );
            out.push(report("HighRedisMemory", "#alerts-critical", fault, &p));
            println!(
                "e2e: Redis filled to {:.0}% of maxmemory for HighRedisMemory",
                fill * 100.0
            );
            assert!(
                bursts_done.wait(GATE_TIMEOUT),
                "the cdb_load bursts did not end within {GATE_TIMEOUT:?}"
            );
            let fault = Instant::now();
            redis_ref.kill();
            let p = expect_slack(
                slack_ref,
                fault,
                "#alerts-critical",
                &["RedisDown", "FIRING"],
                || "RedisDown on #alerts-critical".to_owned(),
            );
            out.push(report("RedisDown", "#alerts-critical", fault, &p));
            out
        });

        // cdb_load, two bursts at once on two services, so each alert has its own cause:
        // - 5xx: `--fault errors` into cdb_execution, orders only: half answered 500 at once (not
        //   delayed, so they do not raise its p99) -> CdbHighErrorRate for cdb_execution;
        // - latency: `--fault slow` into cdb_core, lookups only: every one answered, 800 ms late,
        //   none a 5xx (checked) -> CdbHighLatencyP99 for cdb_core.
        // Both are warning/application: #alerts-warning, one group per alertname.
        let bursts = s.spawn(move || {
            let _done = OpenOnDrop(bursts_done);
            assert!(
                pg_released.wait(GATE_TIMEOUT),
                "TooManyPostgresConnections did not release its sessions within {GATE_TIMEOUT:?}"
            );
            let core_5xx_before = answered_5xx(core_port);
            let (exec_url, core_url) = (
                format!("http://127.0.0.1:{exec_port}"),
                format!("http://127.0.0.1:{core_port}"),
            );
            let delay = SLOW_MS.to_string();
            let fault = Instant::now();
            let errors = start_load(
                core_port,
                exec_port,
                ws_port,
                &[
                    "--rate",
                    "20",
                    "--duration",
                    BURST,
                    "--lookup-share",
                    "0",
                    "--fault",
                    "errors",
                    "--fault-ratio",
                    "0.5",
                    "--fault-target",
                    &exec_url,
                ],
            );
            let slow = start_load(
                core_port,
                exec_port,
                ws_port,
                &[
                    "--rate",
                    "10",
                    "--duration",
                    BURST,
                    "--lookup-share",
                    "1",
                    "--fault",
                    "slow",
                    "--fault-delay-ms",
                    &delay,
                    "--fault-target",
                    &core_url,
                ],
            );
            let errors = finish_load("--fault errors", errors);
            let slow = finish_load("--fault slow", slow);
            assert_eq!(errors["fault"], "errors", "{errors}");
            assert!(errors["errors"].as_u64().unwrap() > 0, "{errors}");
            assert_eq!(slow["fault"], "slow", "{slow}");
            assert!(slow["requests"].as_u64().unwrap() > 0, "{slow}");
            // A sleep never ends early: every delayed answer took at least the delay (a lower
            // bound, not a timing threshold).
            assert!(
                slow["latency_ms"]["p50"].as_f64().unwrap() >= SLOW_MS as f64,
                "{slow}"
            );
            println!(
                "e2e: cdb_load --fault errors on cdb_execution: {} requests, {} errors; \
                 --fault slow ({SLOW_MS} ms) on cdb_core: {} requests, driver p50 {} ms",
                errors["requests"], errors["errors"], slow["requests"], slow["latency_ms"]["p50"]
            );

            let p = expect_slack(
                slack_ref,
                fault,
                "#alerts-warning",
                &[
                    "CdbHighErrorRate",
                    "FIRING",
                    "cdb_execution answers more than 5% 5xx",
                ],
                || {
                    format!(
                        "CdbHighErrorRate for cdb_execution on #alerts-warning; ratio {}",
                        prom_ref.query(RATIO_5XX)
                    )
                },
            );
            assert!(
                p.text().contains("Runbook: https://"),
                "CdbHighErrorRate text has its runbook: {}",
                p.text()
            );
            let mut out = vec![report("CdbHighErrorRate", "#alerts-warning", fault, &p)];
            let p = expect_slack(
                slack_ref,
                fault,
                "#alerts-warning",
                &[
                    "CdbHighLatencyP99",
                    "FIRING",
                    "cdb_core p99 latency above 500 ms",
                ],
                || {
                    format!(
                        "CdbHighLatencyP99 for cdb_core on #alerts-warning; p99 {}",
                        prom_ref.query(P99)
                    )
                },
            );
            assert!(
                p.text().contains("Runbook: https://"),
                "CdbHighLatencyP99 text has its runbook: {}",
                p.text()
            );
            out.push(report("CdbHighLatencyP99", "#alerts-warning", fault, &p));
            // The slow fault made no 5xx: cdb_core's latency alert is not an error-rate one,
            // and no error-rate alert can fire for cdb_core.
            let core_5xx = answered_5xx(core_port) - core_5xx_before;
            assert_eq!(core_5xx, 0.0, "cdb_core answered 5xx under the slow fault");
            let p99 = prom_ref.query(P99);
            let exec_p99 = p99
                .as_array()
                .into_iter()
                .flatten()
                .find(|r| r["metric"]["service"] == "cdb_execution")
                .and_then(|r| r["value"][1].as_str()?.parse::<f64>().ok());
            println!(
                "e2e: after the bursts: 5xx answered by cdb_execution {}, cdb_core {core_5xx}, \
                 cdb_risk {}; cdb_execution p99 {} (the error burst's, not slowed)",
                answered_5xx(exec_port),
                answered_5xx(risk_port),
                exec_p99.map_or("-".to_owned(), |v| format!("{:.1} ms", v * 1000.0)),
            );
            out
        });

        // A fire drill as `mcp-agent fire-drill` posts it (CONTRACTS.md labels), twice with two
        // drill ids: each reaches #alerts-warning on its own, the second not held back by the first.
        let am_url = am.url();
        let drills = s.spawn(move || {
            let client = reqwest::blocking::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap();
            let mut out = Vec::new();
            for id in ["e2e-drill-1", "e2e-drill-2"] {
                let fault = Instant::now();
                let body = serde_json::json!([{
                    "labels": {
                        "alertname": "McpFireDrill", "severity": "warning",
                        "category": "application", "instance": "mcp-agent-fire-drill",
                        "drill_id": id,
                    },
                    "annotations": {
                        "summary": format!("Fire drill {id}"),
                        "description": "A test alert.", "runbook_url": "https://example.invalid/",
                    },
                }]);
                let res = client
                    .post(format!("{am_url}/api/v2/alerts"))
                    .json(&body)
                    .send()
                    .unwrap();
                assert!(res.status().is_success(), "post drill: {}", res.status());
                let p = expect_slack(
                    slack_ref,
                    fault,
                    "#alerts-warning",
                    &["McpFireDrill", id],
                    || format!("fire drill {id} on #alerts-warning"),
                );
                out.push(report(
                    &format!("McpFireDrill ({id})"),
                    "#alerts-warning",
                    fault,
                    &p,
                ));
            }
            out
        });

        // The remote-write receiver has our series, from every job.
        let remote = s.spawn(move || {
            let jobs = [
                "prometheus",
                "alertmanager",
                "cdb_services",
                "node",
                "redis",
                "postgres",
            ];
            let mut seen = serde_json::Value::Null;
            let ok = mcp_testkit::wait_until(Duration::from_secs(60), || {
                seen = query(&receiver_url, "count by (job) (up)");
                jobs.iter().all(|j| {
                    seen.as_array()
                        .is_some_and(|r| r.iter().any(|s| s["metric"]["job"] == *j))
                }) && query(&receiver_url, "redis_up{job=\"redis\"}")
                    .as_array()
                    .is_some_and(|r| !r.is_empty())
            });
            assert!(ok, "remote-write receiver has every job's series: {seen}");
            println!("e2e: remote-write receiver has the series of every job");
        });

        remote.join().unwrap();
        lines.extend(drills.join().unwrap());
        lines.extend(bursts.join().unwrap());
        lines.extend(redis_faults.join().unwrap());
        lines.extend(postgres.join().unwrap());
        lines.extend(service_down.join().unwrap());
    });
    // The promtail job, without a target all along, never fired ServiceDown.
    let promtail_alerts: Vec<String> = slack
        .payloads()
        .iter()
        .filter(|p| p.text().contains("ServiceDown") && p.text().contains("promtail"))
        .map(SlackPayload::text)
        .collect();
    assert!(
        promtail_alerts.is_empty(),
        "ServiceDown for the promtail job, which has no target: {promtail_alerts:?}"
    );
    let promtail_firing = prom.query(r#"ALERTS{job="promtail"}"#);
    assert!(
        promtail_firing.as_array().is_some_and(|r| r.is_empty()),
        "no alert on the promtail job: {promtail_firing}"
    );
    // The error burst was cdb_execution's alone: no error-rate alert ever named cdb_core (whose
    // slow burst answered no 5xx, and which had no traffic once the backends were killed).
    let core_errors: Vec<String> = slack
        .payloads()
        .iter()
        .filter(|p| p.text().contains("CdbHighErrorRate") && p.text().contains("cdb_core"))
        .map(SlackPayload::text)
        .collect();
    assert!(
        core_errors.is_empty(),
        "CdbHighErrorRate for cdb_core, which answered no 5xx: {core_errors:?}"
    );
    println!("e2e: fault -> Slack, per alert:");
    for l in &lines {
        println!("  {l}");
    }
    println!("e2e: done in {:.0} s", started.elapsed().as_secs_f64());
    drop(agent);
    assert!(deferred.is_empty(), "{}", deferred.join("\n"));
}
