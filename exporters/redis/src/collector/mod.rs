//! The collector table: one row per source of a scrape's replies.
//!
//! All replies arrive in one pipelined round trip ([`crate::target::Target::fetch`]); each
//! collector then turns its part of the [`Scrape`] into samples. A collector is a plain function:
//! the data is already fetched, so there is nothing to await and nothing to fail — a reply that
//! does not parse is skipped, never a panic and never a failed scrape.

use mcp_exporter_core::MetricSet;

use crate::Options;
use crate::info::Info;
use crate::target::Snapshot;

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

/// What a collector reads: the raw replies, the parsed INFO, and the options.
#[derive(Debug)]
pub struct Scrape<'a> {
    /// Raw replies.
    pub snap: &'a Snapshot,
    /// `INFO ALL`, parsed.
    pub info: Info<'a>,
    /// The exporter's options.
    pub opts: &'a Options,
    /// Metric name prefix (`--namespace`, default `redis`).
    pub ns: &'a str,
}

impl Scrape<'_> {
    /// `<namespace>_<name>`, built once per process (see `info::interned`).
    pub fn name(&self, name: &str) -> mcp_exporter_core::encoder::Text {
        info::interned(self.ns, name).0
    }
}

/// A collector: reads its part of the scrape, writes samples.
pub type CollectFn = fn(&Scrape<'_>, &mut MetricSet);

/// THE table. Order does not matter: the encoder sorts.
pub const COLLECTORS: &[(&str, CollectFn)] = &[
    ("info", info::collect),
    ("keyspace", keyspace::collect),
    ("commandstats", commandstats::collect),
    ("errorstats", errorstats::collect),
    ("replication", replication::collect),
    ("config", config::collect),
    ("slowlog", slowlog::collect),
    ("latency", latency::collect),
    ("clients", clients::collect),
    ("keys", keys::collect),
    ("script", script::collect),
];

/// Runs every collector over one scrape.
pub fn collect_all(scrape: &Scrape<'_>, out: &mut MetricSet) {
    for (_, collect) in COLLECTORS {
        collect(scrape, out);
    }
}
