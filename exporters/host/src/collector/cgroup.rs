//! Per-container CPU, memory and I/O from cgroup v2 under `--path.sysfs` (`fs/cgroup`, or
//! `fs/cgroup/unified` on a hybrid host), with cAdvisor's names so "CPU and memory per CDB
//! service" works on a Docker host without running cAdvisor.
//!
//! Containers are the cgroups named after a Docker id (`system.slice/docker-<id>.scope` with the
//! systemd driver, `docker/<id>` with cgroupfs). Labels: `id` (the cgroup path, as cAdvisor),
//! `name` (the Docker name from `<rootfs>/var/lib/docker/containers/<id>/config.v2.json`, else the
//! short id) and `image`. On a cgroup v1-only host (no unified tree) the same families come from
//! the `cpuacct`, `memory` and `blkio` hierarchies; a host with neither gives no data, not an error.

use std::path::{Path, PathBuf};

use mcp_exporter_core::MetricSet;
use mcp_exporter_core::collector::CollectError;

use crate::Host;

fn is_docker_id(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The Docker id a cgroup directory name stands for, if any.
pub fn container_id(dir_name: &str) -> Option<&str> {
    let id = dir_name
        .strip_prefix("docker-")
        .and_then(|s| s.strip_suffix(".scope"))
        .unwrap_or(dir_name);
    is_docker_id(id).then_some(id)
}

fn unified_root(host: &Host) -> Option<PathBuf> {
    [host.sys("fs/cgroup"), host.sys("fs/cgroup/unified")]
        .into_iter()
        .find(|p| p.join("cgroup.controllers").is_file())
}

/// Where Docker puts containers: `docker/<id>` (cgroupfs driver), `*.slice/docker-<id>.scope`
/// (systemd driver, also under kubepods slices) and `user@<uid>.service/…` (rootless). Other
/// branches (`init.scope`, services' own cgroups) are not walked on every scrape.
fn may_hold_containers(dir: &str) -> bool {
    dir == "docker"
        || dir.ends_with(".slice")
        || (dir.starts_with("user@") && dir.ends_with(".service"))
}

/// Finds container cgroups up to four levels deep: `(cgroup path relative to the root, id)`.
fn find(root: &Path, rel: &Path, depth: usize, out: &mut Vec<(PathBuf, String)>) {
    let Ok(entries) = std::fs::read_dir(root.join(rel)) else {
        return;
    };
    for e in entries.filter_map(Result::ok) {
        if !e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            continue;
        }
        let name = e.file_name().to_string_lossy().into_owned();
        let child = rel.join(&name);
        if let Some(id) = container_id(&name) {
            out.push((child, id.to_owned()));
        } else if depth < 4 && may_hold_containers(&name) {
            find(root, &child, depth + 1, out);
        }
    }
}

fn kv(text: &str, key: &str) -> Option<f64> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok())?
    })
}

/// `(name, image)` from Docker's config.v2.json, without a JSON dependency: the two string fields
/// sit at known keys (`"Name":"/cdb_core"`, `"Image":"..."` inside `"Config"`).
pub fn docker_meta(json: &str) -> (Option<String>, Option<String>) {
    let field = |key: &str, from: &str| -> Option<String> {
        let start = from.find(&format!("\"{key}\":\""))? + key.len() + 4;
        let rest = &from[start..];
        Some(rest[..rest.find('"')?].to_owned())
    };
    let name = field("Name", json).map(|n| n.trim_start_matches('/').to_owned());
    let image = json
        .find("\"Config\":")
        .and_then(|i| field("Image", &json[i..]));
    (name, image)
}

fn device_name(host: &Host, majmin: &str) -> String {
    crate::read_text(host.sys(&format!("dev/block/{majmin}/uevent")))
        .ok()
        .and_then(|u| {
            u.lines()
                .find_map(|l| l.strip_prefix("DEVNAME=").map(|d| format!("/dev/{d}")))
        })
        .unwrap_or_else(|| majmin.to_owned())
}

/// What one container's cgroup says, whichever cgroup version it came from.
#[derive(Debug, Default, PartialEq)]
pub struct Usage {
    /// CPU seconds, all modes.
    pub cpu_total: Option<f64>,
    /// CPU seconds in user mode.
    pub cpu_user: Option<f64>,
    /// CPU seconds in kernel mode.
    pub cpu_system: Option<f64>,
    /// Memory charged to the cgroup, bytes.
    pub memory_usage: Option<f64>,
    /// Inactive file pages (usage minus these is cAdvisor's working set).
    pub inactive_file: f64,
    /// Anonymous memory, bytes.
    pub rss: Option<f64>,
    /// Page cache, bytes.
    pub cache: Option<f64>,
    /// Memory limit in bytes; 0 = no limit.
    pub memory_limit: Option<f64>,
    /// `(major:minor, bytes read, bytes written)` per block device.
    pub io: Vec<(String, Option<f64>, Option<f64>)>,
}

/// A v1 limit at or above this is "no limit" (the kernel prints PAGE_COUNTER_MAX in bytes).
const V1_UNLIMITED: f64 = (1u64 << 62) as f64;

