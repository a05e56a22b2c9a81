//! `mcp-agent fire-drill` against a real Alertmanager loaded with the COMMITTED
//! docker/mcp/alertmanager/alertmanager.yml (read at test time): the drill alert appears in
//! `/api/v2/alerts` routed to `slack-warning`, a Slack payload reaches the test's receiver on
//! `#alerts-warning`, and `--resolve` delivers the resolved message (CONTRACTS.md).
//!
//! The test changes only what a test must: `global.slack_api_url_file` (the contract's exact
//! path) points at a temp file holding the receiver's URL, and the route tree's `group_wait` /
//! `group_interval` become 1s so the resolved notification does not wait minutes. Matchers,
//! receivers and templates are the committed ones.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use mcp_testkit::Alertmanager;
use mcp_testkit::slack::SlackReceiver;
use serde_json::Value;
use support::{agent_cli, closed_url, garbage_server};

const SECRET_PATH: &str = "/etc/alertmanager/secrets/slack_webhook_url";

fn shorten_timers(route: &mut Value) {
    if let Some(obj) = route.as_object_mut() {
        for key in ["group_wait", "group_interval"] {
            if obj.contains_key(key) {
                obj.insert(key.into(), "1s".into());
            }
        }
        if let Some(routes) = obj.get_mut("routes").and_then(Value::as_array_mut) {
            routes.iter_mut().for_each(shorten_timers);
        }
    }
}

fn committed_config(slack: &SlackReceiver, dir: &std::path::Path) -> String {
    let path = mcp_testkit::workspace_root().join("docker/mcp/alertmanager/alertmanager.yml");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut config: Value = mcp_exporter_core::yaml::from_str(&text).unwrap();
    assert_eq!(
        config["global"]["slack_api_url_file"],
        SECRET_PATH,
        "CONTRACTS.md: global.slack_api_url_file must be exactly {SECRET_PATH} in {}",
        path.display()
    );
    let url_file = dir.join("slack_webhook_url");
    std::fs::write(&url_file, slack.url()).unwrap();
    config["global"]["slack_api_url_file"] = url_file.to_str().unwrap().into();
    let route = config.get_mut("route").unwrap();
    route["group_wait"] = "1s".into();
    route["group_interval"] = "1s".into();
    shorten_timers(route);
    // JSON is YAML: Alertmanager reads it as such.
    config.to_string()
}

#[test]
fn fire_drill_reaches_slack_warning_and_resolve_delivers_the_resolved_message() {
    let slack = SlackReceiver::start();
    let dir = tempfile::tempdir().unwrap();
    let am = Alertmanager::start(&committed_config(&slack, dir.path())).unwrap();

    let out = agent_cli(&[
        "fire-drill",
        "--wait",
        "--output",
        "json",
        "--alertmanager-url",
        &am.url(),
    ]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let report = out.json();
    let drill_id = report["drill_id"].as_str().unwrap().to_owned();
    assert!(report["seen_after_seconds"].as_f64().is_some());
    assert_eq!(
        report["receivers"],
        serde_json::json!(["slack-warning"]),
        "{report}"
    );

    // In Alertmanager's own API, with the contract's labels and an endsAt in the future.
    let alerts = am.alerts();
    let alert = alerts
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["labels"]["drill_id"] == drill_id.as_str())
        .unwrap_or_else(|| panic!("drill {drill_id} not in {alerts}"));
    assert_eq!(alert["labels"]["alertname"], "McpFireDrill");
    assert_eq!(alert["labels"]["severity"], "warning");
    assert_eq!(alert["labels"]["category"], "application");
    assert_eq!(alert["labels"]["instance"], "mcp-agent-fire-drill");
    assert_eq!(alert["status"]["state"], "active");

    let firing = slack
        .wait_for(Duration::from_secs(30), |p| {
            p.channel() == "#alerts-warning" && p.json.to_string().contains("McpFireDrill")
        })
        .unwrap_or_else(|| panic!("no #alerts-warning payload: {:?}", slack.payloads()));
    assert!(!firing.json.to_string().to_lowercase().contains("resolved"));

    // A second operator's drill gets its own id. It is resolved at once: sharing the drill's
    // aggregation group, a firing one would keep the group's notification "firing".
    let other = agent_cli(&[
        "fire-drill",
        "--resolve",
        "--wait",
        "--output",
        "json",
        "--alertmanager-url",
        &am.url(),
    ]);
    assert_eq!(other.code, 0, "{}", other.stdout);
    assert_ne!(other.json()["drill_id"].as_str().unwrap(), drill_id);

    let out = agent_cli(&[
        "fire-drill",
        "--drill-id",
        &drill_id,
        "--resolve",
        "--wait",
        "--alertmanager-url",
        &am.url(),
    ]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stdout
            .lines()
            .any(|l| l.starts_with("PASS") && l.contains("resolved in Alertmanager")),
        "{}",
        out.stdout
    );
    let resolved = slack.wait_for(Duration::from_secs(30), |p| {
        p.channel() == "#alerts-warning" && p.json.to_string().to_lowercase().contains("resolved")
    });
    assert!(
        resolved.is_some(),
        "no resolved payload: {:?}",
        slack.payloads()
    );
}

