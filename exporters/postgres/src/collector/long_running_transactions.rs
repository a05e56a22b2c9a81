//! `long_running_transactions` (off by default): transactions that are not idle, and the age of the
//! oldest (upstream `collector/pg_long_running_transactions.go`).

use mcp_exporter_core::{CollectFuture, Collector, MetricSet};

use crate::queries;
use crate::session::{Session, f, gauge};

const COUNT: &str = "pg_long_running_transactions";
const COUNT_HELP: &str = "Current number of long running transactions";
const OLDEST: &str = "pg_long_running_transactions_oldest_timestamp_seconds";
const OLDEST_HELP: &str = "The current maximum transaction age in seconds";

pub(super) struct LongRunningTransactions;

impl Collector<Session> for LongRunningTransactions {
    fn collect<'a>(&'a self, t: &'a Session, out: &'a mut MetricSet) -> CollectFuture<'a> {
        Box::pin(async move {
            if let Some(r) = t.query(queries::LONG_RUNNING_TRANSACTIONS).await?.first() {
                gauge(out, COUNT, COUNT_HELP, &[], f(r, 0).unwrap_or(0.0));
                gauge(out, OLDEST, OLDEST_HELP, &[], f(r, 1).unwrap_or(0.0));
            }
            Ok(())
        })
    }
}
