//! `stat_bgwriter`: `pg_stat_bgwriter` counters with upstream's `_total` names (upstream
//! `collector/pg_stat_bgwriter.go`). On PostgreSQL 17 the checkpoint counters come from
//! `pg_stat_checkpointer` under the same names (upstream v0.15 fails there, #1060), and
//! `buffers_backend`/`buffers_backend_fsync`, which no longer exist, are left out.

use mcp_exporter_core::{CollectFuture, Collector, MetricSet};

use crate::queries::instance_col as col;
use crate::session::{Session, Shared, counter, f};

/// (column, name, HELP) of every family.
const FAMILIES: &[(usize, &str, &str)] = &[
    (
        col::CHECKPOINTS_TIMED,
        "pg_stat_bgwriter_checkpoints_timed_total",
        "Number of scheduled checkpoints that have been performed",
    ),
    (
        col::CHECKPOINTS_REQ,
        "pg_stat_bgwriter_checkpoints_req_total",
        "Number of requested checkpoints that have been performed",
    ),
    (
        col::CHECKPOINT_WRITE_TIME,
        "pg_stat_bgwriter_checkpoint_write_time_total",
        "Total amount of time that has been spent in the portion of checkpoint processing where files are written to disk, in milliseconds",
    ),
    (
        col::CHECKPOINT_SYNC_TIME,
        "pg_stat_bgwriter_checkpoint_sync_time_total",
        "Total amount of time that has been spent in the portion of checkpoint processing where files are synchronized to disk, in milliseconds",
    ),
    (
        col::BUFFERS_CHECKPOINT,
        "pg_stat_bgwriter_buffers_checkpoint_total",
        "Number of buffers written during checkpoints",
    ),
    (
        col::BUFFERS_CLEAN,
        "pg_stat_bgwriter_buffers_clean_total",
        "Number of buffers written by the background writer",
    ),
    (
        col::MAXWRITTEN_CLEAN,
        "pg_stat_bgwriter_maxwritten_clean_total",
        "Number of times the background writer stopped a cleaning scan because it had written too many buffers",
    ),
    (
        col::BUFFERS_BACKEND,
        "pg_stat_bgwriter_buffers_backend_total",
        "Number of buffers written directly by a backend",
    ),
    (
        col::BUFFERS_BACKEND_FSYNC,
        "pg_stat_bgwriter_buffers_backend_fsync_total",
        "Number of times a backend had to execute its own fsync call (normally the background writer handles those even when the backend does its own write)",
    ),
    (
        col::BUFFERS_ALLOC,
        "pg_stat_bgwriter_buffers_alloc_total",
        "Number of buffers allocated",
    ),
    (
        col::STATS_RESET,
        "pg_stat_bgwriter_stats_reset_total",
        "Time at which these statistics were last reset",
    ),
];

pub(super) struct StatBgwriter;

impl Collector<Session> for StatBgwriter {
    fn collect<'a>(&'a self, t: &'a Session, out: &'a mut MetricSet) -> CollectFuture<'a> {
        Box::pin(async move {
            let rows = t.shared(Shared::Instance).await?;
            if let Some(r) = rows.first() {
                for (i, name, help) in FAMILIES {
                    if let Some(v) = f(r, *i) {
                        counter(out, name, help, &[], v);
                    }
                }
            }
            Ok(())
        })
    }
}
