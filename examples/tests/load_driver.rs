//! cdb_load against the four running services: the mix reaches every service (orders filled,
//! orders rejected by risk, lookups, websocket messages), the JSON summary says so, CPU per
//! request is reported for a pid; with `--fault errors` the injected 5xx are counted by the
//! service's HTTP metrics and `--max-error-ratio` turns them into exit code 3; with `--fault
//! slow` every order is delayed, as the service's latency histogram shows; off a terminal the
//! progress is a plain line every `--progress-interval`; bad flags are one line and exit 64.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::process::Command;

use mcp_testkit::sample_sum;
use support::{Stack, binary, metric};

fn stack_with_faults() -> Stack {
    let mut s = Stack::backends();
    let faults = [("CDB_FAULT_INJECTION", "on".to_owned())];
    for name in ["cdb_risk", "cdb_core", "cdb_execution", "cdb_ws"] {
        s.spawn(name, &faults);
    }
    s.wait_ready();
    s
}

fn load(stack: &Stack, extra: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(binary("cdb_load"))
        .arg("--core-url")
        .arg(stack.proc("cdb_core").url(""))
        .arg("--execution-url")
        .arg(stack.proc("cdb_execution").url(""))
        .arg("--ws-url")
        .arg(format!("ws://127.0.0.1:{}", stack.proc("cdb_ws").port))
        .args(extra)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn cdb_load_drives_the_mix_reports_it_and_injects_faults() {
    let stack = stack_with_faults();
    let exec_pid = stack.proc("cdb_execution").child.id().to_string();
    let (code, out, err) = load(
        &stack,
        &[
            "--rate",
            "10",
            "--duration",
            "5s",
            "--subscribers",
            "2",
            "--reject-share",
            "0.2",
            "--pid",
            &exec_pid,
            "--output",
            "json",
        ],
    );
    assert_eq!(code, Some(0), "{out}\n{err}");
    // Not a TTY: no progress line, nothing on stderr.
    assert!(err.is_empty(), "{err}");
    let s: serde_json::Value = serde_json::from_str(out.trim()).expect(&out);
    assert!(s["requests"].as_u64().unwrap() > 0, "{s}");
    // Errors are not asserted to be zero: on a loaded test machine an order can time out.
    for o in s["ops"].as_array().unwrap() {
        let n = |k: &str| o[k].as_u64().unwrap();
        assert_eq!(n("requests"), n("ok") + n("rejected") + n("errors"), "{o}");
    }
    let op = |name: &str| {
        s["ops"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["op"] == name)
            .unwrap()
            .clone()
    };
    assert!(op("order")["ok"].as_u64().unwrap() > 0, "{s}");
    assert!(op("order_reject")["ok"].as_u64().unwrap() > 0, "{s}");
    assert!(op("lookup")["ok"].as_u64().unwrap() > 0, "{s}");
    assert!(s["latency_ms"]["p99"].as_f64().unwrap() > 0.0, "{s}");
    assert!(s["websocket"]["messages"].as_u64().unwrap() > 0, "{s}");
    assert!(s["cpu"][0]["cpu_ms_per_request"].as_f64().is_some(), "{s}");

    // What the services counted agrees.
    let risk = stack.proc("cdb_risk").metrics();
    assert!(
        metric(
            &risk,
            "cdb_risk_rejects_total",
            &[("reason", "account_blocked")]
        )
        .unwrap()
            + metric(
                &risk,
                "cdb_risk_rejects_total",
                &[("reason", "notional_limit")]
            )
            .unwrap()
            > 0.0
    );
    let exec = stack.proc("cdb_execution").metrics();
    let filled = metric(
        &exec,
        "cdb_orders_total",
        &[("side", "buy"), ("result", "filled")],
    )
    .unwrap()
        + metric(
            &exec,
            "cdb_orders_total",
            &[("side", "sell"), ("result", "filled")],
        )
        .unwrap();
    assert_eq!(filled, op("order")["ok"].as_f64().unwrap());

    // The text summary is an aligned table.
    let (code, out, _) = load(
        &stack,
        &["--rate", "20", "--duration", "1s", "--subscribers", "0"],
    );
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.lines()
            .any(|l| l.starts_with("op ") && l.ends_with("p99 ms    max ms")),
        "{out}"
    );
    assert!(out.lines().any(|l| l.starts_with("order_reject")), "{out}");

    // A burst of 5xx: the service counts them, and the driver's exit code says so.
    let (code, out, err) = load(
        &stack,
        &[
            "--rate",
            "20",
            "--duration",
            "2s",
            "--subscribers",
            "0",
            "--lookup-share",
            "0",
            "--fault",
            "errors",
            "--fault-ratio",
            "1",
            "--max-error-ratio",
            "0.1",
            "--output",
            "json",
        ],
    );
    assert_eq!(code, Some(3), "{out}\n{err}");
    let s: serde_json::Value = serde_json::from_str(out.trim()).expect(&out);
    assert_eq!(s["errors"], s["requests"], "{s}");
    let exec = stack.proc("cdb_execution").metrics();
    assert!(
        metric(
            &exec,
            "http_server_requests_total",
            &[("route", "/api/v1/orders"), ("status", "500")]
        )
        .unwrap()
            >= s["errors"].as_f64().unwrap()
    );
    // The fault was cleared at the end.
    let (code, out, _) = load(
        &stack,
        &[
            "--rate",
            "10",
            "--duration",
            "1s",
            "--subscribers",
            "0",
            "--output",
            "json",
        ],
    );
    assert_eq!(code, Some(0), "{out}");
    let after: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert!(
        after["errors"].as_u64().unwrap() < after["requests"].as_u64().unwrap(),
        "{after}"
    );
}

