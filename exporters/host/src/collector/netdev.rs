//! `/proc/net/dev` (plus `rx_nohandler` from sysfs): `node_network_{receive,transmit}_*_total{device}`.

use mcp_exporter_core::MetricSet;
use mcp_exporter_core::collector::CollectError;

use super::bad;
use crate::{Host, parse, read};

/// `/proc/net/dev`'s receive columns in order: (family, HELP), node_exporter's names.
const RX: [(&str, &str); 8] = [
    (
        "node_network_receive_bytes_total",
        "Network device statistic receive_bytes.",
    ),
    (
        "node_network_receive_packets_total",
        "Network device statistic receive_packets.",
    ),
    (
        "node_network_receive_errs_total",
        "Network device statistic receive_errs.",
    ),
    (
        "node_network_receive_drop_total",
        "Network device statistic receive_drop.",
    ),
    (
        "node_network_receive_fifo_total",
        "Network device statistic receive_fifo.",
    ),
    (
        "node_network_receive_frame_total",
        "Network device statistic receive_frame.",
    ),
    (
        "node_network_receive_compressed_total",
        "Network device statistic receive_compressed.",
    ),
    (
        "node_network_receive_multicast_total",
        "Network device statistic receive_multicast.",
    ),
];
/// `/proc/net/dev`'s transmit columns in order: (family, HELP), node_exporter's names.
const TX: [(&str, &str); 8] = [
    (
        "node_network_transmit_bytes_total",
        "Network device statistic transmit_bytes.",
    ),
    (
        "node_network_transmit_packets_total",
        "Network device statistic transmit_packets.",
    ),
    (
        "node_network_transmit_errs_total",
        "Network device statistic transmit_errs.",
    ),
    (
        "node_network_transmit_drop_total",
        "Network device statistic transmit_drop.",
    ),
    (
        "node_network_transmit_fifo_total",
        "Network device statistic transmit_fifo.",
    ),
    (
        "node_network_transmit_colls_total",
        "Network device statistic transmit_colls.",
    ),
    (
        "node_network_transmit_carrier_total",
        "Network device statistic transmit_carrier.",
    ),
    (
        "node_network_transmit_compressed_total",
        "Network device statistic transmit_compressed.",
    ),
];

/// Writes the per-device counters.
pub fn collect(host: &Host, out: &mut MetricSet) -> Result<(), CollectError> {
    let devs = parse::net_dev(&read(&host.proc("net/dev"))?);
    if devs.is_empty() {
        return Err(bad("/proc/net/dev has no devices"));
    }
    for (dev, v) in devs {
        if host
            .net_exclude
            .as_ref()
            .is_some_and(|re| re.is_match(&dev))
        {
            continue;
        }
        let labels = [("device", dev.as_str())];
        for (i, (name, help)) in RX.iter().enumerate() {
            out.counter(*name, *help, &labels, v[i]);
        }
        for (i, (name, help)) in TX.iter().enumerate() {
            out.counter(*name, *help, &labels, v[8 + i]);
        }
        if let Some(n) =
            crate::read_text(host.sys(&format!("class/net/{dev}/statistics/rx_nohandler")))
                .ok()
                .and_then(|s| s.trim().parse::<f64>().ok())
        {
            out.counter(
                "node_network_receive_nohandler_total",
                "Network device statistic receive_nohandler.",
                &labels,
                n,
            );
        }
    }
    Ok(())
}
