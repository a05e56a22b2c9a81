//! `/proc/sys/net/netfilter/nf_conntrack_{count,max}` and `/proc/net/stat/nf_conntrack`.
//! Without the nf_conntrack module there is no data: "no data" is success, as node_exporter's
//! ErrNoData.

use mcp_exporter_core::MetricSet;
use mcp_exporter_core::collector::CollectError;

use crate::Host;

const STATS: &[(&str, &str, &str)] = &[
    (
        "found",
        "node_nf_conntrack_stat_found",
        "Number of searched entries which were successful.",
    ),
    (
        "invalid",
        "node_nf_conntrack_stat_invalid",
        "Number of packets seen which can not be tracked.",
    ),
    (
        "ignore",
        "node_nf_conntrack_stat_ignore",
        "Number of packets seen which are already connected to a conntrack entry.",
    ),
    (
        "insert",
        "node_nf_conntrack_stat_insert",
        "Number of entries inserted into the list.",
    ),
    (
        "insert_failed",
        "node_nf_conntrack_stat_insert_failed",
        "Number of entries for which list insertion was attempted but failed.",
    ),
    (
        "drop",
        "node_nf_conntrack_stat_drop",
        "Number of packets dropped due to conntrack failure.",
    ),
    (
        "early_drop",
        "node_nf_conntrack_stat_early_drop",
        "Number of dropped conntrack entries to make room for new ones, if maximum table size was reached.",
    ),
    (
        "search_restart",
        "node_nf_conntrack_stat_search_restart",
        "Number of conntrack table lookups which had to be restarted due to hashtable resizes.",
    ),
];

fn num(host: &Host, rel: &str) -> Option<f64> {
    crate::read_text(host.proc(rel)).ok()?.trim().parse().ok()
}

/// Writes the conntrack families.
pub fn collect(host: &Host, out: &mut MetricSet) -> Result<(), CollectError> {
    let (Some(count), Some(max)) = (
        num(host, "sys/net/netfilter/nf_conntrack_count"),
        num(host, "sys/net/netfilter/nf_conntrack_max"),
    ) else {
        return Ok(());
    };
    out.gauge(
        "node_nf_conntrack_entries",
        "Number of currently allocated flow entries for connection tracking.",
        &[],
        count,
    );
    out.gauge(
        "node_nf_conntrack_entries_limit",
        "Maximum size of connection tracking table.",
        &[],
        max,
    );
    // Per-CPU rows of hex counters under a header; summed across CPUs.
    if let Ok(text) = crate::read_text(host.proc("net/stat/nf_conntrack")) {
        let mut lines = text.lines();
        let header: Vec<&str> = lines
            .next()
            .unwrap_or("")
            .split_ascii_whitespace()
            .collect();
        let mut sums = vec![0.0; header.len()];
        for line in lines {
            for (i, h) in line.split_ascii_whitespace().enumerate() {
                if let Some(s) = sums.get_mut(i) {
                    *s += u64::from_str_radix(h, 16).unwrap_or(0) as f64;
                }
            }
        }
        for (field, name, help) in STATS {
            if let Some(i) = header.iter().position(|h| h == field) {
                out.gauge(*name, *help, &[], sums[i]);
            }
        }
    }
    Ok(())
}
