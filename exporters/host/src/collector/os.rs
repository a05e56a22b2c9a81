//! `/etc/os-release` (or `/usr/lib/os-release`) under the rootfs: `node_os_info{...}` and
//! `node_os_version{id,id_like,name}`.

use std::collections::HashMap;

use mcp_exporter_core::MetricSet;
use mcp_exporter_core::collector::CollectError;

use crate::Host;

/// Parses `KEY="value"` lines.
pub fn parse_os_release(text: &str) -> HashMap<String, String> {
    text.lines()
        .filter_map(|l| {
            let (k, v) = l.split_once('=')?;
            let v = v.trim().trim_matches('"').trim_matches('\'');
            Some((k.trim().to_owned(), v.to_owned()))
        })
        .collect()
}

/// Writes the os families.
pub fn collect(host: &Host, out: &mut MetricSet) -> Result<(), CollectError> {
    let text = crate::read_text(host.rooted("/etc/os-release"))
        .or_else(|_| crate::read_text(host.rooted("/usr/lib/os-release")))?;
    let f = parse_os_release(&text);
    let g = |k: &str| f.get(k).map(String::as_str).unwrap_or("");
    out.gauge(
        "node_os_info",
        "A metric with a constant '1' value labeled by build_id, id, id_like, image_id, image_version, name, pretty_name, variant, variant_id, version, version_codename, version_id.",
        &[
            ("build_id", g("BUILD_ID")),
            ("id", g("ID")),
            ("id_like", g("ID_LIKE")),
            ("image_id", g("IMAGE_ID")),
            ("image_version", g("IMAGE_VERSION")),
            ("name", g("NAME")),
            ("pretty_name", g("PRETTY_NAME")),
            ("variant", g("VARIANT")),
            ("variant_id", g("VARIANT_ID")),
            ("version", g("VERSION")),
            ("version_codename", g("VERSION_CODENAME")),
            ("version_id", g("VERSION_ID")),
        ],
        1.0,
    );
    // "12" → 12, "22.04" → 22.04, "3.18.4" → 3.18 (major.minor).
    let mut parts = g("VERSION_ID").split('.');
    let version = match (parts.next(), parts.next()) {
        (Some(a), Some(b)) => format!("{a}.{b}").parse::<f64>().ok(),
        (Some(a), None) => a.parse::<f64>().ok(),
        _ => None,
    };
    if let Some(v) = version {
        out.gauge(
            "node_os_version",
            "Metric containing the major.minor part of the OS version.",
            &[
                ("id", g("ID")),
                ("id_like", g("ID_LIKE")),
                ("name", g("NAME")),
            ],
            v,
        );
    }
    Ok(())
}
