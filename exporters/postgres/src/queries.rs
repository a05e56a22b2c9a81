//! Every SQL statement the exporter sends, chosen by `server_version_num` (PostgreSQL 13–17).
//!
//! The selection functions are pure so the version gates are unit-tested without a server of each
//! version. Statements are prepared once per connection and keyed by their text.
//!
//! Several families are read by one statement where that changes nothing a user can see
//! (postgres_exporter v0.15 sends about 24 statements per scrape, 0.11.1 sends 12):
//! - [`INSTANCE`]: `pg_stat_bgwriter` (+ `pg_stat_checkpointer` on 17), replication lag,
//!   `pg_stat_archiver` and the postmaster start time are one row each;
//! - [`ACTIVITY_AND_LOCKS`]: both cross-join `pg_database` with a fixed list (states, lock modes);
//! - [`STAT_DATABASE`]: `pg_stat_database` joined with `pg_stat_database_conflicts` on `datid`;
//! - [`REPLICATION`]: `pg_replication_slots` and `pg_stat_replication` for the legacy
//!   `pg_replication_slots_*` and `pg_stat_replication_*` and the `replication_slot` collector.
//!
//! Statements that can block on a relation lock (`pg_total_relation_size` in `stat_user_tables`)
//! or need extra privileges (`pg_ls_waldir` in `wal`, `pg_stat_statements`) stay alone, so a
//! stuck or forbidden one fails only its own collector, as upstream.

/// PostgreSQL 17 moved the checkpoint columns to `pg_stat_checkpointer`.
pub const PG17: i32 = 170_000;
/// PostgreSQL 13 renamed `pg_stat_statements.total_time` to `total_exec_time`.
pub const PG13: i32 = 130_000;

/// Run once per connection: the version for `pg_static` and the gates below.
pub const VERSION: &str = "SELECT current_setting('server_version_num')::int4, version()";

/// `pg_settings` (cached; see `--cache.settings-interval`).
pub const SETTINGS: &str = "SELECT name, setting, COALESCE(unit, ''), short_desc, vartype \
     FROM pg_settings WHERE vartype IN ('bool', 'integer', 'real') AND name != 'sync_commit_cancel_wait'";

/// One row of instance-wide counters, before PostgreSQL 17.
const INSTANCE_PRE17: &str = "SELECT \
     b.checkpoints_timed::float8, b.checkpoints_req::float8, b.checkpoint_write_time::float8, \
     b.checkpoint_sync_time::float8, b.buffers_checkpoint::float8, b.buffers_clean::float8, \
     b.maxwritten_clean::float8, b.buffers_backend::float8, b.buffers_backend_fsync::float8, \
     b.buffers_alloc::float8, COALESCE(EXTRACT(EPOCH FROM b.stats_reset), 0)::float8, \
     CASE WHEN NOT pg_is_in_recovery() THEN 0 \
          WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0 \
          ELSE GREATEST(0, EXTRACT(EPOCH FROM (now() - pg_last_xact_replay_timestamp()))) END::float8, \
     CASE WHEN pg_is_in_recovery() THEN 1 ELSE 0 END::float8, \
     a.archived_count::float8, a.failed_count::float8, \
     EXTRACT(EPOCH FROM now() - a.last_archived_time)::float8, \
     EXTRACT(EPOCH FROM pg_postmaster_start_time())::float8 \
     FROM pg_stat_bgwriter b, pg_stat_archiver a";

