//! `stat_statements` (off by default): the top 100 statements of `pg_stat_statements` by total
//! time (upstream `collector/pg_stat_statements.go`). Needs the extension in the connected
//! database. Rows split by `toplevel` (PostgreSQL 14+) are summed, so one
//! (user, datname, queryid) is one series; upstream emits both and fails the scrape with a
//! duplicate-series error.

use mcp_exporter_core::{CollectFuture, Collector, MetricSet};

use crate::queries;
use crate::session::{Session, counter, f, s};

const FAMILIES: &[(usize, &str, &str)] = &[
    (
        3,
        "pg_stat_statements_calls_total",
        "Number of times executed",
    ),
    (
        4,
        "pg_stat_statements_seconds_total",
        "Total time spent in the statement, in seconds",
    ),
    (
        5,
        "pg_stat_statements_rows_total",
        "Total number of rows retrieved or affected by the statement",
    ),
    (
        6,
        "pg_stat_statements_block_read_seconds_total",
        "Total time the statement spent reading blocks, in seconds",
    ),
    (
        7,
        "pg_stat_statements_block_write_seconds_total",
        "Total time the statement spent writing blocks, in seconds",
    ),
];

pub(super) struct StatStatements;

impl Collector<Session> for StatStatements {
    fn collect<'a>(&'a self, t: &'a Session, out: &'a mut MetricSet) -> CollectFuture<'a> {
        Box::pin(async move {
            let sql = queries::stat_statements(t.version_num());
            for r in t.query(sql).await? {
                let (user, datname, queryid) = (s(&r, 0), s(&r, 1), s(&r, 2));
                let labels = [
                    ("user", user.as_str()),
                    ("datname", datname.as_str()),
                    ("queryid", queryid.as_str()),
                ];
                for (i, name, help) in FAMILIES {
                    counter(out, name, help, &labels, f(&r, *i).unwrap_or(0.0));
                }
            }
            Ok(())
        })
    }
}
