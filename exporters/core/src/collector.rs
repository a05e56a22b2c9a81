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

impl AsRef<CollectorInfo> for CollectorInfo {
    fn as_ref(&self) -> &CollectorInfo {
        self
    }
}

/// A row of an exporter's one collector table (`collector/mod.rs`): name, default on/off and the
/// constructor. Adding a collector is one new file plus one of these rows.
pub struct CollectorEntry<T: ?Sized + 'static> {
    /// Name and default.
    pub info: CollectorInfo,
    /// Makes the collector (called once per runner, not per scrape).
    pub new: fn() -> Box<dyn Collector<T>>,
}

impl<T: ?Sized + 'static> CollectorEntry<T> {
    /// A row; usable in a `const` table (`new` may be a non-capturing closure).
    pub const fn new(
        name: &'static str,
        default_enabled: bool,
        new: fn() -> Box<dyn Collector<T>>,
    ) -> Self {
        Self {
            info: CollectorInfo {
                name,
                default_enabled,
            },
            new,
        }
    }
}

impl<T: ?Sized + 'static> AsRef<CollectorInfo> for CollectorEntry<T> {
    fn as_ref(&self) -> &CollectorInfo {
        &self.info
    }
}

impl<T: ?Sized + 'static> std::fmt::Debug for CollectorEntry<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CollectorEntry")
            .field("info", &self.info)
            .finish()
    }
}

/// The names and defaults of a table, for [`add_collector_flags`] and [`enabled_collectors`].
pub fn infos<I: AsRef<CollectorInfo>>(table: &[I]) -> Vec<CollectorInfo> {
    table.iter().map(|e| *e.as_ref()).collect()
}

/// A collector name that is not in the exporter's table.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown collector {0:?}")]
pub struct UnknownCollector(pub String);

/// THE "enabled collectors" rule of every exporter: `None` means the table's defaults, `Some`
/// exactly the names listed (from the flags or the agent's file), each checked against the
/// table. The result is in table order, names interned as the table's.
pub fn select<'n, I: AsRef<CollectorInfo>>(
    table: &[I],
    names: Option<impl IntoIterator<Item = &'n str>>,
) -> Result<Vec<&'static str>, UnknownCollector> {
    let Some(names) = names else {
        return Ok(table
            .iter()
            .map(AsRef::as_ref)
            .filter(|i| i.default_enabled)
            .map(|i| i.name)
            .collect());
    };
    let mut wanted = BTreeSet::new();
    for name in names {
        let info = table
            .iter()
            .map(AsRef::as_ref)
            .find(|i| i.name == name)
            .ok_or_else(|| UnknownCollector(name.to_owned()))?;
        wanted.insert(info.name);
    }
    Ok(table
        .iter()
        .map(|e| e.as_ref().name)
        .filter(|n| wanted.contains(n))
        .collect())
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
    /// Whether it writes `*_scrape_collector_*` samples (false for postgres' legacy groups).
    pub reports: bool,
}

/// Runs a set of collectors concurrently under one deadline, writes their samples plus
/// `*_scrape_collector_{duration_seconds,success}`, and logs each collector's failure once per
/// state change (not on every scrape).
///
/// Rows run in the order they were added (each collector's first statement is sent in that
/// order, which postgres uses to put lock-prone statements last). A row added with
/// `reports = false` runs and logs like the others but writes no per-collector samples: postgres'
/// legacy groups, which have none upstream.
pub struct CollectorRunner<T: ?Sized> {
    collectors: Vec<RunnerRow<T>>,
    names: Option<ScrapeNames>,
    failing: Mutex<HashMap<&'static str, bool>>,
}

struct RunnerRow<T: ?Sized> {
    name: &'static str,
    collector: Box<dyn Collector<T>>,
    reports: bool,
}

impl<T: ?Sized + Sync> CollectorRunner<T> {
    /// A runner over `(name, collector)` pairs, all reporting. With `names = None` no
    /// per-collector samples are written at all (redis_exporter has none).
    pub fn new(
        collectors: Vec<(&'static str, Box<dyn Collector<T>>)>,
        names: Option<ScrapeNames>,
    ) -> Self {
        let mut runner = Self::empty(names);
        for (name, collector) in collectors {
            runner.push(name, collector, true);
        }
        runner
    }

    /// A runner with no rows yet; add them with [`push`](Self::push).
    pub fn empty(names: Option<ScrapeNames>) -> Self {
        Self {
            collectors: Vec::new(),
            names,
            failing: Mutex::new(HashMap::new()),
        }
    }

    /// The enabled rows of `table`, in table order, all reporting.
    pub fn from_table(
        table: &[CollectorEntry<T>],
        enabled: &[&str],
        names: Option<ScrapeNames>,
    ) -> Self
    where
        T: 'static,
    {
        let mut runner = Self::empty(names);
        for entry in table.iter().filter(|e| enabled.contains(&e.info.name)) {
            runner.push(entry.info.name, (entry.new)(), true);
        }
        runner
    }

    /// Adds a row; `reports = false` for a group that writes no `*_scrape_collector_*` samples.
    pub fn push(&mut self, name: &'static str, collector: Box<dyn Collector<T>>, reports: bool) {
        self.collectors.push(RunnerRow {
            name,
            collector,
            reports,
        });
    }

    /// The names of the collectors this runner holds.
    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.collectors.iter().map(|r| r.name)
    }

