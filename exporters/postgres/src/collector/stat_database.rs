//! `stat_database`: `pg_stat_database` per database (upstream v0.15 `collector/pg_stat_database.go`):
//! counters without `_total`, `numbackends` a gauge, rows without a `datname` (the shared row)
//! skipped, `stats_reset` 0 when NULL. Shares its statement with the legacy
//! `pg_stat_database_conflicts_*`.

use mcp_exporter_core::{CollectFuture, Collector, MetricSet};

use crate::session::{Session, Shared, counter, f, gauge, opt_s};

const NUMBACKENDS: &str = "pg_stat_database_numbackends";
const NUMBACKENDS_HELP: &str = "Number of backends currently connected to this database. This is the only column in this view that returns a value reflecting current state; all other columns return the accumulated values since the last reset.";

/// (column, name, HELP) of the counters.
const COUNTERS: &[(usize, &str, &str)] = &[
    (
        3,
        "pg_stat_database_xact_commit",
        "Number of transactions in this database that have been committed",
    ),
    (
        4,
        "pg_stat_database_xact_rollback",
        "Number of transactions in this database that have been rolled back",
    ),
    (
        5,
        "pg_stat_database_blks_read",
        "Number of disk blocks read in this database",
    ),
    (
        6,
        "pg_stat_database_blks_hit",
        "Number of times disk blocks were found already in the buffer cache, so that a read was not necessary (this only includes hits in the PostgreSQL buffer cache, not the operating system's file system cache)",
    ),
    (
        7,
        "pg_stat_database_tup_returned",
        "Number of rows returned by queries in this database",
    ),
    (
        8,
        "pg_stat_database_tup_fetched",
        "Number of rows fetched by queries in this database",
    ),
    (
        9,
        "pg_stat_database_tup_inserted",
        "Number of rows inserted by queries in this database",
    ),
    (
        10,
        "pg_stat_database_tup_updated",
        "Number of rows updated by queries in this database",
    ),
    (
        11,
        "pg_stat_database_tup_deleted",
        "Number of rows deleted by queries in this database",
    ),
    (
        12,
        "pg_stat_database_conflicts",
        "Number of queries canceled due to conflicts with recovery in this database. (Conflicts occur only on standby servers; see pg_stat_database_conflicts for details.)",
    ),
    (
        13,
        "pg_stat_database_temp_files",
        "Number of temporary files created by queries in this database. All temporary files are counted, regardless of why the temporary file was created (e.g., sorting or hashing), and regardless of the log_temp_files setting.",
    ),
    (
        14,
        "pg_stat_database_temp_bytes",
        "Total amount of data written to temporary files by queries in this database. All temporary files are counted, regardless of why the temporary file was created, and regardless of the log_temp_files setting.",
    ),
    (
        15,
        "pg_stat_database_deadlocks",
        "Number of deadlocks detected in this database",
    ),
    (
        16,
        "pg_stat_database_blk_read_time",
        "Time spent reading data file blocks by backends in this database, in milliseconds",
    ),
    (
        17,
        "pg_stat_database_blk_write_time",
        "Time spent writing data file blocks by backends in this database, in milliseconds",
    ),
    (
        18,
        "pg_stat_database_stats_reset",
        "Time at which these statistics were last reset",
    ),
];

pub(super) struct StatDatabase;

impl Collector<Session> for StatDatabase {
    fn collect<'a>(&'a self, t: &'a Session, out: &'a mut MetricSet) -> CollectFuture<'a> {
        Box::pin(async move {
            for r in t.shared(Shared::StatDatabase).await?.iter() {
                let (Some(datid), Some(datname)) = (opt_s(r, 0), opt_s(r, 1)) else {
                    continue;
                };
                let labels = [("datid", datid.as_str()), ("datname", datname.as_str())];
                gauge(
                    out,
                    NUMBACKENDS,
                    NUMBACKENDS_HELP,
                    &labels,
                    f(r, 2).unwrap_or(0.0),
                );
                for (i, name, help) in COUNTERS {
                    counter(out, name, help, &labels, f(r, *i).unwrap_or(0.0));
                }
            }
            Ok(())
        })
    }
}
