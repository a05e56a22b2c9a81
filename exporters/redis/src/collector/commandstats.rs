//! `INFO commandstats` and `INFO latencystats`, plus `LATENCY HISTOGRAM`:
//! `commands_total`, `commands_duration_seconds_total`, `commands_{rejected,failed}_calls_total`,
//! `latency_percentiles_usec` (summary) and `commands_latencies_usec` (histogram).
//!
//! Upstream's HELP for the rejected/failed families is swapped relative to Redis's meaning (the
//! values are right); dashboards only read the names, and we copy the HELP byte for byte.

use std::collections::HashMap;

use mcp_exporter_core::MetricSet;
use redis::Value;

use super::Scrape;
use crate::info_parser::parse_kv;
use crate::pipeline::text;

/// Writes the per-command families.
pub fn collect(s: &Scrape, out: &mut MetricSet) {
    // (calls, usec) per command, for the summary's and histogram's _count/_sum.
    let mut totals: HashMap<&str, (f64, f64)> = HashMap::new();
    for field in s.info.fields() {
        let Some(cmd) = field.key.strip_prefix("cmdstat_") else {
            continue;
        };
        let (mut calls, mut usec, mut rejected, mut failed) = (None, None, None, None);
        for (k, v) in parse_kv(field.value) {
            let v = v.parse::<f64>().ok();
            match k {
                "calls" => calls = v,
                "usec" => usec = v,
                "rejected_calls" => rejected = v,
                "failed_calls" => failed = v,
                _ => {}
            }
        }
        let (Some(calls), Some(usec)) = (calls, usec) else {
            continue;
        };
        let labels = [("cmd", cmd)];
        out.counter(
            "redis_commands_total",
            "Total number of calls per command",
            &labels,
            calls,
        );
        out.counter(
            "redis_commands_duration_seconds_total",
            "Total amount of time in seconds spent per command",
            &labels,
            usec / 1e6,
        );
        if let Some(rejected) = rejected {
            out.counter(
                "redis_commands_rejected_calls_total",
                "Total number of errors within command execution per command",
                &labels,
                rejected,
            );
        }
        if let Some(failed) = failed {
            out.counter(
                "redis_commands_failed_calls_total",
                "Total number of errors prior command execution per command",
                &labels,
                failed,
            );
        }
        totals.insert(cmd, (calls, usec));
    }

    for field in s.info.fields() {
        let Some(cmd) = field.key.strip_prefix("latency_percentiles_usec_") else {
            continue;
        };
        let mut quantiles: Vec<(f64, f64)> = parse_kv(field.value)
            .filter_map(|(k, v)| {
                // "p99.9=12.5": the quantile label stays in percent ("99.9"), as upstream.
                Some((k.strip_prefix('p')?.parse().ok()?, v.parse().ok()?))
            })
            .collect();
        quantiles.sort_by(|a, b| a.0.total_cmp(&b.0));
        let (calls, usec) = totals.get(cmd).copied().unwrap_or((0.0, 0.0));
        out.summary(
            "redis_latency_percentiles_usec",
            "A summary of latency percentile distribution per command",
            &[("cmd", cmd)],
            quantiles,
            usec,
            calls as u64,
        );
    }

    if let Some(hist) = &s.snap.latency_histogram {
        for (cmd, buckets, calls) in parse_histogram(hist) {
            let usec = totals.get(cmd.as_str()).map(|t| t.1).unwrap_or(0.0);
            out.histogram(
                "redis_commands_latencies_usec",
                "A histogram of latencies per command",
                &[("cmd", cmd.as_str())],
                buckets,
                usec,
                calls,
            );
        }
    }
}

/// `(command, cumulative (le µs, count) buckets, calls)`.
pub type CommandHistogram = (String, Vec<(f64, u64)>, u64);

/// Parses `LATENCY HISTOGRAM`: `cmd → [calls, n, histogram_usec, [bucket, cumulative, ...]]`
/// (RESP2 arrays or RESP3 maps). Malformed entries are skipped.
pub fn parse_histogram(v: &Value) -> Vec<CommandHistogram> {
    let mut out = Vec::new();
    for (cmd, detail) in pairs(v) {
        let Some(cmd) = text(cmd) else { continue };
        let mut calls = 0u64;
        let mut buckets = Vec::new();
        for (k, v) in pairs(detail) {
            match text(k).as_deref() {
                Some("calls") => calls = text(v).and_then(|c| c.parse().ok()).unwrap_or(0),
                Some("histogram_usec") => {
                    for (b, c) in pairs(v) {
                        if let (Some(b), Some(c)) = (
                            text(b).and_then(|x| x.parse::<f64>().ok()),
                            text(c).and_then(|x| x.parse::<u64>().ok()),
                        ) {
                            buckets.push((b, c));
                        }
                    }
                }
                _ => {}
            }
        }
        buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
        out.push((cmd, buckets, calls));
    }
    out
}

/// Key/value pairs of a RESP2 flat array or a RESP3 map.
fn pairs(v: &Value) -> Vec<(&Value, &Value)> {
    match v {
        Value::Array(items) => items.chunks_exact(2).map(|c| (&c[0], &c[1])).collect(),
        Value::Map(items) => items.iter().map(|(k, v)| (k, v)).collect(),
        _ => Vec::new(),
    }
}
