//! `stat_activity_autovacuum` (off by default): start time of each running autovacuum worker
//! (upstream `collector/pg_stat_activity_autovacuum.go`).

use mcp_exporter_core::{CollectFuture, Collector, MetricSet};

use crate::queries;
use crate::session::{Session, f, gauge, s};

const TIMESTAMP: &str = "pg_stat_activity_autovacuum_timestamp_seconds";
const TIMESTAMP_HELP: &str = "Start timestamp of the vacuum process in seconds";

pub(super) struct StatActivityAutovacuum;

impl Collector<Session> for StatActivityAutovacuum {
    fn collect<'a>(&'a self, t: &'a Session, out: &'a mut MetricSet) -> CollectFuture<'a> {
        Box::pin(async move {
            for r in t.query(queries::STAT_ACTIVITY_AUTOVACUUM).await? {
                let relname = s(&r, 0);
                gauge(
                    out,
                    TIMESTAMP,
                    TIMESTAMP_HELP,
                    &[("relname", &relname)],
                    f(&r, 1).unwrap_or(0.0),
                );
            }
            Ok(())
        })
    }
}
