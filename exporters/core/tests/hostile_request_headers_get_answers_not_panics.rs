//! Issue 17, item 2: a client controls the request's headers and query, so nothing in them may
//! panic the handler. `X-Prometheus-Scrape-Timeout-Seconds: 1e20` used to panic in
//! `Duration::from_secs_f64` (the connection closed without an answer, ~1.2 KB of backtrace per
//! request on stderr). Here a real HTTP client sends hostile values to a served router in a child
//! process; every request gets an answer, the timeout is clamped, and the child's stderr holds no
//! panic text.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::io::{Read as _, Write as _};
use std::time::Duration;

use support::ChildServer;

#[test]
#[ignore = "the child half of the tests in this file; runs only with MCP_WEB_CHILD set"]
fn child_server() {
    support::child_main();
}

fn timeout_sample(body: &str) -> f64 {
    body.lines()
        .find_map(|l| l.strip_prefix("demo_scrape_timeout_seconds "))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no demo_scrape_timeout_seconds in {body:?}"))
}

fn assert_no_panic(stderr: &str) {
    for word in ["panicked", "panic", "backtrace", "RUST_BACKTRACE"] {
        assert!(
            !stderr.contains(word),
            "server stderr mentions {word:?}:\n{stderr}"
        );
    }
}

#[test]
fn hostile_scrape_timeout_headers_are_clamped_and_answered() {
    let server = ChildServer::start(&[], None);
    let url = format!("http://{}/metrics", server.addr);
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let cap = support::CAP.as_secs_f64() - 0.5; // the cap minus the 0.5 s margin
    let cases: &[(&[u8], f64)] = &[
        (b"1e20", cap),
        (b"1e308", cap),
        (b"18446744073709551616", cap),
        (b"18446744073709551615.5", cap),
        (b"1e19", cap),
        (b"inf", cap),
        (b"+Infinity", cap),
        (b"-inf", cap),
        (b"NaN", cap),
        (b"-NaN", cap),
        (b"-1", cap),
        (b"-0", cap),
        (b"0", cap),
        (b"garbage", cap),
        (b"", cap),
        (b"   ", cap),
        (
            b"9999999999999999999999999999999999999999999999999999999",
            cap,
        ),
        (b"1e-320", 0.05),
        (b"0.0000001", 0.05),
        (b"2", 1.8),
        (b" 2 ", 1.8),
        (b"\xff\xfe\x80", cap),
    ];
    for (value, want) in cases {
        let res = client
            .get(&url)
            .header(
                "X-Prometheus-Scrape-Timeout-Seconds",
                reqwest::header::HeaderValue::from_bytes(value).unwrap(),
            )
            .send()
            .unwrap_or_else(|e| {
                panic!(
                    "no answer for {:?}: {e}\nserver stderr:\n{}",
                    String::from_utf8_lossy(value),
                    server.stderr()
                )
            });
        assert_eq!(res.status(), 200, "{:?}", String::from_utf8_lossy(value));
        let got = timeout_sample(&res.text().unwrap());
        assert!(
            (got - want).abs() < 1e-9,
            "{:?}: timeout {got}, want {want}",
            String::from_utf8_lossy(value)
        );
    }

    // Other headers and the query: garbage in each, an answer out.
    let others: &[(&str, &[u8])] = &[
        ("accept-encoding", b"gzip;q=NaN, *;q=inf, ;;;,,,=,q=1e999"),
        ("accept-encoding", b"\xff\xfe;q=\x80"),
        ("accept-encoding", b"gzip;q=0.000"),
        ("authorization", b"Basic !!!!"),
        ("authorization", b"Basic \xff\xff"),
        ("x-prometheus-scrape-timeout-seconds", b"1e20, 1e20"),
    ];
    for (name, value) in others {
        let res = client
            .get(format!("{url}?collect[]=%ff%fe&name[]=%zz&&=&target=%00"))
            .header(
                *name,
                reqwest::header::HeaderValue::from_bytes(value).unwrap(),
            )
            .send()
            .unwrap_or_else(|e| panic!("no answer for {name}: {e}"));
        assert_eq!(
            res.status(),
            200,
            "{name}: {:?}",
            String::from_utf8_lossy(value)
        );
    }

    // Bytes no well-behaved client sends, on a raw socket: the header twice, a huge number of
    // digits, a value with control bytes. Each gets an HTTP answer (200 or 400), never a hang-up.
    let raw: &[&[u8]] = &[
        b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Prometheus-Scrape-Timeout-Seconds: 1e20\r\nX-Prometheus-Scrape-Timeout-Seconds: -1e20\r\nConnection: close\r\n\r\n",
        b"GET /metrics?%%%%=%%%% HTTP/1.1\r\nHost: x\r\nX-Prometheus-Scrape-Timeout-Seconds: 1e99999\r\nConnection: close\r\n\r\n",
        b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Prometheus-Scrape-Timeout-Seconds: \x01\x02\r\nConnection: close\r\n\r\n",
    ];
    for request in raw {
        let mut stream = std::net::TcpStream::connect(&server.addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        stream.write_all(request).unwrap();
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer);
        let answer = String::from_utf8_lossy(&answer);
        assert!(
            answer.starts_with("HTTP/1.1 200") || answer.starts_with("HTTP/1.1 400"),
            "{:?} got {answer:?}",
            String::from_utf8_lossy(request)
        );
    }

    let stderr = server.stop();
    assert_no_panic(&stderr);
}

#[test]
fn hostile_basic_auth_headers_get_401_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let hash = bcrypt::hash("secret", 4).unwrap();
    let path = dir.path().join("web.yml");
    std::fs::write(&path, format!("basic_auth_users:\n  alice: {hash}\n")).unwrap();
    let server = ChildServer::start(
        &[("MCP_WEB_CHILD_CONFIG", path.display().to_string())],
        None,
    );
    let url = format!("http://{}/metrics", server.addr);
    let client = reqwest::blocking::Client::new();
    let long = format!("Basic {}", "QUFB".repeat(4000));
    let values: Vec<Vec<u8>> = vec![
        b"Basic !!!!".to_vec(),
        b"Basic \xff\xff".to_vec(),
        b"Basic /w==".to_vec(),     // base64 of a lone 0xff byte: not UTF-8
        b"Basic YWxpY2U=".to_vec(), // "alice" with no colon
        b"Basic OnNlY3JldA==".to_vec(), // ":secret", empty user
        b"Bearer x".to_vec(),
        b"Basic".to_vec(),
        long.into_bytes(),
    ];
    for value in &values {
        let res = client
            .get(&url)
            .header(
                "authorization",
                reqwest::header::HeaderValue::from_bytes(value).unwrap(),
            )
            .header("x-prometheus-scrape-timeout-seconds", "1e20")
            .send()
            .unwrap();
        assert_eq!(res.status(), 401, "{:?}", String::from_utf8_lossy(value));
    }
    let ok = client
        .get(&url)
        .basic_auth("alice", Some("secret"))
        .header("x-prometheus-scrape-timeout-seconds", "1e20")
        .send()
        .unwrap();
    assert_eq!(ok.status(), 200);
    let stderr = server.stop();
    assert_no_panic(&stderr);
}
