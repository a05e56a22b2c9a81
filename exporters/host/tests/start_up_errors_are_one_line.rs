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

#[test]
fn help_begins_with_the_programs_own_about() {
    let about = mcp_host_exporter::command()
        .get_about()
        .map(ToString::to_string)
        .unwrap();
    startup::assert_help_begins_with_the_about(host(), &about);
}

#[test]
fn hostile_scrape_timeout_headers_are_answered_without_a_panic() {
    startup::assert_hostile_scrape_timeouts_are_answered(host(), &[("/metrics", 200)]);
}
