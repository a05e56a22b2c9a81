//! The collector trait, the collector table and the runner that turns failures into samples.
//!
//! A collector is one file in an exporter's `collector/` directory. It reads one source (an INFO
//! section, a `pg_stat_*` view, a `/proc` file) from a backend handle `T` and writes samples into a
//! [`MetricSet`]. The trait returns a boxed future so that a table of `Box<dyn Collector<T>>` can
//! mix collectors (async fn in traits is not object safe); host collectors that only read files
//! return a ready future.
//!
//! Each exporter declares one table of [`CollectorInfo`] rows (name, enabled by default). From it
//! come the `--[no-]collector.<name>` flags ([`add_collector_flags`]), the `collector` label, and the
//! `<ns>_scrape_collector_{duration_seconds,success}` samples written by [`CollectorRunner`].

use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use clap::{Arg, ArgAction, ArgMatches, Command};

use crate::encoder::MetricSet;

/// The future a collector returns.
pub type CollectFuture<'a> = Pin<Box<dyn Future<Output = Result<(), CollectError>> + Send + 'a>>;

/// Why a collector failed. The runner turns it into `..._scrape_collector_success 0` and one log line
/// per state change.
#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    /// The backend could not be reached or answered with an error.
    #[error("backend error: {0}")]
    Backend(String),
    /// The backend's answer could not be parsed.
    #[error("parse error: {0}")]
    Parse(String),
    /// A file could not be read.
    #[error("io error: {0}")]
    Io(#[from] std::io::Error),
    /// The scrape deadline passed before the collector finished.
    #[error("timed out")]
    Timeout,
}

/// One collector of an exporter, over the backend handle `T`.
pub trait Collector<T: ?Sized>: Send + Sync {
    /// Reads the source and writes samples. "No data" is `Ok(())` with nothing written.
    fn collect<'a>(&'a self, target: &'a T, out: &'a mut MetricSet) -> CollectFuture<'a>;
}

/// A row of an exporter's collector table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CollectorInfo {
    /// The flag suffix, the `collector` label value and the file stem.
    pub name: &'static str,
    /// Whether the collector runs without `--collector.<name>`.
    pub default_enabled: bool,
}

const DISABLE_DEFAULTS: &str = "collector.disable-defaults";

/// Adds `--collector.<name>` / `--no-collector.<name>` for every row, and
/// `--collector.disable-defaults`, as kingpin does for node_exporter and postgres_exporter.
pub fn add_collector_flags(mut cmd: Command, table: &[CollectorInfo]) -> Command {
    cmd = cmd.arg(
        Arg::new(DISABLE_DEFAULTS)
            .long(DISABLE_DEFAULTS)
            .action(ArgAction::SetTrue)
            .help("Set all collectors to disabled by default."),
    );
    for info in table {
        let on: &'static str = leak(format!("collector.{}", info.name));
        let off: &'static str = leak(format!("no-collector.{}", info.name));
        let state = if info.default_enabled {
            "enabled"
        } else {
            "disabled"
        };
        cmd = cmd
            .arg(
                Arg::new(on)
                    .long(on)
                    .action(ArgAction::SetTrue)
                    .overrides_with(off)
                    .help(format!(
                        "Enable the {} collector (default: {state}).",
                        info.name
                    )),
            )
            .arg(
                Arg::new(off)
                    .long(off)
                    .action(ArgAction::SetTrue)
                    .overrides_with(on)
                    .hide(true),
            );
    }
    cmd
}

// Flag names must be `'static` for clap's `Arg::new`/`long`; the table is fixed and built once per
// process, so the few bytes leaked are bounded.
fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

/// The set of enabled collector names after `--[no-]collector.*` and `--collector.disable-defaults`.
pub fn enabled_collectors(matches: &ArgMatches, table: &[CollectorInfo]) -> BTreeSet<&'static str> {
    let disable_defaults = matches.get_flag(DISABLE_DEFAULTS);
    table
        .iter()
        .filter(|info| {
            let on = flag(matches, &format!("collector.{}", info.name));
            let off = flag(matches, &format!("no-collector.{}", info.name));
            if on {
                true
            } else if off {
                false
            } else {
                info.default_enabled && !disable_defaults
            }
        })
        .map(|info| info.name)
        .collect()
}

