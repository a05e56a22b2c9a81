//! `/proc/meminfo`: one gauge per field, `node_memory_<Field>_bytes` for kB fields and
//! `node_memory_<Field>` for counts (node_exporter's meminfo collector; `Active(anon)` becomes
//! `Active_anon`).

use mcp_exporter_core::MetricSet;
use mcp_exporter_core::collector::CollectError;

use super::bad;
use crate::{Host, parse, read};

/// Writes one family per field.
pub fn collect(host: &Host, out: &mut MetricSet) -> Result<(), CollectError> {
    let fields = parse::meminfo(&read(&host.proc("meminfo"))?);
    if fields.is_empty() {
        return Err(bad("/proc/meminfo has no fields"));
    }
    for (key, value, kb) in fields {
        let made = host.names.get("meminfo", &key, |key| {
            let key = if kb {
                format!("{key}_bytes")
            } else {
                key.to_owned()
            };
            Some((
                format!("node_memory_{key}"),
                format!("Memory information field {key}."),
            ))
        });
        if let Some((name, help)) = made {
            out.gauge(name, help, &[], value);
        }
    }
    Ok(())
}
