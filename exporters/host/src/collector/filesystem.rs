//! Mounted filesystems from `/proc/1/mounts` (as node_exporter 1.5), sizes by statvfs under
//! `--path.rootfs`: `node_filesystem_{size,free,avail}_bytes`, `files`, `files_free`, `readonly`,
//! `device_error`, labelled `{device,fstype,mountpoint}`.
//!
//! statvfs of a hung network mount blocks in the kernel. Each call runs on the blocking pool with
//! `--collector.filesystem.stat-timeout`; a mount that timed out is reported with
//! `device_error 1` and skipped until its stuck call returns, so threads never pile up.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, OnceLock};

use mcp_exporter_core::MetricSet;
use mcp_exporter_core::collector::{CollectError, CollectFuture, Collector};

use crate::Host;

/// The filesystem collector.
#[derive(Debug)]
pub struct Filesystem;

fn stuck() -> &'static Mutex<HashSet<String>> {
    static STUCK: OnceLock<Mutex<HashSet<String>>> = OnceLock::new();
    STUCK.get_or_init(|| Mutex::new(HashSet::new()))
}

/// A mount from `/proc/<pid>/mounts`: device, mount point, type, read-only.
pub fn parse_mounts(text: &str) -> Vec<(String, String, String, bool)> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_ascii_whitespace().collect();
            if f.len() < 4 {
                return None;
            }
            let ro = f[3].split(',').any(|o| o == "ro");
            Some((unescape(f[0]), unescape(f[1]), f[2].to_owned(), ro))
        })
        .collect()
}

fn unescape(s: &str) -> String {
    s.replace("\\040", " ")
        .replace("\\011", "\t")
        .replace("\\012", "\n")
        .replace("\\134", "\\")
}

/// What statvfs(3) says of a mount, in the units node_exporter multiplies.
#[derive(Debug, Clone, Copy)]
struct Stat {
    block_size: u64,
    blocks: u64,
    blocks_free: u64,
    blocks_available: u64,
    files: u64,
    files_free: u64,
}

#[cfg(unix)]
// The field types differ between OSes (u32 on some): `from` fits them all.
#[allow(clippy::useless_conversion)]
fn statvfs(path: &std::path::Path) -> nix::Result<Stat> {
    let st = nix::sys::statvfs::statvfs(path)?;
    Ok(Stat {
        block_size: u64::from(st.block_size()),
        blocks: u64::from(st.blocks()),
        blocks_free: u64::from(st.blocks_free()),
        blocks_available: u64::from(st.blocks_available()),
        files: u64::from(st.files()),
        files_free: u64::from(st.files_free()),
    })
}

/// This table is Linux's; elsewhere it is compiled (and never registered) without statvfs.
#[cfg(not(unix))]
fn statvfs(_path: &std::path::Path) -> std::io::Result<Stat> {
    Err(std::io::Error::from(std::io::ErrorKind::Unsupported))
}

impl Collector<Host> for Filesystem {
    fn collect<'a>(&'a self, host: &'a Host, out: &'a mut MetricSet) -> CollectFuture<'a> {
        Box::pin(async move {
            let text = crate::read_text(host.proc("1/mounts"))
                .or_else(|_| crate::read_text(host.proc("self/mounts")))?;
            let mounts = parse_mounts(&text);
            if mounts.is_empty() {
                return Err(CollectError::Parse("no mounts".into()));
            }
            let mut seen = HashSet::new();
            for (device, mount_point, fs_type, ro) in mounts {
                if host.mount_exclude.is_match(&mount_point)
                    || host.fs_type_exclude.is_match(&fs_type)
                {
                    continue;
                }
                if !seen.insert(mount_point.clone()) {
                    continue;
                }
                let labels = [
                    ("device", device.as_str()),
                    ("fstype", fs_type.as_str()),
                    ("mountpoint", mount_point.as_str()),
                ];
                let key = mount_point.clone();
                let already_stuck = stuck().lock().map(|s| s.contains(&key)).unwrap_or(false);
                let stat = if already_stuck {
                    None
                } else {
                    let path = host.rooted(&mount_point);
                    let key2 = key.clone();
                    let stuck_set: &'static Mutex<HashSet<String>> = stuck();
                    let marker = Arc::new(());
                    let task = tokio::task::spawn_blocking(move || {
                        let r = statvfs(&path);
                        // A call that outlived its timeout clears its mark when it returns.
                        if let Ok(mut s) = stuck_set.lock() {
                            s.remove(&key2);
                        }
                        drop(marker);
                        r
                    });
                    match tokio::time::timeout(host.stat_timeout, task).await {
                        Ok(Ok(Ok(st))) => Some(st),
                        Ok(_) => None,
                        Err(_) => {
                            if let Ok(mut s) = stuck().lock() {
                                s.insert(key);
                            }
                            tracing::warn!(mountpoint = %mount_point, "Mount point timed out, it is being labeled as stale.");
                            None
                        }
                    }
                };
                let Some(st) = stat else {
                    out.gauge(
                        "node_filesystem_device_error",
                        "Whether an error occurred while getting statistics for the given device.",
                        &labels,
                        1.0,
                    );
                    out.gauge(
                        "node_filesystem_readonly",
                        "Filesystem read-only status.",
                        &labels,
                        if ro { 1.0 } else { 0.0 },
                    );
                    continue;
                };
                let bsize = st.block_size as f64;
                out.gauge(
                    "node_filesystem_size_bytes",
                    "Filesystem size in bytes.",
                    &labels,
                    st.blocks as f64 * bsize,
                );
                out.gauge(
                    "node_filesystem_free_bytes",
                    "Filesystem free space in bytes.",
                    &labels,
                    st.blocks_free as f64 * bsize,
                );
                out.gauge(
                    "node_filesystem_avail_bytes",
                    "Filesystem space available to non-root users in bytes.",
                    &labels,
                    st.blocks_available as f64 * bsize,
                );
                out.gauge(
                    "node_filesystem_files",
                    "Filesystem total file nodes.",
                    &labels,
                    st.files as f64,
                );
                out.gauge(
                    "node_filesystem_files_free",
                    "Filesystem total free file nodes.",
                    &labels,
                    st.files_free as f64,
                );
                out.gauge(
                    "node_filesystem_readonly",
                    "Filesystem read-only status.",
                    &labels,
                    if ro { 1.0 } else { 0.0 },
                );
                out.gauge(
                    "node_filesystem_device_error",
                    "Whether an error occurred while getting statistics for the given device.",
                    &labels,
                    0.0,
                );
            }
            Ok(())
        })
    }
}
