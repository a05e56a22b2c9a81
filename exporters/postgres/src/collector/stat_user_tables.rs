//! `stat_user_tables`: `pg_stat_user_tables` of the connected database (upstream v0.15
//! `collector/pg_stat_user_tables.go`, including `size_bytes` = `pg_total_relation_size`).
//! `pg_total_relation_size` waits for a relation lock held in ACCESS EXCLUSIVE mode, so this
//! statement stays alone: a locked table fails this collector only.

use mcp_exporter_core::{CollectFuture, Collector, MetricSet, MetricType};

use crate::queries;
use crate::session::{Session, counter, f, gauge, opt_s};

const G: MetricType = MetricType::Gauge;
const C: MetricType = MetricType::Counter;

/// (column, type, name, HELP).
const FAMILIES: &[(usize, MetricType, &str, &str)] = &[
    (
        3,
        C,
        "pg_stat_user_tables_seq_scan",
        "Number of sequential scans initiated on this table",
    ),
    (
        4,
        C,
        "pg_stat_user_tables_seq_tup_read",
        "Number of live rows fetched by sequential scans",
    ),
    (
        5,
        C,
        "pg_stat_user_tables_idx_scan",
        "Number of index scans initiated on this table",
    ),
    (
        6,
        C,
        "pg_stat_user_tables_idx_tup_fetch",
        "Number of live rows fetched by index scans",
    ),
    (
        7,
        C,
        "pg_stat_user_tables_n_tup_ins",
        "Number of rows inserted",
    ),
    (
        8,
        C,
        "pg_stat_user_tables_n_tup_upd",
        "Number of rows updated",
    ),
    (
        9,
        C,
        "pg_stat_user_tables_n_tup_del",
        "Number of rows deleted",
    ),
    (
        10,
        C,
        "pg_stat_user_tables_n_tup_hot_upd",
        "Number of rows HOT updated (i.e., with no separate index update required)",
    ),
    (
        11,
        G,
        "pg_stat_user_tables_n_live_tup",
        "Estimated number of live rows",
    ),
    (
        12,
        G,
        "pg_stat_user_tables_n_dead_tup",
        "Estimated number of dead rows",
    ),
    (
        13,
        G,
        "pg_stat_user_tables_n_mod_since_analyze",
        "Estimated number of rows changed since last analyze",
    ),
    (
        14,
        G,
        "pg_stat_user_tables_last_vacuum",
        "Last time at which this table was manually vacuumed (not counting VACUUM FULL)",
    ),
    (
        15,
        G,
        "pg_stat_user_tables_last_autovacuum",
        "Last time at which this table was vacuumed by the autovacuum daemon",
    ),
    (
        16,
        G,
        "pg_stat_user_tables_last_analyze",
        "Last time at which this table was manually analyzed",
    ),
    (
        17,
        G,
        "pg_stat_user_tables_last_autoanalyze",
        "Last time at which this table was analyzed by the autovacuum daemon",
    ),
    (
        18,
        C,
        "pg_stat_user_tables_vacuum_count",
        "Number of times this table has been manually vacuumed (not counting VACUUM FULL)",
    ),
    (
        19,
        C,
        "pg_stat_user_tables_autovacuum_count",
        "Number of times this table has been vacuumed by the autovacuum daemon",
    ),
    (
        20,
        C,
        "pg_stat_user_tables_analyze_count",
        "Number of times this table has been manually analyzed",
    ),
    (
        21,
        C,
        "pg_stat_user_tables_autoanalyze_count",
        "Number of times this table has been analyzed by the autovacuum daemon",
    ),
    (
        22,
        G,
        "pg_stat_user_tables_size_bytes",
        "Total disk space used by this table, in bytes",
    ),
];

pub(super) struct StatUserTables;

impl Collector<Session> for StatUserTables {
    fn collect<'a>(&'a self, t: &'a Session, out: &'a mut MetricSet) -> CollectFuture<'a> {
        Box::pin(async move {
            for r in t.query(queries::STAT_USER_TABLES).await? {
                let name = |i| opt_s(&r, i).unwrap_or_else(|| "unknown".to_owned());
                let (datname, schemaname, relname) = (name(0), name(1), name(2));
                let labels = [
                    ("datname", datname.as_str()),
                    ("schemaname", schemaname.as_str()),
                    ("relname", relname.as_str()),
                ];
                for (i, kind, metric, help) in FAMILIES {
                    let v = f(&r, *i).unwrap_or(0.0);
                    match kind {
                        MetricType::Counter => counter(out, metric, help, &labels, v),
                        _ => gauge(out, metric, help, &labels, v),
                    }
                }
            }
            Ok(())
        })
    }
}