/// The same row on PostgreSQL 17+, where checkpoints are in `pg_stat_checkpointer` and
/// `buffers_backend`/`buffers_backend_fsync` no longer exist (they come back NULL and are omitted).
const INSTANCE_17: &str = "SELECT \
     c.num_timed::float8, c.num_requested::float8, c.write_time::float8, \
     c.sync_time::float8, c.buffers_written::float8, b.buffers_clean::float8, \
     b.maxwritten_clean::float8, NULL::float8, NULL::float8, \
     b.buffers_alloc::float8, COALESCE(EXTRACT(EPOCH FROM b.stats_reset), 0)::float8, \
     CASE WHEN NOT pg_is_in_recovery() THEN 0 \
          WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0 \
          ELSE GREATEST(0, EXTRACT(EPOCH FROM (now() - pg_last_xact_replay_timestamp()))) END::float8, \
     CASE WHEN pg_is_in_recovery() THEN 1 ELSE 0 END::float8, \
     a.archived_count::float8, a.failed_count::float8, \
     EXTRACT(EPOCH FROM now() - a.last_archived_time)::float8, \
     EXTRACT(EPOCH FROM pg_postmaster_start_time())::float8 \
     FROM pg_stat_bgwriter b, pg_stat_checkpointer c, pg_stat_archiver a";

/// Column indexes of the instance row.
pub mod instance_col {
    /// `checkpoints_timed` (17: `num_timed`).
    pub const CHECKPOINTS_TIMED: usize = 0;
    /// `checkpoints_req` (17: `num_requested`).
    pub const CHECKPOINTS_REQ: usize = 1;
    /// `checkpoint_write_time` (17: `write_time`).
    pub const CHECKPOINT_WRITE_TIME: usize = 2;
    /// `checkpoint_sync_time` (17: `sync_time`).
    pub const CHECKPOINT_SYNC_TIME: usize = 3;
    /// `buffers_checkpoint` (17: `buffers_written`).
    pub const BUFFERS_CHECKPOINT: usize = 4;
    /// `buffers_clean`.
    pub const BUFFERS_CLEAN: usize = 5;
    /// `maxwritten_clean`.
    pub const MAXWRITTEN_CLEAN: usize = 6;
    /// `buffers_backend` (NULL on 17).
    pub const BUFFERS_BACKEND: usize = 7;
    /// `buffers_backend_fsync` (NULL on 17).
    pub const BUFFERS_BACKEND_FSYNC: usize = 8;
    /// `buffers_alloc`.
    pub const BUFFERS_ALLOC: usize = 9;
    /// `stats_reset` of the bgwriter, epoch seconds.
    pub const STATS_RESET: usize = 10;
    /// Replication lag in seconds.
    pub const REPLICATION_LAG: usize = 11;
    /// 1 on a replica.
    pub const IS_REPLICA: usize = 12;
    /// `pg_stat_archiver.archived_count`.
    pub const ARCHIVED_COUNT: usize = 13;
    /// `pg_stat_archiver.failed_count`.
    pub const FAILED_COUNT: usize = 14;
    /// Seconds since the last archived segment (NULL if none).
    pub const LAST_ARCHIVE_AGE: usize = 15;
    /// `pg_postmaster_start_time()`, epoch seconds.
    pub const POSTMASTER_START: usize = 16;
}

/// The instance-row statement for a server version.
pub fn instance(version_num: i32) -> &'static str {
    if version_num >= PG17 {
        INSTANCE_17
    } else {
        INSTANCE_PRE17
    }
}

/// `pg_stat_activity` per (database × state) and `pg_locks` per (database × mode), with the
/// zero rows upstream's cross joins produce. Column 0 tells the parts apart (`a` / `l`).
pub const ACTIVITY_AND_LOCKS: &str = "SELECT 'a'::text, d.datname::text, s.state, \
     COALESCE(t.usename::text, ''), COALESCE(t.application_name, ''), \
     COALESCE(t.count, 0)::float8, COALESCE(t.max_tx_duration, 0)::float8 \
     FROM (VALUES ('active'), ('idle'), ('idle in transaction'), ('idle in transaction (aborted)'), \
                  ('fastpath function call'), ('disabled')) AS s(state) \
     CROSS JOIN pg_database d \
     LEFT JOIN (SELECT datname, state, usename, application_name, count(*) AS count, \
                       MAX(EXTRACT(EPOCH FROM now() - xact_start))::float8 AS max_tx_duration \
                FROM pg_stat_activity GROUP BY datname, state, usename, application_name) t \
       ON s.state = t.state AND d.datname = t.datname \
     UNION ALL \
     SELECT 'l'::text, d.datname::text, m.mode, '', '', COALESCE(t.count, 0)::float8, 0::float8 \
     FROM (VALUES ('accesssharelock'), ('rowsharelock'), ('rowexclusivelock'), \
                  ('shareupdateexclusivelock'), ('sharelock'), ('sharerowexclusivelock'), \
                  ('exclusivelock'), ('accessexclusivelock'), ('sireadlock')) AS m(mode) \
     CROSS JOIN pg_database d \
     LEFT JOIN (SELECT database, lower(mode) AS mode, count(*) AS count FROM pg_locks \
                WHERE database IS NOT NULL GROUP BY database, lower(mode)) t \
       ON m.mode = t.mode AND d.oid = t.database";

