//! `LATENCY LATEST`: `latency_spike_last{event_name}` (unix seconds) and
//! `latency_spike_duration_seconds{event_name}`; present once the latency monitor recorded an event.

use mcp_exporter_core::MetricSet;
use redis::Value;

use super::Scrape;
use crate::pipeline::text;

/// Writes the latency-spike families.
pub fn collect(s: &Scrape, out: &mut MetricSet) {
    let Some(Value::Array(events)) = &s.snap.latency_latest else {
        return;
    };
    for event in events {
        let Value::Array(parts) = event else { continue };
        // [event name, unix time of latest spike, latest ms, max ms]
        let (Some(name), Some(when), Some(ms)) = (
            parts.first().and_then(text),
            parts
                .get(1)
                .and_then(text)
                .and_then(|v| v.parse::<f64>().ok()),
            parts
                .get(2)
                .and_then(text)
                .and_then(|v| v.parse::<f64>().ok()),
        ) else {
            continue;
        };
        let labels = [("event_name", name.as_str())];
        out.gauge(
            "redis_latency_spike_last",
            "When the latency spike last occurred",
            &labels,
            when,
        );
        out.gauge(
            "redis_latency_spike_duration_seconds",
            "Length of the last latency spike in seconds",
            &labels,
            ms / 1000.0,
        );
    }
}
