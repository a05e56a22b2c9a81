//! `pg_stat_database_conflicts_confl_*` per database (upstream built-in map
//! `pg_stat_database_conflicts`), read from the statement shared with the `stat_database`
//! collector. PostgreSQL 16's `confl_active_logicalslot` is not in upstream's map, so upstream
//! exports it untyped with HELP "Unknown metric from …"; kept that way for drop-in.

use mcp_exporter_core::{CollectFuture, Collector, MetricSet, MetricType};

use crate::session::{LegacySpec, Session, Shared, f, opt_s};

const C: MetricType = MetricType::Counter;

const FAMILIES: &[(usize, LegacySpec)] = &[
    (
        19,
        (
            "pg_stat_database_conflicts_confl_tablespace",
            "Number of queries in this database that have been canceled due to dropped tablespaces",
            C,
            true,
        ),
    ),
    (
        20,
        (
            "pg_stat_database_conflicts_confl_lock",
            "Number of queries in this database that have been canceled due to lock timeouts",
            C,
            true,
        ),
    ),
    (
        21,
        (
            "pg_stat_database_conflicts_confl_snapshot",
            "Number of queries in this database that have been canceled due to old snapshots",
            C,
            true,
        ),
    ),
    (
        22,
        (
            "pg_stat_database_conflicts_confl_bufferpin",
            "Number of queries in this database that have been canceled due to pinned buffers",
            C,
            true,
        ),
    ),
    (
        23,
        (
            "pg_stat_database_conflicts_confl_deadlock",
            "Number of queries in this database that have been canceled due to deadlocks",
            C,
            true,
        ),
    ),
    (
        24,
        (
            "pg_stat_database_conflicts_confl_active_logicalslot",
            "Unknown metric from pg_stat_database_conflicts",
            MetricType::Untyped,
            true,
        ),
    ),
];

pub(super) struct StatDatabaseConflicts;

impl Collector<Session> for StatDatabaseConflicts {
    fn collect<'a>(&'a self, t: &'a Session, out: &'a mut MetricSet) -> CollectFuture<'a> {
        Box::pin(async move {
            for r in t.shared(Shared::StatDatabase).await?.iter() {
                // The conflicts view has no row for the shared entry (datid 0): its columns are NULL.
                let (Some(datid), Some(datname)) = (opt_s(r, 0), opt_s(r, 1)) else {
                    continue;
                };
                if f(r, 19).is_none() {
                    continue;
                }
                let labels = [("datid", datid.as_str()), ("datname", datname.as_str())];
                for (i, spec) in FAMILIES {
                    if let Some(v) = f(r, *i) {
                        t.legacy(out, *spec, &labels, v);
                    }
                }
            }
            Ok(())
        })
    }
}
