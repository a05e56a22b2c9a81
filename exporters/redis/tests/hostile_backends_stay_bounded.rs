//! Issue 17 items 1 and 6: a backend that streams without end cannot grow the exporter's memory
//! (a scrape that reads more than `--max-reply-bytes` fails with `err="reply too large"`, the
//! connection is dropped and the memory returns, and the scrape ends within its deadline), and
//! one Redis outage reads as one stable `err` category, logged once per state change.
//!
//! The deadline: each hostile scrape asks for [`DeadlineScraper::DEFAULT_DEADLINE_SECS`] s and
//! the HTTP client gives up [`DeadlineScraper::DEFAULT_MARGIN`] later, so a scrape that outlives
//! its deadline fails the test as a client timeout (no timing assertion: the margin is generous). `--connection-timeout` is set far
//! above it, so it is the scrape's deadline that must stop a slow read.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::{Exporter, value};
use mcp_testkit::{DeadlineScraper, RedisServer, proc_status_kib, wait_until};

/// A TCP server that answers every request with `prefix` and then streams `x` bytes without a
/// line end, until the client goes away (or 4 GiB, so a broken exporter cannot hang the test).
struct Endless {
    port: u16,
    stop: Arc<AtomicBool>,
}

impl Endless {
    fn start(prefix: &'static [u8]) -> Endless {
        Self::start_paced(prefix, 64 * 1024, Duration::ZERO)
    }

    /// `chunk` bytes at a time, `pause` between chunks (a slow drip, when not zero).
    fn start_paced(prefix: &'static [u8], chunk: usize, pause: Duration) -> Endless {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if stop2.load(Ordering::Relaxed) {
                    return;
                }
                let Ok(mut conn) = conn else { continue };
                let stop3 = stop2.clone();
                std::thread::spawn(move || {
                    let mut buf = [0u8; 4096];
                    // Wait for the first command, whatever it is.
                    if conn.read(&mut buf).unwrap_or(0) == 0 {
                        return;
                    }
                    if conn.write_all(prefix).is_err() {
                        return;
                    }
                    let chunk = vec![b'x'; chunk];
                    for _ in 0..(4u64 << 30) / chunk.len() as u64 {
                        if stop3.load(Ordering::Relaxed) || conn.write_all(&chunk).is_err() {
                            return;
                        }
                        if !pause.is_zero() {
                            std::thread::sleep(pause);
                        }
                    }
                });
            }
        });
        Endless { port, stop }
    }
}

