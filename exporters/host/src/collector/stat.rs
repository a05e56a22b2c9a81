//! `/proc/stat` counters: boot time, context switches, forks, interrupts, running and blocked
//! processes (node_exporter's stat collector).

use mcp_exporter_core::MetricSet;
use mcp_exporter_core::collector::CollectError;

use super::bad;
use crate::{Host, parse, read};

/// Writes the stat families.
pub fn collect(host: &Host, out: &mut MetricSet) -> Result<(), CollectError> {
    let s = parse::stat(&read(&host.proc("stat"))?);
    let (Some(intr), Some(ctxt), Some(btime)) = (s.intr, s.ctxt, s.btime) else {
        return Err(bad("/proc/stat lacks intr/ctxt/btime"));
    };
    out.counter(
        "node_intr_total",
        "Total number of interrupts serviced.",
        &[],
        intr,
    );
    out.counter(
        "node_context_switches_total",
        "Total number of context switches.",
        &[],
        ctxt,
    );
    out.gauge(
        "node_boot_time_seconds",
        "Node boot time, in unixtime.",
        &[],
        btime,
    );
    if let Some(v) = s.processes {
        out.counter("node_forks_total", "Total number of forks.", &[], v);
    }
    if let Some(v) = s.procs_running {
        out.gauge(
            "node_procs_running",
            "Number of processes in runnable state.",
            &[],
            v,
        );
    }
    if let Some(v) = s.procs_blocked {
        out.gauge(
            "node_procs_blocked",
            "Number of processes blocked waiting for I/O to complete.",
            &[],
            v,
        );
    }
    Ok(())
}
