//! `mcp-host-exporter`: thin wiring over the library.

use mcp_exporter_core::{cli, logging, web};

mcp_exporter_core::musl_allocator!();

fn main() -> anyhow::Result<()> {
    let cmd = mcp_host_exporter::command();
    let matches = cli::parse_or_exit(cmd, std::env::args_os().collect());
    let (config, web_args, log_args) =
        mcp_host_exporter::from_matches(&matches).unwrap_or_else(|e| cli::usage_exit(e));
    logging::init(&log_args);
    let config = config.validate().unwrap_or_else(|e| cli::usage_exit(e));
    let setup = web::WebSetup::from_args(&web_args, mcp_host_exporter::DEFAULT_LISTEN)
        .unwrap_or_else(|e| cli::usage_exit(e));
    // One thread serves: the collectors only read kernel files (statvfs, which can hang, runs on
    // the blocking pool); a second worker only added cross-thread wake-ups per scrape.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .max_blocking_threads(16)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let router = mcp_host_exporter::app(config, &setup).await?;
        let listeners = web::bind(&setup).await?;
        web::serve(listeners, &setup, router, web::shutdown_signal()).await;
        Ok(())
    })
}
