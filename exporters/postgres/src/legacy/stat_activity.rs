//! `pg_stat_activity_count` and `pg_stat_activity_max_tx_duration` per database, state, user and
//! application, with a zero row for every (database × state) (upstream v0.15 built-in map
//! `pg_stat_activity`). Backends without a database (walsenders, background workers) are not
//! counted, as upstream.

use mcp_exporter_core::{CollectFuture, Collector, MetricSet, MetricType};

use crate::session::{LegacySpec, Session, Shared, f, s};

const COUNT: LegacySpec = (
    "pg_stat_activity_count",
    "number of connections in this state",
    MetricType::Gauge,
    true,
);
const MAX_TX: LegacySpec = (
    "pg_stat_activity_max_tx_duration",
    "max duration in seconds any active transaction has been running",
    MetricType::Gauge,
    true,
);

pub(super) struct StatActivity;

impl Collector<Session> for StatActivity {
    fn collect<'a>(&'a self, t: &'a Session, out: &'a mut MetricSet) -> CollectFuture<'a> {
        Box::pin(async move {
            let rows = t.shared(Shared::ActivityAndLocks).await?;
            for r in rows.iter().filter(|r| s(r, 0) == "a") {
                let (datname, state, usename, app) = (s(r, 1), s(r, 2), s(r, 3), s(r, 4));
                let labels = [
                    ("datname", datname.as_str()),
                    ("state", state.as_str()),
                    ("usename", usename.as_str()),
                    ("application_name", app.as_str()),
                ];
                t.legacy(out, COUNT, &labels, f(r, 5).unwrap_or(0.0));
                t.legacy(out, MAX_TX, &labels, f(r, 6).unwrap_or(0.0));
            }
            Ok(())
        })
    }
}
