//! THE collector table: one row per source of a scrape's samples, each a core
//! [`Collector`](mcp_exporter_core::Collector) run by core's
//! [`CollectorRunner`](mcp_exporter_core::CollectorRunner).
//!
//! All replies arrive in one pipelined round trip ([`crate::pipeline`]) before the collectors run;
//! each then turns its part of the [`Scrape`] into samples. So a collector is a plain function:
//! nothing to await and nothing to fail — a reply that does not parse is skipped, never a panic
//! and never a failed scrape. redis_exporter writes no `scrape_collector_*` samples, so the
//! runner writes none either (`ScrapeNames` = `None`); a connection failure is `redis_up 0`.
//!
//! Names are literal full names with the default namespace (`"redis_connected_clients"`): one
//! grep finds any metric. `--namespace` is applied when the scrape is encoded
//! ([`crate::exporter::apply_namespace`]).
//!
//! Adding a collector: a file here with `pub fn collect(s: &Scrape, out: &mut MetricSet)` and its
//! names at the top, one `entry!` row below, and a golden test in `tests/golden_collectors.rs`.

use std::sync::Arc;

use mcp_exporter_core::MetricSet;
use mcp_exporter_core::collector::{CollectFuture, Collector, CollectorInfo, CollectorRunner};

use crate::config::Options;
use crate::info_parser::Info;
use crate::pipeline::Snapshot;

pub mod clients;
pub mod commandstats;
pub mod config;
pub mod errorstats;
pub mod info;
pub mod keys;
pub mod keyspace;
pub mod latency;
pub mod replication;
pub mod script;
pub mod slowlog;

/// What a collector reads: the raw replies, the parsed INFO, and the options. Owned, so it is
/// core's backend type `T` without a lifetime.
#[derive(Debug)]
pub struct Scrape {
    /// Raw replies (`snap.info` is moved into `info`).
    pub snap: Snapshot,
    /// `INFO ALL`, parsed once.
    pub info: Info,
    /// The exporter's options.
    pub opts: Arc<Options>,
    /// Unix time of the scrape, in seconds (a parameter, so that golden files are stable).
    pub now: f64,
}

impl Scrape {
    /// A scrape's data from the fetched replies, taken now.
    pub fn new(snap: Snapshot, opts: Arc<Options>) -> Self {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        Self::at(snap, opts, now)
    }

    /// A scrape's data from the fetched replies, taken at `now` (unix seconds).
    pub fn at(mut snap: Snapshot, opts: Arc<Options>, now: f64) -> Self {
        let info = Info::parse(std::mem::take(&mut snap.info));
        Scrape {
            snap,
            info,
            opts,
            now,
        }
    }
}

/// A collector over data already fetched.
pub type CollectFn = fn(&Scrape, &mut MetricSet);

struct SyncCollector(CollectFn);

impl Collector<Scrape> for SyncCollector {
    fn collect<'a>(&'a self, scrape: &'a Scrape, out: &'a mut MetricSet) -> CollectFuture<'a> {
        (self.0)(scrape, out);
        Box::pin(async { Ok(()) })
    }
}

/// One row of the table.
pub struct Entry {
    /// Name, and whether it runs by default (every Redis collector does; options such as
    /// `--export-client-list` decide what is fetched).
    pub info: CollectorInfo,
    /// Constructor.
    pub new: fn() -> Box<dyn Collector<Scrape>>,
}

macro_rules! entry {
    ($name:literal, $f:path) => {
        Entry {
            info: CollectorInfo {
                name: $name,
                default_enabled: true,
            },
            new: || Box::new(SyncCollector($f)),
        }
    };
}

/// THE table. Order does not matter: the encoder sorts.
pub const TABLE: &[Entry] = &[
    entry!("info", info::collect),
    entry!("keyspace", keyspace::collect),
    entry!("commandstats", commandstats::collect),
    entry!("errorstats", errorstats::collect),
    entry!("replication", replication::collect),
    entry!("config", config::collect),
    entry!("slowlog", slowlog::collect),
    entry!("latency", latency::collect),
    entry!("clients", clients::collect),
    entry!("keys", keys::collect),
    entry!("script", script::collect),
];

/// The runner over every collector of the table, without per-collector samples (upstream has
/// none).
pub fn runner() -> CollectorRunner<Scrape> {
    CollectorRunner::new(
        TABLE.iter().map(|e| (e.info.name, (e.new)())).collect(),
        None,
    )
}
