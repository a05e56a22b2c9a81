//! Orders sent at once for one account and symbol all pass cdb_risk against the same position
//! (the check and the position update are separate steps); cdb_execution checks the limit
//! again inside the order's transaction, under the position row's lock, so together they never
//! take the position past the account's limit: the ones that no longer fit answer 422
//! `position_limit`, and nothing of them is stored.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use support::{Stack, TRACE, post};

/// A4 may hold at most 10,000 of a symbol (schema.rs); 40 orders of 400 would be 16,000.
const ORDERS: usize = 40;
const QTY: i64 = 400;
const LIMIT: i64 = 10_000;

#[test]
fn concurrent_orders_never_exceed_the_position_limit() {
    let mut stack = Stack::backends();
    stack.spawn("cdb_risk", &[]);
    stack.spawn("cdb_execution", &[]);
    stack.wait_ready();
    let url = stack.proc("cdb_execution").url("/api/v1/orders");
    // 400 × 190 = 76,000: under A4's notional limit, within the price band of AAPL's
    // reference price (no ticker runs here).
    let body =
        format!(r#"{{"account":"A4","symbol":"AAPL","side":"buy","qty":{QTY},"price":190}}"#);

    let barrier = std::sync::Barrier::new(ORDERS);
    let answers: Vec<(u16, serde_json::Value)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..ORDERS)
            .map(|_| {
                s.spawn(|| {
                    barrier.wait();
                    post(&url, &body, TRACE)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });

    let filled = answers.iter().filter(|(st, _)| *st == 201).count() as i64;
    for (status, v) in &answers {
        match status {
            201 => {}
            422 => assert_eq!(v["reason"], "position_limit", "{v}"),
            _ => panic!("{status} {v}\n{}", stack.proc("cdb_execution").log_tail()),
        }
    }
    let position: i64 = stack
        .pg
        .psql(
            "postgres",
            "SELECT qty FROM cdb_positions WHERE account = 'A4' AND symbol = 'AAPL'",
        )
        .parse()
        .unwrap();
    let stored: i64 = stack
        .pg
        .psql(
            "postgres",
            "SELECT count(*) FROM cdb_orders WHERE account = 'A4' AND symbol = 'AAPL'",
        )
        .parse()
        .unwrap();
    eprintln!(
        "figure: {ORDERS} orders of {QTY} at once, {filled} filled, {} rejected, position {position} (limit {LIMIT})",
        ORDERS as i64 - filled
    );
    assert!(
        position <= LIMIT,
        "position {position} over the limit {LIMIT}"
    );
    assert_eq!(position, filled * QTY);
    assert_eq!(stored, filled, "a rejected order left rows behind");
    // The limit is reached exactly: every order that still fitted was filled.
    assert_eq!(filled, LIMIT / QTY);
}
