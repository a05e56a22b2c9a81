//! The `mcp-agent` binary: thin wiring over the library.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, FromArgMatches, Parser, Subcommand};
use mcp_agent::cmd::output::{EXIT_CANNOT_RUN, Format, Report};
use mcp_agent::cmd::{check, config_check, endpoint, fire_drill, log_drill};
use mcp_exporter_core::{cli, logging, web};

mcp_exporter_core::musl_allocator!();

const EXIT_CODES: &str = "Exit codes: 0 every check passed; 1 a check failed; 2 could not run \
(bad flags or config, or the endpoint the command is about is unreachable).";

/// One sidecar per host: serves the host (:9100), Redis (:9121) and PostgreSQL (:9187) exporters
/// with node_exporter, redis_exporter and postgres_exporter metric names, and checks the stack.
#[derive(Debug, Parser)]
#[command(name = "mcp-agent", version, about, after_help = EXIT_CODES)]
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
    /// Sanity-check the stack: components, targets, Grafana, Loki, PromQL, Alertmanager, volumes,
    /// network, rules.
    #[command(after_help = EXIT_CODES)]
    Check(CheckArgs),
    /// Post a test alert to Alertmanager (or, with --via prometheus, follow the Watchdog alert).
    #[command(after_help = EXIT_CODES)]
    FireDrill(FireDrillArgs),
    /// Make a service log one line with a fresh trace id and find it in Loki.
    #[command(after_help = EXIT_CODES)]
    LogDrill(LogDrillArgs),
    /// Config file tools.
    Config {
        #[command(subcommand)]
        action: ConfigCmd,
    },
}

#[derive(Debug, Subcommand)]
enum ConfigCmd {
    /// Validate a config file without serving: every problem, one line each, with its key path.
    #[command(after_help = "Exit codes: 0 valid; 1 problems found; 2 could not run.")]
    Check {
        /// The agent's YAML config file.
        file: PathBuf,
    },
}

/// The shared endpoint flags (`--prometheus-url`, `--grafana-credentials-file`, ...), kept as
/// matches and turned into endpoints after parsing so their errors are one line, exit 2.
#[derive(Debug, Clone)]
struct EndpointFlags(clap::ArgMatches);

impl FromArgMatches for EndpointFlags {
    fn from_arg_matches(m: &clap::ArgMatches) -> Result<Self, clap::Error> {
        Ok(Self(m.clone()))
    }
    fn update_from_arg_matches(&mut self, m: &clap::ArgMatches) -> Result<(), clap::Error> {
        self.0 = m.clone();
        Ok(())
    }
}

impl Args for EndpointFlags {
    fn augment_args(cmd: clap::Command) -> clap::Command {
        endpoint::add_flags(cmd)
    }
    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        endpoint::add_flags(cmd)
    }
}

#[derive(Debug, Clone, Args)]
struct Common {
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    output: Format,
}

