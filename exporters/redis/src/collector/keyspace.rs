//! `INFO keyspace`: `db_keys`, `db_keys_expiring` (zero-filled for every database, as upstream),
//! `db_avg_ttl_seconds` (non-empty databases only), `db_keys_cached` (KeyDB).

use mcp_exporter_core::MetricSet;

use super::Scrape;
use crate::info_parser::parse_kv;

/// Writes the keyspace families.
pub fn collect(s: &Scrape, out: &mut MetricSet) {
    let databases: u32 = s
        .snap
        .config
        .as_ref()
        .and_then(|c| c.iter().find(|(k, _)| k == "databases"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(16)
        .min(1024);
    let mut seen = vec![false; databases as usize];
    for field in s
        .info
        .fields()
        .filter(|f| f.section.eq_ignore_ascii_case("Keyspace"))
    {
        let Some(n) = field
            .key
            .strip_prefix("db")
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let db = field.key;
        let (mut keys, mut expires, mut avg_ttl, mut cached) = (None, None, None, None);
        for (k, v) in parse_kv(field.value) {
            let v = v.parse::<f64>().ok();
            match k {
                "keys" => keys = v,
                "expires" => expires = v,
                "avg_ttl" => avg_ttl = v,
                "cached_keys" => cached = v,
                _ => {}
            }
        }
        let (Some(keys), Some(expires)) = (keys, expires) else {
            continue;
        };
        if let Some(slot) = seen.get_mut(n as usize) {
            *slot = true;
        }
        write_db(out, db, keys, expires);
        if let Some(avg_ttl) = avg_ttl {
            out.gauge(
                "redis_db_avg_ttl_seconds",
                "Avg TTL in seconds",
                &[("db", db)],
                avg_ttl / 1000.0,
            );
        }
        if let Some(cached) = cached {
            out.gauge(
                "redis_db_keys_cached",
                "Total number of cached keys by DB",
                &[("db", db)],
                cached,
            );
        }
    }
    for (n, seen) in seen.iter().enumerate() {
        if !seen {
            write_db(out, &format!("db{n}"), 0.0, 0.0);
        }
    }
}

fn write_db(out: &mut MetricSet, db: &str, keys: f64, expires: f64) {
    out.gauge(
        "redis_db_keys",
        "Total number of keys by DB",
        &[("db", db)],
        keys,
    );
    out.gauge(
        "redis_db_keys_expiring",
        "Total number of expiring keys by DB",
        &[("db", db)],
        expires,
    );
}
