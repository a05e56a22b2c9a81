//! `locks`: `pg_locks` per database and mode, with a zero for every (database, mode) pair
//! (upstream `collector/pg_locks.go`). Read from the statement shared with `pg_stat_activity`.

use mcp_exporter_core::{CollectFuture, Collector, MetricSet};

use crate::session::{Session, Shared, f, gauge, s};

const COUNT: &str = "pg_locks_count";
const COUNT_HELP: &str = "Number of locks";

pub(super) struct Locks;

impl Collector<Session> for Locks {
    fn collect<'a>(&'a self, t: &'a Session, out: &'a mut MetricSet) -> CollectFuture<'a> {
        Box::pin(async move {
            let rows = t.shared(Shared::ActivityAndLocks).await?;
            for r in rows.iter().filter(|r| s(r, 0) == "l") {
                let (datname, mode) = (s(r, 1), s(r, 2));
                gauge(
                    out,
                    COUNT,
                    COUNT_HELP,
                    &[("datname", &datname), ("mode", &mode)],
                    f(r, 5).unwrap_or(0.0),
                );
            }
            Ok(())
        })
    }
}
