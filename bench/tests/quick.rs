//! `mcp-bench --quick` end to end: private redis-server and PostgreSQL from mcp-testkit, the Go
//! exporters when installed, and whichever of our exporter binaries the target dir holds. It
//! checks the harness works; it asserts nothing about speed.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

#[test]
fn quick_mode_runs_every_pair_and_prints_the_tables() {
    let out = Command::new(env!("CARGO_BIN_EXE_mcp-bench"))
        .args(["--quick", "redis", "postgres", "host"])
        .env("MCP_BENCH_COMMAND", "mcp-bench --quick redis postgres host")
        .output()
        .expect("run mcp-bench");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "mcp-bench failed: {}\n{stderr}",
        out.status
    );
    assert!(stdout.contains("## Latest run"), "{stdout}");
    assert!(
        stdout.contains("Command: `mcp-bench --quick redis postgres host`"),
        "{stdout}"
    );
    for pair in ["redis", "postgres", "host"] {
        assert!(
            stdout.contains(&format!("### {pair}: ")),
            "no {pair} section:\n{stdout}"
        );
    }
    // A Go exporter that is installed must have been measured: the harness drove it.
    for (bin, pair) in [
        ("prometheus-redis-exporter", "redis"),
        ("prometheus-postgres-exporter", "postgres"),
        ("prometheus-node-exporter", "host"),
    ] {
        if mcp_testkit::find_binary(bin).is_err() {
            eprintln!("{bin} not installed: its side is a skip");
            continue;
        }
        let section = stdout.split(&format!("### {pair}: ")).nth(1).unwrap();
        let section = section.split("\n### ").next().unwrap();
        assert!(
            !section.contains("Go original skipped"),
            "{pair}: the Go side did not run:\n{section}\n{stderr}"
        );
        assert!(section.contains("| series per scrape | "), "{section}");
    }
}

#[test]
fn unknown_target_is_one_line_and_non_zero() {
    let out = Command::new(env!("CARGO_BIN_EXE_mcp-bench"))
        .arg("nosuch")
        .output()
        .expect("run mcp-bench");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("unknown target \"nosuch\""), "{stderr}");
}
