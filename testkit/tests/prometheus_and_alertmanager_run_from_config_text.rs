//! Real Prometheus and Alertmanager from config text: Prometheus scrapes itself and fires an
//! always-true rule; Alertmanager takes an alert through its v2 API.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use mcp_testkit::{Alertmanager, Prometheus};

#[test]
fn prometheus_scrapes_itself_and_fires_a_rule() {
    let rules = "groups:\n- name: t\n  interval: 1s\n  rules:\n  - alert: AlwaysFiring\n    expr: vector(1)\n";
    let prom = Prometheus::start(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files: [rules.yml]\n\
         scrape_configs:\n- job_name: self\n  static_configs: [{targets: ['{{self}}']}]\n",
        &[("rules.yml", rules)],
    )
    .unwrap();
    prom.wait_until("self-scrape up", Duration::from_secs(30), |p| {
        p.query("up{job=\"self\"} == 1")
            .as_array()
            .is_some_and(|a| a.len() == 1)
    })
    .unwrap();
    prom.wait_until("AlwaysFiring firing", Duration::from_secs(30), |p| {
        p.alerts()
            .as_array()
            .is_some_and(|a| a.iter().any(|x| x["state"] == "firing"))
    })
    .unwrap();
    let one = prom.query("vector(1)");
    assert_eq!(one[0]["value"][1], "1");
}

#[test]
fn alertmanager_accepts_an_alert() {
    let am = Alertmanager::start("route:\n  receiver: blackhole\nreceivers:\n- name: blackhole\n")
        .unwrap();
    let body = serde_json::json!([{"labels": {"alertname": "TestkitDrill", "severity": "info"}}]);
    let res = reqwest::blocking::Client::new()
        .post(format!("{}/api/v2/alerts", am.url()))
        .json(&body)
        .send()
        .unwrap();
    assert!(res.status().is_success());
    let seen = mcp_testkit::wait_until(Duration::from_secs(10), || {
        am.alerts()
            .as_array()
            .is_some_and(|a| a.iter().any(|x| x["labels"]["alertname"] == "TestkitDrill"))
    });
    assert!(seen);
}