    /// Runs every collector against `target` until `deadline`. A collector still running at the
    /// deadline is cancelled and reported as failed; its partial samples are discarded.
    pub async fn run(
        &self,
        target: &T,
        deadline: tokio::time::Instant,
        out: &mut MetricSet,
    ) -> Vec<CollectorOutcome> {
        let futures = self.collectors.iter().map(|row| async move {
            let mut set = MetricSet::new();
            let start = Instant::now();
            let result =
                tokio::time::timeout_at(deadline, row.collector.collect(target, &mut set)).await;
            let error = match result {
                Ok(Ok(())) => None,
                Ok(Err(error)) => Some(error),
                Err(_) => Some(CollectError::Timeout),
            };
            (
                set,
                CollectorOutcome {
                    name: row.name,
                    duration: start.elapsed(),
                    error,
                    reports: row.reports,
                },
            )
        });
        let results = futures_util::future::join_all(futures).await;
        let mut outcomes = Vec::with_capacity(results.len());
        for (set, outcome) in results {
            if outcome.error.is_none() {
                out.extend(set);
            }
            self.log_change(&outcome);
            self.write_samples(out, &outcome);
            outcomes.push(outcome);
        }
        outcomes
    }

    /// Writes the per-collector samples for collectors that could not run at all (the backend is
    /// down, or an earlier scrape still holds it): every reporting row gets `success 0` and
    /// duration 0 (postgres_exporter emits nothing there; a dashboard then shows which collectors
    /// are missing). One debug line with `reason`; the per-collector failure state is left
    /// alone, so an outage is not logged once per collector.
    pub fn mark_all_failed(&self, out: &mut MetricSet, reason: &str) {
        tracing::debug!(reason, "Every collector marked failed.");
        for row in &self.collectors {
            let outcome = CollectorOutcome {
                name: row.name,
                duration: Duration::ZERO,
                error: Some(CollectError::Backend(reason.to_owned())),
                reports: row.reports,
            };
            self.write_samples(out, &outcome);
        }
    }

    fn log_change(&self, outcome: &CollectorOutcome) {
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
    }

    fn write_samples(&self, out: &mut MetricSet, outcome: &CollectorOutcome) {
        let Some(names) = self.names.filter(|_| outcome.reports) else {
            return;
        };
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
            if outcome.error.is_some() { 0.0 } else { 1.0 },
        );
    }
}

impl<T: ?Sized> std::fmt::Debug for CollectorRunner<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CollectorRunner")
            .field(
                "collectors",
                &self.collectors.iter().map(|r| r.name).collect::<Vec<_>>(),
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
    fn select_uses_defaults_or_exactly_the_listed_known_names() {
        assert_eq!(select(TABLE, None::<[&str; 0]>).unwrap(), ["a"]);
        assert_eq!(select(TABLE, Some(["b", "a"])).unwrap(), ["a", "b"]);
        assert_eq!(
            select(TABLE, Some(["a", "zzz"])).unwrap_err(),
            UnknownCollector("zzz".into())
        );
    }

    #[tokio::test]
    async fn unreported_rows_run_but_write_no_per_collector_samples() {
        let mut runner: CollectorRunner<()> = CollectorRunner::empty(Some(NAMES));
        runner.push("legacy", Box::new(Fails), false);
        runner.push("ok", Box::new(Ok1), true);
        let mut out = MetricSet::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        let outcomes = runner.run(&(), deadline, &mut out).await;
        assert!(!outcomes[0].reports && outcomes[0].error.is_some());
        let (text, _) = out.encode();
        assert!(!text.contains("collector=\"legacy\""), "{text}");
        assert!(text.contains("x_scrape_collector_success{collector=\"ok\"} 1\n"));
        let mut down = MetricSet::new();
        runner.mark_all_failed(&mut down, "backend down");
        let (text, _) = down.encode();
        assert!(text.contains("x_scrape_collector_success{collector=\"ok\"} 0\n"));
        assert!(!text.contains("legacy"), "{text}");
    }

    const NAMES: ScrapeNames = ScrapeNames {
        duration: "x_scrape_collector_duration_seconds",
        duration_help: "x: Duration of a collector scrape.",
        success: "x_scrape_collector_success",
        success_help: "x: Whether a collector succeeded.",
    };

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
