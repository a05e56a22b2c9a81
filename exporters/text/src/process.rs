//! client_golang's `process_*` values, read from `/proc` (feature `process`).
//!
//! Names, HELP and sources follow client_golang's process collector
//! (prometheus/process_collector.go and process_collector_procfs.go), so dashboards built on a Go
//! exporter's CPU and memory panels keep working: CPU and start time in seconds from clock ticks at
//! the kernel's real rate (`sysconf(_SC_CLK_TCK)`, through procfs), resident memory as pages times
//! the page size, "unlimited" limits as 2^64-1. A value that cannot be read leaves its family out
//! rather than failing the scrape, as client_golang does. On systems without `/proc` (macOS,
//! Windows) every sample is `None` and the crate still builds.
//!
//! ```
//! use mcp_text_format::{Encoder, NO_LABELS, process::ProcessSample};
//!
//! let mut body = String::new();
//! if let Some(me) = ProcessSample::of_self() {
//!     me.encode(&mut Encoder::new(&mut body), &NO_LABELS);
//!     assert!(body.contains("# TYPE process_cpu_seconds_total counter\n"));
//! }
//! ```

use crate::{Encoder, LabelSet, MetricType};

/// One reading of a process.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct ProcessSample {
    /// User plus system CPU time, in seconds.
    pub cpu_seconds: f64,
    /// Resident set size, in bytes.
    pub resident_memory_bytes: f64,
    /// Virtual memory size, in bytes.
    pub virtual_memory_bytes: f64,
    /// Start time since the Unix epoch, in seconds (`None` if the boot time is unreadable).
    pub start_time_seconds: Option<f64>,
    /// Number of OS threads.
    pub threads: f64,
    /// Open file descriptors (`None` if `/proc/PID/fd` is unreadable, e.g. another user's process).
    pub open_fds: Option<f64>,
    /// Soft limit on open file descriptors.
    pub max_fds: Option<f64>,
    /// Soft limit on the address space, in bytes.
    pub virtual_memory_max_bytes: Option<f64>,
}

/// One family of a [`ProcessSample`]: name, HELP, TYPE and value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProcessFamily {
    /// Metric name, e.g. `process_cpu_seconds_total`.
    pub name: &'static str,
    /// HELP text, as client_golang writes it.
    pub help: &'static str,
    /// TYPE.
    pub kind: MetricType,
    /// The value.
    pub value: f64,
}

/// Name of the thread count family, which client_golang does not have (Go reports `go_threads`);
/// the name and HELP are those of the Rust `prometheus` crate's process collector.
pub const THREADS: &str = "process_threads";

/// Every family name a sample can write (client_golang's seven and [`THREADS`]), sorted: for a
/// registry that must keep its users' metrics from clashing with them.
pub const NAMES: [&str; 8] = [
    "process_cpu_seconds_total",
    "process_max_fds",
    "process_open_fds",
    "process_resident_memory_bytes",
    "process_start_time_seconds",
    THREADS,
    "process_virtual_memory_bytes",
    "process_virtual_memory_max_bytes",
];

impl ProcessSample {
    /// Reads this process; `None` where `/proc/self/stat` cannot be read (or off Linux).
    pub fn of_self() -> Option<Self> {
        imp::of_self()
    }

    /// Reads process `pid` (e.g. a server a benchmark drives); `None` if it cannot be read.
    pub fn of_pid(pid: i32) -> Option<Self> {
        imp::of_pid(pid)
    }

    /// client_golang's seven families, in name order (the order it writes them); families whose
    /// value could not be read are left out.
    pub fn families(&self) -> Vec<ProcessFamily> {
        self.list(false)
    }

    /// [`ProcessSample::families`] plus [`THREADS`], still in name order.
    pub fn families_with_threads(&self) -> Vec<ProcessFamily> {
        self.list(true)
    }

    fn list(&self, threads: bool) -> Vec<ProcessFamily> {
        let family = |name, help, kind, value: Option<f64>| {
            value.map(|value| ProcessFamily {
                name,
                help,
                kind,
                value,
            })
        };
        use MetricType::{Counter, Gauge};
        [
            family(
                "process_cpu_seconds_total",
                "Total user and system CPU time spent in seconds.",
                Counter,
                Some(self.cpu_seconds),
            ),
            family(
                "process_max_fds",
                "Maximum number of open file descriptors.",
                Gauge,
                self.max_fds,
            ),
            family(
                "process_open_fds",
                "Number of open file descriptors.",
                Gauge,
                self.open_fds,
            ),
            family(
                "process_resident_memory_bytes",
                "Resident memory size in bytes.",
                Gauge,
                Some(self.resident_memory_bytes),
            ),
            family(
                "process_start_time_seconds",
                "Start time of the process since unix epoch in seconds.",
                Gauge,
                self.start_time_seconds,
            ),
            family(
                THREADS,
                "Number of OS threads in the process.",
                Gauge,
                threads.then_some(self.threads),
            ),
            family(
                "process_virtual_memory_bytes",
                "Virtual memory size in bytes.",
                Gauge,
                Some(self.virtual_memory_bytes),
            ),
            family(
                "process_virtual_memory_max_bytes",
                "Maximum amount of virtual memory available in bytes.",
                Gauge,
                self.virtual_memory_max_bytes,
            ),
        ]
        .into_iter()
        .flatten()
        .collect()
    }

    /// Writes [`ProcessSample::families`], one sample each with `labels`. A family the encoder has
    /// written already is skipped (and counted there).
    pub fn encode<L: LabelSet + ?Sized>(&self, enc: &mut Encoder<'_>, labels: &L) {
        for f in self.families() {
            if let Some(mut w) = enc.family(f.name, Some(f.help), f.kind) {
                w.sample(labels, f.value);
            }
        }
    }
}