impl Drop for Endless {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Wake the accept loop so it sees the flag.
        let _ = std::net::TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn err_label(text: &str) -> String {
    let line = text
        .lines()
        .find(|l| l.starts_with("redis_exporter_last_scrape_error{"))
        .unwrap_or_else(|| panic!("no last_scrape_error in {text}"));
    let start = line.find("err=\"").unwrap() + 5;
    let end = line[start..].find('"').unwrap() + start;
    line[start..end].to_owned()
}

fn drill(case: &str, prefix: &'static [u8], scrapes: usize, cap: Option<&str>) {
    let backend = Endless::start(prefix);
    let mut args = vec![
        format!("--redis.addr=redis://127.0.0.1:{}", backend.port),
        "--connection-timeout=20s".into(),
    ];
    if let Some(cap) = cap {
        args.push(format!("--max-reply-bytes={cap}"));
    }
    let ours = Exporter::start(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let pid = ours.child.id();
    let before = proc_status_kib(pid, "VmRSS");
    let mut scraper = DeadlineScraper::default();
    for i in 0..scrapes {
        let (status, text) = scraper.get(&ours.url("/metrics"), &format!("{case}: scrape {i}"));
        assert_eq!(status, 200);
        assert_eq!(value(&text, "redis_up"), Some(0.0), "{text}");
        assert_eq!(err_label(&text), "reply too large", "{text}");
    }
    drop(backend);
    let peak = proc_status_kib(pid, "VmHWM");
    // The dropped connections' buffers are freed: RSS returns to near where it started.
    let after = proc_status_kib(pid, "VmRSS");
    eprintln!(
        "redis hostile drill: {case} (answers {:?} then x without end, cap {}): RSS before \
         {before} KiB, peak (VmHWM) {peak} KiB, after {after} KiB ({scrapes} scrapes); slowest \
         scrape {:?} (deadline {} s); err \"reply too large\"",
        std::str::from_utf8(prefix).unwrap(),
        cap.unwrap_or("default 64 MiB"),
        scraper.slowest,
        DeadlineScraper::DEFAULT_DEADLINE_SECS,
    );
    assert!(
        after < before + 32 * 1024,
        "RSS before {before} KiB, after {after} KiB"
    );
    assert!(
        peak < before + 512 * 1024,
        "RSS before {before} KiB, peak {peak} KiB"
    );
}

#[test]
fn a_simple_string_without_end_is_capped_and_memory_returns() {
    // 16 MiB keeps the debug build's 12 parses of the stream short; the bulk case below runs
    // at the default cap.
    drill("simple string without end", b"+", 12, Some("16777216"));
}

#[test]
fn a_bulk_string_announcing_two_gib_is_capped_and_memory_returns() {
    drill("bulk string announcing 2 GiB", b"$2147483647\r\n", 4, None);
}

#[test]
fn a_slow_drip_ends_at_the_scrape_deadline() {
    // A byte every 100 ms never reaches the cap: only the scrape's deadline can end the read.
    let backend = Endless::start_paced(b"+", 1, Duration::from_millis(100));
    let ours = Exporter::start(&[
        &format!("--redis.addr=redis://127.0.0.1:{}", backend.port),
        "--connection-timeout=20s",
    ]);
    let mut scraper = DeadlineScraper::default();
    for i in 0..3 {
        let (_, text) = scraper.get(&ours.url("/metrics"), &format!("slow drip: scrape {i}"));
        assert_eq!(value(&text, "redis_up"), Some(0.0), "{text}");
        assert_eq!(err_label(&text), "timeout", "{text}");
    }
    eprintln!(
        "redis hostile drill: slow drip (answers \"+\" then one byte every 100 ms): slowest \
         scrape {:?} (deadline {} s); err \"timeout\"; RSS {} KiB",
        scraper.slowest,
        DeadlineScraper::DEFAULT_DEADLINE_SECS,
        proc_status_kib(ours.child.id(), "VmRSS")
    );
    assert!(!ours.logs().contains("panicked"));
}

#[test]
fn one_outage_is_one_error_category_logged_once() {
    let mut redis = RedisServer::start().unwrap();
    let ours = Exporter::start(&[
        &format!("--redis.addr={}", redis.url()),
        "--connection-timeout=1s",
    ]);
    assert_eq!(value(&ours.metrics(), "redis_up"), Some(1.0));

    redis.kill();
    let mut categories = std::collections::BTreeSet::new();
    // Across several backoff windows (100 ms doubling to 2 s): attempts, refusals, waits.
    for _ in 0..16 {
        let text = ours.metrics();
        assert_eq!(value(&text, "redis_up"), Some(0.0), "{text}");
        categories.insert(err_label(&text));
        std::thread::sleep(Duration::from_millis(250));
    }
    assert_eq!(
        categories.len(),
        1,
        "one outage, one category: {categories:?}"
    );
    assert_eq!(
        categories.first().map(String::as_str),
        Some("connect: connection refused")
    );

    redis.restart().unwrap();
    assert!(wait_until(Duration::from_secs(10), || value(
        &ours.metrics(),
        "redis_up"
    ) == Some(1.0)));
    let logs = ours.logs();
    assert_eq!(logs.matches("Redis scrape failed.").count(), 1, "{logs}");
    assert_eq!(logs.matches("Redis scrape succeeded.").count(), 1, "{logs}");
}
