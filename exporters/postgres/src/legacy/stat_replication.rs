//! `pg_stat_replication_*` per walsender (upstream built-in map `pg_stat_replication`).
//!
//! Deliberate deviation: upstream v0.15 fills `slot_name` with the walsender's pid (the view has no
//! `slot_name` column and a missing label column falls back to column 0). Here `slot_name` is the
//! replication slot the walsender streams into (what v0.20 reports), and the pid only for a
//! walsender without a slot, so series stay unique. `pg_wal_lsn_diff` stays NaN while `replay_lsn`
//! is NULL, as upstream. `reply_time` is not in upstream's map, so it is exported untyped.

use mcp_exporter_core::{CollectFuture, Collector, MetricSet, MetricType};

use crate::session::{LegacySpec, Session, Shared, f, s};

const CURRENT: LegacySpec = (
    "pg_stat_replication_pg_current_wal_lsn_bytes",
    "WAL position in bytes",
    MetricType::Gauge,
    true,
);
const DIFF: LegacySpec = (
    "pg_stat_replication_pg_wal_lsn_diff",
    "Lag in bytes between master and slave",
    MetricType::Gauge,
    true,
);
const REPLY_TIME: LegacySpec = (
    "pg_stat_replication_reply_time",
    "Unknown metric from pg_stat_replication",
    MetricType::Untyped,
    true,
);

pub(super) struct StatReplication;

impl Collector<Session> for StatReplication {
    fn collect<'a>(&'a self, t: &'a Session, out: &'a mut MetricSet) -> CollectFuture<'a> {
        Box::pin(async move {
            let rows = t.shared(Shared::Replication).await?;
            for r in rows.iter().filter(|r| s(r, 0) == "r") {
                let (pid, app, addr, state, slot) = (s(r, 1), s(r, 2), s(r, 3), s(r, 4), s(r, 5));
                let slot = if slot.is_empty() { pid } else { slot };
                let labels = [
                    ("application_name", app.as_str()),
                    ("client_addr", addr.as_str()),
                    ("state", state.as_str()),
                    ("slot_name", slot.as_str()),
                ];
                t.legacy(out, CURRENT, &labels, f(r, 7).unwrap_or(f64::NAN));
                t.legacy(out, DIFF, &labels, f(r, 8).unwrap_or(f64::NAN));
                t.legacy(out, REPLY_TIME, &labels, f(r, 9).unwrap_or(f64::NAN));
            }
            Ok(())
        })
    }
}
