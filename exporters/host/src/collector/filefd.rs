//! `/proc/sys/fs/file-nr`: allocated and maximum file descriptors.

use mcp_exporter_core::MetricSet;
use mcp_exporter_core::collector::CollectError;

use super::bad;
use crate::{Host, read};

/// Writes the filefd gauges.
pub fn collect(host: &Host, out: &mut MetricSet) -> Result<(), CollectError> {
    let text = read(&host.proc("sys/fs/file-nr"))?;
    let v: Vec<f64> = text
        .split_ascii_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect();
    let [allocated, _, maximum] = v[..] else {
        return Err(bad("/proc/sys/fs/file-nr is not three numbers"));
    };
    out.gauge(
        "node_filefd_allocated",
        "File descriptor statistics: allocated.",
        &[],
        allocated,
    );
    out.gauge(
        "node_filefd_maximum",
        "File descriptor statistics: maximum.",
        &[],
        maximum,
    );
    Ok(())
}
