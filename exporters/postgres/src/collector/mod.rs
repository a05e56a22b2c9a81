//! The collector table: every `--[no-]collector.<name>` of postgres_exporter v0.15.0, one file each.
//!
//! Adding a collector is one file (`collector/<name>.rs`, with its `mod` line here) plus one row
//! in [`TABLE`].

use mcp_exporter_core::CollectorEntry;

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

/// Every collector, as registered in postgres_exporter v0.15.0: name, default, constructor.
pub const TABLE: &[CollectorEntry<Session>] = &[
    CollectorEntry::new("database", true, || Box::new(database::Database)),
    CollectorEntry::new("database_wraparound", false, || {
        Box::new(database_wraparound::DatabaseWraparound)
    }),
    CollectorEntry::new("locks", true, || Box::new(locks::Locks)),
    CollectorEntry::new("long_running_transactions", false, || {
        Box::new(long_running_transactions::LongRunningTransactions)
    }),
    CollectorEntry::new("postmaster", false, || Box::new(postmaster::Postmaster)),
    CollectorEntry::new("process_idle", false, || {
        Box::new(process_idle::ProcessIdle)
    }),
    CollectorEntry::new("replication", true, || Box::new(replication::Replication)),
    CollectorEntry::new("replication_slot", true, || {
        Box::new(replication_slot::ReplicationSlot)
    }),
    CollectorEntry::new("stat_activity_autovacuum", false, || {
        Box::new(stat_activity_autovacuum::StatActivityAutovacuum)
    }),
    CollectorEntry::new("stat_bgwriter", true, || {
        Box::new(stat_bgwriter::StatBgwriter)
    }),
    CollectorEntry::new("stat_database", true, || {
        Box::new(stat_database::StatDatabase)
    }),
    CollectorEntry::new("stat_statements", false, || {
        Box::new(stat_statements::StatStatements)
    }),
    CollectorEntry::new("stat_user_tables", true, || {
        Box::new(stat_user_tables::StatUserTables)
    }),
    CollectorEntry::new("stat_wal_receiver", false, || {
        Box::new(stat_wal_receiver::StatWalReceiver)
    }),
    CollectorEntry::new("statio_user_indexes", false, || {
        Box::new(statio_user_indexes::StatioUserIndexes)
    }),
    CollectorEntry::new("statio_user_tables", true, || {
        Box::new(statio_user_tables::StatioUserTables)
    }),
    CollectorEntry::new("wal", true, || Box::new(wal::Wal)),
    CollectorEntry::new("xlog_location", false, || {
        Box::new(xlog_location::XlogLocation)
    }),
];

/// Whether a collector's statement can wait on a relation lock (`pg_total_relation_size` opens
/// every user table); such collectors are sent last in a scrape.
pub fn may_block_on_locks(name: &str) -> bool {
    name == "stat_user_tables"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nine_collectors_are_on_by_default() {
        let on: Vec<_> = TABLE
            .iter()
            .filter(|e| e.info.default_enabled)
            .map(|e| e.info.name)
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
