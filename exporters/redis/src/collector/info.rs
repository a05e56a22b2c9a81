//! `INFO ALL`: the generic field → family table, `instance_info`, `start_time_seconds`.
//!
//! Mirrors redis_exporter's `metricMapGauges`/`metricMapCounters` (exporter.go) and its
//! pass-through of `cluster_*` fields. HELP is upstream's `"<name> metric"`. Fields not in the
//! table are ignored, so new Redis fields never break a scrape.

use std::borrow::Cow;
use std::sync::{Mutex, OnceLock};

use mcp_exporter_core::MetricSet;
use mcp_exporter_core::encoder::Text;
use rustc_hash::FxHashMap as HashMap;

use super::Scrape;
use crate::info::parse_value;

/// How a field is exported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Gauge,
    Counter,
}

use Kind::{Counter, Gauge};

/// `(INFO field, family name without namespace, type)`. One row per field: the grep target.
const FIELDS: &[(&str, &str, Kind)] = &[
    // Server
    ("uptime_in_seconds", "uptime_in_seconds", Gauge),
    ("process_id", "process_id", Gauge),
    ("io_threads_active", "io_threads_active", Gauge),
    // Clients
    ("connected_clients", "connected_clients", Gauge),
    ("blocked_clients", "blocked_clients", Gauge),
    ("tracking_clients", "tracking_clients", Gauge),
    (
        "clients_in_timeout_table",
        "clients_in_timeout_table",
        Gauge,
    ),
    (
        "client_longest_output_list",
        "client_longest_output_list",
        Gauge,
    ),
    (
        "client_biggest_input_buf",
        "client_biggest_input_buf",
        Gauge,
    ),
    (
        "client_recent_max_output_buffer",
        "client_recent_max_output_buffer_bytes",
        Gauge,
    ),
    (
        "client_recent_max_input_buffer",
        "client_recent_max_input_buffer_bytes",
        Gauge,
    ),
    // Memory
    ("allocator_active", "allocator_active_bytes", Gauge),
    ("allocator_allocated", "allocator_allocated_bytes", Gauge),
    ("allocator_resident", "allocator_resident_bytes", Gauge),
    ("allocator_frag_ratio", "allocator_frag_ratio", Gauge),
    ("allocator_frag_bytes", "allocator_frag_bytes", Gauge),
    ("allocator_rss_ratio", "allocator_rss_ratio", Gauge),
    ("allocator_rss_bytes", "allocator_rss_bytes", Gauge),
    ("used_memory", "memory_used_bytes", Gauge),
    ("used_memory_rss", "memory_used_rss_bytes", Gauge),
    ("used_memory_peak", "memory_used_peak_bytes", Gauge),
    ("used_memory_lua", "memory_used_lua_bytes", Gauge),
    ("used_memory_overhead", "memory_used_overhead_bytes", Gauge),
    ("used_memory_startup", "memory_used_startup_bytes", Gauge),
    ("used_memory_dataset", "memory_used_dataset_bytes", Gauge),
    ("used_memory_scripts", "memory_used_scripts_bytes", Gauge),
    (
        "number_of_cached_scripts",
        "number_of_cached_scripts",
        Gauge,
    ),
    ("maxmemory", "memory_max_bytes", Gauge),
    (
        "maxmemory_reservation",
        "memory_max_reservation_bytes",
        Gauge,
    ),
    (
        "maxmemory_desired_reservation",
        "memory_max_reservation_desired_bytes",
        Gauge,
    ),
    (
        "maxfragmentationmemory_reservation",
        "memory_max_fragmentation_reservation_bytes",
        Gauge,
    ),
    (
        "maxfragmentationmemory_desired_reservation",
        "memory_max_fragmentation_reservation_desired_bytes",
        Gauge,
    ),
    ("mem_fragmentation_ratio", "mem_fragmentation_ratio", Gauge),
    ("mem_fragmentation_bytes", "mem_fragmentation_bytes", Gauge),
    ("mem_clients_slaves", "mem_clients_slaves", Gauge),
    ("mem_clients_normal", "mem_clients_normal", Gauge),
    (
        "mem_total_replication_buffers",
        "mem_total_replication_buffers_bytes",
        Gauge,
    ),
    (
        "mem_not_counted_for_evict",
        "mem_not_counted_for_eviction_bytes",
        Gauge,
    ),
    (
        "lazyfree_pending_objects",
        "lazyfree_pending_objects",
        Gauge,
    ),
    ("active_defrag_running", "active_defrag_running", Gauge),
    // Persistence
    ("loading", "loading_dump_file", Gauge),
    (
        "rdb_changes_since_last_save",
        "rdb_changes_since_last_save",
        Gauge,
    ),
    ("rdb_bgsave_in_progress", "rdb_bgsave_in_progress", Gauge),
    (
        "rdb_last_save_time",
        "rdb_last_save_timestamp_seconds",
        Gauge,
    ),
    ("rdb_last_bgsave_status", "rdb_last_bgsave_status", Gauge),
    (
        "rdb_last_bgsave_time_sec",
        "rdb_last_bgsave_duration_sec",
        Gauge,
    ),
    (
        "rdb_current_bgsave_time_sec",
        "rdb_current_bgsave_duration_sec",
        Gauge,
    ),
    ("rdb_saves", "rdb_saves_total", Counter),
    ("rdb_last_cow_size", "rdb_last_cow_size_bytes", Gauge),
    (
        "rdb_last_load_keys_expired",
        "rdb_last_load_expired_keys",
        Gauge,
    ),
    (
        "rdb_last_load_keys_loaded",
        "rdb_last_load_loaded_keys",
        Gauge,
    ),
    ("aof_enabled", "aof_enabled", Gauge),
    ("aof_rewrite_in_progress", "aof_rewrite_in_progress", Gauge),
    ("aof_rewrite_scheduled", "aof_rewrite_scheduled", Gauge),
    (
        "aof_last_rewrite_time_sec",
        "aof_last_rewrite_duration_sec",
        Gauge,
    ),
    (
        "aof_current_rewrite_time_sec",
        "aof_current_rewrite_duration_sec",
        Gauge,
    ),
    ("aof_last_cow_size", "aof_last_cow_size_bytes", Gauge),
    ("aof_current_size", "aof_current_size_bytes", Gauge),
    ("aof_base_size", "aof_base_size_bytes", Gauge),
    ("aof_pending_rewrite", "aof_pending_rewrite", Gauge),
    ("aof_buffer_length", "aof_buffer_length", Gauge),
    (
        "aof_rewrite_buffer_length",
        "aof_rewrite_buffer_length",
        Gauge,
    ),
    ("aof_pending_bio_fsync", "aof_pending_bio_fsync", Gauge),
    ("aof_delayed_fsync", "aof_delayed_fsync", Gauge),
    (
        "aof_last_bgrewrite_status",
        "aof_last_bgrewrite_status",
        Gauge,
    ),
    ("aof_last_write_status", "aof_last_write_status", Gauge),
    ("module_fork_in_progress", "module_fork_in_progress", Gauge),
    (
        "module_fork_last_cow_size",
        "module_fork_last_cow_size",
        Gauge,
    ),
    // Stats
    (
        "total_connections_received",
        "connections_received_total",
        Counter,
    ),
    (
        "total_commands_processed",
        "commands_processed_total",
        Counter,
    ),
    (
        "rejected_connections",
        "rejected_connections_total",
        Counter,
    ),
    ("total_net_input_bytes", "net_input_bytes_total", Counter),
    ("total_net_output_bytes", "net_output_bytes_total", Counter),
    ("expired_keys", "expired_keys_total", Counter),
    ("evicted_keys", "evicted_keys_total", Counter),
    ("keyspace_hits", "keyspace_hits_total", Counter),
    ("keyspace_misses", "keyspace_misses_total", Counter),
    ("expired_stale_perc", "expired_stale_percentage", Gauge),
    // A gauge in 1.45 and v1.63 (the deployed version); v1.64 made it a counter.
    (
        "expired_time_cap_reached_count",
        "expired_time_cap_reached_total",
        Gauge,
    ),
    ("pubsub_channels", "pubsub_channels", Gauge),
    ("pubsub_patterns", "pubsub_patterns", Gauge),
    ("pubsubshard_channels", "pubsubshard_channels", Gauge),
    (
        "migrate_cached_sockets",
        "migrate_cached_sockets_total",
        Gauge,
    ),
    ("active_defrag_hits", "defrag_hits", Gauge),
    ("active_defrag_misses", "defrag_misses", Gauge),
    ("active_defrag_key_hits", "defrag_key_hits", Gauge),
    ("active_defrag_key_misses", "defrag_key_misses", Gauge),
    ("tracking_total_keys", "tracking_total_keys", Gauge),
    ("tracking_total_items", "tracking_total_items", Gauge),
    ("tracking_total_prefixes", "tracking_total_prefixes", Gauge),
    (
        "unexpected_error_replies",
        "unexpected_error_replies",
        Counter,
    ),
    ("total_error_replies", "total_error_replies", Counter),
    (
        "dump_payload_sanitizations",
        "dump_payload_sanitizations",
        Counter,
    ),
    ("total_reads_processed", "total_reads_processed", Counter),
    ("total_writes_processed", "total_writes_processed", Counter),
    (
        "io_threaded_reads_processed",
        "io_threaded_reads_processed",
        Counter,
    ),
    (
        "io_threaded_writes_processed",
        "io_threaded_writes_processed",
        Counter,
    ),
    // Replication
    ("connected_slaves", "connected_slaves", Gauge),
    ("repl_backlog_size", "replication_backlog_bytes", Gauge),
    ("repl_backlog_active", "repl_backlog_is_active", Gauge),
    (
        "repl_backlog_first_byte_offset",
        "repl_backlog_first_byte_offset",
        Gauge,
    ),
    ("repl_backlog_histlen", "repl_backlog_history_bytes", Gauge),
    ("master_repl_offset", "master_repl_offset", Gauge),
    ("second_repl_offset", "second_repl_offset", Gauge),
    (
        "slave_expires_tracked_keys",
        "slave_expires_tracked_keys",
        Gauge,
    ),
    ("slave_priority", "slave_priority", Gauge),
    ("sync_full", "replica_resyncs_full", Gauge),
    ("sync_partial_ok", "replica_partial_resync_accepted", Gauge),
    ("sync_partial_err", "replica_partial_resync_denied", Gauge),
    // CPU
    ("used_cpu_sys", "cpu_sys_seconds_total", Counter),
    ("used_cpu_user", "cpu_user_seconds_total", Counter),
    (
        "used_cpu_sys_children",
        "cpu_sys_children_seconds_total",
        Counter,
    ),
    (
        "used_cpu_user_children",
        "cpu_user_children_seconds_total",
        Counter,
    ),
    (
        "used_cpu_sys_main_thread",
        "cpu_sys_main_thread_seconds_total",
        Counter,
    ),
    (
        "used_cpu_user_main_thread",
        "cpu_user_main_thread_seconds_total",
        Counter,
    ),
    // Cluster
    (
        "cluster_stats_messages_sent",
        "cluster_messages_sent_total",
        Gauge,
    ),
    (
        "cluster_stats_messages_received",
        "cluster_messages_received_total",
        Gauge,
    ),
];