/// `pg_stat_database` with the conflict counters of `pg_stat_database_conflicts` (NULL for the
/// shared row `datid = 0`). PostgreSQL 16 added `confl_active_logicalslot`.
pub fn stat_database(version_num: i32) -> &'static str {
    if version_num >= 160_000 {
        STAT_DATABASE_16
    } else {
        STAT_DATABASE_PRE16
    }
}

const STAT_DATABASE_PRE16: &str = "SELECT d.datid::int8::text, d.datname::text, d.numbackends::float8, \
     d.xact_commit::float8, d.xact_rollback::float8, d.blks_read::float8, d.blks_hit::float8, \
     d.tup_returned::float8, d.tup_fetched::float8, d.tup_inserted::float8, d.tup_updated::float8, \
     d.tup_deleted::float8, d.conflicts::float8, d.temp_files::float8, d.temp_bytes::float8, \
     d.deadlocks::float8, d.blk_read_time::float8, d.blk_write_time::float8, \
     COALESCE(EXTRACT(EPOCH FROM d.stats_reset), 0)::float8, \
     c.confl_tablespace::float8, c.confl_lock::float8, c.confl_snapshot::float8, \
     c.confl_bufferpin::float8, c.confl_deadlock::float8, NULL::float8 \
     FROM pg_stat_database d LEFT JOIN pg_stat_database_conflicts c ON c.datid = d.datid";

const STAT_DATABASE_16: &str = "SELECT d.datid::int8::text, d.datname::text, d.numbackends::float8, \
     d.xact_commit::float8, d.xact_rollback::float8, d.blks_read::float8, d.blks_hit::float8, \
     d.tup_returned::float8, d.tup_fetched::float8, d.tup_inserted::float8, d.tup_updated::float8, \
     d.tup_deleted::float8, d.conflicts::float8, d.temp_files::float8, d.temp_bytes::float8, \
     d.deadlocks::float8, d.blk_read_time::float8, d.blk_write_time::float8, \
     COALESCE(EXTRACT(EPOCH FROM d.stats_reset), 0)::float8, \
     c.confl_tablespace::float8, c.confl_lock::float8, c.confl_snapshot::float8, \
     c.confl_bufferpin::float8, c.confl_deadlock::float8, c.confl_active_logicalslot::float8 \
     FROM pg_stat_database d LEFT JOIN pg_stat_database_conflicts c ON c.datid = d.datid";

