//! `postmaster` (off by default): `pg_postmaster_start_time()` (upstream
//! `collector/pg_postmaster.go`), read from the shared instance row.

use mcp_exporter_core::{CollectFuture, Collector, MetricSet};

use crate::queries::instance_col as col;
use crate::session::{Session, Shared, f, gauge};

const START: &str = "pg_postmaster_start_time_seconds";
const START_HELP: &str = "Time at which postmaster started";

pub(super) struct Postmaster;

impl Collector<Session> for Postmaster {
    fn collect<'a>(&'a self, t: &'a Session, out: &'a mut MetricSet) -> CollectFuture<'a> {
        Box::pin(async move {
            let rows = t.shared(Shared::Instance).await?;
            if let Some(v) = rows.first().and_then(|r| f(r, col::POSTMASTER_START)) {
                gauge(out, START, START_HELP, &[], v);
            }
            Ok(())
        })
    }
}
