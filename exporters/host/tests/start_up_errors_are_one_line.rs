//! Issue 17, item 5: a port in use, an unknown single-dash flag and a malformed listen address
//! each give one line naming the problem and a non-zero exit — no "Caused by", no backtrace even
//! with `RUST_BACKTRACE=1` (the checks are testkit's, shared by every exporter).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use mcp_testkit::startup;

fn host() -> std::process::Command {
    std::process::Command::new(env!("CARGO_BIN_EXE_mcp-host-exporter"))
}

#[test]
fn a_port_in_use_is_one_line_and_exit_1() {
    startup::assert_port_in_use_is_one_line(host());
}

#[test]
fn an_unknown_single_dash_flag_is_named_whole() {
    startup::assert_unknown_single_dash_flag_is_named_whole(host());
}

#[test]
fn a_malformed_listen_address_names_the_flag() {
    startup::assert_malformed_listen_address_names_the_flag(host());
}
