//! `--script`: `script_values{key,filename}` from the flat key/value array a Lua script returns,
//! and `script_result{filename}` (1 ok, 0 error, 2 empty), as v1.51+.

use mcp_exporter_core::MetricSet;
use redis::Value;

use super::Scrape;
use crate::pipeline::text;

/// Writes the script families.
pub fn collect(s: &Scrape, out: &mut MetricSet) {
    for (filename, reply) in &s.snap.scripts {
        let result = match reply {
            Err(_) => 0.0,
            Ok(Value::Array(items)) if !items.is_empty() => {
                for pair in items.chunks_exact(2) {
                    if let (Some(k), Some(v)) = (
                        text(&pair[0]),
                        text(&pair[1]).and_then(|v| v.parse::<f64>().ok()),
                    ) {
                        out.gauge(
                            "redis_script_values",
                            "Values returned by the collect script",
                            &[("key", k.as_str()), ("filename", filename.as_str())],
                            v,
                        );
                    }
                }
                1.0
            }
            Ok(_) => 2.0,
        };
        out.gauge(
            "redis_script_result",
            "Result of the collect script evaluation",
            &[("filename", filename.as_str())],
            result,
        );
    }
}