/// `pg_replication_slots` (for the legacy `pg_replication_slots_*` and the `replication_slot`
/// collector, column 0 = `s`) and `pg_stat_replication` with the slot each walsender streams into
/// (legacy `pg_stat_replication_*`, column 0 = `r`; upstream put the pid into `slot_name`, see the
/// README), in one statement. On a replica positions are the received ones.
///
/// Columns: 0 kind, 1–5 text, 6 bool, 7–9 float8:
/// - `s`: slot_name, database, –, –, –, active, retained bytes, current LSN, confirmed flush LSN;
/// - `r`: pid, application_name, client_addr, state, slot_name, –, current LSN, lag bytes, reply_time.
pub const REPLICATION: &str = "SELECT 's'::text, slot_name::text, COALESCE(database::text, ''), \
     NULL::text, NULL::text, NULL::text, active, \
     pg_wal_lsn_diff(CASE WHEN pg_is_in_recovery() THEN pg_last_wal_receive_lsn() \
                          ELSE pg_current_wal_lsn() END, restart_lsn)::float8, \
     pg_wal_lsn_diff(CASE WHEN pg_is_in_recovery() THEN pg_last_wal_receive_lsn() \
                          ELSE pg_current_wal_lsn() END, '0/0')::float8, \
     pg_wal_lsn_diff(COALESCE(confirmed_flush_lsn, '0/0'), '0/0')::float8 \
     FROM pg_replication_slots \
     UNION ALL \
     SELECT 'r'::text, r.pid::int8::text, COALESCE(r.application_name, ''), \
     COALESCE(host(r.client_addr), ''), COALESCE(r.state, ''), COALESCE(s.slot_name::text, ''), \
     NULL::bool, \
     CASE WHEN pg_is_in_recovery() THEN NULL \
          ELSE pg_wal_lsn_diff(pg_current_wal_lsn(), pg_lsn('0/0'))::float8 END, \
     CASE WHEN pg_is_in_recovery() THEN NULL \
          ELSE pg_wal_lsn_diff(pg_current_wal_lsn(), r.replay_lsn)::float8 END, \
     EXTRACT(EPOCH FROM r.reply_time)::float8 \
     FROM pg_stat_replication r LEFT JOIN pg_replication_slots s ON s.active_pid = r.pid";

/// Database sizes in one statement (upstream sends one `pg_database_size($1)` per database).
pub const DATABASE_SIZE: &str =
    "SELECT datname::text, pg_database_size(oid)::float8 FROM pg_database";

/// `stat_user_tables` of the connected database.
pub const STAT_USER_TABLES: &str = "SELECT current_database()::text, schemaname::text, relname::text, \
     seq_scan::float8, seq_tup_read::float8, idx_scan::float8, idx_tup_fetch::float8, \
     n_tup_ins::float8, n_tup_upd::float8, n_tup_del::float8, n_tup_hot_upd::float8, \
     n_live_tup::float8, n_dead_tup::float8, n_mod_since_analyze::float8, \
     COALESCE(EXTRACT(EPOCH FROM last_vacuum), 0)::float8, \
     COALESCE(EXTRACT(EPOCH FROM last_autovacuum), 0)::float8, \
     COALESCE(EXTRACT(EPOCH FROM last_analyze), 0)::float8, \
     COALESCE(EXTRACT(EPOCH FROM last_autoanalyze), 0)::float8, \
     vacuum_count::float8, autovacuum_count::float8, analyze_count::float8, \
     autoanalyze_count::float8, pg_total_relation_size(relid)::float8 \
     FROM pg_stat_user_tables";

/// `statio_user_tables` of the connected database.
pub const STATIO_USER_TABLES: &str = "SELECT current_database()::text, schemaname::text, relname::text, \
     heap_blks_read::float8, heap_blks_hit::float8, idx_blks_read::float8, idx_blks_hit::float8, \
     toast_blks_read::float8, toast_blks_hit::float8, tidx_blks_read::float8, tidx_blks_hit::float8 \
     FROM pg_statio_user_tables";

/// `statio_user_indexes` of the connected database.
pub const STATIO_USER_INDEXES: &str = "SELECT schemaname::text, relname::text, indexrelname::text, \
     idx_blks_read::float8, idx_blks_hit::float8 FROM pg_statio_user_indexes";

/// WAL segments on disk (needs superuser or `pg_monitor`).
pub const WAL: &str = "SELECT COUNT(*)::float8, COALESCE(SUM(size), 0)::float8 \
     FROM pg_ls_waldir() WHERE name ~ '^[0-9A-F]{24}$'";

