//! `replication_slot`: WAL positions of each slot (upstream v0.15 `collector/pg_replication_slot.go`,
//! label `slot_name` only; `slot_type` came in v0.16). As upstream, the confirmed flush position is
//! written only for active slots. Shares its statement with the legacy `pg_replication_slots_*` and `pg_stat_replication_*`.

use mcp_exporter_core::{CollectFuture, Collector, MetricSet};

use crate::session::{Session, Shared, f, gauge, opt_s, s};

const CURRENT: &str = "pg_replication_slot_slot_current_wal_lsn";
const CURRENT_HELP: &str = "current wal lsn value";
const FLUSH: &str = "pg_replication_slot_slot_confirmed_flush_lsn";
const FLUSH_HELP: &str = "last lsn confirmed flushed to the replication slot";
const ACTIVE: &str = "pg_replication_slot_slot_is_active";
const ACTIVE_HELP: &str = "whether the replication slot is active or not";

pub(super) struct ReplicationSlot;

impl Collector<Session> for ReplicationSlot {
    fn collect<'a>(&'a self, t: &'a Session, out: &'a mut MetricSet) -> CollectFuture<'a> {
        Box::pin(async move {
            let rows = t.shared(Shared::Replication).await?;
            for r in rows.iter().filter(|r| s(r, 0) == "s") {
                let name = opt_s(r, 1).unwrap_or_else(|| "unknown".to_owned());
                let labels = [("slot_name", name.as_str())];
                let active = r.try_get::<_, Option<bool>>(6).ok().flatten() == Some(true);
                gauge(out, CURRENT, CURRENT_HELP, &labels, f(r, 8).unwrap_or(0.0));
                if active {
                    gauge(out, FLUSH, FLUSH_HELP, &labels, f(r, 9).unwrap_or(0.0));
                }
                gauge(
                    out,
                    ACTIVE,
                    ACTIVE_HELP,
                    &labels,
                    if active { 1.0 } else { 0.0 },
                );
            }
            Ok(())
        })
    }
}