fn flag(matches: &ArgMatches, id: &str) -> bool {
    matches.try_get_one::<bool>(id).ok().flatten().copied() == Some(true)
}

/// Names the collector label and the HELP prefix of the per-collector samples.
#[derive(Debug, Clone, Copy)]
pub struct ScrapeNames {
    /// `node_scrape_collector_duration_seconds`, `pg_scrape_collector_duration_seconds`, ...
    pub duration: &'static str,
    /// HELP of the duration family, e.g. `node_exporter: Duration of a collector scrape.`
    pub duration_help: &'static str,
    /// `node_scrape_collector_success`, ...
    pub success: &'static str,
    /// HELP of the success family, e.g. `node_exporter: Whether a collector succeeded.`
    pub success_help: &'static str,
}

/// The outcome of one collector in one scrape.
#[derive(Debug)]
pub struct CollectorOutcome {
    /// Collector name.
    pub name: &'static str,
    /// How long it ran.
    pub duration: Duration,
    /// Its error, if it failed.
    pub error: Option<CollectError>,
}

/// Runs a set of collectors concurrently under one deadline, writes their samples plus
/// `*_scrape_collector_{duration_seconds,success}`, and logs each collector's failure once per
/// state change (not on every scrape).
pub struct CollectorRunner<T: ?Sized> {
    collectors: Vec<(&'static str, Box<dyn Collector<T>>)>,
    names: Option<ScrapeNames>,
    failing: Mutex<HashMap<&'static str, bool>>,
}

impl<T: ?Sized + Sync> CollectorRunner<T> {
    /// A runner over `(name, collector)` pairs. With `names = None` no per-collector samples are
    /// written (redis_exporter has none).
    pub fn new(
        collectors: Vec<(&'static str, Box<dyn Collector<T>>)>,
        names: Option<ScrapeNames>,
    ) -> Self {
        Self {
            collectors,
            names,
            failing: Mutex::new(HashMap::new()),
        }
    }

    /// The names of the collectors this runner holds.
    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.collectors.iter().map(|(n, _)| *n)
    }

    /// Runs every collector against `target` until `deadline`. A collector still running at the
    /// deadline is cancelled and reported as failed; its partial samples are discarded.
    pub async fn run(
        &self,
        target: &T,
        deadline: tokio::time::Instant,
        out: &mut MetricSet,
    ) -> Vec<CollectorOutcome> {
        let futures = self.collectors.iter().map(|(name, collector)| async move {
            let mut set = MetricSet::new();
            let start = Instant::now();
            let result =
                tokio::time::timeout_at(deadline, collector.collect(target, &mut set)).await;
            let error = match result {
                Ok(Ok(())) => None,
                Ok(Err(error)) => Some(error),
                Err(_) => Some(CollectError::Timeout),
            };
            (
                set,
                CollectorOutcome {
                    name,
                    duration: start.elapsed(),
                    error,
                },
            )
        });
        let results = futures_util::future::join_all(futures).await;
        let mut outcomes = Vec::with_capacity(results.len());
        for (set, outcome) in results {
            if outcome.error.is_none() {
                out.extend(set);
            }
            self.record(out, &outcome);
            outcomes.push(outcome);
        }
        outcomes
    }

    /// Writes the per-collector samples for a collector that could not run at all (the backend is
    /// down), so every collector still reports `success 0` — postgres_exporter emits nothing there.
    pub fn mark_all_failed(&self, out: &mut MetricSet, error: &str) {
        for (name, _) in &self.collectors {
            let outcome = CollectorOutcome {
                name,
                duration: Duration::ZERO,
                error: Some(CollectError::Backend(error.to_owned())),
            };
            self.record(out, &outcome);
        }
    }

