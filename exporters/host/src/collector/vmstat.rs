//! `/proc/vmstat`, the fields matching `--collector.vmstat.fields`, as untyped
//! `node_vmstat_<field>`.

use mcp_exporter_core::MetricSet;
use mcp_exporter_core::collector::CollectError;

use crate::{Host, parse, read};

/// Writes the selected vmstat fields.
pub fn collect(host: &Host, out: &mut MetricSet) -> Result<(), CollectError> {
    let text = read(&host.proc("vmstat"))?;
    for (k, v) in parse::key_values(&text) {
        let made = host.names.get("vmstat", k, |k| {
            host.vmstat_fields.is_match(k).then(|| {
                (
                    format!("node_vmstat_{k}"),
                    format!("/proc/vmstat information field {k}."),
                )
            })
        });
        if let Some((name, help)) = made {
            out.untyped(name, help, &[], v);
        }
    }
    Ok(())
}
