//! `GET /-/log-drill?id=…` on the standalone listener: one `Log drill.` line carrying the drill id
//! and the traceparent's trace id reaches a Loki-compatible receiver under the service's stream
//! labels, the JSON answer names both, and bad ids are 400 without a line.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use mcp_instrument::{Builder, LogFormat};
use mcp_testkit::loki::FakeLoki;

#[test]
fn log_drill_endpoint_logs_the_trace_id() {
    let fake = FakeLoki::start();
    let mut tuning = mcp_instrument::logs::LokiConfig::new("");
    tuning.batch_wait = Duration::from_millis(50);
    let guard = Builder::new("drill_svc")
        .ignore_env()
        .metrics_addr("127.0.0.1:0".parse().unwrap())
        .loki_url(fake.url())
        .loki_config(tuning)
        .log_format(LogFormat::Off)
        .init()
        .unwrap();
    let base = format!("http://{}", guard.metrics_addr().unwrap());
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();

    let trace = "0af7651916cd43dd8448eb211c80319c";
    let res = client
        .get(format!("{base}/-/log-drill?id=drill-42"))
        .header("traceparent", format!("00-{trace}-b7ad6b7169203331-01"))
        .send()
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let body: serde_json::Value = res.json().unwrap();
    assert_eq!(body["drill_id"], "drill-42");
    assert_eq!(body["trace_id"], trace);

    // Without a traceparent the id is fresh, still 32 hex digits.
    let body: serde_json::Value = client
        .get(format!("{base}/-/log-drill?id=drill-43"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let fresh = body["trace_id"].as_str().unwrap();
    assert_eq!(fresh.len(), 32);
    assert_ne!(fresh, trace);

    for bad in ["", "?id=", "?id=a%20b", "?id=a\"b"] {
        let res = client
            .get(format!("{base}/-/log-drill{bad}"))
            .send()
            .unwrap();
        assert_eq!(res.status().as_u16(), 400, "{bad}");
        let err: serde_json::Value = res.json().unwrap();
        assert!(err["error"].is_string(), "{bad}: {err}");
    }

    let mut found = Vec::new();
    let seen = mcp_testkit::wait_until(Duration::from_secs(20), || {
        found = fake
            .select(r#"{service="drill_svc"} |= "drill-42""#)
            .unwrap();
        !found.is_empty()
    });
    assert!(seen, "no drill line in Loki: {:?}", fake.entries());
    let line: serde_json::Value = serde_json::from_str(&found[0].line).unwrap();
    assert_eq!(line["msg"], "Log drill.");
    assert_eq!(line["level"], "info");
    assert_eq!(line["drill_id"], "drill-42");
    assert_eq!(line["trace_id"], trace);
    // The rejected requests logged nothing.
    let drills = fake
        .select(r#"{service="drill_svc"} |= "Log drill.""#)
        .unwrap();
    assert_eq!(drills.len(), 2, "{drills:?}");
    drop(guard);
}
