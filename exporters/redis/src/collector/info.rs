//! `INFO ALL`: the generic field → family table, `instance_info`, `start_time_seconds`.
//!
//! Mirrors redis_exporter's `metricMapGauges`/`metricMapCounters` (exporter.go) and its
//! pass-through of `cluster_*` fields. HELP is upstream's `"<name> metric"`. Fields not in the
//! table are ignored, so new Redis fields never break a scrape.

use std::sync::OnceLock;

use mcp_exporter_core::MetricSet;
use mcp_exporter_core::encoder::Text;
use rustc_hash::FxHashMap as HashMap;

use super::Scrape;
use crate::info_parser::parse_value;
use crate::names;

/// How a field is exported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Gauge,
    Counter,
}

use Kind::{Counter, Gauge};

/// `INFO field => full name, HELP, type`, one row per field: the grep target. HELP is upstream's
/// `"<name> metric"`, byte for byte. (A macro only so that rustfmt keeps a row on one line.)
macro_rules! fields {
    ($($field:literal => $name:literal, $help:literal, $kind:ident;)*) => {
        const FIELDS: &[(&str, &str, &str, Kind)] = &[$(($field, $name, $help, $kind)),*];
    };
}

fields! {
    // Server
    "uptime_in_seconds" => "redis_uptime_in_seconds", "uptime_in_seconds metric", Gauge;
    "process_id" => "redis_process_id", "process_id metric", Gauge;
    "io_threads_active" => "redis_io_threads_active", "io_threads_active metric", Gauge;
    // Clients
    "connected_clients" => "redis_connected_clients", "connected_clients metric", Gauge;
    "blocked_clients" => "redis_blocked_clients", "blocked_clients metric", Gauge;
    "tracking_clients" => "redis_tracking_clients", "tracking_clients metric", Gauge;
    "clients_in_timeout_table" => "redis_clients_in_timeout_table", "clients_in_timeout_table metric", Gauge;
    "client_longest_output_list" => "redis_client_longest_output_list", "client_longest_output_list metric", Gauge;
    "client_biggest_input_buf" => "redis_client_biggest_input_buf", "client_biggest_input_buf metric", Gauge;
    "client_recent_max_output_buffer" => "redis_client_recent_max_output_buffer_bytes", "client_recent_max_output_buffer_bytes metric", Gauge;
    "client_recent_max_input_buffer" => "redis_client_recent_max_input_buffer_bytes", "client_recent_max_input_buffer_bytes metric", Gauge;
    // Memory
    "allocator_active" => "redis_allocator_active_bytes", "allocator_active_bytes metric", Gauge;
    "allocator_allocated" => "redis_allocator_allocated_bytes", "allocator_allocated_bytes metric", Gauge;
    "allocator_resident" => "redis_allocator_resident_bytes", "allocator_resident_bytes metric", Gauge;
    "allocator_frag_ratio" => "redis_allocator_frag_ratio", "allocator_frag_ratio metric", Gauge;
    "allocator_frag_bytes" => "redis_allocator_frag_bytes", "allocator_frag_bytes metric", Gauge;
    "allocator_rss_ratio" => "redis_allocator_rss_ratio", "allocator_rss_ratio metric", Gauge;
    "allocator_rss_bytes" => "redis_allocator_rss_bytes", "allocator_rss_bytes metric", Gauge;
    "used_memory" => "redis_memory_used_bytes", "memory_used_bytes metric", Gauge;
    "used_memory_rss" => "redis_memory_used_rss_bytes", "memory_used_rss_bytes metric", Gauge;
    "used_memory_peak" => "redis_memory_used_peak_bytes", "memory_used_peak_bytes metric", Gauge;
    "used_memory_lua" => "redis_memory_used_lua_bytes", "memory_used_lua_bytes metric", Gauge;
    "used_memory_overhead" => "redis_memory_used_overhead_bytes", "memory_used_overhead_bytes metric", Gauge;
    "used_memory_startup" => "redis_memory_used_startup_bytes", "memory_used_startup_bytes metric", Gauge;
    "used_memory_dataset" => "redis_memory_used_dataset_bytes", "memory_used_dataset_bytes metric", Gauge;
    "used_memory_scripts" => "redis_memory_used_scripts_bytes", "memory_used_scripts_bytes metric", Gauge;
    "number_of_cached_scripts" => "redis_number_of_cached_scripts", "number_of_cached_scripts metric", Gauge;
    "maxmemory" => "redis_memory_max_bytes", "memory_max_bytes metric", Gauge;
    "maxmemory_reservation" => "redis_memory_max_reservation_bytes", "memory_max_reservation_bytes metric", Gauge;
    "maxmemory_desired_reservation" => "redis_memory_max_reservation_desired_bytes", "memory_max_reservation_desired_bytes metric", Gauge;
    "maxfragmentationmemory_reservation" => "redis_memory_max_fragmentation_reservation_bytes", "memory_max_fragmentation_reservation_bytes metric", Gauge;
    "maxfragmentationmemory_desired_reservation" => "redis_memory_max_fragmentation_reservation_desired_bytes", "memory_max_fragmentation_reservation_desired_bytes metric", Gauge;
    "mem_fragmentation_ratio" => "redis_mem_fragmentation_ratio", "mem_fragmentation_ratio metric", Gauge;
    "mem_fragmentation_bytes" => "redis_mem_fragmentation_bytes", "mem_fragmentation_bytes metric", Gauge;
    "mem_clients_slaves" => "redis_mem_clients_slaves", "mem_clients_slaves metric", Gauge;
    "mem_clients_normal" => "redis_mem_clients_normal", "mem_clients_normal metric", Gauge;
    "mem_total_replication_buffers" => "redis_mem_total_replication_buffers_bytes", "mem_total_replication_buffers_bytes metric", Gauge;
    "mem_not_counted_for_evict" => "redis_mem_not_counted_for_eviction_bytes", "mem_not_counted_for_eviction_bytes metric", Gauge;
    "lazyfree_pending_objects" => "redis_lazyfree_pending_objects", "lazyfree_pending_objects metric", Gauge;
    "active_defrag_running" => "redis_active_defrag_running", "active_defrag_running metric", Gauge;
    // Persistence
    "loading" => "redis_loading_dump_file", "loading_dump_file metric", Gauge;
    "rdb_changes_since_last_save" => "redis_rdb_changes_since_last_save", "rdb_changes_since_last_save metric", Gauge;
    "rdb_bgsave_in_progress" => "redis_rdb_bgsave_in_progress", "rdb_bgsave_in_progress metric", Gauge;
    "rdb_last_save_time" => "redis_rdb_last_save_timestamp_seconds", "rdb_last_save_timestamp_seconds metric", Gauge;
    "rdb_last_bgsave_status" => "redis_rdb_last_bgsave_status", "rdb_last_bgsave_status metric", Gauge;
    "rdb_last_bgsave_time_sec" => "redis_rdb_last_bgsave_duration_sec", "rdb_last_bgsave_duration_sec metric", Gauge;
    "rdb_current_bgsave_time_sec" => "redis_rdb_current_bgsave_duration_sec", "rdb_current_bgsave_duration_sec metric", Gauge;
    "rdb_saves" => "redis_rdb_saves_total", "rdb_saves_total metric", Counter;
    "rdb_last_cow_size" => "redis_rdb_last_cow_size_bytes", "rdb_last_cow_size_bytes metric", Gauge;
    "rdb_last_load_keys_expired" => "redis_rdb_last_load_expired_keys", "rdb_last_load_expired_keys metric", Gauge;
    "rdb_last_load_keys_loaded" => "redis_rdb_last_load_loaded_keys", "rdb_last_load_loaded_keys metric", Gauge;
    "aof_enabled" => "redis_aof_enabled", "aof_enabled metric", Gauge;
    "aof_rewrite_in_progress" => "redis_aof_rewrite_in_progress", "aof_rewrite_in_progress metric", Gauge;
    "aof_rewrite_scheduled" => "redis_aof_rewrite_scheduled", "aof_rewrite_scheduled metric", Gauge;
    "aof_last_rewrite_time_sec" => "redis_aof_last_rewrite_duration_sec", "aof_last_rewrite_duration_sec metric", Gauge;
    "aof_current_rewrite_time_sec" => "redis_aof_current_rewrite_duration_sec", "aof_current_rewrite_duration_sec metric", Gauge;
    "aof_last_cow_size" => "redis_aof_last_cow_size_bytes", "aof_last_cow_size_bytes metric", Gauge;
    "aof_current_size" => "redis_aof_current_size_bytes", "aof_current_size_bytes metric", Gauge;
    "aof_base_size" => "redis_aof_base_size_bytes", "aof_base_size_bytes metric", Gauge;
    "aof_pending_rewrite" => "redis_aof_pending_rewrite", "aof_pending_rewrite metric", Gauge;
    "aof_buffer_length" => "redis_aof_buffer_length", "aof_buffer_length metric", Gauge;
    "aof_rewrite_buffer_length" => "redis_aof_rewrite_buffer_length", "aof_rewrite_buffer_length metric", Gauge;
    "aof_pending_bio_fsync" => "redis_aof_pending_bio_fsync", "aof_pending_bio_fsync metric", Gauge;
    "aof_delayed_fsync" => "redis_aof_delayed_fsync", "aof_delayed_fsync metric", Gauge;
    "aof_last_bgrewrite_status" => "redis_aof_last_bgrewrite_status", "aof_last_bgrewrite_status metric", Gauge;
    "aof_last_write_status" => "redis_aof_last_write_status", "aof_last_write_status metric", Gauge;
    "module_fork_in_progress" => "redis_module_fork_in_progress", "module_fork_in_progress metric", Gauge;
    "module_fork_last_cow_size" => "redis_module_fork_last_cow_size", "module_fork_last_cow_size metric", Gauge;
    // Stats
    "total_connections_received" => "redis_connections_received_total", "connections_received_total metric", Counter;
    "total_commands_processed" => "redis_commands_processed_total", "commands_processed_total metric", Counter;
    "rejected_connections" => "redis_rejected_connections_total", "rejected_connections_total metric", Counter;
    "total_net_input_bytes" => "redis_net_input_bytes_total", "net_input_bytes_total metric", Counter;
    "total_net_output_bytes" => "redis_net_output_bytes_total", "net_output_bytes_total metric", Counter;
    "expired_keys" => "redis_expired_keys_total", "expired_keys_total metric", Counter;
    "evicted_keys" => "redis_evicted_keys_total", "evicted_keys_total metric", Counter;
    "keyspace_hits" => "redis_keyspace_hits_total", "keyspace_hits_total metric", Counter;
    "keyspace_misses" => "redis_keyspace_misses_total", "keyspace_misses_total metric", Counter;
    "expired_stale_perc" => "redis_expired_stale_percentage", "expired_stale_percentage metric", Gauge;
    // A gauge in 1.45 and v1.63 (the deployed version); v1.64 made it a counter.
    "expired_time_cap_reached_count" => "redis_expired_time_cap_reached_total", "expired_time_cap_reached_total metric", Gauge;
    "pubsub_channels" => "redis_pubsub_channels", "pubsub_channels metric", Gauge;
    "pubsub_patterns" => "redis_pubsub_patterns", "pubsub_patterns metric", Gauge;
    "pubsubshard_channels" => "redis_pubsubshard_channels", "pubsubshard_channels metric", Gauge;
    "migrate_cached_sockets" => "redis_migrate_cached_sockets_total", "migrate_cached_sockets_total metric", Gauge;
    "active_defrag_hits" => "redis_defrag_hits", "defrag_hits metric", Gauge;
    "active_defrag_misses" => "redis_defrag_misses", "defrag_misses metric", Gauge;
    "active_defrag_key_hits" => "redis_defrag_key_hits", "defrag_key_hits metric", Gauge;
    "active_defrag_key_misses" => "redis_defrag_key_misses", "defrag_key_misses metric", Gauge;
    "tracking_total_keys" => "redis_tracking_total_keys", "tracking_total_keys metric", Gauge;
    "tracking_total_items" => "redis_tracking_total_items", "tracking_total_items metric", Gauge;
    "tracking_total_prefixes" => "redis_tracking_total_prefixes", "tracking_total_prefixes metric", Gauge;
    "unexpected_error_replies" => "redis_unexpected_error_replies", "unexpected_error_replies metric", Counter;
    "total_error_replies" => "redis_total_error_replies", "total_error_replies metric", Counter;
    "dump_payload_sanitizations" => "redis_dump_payload_sanitizations", "dump_payload_sanitizations metric", Counter;
    "total_reads_processed" => "redis_total_reads_processed", "total_reads_processed metric", Counter;
    "total_writes_processed" => "redis_total_writes_processed", "total_writes_processed metric", Counter;
    "io_threaded_reads_processed" => "redis_io_threaded_reads_processed", "io_threaded_reads_processed metric", Counter;
    "io_threaded_writes_processed" => "redis_io_threaded_writes_processed", "io_threaded_writes_processed metric", Counter;
    // Replication
    "connected_slaves" => "redis_connected_slaves", "connected_slaves metric", Gauge;
    "repl_backlog_size" => "redis_replication_backlog_bytes", "replication_backlog_bytes metric", Gauge;
    "repl_backlog_active" => "redis_repl_backlog_is_active", "repl_backlog_is_active metric", Gauge;
    "repl_backlog_first_byte_offset" => "redis_repl_backlog_first_byte_offset", "repl_backlog_first_byte_offset metric", Gauge;
    "repl_backlog_histlen" => "redis_repl_backlog_history_bytes", "repl_backlog_history_bytes metric", Gauge;
    "master_repl_offset" => "redis_master_repl_offset", "master_repl_offset metric", Gauge;
    "second_repl_offset" => "redis_second_repl_offset", "second_repl_offset metric", Gauge;
    "slave_expires_tracked_keys" => "redis_slave_expires_tracked_keys", "slave_expires_tracked_keys metric", Gauge;
    "slave_priority" => "redis_slave_priority", "slave_priority metric", Gauge;
    "sync_full" => "redis_replica_resyncs_full", "replica_resyncs_full metric", Gauge;
    "sync_partial_ok" => "redis_replica_partial_resync_accepted", "replica_partial_resync_accepted metric", Gauge;
    "sync_partial_err" => "redis_replica_partial_resync_denied", "replica_partial_resync_denied metric", Gauge;
    // CPU
    "used_cpu_sys" => "redis_cpu_sys_seconds_total", "cpu_sys_seconds_total metric", Counter;
    "used_cpu_user" => "redis_cpu_user_seconds_total", "cpu_user_seconds_total metric", Counter;
    "used_cpu_sys_children" => "redis_cpu_sys_children_seconds_total", "cpu_sys_children_seconds_total metric", Counter;
    "used_cpu_user_children" => "redis_cpu_user_children_seconds_total", "cpu_user_children_seconds_total metric", Counter;
    "used_cpu_sys_main_thread" => "redis_cpu_sys_main_thread_seconds_total", "cpu_sys_main_thread_seconds_total metric", Counter;
    "used_cpu_user_main_thread" => "redis_cpu_user_main_thread_seconds_total", "cpu_user_main_thread_seconds_total metric", Counter;
    // Cluster
    "cluster_stats_messages_sent" => "redis_cluster_messages_sent_total", "cluster_messages_sent_total metric", Gauge;
    "cluster_stats_messages_received" => "redis_cluster_messages_received_total", "cluster_messages_received_total metric", Gauge;
}

