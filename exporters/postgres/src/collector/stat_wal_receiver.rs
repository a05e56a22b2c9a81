//! `stat_wal_receiver` (off by default): the WAL receiver of a replica (upstream
//! `collector/pg_stat_wal_receiver.go`). A primary has no row: no data, not an error.

use mcp_exporter_core::{CollectFuture, Collector, MetricSet};

use crate::queries;
use crate::session::{Session, f, gauge, s};

const FAMILIES: &[(usize, &str, &str)] = &[
    (
        3,
        "pg_stat_wal_receiver_receive_start_lsn",
        "First write-ahead log location used when WAL receiver is started represented as a decimal",
    ),
    (
        4,
        "pg_stat_wal_receiver_receive_start_tli",
        "First timeline number used when WAL receiver is started",
    ),
    (
        5,
        "pg_stat_wal_receiver_flushed_lsn",
        "Last write-ahead log location already received and flushed to disk, the initial value of this field being the first log location used when WAL receiver is started represented as a decimal",
    ),
    (
        6,
        "pg_stat_wal_receiver_received_tli",
        "Timeline number of last write-ahead log location received and flushed to disk",
    ),
    (
        7,
        "pg_stat_wal_receiver_last_msg_send_time",
        "Send time of last message received from origin WAL sender",
    ),
    (
        8,
        "pg_stat_wal_receiver_last_msg_receipt_time",
        "Send time of last message received from origin WAL sender",
    ),
    (
        9,
        "pg_stat_wal_receiver_latest_end_lsn",
        "Last write-ahead log location reported to origin WAL sender as integer",
    ),
    (
        10,
        "pg_stat_wal_receiver_latest_end_time",
        "Time of last write-ahead log location reported to origin WAL sender",
    ),
];

pub(super) struct StatWalReceiver;

impl Collector<Session> for StatWalReceiver {
    fn collect<'a>(&'a self, t: &'a Session, out: &'a mut MetricSet) -> CollectFuture<'a> {
        Box::pin(async move {
            for r in t.query(queries::STAT_WAL_RECEIVER).await? {
                let (host, slot, status) = (s(&r, 0), s(&r, 1), s(&r, 2));
                let labels = [
                    ("upstream_host", host.as_str()),
                    ("slot_name", slot.as_str()),
                    ("status", status.as_str()),
                ];
                for (i, name, help) in FAMILIES {
                    if let Some(v) = f(&r, *i) {
                        gauge(out, name, help, &labels, v);
                    }
                }
            }
            Ok(())
        })
    }
}
