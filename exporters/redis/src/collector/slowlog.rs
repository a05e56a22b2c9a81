//! `SLOWLOG LEN` and `SLOWLOG GET 1`: `slowlog_length`, `slowlog_last_id`,
//! `last_slow_execution_duration_seconds`.

use mcp_exporter_core::MetricSet;
use redis::Value;

use super::Scrape;
use crate::pipeline::text;

/// Writes the slowlog families.
pub fn collect(s: &Scrape, out: &mut MetricSet) {
    if let Some(len) = s.snap.slowlog_len {
        out.gauge("redis_slowlog_length", "Total slowlog", &[], len as f64);
    }
    let (mut id, mut duration) = (0.0, 0.0);
    if let Some(Value::Array(entries)) = &s.snap.slowlog_last
        && let Some(Value::Array(entry)) = entries.first()
    {
        // [id, unix time, duration in µs, args, client addr, client name]
        id = entry
            .first()
            .and_then(text)
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0);
        duration = entry
            .get(2)
            .and_then(text)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
            / 1e6;
    }
    if s.snap.slowlog_last.is_some() {
        out.gauge("redis_slowlog_last_id", "Last id of slowlog", &[], id);
        out.gauge(
            "redis_last_slow_execution_duration_seconds",
            "The amount of time needed for last slow execution, in seconds",
            &[],
            duration,
        );
    }
}
