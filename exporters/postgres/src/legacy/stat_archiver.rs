//! `pg_stat_archiver_*` (upstream built-in map `pg_stat_archiver`), read from the shared instance
//! row. `last_archive_age` is NaN before the first archived segment, as upstream.

use mcp_exporter_core::{CollectFuture, Collector, MetricSet, MetricType};

use crate::queries::instance_col as col;
use crate::session::{LegacySpec, Session, Shared, f};

const ARCHIVED: LegacySpec = (
    "pg_stat_archiver_archived_count",
    "Number of WAL files that have been successfully archived",
    MetricType::Counter,
    true,
);
const FAILED: LegacySpec = (
    "pg_stat_archiver_failed_count",
    "Number of failed attempts for archiving WAL files",
    MetricType::Counter,
    true,
);
const AGE: LegacySpec = (
    "pg_stat_archiver_last_archive_age",
    "Time in seconds since last WAL segment was successfully archived",
    MetricType::Gauge,
    true,
);

pub(super) struct StatArchiver;

impl Collector<Session> for StatArchiver {
    fn collect<'a>(&'a self, t: &'a Session, out: &'a mut MetricSet) -> CollectFuture<'a> {
        Box::pin(async move {
            let rows = t.shared(Shared::Instance).await?;
            if let Some(r) = rows.first() {
                t.legacy(out, ARCHIVED, &[], f(r, col::ARCHIVED_COUNT).unwrap_or(0.0));
                t.legacy(out, FAILED, &[], f(r, col::FAILED_COUNT).unwrap_or(0.0));
                t.legacy(
                    out,
                    AGE,
                    &[],
                    f(r, col::LAST_ARCHIVE_AGE).unwrap_or(f64::NAN),
                );
            }
            Ok(())
        })
    }
}