/// Transaction id ages per database.
pub const DATABASE_WRAPAROUND: &str = "SELECT datname::text, age(datfrozenxid)::float8, \
     mxid_age(datminmxid)::float8 FROM pg_catalog.pg_database WHERE datallowconn";

/// Transactions that are not idle.
pub const LONG_RUNNING_TRANSACTIONS: &str = "SELECT COUNT(*)::float8, \
     COALESCE(MAX(EXTRACT(EPOCH FROM clock_timestamp() - xact_start)), 0)::float8 \
     FROM pg_catalog.pg_stat_activity \
     WHERE state IS DISTINCT FROM 'idle' AND query NOT LIKE 'autovacuum:%' AND xact_start IS NOT NULL";

/// Running autovacuum workers.
pub const STAT_ACTIVITY_AUTOVACUUM: &str = "SELECT SPLIT_PART(query, '.', 2)::text, \
     EXTRACT(EPOCH FROM xact_start)::float8 FROM pg_catalog.pg_stat_activity \
     WHERE query LIKE 'autovacuum:%' AND xact_start IS NOT NULL";

/// Idle backends per application, as cumulative histogram buckets.
pub const PROCESS_IDLE: &str = "SELECT COALESCE(application_name, '')::text, \
     COALESCE(SUM(EXTRACT(EPOCH FROM (clock_timestamp() - state_change))::int8), 0)::float8, \
     COUNT(*)::int8, \
     COUNT(*) FILTER (WHERE EXTRACT(EPOCH FROM (clock_timestamp() - state_change)) <= 1)::int8, \
     COUNT(*) FILTER (WHERE EXTRACT(EPOCH FROM (clock_timestamp() - state_change)) <= 2)::int8, \
     COUNT(*) FILTER (WHERE EXTRACT(EPOCH FROM (clock_timestamp() - state_change)) <= 5)::int8, \
     COUNT(*) FILTER (WHERE EXTRACT(EPOCH FROM (clock_timestamp() - state_change)) <= 15)::int8, \
     COUNT(*) FILTER (WHERE EXTRACT(EPOCH FROM (clock_timestamp() - state_change)) <= 30)::int8, \
     COUNT(*) FILTER (WHERE EXTRACT(EPOCH FROM (clock_timestamp() - state_change)) <= 60)::int8, \
     COUNT(*) FILTER (WHERE EXTRACT(EPOCH FROM (clock_timestamp() - state_change)) <= 90)::int8, \
     COUNT(*) FILTER (WHERE EXTRACT(EPOCH FROM (clock_timestamp() - state_change)) <= 120)::int8, \
     COUNT(*) FILTER (WHERE EXTRACT(EPOCH FROM (clock_timestamp() - state_change)) <= 300)::int8 \
     FROM pg_stat_activity WHERE state = 'idle' GROUP BY 1";

/// Upper bounds of the `process_idle` buckets, matching the columns of [`PROCESS_IDLE`].
pub const PROCESS_IDLE_BUCKETS: [f64; 9] = [1.0, 2.0, 5.0, 15.0, 30.0, 60.0, 90.0, 120.0, 300.0];

/// `pg_stat_statements`, top 100 by total time above the 10th percentile (as upstream), summed over
/// the `toplevel` split so that one (user, database, queryid) is one series.
pub fn stat_statements(version_num: i32) -> &'static str {
    if version_num >= PG17 {
        STAT_STATEMENTS_17
    } else if version_num >= PG13 {
        STAT_STATEMENTS_13
    } else {
        STAT_STATEMENTS_PRE13
    }
}

const STAT_STATEMENTS_PRE13: &str = "SELECT pg_get_userbyid(s.userid)::text, d.datname::text, \
     s.queryid::text, SUM(s.calls)::float8, SUM(s.total_time / 1000.0)::float8, SUM(s.rows)::float8, \
     SUM(s.blk_read_time / 1000.0)::float8, SUM(s.blk_write_time / 1000.0)::float8 \
     FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid \
     WHERE s.total_time > (SELECT percentile_cont(0.1) WITHIN GROUP (ORDER BY total_time) FROM pg_stat_statements) \
     GROUP BY 1, 2, 3 ORDER BY 5 DESC LIMIT 100";

