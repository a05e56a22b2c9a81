//! Golden comparison: against a Redis in the reference's state, every `redis_*` family of the Go
//! exporter (the captured 1.45 anchor, and Debian's binary run live in the same test when it is
//! installed) is present in ours with the same type and label keys; values agree with INFO and
//! CONFIG GET; promtool accepts the output (only upstream's historic-name lints).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Command;
use std::time::Duration;

use common::{Exporter, value};
use mcp_testkit::{
    RedisServer, anchors_dir, find_binary, free_port, http_get, metric_diff, promtool_lint,
    wait_until,
};

fn reference_state(redis: &RedisServer) {
    for i in 0..50 {
        redis.cli(&["SET", &format!("user:{i}"), &format!("v{i}")]);
    }
    for i in 0..20 {
        redis.cli(&["SET", &format!("session:{i}"), "x", "EX", "3600"]);
    }
    redis.cli(&["SET", "counter", "42"]);
    for i in 0..10 {
        redis.cli(&["-n", "3", "SET", &format!("cache:{i}"), "c", "EX", "600"]);
    }
    for i in 0..25 {
        redis.cli(&["XADD", "mystream", "*", "n", &i.to_string()]);
    }
    redis.cli(&["LPUSH", "alist", "a", "b"]);
    // Errors for errorstats, and a slowlog entry.
    let _ = Command::new(find_binary("redis-cli").unwrap())
        .args(["-p", &redis.port().to_string(), "INCR", "alist"])
        .output();
    redis.cli(&["CONFIG", "SET", "slowlog-log-slower-than", "0"]);
    redis.cli(&["CONFIG", "SET", "latency-monitor-threshold", "1"]);
    // A busy Lua loop: a slowlog entry and a "command" latency event (DEBUG SLEEP records none).
    redis.cli(&[
        "EVAL",
        "local i=0 while i < 2000000 do i=i+1 end return 1",
        "0",
    ]);
}

/// Upstream lints on historic names; everything else would be ours.
const ACCEPTED_LINTS: &[&str] = &[
    "abbreviated units",
    "should have \"_total\" suffix",
    "should not have \"_total\" suffix",
    "use base unit \"seconds\"",
];

/// Every `# HELP` and `# TYPE` line the Go exporter wrote for a `redis_*` family we also serve is
/// in our output byte for byte (dashboards and `promtool` read them as they are).
fn assert_help_and_type_lines_match(go: &str, ours: &str) {
    let ours_lines: std::collections::HashSet<&str> = ours.lines().collect();
    let ours_families: std::collections::HashSet<&str> = ours
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split(' ').next())
        .collect();
    let differing: Vec<&str> = go
        .lines()
        .filter(|l| l.starts_with("# HELP redis_") || l.starts_with("# TYPE redis_"))
        .filter(|l| {
            l.split(' ')
                .nth(2)
                .is_some_and(|name| ours_families.contains(name))
        })
        .filter(|l| !ours_lines.contains(l))
        .collect();
    assert!(
        differing.is_empty(),
        "HELP/TYPE lines that differ from the Go exporter's:\n{}",
        differing.join("\n")
    );
}

