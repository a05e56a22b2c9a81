//! `pg_settings_*`: every bool, integer and real setting as a gauge (upstream v0.15
//! `cmd/postgres_exporter/pg_setting.go`). Units are normalised to seconds or bytes with a name
//! suffix; HELP is `Server Parameter: <name>` (v0.13+). Rows are reused for
//! `--cache.settings-interval`. A setting with a unit we do not know is skipped with a debug
//! line (old upstream versions panicked, #404).

use mcp_exporter_core::{CollectFuture, Collector, MetricSet, MetricType};

use crate::queries;
use crate::session::{Session, SettingSample, s};

pub(super) struct Settings;

impl Collector<Session> for Settings {
    fn collect<'a>(&'a self, t: &'a Session, out: &'a mut MetricSet) -> CollectFuture<'a> {
        Box::pin(async move {
            let samples = match t.caches.settings.get(t.opts.settings_ttl) {
                Some(v) => v,
                None => {
                    let rows = t.query(queries::SETTINGS).await?;
                    let v: Vec<SettingSample> = rows
                        .iter()
                        .filter_map(|r| sample(&s(r, 0), &s(r, 1), &s(r, 2), &s(r, 4)))
                        .collect();
                    t.caches.settings.put(v)
                }
            };
            for sample in samples.iter() {
                let mut labels = vec![("server".into(), t.opts.server.clone())];
                for (k, v) in &t.opts.constant_labels {
                    labels.push((k.clone().into(), v.clone()));
                }
                out.push(
                    sample.name.clone().into(),
                    sample.help.clone().into(),
                    MetricType::Gauge,
                    labels,
                    mcp_exporter_core::encoder::Value::Single(sample.value),
                );
            }
            Ok(())
        })
    }
}

/// One setting as a sample, or `None` when its value or unit cannot be read.
pub(crate) fn sample(
    name: &str,
    setting: &str,
    unit: &str,
    vartype: &str,
) -> Option<SettingSample> {
    let mut metric = format!("pg_settings_{}", name.replace('.', "_"));
    let mut help = format!("Server Parameter: {name}");
    let value = match vartype {
        "bool" => {
            if setting == "on" {
                1.0
            } else {
                0.0
            }
        }
        "integer" | "real" => {
            let raw: f64 = match setting.parse() {
                Ok(v) => v,
                Err(_) => {
                    tracing::debug!(setting = name, "Setting value is not a number.");
                    return None;
                }
            };
            let Some((suffix, factor)) = unit_factor(unit) else {
                tracing::debug!(setting = name, unit = unit, "Unknown unit for setting.");
                return None;
            };
            if !suffix.is_empty() {
                metric.push('_');
                metric.push_str(suffix);
                help.push_str(&format!(" [Units converted to {suffix}.]"));
            }
            // -1 means "disabled" and is passed through unscaled, as upstream.
            if raw == -1.0 { raw } else { raw * factor }
        }
        _ => return None,
    };
    Some(SettingSample {
        name: metric,
        help,
        value,
    })
}

/// `(suffix, factor)` for a `pg_settings.unit`.
fn unit_factor(unit: &str) -> Option<(&'static str, f64)> {
    const KIB: f64 = 1024.0;
    Some(match unit {
        "" => ("", 1.0),
        "us" => ("seconds", 1e-6),
        "ms" => ("seconds", 1e-3),
        "s" => ("seconds", 1.0),
        "min" => ("seconds", 60.0),
        "h" => ("seconds", 3600.0),
        "d" => ("seconds", 86400.0),
        "B" => ("bytes", 1.0),
        "kB" => ("bytes", KIB),
        "MB" => ("bytes", KIB * KIB),
        "GB" => ("bytes", KIB * KIB * KIB),
        "TB" => ("bytes", KIB * KIB * KIB * KIB),
        "8kB" => ("bytes", 8.0 * KIB),
        "16kB" => ("bytes", 16.0 * KIB),
        "32kB" => ("bytes", 32.0 * KIB),
        "64kB" => ("bytes", 64.0 * KIB),
        "16MB" => ("bytes", 16.0 * KIB * KIB),
        "32MB" => ("bytes", 32.0 * KIB * KIB),
        "64MB" => ("bytes", 64.0 * KIB * KIB),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_are_normalised_like_upstream() {
        let s = sample("shared_buffers", "16384", "8kB", "integer").unwrap();
        assert_eq!(s.name, "pg_settings_shared_buffers_bytes");
        assert_eq!(s.value, 134_217_728.0);
        assert_eq!(
            s.help,
            "Server Parameter: shared_buffers [Units converted to bytes.]"
        );
        let s = sample("statement_timeout", "1500", "ms", "integer").unwrap();
        assert_eq!(
            (s.name.as_str(), s.value),
            ("pg_settings_statement_timeout_seconds", 1.5)
        );
        let s = sample("log_rotation_age", "-1", "min", "integer").unwrap();
        assert_eq!(s.value, -1.0);
        let s = sample("pg_stat_statements.save", "on", "", "bool").unwrap();
        assert_eq!(
            (s.name.as_str(), s.value),
            ("pg_settings_pg_stat_statements_save", 1.0)
        );
        assert_eq!(s.help, "Server Parameter: pg_stat_statements.save");
        assert!(sample("x", "1", "parsecs", "integer").is_none());
    }
}
