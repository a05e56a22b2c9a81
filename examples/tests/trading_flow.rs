//! An order through the four services on a real Redis and PostgreSQL: risk-checked by
//! cdb_risk, stored by cdb_execution in one transaction, published through Redis and received
//! by a websocket client of cdb_ws; one trace id in the log lines of execution and risk; every
//! /metrics passes promtool.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use mcp_testkit::wait_until;
use support::{Stack, WsClient, get, json, metric, post, promtool_check};

const ORDER_TRACE: &str = "0af7651916cd43dd8448eb211c80319c";

#[test]
fn an_order_is_risk_checked_stored_published_and_streamed_under_one_trace_id() {
    let stack = Stack::start_all();
    let (exec, risk, core, wsp) = (
        stack.proc("cdb_execution"),
        stack.proc("cdb_risk"),
        stack.proc("cdb_core"),
        stack.proc("cdb_ws"),
    );

    // Reference and market data: seeded instruments, ticking prices, a book.
    let (status, body) = get(&core.url("/api/v1/instruments"));
    assert_eq!(status, 200, "{body}");
    let symbols: Vec<String> = json(&body)["instruments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["symbol"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(symbols, ["AAPL", "MSFT"]);
    assert!(
        wait_until(Duration::from_secs(30), || get(
            &core.url("/api/v1/prices/AAPL")
        )
        .0 == 200),
        "no price ticked"
    );
    let (status, body) = get(&core.url("/api/v1/book/MSFT"));
    assert_eq!(status, 200, "{body}");
    assert_eq!(json(&body)["bids"].as_array().unwrap().len(), 5);
    let (status, body) = get(&core.url("/api/v1/instruments/AAPL"));
    assert_eq!(status, 200, "{body}");
    let last = json(&body)["last"].as_f64().expect("a last price");
    assert_eq!(get(&core.url("/api/v1/instruments/NOPE")).0, 404);

    // A websocket subscriber of executions (and one of ticks, which keep coming).
    let ws = WsClient::connect(&format!("ws://127.0.0.1:{}/ws/stream/executions", wsp.port));
    ws.wait_for(Duration::from_secs(10), |m| m["type"] == "hello")
        .expect("hello");
    let ticks = WsClient::connect(&format!("ws://127.0.0.1:{}/ws/stream/ticks", wsp.port));
    assert!(
        ticks
            .wait_for(Duration::from_secs(30), |m| m["type"] == "tick"
                && m["symbol"] == "MSFT")
            .is_some(),
        "no tick on the websocket"
    );

    // The order.
    let order =
        format!(r#"{{"account":"A1","symbol":"AAPL","side":"buy","qty":10,"price":{last}}}"#);
    let (status, placed) = post(&exec.url("/api/v1/orders"), &order, ORDER_TRACE);
    assert_eq!(status, 201, "{placed}\n{}", exec.log_tail());
    let id = placed["id"].as_i64().unwrap();
    assert_eq!(placed["status"], "filled");
    assert_eq!(placed["published"], true);
    assert_eq!(placed["trace_id"], ORDER_TRACE);

    // Published through Redis, received on the websocket.
    let event = ws
        .wait_for(Duration::from_secs(30), |m| m["order_id"] == id)
        .expect("the execution event on the websocket");
    assert_eq!(event["type"], "execution");
    assert_eq!(event["trace_id"], ORDER_TRACE);
    assert_eq!(event["qty"], 10);

    // Stored: order, fills and position in PostgreSQL, readable through the API.
    let (status, body) = get(&exec.url(&format!("/api/v1/orders/{id}")));
    assert_eq!(status, 200, "{body}");
    let stored = json(&body);
    assert_eq!(stored["account"], "A1");
    let filled: i64 = stored["fills"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["qty"].as_i64().unwrap())
        .sum();
    assert_eq!(filled, 10);
    assert_eq!(
        stack.pg.psql(
            "postgres",
            &format!("SELECT sum(qty) FROM cdb_fills WHERE order_id = {id}")
        ),
        "10"
    );
    assert_eq!(
        stack.pg.psql(
            "postgres",
            "SELECT qty FROM cdb_positions WHERE account = 'A1' AND symbol = 'AAPL'"
        ),
        "10"
    );
    assert_eq!(get(&exec.url("/api/v1/orders/999999")).0, 404);

    // Rejects carry their reason; a malformed body is a 400.
    let trace = "11111111111111111111111111111111";
    for (body, reason) in [
        (
            r#"{"account":"A5","symbol":"AAPL","side":"buy","qty":1,"price":190}"#.to_owned(),
            "account_blocked",
        ),
        (
            format!(
                r#"{{"account":"A4","symbol":"AAPL","side":"sell","qty":5000,"price":{last}}}"#
            ),
            "notional_limit",
        ),
        (
            r#"{"account":"A1","symbol":"AAPL","side":"buy","qty":1,"price":1.0}"#.to_owned(),
            "price_band",
        ),
        (
            r#"{"account":"ZZ","symbol":"AAPL","side":"buy","qty":1,"price":190}"#.to_owned(),
            "unknown_account",
        ),
        (
            r#"{"account":"A1","symbol":"NOPE","side":"buy","qty":1,"price":190}"#.to_owned(),
            "unknown_symbol",
        ),
    ] {
        let (status, answer) = post(&exec.url("/api/v1/orders"), &body, trace);
        assert_eq!(status, 422, "{body}: {answer}");
        assert_eq!(answer["reason"], reason, "{body}: {answer}");
    }
    for bad in [
        "not json",
        r#"{"account":"A1","symbol":"AAPL","side":"hold","qty":1,"price":1}"#,
        r#"{"account":"A1","symbol":"AAPL","side":"buy","qty":0,"price":1}"#,
        r#"{"account":"A1","symbol":"AAPL","side":"buy","qty":1}"#,
    ] {
        let (status, answer) = post(&exec.url("/api/v1/orders"), bad, trace);
        assert_eq!(status, 400, "{bad}: {answer}");
        assert_eq!(answer["error"], "bad request");
    }

    // One trace id across execution and risk in Loki, with the team's labels.
    for service in ["cdb_execution", "cdb_risk"] {
        let query = format!(r#"{{container_name="{service}"}} |= "{ORDER_TRACE}""#);
        assert!(
            wait_until(Duration::from_secs(30), || !stack
                .loki
                .select(&query)
                .unwrap()
                .is_empty()),
            "no {service} line with the order's trace id in Loki"
        );
        let lines = stack.loki.select(&query).unwrap();
        let labels = lines[0].label_map();
        assert_eq!(labels["service"], service);
        assert_eq!(labels["container_name"], service);
        assert!(lines.iter().all(|l| l.json()["trace_id"] == ORDER_TRACE));
    }
    let risk_line = stack
        .loki
        .select(&format!(
            r#"{{service="cdb_risk"}} |= "{ORDER_TRACE}" |= "Risk check done.""#
        ))
        .unwrap();
    assert_eq!(risk_line[0].json()["result"], "pass");

    // Domain metrics, and every /metrics passes promtool.
    let m = exec.metrics();
    assert_eq!(
        metric(
            &m,
            "cdb_orders_total",
            &[("side", "buy"), ("result", "filled")]
        ),
        Some(1.0)
    );
    assert_eq!(
        metric(
            &m,
            "cdb_orders_total",
            &[("side", "sell"), ("result", "rejected")]
        ),
        Some(1.0)
    );
    assert_eq!(metric(&m, "cdb_fills_total", &[]), Some(3.0));
    assert_eq!(
        metric(&m, "cdb_order_fill_latency_seconds_count", &[]),
        Some(1.0)
    );
    assert!(
        metric(
            &m,
            "cdb_pg_query_duration_seconds_count",
            &[("query", "order_insert")]
        )
        .is_some()
    );
    assert!(
        metric(
            &m,
            "cdb_redis_call_duration_seconds_count",
            &[("op", "execution_publish")]
        )
        .is_some()
    );
    let r = risk.metrics();
    assert_eq!(
        metric(
            &r,
            "cdb_risk_rejects_total",
            &[("reason", "account_blocked")]
        ),
        Some(1.0)
    );
    assert_eq!(
        metric(&r, "cdb_risk_checks_total", &[("result", "pass")]),
        Some(1.0)
    );
    assert_eq!(
        metric(&r, "cdb_risk_checks_total", &[("result", "reject")]),
        Some(5.0)
    );
    let w = wsp.metrics();
    assert_eq!(metric(&w, "cdb_ws_clients", &[]), Some(2.0));
    assert!(metric(&w, "cdb_ws_messages_total", &[("channel", "executions")]).unwrap() >= 1.0);
    for p in &stack.procs {
        promtool_check(p.name, &p.metrics());
    }
    ws.shutdown();
    ticks.shutdown();
}