#[derive(Debug, Args)]
struct CheckArgs {
    /// Categories not to run (comma-separated).
    #[arg(long, value_delimiter = ',', value_name = "CATEGORY,...")]
    skip: Vec<String>,
    /// Run only these categories (comma-separated): components, targets, grafana, loki, promql,
    /// alertmanager, volumes, network, rules.
    #[arg(long, value_delimiter = ',', value_name = "CATEGORY,...")]
    only: Vec<String>,
    /// Prometheus jobs that must have at least one active target.
    #[arg(long, value_delimiter = ',', default_value = check::DEFAULT_JOBS, value_name = "JOB,...")]
    expect_jobs: Vec<String>,
    /// The job of the CDB services (for the PromQL `up` queries).
    #[arg(long, default_value = "cdb_services", value_name = "JOB")]
    cdb_job: String,
    /// The CDB services whose `up` must be 1.
    #[arg(long, value_delimiter = ',', default_value = check::DEFAULT_CDB_SERVICES, value_name = "NAME,...")]
    cdb_services: Vec<String>,
    /// Receivers Alertmanager must have.
    #[arg(long, value_delimiter = ',', default_value = check::DEFAULT_RECEIVERS, value_name = "NAME,...")]
    expect_receivers: Vec<String>,
    /// Name prefix of the stack's containers and volumes (Docker rows).
    #[arg(long, default_value = "mcp_", value_name = "PREFIX")]
    docker_prefix: String,
    /// LogQL query Loki must answer.
    #[arg(long, default_value = "{service=~\".+\"}", value_name = "LOGQL")]
    loki_query: String,
    #[command(flatten)]
    common: Common,
    #[command(flatten)]
    endpoints: EndpointFlags,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Via {
    /// Post the drill alert to Alertmanager.
    Alertmanager,
    /// Follow the always-firing Watchdog alert from Prometheus to Alertmanager.
    Prometheus,
}

#[derive(Debug, Args)]
struct FireDrillArgs {
    /// End the drill alert after showing it.
    #[arg(long)]
    resolve: bool,
    /// Poll until Alertmanager reports the alert (and, with --resolve, drops it); print the time.
    #[arg(long)]
    wait: bool,
    /// How to drill.
    #[arg(long, value_enum, default_value = "alertmanager")]
    via: Via,
    /// The drill id label (fresh by default); give an earlier one to --resolve that drill.
    #[arg(long, value_name = "ID")]
    drill_id: Option<String>,
    /// The alert's endsAt from now: a forgotten drill resolves itself.
    #[arg(long, default_value = "10m", value_parser = web::parse_duration, value_name = "DURATION")]
    ttl: Duration,
    /// How long --wait polls.
    #[arg(long, default_value = "30s", value_parser = web::parse_duration, value_name = "DURATION")]
    timeout: Duration,
    #[command(flatten)]
    common: Common,
    #[command(flatten)]
    endpoints: EndpointFlags,
}

#[derive(Debug, Args)]
struct LogDrillArgs {
    /// The service: its Loki `service` label (cdb_core, cdb_risk, cdb_execution, cdb_ws, ...).
    #[arg(long, value_name = "NAME")]
    service: String,
    /// The service's base URL (default: its compose port on localhost for the CDB services).
    #[arg(long, value_name = "URL")]
    service_url: Option<String>,
    /// Push the drill line to Loki ourselves instead of asking the service to log it.
    #[arg(long)]
    direct: bool,
    /// The drill id (fresh by default).
    #[arg(long, value_name = "ID")]
    drill_id: Option<String>,
    /// How long to look for the line in Loki.
    #[arg(long, default_value = "30s", value_parser = web::parse_duration, value_name = "DURATION")]
    timeout: Duration,
    #[command(flatten)]
    common: Common,
    #[command(flatten)]
    endpoints: EndpointFlags,
}

fn endpoints(flags: &EndpointFlags) -> endpoint::Endpoints {
    endpoint::from_matches(&flags.0).unwrap_or_else(|e| cli::usage_exit(e))
}

fn drill_id(given: Option<String>) -> String {
    match given {
        Some(id) => {
            if let Err(reason) = mcp_agent::cmd::valid_drill_id(&id) {
                cli::usage_exit(format!("--drill-id: {reason}"));
            }
            id
        }
        None => fire_drill::new_drill_id(),
    }
}

/// "Could not run": one line on stderr, plus the rows so far (and, with `--output json`, the
/// document with `"passed": false` and the `error`).
fn cannot_run(mut report: Report, error: &fire_drill::CannotRun) -> ExitCode {
    eprintln!("error: {error}");
    if report.format() == Format::Json {
        report.extra.insert("passed".into(), false.into());
        report
            .extra
            .insert("error".into(), error.to_string().into());
        let _ = report.finish();
    } else if !report.rows.is_empty() {
        let _ = report.finish();
    }
    ExitCode::from(EXIT_CANNOT_RUN)
}

fn main() -> anyhow::Result<ExitCode> {
    let cli = {
        let cmd = <Cli as clap::CommandFactory>::command();
        let m = cli::parse_or_exit(cmd, std::env::args_os().collect());
        <Cli as clap::FromArgMatches>::from_arg_matches(&m).unwrap_or_else(|e| cli::usage_exit(e))
    };
    match cli.command.unwrap_or(Cmd::Run) {
        Cmd::Run => {
            logging::init(&cli.log);
            let config = cli.config.as_deref().map(|path| {
                let config = mcp_agent::config::AgentConfig::from_file(path)
                    .unwrap_or_else(|e| cli::usage_exit(e));
                // The same checks as `config check`, before anything is bound: a port listed
                // twice is a config error naming both keys, not "address in use" from bind.
                let problems = config_check::check_config(&config);
                if !problems.is_empty() {
                    for p in &problems {
                        eprintln!("error: {}: {}", path.display(), cli::one_line(p));
                    }
                    std::process::exit(cli::EXIT_USAGE);
                }
                config
            });
            run(config)
        }
        Cmd::Config {
            action: ConfigCmd::Check { file },
        } => {
            let problems = config_check::check_file(&file);
            if problems.is_empty() {
                println!("{}: valid", file.display());
                Ok(ExitCode::SUCCESS)
            } else {
                for p in &problems {
                    eprintln!("{}: {p}", file.display());
                }
                Ok(ExitCode::from(1))
            }
        }
        Cmd::Check(a) => {
            let e = endpoints(&a.endpoints);
            let (categories, skipped) =
                check::select(&a.skip, &a.only).unwrap_or_else(|e| cli::usage_exit(e));
            let (_, skipped_by_flag) =
                check::select(&a.skip, &[]).unwrap_or_else(|e| cli::usage_exit(e));
            let opts = check::Options {
                categories,
                skipped,
                skipped_by_flag,
                expected_jobs: a
                    .expect_jobs
                    .into_iter()
                    .filter(|j| !j.is_empty())
                    .collect(),
                cdb_job: a.cdb_job,
                cdb_services: a
                    .cdb_services
                    .into_iter()
                    .filter(|j| !j.is_empty())
                    .collect(),
                expected_receivers: a
                    .expect_receivers
                    .into_iter()
                    .filter(|j| !j.is_empty())
                    .collect(),
                docker_prefix: a.docker_prefix,
                loki_query: a.loki_query,
            };
            let mut report = Report::new("check", a.common.output);
            check::run(&e, &opts, &mut report);
            Ok(ExitCode::from(report.finish()))
        }
        Cmd::FireDrill(a) => {
            let e = endpoints(&a.endpoints);
            let opts = fire_drill::Options {
                drill_id: drill_id(a.drill_id),
                resolve: a.resolve,
                wait: a.wait,
                wait_timeout: a.timeout,
                ttl: a.ttl,
                via_prometheus: a.via == Via::Prometheus,
            };
            let mut report = Report::new("fire-drill", a.common.output);
            match fire_drill::run(&e, &opts, &mut report) {
                Ok(()) => Ok(ExitCode::from(report.finish())),
                Err(error) => Ok(cannot_run(report, &error)),
            }
        }
        Cmd::LogDrill(a) => {
            let e = endpoints(&a.endpoints);
            if let Some(url) = &a.service_url
                && let Err(error) = endpoint::Endpoint::new(
                    "service",
                    url,
                    endpoint::Auth::None,
                    &endpoint::Tls::default(),
                    e.timeout,
                )
            {
                cli::usage_exit(error);
            }
            let opts = log_drill::Options {
                service: a.service,
                service_url: a.service_url,
                direct: a.direct,
                wait_timeout: a.timeout,
                drill_id: drill_id(a.drill_id),
            };
            if !opts
                .service
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
            {
                cli::usage_exit("--service: a service name holds only A-Z a-z 0-9 _ - .");
            }
            let mut report = Report::new("log-drill", a.common.output);
            match log_drill::run(&e, &opts, &mut report) {
                Ok(()) => Ok(ExitCode::from(report.finish())),
                Err(error) => Ok(cannot_run(report, &error)),
            }
        }
    }
}

fn run(config: Option<mcp_agent::config::AgentConfig>) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let logs = config.as_ref().and_then(|c| c.logs.clone());
    runtime.block_on(async {
        let planned = match mcp_agent::run::plan(config).await {
            Ok(p) => p,
            Err(error) => cli::usage_exit(error),
        };
        let result =
            mcp_agent::run::serve_with_logs(planned, logs, web::shutdown_signal(), |urls| {
                for (name, url) in urls {
                    println!("mcp-agent: {name} exporter serving {url}");
                }
            })
            .await;
        match result {
            Ok(()) => Ok(ExitCode::SUCCESS),
            Err(error) => {
                eprintln!("error: {error}");
                Ok(ExitCode::from(1))
            }
        }
    })
}
