//! The smallest instrumented service, configured only by environment variables:
//! `MCP_SERVICE`, `MCP_METRICS_ADDR` (default 0.0.0.0:9464), `MCP_LOKI_URL`, `RUST_LOG`.

use std::time::Duration;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let guard = match mcp_instrument::init("minimal") {
        Ok(guard) => guard,
        Err(error) => return mcp_examples::fail("minimal", &error),
    };
    metrics::describe_counter!("minimal_ticks_total", "Work loop iterations.");
    let ticks = metrics::counter!("minimal_ticks_total");
    let mut interval = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = interval.tick() => {
                ticks.increment(1);
                tracing::info!(tick = true, "Working.");
            }
            _ = mcp_examples::shutdown_signal() => break,
        }
    }
    drop(guard);
    std::process::ExitCode::SUCCESS
}
