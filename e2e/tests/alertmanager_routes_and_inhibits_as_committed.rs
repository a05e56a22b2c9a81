//! The committed alertmanager.yml in a real Alertmanager (only slack_api_url_file changed): alerts
//! posted to its v2 API reach the receiver and Slack channel of CONTRACTS.md, and the inhibition
//! rules hide what they should (the warning of a critical alert on the same instance; ServiceDown
//! behind RedisDown on the same instance) and nothing else.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use mcp_e2e::alertmanager_config;
use mcp_testkit::Alertmanager;
use mcp_testkit::slack::SlackReceiver;
use serde_json::{Value, json};

/// An alert's labels, the receiver and the Slack channel it must reach.
type Case = (
    &'static [(&'static str, &'static str)],
    &'static str,
    &'static str,
);

fn post(am: &Alertmanager, labels: &[(&str, &str)]) {
    let labels: serde_json::Map<String, Value> = labels
        .iter()
        .map(|(k, v)| ((*k).to_owned(), json!(v)))
        .collect();
    let body = json!([{
        "labels": labels,
        "annotations": {"summary": "s", "description": "d", "runbook_url": "https://example.invalid/"},
    }]);
    let res = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
        .post(format!("{}/api/v2/alerts", am.url()))
        .json(&body)
        .send()
        .unwrap();
    assert!(res.status().is_success(), "{}", res.status());
}

/// `(receivers, inhibited)` of the alert whose labels include all of `labels`.
fn state(am: &Alertmanager, labels: &[(&str, &str)]) -> Option<(Vec<String>, bool)> {
    let alerts = am.alerts();
    alerts.as_array().unwrap().iter().find_map(|a| {
        labels.iter().all(|(k, v)| a["labels"][*k] == *v).then(|| {
            let receivers = a["receivers"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["name"].as_str().unwrap().to_owned())
                .collect();
            let inhibited = a["status"]["inhibitedBy"]
                .as_array()
                .is_some_and(|x| !x.is_empty());
            (receivers, inhibited)
        })
    })
}

#[test]
fn committed_routing_reaches_each_channel_and_inhibits_as_documented() {
    let slack = SlackReceiver::start();
    let dir = tempfile::tempdir().unwrap();
    let url_file = dir.path().join("slack_webhook_url");
    std::fs::write(&url_file, slack.url()).unwrap();
    let am = Alertmanager::start(&alertmanager_config(&url_file)).unwrap();
    let start = Instant::now();

    // One alert per route, and its expected receiver and channel.
    let cases: [Case; 5] = [
        (
            &[
                ("alertname", "ServiceDown"),
                ("severity", "critical"),
                ("category", "application"),
                ("instance", "cdb_core:8000"),
            ],
            "slack-critical",
            "#alerts-critical",
        ),
        (
            &[
                ("alertname", "RedisBackpressure"),
                ("severity", "warning"),
                ("category", "database"),
                ("instance", "mcp_agent:9121"),
            ],
            "slack-infrastructure",
            "#alerts-infrastructure",
        ),
        (
            &[
                ("alertname", "CdbHighErrorRate"),
                ("severity", "warning"),
                ("category", "application"),
                ("service", "cdb_risk"),
            ],
            "slack-warning",
            "#alerts-warning",
        ),
        (
            &[
                ("alertname", "Watchdog"),
                ("severity", "warning"),
                ("category", "monitoring"),
            ],
            "watchdog",
            "#alerts-watchdog",
        ),
        (
            &[
                ("alertname", "McpFireDrill"),
                ("severity", "warning"),
                ("category", "application"),
                ("instance", "mcp-agent-fire-drill"),
                ("drill_id", "routes-test"),
            ],
            "slack-warning",
            "#alerts-warning",
        ),
    ];
    for (labels, _, _) in &cases {
        post(&am, labels);
    }
    for (labels, receiver, channel) in &cases {
        let name = labels[0].1;
        let ok = mcp_testkit::wait_until(Duration::from_secs(10), || {
            state(&am, labels).is_some_and(|(r, inhibited)| r == [*receiver] && !inhibited)
        });
        assert!(ok, "{name} -> {receiver}: {:?}", state(&am, labels));
        let p = slack
            .wait_for(Duration::from_secs(30), |p| {
                p.channel() == *channel && p.text().contains(name)
            })
            .unwrap_or_else(|| panic!("{name} on {channel}"));
        println!(
            "alertmanager: {name:<18} -> {receiver:<21} {channel:<23} {:.1} s",
            p.at.duration_since(start).as_secs_f64()
        );
    }

    // Critical inhibits warning for the same alertname and instance, not for another instance.
    let warn_a = [
        ("alertname", "DiskSpaceLow"),
        ("severity", "warning"),
        ("category", "infrastructure"),
        ("instance", "a"),
    ];
    let warn_b = [
        ("alertname", "DiskSpaceLow"),
        ("severity", "warning"),
        ("category", "infrastructure"),
        ("instance", "b"),
    ];
    let crit_a = [
        ("alertname", "DiskSpaceLow"),
        ("severity", "critical"),
        ("category", "infrastructure"),
        ("instance", "a"),
    ];
    // RedisDown hides ServiceDown of the same instance.
    let redis_down = [
        ("alertname", "RedisDown"),
        ("severity", "critical"),
        ("category", "database"),
        ("instance", "mcp_agent:9121"),
    ];
    let svc_down = [
        ("alertname", "ServiceDown"),
        ("severity", "critical"),
        ("category", "application"),
        ("instance", "mcp_agent:9121"),
    ];
    for l in [&warn_a[..], &warn_b, &crit_a, &redis_down, &svc_down] {
        post(&am, l);
    }
    let settled = mcp_testkit::wait_until(Duration::from_secs(15), || {
        state(&am, &warn_a).is_some_and(|s| s.1)
            && state(&am, &svc_down).is_some_and(|s| s.1)
            && state(&am, &warn_b).is_some_and(|s| !s.1)
            && state(&am, &crit_a).is_some_and(|s| !s.1)
            && state(&am, &redis_down).is_some_and(|s| !s.1)
    });
    assert!(
        settled,
        "inhibited: warn a {:?}, ServiceDown {:?}; not: warn b {:?}, crit a {:?}, RedisDown {:?}",
        state(&am, &warn_a),
        state(&am, &svc_down),
        state(&am, &warn_b),
        state(&am, &crit_a),
        state(&am, &redis_down)
    );
}
