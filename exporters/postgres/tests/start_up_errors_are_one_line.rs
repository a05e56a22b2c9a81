//! Issue 17, items 5 and 6: a port in use, an unknown single-dash flag and a malformed listen
//! address each give one line naming the problem and a non-zero exit — no "Caused by", no
//! backtrace even with `RUST_BACKTRACE=1`; `/probe` with `port=notaport` shows the port as given.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Exporter, exporter_command, get_with};

fn run(args: &[&str]) -> (i32, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let out = exporter_command()
        .current_dir(dir.path())
        .env("RUST_BACKTRACE", "1")
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

#[test]
fn a_probe_with_a_bad_port_shows_the_port_as_given() {
    let exporter = Exporter::start(
        &[("DATA_SOURCE_NAME", "postgresql://u@127.0.0.1:1/db")],
        &[],
    );
    let (code, body) = get_with(
        &exporter.url("/probe?target=host%3Ddb.internal%20port%3Dnotaport"),
        &[],
    );
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("db.internal:notaport"), "{body}");
    assert!(!body.contains(":5432"), "{body}");
}
