//! `mcp-redis-exporter`: thin wiring over the library.

use mcp_exporter_core::{cli, logging, web};

mcp_exporter_core::musl_allocator!();

fn main() {
    let cmd = mcp_redis_exporter::command();
    // Go's flag package accepts `-redis.addr`; deployed units use it.
    let args = cli::normalize_go_flags(&cmd, std::env::args_os().collect());
    let matches = cli::parse_or_exit(cmd, args);
    let (config, web_args, log_args) =
        mcp_redis_exporter::from_matches(&matches).unwrap_or_else(|e| cli::usage_exit(e));
    logging::init(&log_args);
    let config = config.validate().unwrap_or_else(|e| cli::usage_exit(e));
    let setup = web::WebSetup::from_args(&web_args, mcp_redis_exporter::DEFAULT_LISTEN)
        .unwrap_or_else(|e| cli::usage_exit(e));
    if let Err(error) = run(config, setup) {
        // One line, exit 1: no anyhow "Caused by" chain and no backtrace, whatever
        // RUST_BACKTRACE says (issue 17 item 5).
        eprintln!("error: {}", cli::one_line(&error.to_string()));
        std::process::exit(1);
    }
}

fn run(config: mcp_redis_exporter::ValidatedConfig, setup: web::WebSetup) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let router = mcp_redis_exporter::app(config, &setup).await?;
        let listeners = web::bind(&setup).await?;
        for l in &listeners {
            if let Ok(addr) = l.local_addr() {
                tracing::info!(address = %addr, "Listening.");
            }
        }
        web::serve(listeners, &setup, router, web::shutdown_signal()).await;
        Ok(())
    })
}
