//! Issue 17, item 6: `--help` of the Redis and host exporters began with "The `--log.*` flags",
//! the doc comment of `LogArgs`: clap's derive makes an `Args` struct's doc comment the `about`
//! of whatever command it is flattened into, replacing the program's own. Both shared flag
//! structs are checked, the way the exporters build their commands (`augment_args` on a builder
//! `Command`, as redis, postgres and host do) and with the derive's `#[command(flatten)]`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use clap::{Args as _, CommandFactory as _, Parser};
use mcp_exporter_core::logging::LogArgs;
use mcp_exporter_core::web::WebArgs;

fn first_line(mut cmd: clap::Command) -> String {
    cmd.render_help()
        .to_string()
        .lines()
        .next()
        .unwrap_or("")
        .to_owned()
}

#[test]
fn builder_command_keeps_its_about_after_the_shared_flags() {
    let about = "Host metrics with node_exporter's names.";
    let cmd = clap::Command::new("mcp-demo-exporter").about(about);
    let cmd = WebArgs::augment_args(cmd);
    let cmd = LogArgs::augment_args(cmd);
    assert_eq!(first_line(cmd.clone()), about);
    // The flags themselves are all there.
    let help = cmd.clone().render_help().to_string();
    for flag in [
        "--web.listen-address",
        "--web.telemetry-path",
        "--log.level",
        "--log.format",
    ] {
        assert!(help.contains(flag), "{flag} missing from:\n{help}");
    }
    // And nothing of the structs' own comments leaks into the long help either.
    let long = cmd.clone().render_long_help().to_string();
    assert!(!long.contains("flags of the Go exporters"), "{long}");
    assert!(!long.contains("The `--log.*` flags"), "{long}");
}

#[test]
fn builder_command_without_about_starts_with_usage() {
    let cmd = LogArgs::augment_args(WebArgs::augment_args(clap::Command::new("bare")));
    assert!(first_line(cmd).starts_with("Usage: bare"));
}

/// A program using the derive, as a new exporter would.
#[derive(Debug, Parser)]
#[command(name = "mcp-derived-exporter", about = "A derived exporter.")]
struct Derived {
    #[command(flatten)]
    web: WebArgs,
    #[command(flatten)]
    log: LogArgs,
}

#[test]
fn derived_parser_keeps_its_about() {
    assert_eq!(first_line(Derived::command()), "A derived exporter.");
    let parsed = Derived::try_parse_from(["x", "--log.level", "warn"]).unwrap();
    assert_eq!(parsed.log.level, "warn");
    assert_eq!(parsed.web.telemetry_path, "/metrics");
}
