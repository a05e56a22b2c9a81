//! `/proc/loadavg`: `node_load1`, `node_load5`, `node_load15`.

use mcp_exporter_core::MetricSet;
use mcp_exporter_core::collector::CollectError;

use super::bad;
use crate::{Host, read};

/// Writes the load averages.
pub fn collect(host: &Host, out: &mut MetricSet) -> Result<(), CollectError> {
    let text = read(&host.proc("loadavg"))?;
    let v: Vec<f64> = text
        .split_ascii_whitespace()
        .take(3)
        .filter_map(|x| x.parse().ok())
        .collect();
    let [l1, l5, l15] = v[..] else {
        return Err(bad("/proc/loadavg is not three numbers"));
    };
    out.gauge("node_load1", "1m load average.", &[], l1);
    out.gauge("node_load5", "5m load average.", &[], l5);
    out.gauge("node_load15", "15m load average.", &[], l15);
    Ok(())
}
