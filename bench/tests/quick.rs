//! `mcp-bench --quick` end to end: private redis-server and PostgreSQL from mcp-testkit, the Go
//! exporters when installed, and whichever of our exporter binaries the target dir holds. It
//! checks the harness drives every path (plain text and gzip, multi-target, the TLS + basic-auth
//! listener, the agent against the three Go exporters, the allocator A/B side); it asserts
//! nothing about speed.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::Command;

/// Our binary in the target dir (release, else debug), as the driver looks it up.
fn ours(name: &str) -> Option<PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|t| if t.is_absolute() { t } else { root.join(t) })
        .unwrap_or_else(|| root.join("target"));
    ["release", "debug"]
        .iter()
        .map(|p| target.join(p).join(name))
        .find(|p| p.is_file())
}

/// The section of one pair, up to the next.
fn section<'a>(stdout: &'a str, pair: &str) -> &'a str {
    let s = stdout
        .split(&format!("### {pair}: "))
        .nth(1)
        .unwrap_or_else(|| panic!("no {pair} section:\n{stdout}"));
    s.split("\n### ").next().unwrap()
}

/// The cells of the row whose label starts with `label`: (Go, ours).
fn row<'a>(section: &'a str, label: &str) -> Option<(&'a str, &'a str)> {
    let line = section
        .lines()
        .find(|l| l.starts_with(&format!("| {label}")))?;
    let cells: Vec<&str> = line.split('|').map(str::trim).collect();
    Some((cells[2], cells[3]))
}

#[test]
fn quick_mode_runs_every_path_and_prints_the_tables() {
    let mut args: Vec<String> = ["--quick", "redis", "postgres", "host", "agent"]
        .map(String::from)
        .to_vec();
    // The A/B side's code path, with our redis binary standing in for its musl-malloc build
    // (bench/run builds the real one; not in --quick).
    let redis_ours = ours("mcp-redis-exporter");
    if let Some(bin) = &redis_ours {
        args.push(format!("--ours-musl-malloc=redis={}", bin.display()));
    }
    let out = Command::new(env!("CARGO_BIN_EXE_mcp-bench"))
        .args(&args)
        .env(
            "MCP_BENCH_COMMAND",
            "mcp-bench --quick redis postgres host agent",
        )
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
        stdout.contains("Command: `mcp-bench --quick redis postgres host agent`"),
        "{stdout}"
    );
    assert!(stdout.contains("`Accept-Encoding: gzip`"), "{stdout}");

    // A Go exporter that is installed must have been measured on every path it serves.
    for (bin, pair, ours_bin) in [
        ("prometheus-redis-exporter", "redis", "mcp-redis-exporter"),
        (
            "prometheus-postgres-exporter",
            "postgres",
            "mcp-postgres-exporter",
        ),
        ("prometheus-node-exporter", "host", "mcp-host-exporter"),
    ] {
        let s = section(&stdout, pair);
        let go = mcp_testkit::find_binary(bin).is_ok();
        let ours = ours(ours_bin).is_some();
        assert!(
            !go || !s.contains("Go original skipped"),
            "{pair}: the Go side did not run:\n{s}\n{stderr}"
        );
        assert!(s.contains("| series per scrape | "), "{s}");
        for label in [
            "CPU-s per 1000 scrapes, sequential, gzip",
            "CPU-s per 1000 scrapes, sequential, plain text",
            "bytes on the wire per scrape, gzip",
            "bytes on the wire per scrape, plain text",
            "CPU-s per 1000 scrapes, TLS",
            "RSS after the TLS",
        ] {
            let (g, o) = row(s, label).unwrap_or_else(|| panic!("{pair}: no row {label}:\n{s}"));
            assert!(!go || g != "—", "{pair}: Go side of {label} empty:\n{s}");
            assert!(!ours || o != "—", "{pair}: our side of {label} empty:\n{s}");
        }
        // gzip on the wire is smaller than plain text, on both sides that ran.
        let (gz_go, gz_ours) = row(s, "bytes on the wire per scrape, gzip").unwrap();
        let (pl_go, pl_ours) = row(s, "bytes on the wire per scrape, plain text").unwrap();
        let n = |c: &str| c.replace(',', "").parse::<f64>().unwrap_or(f64::NAN);
        if go {
            assert!(n(gz_go) < n(pl_go), "{pair}: Go gzip not smaller:\n{s}");
        }
        if ours {
            assert!(
                n(gz_ours) < n(pl_ours),
                "{pair}: our gzip not smaller:\n{s}"
            );
        }
        // Multi-target: ours serves /scrape and /probe; postgres_exporter 0.11.1 has no /probe.
        if pair != "host" {
            let (g, o) = row(s, "CPU-s per 1000 scrapes, multi-target")
                .unwrap_or_else(|| panic!("{pair}: no multi-target row:\n{s}"));
            assert!(
                !ours || o != "—",
                "{pair}: our multi-target row empty:\n{s}"
            );
            if pair == "redis" {
                assert!(!go || g != "—", "redis: Go multi-target row empty:\n{s}");
            }
        }
        if ours {
            let failed = row(s, "failed scrapes, all phases").unwrap().1;
            assert_eq!(
                failed, "0",
                "{pair}: our side failed scrapes:\n{s}\n{stderr}"
            );
        }
    }

    // The allocator A/B table, when our redis binary was there to stand in.
    if redis_ours.is_some() {
        let s = section(&stdout, "redis");
        assert!(s.contains("Allocator A/B"), "{s}");
        let line = s
            .lines()
            .find(|l| {
                l.starts_with("| CPU-s per 1000 scrapes, sequential, gzip |")
                    && l.matches('|').count() == 5
            })
            .unwrap_or_else(|| panic!("no A/B row:\n{s}"));
        assert!(!line.contains("| — |"), "{line}");
    }

    // The agent against the three Go exporters, with both targets stated.
    let s = section(&stdout, "agent");
    let all_go = [
        "prometheus-redis-exporter",
        "prometheus-postgres-exporter",
        "prometheus-node-exporter",
    ]
    .iter()
    .all(|b| mcp_testkit::find_binary(b).is_ok());
    let agent = ours("mcp-agent").is_some();
    let (g, o) = row(s, "CPU-s per 1000 scrapes, sequential, gzip").unwrap();
    assert!(!all_go || g != "—", "agent: Go side empty:\n{s}");
    assert!(!agent || o != "—", "agent: our side empty:\n{s}");
    if all_go && agent {
        assert!(
            stdout.contains("| agent | summed RSS after scrapes ≤ 1/6"),
            "{stdout}"
        );
        assert!(
            stdout.contains("| agent | summed CPU per 1000 scrapes of each"),
            "{stdout}"
        );
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
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
}