/// Writes the table-driven INFO families plus `instance_info` and `start_time_seconds`.
pub fn collect(s: &Scrape, out: &mut MetricSet) {
    for field in s.info.fields() {
        // Sections handled by their own collectors.
        if field.key.starts_with("cmdstat_")
            || field.key.starts_with("errorstat_")
            || field.key.starts_with("latency_percentiles_usec_")
            || (field.key.starts_with("db") && field.section.eq_ignore_ascii_case("Keyspace"))
        {
            continue;
        }
        let Some(value) = parse_value(field.value) else {
            continue;
        };
        if let Some((name, help, kind)) = fields().get(field.key) {
            emit(
                out,
                Text::Borrowed(name),
                Text::Borrowed(help),
                *kind,
                value,
            );
        } else if field.key == "latest_fork_usec" {
            // The one unit conversion upstream makes.
            out.gauge(
                "redis_latest_fork_seconds",
                "latest_fork_seconds metric",
                &[],
                value / 1e6,
            );
        } else if field.key == "total_system_memory" && s.opts.include_system_metrics {
            out.gauge(
                "redis_total_system_memory_bytes",
                "total_system_memory_bytes metric",
                &[],
                value,
            );
        } else if field.key.starts_with("cluster_") {
            // Upstream passes cluster_* fields through under their raw names: the one family
            // whose name comes from the server (its grep target is this line).
            let (name, help) = names::interned(&format!("redis_{}", field.key), || {
                format!("{} metric", field.key)
            });
            emit(out, name, help, Gauge, value);
        }
    }

    if let Some(uptime) = s.info.get("uptime_in_seconds").and_then(parse_value) {
        let now = s.now;
        out.gauge(
            "redis_start_time_seconds",
            "Start time of the Redis instance since unix epoch in seconds.",
            &[],
            (now - uptime).floor(),
        );
    }

    let get = |k: &str| s.info.get(k).unwrap_or("");
    out.gauge(
        "redis_instance_info",
        "Information about the Redis instance",
        &[
            ("role", get("role")),
            ("redis_version", get("redis_version")),
            ("redis_build_id", get("redis_build_id")),
            ("redis_mode", get("redis_mode")),
            ("os", get("os")),
            ("maxmemory_policy", get("maxmemory_policy")),
            ("tcp_port", get("tcp_port")),
            ("run_id", get("run_id")),
            ("process_id", get("process_id")),
            ("master_replid", get("master_replid")),
        ],
        1.0,
    );
}

/// The table as a map, built once: ~150 INFO fields are looked up per scrape.
fn fields() -> &'static HashMap<&'static str, (&'static str, &'static str, Kind)> {
    static MAP: OnceLock<HashMap<&'static str, (&'static str, &'static str, Kind)>> =
        OnceLock::new();
    MAP.get_or_init(|| {
        FIELDS
            .iter()
            .map(|(f, n, h, k)| (*f, (*n, *h, *k)))
            .collect()
    })
}

fn emit(out: &mut MetricSet, name: Text, help: Text, kind: Kind, value: f64) {
    match kind {
        Gauge => out.gauge(name, help, &[], value),
        Counter => out.counter(name, help, &[], value),
    }
}
