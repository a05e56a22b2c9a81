//! The agent's and the three exporters' systemd units pass `systemd-analyze verify`.
//!
//! verify also checks that ExecStart's binary exists and is executable; the units name
//! /usr/local/bin/<binary>, which a test machine does not have, so each unit is verified from a
//! temp copy whose ExecStart points at an executable stand-in of the same name. Everything else
//! is verified as committed. Without systemd-analyze the test fails and says so.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::fs::PermissionsExt as _;
use std::process::Command;

#[test]
fn all_four_units_verify() {
    let root = mcp_testkit::workspace_root();
    let units = [
        "agent/systemd/mcp-agent.service",
        "exporters/host/systemd/mcp-host-exporter.service",
        "exporters/redis/systemd/mcp-redis-exporter.service",
        "exporters/postgres/systemd/mcp-postgres-exporter.service",
    ];
    // A check that cannot run fails (it does not skip), and says what to install.
    let bin = mcp_testkit::find_binary("systemd-analyze").unwrap_or_else(|_| {
        panic!(
            "systemd-analyze is not on PATH, so the units cannot be verified: install the \
             package that provides it (Debian/Ubuntu: apt-get install systemd; Fedora/RHEL: \
             dnf install systemd) and run the test again"
        )
    });
    let dir = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    for unit in units {
        let text = std::fs::read_to_string(root.join(unit)).unwrap();
        let name = std::path::Path::new(unit)
            .file_name()
            .unwrap()
            .to_str()
            .unwrap();
        let exe = name.trim_end_matches(".service");
        assert!(
            text.contains(&format!("ExecStart=/usr/local/bin/{exe} ")),
            "{unit}"
        );
        let stand_in = dir.path().join(exe);
        std::fs::write(&stand_in, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&stand_in, std::fs::Permissions::from_mode(0o755)).unwrap();
        let copy = dir.path().join(name);
        std::fs::write(
            &copy,
            text.replace("/usr/local/bin/", &format!("{}/", dir.path().display())),
        )
        .unwrap();
        let out = Command::new(&bin)
            .arg("verify")
            .arg(&copy)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        if !out.status.success() || !stderr.trim().is_empty() {
            failures.push(format!("{unit}: {stderr}"));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");

    let agent = std::fs::read_to_string(root.join(units[0])).unwrap();
    for directive in [
        "DynamicUser=yes",
        "ProtectSystem=strict",
        "NoNewPrivileges=yes",
        "LoadCredential=",
        "CapabilityBoundingSet=\n",
        // The logs section's positions_file (/var/lib/mcp-agent/positions.json by default)
        // must be writable under ProtectSystem=strict.
        "StateDirectory=mcp-agent\n",
    ] {
        assert!(agent.contains(directive), "{directive}");
    }
    // ... and the default positions_file is inside that state directory.
    let logs = mcp_agent::config::AgentConfig::from_yaml("logs:\n  loki_url: http://loki:3100\n")
        .unwrap()
        .logs
        .unwrap();
    assert!(
        logs.positions_file.starts_with("/var/lib/mcp-agent/"),
        "{}",
        logs.positions_file.display()
    );
}
