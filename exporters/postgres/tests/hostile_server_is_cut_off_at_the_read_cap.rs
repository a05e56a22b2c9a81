//! Issue 17, item 1: a "server" that announces a 2 GiB message (after the handshake or during
//! it), streams data rows without end, or answers with more tiny rows than the row cap, must not
//! grow the exporter's memory: past the per-scrape read cap (or the row cap) the connection is
//! dropped, `pg_up` is 0, `postgres_exporter_last_scrape_error_reason` names the cap, every
//! scrape answers within its deadline, and the memory is returned. The server is
//! `mcp_testkit::pgwire::FakePostgres`, speaking just enough of the protocol and counting what
//! it sends.
//!
//! The deadline: each scrape asks for [`DeadlineScraper::DEFAULT_DEADLINE_SECS`] s and the HTTP
//! client gives up [`DeadlineScraper::DEFAULT_MARGIN`] later, so a scrape that outlives its
//! deadline fails the test as a client timeout (no timing assertion: the margin is generous).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use common::Exporter;
use mcp_postgres_exporter::queries;
use mcp_postgres_exporter::session::MAX_ROWS;
use mcp_testkit::pgwire::{Behaviour, FakePostgres, Statement, parse_fixture};
use mcp_testkit::{DeadlineScraper, proc_status_kib};

const SCRAPES: usize = 6;

fn drill(case: &str, behaviour: Behaviour, reason: &str) {
    let server = FakePostgres::start(behaviour).unwrap();
    let exporter = Exporter::start(&[("DATA_SOURCE_NAME", &server.dsn())], &[]);
    let pid = exporter.child.id();
    let before = proc_status_kib(pid, "VmRSS");
    let slowest = scrape(&exporter, case, reason, SCRAPES);
    let peak = proc_status_kib(pid, "VmHWM");
    let connections = server.connections();
    let streamed = server.streamed();
    drop(server);
    let after = proc_status_kib(pid, "VmRSS");
    // Figures for the closing note (not asserted: no timing assertions).
    eprintln!(
        "postgres hostile drill: {case}: RSS before {before} KiB, peak (VmHWM) {peak} KiB, \
         after {after} KiB ({SCRAPES} scrapes); slowest scrape {slowest:?} (deadline {} s); \
         server sent {} MiB over {connections} connections; reason {reason:?}",
        DeadlineScraper::DEFAULT_DEADLINE_SECS,
        streamed >> 20,
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
    assert!(streamed > 0, "the hostile server never got to send");
}

/// `n` scrapes, each with the short deadline, each answered with `pg_up 0` and `reason`; the
/// slowest one's time.
fn scrape(exporter: &Exporter, case: &str, reason: &str, n: usize) -> Duration {
    let mut scraper = DeadlineScraper::default();
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
        "postgres hostile drill: {case}: slowest scrape {slowest:?} (deadline {} s); server \
         sent 0 bytes; reason \"timeout\"; RSS {} KiB",
        DeadlineScraper::DEFAULT_DEADLINE_SECS,
        proc_status_kib(exporter.child.id(), "VmRSS")
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
