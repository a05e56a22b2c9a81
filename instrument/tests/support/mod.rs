//! Test support: the suite's Loki-compatible receiver lives in testkit; this module re-exports
//! it with the two helpers these tests use.
#![allow(dead_code, unused_imports, clippy::unwrap_used, clippy::expect_used)]

pub use mcp_testkit::loki::{FakeLoki, Mode, Received};
pub use mcp_testkit::{free_port, wait_until};

/// Resident set size of this process, from /proc/self/status.
pub fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap()
        * 1024
}
