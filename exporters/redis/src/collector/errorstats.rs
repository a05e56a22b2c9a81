//! `INFO errorstats` (Redis ≥ 6.2): `errors_total{err}`.

use mcp_exporter_core::MetricSet;

use super::Scrape;
use crate::info_parser::parse_kv;

/// Writes `errors_total`.
pub fn collect(s: &Scrape, out: &mut MetricSet) {
    for field in s.info.fields() {
        let Some(err) = field.key.strip_prefix("errorstat_") else {
            continue;
        };
        if let Some(count) = parse_kv(field.value)
            .find(|(k, _)| *k == "count")
            .and_then(|(_, v)| v.parse::<f64>().ok())
        {
            out.counter(
                "redis_errors_total",
                "Total number of errors per error type",
                &[("err", err)],
                count,
            );
        }
    }
}
