//! The collectors for operating systems without `/proc` (macOS, Windows, the BSDs), on `sysinfo`.
//!
//! Only what sysinfo reports with the meaning node_exporter's Linux family has is served, under
//! that family's name, so the stack's HighMemory, DiskSpaceLow and load panels work unchanged;
//! the rest (CPU seconds per mode, disk I/O, netstat, ...) is absent rather than faked. On Linux
//! these files are compiled and tested against the `/proc` collectors, but not registered.

use mcp_exporter_core::collector::CollectorInfo;

use super::{Entry, SyncCollector};

pub mod filesystem;
#[cfg(not(windows))]
pub mod loadavg;
pub mod meminfo;
pub mod netdev;
pub mod stat;

macro_rules! entry {
    ($name:literal, $new:expr) => {
        Entry {
            info: CollectorInfo {
                name: $name,
                default_enabled: true,
            },
            new: $new,
        }
    };
}

/// The portable table (the Linux one is in `collector/mod.rs`).
pub const TABLE: &[Entry] = &[
    entry!("filesystem", || Box::new(filesystem::Filesystem::default())),
    #[cfg(not(windows))]
    entry!("loadavg", || Box::new(SyncCollector(loadavg::collect))),
    entry!("meminfo", || Box::new(SyncCollector(meminfo::collect))),
    entry!("netdev", || Box::new(SyncCollector(netdev::collect))),
    entry!("stat", || Box::new(SyncCollector(stat::collect))),
    entry!("textfile", || Box::new(SyncCollector(
        super::textfile::collect
    ))),
    entry!("time", || Box::new(SyncCollector(super::time::collect))),
];
