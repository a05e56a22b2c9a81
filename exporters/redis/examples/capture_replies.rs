//! Captures the Redis replies the golden tests read (`tests/fixtures/replies/`): starts a
//! testkit `RedisServer` (and a replica), puts it in the reference state of
//! `tests/families_match_the_go_exporter.rs`, and writes each reply exactly as Redis sent it
//! (RESP2 bytes) to a file named after the command.
//!
//! ```sh
//! cargo run -p mcp-redis-exporter --example capture_replies
//! MCP_UPDATE_GOLDEN=1 cargo nextest run -p mcp-redis-exporter -E 'binary(golden_collectors)'
//! ```
//!
//! Run once and commit the result; rerunning changes ids, times and ports, so the goldens must
//! be regenerated and reviewed after it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use mcp_redis_exporter::Config;
use mcp_redis_exporter::key_checks::{self, KeyCheck};
use mcp_testkit::{RedisServer, wait_until};

/// Sends one command as a RESP array and returns the reply's bytes, read until they parse.
fn raw(addr: &str, args: &[&str]) -> Vec<u8> {
    let mut conn = TcpStream::connect(addr).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut req = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        req.extend_from_slice(format!("${}\r\n{a}\r\n", a.len()).as_bytes());
    }
    conn.write_all(&req).unwrap();
    let mut reply = Vec::new();
    let mut buf = [0u8; 65536];
    loop {
        let n = conn.read(&mut buf).unwrap();
        assert!(n > 0, "connection closed before a full reply to {args:?}");
        reply.extend_from_slice(&buf[..n]);
        if redis::parse_redis_value(&reply).is_ok() {
            return reply;
        }
    }
}

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
    // errorstats, slowlog, a "command" latency event (as the family test does).
    let _ = raw(&redis.addr(), &["INCR", "alist"]);
    redis.cli(&["CONFIG", "SET", "slowlog-log-slower-than", "0"]);
    redis.cli(&["CONFIG", "SET", "latency-monitor-threshold", "1"]);
    redis.cli(&[
        "EVAL",
        "local i=0 while i < 2000000 do i=i+1 end return 1",
        "0",
    ]);
    // A secret setting, to show CONFIG's redaction.
    redis.cli(&["CONFIG", "SET", "masterauth", "captured-secret"]);
}

fn main() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/replies");
    std::fs::create_dir_all(&dir).unwrap();
    let master =
        RedisServer::start_with_args(&["--maxmemory", "64mb", "--maxmemory-policy", "allkeys-lru"])
            .unwrap();
    let replica =
        RedisServer::start_with_args(&["--replicaof", "127.0.0.1", &master.port().to_string()])
            .unwrap();
    assert!(wait_until(Duration::from_secs(15), || replica
        .cli(&["INFO", "replication"])
        .contains("master_link_status:up")));
    reference_state(&master);
    let dbsize = master.cli(&["DBSIZE"]);
    assert!(wait_until(Duration::from_secs(15), || replica
        .cli(&["DBSIZE"])
        == dbsize));

    let m = master.addr();
    let write = |name: &str, bytes: Vec<u8>| std::fs::write(dir.join(name), bytes).unwrap();
    write("info_all_master.resp", raw(&m, &["INFO", "ALL"]));
    write(
        "info_all_replica.resp",
        raw(&replica.addr(), &["INFO", "ALL"]),
    );
    write("config_get_all.resp", raw(&m, &["CONFIG", "GET", "*"]));
    write(
        "config_get_keys.resp",
        raw(
            &m,
            &[
                "CONFIG",
                "GET",
                "maxmemory",
                "maxclients",
                "io-threads",
                "databases",
                "client-output-buffer-limit",
            ],
        ),
    );
    write("slowlog_len.resp", raw(&m, &["SLOWLOG", "LEN"]));
    write("slowlog_get_1.resp", raw(&m, &["SLOWLOG", "GET", "1"]));
    write("latency_latest.resp", raw(&m, &["LATENCY", "LATEST"]));
    write("latency_histogram.resp", raw(&m, &["LATENCY", "HISTOGRAM"]));
    write("client_list.resp", raw(&m, &["CLIENT", "LIST"]));
    write(
        "eval_pairs.resp",
        raw(&m, &["EVAL", "return {'hits', '7', 'ratio', '0.25'}", "0"]),
    );
    write(
        "eval_error.resp",
        raw(&m, &["EVAL", "return redis.error_reply('boom')", "0"]),
    );
    write_key_report(&master, &dir.join("key_checks.tsv"));
    println!("wrote {}", dir.display());
}

/// The key checks go through several round trips (SCAN, TYPE, sizes, values); their result is
/// captured as the report they produce, one `key`/`count`/`truncated` row per line.
fn write_key_report(master: &RedisServer, path: &Path) {
    let opts = Config {
        redis_addr: master.url(),
        check_keys_limit: 5,
        ..Config::default()
    }
    .validate()
    .unwrap()
    .options()
    .clone();
    let checks = KeyCheck::parse(
        "db0=user:1*,db0=alist",
        "db0=counter,db3=cache:1",
        "db0=session:*,db3=cache:*",
    )
    .unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let report = rt.block_on(async {
        let client = redis::Client::open(master.url()).unwrap();
        let mut conn = client.get_multiplexed_async_connection().await.unwrap();
        key_checks::run(&mut conn, &checks, &opts).await.unwrap()
    });
    let mut out =
        String::from("# kind\tdb\tkey\tsize\tvalue (key_checks::run on the capture server)\n");
    for k in &report.keys {
        let size = k.size.map(|s| s.to_string()).unwrap_or_default();
        let value = k.value.clone().unwrap_or_default();
        out.push_str(&format!("key\t{}\t{}\t{size}\t{value}\n", k.db, k.key));
    }
    for (db, pattern, n) in &report.counts {
        out.push_str(&format!("count\t{db}\t{pattern}\t{n}\t\n"));
    }
    out.push_str(&format!("truncated\t\t\t{}\t\n", report.truncated));
    std::fs::write(path, out).unwrap();
}
