//! Issue 17, item 4, at the service level: a real `cdb_core` (on the harness's Redis and
//! PostgreSQL) shipping logs to a Loki receiver that refuses every push, stopped with SIGTERM,
//! exits 0 and prints exactly one line about its logs on stderr: mcp-instrument's summary
//! (`mcp-instrument: N of M log lines not delivered to Loki (…); last push error: …`), with no
//! second line of the service's own repeating it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use mcp_testkit::loki::Mode;
use mcp_testkit::wait_until;
use support::{Stack, get};

/// Requests that each log one line (`Status requested.`).
const REQUESTS: usize = 200;

#[test]
fn a_service_stopped_while_loki_refuses_prints_one_summary_line_and_exits_0() {
    let mut stack = Stack::backends();
    stack.loki.set_mode(Mode::Status(500));
    stack.spawn("cdb_core", &[]);
    stack.wait_ready();
    let core = stack.proc("cdb_core");
    for _ in 0..REQUESTS {
        let (status, body) = get(&core.url("/api/v1/status"));
        assert_eq!(status, 200, "{body}");
    }
    // The shipper has tried and been refused, so the lines are held, not merely unsent.
    assert!(
        wait_until(Duration::from_secs(30), || stack.loki.requests() >= 2),
        "the service never pushed to the receiver:\n{}",
        core.log_tail()
    );

    let p = &mut stack.procs[0];
    let status = p.terminate(Duration::from_secs(60));
    assert_eq!(status.code(), Some(0), "{}", p.log_tail());

    // Every console line is JSON (MCP_LOG_FORMAT=json); whatever is not is a summary line.
    let stderr = std::fs::read_to_string(&p.log).unwrap();
    let (json, other): (Vec<&str>, Vec<&str>) = stderr
        .lines()
        .filter(|l| !l.trim().is_empty())
        .partition(|l| serde_json::from_str::<serde_json::Value>(l).is_ok());
    assert_eq!(other.len(), 1, "one line besides the logs, not: {other:#?}");
    let line = other[0];
    assert!(!stderr.contains("Log flush"), "{stderr}");

    let mut words = line.split_whitespace();
    assert_eq!(words.next(), Some("mcp-instrument:"), "{line}");
    let undelivered: usize = words.next().unwrap().parse().unwrap();
    assert_eq!(words.next(), Some("of"), "{line}");
    let total: usize = words.next().unwrap().parse().unwrap();
    assert!(
        line.contains(" log lines not delivered to Loki ("),
        "{line}"
    );
    assert!(
        line.contains("last push error: refused: HTTP 500"),
        "{line}"
    );
    // Loki refused everything: none of it arrived, and the line counts all of it, including
    // at least the lines the requests logged.
    assert_eq!(stack.loki.entry_count(), 0);
    assert_eq!(undelivered, total, "{line}");
    let status_lines = json
        .iter()
        .filter(|l| l.contains("Status requested."))
        .count();
    assert_eq!(status_lines, REQUESTS);
    assert!(undelivered >= REQUESTS, "{line}");
    eprintln!(
        "figure: {} JSON log lines on stderr, {REQUESTS} of them from requests; stderr: {line}",
        json.len()
    );
}
