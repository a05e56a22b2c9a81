//! Every collector of the table, fixture in, golden out: captured Redis replies
//! (`tests/fixtures/`, see `tests/fixtures/README.md` for how they were captured) go through
//! the collector, and its samples must equal `tests/golden/<collector>.prom` byte for byte.
//! `MCP_UPDATE_GOLDEN=1` rewrites the goldens (review the diff). Each golden also passes
//! `promtool check metrics` (only upstream's historic-name lints are accepted). No backend runs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use mcp_exporter_core::MetricSet;
use mcp_redis_exporter::collector::{self, Scrape};
use mcp_redis_exporter::config::{Config, Options};
use mcp_redis_exporter::key_checks::{KeyInfo, KeyReport};
use mcp_redis_exporter::own_metrics::{self, Outcome};
use mcp_redis_exporter::pipeline::Snapshot;
use redis::Value;

/// The scrape's clock in every golden (`start_time_seconds`, `created_at`, `idle_since`).
const NOW: f64 = 1_795_490_700.0;

fn manifest() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn fixture(name: &str) -> Vec<u8> {
    let path = manifest().join("tests/fixtures/replies").join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn reply(name: &str) -> Value {
    redis::parse_redis_value(&fixture(name)).unwrap()
}

fn text_reply(name: &str) -> String {
    match reply(name) {
        Value::BulkString(b) => String::from_utf8(b).unwrap(),
        other => panic!("{name}: not a bulk string: {other:?}"),
    }
}

fn config_pairs(name: &str) -> Vec<(String, String)> {
    let Value::Array(items) = reply(name) else {
        panic!("{name}: not an array");
    };
    items
        .chunks_exact(2)
        .map(|kv| {
            let s = |v: &Value| match v {
                Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
                other => panic!("{other:?}"),
            };
            (s(&kv[0]), s(&kv[1]))
        })
        .collect()
}

fn options(f: impl FnOnce(&mut Config)) -> Arc<Options> {
    let mut c = Config::default();
    f(&mut c);
    Arc::new(c.validate().unwrap().options().clone())
}

/// Upstream lints on historic names; everything else would be ours.
const ACCEPTED_LINTS: &[&str] = &[
    "abbreviated units",
    "should have \"_total\" suffix",
    "should not have \"_total\" suffix",
    "use base unit \"seconds\"",
    "counter metrics should have \"_total\" suffix",
    // redis_keys_count (upstream's name).
    "should not have \"_count\" suffix",
];

/// The golden comparison (testkit's, shared by every exporter), then promtool and upstream's
/// HELP/TYPE.
fn assert_golden(name: &str, actual: &str) {
    mcp_testkit::golden::assert_golden(
        mcp_testkit::golden::path(env!("CARGO_MANIFEST_DIR"), name),
        actual,
    );
    assert!(!actual.is_empty(), "{name}: the collector wrote nothing");
    let lints: Vec<String> = mcp_testkit::promtool_lint(actual)
        .into_iter()
        .filter(|l| !ACCEPTED_LINTS.iter().any(|a| l.contains(a)))
        .collect();
    assert!(lints.is_empty(), "{name}: promtool: {lints:?}");
    assert_help_and_type_as_upstream(name, actual);
}

/// The `# HELP`/`# TYPE` lines of every family the Go exporter's captures (1.45: default, all
/// options, clients state) also hold are byte-identical in the golden.
fn assert_help_and_type_as_upstream(name: &str, actual: &str) {
    let mine: std::collections::HashSet<&str> = actual.lines().collect();
    let families: std::collections::HashSet<&str> = actual
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split(' ').next())
        .collect();
    for anchor in [
        "redis_exporter_1.45.metrics.txt",
        "redis_exporter_1.45.all-options.metrics.txt",
        "redis_exporter_1.45.clients-state.metrics.txt",
    ] {
        let go = std::fs::read_to_string(mcp_testkit::anchors_dir().join(anchor)).unwrap();
        for line in go
            .lines()
            .filter(|l| l.starts_with("# HELP ") || l.starts_with("# TYPE "))
        {
            let family = line.split(' ').nth(2).unwrap_or("");
            if families.contains(family) {
                assert!(mine.contains(line), "{name}: differs from {anchor}: {line}");
            }
        }
    }
}

fn golden(name: &str, collect: collector::CollectFn, snap: Snapshot, opts: Arc<Options>) {
    let scrape = Scrape::at(snap, opts, NOW);
    let mut out = MetricSet::new();
    collect(&scrape, &mut out);
    assert_golden(name, &out.encode().0);
}

fn master_info() -> Snapshot {
    Snapshot {
        info: text_reply("info_all_master.resp"),
        ..Snapshot::default()
    }
}

#[test]
fn info() {
    // The INFO ALL capture of Redis 7.0.15, with --include-system-metrics.
    let info = std::fs::read_to_string(manifest().join("tests/fixtures/info_all_redis7.txt"))
        .unwrap()
        .replace('\n', "\r\n");
    let snap = Snapshot {
        info,
        ..Snapshot::default()
    };
    let opts = options(|c| c.include_system_metrics = true);
    golden("info", collector::info::collect, snap, opts);
}

