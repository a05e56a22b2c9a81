//! `/proc/net/softnet_stat`: per-CPU processed, dropped and squeezed counters (hex columns).

use mcp_exporter_core::MetricSet;
use mcp_exporter_core::collector::CollectError;

use crate::{Host, read};

/// Writes the softnet families.
pub fn collect(host: &Host, out: &mut MetricSet) -> Result<(), CollectError> {
    let text = read(&host.proc("net/softnet_stat"))?;
    for (cpu, line) in text.lines().enumerate() {
        let v: Vec<f64> = line
            .split_ascii_whitespace()
            .map(|h| u64::from_str_radix(h, 16).map(|x| x as f64).unwrap_or(0.0))
            .collect();
        if v.len() < 3 {
            continue;
        }
        let cpu = cpu.to_string();
        let labels = [("cpu", cpu.as_str())];
        out.counter(
            "node_softnet_processed_total",
            "Number of processed packets",
            &labels,
            v[0],
        );
        out.counter(
            "node_softnet_dropped_total",
            "Number of dropped packets",
            &labels,
            v[1],
        );
        out.counter(
            "node_softnet_times_squeezed_total",
            "Number of times processing packets ran out of quota",
            &labels,
            v[2],
        );
    }
    Ok(())
}
