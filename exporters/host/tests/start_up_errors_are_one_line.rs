//! Issue 17, item 5: a port in use, an unknown single-dash flag and a malformed listen address
//! each give one line naming the problem and a non-zero exit — no "Caused by", no backtrace even
//! with `RUST_BACKTRACE=1`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

fn run(args: &[&str]) -> (i32, Vec<String>) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_mcp-host-exporter"))
        .env("RUST_BACKTRACE", "1")
        .env_remove("RUST_LOG")
        .args(args)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines = stderr
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_owned)
        .collect();
    (out.status.code().unwrap_or(-1), lines)
}

#[test]
fn a_port_in_use_is_one_line_and_exit_1() {
    let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = held.local_addr().unwrap().to_string();
    let (code, lines) = run(&[&format!("--web.listen-address={addr}")]);
    assert_eq!(code, 1, "{lines:?}");
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].contains(&addr), "{lines:?}");
    assert!(!lines[0].contains("Caused by") && !lines[0].contains("backtrace"));
}

#[test]
fn an_unknown_single_dash_flag_is_named_whole() {
    let (code, lines) = run(&["-no.such.flag"]);
    assert_eq!(code, 2, "{lines:?}");
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].contains("'-no.such.flag'"), "{lines:?}");
}

#[test]
fn a_malformed_listen_address_names_the_flag() {
    let (code, lines) = run(&["--web.listen-address=not an address"]);
    assert_eq!(code, 2, "{lines:?}");
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].contains("--web.listen-address"), "{lines:?}");
}
