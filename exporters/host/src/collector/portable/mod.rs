//! The collectors for operating systems without `/proc` (macOS, Windows, the BSDs), on `sysinfo`.
//!
//! Only what sysinfo reports with the meaning node_exporter's Linux family has is served, under
//! that family's name, so the stack's HighMemory, DiskSpaceLow and load panels work unchanged;
//! the rest (CPU seconds per mode, disk I/O, netstat, ...) is absent rather than faked. On Linux
//! these files are compiled and tested against the `/proc` collectors, but not registered.

use mcp_exporter_core::collector::CollectorInfo;

use super::Entry;

pub mod filesystem;
#[cfg(not(windows))]
pub mod loadavg;
pub mod meminfo;
pub mod netdev;
pub mod stat;

/// The portable table (the Linux one is in `collector/mod.rs`).
pub const TABLE: &[Entry] = &[
    Entry {
        info: CollectorInfo {
            name: "filesystem",
            default_enabled: true,
        },
        new: || Box::new(filesystem::Filesystem::default()),
    },
    #[cfg(not(windows))]
    sync_entry!("loadavg", true, loadavg::collect),
    sync_entry!("meminfo", true, meminfo::collect),
    sync_entry!("netdev", true, netdev::collect),
    sync_entry!("stat", true, stat::collect),
    sync_entry!("textfile", true, super::textfile::collect),
    sync_entry!("time", true, super::time::collect),
];
