//! `/proc/net/arp`: `node_arp_entries{device}`.

use std::collections::BTreeMap;

use mcp_exporter_core::MetricSet;
use mcp_exporter_core::collector::CollectError;

use crate::{Host, read};

/// Writes ARP entries per device.
pub fn collect(host: &Host, out: &mut MetricSet) -> Result<(), CollectError> {
    let text = read(&host.proc("net/arp"))?;
    let mut per: BTreeMap<&str, f64> = BTreeMap::new();
    for line in text.lines().skip(1) {
        if let Some(dev) = line.split_ascii_whitespace().nth(5) {
            *per.entry(dev).or_default() += 1.0;
        }
    }
    for (dev, n) in per {
        out.gauge(
            "node_arp_entries",
            "ARP entries by device",
            &[("device", dev)],
            n,
        );
    }
    Ok(())
}