#[cfg(target_os = "linux")]
mod imp {
    use super::ProcessSample;
    use procfs::process::{LimitValue, Process};

    pub(super) fn of_self() -> Option<ProcessSample> {
        read(&Process::myself().ok()?)
    }

    pub(super) fn of_pid(pid: i32) -> Option<ProcessSample> {
        read(&Process::new(pid).ok()?)
    }

    fn read(p: &Process) -> Option<ProcessSample> {
        let stat = p.stat().ok()?;
        // sysconf(_SC_CLK_TCK), not an assumed 100: the kernel's USER_HZ differs on some systems.
        let ticks = procfs::ticks_per_second() as f64;
        let limits = p.limits().ok();
        Some(ProcessSample {
            cpu_seconds: (stat.utime + stat.stime) as f64 / ticks,
            resident_memory_bytes: (stat.rss * procfs::page_size()) as f64,
            virtual_memory_bytes: stat.vsize as f64,
            start_time_seconds: procfs::boot_time_secs()
                .ok()
                .map(|boot| boot as f64 + stat.starttime as f64 / ticks),
            threads: stat.num_threads as f64,
            open_fds: p.fd_count().ok().map(|n| n as f64),
            max_fds: limits.as_ref().map(|l| limit(l.max_open_files.soft_limit)),
            virtual_memory_max_bytes: limits.map(|l| limit(l.max_address_space.soft_limit)),
        })
    }

    // client_golang reports "unlimited" as the all-ones rlimit (2^64-1 as a float).
    fn limit(v: LimitValue) -> f64 {
        match v {
            LimitValue::Value(n) => n as f64,
            LimitValue::Unlimited => u64::MAX as f64,
        }
    }
}

#[cfg(not(target_os = "linux"))]
mod imp {
    use super::ProcessSample;

    pub(super) fn of_self() -> Option<ProcessSample> {
        None
    }

    pub(super) fn of_pid(_pid: i32) -> Option<ProcessSample> {
        None
    }
}

#[cfg(test)]
#[cfg(target_os = "linux")]
mod tests {
    use super::*;
    use crate::NO_LABELS;

    /// `/proc/PID/stat` fields by number (1-based, as in proc(5)), split after the command name.
    fn stat_field(pid: &str, n: usize) -> f64 {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
        let rest = &stat[stat.rfind(')').unwrap() + 1..];
        rest.split_whitespace().nth(n - 3).unwrap().parse().unwrap()
    }

    /// The tick rate as the system reports it, from a real `getconf` process.
    fn clk_tck() -> f64 {
        let out = std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .unwrap();
        String::from_utf8(out.stdout)
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    }

    fn btime() -> f64 {
        let stat = std::fs::read_to_string("/proc/stat").unwrap();
        stat.lines()
            .find_map(|l| l.strip_prefix("btime "))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    }

    #[test]
    fn reads_this_process_as_proc_and_getconf_report_it() {
        let ticks = clk_tck();
        let before = (stat_field("self", 14) + stat_field("self", 15)) / ticks;
        let s = ProcessSample::of_self().unwrap();
        let after = (stat_field("self", 14) + stat_field("self", 15)) / ticks;
        assert!(before <= s.cpu_seconds && s.cpu_seconds <= after, "{s:?}");
        assert_eq!(
            s.start_time_seconds,
            Some(btime() + stat_field("self", 22) / ticks)
        );
        assert!(s.resident_memory_bytes > 100_000.0, "{s:?}");
        assert!(s.virtual_memory_bytes >= s.resident_memory_bytes, "{s:?}");
        assert!(s.threads >= 1.0 && s.open_fds.unwrap() >= 3.0, "{s:?}");
        let limits = std::fs::read_to_string("/proc/self/limits").unwrap();
        let soft = limits
            .lines()
            .find_map(|l| l.strip_prefix("Max open files"))
            .and_then(|l| l.split_whitespace().next())
            .unwrap()
            .to_owned();
        let want = if soft == "unlimited" {
            u64::MAX as f64
        } else {
            soft.parse().unwrap()
        };
        assert_eq!(s.max_fds, Some(want));
    }

    #[test]
    fn reads_another_process_by_pid() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let pid = child.id();
        let s = ProcessSample::of_pid(pid as i32);
        let _ = child.kill();
        let _ = child.wait();
        let s = s.unwrap();
        assert_eq!(s.threads, 1.0, "{s:?}");
        let me = ProcessSample::of_self().unwrap();
        assert!(s.start_time_seconds.unwrap() >= me.start_time_seconds.unwrap());
        // Gone: no sample, no panic.
        assert!(ProcessSample::of_pid(pid as i32).is_none());
    }

    #[test]
    fn encodes_client_golang_names_in_order() {
        let s = ProcessSample::of_self().unwrap();
        let mut body = String::new();
        s.encode(&mut Encoder::new(&mut body), &NO_LABELS);
        let names: Vec<&str> = body
            .lines()
            .filter_map(|l| l.strip_prefix("# TYPE "))
            .collect();
        assert_eq!(
            names,
            [
                "process_cpu_seconds_total counter",
                "process_max_fds gauge",
                "process_open_fds gauge",
                "process_resident_memory_bytes gauge",
                "process_start_time_seconds gauge",
                "process_virtual_memory_bytes gauge",
                "process_virtual_memory_max_bytes gauge",
            ]
        );
        assert!(body.contains(
            "# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.\n"
        ));
        let with = s.families_with_threads();
        let names: Vec<&str> = with.iter().map(|f| f.name).collect();
        assert_eq!(names, NAMES);
    }
}
