//! Key checks: `key_size{db,key}`, `key_value{db,key}`, `key_value_as_string{db,key,val}`,
//! `keys_count{db,key}`, and our `exporter_check_keys_truncated_total`-style gauge
//! `key_checks_truncated` when a SCAN hit its bound.

use mcp_exporter_core::MetricSet;

use super::Scrape;

/// Writes the key-check families.
pub fn collect(s: &Scrape, out: &mut MetricSet) {
    let report = &s.snap.keys;
    for k in &report.keys {
        let db = format!("db{}", k.db);
        let labels = [("db", db.as_str()), ("key", k.key.as_str())];
        if let Some(size) = k.size {
            out.gauge(
                "redis_key_size",
                "The length or size of \"key\"",
                &labels,
                size,
            );
        }
        if let Some(value) = &k.value {
            match value.parse::<f64>() {
                Ok(v) => out.gauge("redis_key_value", "The value of \"key\"", &labels, v),
                Err(_) if !s.opts.disable_exporting_key_values => out.gauge(
                    "redis_key_value_as_string",
                    "The value of \"key\" as a string",
                    &[
                        ("db", db.as_str()),
                        ("key", k.key.as_str()),
                        ("val", value.as_str()),
                    ],
                    1.0,
                ),
                Err(_) => {}
            }
        }
    }
    for (db, pattern, count) in &report.counts {
        let db = format!("db{db}");
        out.gauge(
            "redis_keys_count",
            "Count of keys",
            &[("db", db.as_str()), ("key", pattern.as_str())],
            *count,
        );
    }
    if report.truncated > 0 {
        out.gauge(
            "redis_exporter_key_checks_truncated",
            "Key-check patterns whose SCAN stopped at --check-keys-limit or 100 calls in the last scrape.",
            &[],
            report.truncated as f64,
        );
    }
}
