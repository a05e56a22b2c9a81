//! `statio_user_indexes` (off by default): block reads and hits per index (upstream
//! `collector/pg_statio_user_indexes.go`).

use mcp_exporter_core::{CollectFuture, Collector, MetricSet};

use crate::queries;
use crate::session::{Session, counter, f, s};

const READ: &str = "pg_statio_user_indexes_idx_blks_read_total";
const READ_HELP: &str = "Number of disk blocks read from this index";
const HIT: &str = "pg_statio_user_indexes_idx_blks_hit_total";
const HIT_HELP: &str = "Number of buffer hits in this index";

pub(super) struct StatioUserIndexes;

impl Collector<Session> for StatioUserIndexes {
    fn collect<'a>(&'a self, t: &'a Session, out: &'a mut MetricSet) -> CollectFuture<'a> {
        Box::pin(async move {
            for r in t.query(queries::STATIO_USER_INDEXES).await? {
                let (schema, rel, index) = (s(&r, 0), s(&r, 1), s(&r, 2));
                let labels = [
                    ("schemaname", schema.as_str()),
                    ("relname", rel.as_str()),
                    ("indexrelname", index.as_str()),
                ];
                counter(out, READ, READ_HELP, &labels, f(&r, 3).unwrap_or(0.0));
                counter(out, HIT, HIT_HELP, &labels, f(&r, 4).unwrap_or(0.0));
            }
            Ok(())
        })
    }
}