#[test]
fn cdb_load_slow_fault_delays_every_order_and_progress_is_plain_off_a_terminal() {
    let stack = stack_with_faults();
    let exec = stack.proc("cdb_execution");
    let orders = [("route", "/api/v1/orders")];
    // Below the injected delay: no delayed order can land in this bucket, however fast the
    // machine (a sleep never ends early), so this is not a timing threshold.
    let fast = [("route", "/api/v1/orders"), ("le", "0.25")];
    let before = exec.metrics();
    let (code, out, err) = load(
        &stack,
        &[
            "--rate",
            "10",
            "--duration",
            "3s",
            "--subscribers",
            "0",
            "--lookup-share",
            "0",
            "--reject-share",
            "0",
            "--fault",
            "slow",
            "--fault-delay-ms",
            "300",
            "--progress-interval",
            "500ms",
            "--output",
            "json",
        ],
    );
    assert_eq!(code, Some(0), "{out}\n{err}");
    let s: serde_json::Value = serde_json::from_str(out.trim()).expect(&out);
    assert_eq!(s["fault"], "slow", "{s}");
    let requests = s["requests"].as_f64().unwrap();
    assert!(requests > 0.0, "{s}");
    let after = exec.metrics();
    let count = |m: &str| sample_sum(m, "http_server_request_duration_seconds_count", &orders);
    let under = |m: &str| sample_sum(m, "http_server_request_duration_seconds_bucket", &fast);
    // Every order the driver sent was answered and timed by the service...
    assert_eq!(count(&after) - count(&before), requests, "{s}");
    // ...and none of them in less than the injected delay.
    assert_eq!(under(&after) - under(&before), 0.0, "{s}");
    eprintln!(
        "figure: {requests} delayed orders, driver p50 {} ms, p99 {} ms",
        s["latency_ms"]["p50"], s["latency_ms"]["p99"]
    );

    // Not a terminal: plain progress lines, no carriage returns or escape codes.
    let progress: Vec<&str> = err.lines().filter(|l| !l.is_empty()).collect();
    assert!(!progress.is_empty(), "no progress line on stderr");
    for line in &progress {
        assert!(line.starts_with("cdb_load: "), "{line:?}");
        assert!(line.contains("s of 3s, "), "{line:?}");
        assert!(line.contains(" sent, "), "{line:?}");
        assert!(!line.contains(['\r', '\x1b']), "{line:?}");
    }
    eprintln!(
        "figure: {} progress lines, last: {}",
        progress.len(),
        progress[progress.len() - 1]
    );
}

#[test]
fn cdb_load_bad_flags_are_one_line_and_exit_64() {
    for args in [
        &["--rate", "fast"][..],
        &["--duration", "soon"],
        &["--bogus"],
        &["--lookup-share", "2"],
    ] {
        let out = Command::new(binary("cdb_load"))
            .args(args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(64), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.trim().lines().count(), 1, "{args:?}: {err}");
        assert!(err.starts_with("cdb_load: "), "{err}");
    }
    let out = Command::new(binary("cdb_load"))
        .args([
            "--execution-url",
            "http://127.0.0.1:1",
            "--core-url",
            "http://127.0.0.1:1",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim(),
        "cdb_load: cannot reach cdb_core at http://127.0.0.1:1"
    );
}