#[test]
fn every_reference_family_is_present_with_matching_values() {
    let redis =
        RedisServer::start_with_args(&["--maxmemory", "64mb", "--maxmemory-policy", "allkeys-lru"])
            .unwrap();
    reference_state(&redis);
    let ours = Exporter::start(&[&format!("--redis.addr={}", redis.url())]);
    let text = ours.metrics();

    let anchor = anchors_dir().join("redis_exporter_1.45.metrics.txt");
    let (ok, report) = metric_diff(&anchor, &text, &["--prefix", "redis_"]);
    assert!(ok, "families missing against the 1.45 anchor:\n{report}");
    assert_help_and_type_lines_match(&std::fs::read_to_string(&anchor).unwrap(), &text);

    // Values agree with what Redis itself reports.
    assert_eq!(value(&text, "redis_up"), Some(1.0));
    assert_eq!(value(&text, "redis_memory_max_bytes"), Some(67108864.0));
    assert_eq!(value(&text, "redis_config_maxmemory"), Some(67108864.0));
    let dbsize: f64 = redis.cli(&["DBSIZE"]).trim().parse().unwrap();
    assert_eq!(value(&text, "redis_db_keys{db=\"db0\"}"), Some(dbsize));
    assert_eq!(value(&text, "redis_db_keys{db=\"db3\"}"), Some(10.0));
    assert_eq!(
        value(&text, "redis_db_keys_expiring{db=\"db3\"}"),
        Some(10.0)
    );
    assert_eq!(
        value(&text, "redis_db_keys{db=\"db15\"}"),
        Some(0.0),
        "zero-filled up to `databases`"
    );
    assert!(text.contains("redis_errors_total{err=\"WRONGTYPE\"} 1\n"));
    assert!(text.contains("redis_latency_percentiles_usec{cmd=\"set\",quantile=\"99.9\"}"));
    assert!(text.contains("redis_commands_latencies_usec_bucket{cmd=\"set\",le=\"+Inf\"}"));
    assert!(value(&text, "redis_slowlog_length").unwrap() > 0.0);
    assert!(text.contains("redis_latency_spike_duration_seconds{event_name=\"command\"}"));
    assert!(text.contains("role=\"master\""));

    let lints: Vec<String> = promtool_lint(&text)
        .into_iter()
        .filter(|l| !ACCEPTED_LINTS.iter().any(|a| l.contains(a)))
        .collect();
    assert!(lints.is_empty(), "promtool: {lints:?}");

    // The Go exporter on the same Redis: nothing it serves is missing from ours. Not installed is a
    // failure naming the package, not a skipped check.
    let go = find_binary("prometheus-redis-exporter").unwrap();
    let port = free_port();
    let mut child = Command::new(go)
        .arg(format!("-redis.addr={}", redis.url()))
        .arg(format!("-web.listen-address=127.0.0.1:{port}"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}/metrics");
    assert!(wait_until(Duration::from_secs(10), || http_get(&url).0 == 200));
    let go_text = http_get(&url).1;
    let _ = child.kill();
    let _ = child.wait();
    let dir = tempfile::tempdir().unwrap();
    let go_file = dir.path().join("go.txt");
    std::fs::write(&go_file, go_text).unwrap();
    let ours_now = ours.metrics();
    let (ok, report) = metric_diff(&go_file, &ours_now, &["--prefix", "redis_"]);
    assert!(
        ok,
        "families missing against the live Go exporter:\n{report}"
    );
    assert_help_and_type_lines_match(&std::fs::read_to_string(&go_file).unwrap(), &ours_now);
}

#[test]
fn replica_reports_master_link_and_master_reports_replica() {
    let master = RedisServer::start().unwrap();
    let replica =
        RedisServer::start_with_args(&["--replicaof", "127.0.0.1", &master.port().to_string()])
            .unwrap();
    assert!(wait_until(Duration::from_secs(15), || replica
        .cli(&["INFO", "replication"])
        .contains("master_link_status:up")));
    let ours = Exporter::start(&[
        &format!("--redis.addr={}", replica.url()),
        "--web.max-scrape-timeout=5s",
    ]);
    let text = ours.metrics();
    let labels = format!(
        "{{master_host=\"127.0.0.1\",master_port=\"{}\"}}",
        master.port()
    );
    assert_eq!(
        value(&text, &format!("redis_master_link_up{labels}")),
        Some(1.0),
        "{text}"
    );
    assert!(text.contains("redis_slave_info{"));
    let m = Exporter::start(&[&format!("--redis.addr={}", master.url())]);
    let text = m.metrics();
    assert!(
        text.contains("redis_connected_slave_offset_bytes{slave_ip=\"127.0.0.1\""),
        "{text}"
    );
    assert_eq!(value(&text, "redis_connected_slaves"), Some(1.0));
}
