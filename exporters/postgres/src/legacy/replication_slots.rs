//! `pg_replication_slots_active` and `pg_replication_slots_pg_wal_lsn_diff` (bytes of WAL the slot
//! holds back) per slot (upstream built-in map `pg_replication_slots`). On a replica the position
//! is the received one instead of failing on `pg_current_wal_lsn()`.

use mcp_exporter_core::{CollectFuture, Collector, MetricSet, MetricType};

use crate::session::{LegacySpec, Session, Shared, f, s};

const ACTIVE: LegacySpec = (
    "pg_replication_slots_active",
    "Flag indicating if the slot is active",
    MetricType::Gauge,
    true,
);
const DIFF: LegacySpec = (
    "pg_replication_slots_pg_wal_lsn_diff",
    "Replication lag in bytes",
    MetricType::Gauge,
    true,
);

pub(super) struct ReplicationSlots;

impl Collector<Session> for ReplicationSlots {
    fn collect<'a>(&'a self, t: &'a Session, out: &'a mut MetricSet) -> CollectFuture<'a> {
        Box::pin(async move {
            let rows = t.shared(Shared::Replication).await?;
            for r in rows.iter().filter(|r| s(r, 0) == "s") {
                let (name, database) = (s(r, 1), s(r, 2));
                let labels = [
                    ("slot_name", name.as_str()),
                    ("database", database.as_str()),
                ];
                let active = r.try_get::<_, Option<bool>>(6).ok().flatten();
                let active = match active {
                    Some(true) => 1.0,
                    Some(false) => 0.0,
                    None => f64::NAN,
                };
                t.legacy(out, ACTIVE, &labels, active);
                t.legacy(out, DIFF, &labels, f(r, 7).unwrap_or(f64::NAN));
            }
            Ok(())
        })
    }
}
