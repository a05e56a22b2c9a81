//! Boot time from sysinfo: `node_boot_time_seconds` (the one `stat` family every OS reports with
//! the same meaning; context switches, forks and interrupts are absent).

use mcp_exporter_core::MetricSet;
use mcp_exporter_core::collector::CollectError;

use crate::Host;

/// Writes `node_boot_time_seconds`.
pub fn collect(_host: &Host, out: &mut MetricSet) -> Result<(), CollectError> {
    let boot = sysinfo::System::boot_time();
    if boot == 0 {
        return Err(CollectError::Backend("the OS reported no boot time".into()));
    }
    out.gauge(
        "node_boot_time_seconds",
        "Node boot time, in unixtime.",
        &[],
        boot as f64,
    );
    Ok(())
}
