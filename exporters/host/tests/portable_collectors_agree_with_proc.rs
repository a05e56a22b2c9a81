//! The collectors other operating systems get (sysinfo, `collector/portable`) run here on Linux
//! beside the `/proc` ones: every family they serve exists in the Linux output with the same type
//! and labels, and the values mean the same (MemTotal, swap, boot time and the root filesystem's
//! size exactly; counters and load close).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use mcp_exporter_core::MetricSet;
use mcp_host_exporter::Config;
use mcp_host_exporter::collector::{Entry, LINUX, portable};
use mcp_testkit::{metric_diff, promtool_lint, sample};

async fn run(table: &[Entry], names: &[&str]) -> String {
    let config = Config::default().validate().unwrap();
    let host = config.host();
    let mut out = MetricSet::new();
    for name in names {
        let entry = table.iter().find(|e| e.info.name == *name).unwrap();
        let collector = (entry.new)();
        collector.collect(host, &mut out).await.unwrap();
    }
    out.encode().0
}

fn line<'a>(text: &'a str, family: &str, mountpoint: &str) -> Option<&'a str> {
    text.lines()
        .find(|l| l.starts_with(family) && l.contains(&format!("mountpoint=\"{mountpoint}\"")))
}

#[tokio::test]
async fn portable_collectors_agree_with_the_proc_collectors() {
    let names = ["filesystem", "loadavg", "meminfo", "netdev", "stat"];
    let portable_text = run(portable::TABLE, &names).await;
    let linux_text = run(LINUX, &names).await;

    // Same families, types and label keys as the Linux collectors (a subset of them).
    let dir = tempfile::tempdir().unwrap();
    let reference = dir.path().join("portable.txt");
    std::fs::write(&reference, &portable_text).unwrap();
    let (ok, report) = metric_diff(&reference, &linux_text, &["--prefix", "node_"]);
    assert!(ok, "portable families not served alike on Linux:\n{report}");
    // node_exporter's own meminfo names are camelCase; promtool says so, nothing else.
    let lints: Vec<String> = promtool_lint(&portable_text)
        .into_iter()
        .filter(|l| !l.contains("camelCase"))
        .collect();
    assert!(lints.is_empty(), "promtool: {lints:?}");

    for exact in [
        "node_memory_MemTotal_bytes",
        "node_memory_SwapTotal_bytes",
        "node_boot_time_seconds",
    ] {
        assert!(sample(&portable_text, exact).is_some(), "{exact}");
        assert_eq!(
            sample(&portable_text, exact),
            sample(&linux_text, exact),
            "{exact}"
        );
    }
    let avail = |t: &str| sample(t, "node_memory_MemAvailable_bytes").unwrap();
    let total = sample(&linux_text, "node_memory_MemTotal_bytes").unwrap();
    assert!((avail(&portable_text) - avail(&linux_text)).abs() < total * 0.05);

    // The root filesystem: same device, type and size.
    let size = "node_filesystem_size_bytes{";
    let ours = line(&portable_text, size, "/").expect("portable: no / mount");
    assert_eq!(Some(ours), line(&linux_text, size, "/"), "root size");

    // Counters are read a moment apart: the later read is not smaller, and close.
    let lo = "node_network_receive_bytes_total{device=\"lo\"}";
    let (p, l) = (
        sample(&portable_text, lo).unwrap(),
        sample(&linux_text, lo).unwrap(),
    );
    assert!(
        l >= p && l - p < 64.0 * 1024.0 * 1024.0,
        "lo rx: {p} then {l}"
    );
    let (p, l) = (
        sample(&portable_text, "node_load1").unwrap(),
        sample(&linux_text, "node_load1").unwrap(),
    );
    assert!((p - l).abs() < 1.0, "load1: {p} vs {l}");
}
