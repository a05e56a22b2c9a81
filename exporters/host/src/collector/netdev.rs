//! `/proc/net/dev` (plus `rx_nohandler` from sysfs): `node_network_{receive,transmit}_*_total{device}`.

use mcp_exporter_core::MetricSet;
use mcp_exporter_core::collector::CollectError;

use super::bad;
use crate::{Host, parse, read};

const RX: [&str; 8] = [
    "bytes",
    "packets",
    "errs",
    "drop",
    "fifo",
    "frame",
    "compressed",
    "multicast",
];
const TX: [&str; 8] = [
    "bytes",
    "packets",
    "errs",
    "drop",
    "fifo",
    "colls",
    "carrier",
    "compressed",
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
        for (i, f) in RX.iter().enumerate() {
            let made = host.names.get("netdev_receive", f, |f| {
                Some((
                    format!("node_network_receive_{f}_total"),
                    format!("Network device statistic receive_{f}."),
                ))
            });
            if let Some((name, help)) = made {
                out.counter(name, help, &labels, v[i]);
            }
        }
        for (i, f) in TX.iter().enumerate() {
            let made = host.names.get("netdev_transmit", f, |f| {
                Some((
                    format!("node_network_transmit_{f}_total"),
                    format!("Network device statistic transmit_{f}."),
                ))
            });
            if let Some((name, help)) = made {
                out.counter(name, help, &labels, v[8 + i]);
            }
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
