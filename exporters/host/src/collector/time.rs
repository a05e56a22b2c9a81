//! System time, time zone and clocksources: `node_time_seconds`,
//! `node_time_zone_offset_seconds{time_zone}` (UTC hosts; other zones are left out rather than
//! guessed, there is no tz database here), `node_time_clocksource_{available,current}_info`.

use mcp_exporter_core::MetricSet;
use mcp_exporter_core::collector::CollectError;

use crate::Host;

/// Writes the time families.
pub fn collect(host: &Host, out: &mut MetricSet) -> Result<(), CollectError> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    out.gauge(
        "node_time_seconds",
        "System time in seconds since epoch (1970).",
        &[],
        now,
    );
    let tz = std::env::var("TZ")
        .ok()
        .filter(|s| !s.is_empty())
        .or_else(|| {
            crate::read_text(host.rooted("/etc/timezone"))
                .ok()
                .map(|s| s.trim().to_owned())
        });
    let zone = match tz.as_deref() {
        None | Some("UTC") | Some("Etc/UTC") | Some(":UTC") | Some("Etc/Universal") => Some("UTC"),
        _ => None,
    };
    if let Some(zone) = zone {
        out.gauge(
            "node_time_zone_offset_seconds",
            "System time zone offset in seconds.",
            &[("time_zone", zone)],
            0.0,
        );
    }
    let base = host.sys("devices/system/clocksource");
    if let Ok(entries) = std::fs::read_dir(&base) {
        let mut dirs: Vec<String> = entries
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("clocksource"))
            .collect();
        dirs.sort();
        for d in dirs {
            let device = d.trim_start_matches("clocksource");
            let read = |f: &str| crate::read_text(base.join(&d).join(f)).unwrap_or_default();
            for cs in read("available_clocksource").split_ascii_whitespace() {
                out.gauge(
                    "node_time_clocksource_available_info",
                    "Available clocksources read from '/sys/devices/system/clocksource'.",
                    &[("clocksource", cs), ("device", device)],
                    1.0,
                );
            }
            let cur = read("current_clocksource");
            if !cur.trim().is_empty() {
                out.gauge(
                    "node_time_clocksource_current_info",
                    "Current clocksource read from '/sys/devices/system/clocksource'.",
                    &[("clocksource", cur.trim()), ("device", device)],
                    1.0,
                );
            }
        }
    }
    Ok(())
}
