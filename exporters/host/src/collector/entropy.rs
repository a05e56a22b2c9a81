//! `/proc/sys/kernel/random/{entropy_avail,poolsize}`.

use mcp_exporter_core::MetricSet;
use mcp_exporter_core::collector::CollectError;

use super::bad;
use crate::{Host, read};

/// Writes the entropy gauges.
pub fn collect(host: &Host, out: &mut MetricSet) -> Result<(), CollectError> {
    let avail: f64 = read(&host.proc("sys/kernel/random/entropy_avail"))?
        .trim()
        .parse()
        .map_err(|_| bad("entropy_avail"))?;
    out.gauge(
        "node_entropy_available_bits",
        "Bits of available entropy.",
        &[],
        avail,
    );
    if let Ok(pool) = read(&host.proc("sys/kernel/random/poolsize"))?
        .trim()
        .parse::<f64>()
    {
        out.gauge(
            "node_entropy_pool_size_bits",
            "Bits of entropy pool.",
            &[],
            pool,
        );
    }
    Ok(())
}
