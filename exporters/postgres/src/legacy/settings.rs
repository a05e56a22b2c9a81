//! `pg_settings_*`: every bool, integer and real setting as a gauge (upstream v0.15
//! `cmd/postgres_exporter/pg_setting.go`). Units are normalised to seconds or bytes with a name
//! suffix; HELP is `Server Parameter: <name>` (v0.13+). Rows are reused for
//! `--cache.settings-interval`. A setting with a unit we do not know is skipped with a debug
//! line (old upstream versions panicked, #404).

use mcp_exporter_core::{CollectFuture, Collector, MetricSet, MetricType};

use std::sync::Arc;

use mcp_exporter_core::encoder::{Text, Value};

use crate::queries;
use crate::session::{Session, SettingSample, SettingsCache, s};

pub(super) struct Settings;

impl Collector<Session> for Settings {
    fn collect<'a>(&'a self, t: &'a Session, out: &'a mut MetricSet) -> CollectFuture<'a> {
        Box::pin(async move {
            let cache = match t.caches.settings.get(t.opts.settings_ttl) {
                Some(v) => v,
                None => {
                    let rows = t.query(queries::SETTINGS).await?;
                    let samples: Vec<SettingSample> = rows
                        .iter()
                        .filter_map(|r| sample(&s(r, 0), &s(r, 1), &s(r, 2), &s(r, 4)))
                        .collect();
                    let mut set = MetricSet::new();
                    write(t, &samples, &mut set);
                    let (block, block_dropped) = set.encode();
                    t.caches.settings.put(SettingsCache {
                        samples,
                        block,
                        block_dropped,
                    })
                }
            };
            if t.opts.splice_settings {
                if let Ok(mut slot) = t.settings_block.lock() {
                    *slot = Some(Arc::clone(&cache));
                }
            } else {
                write(t, &cache.samples, out);
            }
            Ok(())
        })
    }
}

fn write(t: &Session, samples: &[SettingSample], out: &mut MetricSet) {
    for sample in samples {
        let mut labels: Vec<(Text, String)> =
            vec![(Text::Borrowed("server"), t.opts.server.clone())];
        for (k, v) in &t.opts.constant_labels {
            labels.push((Text::Owned(k.clone()), v.clone()));
        }
        out.push(
            Text::Borrowed(sample.name),
            Text::Borrowed(sample.help),
            MetricType::Gauge,
            labels,
            Value::Single(sample.value),
        );
    }
}

/// Inserts the encoded settings block into a sorted exposition text, before the first family whose
/// name sorts after every `pg_settings_*` name, so the whole output stays sorted.
pub fn splice(text: &mut String, block: &str) {
    // '~' sorts after every character a metric name may contain.
    const AFTER_SETTINGS: &str = "pg_settings_~";
    let mut at = text.len();
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let name = rest.split(' ').next().unwrap_or("");
            if name > AFTER_SETTINGS {
                at = offset;
                break;
            }
        }
        offset += line.len();
    }
    text.insert_str(at, block);
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
        name: crate::session::intern(metric),
        help: crate::session::intern(help),
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
    fn the_settings_block_lands_where_sorting_puts_it() {
        let mut text = "# HELP pg_database_size_bytes d\n# TYPE pg_database_size_bytes gauge\npg_database_size_bytes 1\n\
                        # HELP pg_stat_activity_count c\n# TYPE pg_stat_activity_count gauge\npg_stat_activity_count 1\n"
            .to_owned();
        splice(
            &mut text,
            "# HELP pg_settings_a a\n# TYPE pg_settings_a gauge\npg_settings_a 1\n",
        );
        let names: Vec<_> = text
            .lines()
            .filter_map(|l| l.strip_prefix("# HELP "))
            .collect();
        assert_eq!(
            names,
            [
                "pg_database_size_bytes d",
                "pg_settings_a a",
                "pg_stat_activity_count c"
            ]
        );
        let mut tail = "# HELP pg_scrape_x x\n".to_owned();
        splice(&mut tail, "B\n");
        assert_eq!(tail, "# HELP pg_scrape_x x\nB\n");
    }

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
            (s.name, s.value),
            ("pg_settings_statement_timeout_seconds", 1.5)
        );
        let s = sample("log_rotation_age", "-1", "min", "integer").unwrap();
        assert_eq!(s.value, -1.0);
        let s = sample("pg_stat_statements.save", "on", "", "bool").unwrap();
        assert_eq!(
            (s.name, s.value),
            ("pg_settings_pg_stat_statements_save", 1.0)
        );
        assert_eq!(s.help, "Server Parameter: pg_stat_statements.save");
        assert!(sample("x", "1", "parsecs", "integer").is_none());
    }
}
