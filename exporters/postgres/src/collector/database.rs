//! `database`: `pg_database_size` of every database (upstream `collector/pg_database.go`).
//!
//! One statement for all databases instead of upstream's one per database, and the result is
//! reused for `--cache.database-size-interval` because `pg_database_size` walks every file of the
//! cluster (70% of the server time of a 0.11.1 scrape, see the anchors). `--exclude-databases`
//! applies, as upstream.

use mcp_exporter_core::{CollectFuture, Collector, MetricSet};

use crate::queries;
use crate::session::{Session, f, gauge, s};

const SIZE: &str = "pg_database_size_bytes";
const SIZE_HELP: &str = "Disk space used by the database";

pub(super) struct Database;

impl Collector<Session> for Database {
    fn collect<'a>(&'a self, t: &'a Session, out: &'a mut MetricSet) -> CollectFuture<'a> {
        Box::pin(async move {
            let sizes = match t.caches.database_sizes.get(t.opts.database_size_ttl) {
                Some(v) => v,
                None => {
                    let rows = t.query(queries::DATABASE_SIZE).await?;
                    let v = rows
                        .iter()
                        .map(|r| (s(r, 0), f(r, 1).unwrap_or(0.0)))
                        .collect();
                    t.caches.database_sizes.put(v)
                }
            };
            for (datname, size) in sizes.iter() {
                if t.opts.exclude_databases.iter().any(|d| d == datname) {
                    continue;
                }
                gauge(out, SIZE, SIZE_HELP, &[("datname", datname)], *size);
            }
            Ok(())
        })
    }
}