/// Reads a cgroup v2 directory (`cpu.stat`, `memory.current`, `memory.stat`, `memory.max`,
/// `io.stat`); missing files leave their fields empty.
pub fn read_v2(dir: &Path) -> Usage {
    let read = |f: &str| crate::read_text(dir.join(f)).ok();
    let mut u = Usage::default();
    if let Some(cpu) = read("cpu.stat") {
        u.cpu_total = kv(&cpu, "usage_usec").map(|v| v / 1e6);
        u.cpu_user = kv(&cpu, "user_usec").map(|v| v / 1e6);
        u.cpu_system = kv(&cpu, "system_usec").map(|v| v / 1e6);
    }
    u.memory_usage = read("memory.current").and_then(|s| s.trim().parse().ok());
    let stat = read("memory.stat").unwrap_or_default();
    u.inactive_file = kv(&stat, "inactive_file").unwrap_or(0.0);
    u.rss = kv(&stat, "anon");
    u.cache = kv(&stat, "file");
    // "max" (no limit) is reported as 0, which dashboards already filter with `> 0`.
    u.memory_limit = read("memory.max").map(|m| m.trim().parse().unwrap_or(0.0));
    if let Some(io) = read("io.stat") {
        for line in io.lines() {
            let mut parts = line.split_ascii_whitespace();
            let Some(dev) = parts.next() else { continue };
            let (mut r, mut w) = (None, None);
            for p in parts {
                match p.split_once('=') {
                    Some(("rbytes", v)) => r = v.parse().ok(),
                    Some(("wbytes", v)) => w = v.parse().ok(),
                    _ => {}
                }
            }
            u.io.push((dev.to_owned(), r, w));
        }
    }
    u
}

/// The v1 hierarchies a container's files live in.
#[derive(Debug, Clone)]
pub struct V1Roots {
    /// `cpuacct` (or the joint `cpu,cpuacct`) hierarchy.
    pub cpuacct: PathBuf,
    /// `memory` hierarchy (also where containers are found).
    pub memory: PathBuf,
    /// `blkio` hierarchy.
    pub blkio: PathBuf,
}

fn v1_roots(host: &Host) -> Option<V1Roots> {
    let base = host.sys("fs/cgroup");
    let memory = base.join("memory");
    if !memory.join("memory.usage_in_bytes").is_file() {
        return None;
    }
    let cpuacct = ["cpuacct", "cpu,cpuacct", "cpuacct,cpu"]
        .iter()
        .map(|d| base.join(d))
        .find(|p| p.join("cpuacct.usage").is_file())
        .unwrap_or_else(|| base.join("cpuacct"));
    Some(V1Roots {
        cpuacct,
        memory,
        blkio: base.join("blkio"),
    })
}

/// Reads a container's cgroup v1 files at `rel` in each hierarchy (`cpuacct.usage` in ns,
/// `cpuacct.stat` in USER_HZ ticks, `memory.usage_in_bytes`, `memory.stat`'s `total_*`,
/// `memory.limit_in_bytes`, `blkio.throttle.io_service_bytes`).
pub fn read_v1(roots: &V1Roots, rel: &Path, user_hz: f64) -> Usage {
    let read = |root: &Path, f: &str| crate::read_text(root.join(rel).join(f)).ok();
    let mut u = Usage {
        cpu_total: read(&roots.cpuacct, "cpuacct.usage")
            .and_then(|s| s.trim().parse::<f64>().ok())
            .map(|ns| ns / 1e9),
        ..Usage::default()
    };
    if let Some(stat) = read(&roots.cpuacct, "cpuacct.stat") {
        u.cpu_user = kv(&stat, "user").map(|t| t / user_hz);
        u.cpu_system = kv(&stat, "system").map(|t| t / user_hz);
    }
    u.memory_usage =
        read(&roots.memory, "memory.usage_in_bytes").and_then(|s| s.trim().parse().ok());
    let stat = read(&roots.memory, "memory.stat").unwrap_or_default();
    u.inactive_file = kv(&stat, "total_inactive_file").unwrap_or(0.0);
    u.rss = kv(&stat, "total_rss");
    u.cache = kv(&stat, "total_cache");
    u.memory_limit = read(&roots.memory, "memory.limit_in_bytes")
        .and_then(|s| s.trim().parse::<f64>().ok())
        .map(|v| if v >= V1_UNLIMITED { 0.0 } else { v });
    if let Some(io) = read(&roots.blkio, "blkio.throttle.io_service_bytes") {
        let mut devs: Vec<(String, Option<f64>, Option<f64>)> = Vec::new();
        for line in io.lines() {
            let f: Vec<&str> = line.split_ascii_whitespace().collect();
            let [dev, op, v] = f[..] else { continue };
            let Ok(v) = v.parse::<f64>() else { continue };
            let i = match devs.iter().position(|d| d.0 == dev) {
                Some(i) => i,
                None => {
                    devs.push((dev.to_owned(), None, None));
                    devs.len() - 1
                }
            };
            match op {
                "Read" => devs[i].1 = Some(v),
                "Write" => devs[i].2 = Some(v),
                _ => {}
            }
        }
        u.io = devs;
    }
    u
}