#[test]
fn unreachable_or_garbage_alertmanager_is_clear() {
    let out = agent_cli(&["fire-drill", "--alertmanager-url", &closed_url()]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert_eq!(out.stderr.trim().lines().count(), 1, "{}", out.stderr);
    assert!(out.stderr.contains("connection refused"), "{}", out.stderr);

    let out = agent_cli(&[
        "fire-drill",
        "--output",
        "json",
        "--alertmanager-url",
        &garbage_server(),
    ]);
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    let rows = out.rows("alert in Alertmanager");
    assert_eq!(rows[0]["status"], "FAIL");
    assert!(
        rows[0]["detail"].as_str().unwrap().contains("invalid JSON"),
        "{}",
        out.stdout
    );
}

#[test]
fn via_prometheus_follows_the_watchdog_to_alertmanager() {
    let am = Alertmanager::start("route:\n  receiver: watchdog\nreceivers:\n  - name: watchdog\n")
        .unwrap();
    let am_hostport = am.url().trim_start_matches("http://").to_owned();
    let rules = "groups:\n  - name: meta\n    rules:\n      - alert: Watchdog\n        expr: vector(1)\n        labels: {severity: warning, category: monitoring}\n";
    let prom = mcp_testkit::Prometheus::start(
        &format!(
            "global:\n  evaluation_interval: 1s\nrule_files: [rules.yml]\nalerting:\n  alertmanagers:\n    - static_configs: [{{targets: ['{am_hostport}']}}]\n"
        ),
        &[("rules.yml", rules)],
    )
    .unwrap();
    // Prometheus drops the first notification when it comes before the Alertmanager is
    // discovered, and resends after its 1m resend delay: hence the long wait.
    let out = agent_cli(&[
        "fire-drill",
        "--via",
        "prometheus",
        "--wait",
        "--timeout",
        "150s",
        "--output",
        "json",
        "--prometheus-url",
        &prom.url(),
        "--alertmanager-url",
        &am.url(),
    ]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let rows = out.rows("Watchdog in Alertmanager");
    assert_eq!(rows[0]["status"], "PASS");
    assert!(
        rows[0]["detail"].as_str().unwrap().contains("watchdog"),
        "{}",
        out.stdout
    );

    // Without the rule there is nothing to follow: FAIL, exit 1, the reason named.
    let bare = mcp_testkit::Prometheus::start("global:\n  evaluation_interval: 1s\n", &[]).unwrap();
    let out = agent_cli(&[
        "fire-drill",
        "--via",
        "prometheus",
        "--prometheus-url",
        &bare.url(),
        "--alertmanager-url",
        &am.url(),
    ]);
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(out.stdout.contains("no firing Watchdog"), "{}", out.stdout);
}

/// `--via prometheus` asks Prometheus first: not reaching it at all is "could not run" (2)
/// whatever the reason — refused, a timeout, a name that does not resolve — told by the error's
/// kind, not its wording; one line on stderr.
#[test]
fn via_prometheus_unreachable_is_could_not_run_for_every_kind_of_unreachable() {
    // Accepts connections (the kernel's backlog) and never answers: a timeout, not a refusal.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_url = format!("http://{}", silent.local_addr().unwrap());
    let cases = [
        ("refused", closed_url()),
        ("timeout", silent_url),
        ("DNS", "http://no-such-prometheus.invalid:9090".to_owned()),
    ];
    for (kind, url) in cases {
        let out = agent_cli(&[
            "fire-drill",
            "--via",
            "prometheus",
            "--http-timeout",
            "1s",
            "--prometheus-url",
            &url,
            "--alertmanager-url",
            &closed_url(),
        ]);
        assert_eq!(out.code, 2, "{kind}: {}\n{}", out.stdout, out.stderr);
        assert_eq!(
            out.stderr.trim().lines().count(),
            1,
            "{kind}: {}",
            out.stderr
        );
        assert!(out.stderr.contains("Prometheus"), "{kind}: {}", out.stderr);
        assert!(!out.stderr.contains("panicked"), "{kind}: {}", out.stderr);
    }
    drop(silent);

    // An answer that is not what Prometheus says is a FAIL row (1), not "could not run".
    let out = agent_cli(&[
        "fire-drill",
        "--via",
        "prometheus",
        "--output",
        "json",
        "--prometheus-url",
        &garbage_server(),
        "--alertmanager-url",
        &closed_url(),
    ]);
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    assert_eq!(
        out.rows("Watchdog firing in Prometheus")[0]["status"],
        "FAIL"
    );
}
