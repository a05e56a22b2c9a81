//! `process_*` families with client_golang's names and HELP, read from `/proc/self`.
//!
//! Mirrors client_golang's process collector (prometheus/process_collector_procfs.go) so dashboards
//! that chart exporter CPU and memory keep working. On non-Linux systems nothing is written.

use crate::encoder::MetricSet;

/// Writes the process families for this process. Errors reading `/proc` leave families out rather
/// than failing the scrape, as client_golang does.
pub fn collect(out: &mut MetricSet) {
    #[cfg(target_os = "linux")]
    linux::collect(out);
    #[cfg(not(target_os = "linux"))]
    let _ = out;
}

#[cfg(target_os = "linux")]
mod linux {
    use super::MetricSet;
    use procfs::process::{LimitValue, Process};

    pub(super) fn collect(out: &mut MetricSet) {
        let Ok(me) = Process::myself() else {
            return;
        };
        let ticks = procfs::ticks_per_second() as f64;
        if let Ok(stat) = me.stat() {
            out.counter(
                "process_cpu_seconds_total",
                "Total user and system CPU time spent in seconds.",
                &[],
                (stat.utime + stat.stime) as f64 / ticks,
            );
            out.gauge(
                "process_virtual_memory_bytes",
                "Virtual memory size in bytes.",
                &[],
                stat.vsize as f64,
            );
            out.gauge(
                "process_resident_memory_bytes",
                "Resident memory size in bytes.",
                &[],
                (stat.rss * procfs::page_size()) as f64,
            );
            if let Ok(boot) = procfs::boot_time_secs() {
                out.gauge(
                    "process_start_time_seconds",
                    "Start time of the process since unix epoch in seconds.",
                    &[],
                    boot as f64 + stat.starttime as f64 / ticks,
                );
            }
        }
        if let Ok(count) = me.fd_count() {
            out.gauge(
                "process_open_fds",
                "Number of open file descriptors.",
                &[],
                count as f64,
            );
        }
        if let Ok(limits) = me.limits() {
            out.gauge(
                "process_max_fds",
                "Maximum number of open file descriptors.",
                &[],
                limit(limits.max_open_files.soft_limit),
            );
            out.gauge(
                "process_virtual_memory_max_bytes",
                "Maximum amount of virtual memory available in bytes.",
                &[],
                limit(limits.max_address_space.soft_limit),
            );
        }
    }

    // client_golang reports "unlimited" as the all-ones u64 (2^64-1 as a float).
    fn limit(v: LimitValue) -> f64 {
        match v {
            LimitValue::Value(n) => n as f64,
            LimitValue::Unlimited => u64::MAX as f64,
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    #[cfg(target_os = "linux")]
    fn process_families_have_client_golang_names() {
        let mut set = super::MetricSet::new();
        super::collect(&mut set);
        let (text, _) = set.encode();
        for name in [
            "process_cpu_seconds_total",
            "process_max_fds",
            "process_open_fds",
            "process_resident_memory_bytes",
            "process_start_time_seconds",
            "process_virtual_memory_bytes",
            "process_virtual_memory_max_bytes",
        ] {
            assert!(text.contains(&format!("# TYPE {name} ")), "{name} missing");
        }
    }
}
