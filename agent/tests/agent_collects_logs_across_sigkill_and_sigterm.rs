//! `mcp-agent run` as a log collector, as a real process: SIGKILL mid-stream and a restart lose
//! nothing and resend at most the unacknowledged batch; SIGTERM flushes, saves positions and
//! exits 0 in bounded time; `config check` validates the logs section; `check` reports the
//! collector's row from the agent's own metrics.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mcp_testkit::loki::FakeLoki;
use mcp_testkit::{free_port, http_get, wait_until};

const BIN: &str = env!("CARGO_BIN_EXE_mcp-agent");

fn write_config(dir: &Path, loki: &FakeLoki, port: u16) -> std::path::PathBuf {
    let cfg = format!(
        "host: {{listen_address: [\"127.0.0.1:{port}\"], settings: {{collectors: [loadavg]}}}}\n\
         redis: {{enabled: false}}\npostgres: {{enabled: false}}\n\
         logs:\n  loki_url: {}\n  positions_file: {}/positions.json\n  host: testhost\n  batch_wait_ms: 100\n  poll_interval_ms: 50\n  batch_max_bytes: 65536\n  files: [{{path: \"{}/*.log\", labels: {{job: app}}}}]\n",
        loki.url(),
        dir.display(),
        dir.display()
    );
    let path = dir.join("agent.yml");
    std::fs::write(&path, cfg).unwrap();
    path
}

fn start(config: &Path) -> Child {
    Command::new(BIN)
        .args(["--config", config.to_str().unwrap(), "run"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn distinct(loki: &FakeLoki) -> usize {
    let mut s: Vec<String> = loki.entries().into_iter().map(|e| e.line).collect();
    s.sort();
    s.dedup();
    s.len()
}

#[test]
fn sigkill_and_restart_lose_nothing_and_sigterm_flushes_and_exits_zero() {
    let loki = FakeLoki::start();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    std::fs::File::create(&log).unwrap();
    let port = free_port();
    // A host section with one cheap collector keeps this test to the log collector, yet serves
    // /agent/metrics on a port.
    let config = write_config(dir.path(), &loki, port);
    let check = Command::new(BIN)
        .args(["config", "check", config.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "config check: {}",
        String::from_utf8_lossy(&check.stdout)
    );

    let mut written = 0usize;
    let mut append = |n: usize| {
        let mut f = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
        let mut s = String::new();
        for i in written..written + n {
            s.push_str(&format!("agent line {i:06}\n"));
        }
        f.write_all(s.as_bytes()).unwrap();
        written += n;
    };
    append(30_000);
    let mut agent = start(&config);
    assert!(
        wait_until(Duration::from_secs(60), || loki.entry_count() >= 5_000),
        "first lines arrive"
    );
    agent.kill().unwrap(); // SIGKILL
    agent.wait().unwrap();
    let before_restart = loki.entry_count();
    append(10_000);
    let mut agent = start(&config);
    assert!(
        wait_until(Duration::from_secs(90), || distinct(&loki) == 40_000),
        "only {} distinct of 40000",
        distinct(&loki)
    );
    let duplicates = loki.entry_count() - 40_000;
    println!("sigkill after {before_restart} stored: {duplicates} duplicates after restart");
    // One batch is at most 64 KiB of 18-byte lines: about 3,700 lines.
    assert!(
        duplicates <= 65_536 / 17,
        "{duplicates} duplicates: more than one batch resent"
    );

    // The agent's own metrics carry the collector's families, and `check` reads them.
    let (status, metrics) = http_get(&format!("http://127.0.0.1:{port}/agent/metrics"));
    assert_eq!(status, 200);
    assert!(
        metrics.contains("mcp_agent_log_lines_sent_total"),
        "{metrics}"
    );
    assert!(
        mcp_testkit::promtool_check_metrics(&metrics).is_ok(),
        "{metrics}"
    );
    let out = Command::new(BIN)
        .args([
            "check",
            "--only",
            "loki",
            "--loki-url",
            &loki.url(),
            "--agent-url",
            &format!("http://127.0.0.1:{port}"),
            "--output",
            "json",
        ])
        .output()
        .unwrap();
    let json = String::from_utf8_lossy(&out.stdout);
    assert!(json.contains("agent log collection"), "{json}");
    assert!(json.contains("target(s) tailed"), "{json}");

    // SIGTERM: what was read is flushed, positions saved, exit 0, bounded.
    append(500);
    std::thread::sleep(Duration::from_millis(300));
    let t = Instant::now();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(agent.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    assert!(
        wait_until(Duration::from_secs(15), || matches!(
            agent.try_wait(),
            Ok(Some(_))
        )),
        "exits in bounded time"
    );
    let code = agent.wait().unwrap();
    println!("sigterm: exited {code} in {:?}", t.elapsed());
    assert!(code.success(), "exit status {code}");
    assert!(
        wait_until(Duration::from_secs(5), || distinct(&loki) == 40_500),
        "flushed on SIGTERM: {}",
        distinct(&loki)
    );
    let positions = std::fs::read_to_string(dir.path().join("positions.json")).unwrap();
    assert!(
        positions.contains(&format!("\"offset\": {}", 40_500 * 18)),
        "{positions}"
    );
}

#[test]
fn config_check_names_bad_logs_keys() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.yml");
    std::fs::write(
        &path,
        "logs:\n  loki_url: ftp://x\n  files: [{path: \"[\"}]\n  batch_max_bytes: 0\n",
    )
    .unwrap();
    let out = Command::new(BIN)
        .args(["config", "check", path.to_str().unwrap()])
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success());
    for key in [
        "logs.loki_url",
        "logs.files[0].path",
        "logs.batch_max_bytes",
    ] {
        assert!(text.contains(key), "{key} not named:\n{text}");
    }
    std::fs::write(&path, "logs:\n  loki_url: http://x\n  bogus: 1\n").unwrap();
    let out = Command::new(BIN)
        .args(["config", "check", path.to_str().unwrap()])
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success() && text.contains("bogus"), "{text}");
}
