//! Issue 17, item 1: a "server" that announces a 2 GiB message (after the handshake or during
//! it), streams data rows without end, or answers with more tiny rows than the row cap, must not
//! grow the exporter's memory: past the per-scrape read cap (or the row cap) the connection is
//! dropped, `pg_up` is 0, `postgres_exporter_last_scrape_error_reason` names the cap, every
//! scrape answers within its deadline, and the memory is returned. The server is
//! `mcp_testkit::pgwire::FakePostgres`, speaking just enough of the protocol, behind a relay in
//! this file that counts what it sends.
//!
//! The deadline: each scrape asks for [`SCRAPE_TIMEOUT_SECS`] s and the HTTP client gives up
//! [`MARGIN`] later, so a scrape that outlives its deadline fails the test as a client timeout
//! (no timing assertion: the margin is generous).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use common::Exporter;
use mcp_postgres_exporter::queries;
use mcp_postgres_exporter::session::MAX_ROWS;
use mcp_testkit::DeadlineScraper;
use mcp_testkit::pgwire::{Behaviour, FakePostgres, Statement, parse_fixture};

/// What each scrape asks for (`X-Prometheus-Scrape-Timeout-Seconds`).
const SCRAPE_TIMEOUT_SECS: u64 = 2;
/// How much longer the HTTP client waits before it calls the scrape hung.
const MARGIN: Duration = Duration::from_secs(5);
const SCRAPES: usize = 6;

/// A TCP relay in front of the fake server that counts the bytes the server sends.
struct Relay {
    port: u16,
    sent: Arc<AtomicU64>,
}

impl Relay {
    fn start(upstream: u16) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let sent = Arc::new(AtomicU64::new(0));
        let counter = sent.clone();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else {
                    continue;
                };
                let counter = counter.clone();
                let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                std::thread::spawn(move || pump(c2, s2, None));
                std::thread::spawn(move || pump(server, client, Some(&counter)));
            }
        });
        Relay { port, sent }
    }

    fn sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }
}

/// Copies `from` to `to` until either side ends, then closes both, so the fake server's writes
/// fail as soon as the exporter drops its connection.
fn pump(mut from: TcpStream, mut to: TcpStream, count: Option<&AtomicU64>) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
                if let Some(c) = count {
                    c.fetch_add(n as u64, Ordering::Relaxed);
                }
            }
        }
    }
    let _ = from.shutdown(Shutdown::Both);
    let _ = to.shutdown(Shutdown::Both);
}

/// `VmRSS` (resident now) or `VmHWM` (the peak) of a process, in KiB.
fn status_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

fn drill(case: &str, behaviour: Behaviour, reason: &str) {
    let server = FakePostgres::start(behaviour).unwrap();
    let relay = Relay::start(server.port());
    let dsn = format!(
        "postgresql://postgres@127.0.0.1:{}/postgres?sslmode=disable",
        relay.port
    );
    let exporter = Exporter::start(&[("DATA_SOURCE_NAME", &dsn)], &[]);
    let pid = exporter.child.id();
    let before = status_kib(pid, "VmRSS:");
    let slowest = scrape(&exporter, case, reason, SCRAPES);
    let peak = status_kib(pid, "VmHWM:");
    let connections = server.connections();
    drop(server);
    let after = status_kib(pid, "VmRSS:");
    // Figures for the closing note (not asserted: no timing assertions).
    eprintln!(
        "postgres hostile drill: {case}: RSS before {before} KiB, peak (VmHWM) {peak} KiB, \
         after {after} KiB ({SCRAPES} scrapes); slowest scrape {slowest:?} (deadline \
         {SCRAPE_TIMEOUT_SECS} s); server sent {} MiB over {} connections; reason {reason:?}",
        relay.sent() >> 20,
        connections
    );
    // A healthy exporter runs in ~10 MiB; 6 × 2 GiB announced would be far above this.
    assert!(
        after < 160 * 1024,
        "{case}: RSS {after} KiB after hostile scrapes"
    );
    assert!(peak < 512 * 1024, "{case}: peak RSS {peak} KiB");
    let logs = exporter.logs();
    let cap = if reason == "row cap exceeded" {
        "row cap"
    } else {
        "read cap"
    };
    assert!(logs.contains(cap), "{logs}");
    assert!(!logs.contains("panicked"), "{logs}");
    assert!(relay.sent() > 0, "the hostile server never got to send");
}

