//! Load averages from sysinfo (`getloadavg` on macOS and the BSDs; Windows has none, so this file
//! is not built there).

use mcp_exporter_core::MetricSet;
use mcp_exporter_core::collector::CollectError;

use crate::Host;

/// Writes `node_load1`, `node_load5`, `node_load15`.
pub fn collect(_host: &Host, out: &mut MetricSet) -> Result<(), CollectError> {
    let l = sysinfo::System::load_average();
    out.gauge("node_load1", "1m load average.", &[], l.one);
    out.gauge("node_load5", "5m load average.", &[], l.five);
    out.gauge("node_load15", "15m load average.", &[], l.fifteen);
    Ok(())
}