#[test]
fn keyspace() {
    let snap = Snapshot {
        config: Some(config_pairs("config_get_keys.resp")),
        ..master_info()
    };
    golden(
        "keyspace",
        collector::keyspace::collect,
        snap,
        options(|_| {}),
    );
}

#[test]
fn commandstats() {
    let snap = Snapshot {
        latency_histogram: Some(reply("latency_histogram.resp")),
        ..master_info()
    };
    golden(
        "commandstats",
        collector::commandstats::collect,
        snap,
        options(|_| {}),
    );
}

#[test]
fn errorstats() {
    golden(
        "errorstats",
        collector::errorstats::collect,
        master_info(),
        options(|_| {}),
    );
}

#[test]
fn replication() {
    golden(
        "replication",
        collector::replication::collect,
        master_info(),
        options(|_| {}),
    );
    let replica = Snapshot {
        info: text_reply("info_all_replica.resp"),
        ..Snapshot::default()
    };
    golden(
        "replication_replica",
        collector::replication::collect,
        replica,
        options(|_| {}),
    );
}

#[test]
fn config() {
    // CONFIG GET * with --include-config-metrics (masterauth was set: it must show empty).
    let snap = Snapshot {
        config: Some(config_pairs("config_get_all.resp")),
        ..Snapshot::default()
    };
    let opts = options(|c| c.include_config_metrics = true);
    golden("config", collector::config::collect, snap, opts);
    let text = std::fs::read_to_string(manifest().join("tests/golden/config.prom")).unwrap();
    assert!(!text.contains("captured-secret"), "masterauth not redacted");
}

#[test]
fn slowlog() {
    let snap = Snapshot {
        slowlog_len: match reply("slowlog_len.resp") {
            Value::Int(n) => Some(n),
            other => panic!("{other:?}"),
        },
        slowlog_last: Some(reply("slowlog_get_1.resp")),
        ..Snapshot::default()
    };
    golden(
        "slowlog",
        collector::slowlog::collect,
        snap,
        options(|_| {}),
    );
}

#[test]
fn latency() {
    let snap = Snapshot {
        latency_latest: Some(reply("latency_latest.resp")),
        ..Snapshot::default()
    };
    golden(
        "latency",
        collector::latency::collect,
        snap,
        options(|_| {}),
    );
}

#[test]
fn clients() {
    let snap = Snapshot {
        client_list: Some(text_reply("client_list.resp")),
        ..Snapshot::default()
    };
    let opts = options(|c| {
        c.export_client_list = true;
        c.export_client_port = true;
    });
    golden("clients", collector::clients::collect, snap, opts);
}

#[test]
fn keys() {
    let tsv = String::from_utf8(fixture("key_checks.tsv")).unwrap();
    let mut report = KeyReport::default();
    for line in tsv.lines().filter(|l| !l.starts_with('#')) {
        let f: Vec<&str> = line.split('\t').collect();
        match f[0] {
            "key" => report.keys.push(KeyInfo {
                db: f[1].parse().unwrap(),
                key: f[2].to_owned(),
                size: f[3].parse().ok(),
                value: (!f[4].is_empty()).then(|| f[4].to_owned()),
            }),
            "count" => report.counts.push((
                f[1].parse().unwrap(),
                f[2].to_owned(),
                f[3].parse().unwrap(),
            )),
            "truncated" => report.truncated = f[3].parse().unwrap(),
            other => panic!("key_checks.tsv: unknown row {other}"),
        }
    }
    let snap = Snapshot {
        keys: report,
        ..Snapshot::default()
    };
    golden("keys", collector::keys::collect, snap, options(|_| {}));
}

#[test]
fn script() {
    let error = match reply("eval_error.resp") {
        Value::ServerError(e) => Err(e.details().unwrap_or("script error").to_owned()),
        other => panic!("{other:?}"),
    };
    let snap = Snapshot {
        scripts: vec![
            ("pairs.lua".into(), Ok(reply("eval_pairs.resp"))),
            ("broken.lua".into(), error),
            ("empty.lua".into(), Ok(Value::Nil)),
        ],
        ..Snapshot::default()
    };
    golden("script", collector::script::collect, snap, options(|_| {}));
}

#[test]
fn own_metrics() {
    let up = Outcome {
        error: None,
        duration: 0.0021,
        connect: 0.0004,
        ping: Some(0.0001),
        scrapes: 3,
        duration_sum: 0.0063,
        request_errors: 1,
        redis_only: false,
    };
    let mut out = MetricSet::new();
    own_metrics::write(&up, &mut out);
    assert_golden("own_metrics", &out.encode().0);
    let down = Outcome {
        error: Some("connect: connection refused"),
        connect: 0.0,
        ping: None,
        ..up
    };
    let mut out = MetricSet::new();
    own_metrics::write(&down, &mut out);
    assert_golden("own_metrics_down", &out.encode().0);
}

#[test]
fn every_collector_of_the_table_has_a_golden() {
    for entry in collector::TABLE {
        let path: &Path = &manifest()
            .join("tests/golden")
            .join(format!("{}.prom", entry.info.name));
        assert!(
            path.exists(),
            "collector {} has no golden (add a test here)",
            entry.info.name
        );
    }
}
