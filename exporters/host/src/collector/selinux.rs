//! SELinux: `node_selinux_enabled` (0 without `/sys/fs/selinux`), and with it the mode gauges.

use mcp_exporter_core::MetricSet;
use mcp_exporter_core::collector::CollectError;

use crate::Host;

/// Writes the selinux gauges.
pub fn collect(host: &Host, out: &mut MetricSet) -> Result<(), CollectError> {
    let enforce = crate::read_text(host.sys("fs/selinux/enforce")).ok();
    out.gauge(
        "node_selinux_enabled",
        "SELinux is enabled, 1 is true, 0 is false",
        &[],
        if enforce.is_some() { 1.0 } else { 0.0 },
    );
    if let Some(v) = enforce.and_then(|s| s.trim().parse::<f64>().ok()) {
        out.gauge(
            "node_selinux_current_mode",
            "SELinux current mode, 1 is enforcing, 0 is permissive",
            &[],
            v,
        );
    }
    Ok(())
}
