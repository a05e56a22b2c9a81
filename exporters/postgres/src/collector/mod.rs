//! The collector table: every `--[no-]collector.<name>` of postgres_exporter v0.15.0, one file each.
//!
//! Adding a collector is one file plus one row in [`TABLE`] and one arm in [`build`].

use mcp_exporter_core::{Collector, CollectorInfo};

use crate::session::Session;

mod database;
mod database_wraparound;
mod locks;
mod long_running_transactions;
mod postmaster;
mod process_idle;
mod replication;
mod replication_slot;
mod stat_activity_autovacuum;
mod stat_bgwriter;
mod stat_database;
mod stat_statements;
mod stat_user_tables;
mod stat_wal_receiver;
mod statio_user_indexes;
mod statio_user_tables;
mod wal;
mod xlog_location;

const fn row(name: &'static str, default_enabled: bool) -> CollectorInfo {
    CollectorInfo {
        name,
        default_enabled,
    }
}

/// Name and default of every collector, as registered in postgres_exporter v0.15.0.
pub const TABLE: &[CollectorInfo] = &[
    row("database", true),
    row("database_wraparound", false),
    row("locks", true),
    row("long_running_transactions", false),
    row("postmaster", false),
    row("process_idle", false),
    row("replication", true),
    row("replication_slot", true),
    row("stat_activity_autovacuum", false),
    row("stat_bgwriter", true),
    row("stat_database", true),
    row("stat_statements", false),
    row("stat_user_tables", true),
    row("stat_wal_receiver", false),
    row("statio_user_indexes", false),
    row("statio_user_tables", true),
    row("wal", true),
    row("xlog_location", false),
];

/// The collector behind a table row.
pub fn build(name: &str) -> Option<Box<dyn Collector<Session>>> {
    Some(match name {
        "database" => Box::new(database::Database),
        "database_wraparound" => Box::new(database_wraparound::DatabaseWraparound),
        "locks" => Box::new(locks::Locks),
        "long_running_transactions" => Box::new(long_running_transactions::LongRunningTransactions),
        "postmaster" => Box::new(postmaster::Postmaster),
        "process_idle" => Box::new(process_idle::ProcessIdle),
        "replication" => Box::new(replication::Replication),
        "replication_slot" => Box::new(replication_slot::ReplicationSlot),
        "stat_activity_autovacuum" => Box::new(stat_activity_autovacuum::StatActivityAutovacuum),
        "stat_bgwriter" => Box::new(stat_bgwriter::StatBgwriter),
        "stat_database" => Box::new(stat_database::StatDatabase),
        "stat_statements" => Box::new(stat_statements::StatStatements),
        "stat_user_tables" => Box::new(stat_user_tables::StatUserTables),
        "stat_wal_receiver" => Box::new(stat_wal_receiver::StatWalReceiver),
        "statio_user_indexes" => Box::new(statio_user_indexes::StatioUserIndexes),
        "statio_user_tables" => Box::new(statio_user_tables::StatioUserTables),
        "wal" => Box::new(wal::Wal),
        "xlog_location" => Box::new(xlog_location::XlogLocation),
        _ => return None,
    })
}

/// Whether a collector's statement can wait on a relation lock (`pg_total_relation_size` opens
/// every user table); such collectors are sent last in a scrape.
pub fn may_block_on_locks(name: &str) -> bool {
    name == "stat_user_tables"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_row_has_a_collector_and_nine_are_on_by_default() {
        for info in TABLE {
            assert!(build(info.name).is_some(), "{}", info.name);
        }
        let on: Vec<_> = TABLE
            .iter()
            .filter(|i| i.default_enabled)
            .map(|i| i.name)
            .collect();
        assert_eq!(
            on,
            [
                "database",
                "locks",
                "replication",
                "replication_slot",
                "stat_bgwriter",
                "stat_database",
                "stat_user_tables",
                "statio_user_tables",
                "wal"
            ]
        );
    }
}
