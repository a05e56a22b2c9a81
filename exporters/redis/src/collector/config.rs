//! `CONFIG GET`: `config_maxmemory`, `config_maxclients`, `config_io_threads`, the v1.63
//! `config_client_output_buffer_limit_{bytes,overcome_seconds}{class,limit}`, and with
//! `--include-config-metrics` every setting as `config_key_value{key,value}` and numeric ones as
//! `config_value{key}` (secrets redacted unless `--redact-config-metrics=false`).

use mcp_exporter_core::MetricSet;

use super::Scrape;

/// `(setting, full name, HELP)` of the settings exported as their own family.
const SETTINGS: &[(&str, &str, &str)] = &[
    (
        "maxmemory",
        "redis_config_maxmemory",
        "config_maxmemory metric",
    ),
    (
        "maxclients",
        "redis_config_maxclients",
        "config_maxclients metric",
    ),
    (
        "io-threads",
        "redis_config_io_threads",
        "config_io_threads metric",
    ),
];

/// Settings whose values are secrets.
const SECRET_KEYS: &[&str] = &[
    "requirepass",
    "masterauth",
    "masteruser",
    "tls-key-file-pass",
    "tls-client-key-file-pass",
];

/// Writes the CONFIG families.
pub fn collect(s: &Scrape, out: &mut MetricSet) {
    let Some(config) = &s.snap.config else {
        return;
    };
    for (key, value) in config {
        let row = SETTINGS.iter().find(|(k, _, _)| k == key);
        if let (Some((_, name, help)), Ok(v)) = (row, value.parse::<f64>()) {
            out.gauge(*name, *help, &[], v);
        }
        if key == "client-output-buffer-limit" {
            // "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60"
            let parts: Vec<&str> = value.split_whitespace().collect();
            for chunk in parts.chunks_exact(4) {
                let class = chunk[0];
                let (Some(hard), Some(soft), Some(secs)) = (
                    parse_bytes(chunk[1]),
                    parse_bytes(chunk[2]),
                    chunk[3].parse::<f64>().ok(),
                ) else {
                    continue;
                };
                let name = "redis_config_client_output_buffer_limit_bytes";
                let help = "The configured buffer limits per client class";
                out.gauge(name, help, &[("class", class), ("limit", "hard")], hard);
                out.gauge(name, help, &[("class", class), ("limit", "soft")], soft);
                out.gauge(
                    "redis_config_client_output_buffer_limit_overcome_seconds",
                    "How long for buffer limits per client class to be exceeded before replicas are dropped",
                    &[("class", class), ("limit", "soft")],
                    secs,
                );
            }
        }
        if s.opts.include_config_metrics {
            let shown = if s.opts.redact_config_metrics && SECRET_KEYS.contains(&key.as_str()) {
                ""
            } else {
                value.as_str()
            };
            out.gauge(
                "redis_config_key_value",
                "Config key and value",
                &[("key", key.as_str()), ("value", shown)],
                1.0,
            );
            if let Ok(v) = value.parse::<f64>() {
                out.gauge(
                    "redis_config_value",
                    "Config key and value as metric",
                    &[("key", key.as_str())],
                    v,
                );
            }
        }
    }
}

/// `67108864`, `64mb`, `1gb` as bytes.
fn parse_bytes(s: &str) -> Option<f64> {
    let lower = s.to_ascii_lowercase();
    let (num, mult) = if let Some(n) = lower.strip_suffix("gb") {
        (n, 1024.0 * 1024.0 * 1024.0)
    } else if let Some(n) = lower.strip_suffix("mb") {
        (n, 1024.0 * 1024.0)
    } else if let Some(n) = lower.strip_suffix("kb") {
        (n, 1024.0)
    } else {
        (lower.as_str(), 1.0)
    };
    num.parse::<f64>().ok().map(|n| n * mult)
}
