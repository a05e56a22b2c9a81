//! Issue 17, item 4: a service stopped with SIGTERM while Loki refused or hung exited after the
//! flush deadline, and its queued lines vanished with nothing printed (`FlushReport` even said
//! "completed"). Now the guard's drop prints one stderr line with the exact number of lines
//! not delivered and why. A real child process (this test binary, re-run as `drill_child`)
//! inits, logs N lines, and exits on SIGTERM; against the suite's Loki receiver in refusing,
//! hung, up and "first push accepted, then refused" modes, the printed number equals N minus
//! what the receiver stored.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use support::{FakeLoki, Mode, wait_until};

const LINES: u64 = 3_000;

#[test]
#[ignore = "the child half of the tests in this file; runs only with MCP_DRILL_CHILD set"]
fn drill_child() {
    let Ok(url) = std::env::var("MCP_DRILL_CHILD") else {
        return;
    };
    let lines: u64 = std::env::var("MCP_DRILL_LINES").unwrap().parse().unwrap();
    let mut lc = mcp_instrument::logs::LokiConfig::new(url.clone());
    lc.batch_wait = Duration::from_millis(50);
    lc.batch_max_events = 500;
    lc.request_timeout = Duration::from_millis(500);
    lc.min_backoff = Duration::from_millis(20);
    lc.max_backoff = Duration::from_millis(100);
    lc.flush_timeout = Duration::from_secs(2);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let _enter = rt.enter();
    let guard = mcp_instrument::Builder::new("drill")
        .ignore_env()
        .no_metrics_listener()
        .loki_url(url)
        .loki_config(lc)
        .log_format(mcp_instrument::LogFormat::Off)
        .init()
        .unwrap();
    let mut term =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).unwrap();
    for seq in 0..lines {
        tracing::info!(seq, "Drill line.");
    }
    println!("drill ready");
    rt.block_on(term.recv());
    drop(guard);
    // Programmatic access after the guard is gone: the same figure as the stderr line.
    let report = mcp_instrument::last_flush_report().unwrap();
    println!(
        "drill report undelivered={} completed={}",
        report.undelivered, report.completed
    );
}

struct Outcome {
    stderr: String,
    stdout: String,
}

/// Runs the child against `url`, waits until it has logged, lets `settle` run, then SIGTERMs
/// it and collects its output.
fn run_child(url: &str, settle: impl FnOnce()) -> Outcome {
    let dir = tempfile_dir();
    let stderr_path = dir.join("stderr");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "drill_child",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("MCP_DRILL_CHILD", url)
        .env("MCP_DRILL_LINES", LINES.to_string())
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&stderr_path).unwrap())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let _ = tx.send(line);
        }
    });
    let mut stdout_text = String::new();
    loop {
        let line = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("the child logs its lines and says so");
        stdout_text.push_str(&line);
        stdout_text.push('\n');
        if line.contains("drill ready") {
            break;
        }
    }
    settle();
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exited = wait_until(Duration::from_secs(60), || {
        matches!(child.try_wait(), Ok(Some(_)))
    });
    if !exited {
        let _ = child.kill();
    }
    assert!(exited, "the child exits after SIGTERM");
    assert!(child.wait().unwrap().success());
    while let Ok(line) = rx.recv_timeout(Duration::from_secs(5)) {
        stdout_text.push_str(&line);
        stdout_text.push('\n');
    }
    let stderr = std::fs::read_to_string(&stderr_path).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    Outcome {
        stderr,
        stdout: stdout_text,
    }
}

fn tempfile_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "mcp-drill-{}-{}",
        std::process::id(),
        support::free_port()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The `mcp-instrument:` lines of stderr, and from the only one `(undelivered, total)`.
fn report_line(stderr: &str) -> Option<(String, u64, u64)> {
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("mcp-instrument:"))
        .collect();
    assert!(lines.len() <= 1, "one line, not {}: {stderr}", lines.len());
    let line = lines.first()?.to_string();
    let mut words = line.split_whitespace().skip(1);
    let undelivered = words.next()?.parse().ok()?;
    assert_eq!(words.next(), Some("of"));
    let total = words.next()?.parse().ok()?;
    Some((line, undelivered, total))
}

fn programmatic(stdout: &str) -> (u64, bool) {
    let line = stdout
        .lines()
        .find_map(|l| l.split_once("drill report ").map(|(_, r)| r.to_owned()))
        .expect("the child prints last_flush_report()");
    let mut undelivered = None;
    let mut completed = None;
    for kv in line.split_whitespace() {
        match kv.split_once('=') {
            Some(("undelivered", v)) => undelivered = v.parse().ok(),
            Some(("completed", v)) => completed = v.parse().ok(),
            _ => {}
        }
    }
    (undelivered.unwrap(), completed.unwrap())
}

fn check_lost(out: &Outcome, fake: &FakeLoki, why: &str) -> String {
    let stored = fake.entry_count() as u64;
    let (line, undelivered, total) =
        report_line(&out.stderr).unwrap_or_else(|| panic!("no report line in: {}", out.stderr));
    eprintln!("figure: {LINES} lines logged, {stored} stored by the receiver; stderr: {line}");
    assert_eq!(undelivered, LINES - stored, "{line}");
    assert_eq!(total, LINES, "{line}");
    assert!(line.contains(why), "{line} should say {why:?}");
    assert_eq!(programmatic(&out.stdout), (LINES - stored, false));
    line
}

#[test]
fn refusing_loki_reports_every_undelivered_line_with_the_status() {
    let fake = FakeLoki::start();
    fake.set_mode(Mode::Status(500));
    let out = run_child(&fake.url(), || {
        assert!(wait_until(Duration::from_secs(30), || fake.requests() >= 2));
    });
    check_lost(&out, &fake, "refused: HTTP 500");
    assert_eq!(fake.entry_count(), 0);
}

#[test]
fn hung_loki_reports_every_undelivered_line_with_the_timeout() {
    let fake = FakeLoki::start();
    fake.set_mode(Mode::Hang);
    let out = run_child(&fake.url(), || {
        assert!(wait_until(Duration::from_secs(30), || fake.requests() >= 2));
    });
    let line = check_lost(&out, &fake, "hung: no answer");
    assert!(line.contains("Loki may have stored"), "{line}");
}

#[test]
fn loki_up_gets_every_line_and_nothing_is_printed() {
    let fake = FakeLoki::start();
    let out = run_child(&fake.url(), || {});
    assert!(fake.wait_for_entries(LINES as usize, Duration::from_secs(30)));
    assert_eq!(fake.entry_count() as u64, LINES);
    assert_eq!(report_line(&out.stderr), None, "{}", out.stderr);
    assert_eq!(programmatic(&out.stdout), (0, true));
}

#[test]
fn first_push_stored_then_refused_reports_exactly_the_rest() {
    let fake = FakeLoki::start();
    fake.script(&[204]);
    fake.set_mode(Mode::Status(503));
    let out = run_child(&fake.url(), || {
        assert!(wait_until(Duration::from_secs(30), || fake.requests() >= 3));
    });
    let stored = fake.entry_count() as u64;
    assert!(stored > 0 && stored < LINES, "stored {stored}");
    check_lost(&out, &fake, "refused: HTTP 503");
}
