//! Per-container CPU, memory and I/O from cgroup v2 under `--path.sysfs` (`fs/cgroup`, or
//! `fs/cgroup/unified` on a hybrid host), with cAdvisor's names so "CPU and memory per CDB
//! service" works on a Docker host without running cAdvisor.
//!
//! Containers are the cgroups named after a Docker id (`system.slice/docker-<id>.scope` with the
//! systemd driver, `docker/<id>` with cgroupfs). Labels: `id` (the cgroup path, as cAdvisor),
//! `name` (the Docker name from `<rootfs>/var/lib/docker/containers/<id>/config.v2.json`, else the
//! short id) and `image`. cgroup v1-only hosts have no unified tree: no data, not an error.

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
        } else if depth < 4 {
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
    std::fs::read_to_string(host.sys(&format!("dev/block/{majmin}/uevent")))
        .ok()
        .and_then(|u| {
            u.lines()
                .find_map(|l| l.strip_prefix("DEVNAME=").map(|d| format!("/dev/{d}")))
        })
        .unwrap_or_else(|| majmin.to_owned())
}

/// Writes the container families.
pub fn collect(host: &Host, out: &mut MetricSet) -> Result<(), CollectError> {
    let Some(root) = unified_root(host) else {
        return Ok(());
    };
    let mut found = Vec::new();
    find(&root, Path::new(""), 0, &mut found);
    found.sort();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    for (rel, id) in found {
        let dir = root.join(&rel);
        let read = |f: &str| std::fs::read_to_string(dir.join(f)).ok();
        let cgroup_id = format!("/{}", rel.display());
        let config = std::fs::read_to_string(
            host.rooted(&format!("/var/lib/docker/containers/{id}/config.v2.json")),
        )
        .ok();
        let (name, image) = config.as_deref().map(docker_meta).unwrap_or((None, None));
        let name = name.unwrap_or_else(|| id[..12].to_owned());
        let image = image.unwrap_or_default();
        let labels = [
            ("id", cgroup_id.as_str()),
            ("image", image.as_str()),
            ("name", name.as_str()),
        ];
        out.gauge(
            "container_last_seen",
            "Last time a container was seen by the exporter",
            &labels,
            now,
        );
        if let Some(cpu) = read("cpu.stat") {
            if let Some(v) = kv(&cpu, "usage_usec") {
                out.counter(
                    "container_cpu_usage_seconds_total",
                    "Cumulative cpu time consumed in seconds.",
                    &[
                        ("cpu", "total"),
                        ("id", &cgroup_id),
                        ("image", &image),
                        ("name", &name),
                    ],
                    v / 1e6,
                );
            }
            if let Some(v) = kv(&cpu, "user_usec") {
                out.counter(
                    "container_cpu_user_seconds_total",
                    "Cumulative user cpu time consumed in seconds.",
                    &labels,
                    v / 1e6,
                );
            }
            if let Some(v) = kv(&cpu, "system_usec") {
                out.counter(
                    "container_cpu_system_seconds_total",
                    "Cumulative system cpu time consumed in seconds.",
                    &labels,
                    v / 1e6,
                );
            }
        }
        let usage = read("memory.current").and_then(|s| s.trim().parse::<f64>().ok());
        let stat = read("memory.stat").unwrap_or_default();
        if let Some(usage) = usage {
            out.gauge(
                "container_memory_usage_bytes",
                "Current memory usage in bytes, including all memory regardless of when it was accessed",
                &labels,
                usage,
            );
            let inactive = kv(&stat, "inactive_file").unwrap_or(0.0);
            out.gauge(
                "container_memory_working_set_bytes",
                "Current working set in bytes.",
                &labels,
                (usage - inactive).max(0.0),
            );
        }
        if let Some(v) = kv(&stat, "anon") {
            out.gauge("container_memory_rss", "Size of RSS in bytes.", &labels, v);
        }
        if let Some(v) = kv(&stat, "file") {
            out.gauge(
                "container_memory_cache",
                "Number of bytes of page cache memory.",
                &labels,
                v,
            );
        }
        if let Some(max) = read("memory.max") {
            // "max" (no limit) is reported as 0, which dashboards already filter with `> 0`.
            let v = max.trim().parse::<f64>().unwrap_or(0.0);
            out.gauge(
                "container_spec_memory_limit_bytes",
                "Memory limit for the container.",
                &labels,
                v,
            );
        }
        if let Some(io) = read("io.stat") {
            for line in io.lines() {
                let mut parts = line.split_ascii_whitespace();
                let Some(dev) = parts.next() else { continue };
                let device = device_name(host, dev);
                let l = [
                    ("device", device.as_str()),
                    ("id", cgroup_id.as_str()),
                    ("image", image.as_str()),
                    ("name", name.as_str()),
                ];
                for p in parts {
                    match p.split_once('=') {
                        Some(("rbytes", v)) => {
                            if let Ok(v) = v.parse() {
                                out.counter(
                                    "container_fs_reads_bytes_total",
                                    "Cumulative count of bytes read",
                                    &l,
                                    v,
                                );
                            }
                        }
                        Some(("wbytes", v)) => {
                            if let Ok(v) = v.parse() {
                                out.counter(
                                    "container_fs_writes_bytes_total",
                                    "Cumulative count of bytes written",
                                    &l,
                                    v,
                                );
                            }
                        }
                        _ => {}
                    }
                }
            }
        }
    }
    Ok(())
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
