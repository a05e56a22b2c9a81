//! Issue 17, item 3: 500 connections that sent a partial request were held forever, and with a
//! low fd limit 200 of them made `/metrics` unreachable (accept failing with EMFILE, 295
//! warnings in 15 s). Now a client has `header_read_timeout` to send its headers, connections
//! beyond the limit (or beyond what RLIMIT_NOFILE leaves) are closed at once and counted, and the
//! limit being reached is one warning, not one per attempt.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use support::{ChildServer, get_once, stat, wait_until};

const PARTIAL: &[u8] = b"GET /metrics HTTP/1.1\r\nHost: x\r\nUser-Agent: slow";

#[test]
#[ignore = "the child half of the tests in this file; runs only with MCP_WEB_CHILD set"]
fn child_server() {
    support::child_main();
}

/// Opens `n` connections that send a partial request, then waits (at most `bound`) for the
/// server to close each; returns how many it closed and when the last one went, measured from
/// the moment the last partial request was written.
async fn half_open(addr: &str, n: usize, bound: Duration) -> (usize, Duration) {
    let mut streams = Vec::with_capacity(n);
    for _ in 0..n {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        // The server may already have closed a refused connection: a failed write is fine.
        let _ = s.write_all(PARTIAL).await;
        streams.push(s);
    }
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for mut s in streams {
        tasks.spawn(async move {
            let mut buf = [0u8; 1024];
            // EOF or a reset is the server closing; anything else is not.
            loop {
                match tokio::time::timeout(bound, s.read(&mut buf)).await {
                    Ok(Ok(0)) | Ok(Err(_)) => return Some(Instant::now()),
                    Ok(Ok(_)) => continue,
                    Err(_) => return None,
                }
            }
        });
    }
    let mut closed = 0;
    let mut last = start;
    while let Some(r) = tasks.join_next().await {
        if let Some(at) = r.unwrap() {
            closed += 1;
            last = last.max(at);
        }
    }
    (closed, last - start)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_hundred_partial_requests_are_closed_after_the_header_timeout() {
    let server = ChildServer::start(
        &[
            ("MCP_WEB_CHILD_HEADER_TIMEOUT_MS", "1000".into()),
            ("MCP_WEB_CHILD_MAX_CONNECTIONS", "1000".into()),
        ],
        None,
    );
    let addr = server.addr.clone();
    let (closed, last) = half_open(&addr, 500, Duration::from_secs(60)).await;
    eprintln!(
        "figure: 500 half-open connections, header timeout 1 s: {closed} closed by the server, the last {last:?} after the last write"
    );
    assert_eq!(
        closed, 500,
        "every half-open connection is closed by the server"
    );
    let (status, body) = tokio::task::spawn_blocking(move || get_once(&addr, "/stats"))
        .await
        .unwrap()
        .expect("/stats answers");
    assert_eq!(status, 200);
    assert_eq!(stat(&body, "header_timeouts"), 500, "{body}");
    assert_eq!(stat(&body, "refused"), 0, "{body}");
    let stderr = server.stop();
    assert!(!stderr.contains("panic"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_64_fds_metrics_comes_back_and_the_limit_is_one_warning() {
    let server = ChildServer::start(
        &[("MCP_WEB_CHILD_HEADER_TIMEOUT_MS", "2000".into())],
        Some(64),
    );
    let pid = server.pid();
    let fds = move || {
        std::fs::read_dir(format!("/proc/{pid}/fd"))
            .map(|d| d.count())
            .unwrap_or(0)
    };
    let before = fds();
    let addr = server.addr.clone();
    let attack = {
        let addr = addr.clone();
        tokio::spawn(async move { half_open(&addr, 500, Duration::from_secs(60)).await })
    };
    // While the attack holds its connections, watch the server's descriptors.
    let mut peak = before;
    let watch_until = Instant::now() + Duration::from_millis(1500);
    while Instant::now() < watch_until {
        peak = peak.max(fds());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (closed, last) = attack.await.unwrap();
    assert_eq!(
        closed, 500,
        "refused ones at once, held ones at the timeout"
    );
    // Once the held ones have timed out, a scrape gets through.
    let a = addr.clone();
    let reachable = tokio::task::spawn_blocking(move || {
        wait_until(
            Duration::from_secs(60),
            || matches!(get_once(&a, "/metrics"), Some((200, body)) if body.contains("demo_up 1")),
        )
    })
    .await
    .unwrap();
    assert!(
        reachable,
        "/metrics reachable after the half-open connections timed out"
    );
    let a = addr.clone();
    let (_, body) = tokio::task::spawn_blocking(move || get_once(&a, "/stats"))
        .await
        .unwrap()
        .expect("/stats answers");
    let stderr = server.stop();
    let limit_warnings = stderr.matches("Connection limit reached").count();
    let accept_warnings = stderr.matches("Accepting connections fails").count();
    eprintln!(
        "figure: RLIMIT_NOFILE 64, 500 half-open connections: server fds {before} before, peak {peak}; \
         refused {}, header timeouts {}, accept errors {}; last closed {last:?} after the last write; \
         stderr lines: {} ({limit_warnings} limit warning, {accept_warnings} accept warnings)",
        stat(&body, "refused"),
        stat(&body, "header_timeouts"),
        stat(&body, "accept_errors"),
        stderr.lines().count(),
    );
    for line in stderr.lines().filter(|l| l.contains("level=")) {
        eprintln!("child stderr: {line}");
    }
    assert!(
        peak < 64,
        "the server never ran out of descriptors (peak {peak})"
    );
    assert!(stat(&body, "refused") > 0, "{body}");
    assert_eq!(stat(&body, "accept_errors"), 0, "{body}");
    assert_eq!(limit_warnings, 1, "{stderr}");
    assert_eq!(accept_warnings, 0, "{stderr}");
    assert!(!stderr.contains("panic"), "{stderr}");
}
