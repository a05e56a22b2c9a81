//! The shared core of the mcp exporters.
//!
//! - [`encoder`]: the Prometheus text format 0.0.4 written the way client_golang writes it.
//! - [`collector`]: the [`Collector`] trait, the collector table behind `--[no-]collector.<name>`, and
//!   the runner that turns a failing collector into `*_scrape_collector_success 0`.
//! - [`web`]: `--web.*` flags, TLS and basic auth from the exporter-toolkit web config file, the
//!   landing page, `/-/healthy`, scrape timeouts and gzip.
//! - [`coalesce`]: concurrent scrapes of one target share one collection.
//! - [`exporter`]: the [`Exporter`] descriptor every exporter crate implements, and the one
//!   `main` over it that the binaries call.
//! - [`logging`], [`cli`], [`process`]: `--log.*`, one-line flag errors, and `process_*` metrics.
//!
//! The collectors are object-safe through boxed futures ([`collector::CollectFuture`]): an
//! exporter's one table is a `&[CollectorEntry<Backend>]` (name, default, constructor) and a
//! [`CollectorRunner`] holds the enabled ones.

// deny, not forbid: the allocator (alloc.rs, static musl builds) is the one audited exception.
#![deny(unsafe_code)]

pub mod body;
pub mod cli;
pub mod coalesce;
pub mod collector;
pub mod encoder;
pub mod exporter;
pub mod logging;
pub mod process;
pub mod time;
pub mod tls;
pub mod web;
pub mod yaml;

pub use collector::{
    CollectError, CollectFuture, Collector, CollectorEntry, CollectorInfo, CollectorRunner,
};
pub use encoder::{MetricSet, MetricType};
pub use exporter::Exporter;

#[cfg(target_os = "linux")]
pub mod alloc;

/// Makes dlmalloc the global allocator of a static musl build (what we ship and benchmark, see
/// BENCHMARKS.md): musl's own allocator is built for hardening, not speed, and cost measurably
/// more CPU per scrape. glibc builds keep glibc's allocator. Call once, in a binary's `main.rs`.
/// The heap is guarded by a futex mutex rather than dlmalloc's pthread one ([`alloc`]).
#[macro_export]
macro_rules! musl_allocator {
    () => {
        #[cfg(target_env = "musl")]
        #[global_allocator]
        static GLOBAL: $crate::alloc::LockedDlmalloc = $crate::alloc::LockedDlmalloc::new();
    };
}
