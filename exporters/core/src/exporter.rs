//! What every exporter crate provides, and the one `main` over it.
//!
//! An exporter crate implements [`Exporter`] on a unit type (`mcp_postgres_exporter::Postgres`,
//! `mcp_host_exporter::Host`): its name, default listen address, flags, config and router. Its
//! `main.rs` is then the same three lines in every exporter:
//!
//! ```ignore
//! mcp_exporter_core::musl_allocator!();
//! fn main() -> std::process::ExitCode {
//!     mcp_exporter_core::exporter::main::<mcp_host_exporter::HostExporter>()
//! }
//! ```
//!
//! # How the agent uses it
//!
//! The agent serves several exporters from one process and reads their settings from its file
//! instead of flags. Per exporter its plan is one generic function over this trait:
//!
//! ```ignore
//! async fn plan_one<E: Exporter>(section: Option<Section<E::Config>>) -> Result<Planned, RunError> {
//!     // No section: flags from an empty command line, so the upstream environment variables apply.
//!     let (config, web) = match section {
//!         Some(s) => (s.config, s.web),
//!         None => {
//!             let m = E::command().try_get_matches_from([E::NAME])?;
//!             let (c, w, _log) = E::from_matches(&m)?;
//!             (c, w)
//!         }
//!     };
//!     let setup = WebSetup::from_args(&web, E::DEFAULT_LISTEN)?;
//!     let router = E::app(E::validate(config)?, &setup).await?;
//!     Ok(Planned { name: E::SECTION, setup, router })
//! }
//! ```
//!
//! so adding an exporter to the agent is one `plan_one::<E>(c.section)` line, and the standalone
//! binary and the agent cannot drift: both go through `from_matches`/`validate`/`app`.

use std::ffi::OsString;
use std::future::Future;
use std::process::ExitCode;

use clap::{ArgMatches, Command};

use crate::cli;
use crate::logging::{self, LogArgs};
use crate::web::{self, WebArgs, WebSetup};

/// Exit code of a runtime failure after the flags were accepted (the port is in use, the
/// runtime cannot start). Bad flags exit with [`cli::EXIT_USAGE`].
pub const EXIT_RUNTIME: u8 = 1;

/// One exporter: everything its binary and the agent need.
pub trait Exporter: 'static {
    /// The binary's name (`mcp-postgres-exporter`), for `--help` and the startup line.
    const NAME: &'static str;
    /// The agent's config section for it (`postgres`).
    const SECTION: &'static str;
    /// The upstream exporter's port (`:9187`).
    const DEFAULT_LISTEN: &'static str;
    /// Whether Go-style single-dash long flags (`-web.listen-address`) are accepted, as Go's
    /// `flag` package does (redis_exporter); kingpin-based exporters take double dashes only.
    const GO_FLAGS: bool = false;

    /// The settings, as flags fill them and as the agent's file section deserializes.
    type Config: serde::de::DeserializeOwned + Default + Send + 'static;
    /// The checked settings: the only thing [`app`](Self::app) accepts.
    type Validated: Send + 'static;
    /// A configuration problem (one line, no secret).
    type ConfigError: std::fmt::Display;
    /// A problem building the router.
    type Error: std::fmt::Display;

    /// Every flag, with the upstream names and environment variables.
    fn command() -> Command;
    /// The settings from parsed flags and the environment.
    fn from_matches(m: &ArgMatches) -> Result<(Self::Config, WebArgs, LogArgs), Self::ConfigError>;
    /// Checks the settings once, without the backend.
    fn validate(config: Self::Config) -> Result<Self::Validated, Self::ConfigError>;
    /// The full router. Nothing may connect to the backend before the first scrape.
    fn app(
        config: Self::Validated,
        web: &WebSetup,
    ) -> impl Future<Output = Result<axum::Router, Self::Error>> + Send;

    /// Flags that do their job and exit before anything starts (postgres' `--dumpmaps`).
    fn early_exit(_m: &ArgMatches) -> Option<ExitCode> {
        None
    }
    /// Accepted-but-ignored flags, logged once logging is up.
    fn warnings(_m: &ArgMatches) -> Vec<&'static str> {
        Vec::new()
    }
    /// Logged once before listening (data sources with passwords masked, collectors).
    fn log_start(_config: &Self::Validated) {}
    /// The runtime. One thread by default: scrapes are I/O-bound and serialised per target.
    fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    }
}

/// The whole standalone binary: flags → config → validate → bind → serve until SIGTERM.
/// Bad flags or config exit 2 with one line; a failure after that (port in use) exits 1 with one
/// line. Never a "Caused by" chain or a backtrace, whatever `RUST_BACKTRACE` says.
pub fn main<E: Exporter>() -> ExitCode {
    main_from::<E>(std::env::args_os().collect())
}

/// [`main`] over explicit arguments (`args[0]` is the program name).
pub fn main_from<E: Exporter>(args: Vec<OsString>) -> ExitCode {
    let cmd = E::command();
    let args = if E::GO_FLAGS {
        cli::normalize_go_flags(&cmd, args)
    } else {
        args
    };
    let matches = cli::parse_or_exit(cmd, args);
    if let Some(code) = E::early_exit(&matches) {
        return code;
    }
    let (config, web_args, log_args) =
        E::from_matches(&matches).unwrap_or_else(|e| cli::usage_exit(e));
    logging::init(&log_args);
    for warning in E::warnings(&matches) {
        tracing::warn!("{warning}");
    }
    let config = E::validate(config).unwrap_or_else(|e| cli::usage_exit(e));
    let setup =
        WebSetup::from_args(&web_args, E::DEFAULT_LISTEN).unwrap_or_else(|e| cli::usage_exit(e));
    let runtime = match E::runtime() {
        Ok(runtime) => runtime,
        Err(error) => return fatal(format_args!("cannot start the async runtime: {error}")),
    };
    runtime.block_on(async move {
        // Bind first: a port in use is then the only line printed.
        let listeners = match web::bind(&setup).await {
            Ok(listeners) => listeners,
            Err(error) => return fatal(error),
        };
        tracing::info!(version = env!("CARGO_PKG_VERSION"), "Starting {}.", E::NAME);
        E::log_start(&config);
        let router = match E::app(config, &setup).await {
            Ok(router) => router,
            Err(error) => return fatal(error),
        };
        for address in &setup.listen {
            tracing::info!(address = %address, tls = setup.is_tls(), "Listening.");
        }
        web::serve(listeners, &setup, router, web::shutdown_signal()).await;
        ExitCode::SUCCESS
    })
}

fn fatal(error: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {}", cli::one_line(&error.to_string()));
    ExitCode::from(EXIT_RUNTIME)
}
