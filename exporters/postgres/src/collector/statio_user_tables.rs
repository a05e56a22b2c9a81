//! `statio_user_tables`: `pg_statio_user_tables` of the connected database (upstream
//! `collector/pg_statio_user_tables.go`; names say `blocks` where the view says `blks`).

use mcp_exporter_core::{CollectFuture, Collector, MetricSet};

use crate::queries;
use crate::session::{Session, counter, f, opt_s};

const FAMILIES: &[(usize, &str, &str)] = &[
    (
        3,
        "pg_statio_user_tables_heap_blocks_read",
        "Number of disk blocks read from this table",
    ),
    (
        4,
        "pg_statio_user_tables_heap_blocks_hit",
        "Number of buffer hits in this table",
    ),
    (
        5,
        "pg_statio_user_tables_idx_blocks_read",
        "Number of disk blocks read from all indexes on this table",
    ),
    (
        6,
        "pg_statio_user_tables_idx_blocks_hit",
        "Number of buffer hits in all indexes on this table",
    ),
    (
        7,
        "pg_statio_user_tables_toast_blocks_read",
        "Number of disk blocks read from this table's TOAST table (if any)",
    ),
    (
        8,
        "pg_statio_user_tables_toast_blocks_hit",
        "Number of buffer hits in this table's TOAST table (if any)",
    ),
    (
        9,
        "pg_statio_user_tables_tidx_blocks_read",
        "Number of disk blocks read from this table's TOAST table indexes (if any)",
    ),
    (
        10,
        "pg_statio_user_tables_tidx_blocks_hit",
        "Number of buffer hits in this table's TOAST table indexes (if any)",
    ),
];

pub(super) struct StatioUserTables;

impl Collector<Session> for StatioUserTables {
    fn collect<'a>(&'a self, t: &'a Session, out: &'a mut MetricSet) -> CollectFuture<'a> {
        Box::pin(async move {
            for r in t.query(queries::STATIO_USER_TABLES).await? {
                let name = |i| opt_s(&r, i).unwrap_or_else(|| "unknown".to_owned());
                let (datname, schemaname, relname) = (name(0), name(1), name(2));
                let labels = [
                    ("datname", datname.as_str()),
                    ("schemaname", schemaname.as_str()),
                    ("relname", relname.as_str()),
                ];
                for (i, metric, help) in FAMILIES {
                    counter(out, metric, help, &labels, f(&r, *i).unwrap_or(0.0));
                }
            }
            Ok(())
        })
    }
}