/// Writes the table-driven INFO families plus `instance_info` and `start_time_seconds`.
pub fn collect(s: &Scrape<'_>, out: &mut MetricSet) {
    for field in &s.info.fields {
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
        if let Some((name, kind)) = fields().get(field.key) {
            emit(s, out, name, *kind, value);
        } else if field.key == "latest_fork_usec" {
            // The one unit conversion upstream makes.
            emit(s, out, "latest_fork_seconds", Gauge, value / 1e6);
        } else if field.key == "total_system_memory" && s.opts.include_system_metrics {
            emit(s, out, "total_system_memory_bytes", Gauge, value);
        } else if field.key.starts_with("cluster_") {
            // Upstream passes cluster_* fields through under their raw names.
            emit(s, out, field.key, Gauge, value);
        }
    }

    if let Some(uptime) = s.info.get("uptime_in_seconds").and_then(parse_value) {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        out.gauge(
            s.name("start_time_seconds"),
            "Start time of the Redis instance since unix epoch in seconds.",
            &[],
            (now - uptime).floor(),
        );
    }

    let get = |k: &str| s.info.get(k).unwrap_or("");
    out.gauge(
        s.name("instance_info"),
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
fn fields() -> &'static HashMap<&'static str, (&'static str, Kind)> {
    static MAP: OnceLock<HashMap<&'static str, (&'static str, Kind)>> = OnceLock::new();
    MAP.get_or_init(|| FIELDS.iter().map(|(f, n, k)| (*f, (*n, *k))).collect())
}

/// `(full name, HELP)` of an INFO family, made once per process and namespace: the same few
/// hundred strings are needed on every scrape. Bounded, because `cluster_*` names come from
/// the server; past the bound the strings are built per scrape.
pub(crate) fn interned(ns: &str, name: &str) -> (Text, Text) {
    type Inner = HashMap<String, (&'static str, &'static str)>;
    static CACHE: OnceLock<Mutex<HashMap<String, Inner>>> = OnceLock::new();
    const MAX: usize = 4096;
    let cache = CACHE.get_or_init(|| Mutex::new(HashMap::default()));
    if let Ok(mut map) = cache.lock() {
        if !map.contains_key(ns) {
            map.insert(ns.to_owned(), Inner::default());
        }
        let Some(inner) = map.get_mut(ns) else {
            return (
                Cow::Owned(format!("{ns}_{name}")),
                Cow::Owned(format!("{name} metric")),
            );
        };
        if let Some((n, h)) = inner.get(name) {
            return (Cow::Borrowed(*n), Cow::Borrowed(*h));
        }
        if inner.len() < MAX {
            let full: &'static str = Box::leak(format!("{ns}_{name}").into_boxed_str());
            let help: &'static str = Box::leak(format!("{name} metric").into_boxed_str());
            inner.insert(name.to_owned(), (full, help));
            return (Cow::Borrowed(full), Cow::Borrowed(help));
        }
    }
    (
        Cow::Owned(format!("{ns}_{name}")),
        Cow::Owned(format!("{name} metric")),
    )
}

fn emit(s: &Scrape<'_>, out: &mut MetricSet, name: &str, kind: Kind, value: f64) {
    let (full, help) = interned(s.ns, name);
    match kind {
        Gauge => out.gauge(full, help, &[], value),
        Counter => out.counter(full, help, &[], value),
    }
}
