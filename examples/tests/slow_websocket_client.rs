//! A websocket client that stops reading is dropped and counted once its bounded queue fills;
//! the fast client beside it keeps every message, and cdb_ws's memory stays far below what
//! was sent to the stalled client.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::time::Duration;

use mcp_testkit::wait_until;
use support::{Stack, WsClient, metric};

const MESSAGES: usize = 4000;
const PAD: usize = 16 << 10;

#[test]
fn a_slow_websocket_client_is_dropped_and_counted_and_memory_stays_bounded() {
    let mut stack = Stack::backends();
    stack.spawn("cdb_ws", &[("CDB_WS_CLIENT_QUEUE", "32".to_owned())]);
    stack.wait_ready();
    let ws = stack.proc("cdb_ws");

    // The stalled client: a real handshake, then it never reads.
    let mut slow = TcpStream::connect(("127.0.0.1", ws.port)).unwrap();
    write!(
        slow,
        "GET /ws/stream/executions HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Sec-WebSocket-Version: 13\r\n\r\n"
    )
    .unwrap();
    let mut head = [0u8; 12];
    slow.read_exact(&mut head).unwrap();
    assert_eq!(&head, b"HTTP/1.1 101");

    let fast = WsClient::connect(&format!("ws://127.0.0.1:{}/ws/stream/executions", ws.port));
    fast.wait_for(Duration::from_secs(10), |m| m["type"] == "hello")
        .expect("hello");
    assert!(wait_until(Duration::from_secs(10), || metric(
        &ws.metrics(),
        "cdb_ws_clients",
        &[]
    ) == Some(2.0)));
    let rss_before = ws.peak_rss();

    // 64 MiB in lockstep with the fast client, so only the stalled one can fall behind.
    let client = redis::Client::open(stack.redis.url()).unwrap();
    let mut con = client.get_connection().unwrap();
    let pad = "x".repeat(PAD);
    for n in 0..MESSAGES {
        let msg = format!(r#"{{"type":"flood","n":{n},"pad":"{pad}"}}"#);
        let _: i64 = redis::cmd("PUBLISH")
            .arg("cdb:executions")
            .arg(msg)
            .query(&mut con)
            .unwrap();
        fast.wait_for(Duration::from_secs(30), |m| m["n"] == n)
            .unwrap_or_else(|| panic!("the fast client missed message {n}"));
    }

    let m = ws.metrics();
    assert_eq!(
        metric(&m, "cdb_ws_clients_dropped_total", &[("reason", "slow")]),
        Some(1.0),
        "{m}"
    );
    assert_eq!(metric(&m, "cdb_ws_clients", &[]), Some(1.0));
    let sent = (MESSAGES * PAD) as u64;
    let growth = ws.peak_rss().saturating_sub(rss_before);
    assert!(
        growth < sent / 4,
        "peak RSS grew by {growth} bytes while {sent} bytes went to the stalled client"
    );
    assert!(
        !stack
            .loki
            .select(r#"{service="cdb_ws"} |= "Slow websocket client dropped.""#)
            .unwrap()
            .is_empty()
            || wait_until(Duration::from_secs(30), || !stack
                .loki
                .select(r#"{service="cdb_ws"} |= "Slow websocket client dropped.""#)
                .unwrap()
                .is_empty()),
        "the drop is logged"
    );
    drop(slow);

    // SIGTERM with a client still connected: the service still exits, and says so in Loki.
    let ws = &mut stack.procs[0];
    assert!(ws.terminate(Duration::from_secs(30)).success());
    assert!(
        !stack
            .loki
            .select(r#"{service="cdb_ws"} |= "Shutting down.""#)
            .unwrap()
            .is_empty()
    );
    fast.shutdown();
}
