//! The start-up error checks every exporter binary passes (issue 17, item 5): a port in use, an
//! unknown single-dash flag and a malformed listen address each give one line naming the problem
//! and a non-zero exit — no "Caused by", no backtrace even with `RUST_BACKTRACE=1`. The three
//! exporters share `mcp_exporter_core::exporter::main`, so the checks are written once here and
//! each exporter's test calls them with a command that starts its binary.

use std::process::Command;

/// Runs `cmd ARGS` with `RUST_BACKTRACE=1`: (exit code, non-empty stderr lines).
pub fn stderr_lines(mut cmd: Command, args: &[&str]) -> (i32, Vec<String>) {
    let out = cmd
        .env("RUST_BACKTRACE", "1")
        .env_remove("RUST_LOG")
        .args(args)
        .output()
        .expect("run the exporter");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines = stderr
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_owned)
        .collect();
    (out.status.code().unwrap_or(-1), lines)
}

/// A port in use: exit 1, one line naming the address.
pub fn assert_port_in_use_is_one_line(cmd: Command) {
    let held = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = held.local_addr().expect("addr").to_string();
    let (code, lines) = stderr_lines(cmd, &[&format!("--web.listen-address={addr}")]);
    assert_eq!(code, 1, "{lines:?}");
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].contains(&addr), "{lines:?}");
    assert!(!lines[0].contains("Caused by") && !lines[0].contains("backtrace"));
}

/// `-no.such.flag`: exit 2, one line naming the flag whole.
pub fn assert_unknown_single_dash_flag_is_named_whole(cmd: Command) {
    let (code, lines) = stderr_lines(cmd, &["-no.such.flag"]);
    assert_eq!(code, 2, "{lines:?}");
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].contains("'-no.such.flag'"), "{lines:?}");
}

/// A malformed `--web.listen-address`: exit 2, one line naming the flag.
pub fn assert_malformed_listen_address_names_the_flag(cmd: Command) {
    let (code, lines) = stderr_lines(cmd, &["--web.listen-address=not an address"]);
    assert_eq!(code, 2, "{lines:?}");
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].contains("--web.listen-address"), "{lines:?}");
}

/// `--help`: exit 0 and the first line is the program's own `about` text, not the doc comment
/// of a flattened flag struct (issue 17, item 6: "The `--log.*` flags" came first).
pub fn assert_help_begins_with_the_about(mut cmd: Command, about: &str) {
    let out = cmd
        .env_remove("RUST_LOG")
        .arg("--help")
        .output()
        .expect("run the exporter");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    let first = stdout.lines().next().unwrap_or("");
    assert_eq!(first, about, "--help begins with:\n{stdout}");
    assert!(!stdout.contains("The `--log.*` flags"), "{stdout}");
}

/// Scrape-timeout header values a client may send that used to panic (`1e20` and up: issue 17,
/// item 2), that overflow an integer parse (`u64::MAX + 1`), or that are not a positive number at
/// all. The exporters' start-up tests and the agent's hostile-header test all send this list.
pub const HOSTILE_SCRAPE_TIMEOUTS: &[&str] = &[
    "1e20",
    "1e400",
    "-1",
    "nan",
    "NaN",
    "inf",
    "-inf",
    "0",
    "garbage",
    "",
    "18446744073709551616",
];

/// Starts `cmd` (an exporter binary with its backend configured, which need not be reachable)
/// on a free loopback port, sends every [`HOSTILE_SCRAPE_TIMEOUTS`] value to each of `paths`
/// through a real HTTP client, and asserts each request gets `expect` (status) and that the
/// process's stderr never mentions a panic. The client timeout (60 s) only turns a hang into a
/// failure; the backends of these checks fail fast.
pub fn assert_hostile_scrape_timeouts_are_answered(mut cmd: Command, paths: &[(&str, u16)]) {
    let port = crate::free_port();
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("stderr.log");
    let mut child = cmd
        .env("RUST_BACKTRACE", "1")
        .env_remove("RUST_LOG")
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log file"))
        .spawn()
        .expect("start the exporter");
    let base = format!("http://127.0.0.1:{port}");
    let up = crate::wait_for_tcp(
        &format!("127.0.0.1:{port}"),
        std::time::Duration::from_secs(20),
    )
    .is_ok();
    let client = reqwest::blocking::Client::builder()
        .timeout(std::time::Duration::from_secs(60))
        .build()
        .expect("HTTP client");
    let mut failures = Vec::new();
    if !up {
        failures.push("the exporter did not start listening".to_owned());
    }
    for (path, expect) in paths.iter().filter(|_| up) {
        for value in HOSTILE_SCRAPE_TIMEOUTS {
            let res = client
                .get(format!("{base}{path}"))
                .header("X-Prometheus-Scrape-Timeout-Seconds", *value)
                .send();
            match res {
                Ok(res) if res.status().as_u16() == *expect => {
                    // The body must arrive whole too (a panic mid-body would cut it).
                    if let Err(e) = res.text() {
                        failures.push(format!("{path} with {value:?}: body: {e}"));
                    }
                }
                Ok(res) => failures.push(format!(
                    "{path} with {value:?}: HTTP {} (want {expect})",
                    res.status()
                )),
                Err(e) => failures.push(format!("{path} with {value:?}: {e}")),
            }
        }
    }
    // Still serving after all of it.
    let alive = child.try_wait().ok().flatten().is_none();
    let _ = child.kill();
    let _ = child.wait();
    let stderr = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(alive, "the exporter exited:\n{stderr}");
    assert!(failures.is_empty(), "{failures:#?}\nstderr:\n{stderr}");
    for word in ["panicked", "backtrace"] {
        assert!(
            !stderr.contains(word),
            "stderr mentions {word:?}:\n{stderr}"
        );
    }
}
