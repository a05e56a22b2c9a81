//! Issue 17, item 5: a port in use, an unknown single-dash flag and a malformed listen address
//! each give one line naming the problem and a non-zero exit — no "Caused by", no backtrace even
//! with `RUST_BACKTRACE=1` (the checks are testkit's, shared by every exporter).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use mcp_testkit::startup;

fn redis() -> std::process::Command {
    std::process::Command::new(env!("CARGO_BIN_EXE_mcp-redis-exporter"))
}

#[test]
fn a_port_in_use_is_one_line_and_exit_1() {
    startup::assert_port_in_use_is_one_line(redis());
}

#[test]
fn an_unknown_single_dash_flag_is_named_whole() {
    startup::assert_unknown_single_dash_flag_is_named_whole(redis());
}

#[test]
fn a_malformed_listen_address_names_the_flag() {
    startup::assert_malformed_listen_address_names_the_flag(redis());
}

#[test]
fn help_begins_with_the_programs_own_about() {
    let about = mcp_redis_exporter::command()
        .get_about()
        .map(ToString::to_string)
        .unwrap();
    startup::assert_help_begins_with_the_about(redis(), &about);
}

#[test]
fn hostile_scrape_timeout_headers_are_answered_without_a_panic() {
    // Redis is not there (port 1): every scrape answers at once with redis_up 0.
    let mut cmd = redis();
    cmd.args([
        "--redis.addr=redis://127.0.0.1:1",
        "--connection-timeout=1s",
    ]);
    startup::assert_hostile_scrape_timeouts_are_answered(
        cmd,
        &[
            ("/metrics", 200),
            ("/scrape?target=redis%3A%2F%2F127.0.0.1%3A1", 200),
        ],
    );
}
