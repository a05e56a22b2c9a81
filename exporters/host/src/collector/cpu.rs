//! `/proc/stat` cpu lines: `node_cpu_seconds_total{cpu,mode}` and
//! `node_cpu_guest_seconds_total{cpu,mode}` (node_exporter's cpu collector). Like node_exporter,
//! `user` and `nice` still include guest time.

use mcp_exporter_core::MetricSet;
use mcp_exporter_core::collector::CollectError;

use super::bad;
use crate::{Host, parse, read};

/// USER_HZ: /proc/stat counts in 1/100 s on every Linux architecture node_exporter supports.
const TICKS: f64 = 100.0;
const MODES: [&str; 8] = [
    "user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal",
];

/// Writes the cpu families.
pub fn collect(host: &Host, out: &mut MetricSet) -> Result<(), CollectError> {
    let s = parse::stat(&read(&host.proc("stat"))?);
    if s.cpus.is_empty() {
        return Err(bad("/proc/stat has no per-cpu lines"));
    }
    for (cpu, v) in &s.cpus {
        for (i, mode) in MODES.iter().enumerate() {
            out.counter(
                "node_cpu_seconds_total",
                "Seconds the CPUs spent in each mode.",
                &[("cpu", cpu), ("mode", mode)],
                v[i] / TICKS,
            );
        }
        for (i, mode) in [(8, "user"), (9, "nice")] {
            out.counter(
                "node_cpu_guest_seconds_total",
                "Seconds the CPUs spent in guests (VMs) for each mode.",
                &[("cpu", cpu), ("mode", mode)],
                v[i] / TICKS,
            );
        }
    }
    Ok(())
}