const STAT_STATEMENTS_13: &str = "SELECT pg_get_userbyid(s.userid)::text, d.datname::text, \
     s.queryid::text, SUM(s.calls)::float8, SUM(s.total_exec_time / 1000.0)::float8, SUM(s.rows)::float8, \
     SUM(s.blk_read_time / 1000.0)::float8, SUM(s.blk_write_time / 1000.0)::float8 \
     FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid \
     WHERE s.total_exec_time > (SELECT percentile_cont(0.1) WITHIN GROUP (ORDER BY total_exec_time) FROM pg_stat_statements) \
     GROUP BY 1, 2, 3 ORDER BY 5 DESC LIMIT 100";

const STAT_STATEMENTS_17: &str = "SELECT pg_get_userbyid(s.userid)::text, d.datname::text, \
     s.queryid::text, SUM(s.calls)::float8, SUM(s.total_exec_time / 1000.0)::float8, SUM(s.rows)::float8, \
     SUM(s.shared_blk_read_time / 1000.0)::float8, SUM(s.shared_blk_write_time / 1000.0)::float8 \
     FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid \
     WHERE s.total_exec_time > (SELECT percentile_cont(0.1) WITHIN GROUP (ORDER BY total_exec_time) FROM pg_stat_statements) \
     GROUP BY 1, 2, 3 ORDER BY 5 DESC LIMIT 100";

/// `pg_stat_wal_receiver` on a replica (no row on a primary). `flushed_lsn` exists on 13+.
pub const STAT_WAL_RECEIVER: &str = "SELECT \
     trim(both '''' from substring(conninfo from 'host=([^ ]*)'))::text, slot_name::text, status::text, \
     ((receive_start_lsn - '0/0') % (2^52)::bigint)::float8, receive_start_tli::float8, \
     ((flushed_lsn - '0/0') % (2^52)::bigint)::float8, received_tli::float8, \
     EXTRACT(EPOCH FROM last_msg_send_time)::float8, EXTRACT(EPOCH FROM last_msg_receipt_time)::float8, \
     ((latest_end_lsn - '0/0') % (2^52)::bigint)::float8, EXTRACT(EPOCH FROM latest_end_time)::float8, \
     NULLIF(substring(slot_name from 'repmgr_slot_([0-9]*)'), '')::float8 \
     FROM pg_catalog.pg_stat_wal_receiver";

/// The current WAL position (upstream's pre-PG10 `pg_current_xlog_location`), on a replica the
/// replayed one.
pub const XLOG_LOCATION: &str = "SELECT CASE WHEN pg_is_in_recovery() \
     THEN (pg_last_wal_replay_lsn() - '0/0') % (2^52)::bigint \
     ELSE (pg_current_wal_lsn() - '0/0') % (2^52)::bigint END::float8";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_17_reads_checkpoints_from_pg_stat_checkpointer() {
        for v in [130_000, 140_005, 150_018, 160_004] {
            assert!(!instance(v).contains("pg_stat_checkpointer"), "{v}");
            assert!(instance(v).contains("checkpoints_timed"), "{v}");
        }
        assert!(instance(170_000).contains("pg_stat_checkpointer"));
        assert!(!instance(170_002).contains("checkpoints_timed"));
    }

    #[test]
    fn stat_statements_columns_follow_the_version() {
        assert!(stat_statements(120_000).contains("total_time /"));
        assert!(stat_statements(130_000).contains("total_exec_time"));
        assert!(stat_statements(160_000).contains("s.blk_read_time"));
        assert!(stat_statements(170_000).contains("shared_blk_read_time"));
    }

    #[test]
    fn conflicts_gain_a_column_on_16() {
        assert!(!stat_database(150_000).contains("confl_active_logicalslot"));
        assert!(stat_database(160_000).contains("confl_active_logicalslot"));
    }
}
