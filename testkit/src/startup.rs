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
