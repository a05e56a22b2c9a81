//! `wal`: number and total size of WAL segments (upstream `collector/pg_wal.go`). `pg_ls_waldir()`
//! needs superuser or `pg_monitor`; without it this collector fails alone (#1100).

use mcp_exporter_core::{CollectFuture, Collector, MetricSet};

use crate::queries;
use crate::session::{Session, f, gauge};

const SEGMENTS: &str = "pg_wal_segments";
const SEGMENTS_HELP: &str = "Number of WAL segments";
const SIZE: &str = "pg_wal_size_bytes";
const SIZE_HELP: &str = "Total size of WAL segments";

pub(super) struct Wal;

impl Collector<Session> for Wal {
    fn collect<'a>(&'a self, t: &'a Session, out: &'a mut MetricSet) -> CollectFuture<'a> {
        Box::pin(async move {
            if let Some(r) = t.query(queries::WAL).await?.first() {
                gauge(out, SEGMENTS, SEGMENTS_HELP, &[], f(r, 0).unwrap_or(0.0));
                gauge(out, SIZE, SIZE_HELP, &[], f(r, 1).unwrap_or(0.0));
            }
            Ok(())
        })
    }
}
