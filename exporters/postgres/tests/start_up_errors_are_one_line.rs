//! Issue 17, items 5 and 6: a port in use, an unknown single-dash flag and a malformed listen
//! address each give one line naming the problem and a non-zero exit — no "Caused by", no
//! backtrace even with `RUST_BACKTRACE=1`; `/probe` with `port=notaport` shows the port as given.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Exporter, exporter_command, get_with};

/// The binary, run in an empty directory (no queries.yaml or web config is picked up).
fn postgres(dir: &tempfile::TempDir) -> std::process::Command {
    let mut cmd = exporter_command();
    cmd.current_dir(dir.path());
    cmd
}

#[test]
fn a_port_in_use_is_one_line_and_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    mcp_testkit::startup::assert_port_in_use_is_one_line(postgres(&dir));
}

#[test]
fn an_unknown_single_dash_flag_is_named_whole() {
    let dir = tempfile::tempdir().unwrap();
    mcp_testkit::startup::assert_unknown_single_dash_flag_is_named_whole(postgres(&dir));
}

#[test]
fn a_malformed_listen_address_names_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    mcp_testkit::startup::assert_malformed_listen_address_names_the_flag(postgres(&dir));
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

#[test]
fn help_begins_with_the_programs_own_about() {
    let dir = tempfile::tempdir().unwrap();
    let about = mcp_postgres_exporter::command()
        .get_about()
        .map(ToString::to_string)
        .unwrap();
    mcp_testkit::startup::assert_help_begins_with_the_about(postgres(&dir), &about);
}

#[test]
fn a_closed_port_reads_as_connection_refused_on_every_scrape() {
    // Nothing listens at port 1. The first scrape's attempt is refused; the next comes within
    // the reconnect backoff (100 ms at first) or makes an attempt of its own, and either way
    // says the same: scrapes answered during the backoff repeat the failed attempt's reason.
    let exporter = Exporter::start(
        &[(
            "DATA_SOURCE_NAME",
            "postgresql://u@127.0.0.1:1/db?sslmode=disable",
        )],
        &[],
    );
    let series = "postgres_exporter_last_scrape_error_reason{reason=\"connection refused\"}";
    for i in 0..2 {
        let (code, body) = get_with(&exporter.url("/metrics"), &[]);
        assert_eq!(code, 200, "scrape {i}: {body}");
        assert_eq!(mcp_testkit::sample(&body, "pg_up"), Some(0.0), "{body}");
        assert_eq!(
            mcp_testkit::sample(&body, "pg_exporter_last_scrape_error"),
            Some(1.0),
            "{body}"
        );
        assert_eq!(
            mcp_testkit::sample(&body, series),
            Some(1.0),
            "scrape {i}: want {series} 1 in\n{body}"
        );
    }
}

#[test]
fn hostile_scrape_timeout_headers_are_answered_without_a_panic() {
    // PostgreSQL is not there (port 1): every scrape answers at once with pg_up 0.
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = postgres(&dir);
    cmd.env(
        "DATA_SOURCE_NAME",
        "postgresql://u@127.0.0.1:1/db?sslmode=disable",
    );
    mcp_testkit::startup::assert_hostile_scrape_timeouts_are_answered(
        cmd,
        &[
            ("/metrics", 200),
            (
                "/probe?target=postgresql%3A%2F%2Fu%40127.0.0.1%3A1%2Fdb%3Fsslmode%3Ddisable",
                200,
            ),
            // A target that does not parse is the documented 400, still not a panic.
            ("/probe?target=host%3Ddb%20port%3Dnotaport", 400),
        ],
    );
}
