//! Redis or PostgreSQL killed under the running services: the endpoints that need it answer 503
//! with a JSON body naming the backend, `/-/ready` turns false, the error is logged with the
//! request's trace id; when the backend is back the services recover without a restart.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use mcp_testkit::wait_until;
use support::{Stack, TRACE, WsClient, get, json, metric, post};

const ORDER: &str = r#"{"account":"A2","symbol":"MSFT","side":"buy","qty":3,"price":410}"#;

fn wait_ready_state(stack: &Stack, names: &[&str], ready: bool) {
    for name in names {
        let p = stack.proc(name);
        assert!(
            wait_until(Duration::from_secs(60), || p.ready() == ready),
            "{name} ready never became {ready}:\n{}",
            p.log_tail()
        );
    }
}

fn order_placed(stack: &Stack) -> i64 {
    let exec = stack.proc("cdb_execution");
    let (status, body) = post(&exec.url("/api/v1/orders"), ORDER, TRACE);
    assert_eq!(status, 201, "{body}\n{}", exec.log_tail());
    body["id"].as_i64().unwrap()
}

#[test]
fn redis_down_is_503_and_not_ready_then_the_services_recover_without_restart() {
    let mut stack = Stack::start_all();
    let ws = WsClient::connect(&format!(
        "ws://127.0.0.1:{}/ws/stream/executions",
        stack.proc("cdb_ws").port
    ));
    ws.wait_for(Duration::from_secs(10), |m| m["type"] == "hello")
        .expect("hello");
    order_placed(&stack);
    let pids: Vec<u32> = stack.procs.iter().map(|p| p.child.id()).collect();

    stack.redis.kill();
    wait_ready_state(
        &stack,
        &["cdb_core", "cdb_risk", "cdb_execution", "cdb_ws"],
        false,
    );

    let core = stack.proc("cdb_core");
    let (status, body) = get(&core.url("/api/v1/instruments/AAPL"));
    assert_eq!(status, 503, "{body}");
    let v = json(&body);
    assert_eq!(v["error"], "backend unavailable");
    assert_eq!(v["backend"], "redis");
    assert_eq!(v["trace_id"], TRACE);
    let (status, body) = get(&core.url("/api/v1/prices/AAPL"));
    assert_eq!(status, 503, "{body}");

    let risk = stack.proc("cdb_risk");
    let (status, v) = post(&risk.url("/api/v1/check"), ORDER, TRACE);
    assert_eq!(status, 503, "{v}");
    assert_eq!(v["backend"], "redis");

    let exec = stack.proc("cdb_execution");
    let (status, v) = post(&exec.url("/api/v1/orders"), ORDER, TRACE);
    assert_eq!(status, 503, "{v}");
    assert_eq!(v["backend"], "cdb_risk");
    assert!(v["detail"].as_str().unwrap().contains("redis"), "{v}");

    // The failure is logged with the request's trace id.
    for service in ["cdb_core", "cdb_risk", "cdb_execution"] {
        let q = format!(r#"{{service="{service}"}} |= "Backend unavailable." |= "{TRACE}""#);
        assert!(
            wait_until(Duration::from_secs(30), || !stack
                .loki
                .select(&q)
                .unwrap()
                .is_empty()),
            "no error line of {service} with the trace id"
        );
    }
    assert!(
        metric(
            &core.metrics(),
            "cdb_redis_errors_total",
            &[("op", "price_get")]
        )
        .unwrap()
            >= 1.0
    );
    assert!(
        metric(
            &risk.metrics(),
            "cdb_redis_errors_total",
            &[("op", "risk_cache_get")]
        )
        .unwrap()
            >= 1.0
    );

    stack.redis.restart().unwrap();
    wait_ready_state(
        &stack,
        &["cdb_core", "cdb_risk", "cdb_execution", "cdb_ws"],
        true,
    );
    let id = order_placed(&stack);
    // cdb_ws resubscribed by itself: the new execution reaches the client connected before.
    assert!(
        ws.wait_for(Duration::from_secs(30), |m| m["order_id"] == id)
            .is_some(),
        "no execution on the websocket after Redis came back"
    );
    assert!(
        wait_until(Duration::from_secs(30), || get(&stack
            .proc("cdb_core")
            .url("/api/v1/prices/AAPL"))
        .0 == 200),
        "the ticker did not resume"
    );
    let now: Vec<u32> = stack.procs.iter().map(|p| p.child.id()).collect();
    assert_eq!(pids, now, "no service was restarted");
    for p in &mut stack.procs {
        assert!(p.child.try_wait().unwrap().is_none(), "{} exited", p.name);
    }
    ws.shutdown();
}

#[test]
fn postgres_down_is_503_and_not_ready_then_the_services_recover_without_restart() {
    let mut stack = Stack::start_all();
    let before = order_placed(&stack);

    stack.pg.kill();
    wait_ready_state(&stack, &["cdb_core", "cdb_risk", "cdb_execution"], false);
    // cdb_ws needs only Redis.
    assert!(stack.proc("cdb_ws").ready());

    let core = stack.proc("cdb_core");
    let (status, body) = get(&core.url("/api/v1/instruments"));
    assert_eq!(status, 503, "{body}");
    let v = json(&body);
    assert_eq!(v["backend"], "postgres");
    assert_eq!(v["trace_id"], TRACE);

    let exec = stack.proc("cdb_execution");
    let (status, body) = get(&exec.url(&format!("/api/v1/orders/{before}")));
    assert_eq!(status, 503, "{body}");
    assert_eq!(json(&body)["backend"], "postgres");
    // Risk may pass from its Redis cache; then the order's transaction fails. Either way 503.
    let (status, v) = post(&exec.url("/api/v1/orders"), ORDER, TRACE);
    assert_eq!(status, 503, "{v}");
    let q = format!(r#"{{service="cdb_execution"}} |= "Backend unavailable." |= "{TRACE}""#);
    assert!(
        wait_until(Duration::from_secs(30), || !stack
            .loki
            .select(&q)
            .unwrap()
            .is_empty()),
        "no error line with the trace id"
    );
    assert!(
        metric(
            &exec.metrics(),
            "cdb_pg_errors_total",
            &[("query", "order_get")]
        )
        .unwrap()
            >= 1.0
    );

    stack.pg.restart().unwrap();
    wait_ready_state(&stack, &["cdb_core", "cdb_risk", "cdb_execution"], true);
    let after = order_placed(&stack);
    assert!(after > before);
    let (status, body) = get(&stack
        .proc("cdb_execution")
        .url(&format!("/api/v1/orders/{before}")));
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        get(&stack.proc("cdb_core").url("/api/v1/instruments")).0,
        200
    );
    for p in &mut stack.procs {
        assert!(p.child.try_wait().unwrap().is_none(), "{} exited", p.name);
    }
}
