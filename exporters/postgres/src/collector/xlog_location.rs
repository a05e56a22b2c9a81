//! `xlog_location` (off by default): the WAL position in bytes (upstream
//! `collector/pg_xlog_location.go`, which calls the pre-PostgreSQL-10 `pg_current_xlog_location`
//! and so fails on every supported version; this uses `pg_current_wal_lsn`, or the replayed
//! position on a replica).

use mcp_exporter_core::{CollectFuture, Collector, MetricSet};

use crate::queries;
use crate::session::{Session, f, gauge};

const BYTES: &str = "pg_xlog_location_bytes";
const BYTES_HELP: &str = "Postgres LSN (log sequence number) being generated on primary or replayed on replica (truncated to low 52 bits)";

pub(super) struct XlogLocation;

impl Collector<Session> for XlogLocation {
    fn collect<'a>(&'a self, t: &'a Session, out: &'a mut MetricSet) -> CollectFuture<'a> {
        Box::pin(async move {
            if let Some(v) = t
                .query(queries::XLOG_LOCATION)
                .await?
                .first()
                .and_then(|r| f(r, 0))
            {
                gauge(out, BYTES, BYTES_HELP, &[], v);
            }
            Ok(())
        })
    }
}