/// Writes the container families.
pub fn collect(host: &Host, out: &mut MetricSet) -> Result<(), CollectError> {
    let mut containers: Vec<(PathBuf, String, Usage)> = Vec::new();
    // v1 first: on a hybrid host the controllers live in the v1 hierarchies and the unified tree
    // (`fs/cgroup/unified`) only tracks processes.
    if let Some(roots) = v1_roots(host) {
        let mut found = Vec::new();
        find(&roots.memory, Path::new(""), 0, &mut found);
        for (rel, id) in found {
            // USER_HZ is 100 on every Linux architecture Docker runs on.
            let usage = read_v1(&roots, &rel, 100.0);
            containers.push((rel, id, usage));
        }
    } else if let Some(root) = unified_root(host) {
        let mut found = Vec::new();
        find(&root, Path::new(""), 0, &mut found);
        for (rel, id) in found {
            let usage = read_v2(&root.join(&rel));
            containers.push((rel, id, usage));
        }
    }
    containers.sort_by(|a, b| a.0.cmp(&b.0));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    for (rel, id, u) in containers {
        let cgroup_id = format!("/{}", rel.display());
        let config = crate::read_text(
            host.rooted(&format!("/var/lib/docker/containers/{id}/config.v2.json")),
        )
        .ok();
        let (name, image) = config.as_deref().map(docker_meta).unwrap_or((None, None));
        let name = name.unwrap_or_else(|| id[..12].to_owned());
        let image = image.unwrap_or_default();
        write(host, &cgroup_id, &name, &image, now, &u, out);
    }
    Ok(())
}

/// Writes one container's families with cAdvisor's names and labels.
fn write(
    host: &Host,
    cgroup_id: &str,
    name: &str,
    image: &str,
    now: f64,
    u: &Usage,
    out: &mut MetricSet,
) {
    let labels = [("id", cgroup_id), ("image", image), ("name", name)];
    out.gauge(
        "container_last_seen",
        "Last time a container was seen by the exporter",
        &labels,
        now,
    );
    if let Some(v) = u.cpu_total {
        out.counter(
            "container_cpu_usage_seconds_total",
            "Cumulative cpu time consumed in seconds.",
            &[
                ("cpu", "total"),
                ("id", cgroup_id),
                ("image", image),
                ("name", name),
            ],
            v,
        );
    }
    if let Some(v) = u.cpu_user {
        out.counter(
            "container_cpu_user_seconds_total",
            "Cumulative user cpu time consumed in seconds.",
            &labels,
            v,
        );
    }
    if let Some(v) = u.cpu_system {
        out.counter(
            "container_cpu_system_seconds_total",
            "Cumulative system cpu time consumed in seconds.",
            &labels,
            v,
        );
    }
    if let Some(usage) = u.memory_usage {
        out.gauge(
            "container_memory_usage_bytes",
            "Current memory usage in bytes, including all memory regardless of when it was accessed",
            &labels,
            usage,
        );
        out.gauge(
            "container_memory_working_set_bytes",
            "Current working set in bytes.",
            &labels,
            (usage - u.inactive_file).max(0.0),
        );
    }
    if let Some(v) = u.rss {
        out.gauge("container_memory_rss", "Size of RSS in bytes.", &labels, v);
    }
    if let Some(v) = u.cache {
        out.gauge(
            "container_memory_cache",
            "Number of bytes of page cache memory.",
            &labels,
            v,
        );
    }
    if let Some(v) = u.memory_limit {
        out.gauge(
            "container_spec_memory_limit_bytes",
            "Memory limit for the container.",
            &labels,
            v,
        );
    }
    for (dev, r, w) in &u.io {
        let device = device_name(host, dev);
        let l = [
            ("device", device.as_str()),
            ("id", cgroup_id),
            ("image", image),
            ("name", name),
        ];
        if let Some(v) = r {
            out.counter(
                "container_fs_reads_bytes_total",
                "Cumulative count of bytes read",
                &l,
                *v,
            );
        }
        if let Some(v) = w {
            out.counter(
                "container_fs_writes_bytes_total",
                "Cumulative count of bytes written",
                &l,
                *v,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_ids_and_meta() {
        let id = "a".repeat(64);
        assert_eq!(
            container_id(&format!("docker-{id}.scope")),
            Some(id.as_str())
        );
        assert_eq!(container_id(&id), Some(id.as_str()));
        assert_eq!(container_id("user.slice"), None);
        let json = r#"{"ID":"x","Config":{"Hostname":"h","Image":"cdb/core:1.2"},"Name":"/cdb_core","Image":"sha256:abc"}"#;
        assert_eq!(
            docker_meta(json),
            (Some("cdb_core".into()), Some("cdb/core:1.2".into()))
        );
        assert_eq!(docker_meta("garbage"), (None, None));
    }
}
