//! `INFO replication`: per-replica offset and lag on a master; link state on a replica.

use mcp_exporter_core::MetricSet;

use super::Scrape;
use crate::info_parser::{parse_kv, parse_value};

/// Writes the replication families that carry labels (the plain ones are in `info`).
pub fn collect(s: &Scrape, out: &mut MetricSet) {
    for field in s.info.fields() {
        // slave0:ip=127.0.0.1,port=6380,state=online,offset=123,lag=0
        if field.key.starts_with("slave") && field.key[5..].parse::<u32>().is_ok() {
            let (mut ip, mut port, mut state, mut offset, mut lag) = ("", "", "", None, None);
            for (k, v) in parse_kv(field.value) {
                match k {
                    "ip" => ip = v,
                    "port" => port = v,
                    "state" => state = v,
                    "offset" => offset = v.parse::<f64>().ok(),
                    "lag" => lag = v.parse::<f64>().ok(),
                    _ => {}
                }
            }
            let labels = [
                ("slave_ip", ip),
                ("slave_port", port),
                ("slave_state", state),
            ];
            if let Some(offset) = offset {
                out.gauge(
                    "redis_connected_slave_offset_bytes",
                    "Offset of connected slave",
                    &labels,
                    offset,
                );
            }
            if let Some(lag) = lag {
                out.gauge(
                    "redis_connected_slave_lag_seconds",
                    "Lag of connected slave",
                    &labels,
                    lag,
                );
            }
        }
    }
    if s.info.get("role") != Some("slave") {
        return;
    }
    let host = s.info.get("master_host").unwrap_or("");
    let port = s.info.get("master_port").unwrap_or("");
    let labels = [("master_host", host), ("master_port", port)];
    let rows: [(&str, &str, &str); 4] = [
        (
            "master_link_status",
            "redis_master_link_up",
            "Master link status on Redis slave",
        ),
        (
            "master_last_io_seconds_ago",
            "redis_master_last_io_seconds_ago",
            "Master last io seconds ago",
        ),
        (
            "master_sync_in_progress",
            "redis_master_sync_in_progress",
            "Master sync in progress",
        ),
        (
            "slave_repl_offset",
            "redis_slave_repl_offset",
            "Slave replication offset",
        ),
    ];
    for (field, name, help) in rows {
        if let Some(v) = s.info.get(field).and_then(parse_value) {
            out.gauge(name, help, &labels, v);
        }
    }
    let read_only = s.info.get("slave_read_only").unwrap_or("");
    out.gauge(
        "redis_slave_info",
        "Information about the Redis slave",
        &[
            ("master_host", host),
            ("master_port", port),
            ("read_only", read_only),
        ],
        1.0,
    );
}
