//! THE collector table: name, enabled by default, constructor. The flags
//! `--[no-]collector.<name>` and the `collector` label come from it. Adding a collector is one
//! file (`collector/<name>.rs`, with its `pub mod` line here) and one row in [`LINUX`] (or in
//! `portable::TABLE` for other OSes).

use mcp_exporter_core::MetricSet;
use mcp_exporter_core::collector::{CollectError, CollectFuture, Collector, CollectorInfo};

use crate::Host;

pub mod arp;
pub mod cgroup;
pub mod conntrack;
pub mod cpu;
pub mod diskstats;
pub mod entropy;
pub mod filefd;
pub mod filesystem;
pub mod loadavg;
pub mod meminfo;
pub mod netclass;
pub mod netdev;
pub mod netstat;
pub mod os;
pub mod pressure;
pub mod selinux;
pub mod sockstat;
pub mod softnet;
pub mod stat;
pub mod textfile;
pub mod time;
pub mod timex;
pub mod udp_queues;
pub mod uname;
pub mod vmstat;

/// A collector that only reads small files: run inline, it never waits on the network.
pub type SyncFn = fn(&Host, &mut MetricSet) -> Result<(), CollectError>;

pub(crate) struct SyncCollector(pub(crate) SyncFn);

impl Collector<Host> for SyncCollector {
    fn collect<'a>(&'a self, host: &'a Host, out: &'a mut MetricSet) -> CollectFuture<'a> {
        let result = (self.0)(host, out);
        Box::pin(async move { result })
    }
}

/// One row of the table: core's one table type over this exporter's backend handle.
pub type Entry = mcp_exporter_core::CollectorEntry<Host>;

macro_rules! sync_entry {
    ($name:literal, $on:expr, $f:path) => {
        Entry {
            info: CollectorInfo {
                name: $name,
                default_enabled: $on,
            },
            new: || Box::new($crate::collector::SyncCollector($f)),
        }
    };
}

// After `sync_entry!`, which its table uses too.
pub mod portable;

/// The collectors of this OS: `/proc` and `/sys` on Linux, sysinfo elsewhere.
#[cfg(target_os = "linux")]
pub const TABLE: &[Entry] = LINUX;
/// The collectors of this OS: `/proc` and `/sys` on Linux, sysinfo elsewhere.
#[cfg(not(target_os = "linux"))]
pub const TABLE: &[Entry] = portable::TABLE;

/// Every Linux collector, as node_exporter names them. All are on by default as in node_exporter 1.5.
pub const LINUX: &[Entry] = &[
    sync_entry!("arp", true, arp::collect),
    sync_entry!("cgroup", true, cgroup::collect),
    sync_entry!("conntrack", true, conntrack::collect),
    sync_entry!("cpu", true, cpu::collect),
    sync_entry!("diskstats", true, diskstats::collect),
    sync_entry!("entropy", true, entropy::collect),
    sync_entry!("filefd", true, filefd::collect),
    Entry {
        info: CollectorInfo {
            name: "filesystem",
            default_enabled: true,
        },
        new: || Box::new(filesystem::Filesystem),
    },
    sync_entry!("loadavg", true, loadavg::collect),
    sync_entry!("meminfo", true, meminfo::collect),
    sync_entry!("netclass", true, netclass::collect),
    sync_entry!("netdev", true, netdev::collect),
    sync_entry!("netstat", true, netstat::collect),
    sync_entry!("os", true, os::collect),
    sync_entry!("pressure", true, pressure::collect),
    sync_entry!("selinux", true, selinux::collect),
    sync_entry!("sockstat", true, sockstat::collect),
    sync_entry!("softnet", true, softnet::collect),
    sync_entry!("stat", true, stat::collect),
    sync_entry!("textfile", true, textfile::collect),
    sync_entry!("time", true, time::collect),
    sync_entry!("timex", true, timex::collect),
    sync_entry!("udp_queues", true, udp_queues::collect),
    sync_entry!("uname", true, uname::collect),
    sync_entry!("vmstat", true, vmstat::collect),
];

/// The table's names and defaults, for the flags.
pub fn infos() -> Vec<CollectorInfo> {
    mcp_exporter_core::collector::infos(TABLE)
}

/// A parse failure as a collector error.
pub fn bad(what: &str) -> CollectError {
    CollectError::Parse(what.to_owned())
}
