//! `database_wraparound` (off by default): xid and multixact ages per database
//! (upstream `collector/pg_database_wraparound.go`; the `_seconds` suffix is upstream's, the value
//! is an age in transactions).

use mcp_exporter_core::{CollectFuture, Collector, MetricSet};

use crate::queries;
use crate::session::{Session, f, gauge, s};

const FROZENXID: &str = "pg_database_wraparound_age_datfrozenxid_seconds";
const FROZENXID_HELP: &str = "Age of the oldest transaction ID that has not been frozen.";
const MINMXID: &str = "pg_database_wraparound_age_datminmxid_seconds";
const MINMXID_HELP: &str =
    "Age of the oldest multi-transaction ID that has been replaced with a transaction ID.";

pub(super) struct DatabaseWraparound;

impl Collector<Session> for DatabaseWraparound {
    fn collect<'a>(&'a self, t: &'a Session, out: &'a mut MetricSet) -> CollectFuture<'a> {
        Box::pin(async move {
            for r in t.query(queries::DATABASE_WRAPAROUND).await? {
                let datname = s(&r, 0);
                let labels = [("datname", datname.as_str())];
                gauge(
                    out,
                    FROZENXID,
                    FROZENXID_HELP,
                    &labels,
                    f(&r, 1).unwrap_or(0.0),
                );
                gauge(out, MINMXID, MINMXID_HELP, &labels, f(&r, 2).unwrap_or(0.0));
            }
            Ok(())
        })
    }
}