#[test]
fn logs_quick_reports_every_phase_and_loses_nothing() {
    let out = Command::new(env!("CARGO_BIN_EXE_mcp-bench"))
        .args(["logs", "--quick", "--output", "json"])
        .output()
        .expect("run mcp-bench");
    let stderr = String::from_utf8_lossy(&out.stderr);
    if ours("mcp-agent").is_none() {
        // No agent built: the harness says so and fails, it does not skip.
        assert!(!out.status.success(), "{stderr}");
        assert!(stderr.contains("mcp-agent is not built"), "{stderr}");
        return;
    }
    assert!(out.status.success(), "{stderr}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    let phases: Vec<&str> = v["phases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["phase"].as_str().unwrap())
        .collect();
    assert_eq!(
        phases,
        [
            "receiver up",
            "outage (503)",
            "receiver back",
            "drain (writer stopped)"
        ]
    );
    assert!(v["lines_written"].as_u64().unwrap() > 1_000, "{v}");
    assert_eq!(v["loss"], 0, "{v}");
    assert_eq!(v["verdicts"]["loss"]["met"], true, "{v}");
    assert!(v["whole_run"]["vmhwm_kb"].as_u64().unwrap() > 0, "{v}");
}

#[test]
fn logs_runs_on_its_own() {
    let out = Command::new(env!("CARGO_BIN_EXE_mcp-bench"))
        .args(["logs", "redis"])
        .output()
        .expect("run mcp-bench");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("`logs` runs on its own"), "{stderr}");
}