    fn record(&self, out: &mut MetricSet, outcome: &CollectorOutcome) {
        let failed = outcome.error.is_some();
        let changed = match self.failing.lock() {
            Ok(mut map) => map.insert(outcome.name, failed) != Some(failed),
            Err(_) => true,
        };
        if changed {
            match &outcome.error {
                Some(error) => tracing::warn!(
                    collector = outcome.name,
                    error = %error,
                    "Collector failed."
                ),
                None => tracing::debug!(collector = outcome.name, "Collector succeeded."),
            }
        }
        if let Some(names) = self.names {
            let labels = [("collector", outcome.name)];
            out.gauge(
                names.duration,
                names.duration_help,
                &labels,
                outcome.duration.as_secs_f64(),
            );
            out.gauge(
                names.success,
                names.success_help,
                &labels,
                if failed { 0.0 } else { 1.0 },
            );
        }
    }
}

impl<T: ?Sized> std::fmt::Debug for CollectorRunner<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CollectorRunner")
            .field(
                "collectors",
                &self.collectors.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
            )
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TABLE: &[CollectorInfo] = &[
        CollectorInfo {
            name: "a",
            default_enabled: true,
        },
        CollectorInfo {
            name: "b",
            default_enabled: false,
        },
    ];

    fn parse(args: &[&str]) -> BTreeSet<&'static str> {
        let cmd = add_collector_flags(Command::new("t"), TABLE);
        let m = cmd.try_get_matches_from(args).unwrap();
        enabled_collectors(&m, TABLE)
    }

    #[test]
    fn collector_flags_follow_defaults_and_overrides() {
        assert_eq!(parse(&["t"]), BTreeSet::from(["a"]));
        assert_eq!(parse(&["t", "--collector.b"]), BTreeSet::from(["a", "b"]));
        assert_eq!(parse(&["t", "--no-collector.a"]), BTreeSet::new());
        assert_eq!(
            parse(&["t", "--collector.disable-defaults", "--collector.b"]),
            BTreeSet::from(["b"])
        );
        assert_eq!(
            parse(&["t", "--no-collector.b", "--collector.b"]),
            BTreeSet::from(["a", "b"])
        );
    }

    #[test]
    fn unknown_collector_flag_is_an_error() {
        let cmd = add_collector_flags(Command::new("t"), TABLE);
        assert!(cmd.try_get_matches_from(["t", "--collector.zzz"]).is_err());
    }

    struct Ok1;
    impl Collector<()> for Ok1 {
        fn collect<'a>(&'a self, _: &'a (), out: &'a mut MetricSet) -> CollectFuture<'a> {
            Box::pin(async move {
                out.gauge("ok_metric", "h", &[], 1.0);
                Ok(())
            })
        }
    }
    struct Fails;
    impl Collector<()> for Fails {
        fn collect<'a>(&'a self, _: &'a (), out: &'a mut MetricSet) -> CollectFuture<'a> {
            Box::pin(async move {
                out.gauge("partial_metric", "h", &[], 1.0);
                Err(CollectError::Parse("bad".into()))
            })
        }
    }
    struct Hangs;
    impl Collector<()> for Hangs {
        fn collect<'a>(&'a self, _: &'a (), _: &'a mut MetricSet) -> CollectFuture<'a> {
            Box::pin(async move {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                Ok(())
            })
        }
    }

    #[tokio::test]
    async fn failing_and_hanging_collectors_become_success_zero_samples() {
        let runner = CollectorRunner::new(
            vec![
                ("ok", Box::new(Ok1) as Box<dyn Collector<()>>),
                ("fails", Box::new(Fails)),
                ("hangs", Box::new(Hangs)),
            ],
            Some(ScrapeNames {
                duration: "x_scrape_collector_duration_seconds",
                duration_help: "x: Duration of a collector scrape.",
                success: "x_scrape_collector_success",
                success_help: "x: Whether a collector succeeded.",
            }),
        );
        let mut out = MetricSet::new();
        let deadline = tokio::time::Instant::now() + Duration::from_millis(200);
        let outcomes = runner.run(&(), deadline, &mut out).await;
        assert!(matches!(outcomes[2].error, Some(CollectError::Timeout)));
        let (text, _) = out.encode();
        assert!(text.contains("ok_metric 1\n"));
        assert!(!text.contains("partial_metric"));
        assert!(text.contains("x_scrape_collector_success{collector=\"fails\"} 0\n"));
        assert!(text.contains("x_scrape_collector_success{collector=\"hangs\"} 0\n"));
        assert!(text.contains("x_scrape_collector_success{collector=\"ok\"} 1\n"));
    }
}
