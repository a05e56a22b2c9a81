//! Mounted filesystems from sysinfo, under node_exporter's names: `node_filesystem_size_bytes`,
//! `_avail_bytes`, `_readonly` and `_device_error`, labelled `{device,fstype,mountpoint}`, with
//! the mount-point and fs-type excludes applied. Free bytes and inode counts are absent (sysinfo
//! does not report them).
//!
//! sysinfo stats every disk in one call, which a hung network mount can block: the call runs on
//! the blocking pool under `--collector.filesystem.stat-timeout`; while a timed-out call is still
//! stuck the collector fails fast (`success 0`) instead of starting another.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use mcp_exporter_core::MetricSet;
use mcp_exporter_core::collector::{CollectError, CollectFuture, Collector};

use crate::Host;

/// One mount as reported.
#[derive(Debug, Clone, PartialEq)]
pub struct Mount {
    /// Device or volume name.
    pub device: String,
    /// Filesystem type.
    pub fstype: String,
    /// Where it is mounted.
    pub mountpoint: String,
    /// Size in bytes.
    pub size: u64,
    /// Bytes available to unprivileged users.
    pub avail: u64,
    /// Mounted read-only.
    pub readonly: bool,
}

/// The portable filesystem collector.
#[derive(Debug, Default)]
pub struct Filesystem {
    busy: Arc<AtomicBool>,
}

/// Every mount sysinfo lists (blocking: stats each one).
pub fn mounts() -> Vec<Mount> {
    let disks = sysinfo::Disks::new_with_refreshed_list();
    disks
        .list()
        .iter()
        .map(|d| Mount {
            device: d.name().to_string_lossy().into_owned(),
            fstype: d.file_system().to_string_lossy().into_owned(),
            mountpoint: d.mount_point().to_string_lossy().into_owned(),
            size: d.total_space(),
            avail: d.available_space(),
            readonly: d.is_read_only(),
        })
        .collect()
}

/// Writes the families for `mounts`, skipping excluded ones (pure).
pub fn write(host: &Host, mounts: &[Mount], out: &mut MetricSet) {
    for m in mounts {
        if host.mount_exclude.is_match(&m.mountpoint) || host.fs_type_exclude.is_match(&m.fstype) {
            continue;
        }
        let labels = [
            ("device", m.device.as_str()),
            ("fstype", m.fstype.as_str()),
            ("mountpoint", m.mountpoint.as_str()),
        ];
        out.gauge(
            "node_filesystem_size_bytes",
            "Filesystem size in bytes.",
            &labels,
            m.size as f64,
        );
        out.gauge(
            "node_filesystem_avail_bytes",
            "Filesystem space available to non-root users in bytes.",
            &labels,
            m.avail as f64,
        );
        out.gauge(
            "node_filesystem_readonly",
            "Filesystem read-only status.",
            &labels,
            if m.readonly { 1.0 } else { 0.0 },
        );
        out.gauge(
            "node_filesystem_device_error",
            "Whether an error occurred while getting statistics for the given device.",
            &labels,
            0.0,
        );
    }
}

impl Collector<Host> for Filesystem {
    fn collect<'a>(&'a self, host: &'a Host, out: &'a mut MetricSet) -> CollectFuture<'a> {
        Box::pin(async move {
            if self.busy.swap(true, Ordering::AcqRel) {
                return Err(CollectError::Backend(
                    "a previous filesystem stat is still stuck".into(),
                ));
            }
            let busy = Arc::clone(&self.busy);
            let task = tokio::task::spawn_blocking(move || {
                let m = mounts();
                busy.store(false, Ordering::Release);
                m
            });
            match tokio::time::timeout(host.stat_timeout, task).await {
                Ok(Ok(list)) => {
                    write(host, &list, out);
                    Ok(())
                }
                Ok(Err(e)) => {
                    self.busy.store(false, Ordering::Release);
                    Err(CollectError::Backend(format!("filesystem stat task: {e}")))
                }
                Err(_) => Err(CollectError::Timeout),
            }
        })
    }
}
