//! Process metrics with client_golang's names and HELP (byte-for-byte from
//! `prometheus/client_golang` `process_collector.go`, as in the node_exporter anchor), read from
//! `/proc/self` at scrape time. Unlike `metrics-process` and tikv's collector, CPU seconds and
//! the start time keep their fractions.

use mcp_text_format::MetricType::{Counter, Gauge};

use super::Builtin;

/// Linux's `USER_HZ`: the unit of `/proc/<pid>/stat` times. It is part of the kernel ABI and
/// is 100 on every mainstream architecture, so no `sysconf` call (and no libc) is needed.
const CLOCK_TICKS_PER_SEC: f64 = 100.0;

/// One reading of `/proc/self`.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct ProcessSample {
    pub cpu_seconds: f64,
    pub resident_bytes: f64,
    pub virtual_bytes: f64,
    pub virtual_max_bytes: Option<f64>,
    pub open_fds: Option<f64>,
    pub max_fds: Option<f64>,
    pub start_time_seconds: f64,
    pub threads: f64,
}

/// Reads the sample; `None` where `/proc` is not available (non-Linux).
pub(crate) fn sample() -> Option<ProcessSample> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let boot = std::fs::read_to_string("/proc/stat").ok()?;
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
    let open_fds = std::fs::read_dir("/proc/self/fd")
        .ok()
        .map(|d| d.count() as f64);
    parse(&stat, &status, &boot, &limits, open_fds)
}

fn parse(
    stat: &str,
    status: &str,
    proc_stat: &str,
    limits: &str,
    open_fds: Option<f64>,
) -> Option<ProcessSample> {
    // The command name (field 2) may hold spaces and parentheses: split after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3 (state), so field N is fields[N - 3].
    let num = |n: usize| fields.get(n - 3).and_then(|v| v.parse::<f64>().ok());
    let utime = num(14)?;
    let stime = num(15)?;
    let starttime = num(22)?;
    let vsize = num(23)?;
    let btime = proc_stat
        .lines()
        .find_map(|l| l.strip_prefix("btime "))
        .and_then(|v| v.trim().parse::<f64>().ok())?;
    let status_kb = |key: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<f64>().ok())
    };
    let limit = |name: &str| -> Option<f64> {
        let line = limits.lines().find(|l| l.starts_with(name))?;
        let soft = line[name.len()..].split_whitespace().next()?;
        // client_golang reports "unlimited" as the all-ones rlimit value.
        Some(if soft == "unlimited" {
            u64::MAX as f64
        } else {
            soft.parse().ok()?
        })
    };
    Some(ProcessSample {
        cpu_seconds: (utime + stime) / CLOCK_TICKS_PER_SEC,
        resident_bytes: status_kb("VmRSS:").unwrap_or(0.0) * 1024.0,
        virtual_bytes: vsize,
        virtual_max_bytes: limit("Max address space"),
        open_fds,
        max_fds: limit("Max open files"),
        start_time_seconds: btime + starttime / CLOCK_TICKS_PER_SEC,
        threads: status_kb("Threads:").unwrap_or(0.0),
    })
}

/// Appends the process families.
pub(crate) fn families(out: &mut Vec<Builtin<'_>>, s: &ProcessSample) {
    let mut family = |name, kind, help, value: Option<f64>| {
        if let Some(v) = value {
            out.push(Builtin::one(name, help, kind, None, v));
        }
    };
    family(
        "process_cpu_seconds_total",
        Counter,
        "Total user and system CPU time spent in seconds.",
        Some(s.cpu_seconds),
    );
    family(
        "process_max_fds",
        Gauge,
        "Maximum number of open file descriptors.",
        s.max_fds,
    );
    family(
        "process_open_fds",
        Gauge,
        "Number of open file descriptors.",
        s.open_fds,
    );
    family(
        "process_resident_memory_bytes",
        Gauge,
        "Resident memory size in bytes.",
        Some(s.resident_bytes),
    );
    family(
        "process_start_time_seconds",
        Gauge,
        "Start time of the process since unix epoch in seconds.",
        Some(s.start_time_seconds),
    );
    family(
        "process_threads",
        Gauge,
        "Number of OS threads in the process.",
        Some(s.threads),
    );
    family(
        "process_virtual_memory_bytes",
        Gauge,
        "Virtual memory size in bytes.",
        Some(s.virtual_bytes),
    );
    family(
        "process_virtual_memory_max_bytes",
        Gauge,
        "Maximum amount of virtual memory available in bytes.",
        s.virtual_max_bytes,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_files_with_fractions() {
        let stat = "4242 (cdb (core) x) S 1 4242 4242 0 -1 4194560 500 0 0 0 123 45 0 0 20 0 7 0 1500 104857600 2000 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0";
        let status = "Name:\tcdb\nVmRSS:\t   8192 kB\nThreads:\t7\n";
        let proc_stat = "cpu  1 2 3\nbtime 1700000000\n";
        let limits = "Limit                     Soft Limit           Hard Limit           Units\nMax open files            1024                 4096                 files\nMax address space         unlimited            unlimited            bytes\n";
        let s = parse(stat, status, proc_stat, limits, Some(12.0)).unwrap();
        assert_eq!(s.cpu_seconds, 1.68);
        assert_eq!(s.start_time_seconds, 1_700_000_015.0);
        assert_eq!(s.resident_bytes, 8192.0 * 1024.0);
        assert_eq!(s.virtual_bytes, 104_857_600.0);
        assert_eq!(s.max_fds, Some(1024.0));
        assert_eq!(s.virtual_max_bytes, Some(u64::MAX as f64));
        assert_eq!(s.threads, 7.0);
    }

    #[test]
    fn reads_this_process() {
        let s = sample().unwrap();
        assert!(s.resident_bytes > 1_000_000.0);
        assert!(s.threads >= 1.0);
        assert!(s.open_fds.unwrap() >= 3.0);
    }
}