/// `n` scrapes, each with the short deadline, each answered with `pg_up 0` and `reason`; the
/// slowest one's time.
fn scrape(exporter: &Exporter, case: &str, reason: &str, n: usize) -> Duration {
    let mut scraper = DeadlineScraper::new(SCRAPE_TIMEOUT_SECS, MARGIN);
    for i in 0..n {
        let (code, body) = scraper.get(&exporter.url("/metrics"), &format!("{case}: scrape {i}"));
        assert_eq!(code, 200, "{body}");
        assert_eq!(mcp_testkit::sample(&body, "pg_up"), Some(0.0), "{body}");
        assert_eq!(
            mcp_testkit::sample(&body, "pg_exporter_last_scrape_error"),
            Some(1.0)
        );
        let series = format!("postgres_exporter_last_scrape_error_reason{{reason=\"{reason}\"}}");
        assert_eq!(
            mcp_testkit::sample(&body, &series),
            Some(1.0),
            "{case}: scrape {i}: want {series} 1 in\n{body}"
        );
    }
    scraper.slowest
}

#[test]
fn a_server_that_accepts_and_never_answers_ends_at_the_deadline() {
    // Accepts and holds every connection without a byte: only the scrape's deadline can end
    // the connect (the connect timeout, 5 s by default, is set far above it).
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in listener.incoming().flatten() {
            held.push(conn);
        }
    });
    let dsn = format!("postgresql://postgres@127.0.0.1:{port}/postgres?sslmode=disable");
    let exporter = Exporter::start(&[("DATA_SOURCE_NAME", &dsn)], &["--pg.connect-timeout=30s"]);
    let case = "a server that accepts and never answers";
    let slowest = scrape(&exporter, case, "timeout", 3);
    eprintln!(
        "postgres hostile drill: {case}: slowest scrape {slowest:?} (deadline \
         {SCRAPE_TIMEOUT_SECS} s); server sent 0 bytes; reason \"timeout\"; RSS {} KiB",
        status_kib(exporter.child.id(), "VmRSS:")
    );
    assert!(!exporter.logs().contains("panicked"));
}

#[test]
fn a_huge_announced_message_is_cut_off_at_the_read_cap() {
    drill(
        "2 GiB message after the handshake",
        Behaviour::HugeMessage,
        "read cap exceeded",
    );
}

#[test]
fn a_huge_message_during_the_handshake_is_cut_off_at_the_read_cap() {
    drill(
        "2 GiB message during the handshake",
        Behaviour::HugeStartup,
        "read cap exceeded",
    );
}

fn version_statement() -> Statement {
    Statement {
        sql: queries::VERSION.to_owned(),
        columns: vec![
            ("current_setting".to_owned(), "int4".to_owned()),
            ("version".to_owned(), "text".to_owned()),
        ],
        rows: vec![vec![160_000.into(), "PostgreSQL 16.0".into()]],
    }
}

#[test]
fn endless_data_rows_are_cut_off_at_the_read_cap() {
    // A sane handshake and version row, then every collector's statement streams 64 KiB rows
    // without end: the byte cap comes long before the row cap.
    drill(
        "endless 64 KiB data rows",
        Behaviour::EndlessRows(Arc::new(vec![version_statement()])),
        "read cap exceeded",
    );
}

#[test]
fn many_tiny_rows_are_cut_off_at_the_row_cap() {
    // Every statement a scrape sends (the captured primary's, so nothing is unknown) answers
    // with a quarter more one-column rows than the row cap: 15 bytes each, 3.7 MB a statement,
    // far below the 64 MiB read cap, so the row cap is what stops it.
    let fixture = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/pg/rows.json");
    let statements = parse_fixture(&std::fs::read_to_string(fixture).unwrap()).unwrap();
    let tiny: Vec<Statement> = statements
        .into_iter()
        .map(|s| {
            if s.sql == queries::VERSION {
                return version_statement();
            }
            Statement {
                sql: s.sql,
                columns: vec![("x".to_owned(), "int4".to_owned())],
                rows: vec![vec![1.into()]; MAX_ROWS + MAX_ROWS / 4],
            }
        })
        .collect();
    drill(
        &format!("{} tiny data rows per statement", MAX_ROWS + MAX_ROWS / 4),
        Behaviour::Replay(Arc::new(tiny)),
        "row cap exceeded",
    );
}
