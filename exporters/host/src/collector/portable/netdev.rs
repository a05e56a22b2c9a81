//! Interface counters from sysinfo, under netdev's family names: bytes, packets and errors in each
//! direction since the interface came up, labelled `device` (`--collector.netdev.device-exclude`
//! applies).

use mcp_exporter_core::MetricSet;
use mcp_exporter_core::collector::CollectError;

use crate::Host;

/// Writes `node_network_{receive,transmit}_{bytes,packets,errs}_total{device}`.
pub fn collect(host: &Host, out: &mut MetricSet) -> Result<(), CollectError> {
    let networks = sysinfo::Networks::new_with_refreshed_list();
    let mut names: Vec<(&String, &sysinfo::NetworkData)> = networks.iter().collect();
    names.sort_by(|a, b| a.0.cmp(b.0));
    for (device, data) in names {
        if host
            .net_exclude
            .as_ref()
            .is_some_and(|re| re.is_match(device))
        {
            continue;
        }
        let labels = [("device", device.as_str())];
        for (name, help, v) in [
            (
                "node_network_receive_bytes_total",
                "Network device statistic receive_bytes.",
                data.total_received(),
            ),
            (
                "node_network_transmit_bytes_total",
                "Network device statistic transmit_bytes.",
                data.total_transmitted(),
            ),
            (
                "node_network_receive_packets_total",
                "Network device statistic receive_packets.",
                data.total_packets_received(),
            ),
            (
                "node_network_transmit_packets_total",
                "Network device statistic transmit_packets.",
                data.total_packets_transmitted(),
            ),
            (
                "node_network_receive_errs_total",
                "Network device statistic receive_errs.",
                data.total_errors_on_received(),
            ),
            (
                "node_network_transmit_errs_total",
                "Network device statistic transmit_errs.",
                data.total_errors_on_transmitted(),
            ),
        ] {
            out.counter(name, help, &labels, v as f64);
        }
    }
    Ok(())
}
