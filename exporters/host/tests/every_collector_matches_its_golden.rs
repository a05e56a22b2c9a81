//! Every collector of the Linux table over the committed fixture trees (`tests/fixtures/proc`,
//! `sys`, `root`, `textfile`), compared byte for byte with `tests/golden/<collector>.prom`, and
//! each golden linted by `promtool check metrics`. No backend, no machine state: a new collector
//! (one file and one row in `collector::LINUX`) is covered here without touching this file —
//! `MCP_UPDATE_GOLDEN=1` writes its golden, and the fixtures it reads go under `tests/fixtures`.
//!
//! The fixtures are captures of a Debian 12 VM (`/proc` and `/sys/class/net/{eth0,lo}` copied
//! with `cat`), plus a hand-written `os-release`, textfile and cgroup v2 container (`sys/fs/cgroup`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use mcp_exporter_core::MetricSet;
use mcp_host_exporter::Config;
use mcp_host_exporter::collector::LINUX;
use mcp_testkit::golden;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

/// Collectors whose values come from the running machine, not from the fixtures: their golden
/// pins names, HELP, TYPE and labels, with the values masked.
const MACHINE_VALUES: &[(&str, &str)] = &[
    ("time", "the clock"),
    ("timex", "adjtimex(2) of this kernel"),
    ("textfile", "the mtime of the checked-out file"),
    (
        "filesystem",
        "statvfs(2) of the filesystem the repository is on",
    ),
];

/// promtool complaints node_exporter 1.5 has always had; our names must match its byte for byte.
const UPSTREAM_LINTS: &[(&str, &str)] = &[
    (
        "camelCase",
        "meminfo/netstat/vmstat names keep the kernel's field names (node_memory_MemTotal_bytes)",
    ),
    (
        "counter metrics should have \"_total\" suffix",
        "node_exporter 1.5's counters without _total (node_cpu_guest_seconds, node_netstat_*)",
    ),
    (
        "non-histogram and non-summary metrics should not have \"_count\" suffix",
        "node_exporter's names (node_sockstat_*_count)",
    ),
    (
        "use base unit",
        "node_exporter's units (node_network_speed_bytes is bytes/s from Mbit/s; kept as upstream)",
    ),
];

async fn collect(name: &str) -> Result<String, String> {
    let config = Config {
        path_procfs: format!("{FIXTURES}/proc").into(),
        path_sysfs: format!("{FIXTURES}/sys").into(),
        path_rootfs: format!("{FIXTURES}/root").into(),
        textfile_directory: Some(format!("{FIXTURES}/textfile").into()),
        ..Config::default()
    };
    let config = config.validate().map_err(|e| e.to_string())?;
    let entry = LINUX.iter().find(|e| e.info.name == name).unwrap();
    let mut out = MetricSet::new();
    (entry.new)()
        .collect(config.host(), &mut out)
        .await
        .map_err(|e| e.to_string())?;
    let text = out.encode().0;
    Ok(if MACHINE_VALUES.iter().any(|(n, _)| *n == name) {
        golden::mask_values(&text)
    } else if name == "cgroup" {
        // container_last_seen is the time of the scrape; every other value is the fixture's.
        text.split_inclusive('\n')
            .map(|l| {
                if l.starts_with("container_last_seen{") {
                    golden::mask_values(l)
                } else {
                    l.to_owned()
                }
            })
            .collect()
    } else {
        text
    })
}

#[tokio::test]
async fn every_collector_matches_its_golden() {
    let mut failures = Vec::new();
    for entry in LINUX {
        let name = entry.info.name;
        let text = match collect(name).await {
            Ok(text) => text,
            Err(error) => {
                failures.push(format!("{name}: failed on the fixtures: {error}"));
                continue;
            }
        };
        if let Err(report) = golden::compare(&golden::path(env!("CARGO_MANIFEST_DIR"), name), &text)
        {
            failures.push(format!("{name}: {report}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn every_golden_passes_promtool() {
    for entry in LINUX {
        let path = golden::path(env!("CARGO_MANIFEST_DIR"), entry.info.name);
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
            .replace(" X\n", " 0\n");
        golden::assert_promtool_clean(&text, UPSTREAM_LINTS);
    }
}
