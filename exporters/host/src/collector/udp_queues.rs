//! `/proc/net/udp` and `udp6`: summed tx/rx queue bytes, `node_udp_queues{ip,queue}`.

use mcp_exporter_core::MetricSet;
use mcp_exporter_core::collector::CollectError;

use crate::{Host, read};

fn sums(text: &str) -> (f64, f64) {
    let (mut tx, mut rx) = (0.0, 0.0);
    for line in text.lines().skip(1) {
        // "sl local rem st tx_queue:rx_queue ..."
        if let Some((t, r)) = line
            .split_ascii_whitespace()
            .nth(4)
            .and_then(|q| q.split_once(':'))
        {
            tx += u64::from_str_radix(t, 16).unwrap_or(0) as f64;
            rx += u64::from_str_radix(r, 16).unwrap_or(0) as f64;
        }
    }
    (tx, rx)
}

/// Writes `node_udp_queues`.
pub fn collect(host: &Host, out: &mut MetricSet) -> Result<(), CollectError> {
    let help = "Number of allocated memory in the kernel for UDP datagrams in bytes.";
    let (tx, rx) = sums(&read(&host.proc("net/udp"))?);
    out.gauge(
        "node_udp_queues",
        help,
        &[("ip", "v4"), ("queue", "tx")],
        tx,
    );
    out.gauge(
        "node_udp_queues",
        help,
        &[("ip", "v4"), ("queue", "rx")],
        rx,
    );
    if let Ok(text) = crate::read_text(host.proc("net/udp6")) {
        let (tx, rx) = sums(&text);
        out.gauge(
            "node_udp_queues",
            help,
            &[("ip", "v6"), ("queue", "tx")],
            tx,
        );
        out.gauge(
            "node_udp_queues",
            help,
            &[("ip", "v6"), ("queue", "rx")],
            rx,
        );
    }
    Ok(())
}
