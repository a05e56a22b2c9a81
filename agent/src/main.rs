//! The `mcp-agent` binary: thin wiring over the library.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use mcp_exporter_core::{cli, logging, web};

mcp_exporter_core::musl_allocator!();

/// One sidecar per host: serves the host (:9100), Redis (:9121) and PostgreSQL (:9187) exporters
/// with node_exporter, redis_exporter and postgres_exporter metric names.
#[derive(Debug, Parser)]
#[command(name = "mcp-agent", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Cmd>,

    /// YAML config file with a section per exporter (host, redis, postgres). Without it every
    /// exporter runs with built-in defaults and the upstream environment variables.
    #[arg(long, global = true, value_name = "FILE", env = "MCP_AGENT_CONFIG")]
    config: Option<PathBuf>,

    #[command(flatten)]
    log: logging::LogArgs,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Serve every enabled exporter (the default).
    Run,
}

fn main() -> anyhow::Result<std::process::ExitCode> {
    let cli = {
        let cmd = <Cli as clap::CommandFactory>::command();
        let m = cli::parse_or_exit(cmd, std::env::args_os().collect());
        <Cli as clap::FromArgMatches>::from_arg_matches(&m).unwrap_or_else(|e| cli::usage_exit(e))
    };
    logging::init(&cli.log);
    let config = cli.config.as_deref().map(|path| {
        mcp_agent::config::AgentConfig::from_file(path).unwrap_or_else(|e| cli::usage_exit(e))
    });
    match cli.command.unwrap_or(Cmd::Run) {
        Cmd::Run => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()?;
            runtime.block_on(async {
                let planned = match mcp_agent::run::plan(config).await {
                    Ok(p) => p,
                    Err(error) => cli::usage_exit(error),
                };
                let result = mcp_agent::run::serve(planned, web::shutdown_signal(), |urls| {
                    for (name, url) in urls {
                        println!("mcp-agent: {name} exporter serving {url}");
                    }
                })
                .await;
                match result {
                    Ok(()) => Ok(std::process::ExitCode::SUCCESS),
                    Err(error) => {
                        eprintln!("error: {error}");
                        Ok(std::process::ExitCode::from(1))
                    }
                }
            })
        }
    }
}
