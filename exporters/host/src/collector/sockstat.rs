//! `/proc/net/sockstat` and `sockstat6`: `node_sockstat_<PROTO>_<field>` gauges, plus
//! `_mem_bytes` (pages × page size) and `node_sockstat_sockets_used`.

use mcp_exporter_core::MetricSet;
use mcp_exporter_core::collector::CollectError;

use crate::{Host, read};

const PAGE: f64 = 4096.0;

fn parse(text: &str, out: &mut MetricSet, v6: bool) {
    for line in text.lines() {
        let Some((proto, rest)) = line.split_once(':') else {
            continue;
        };
        let parts: Vec<&str> = rest.split_ascii_whitespace().collect();
        for kv in parts.chunks_exact(2) {
            let Ok(v) = kv[1].parse::<f64>() else {
                continue;
            };
            if proto == "sockets" {
                if kv[0] == "used" && !v6 {
                    out.gauge(
                        "node_sockstat_sockets_used",
                        "Number of IPv4 sockets in use.",
                        &[],
                        v,
                    );
                }
                continue;
            }
            let field = kv[0];
            out.gauge(
                format!("node_sockstat_{proto}_{field}"),
                format!("Number of {proto} sockets in state {field}."),
                &[],
                v,
            );
            if field == "mem" {
                out.gauge(
                    format!("node_sockstat_{proto}_mem_bytes"),
                    format!("Number of {proto} sockets in state mem_bytes."),
                    &[],
                    v * PAGE,
                );
            }
        }
    }
}

/// Writes the sockstat families.
pub fn collect(host: &Host, out: &mut MetricSet) -> Result<(), CollectError> {
    parse(&read(&host.proc("net/sockstat"))?, out, false);
    if let Ok(text) = crate::read_text(host.proc("net/sockstat6")) {
        parse(&text, out, true);
    }
    Ok(())
}
