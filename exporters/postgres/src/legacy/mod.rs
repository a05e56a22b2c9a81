//! The legacy half of postgres_exporter v0.15 (`cmd/postgres_exporter`): the built-in metric maps
//! and `pg_settings`, all carrying `server="host:port"`. They have no `--collector.*` flags and no
//! `pg_scrape_collector_*` samples; a failure sets `pg_exporter_last_scrape_error 1`, as upstream.
//! `--disable-default-metrics` turns off the maps, `--disable-settings-metrics` the settings.

use mcp_exporter_core::Collector;

use crate::session::Session;

mod replication_slots;
mod settings;
mod stat_activity;
mod stat_archiver;
mod stat_database_conflicts;
mod stat_replication;

pub use settings::splice as splice_settings;

/// The legacy groups to run: `(name for logs, group)`.
pub fn build(
    default_metrics: bool,
    settings: bool,
) -> Vec<(&'static str, Box<dyn Collector<Session>>)> {
    let mut v: Vec<(&'static str, Box<dyn Collector<Session>>)> = Vec::new();
    if settings {
        v.push(("settings", Box::new(settings::Settings)));
    }
    if default_metrics {
        v.push(("stat_activity", Box::new(stat_activity::StatActivity)));
        v.push((
            "stat_database_conflicts",
            Box::new(stat_database_conflicts::StatDatabaseConflicts),
        ));
        v.push((
            "stat_replication",
            Box::new(stat_replication::StatReplication),
        ));
        v.push((
            "replication_slots",
            Box::new(replication_slots::ReplicationSlots),
        ));
        v.push(("stat_archiver", Box::new(stat_archiver::StatArchiver)));
    }
    v
}
