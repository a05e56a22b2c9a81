//! `mcp-postgres-exporter`: flags and environment in, HTTP server out. Everything else is in the
//! library, which `mcp-agent` links too.

use anyhow::Context as _;
use mcp_exporter_core::{cli, logging, web};
use mcp_postgres_exporter as exporter;

mcp_exporter_core::musl_allocator!();

fn main() -> anyhow::Result<()> {
    let cmd = exporter::command();
    let args = cli::normalize_go_flags(&cmd, std::env::args_os().collect());
    let matches = cli::parse_or_exit(cmd, args);
    if exporter::dumpmaps(&matches) {
        for family in exporter::legacy_families() {
            println!("{family}");
        }
        return Ok(());
    }
    let (config, web_args, log_args) =
        exporter::from_matches(&matches).unwrap_or_else(|e| cli::usage_exit(e));
    logging::init(&log_args);
    for warning in exporter::flag_warnings(&matches) {
        tracing::warn!("{warning}");
    }
    let config = config.validate().unwrap_or_else(|e| cli::usage_exit(e));
    let setup = web::WebSetup::from_args(&web_args, exporter::DEFAULT_LISTEN)
        .unwrap_or_else(|e| cli::usage_exit(e));
    // Scrapes are I/O-bound and serialised per target: one thread keeps CPU and RSS low.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        tracing::info!(
            version = env!("CARGO_PKG_VERSION"),
            data_sources = ?config.redacted_dsns(),
            collectors = ?config.collectors(),
            "Starting mcp-postgres-exporter."
        );
        let router = exporter::app(config, &setup).await?;
        let listeners = web::bind(&setup).await?;
        for address in &setup.listen {
            tracing::info!(address = %address, tls = setup.is_tls(), "Listening.");
        }
        web::serve(listeners, &setup, router, web::shutdown_signal()).await;
        Ok(())
    })
}
