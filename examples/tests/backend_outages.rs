//! Redis or PostgreSQL killed under the running services: the endpoints that need it answer 503
//! with a JSON body naming the backend, `/-/ready` turns false, the error is logged with the
//! request's trace id; when the backend is back the services recover without a restart. For
//! cdb_ws the endpoint is the websocket upgrade itself, and its connected clients are closed
//! with code 1013 and a reason.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use mcp_testkit::wait_until;
use support::{Stack, TRACE, WsClient, get, json, metric, post, ws_upgrade};

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

    // cdb_ws: the connected client is told, not left waiting on a dead subscription.
    let closed = ws
        .wait_for(Duration::from_secs(30), |m| m["type"] == "ws_close")
        .expect("a close frame once the subscription is gone");
    assert_eq!(closed["code"], 1013, "{closed}");
    assert_eq!(closed["reason"], "redis unavailable", "{closed}");
    ws.shutdown();
    // And a new upgrade is refused with the services' JSON error body.
    let wsp = stack.proc("cdb_ws");
    let upgrade_url = wsp.url("/ws/stream/executions");
    let (status, retry_after, body) = ws_upgrade(&upgrade_url);
    assert_eq!(status, 503, "{body}\n{}", wsp.log_tail());
    assert_eq!(retry_after.as_deref(), Some("1"));
    let v = json(&body);
    assert_eq!(v["error"], "backend unavailable", "{v}");
    assert_eq!(v["backend"], "redis", "{v}");
    assert_eq!(v["op"], "subscribe", "{v}");
    assert_eq!(v["trace_id"], TRACE, "{v}");
    assert!(
        v["detail"].as_str().unwrap().contains("not subscribed"),
        "{v}"
    );
    // A real websocket client sees the same refusal.
    let refused =
        WsClient::try_connect(&format!("ws://127.0.0.1:{}/ws/stream/executions", wsp.port));
    assert_eq!(refused.err().as_deref(), Some("HTTP 503"));
    let m = wsp.metrics();
    assert_eq!(
        metric(
            &m,
            "cdb_ws_clients_dropped_total",
            &[("reason", "redis_unavailable")]
        ),
        Some(1.0),
        "{m}"
    );
    assert_eq!(metric(&m, "cdb_ws_clients", &[]), Some(0.0), "{m}");

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
    // cdb_ws resubscribed by itself: upgrades succeed again, and executions flow.
    let wsp = stack.proc("cdb_ws");
    assert_eq!(ws_upgrade(&upgrade_url).0, 101);
    let ws = WsClient::connect(&format!("ws://127.0.0.1:{}/ws/stream/executions", wsp.port));
    ws.wait_for(Duration::from_secs(10), |m| m["type"] == "hello")
        .expect("hello after recovery");
    let id = order_placed(&stack);
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

#[test]
fn a_hung_redis_closes_websocket_clients_and_refuses_upgrades_until_it_answers_again() {
    // SIGSTOP keeps the subscription's socket open, so only cdb_ws's own ping on that
    // connection can tell the subscription is dead.
    let mut stack = Stack::backends();
    stack.spawn("cdb_ws", &[]);
    stack.wait_ready();
    let wsp = stack.proc("cdb_ws");
    let stream = format!("ws://127.0.0.1:{}/ws/stream/all", wsp.port);
    let ws = WsClient::connect(&stream);
    ws.wait_for(Duration::from_secs(10), |m| m["type"] == "hello")
        .expect("hello");

    stack.redis.pause();
    let closed = ws.wait_for(Duration::from_secs(30), |m| m["type"] == "ws_close");
    let upgrade = ws_upgrade(&wsp.url("/ws/stream/all"));
    stack.redis.resume();
    let closed = closed.expect("a close frame while Redis does not answer");
    assert_eq!(closed["code"], 1013, "{closed}");
    assert_eq!(closed["reason"], "redis unavailable", "{closed}");
    ws.shutdown();
    let (status, _, body) = upgrade;
    assert_eq!(status, 503, "{body}");
    assert_eq!(json(&body)["backend"], "redis", "{body}");

    // Back: the subscription is remade and a published message reaches a new client.
    assert!(
        wait_until(Duration::from_secs(60), || ws_upgrade(
            &wsp.url("/ws/stream/all")
        )
        .0 == 101),
        "upgrades never succeeded again:\n{}",
        wsp.log_tail()
    );
    let ws = WsClient::connect(&stream);
    ws.wait_for(Duration::from_secs(10), |m| m["type"] == "hello")
        .expect("hello after recovery");
    stack.redis.cli(&[
        "PUBLISH",
        "cdb:executions",
        r#"{"type":"execution","order_id":-1}"#,
    ]);
    assert!(
        ws.wait_for(Duration::from_secs(30), |m| m["order_id"] == -1)
            .is_some(),
        "no message after Redis answered again"
    );
    ws.shutdown();
}
