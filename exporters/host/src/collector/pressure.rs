//! `/proc/pressure/{cpu,io,memory}` (PSI): cumulative stall seconds. A kernel without PSI has no
//! such files: no data, not an error.

use mcp_exporter_core::MetricSet;
use mcp_exporter_core::collector::CollectError;

use crate::{Host, parse};

/// Writes the pressure counters.
pub fn collect(host: &Host, out: &mut MetricSet) -> Result<(), CollectError> {
    let read = |r: &str| crate::read_text(host.proc(&format!("pressure/{r}"))).ok();
    if let Some((Some(some), _)) = read("cpu").as_deref().map(parse::pressure) {
        out.counter(
            "node_pressure_cpu_waiting_seconds_total",
            "Total time in seconds that processes have waited for CPU time",
            &[],
            some / 1e6,
        );
    }
    if let Some((some, full)) = read("io").as_deref().map(parse::pressure) {
        if let Some(v) = some {
            out.counter(
                "node_pressure_io_waiting_seconds_total",
                "Total time in seconds that processes have waited due to IO congestion",
                &[],
                v / 1e6,
            );
        }
        if let Some(v) = full {
            out.counter(
                "node_pressure_io_stalled_seconds_total",
                "Total time in seconds no process could make progress due to IO congestion",
                &[],
                v / 1e6,
            );
        }
    }
    if let Some((some, full)) = read("memory").as_deref().map(parse::pressure) {
        if let Some(v) = some {
            out.counter(
                "node_pressure_memory_waiting_seconds_total",
                "Total time in seconds that processes have waited for memory",
                &[],
                v / 1e6,
            );
        }
        if let Some(v) = full {
            out.counter(
                "node_pressure_memory_stalled_seconds_total",
                "Total time in seconds no process could make progress due to memory congestion",
                &[],
                v / 1e6,
            );
        }
    }
    Ok(())
}
