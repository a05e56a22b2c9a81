//! `process_idle` (off by default): how long idle backends have been idle, as a histogram per
//! `application_name` (upstream `collector/pg_process_idle.go`). Upstream reads only the first row
//! and counts non-idle backends in the buckets; this emits one histogram per application over idle
//! backends only.

use mcp_exporter_core::{CollectFuture, Collector, MetricSet};

use crate::queries;
use crate::session::{Session, f, s};

const IDLE: &str = "pg_process_idle_seconds";
const IDLE_HELP: &str = "Idle time of server processes";

pub(super) struct ProcessIdle;

impl Collector<Session> for ProcessIdle {
    fn collect<'a>(&'a self, t: &'a Session, out: &'a mut MetricSet) -> CollectFuture<'a> {
        Box::pin(async move {
            for r in t.query(queries::PROCESS_IDLE).await? {
                let app = s(&r, 0);
                let count = r.try_get::<_, i64>(2).unwrap_or(0).max(0) as u64;
                let buckets = queries::PROCESS_IDLE_BUCKETS
                    .iter()
                    .enumerate()
                    .map(|(i, le)| {
                        let c = r.try_get::<_, i64>(3 + i).unwrap_or(0).max(0) as u64;
                        (*le, c)
                    })
                    .collect();
                out.histogram(
                    IDLE,
                    IDLE_HELP,
                    &[("application_name", &app)],
                    buckets,
                    f(&r, 1).unwrap_or(0.0),
                    count,
                );
            }
            Ok(())
        })
    }
}
