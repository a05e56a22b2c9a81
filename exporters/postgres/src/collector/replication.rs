//! `replication`: lag behind the primary and whether this server is a replica (upstream
//! `collector/pg_replication.go`), read from the shared instance row.

use mcp_exporter_core::{CollectFuture, Collector, MetricSet};

use crate::queries::instance_col as col;
use crate::session::{Session, Shared, f, gauge};

const LAG: &str = "pg_replication_lag_seconds";
const LAG_HELP: &str = "Replication lag behind master in seconds";
const IS_REPLICA: &str = "pg_replication_is_replica";
const IS_REPLICA_HELP: &str = "Indicates if the server is a replica";

pub(super) struct Replication;

impl Collector<Session> for Replication {
    fn collect<'a>(&'a self, t: &'a Session, out: &'a mut MetricSet) -> CollectFuture<'a> {
        Box::pin(async move {
            let rows = t.shared(Shared::Instance).await?;
            if let Some(r) = rows.first() {
                gauge(
                    out,
                    LAG,
                    LAG_HELP,
                    &[],
                    f(r, col::REPLICATION_LAG).unwrap_or(0.0),
                );
                gauge(
                    out,
                    IS_REPLICA,
                    IS_REPLICA_HELP,
                    &[],
                    f(r, col::IS_REPLICA).unwrap_or(0.0),
                );
            }
            Ok(())
        })
    }
}
