//! Memory and swap from sysinfo, under `/proc/meminfo`'s family names: total, free, available,
//! swap total and free (the fields whose meaning is the same on every OS sysinfo supports).

use mcp_exporter_core::MetricSet;
use mcp_exporter_core::collector::CollectError;

use crate::Host;

/// Writes `node_memory_{MemTotal,MemFree,MemAvailable,SwapTotal,SwapFree}_bytes`.
pub fn collect(_host: &Host, out: &mut MetricSet) -> Result<(), CollectError> {
    let mut sys = sysinfo::System::new();
    sys.refresh_memory();
    if sys.total_memory() == 0 {
        return Err(CollectError::Backend(
            "the OS reported no memory (unsupported platform)".into(),
        ));
    }
    for (name, help, v) in [
        (
            "node_memory_MemTotal_bytes",
            "Memory information field MemTotal_bytes.",
            sys.total_memory(),
        ),
        (
            "node_memory_MemFree_bytes",
            "Memory information field MemFree_bytes.",
            sys.free_memory(),
        ),
        (
            "node_memory_MemAvailable_bytes",
            "Memory information field MemAvailable_bytes.",
            sys.available_memory(),
        ),
        (
            "node_memory_SwapTotal_bytes",
            "Memory information field SwapTotal_bytes.",
            sys.total_swap(),
        ),
        (
            "node_memory_SwapFree_bytes",
            "Memory information field SwapFree_bytes.",
            sys.free_swap(),
        ),
    ] {
        out.gauge(name, help, &[], v as f64);
    }
    Ok(())
}
