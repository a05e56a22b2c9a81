//! `stat_wal_receiver` (off by default): the WAL receiver of a replica (upstream
//! `collector/pg_stat_walreceiver.go`). A primary has no row: no data, not an error. Rows without
//! an upstream host or slot are skipped, as upstream; `status` is upstream's number code.

use mcp_exporter_core::{CollectFuture, Collector, MetricSet, MetricType};

use crate::queries;
use crate::session::{Session, counter, f, gauge, opt_s};

const G: MetricType = MetricType::Gauge;
const C: MetricType = MetricType::Counter;

const STATUS: &str = "pg_stat_wal_receiver_status";
const STATUS_HELP: &str = "Activity status of the WAL receiver process";

/// (column, type, name, HELP).
const FAMILIES: &[(usize, MetricType, &str, &str)] = &[
    (
        3,
        C,
        "pg_stat_wal_receiver_receive_start_lsn",
        "First write-ahead log location used when WAL receiver is started represented as a decimal",
    ),
    (
        4,
        G,
        "pg_stat_wal_receiver_receive_start_tli",
        "First timeline number used when WAL receiver is started",
    ),
    (
        5,
        C,
        "pg_stat_wal_receiver_flushed_lsn",
        "Last write-ahead log location already received and flushed to disk, the initial value of this field being the first log location used when WAL receiver is started represented as a decimal",
    ),
    (
        6,
        G,
        "pg_stat_wal_receiver_received_tli",
        "Timeline number of last write-ahead log location received and flushed to disk",
    ),
    (
        7,
        C,
        "pg_stat_wal_receiver_last_msg_send_time",
        "Send time of last message received from origin WAL sender",
    ),
    (
        8,
        C,
        "pg_stat_wal_receiver_last_msg_receipt_time",
        "Send time of last message received from origin WAL sender",
    ),
    (
        9,
        C,
        "pg_stat_wal_receiver_latest_end_lsn",
        "Last write-ahead log location reported to origin WAL sender as integer",
    ),
    (
        10,
        C,
        "pg_stat_wal_receiver_latest_end_time",
        "Time of last write-ahead log location reported to origin WAL sender",
    ),
    (
        11,
        G,
        "pg_stat_wal_receiver_upstream_node",
        "Node ID of the upstream node",
    ),
];

/// Upstream's numbers for `status`.
fn status_code(status: Option<&str>) -> f64 {
    match status {
        None => -3.0,
        Some("stopped") => 0.0,
        Some("starting") => 1.0,
        Some("streaming") => 2.0,
        Some("waiting") => 3.0,
        Some("restarting") => 4.0,
        Some("stopping") => -1.0,
        Some(_) => -2.0,
    }
}

pub(super) struct StatWalReceiver;

impl Collector<Session> for StatWalReceiver {
    fn collect<'a>(&'a self, t: &'a Session, out: &'a mut MetricSet) -> CollectFuture<'a> {
        Box::pin(async move {
            for r in t.query(queries::STAT_WAL_RECEIVER).await? {
                let (Some(host), Some(slot)) = (opt_s(&r, 0), opt_s(&r, 1)) else {
                    continue;
                };
                let labels = [
                    ("upstream_host", host.as_str()),
                    ("slot_name", slot.as_str()),
                ];
                gauge(
                    out,
                    STATUS,
                    STATUS_HELP,
                    &labels,
                    status_code(opt_s(&r, 2).as_deref()),
                );
                for (i, kind, name, help) in FAMILIES {
                    let v = f(&r, *i).unwrap_or(0.0);
                    match kind {
                        MetricType::Counter => counter(out, name, help, &labels, v),
                        _ => gauge(out, name, help, &labels, v),
                    }
                }
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_codes_match_upstream() {
        assert_eq!(status_code(Some("streaming")), 2.0);
        assert_eq!(status_code(Some("stopping")), -1.0);
        assert_eq!(status_code(Some("weird")), -2.0);
        assert_eq!(status_code(None), -3.0);
    }
}
