//! `mcp-agent run`: build every enabled exporter, bind all ports first (so a port in use is a
//! clear startup error, not a half-running agent), print where each serves, then serve until
//! SIGTERM/SIGINT.

use std::collections::BTreeSet;
use std::future::Future;

use axum::Router;
use mcp_exporter_core::Exporter;
use mcp_exporter_core::web::{self, WebArgs, WebSetup};

use crate::config::{AgentConfig, Section};

/// Errors starting the agent.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// An exporter's configuration is invalid.
    #[error("{exporter}: {reason}")]
    Config {
        /// `host`, `redis` or `postgres`.
        exporter: &'static str,
        /// Why.
        reason: String,
    },
    /// A port could not be bound.
    #[error("{exporter}: {source}")]
    Bind {
        /// Which exporter.
        exporter: &'static str,
        /// The bind error, naming the address.
        #[source]
        source: web::WebError,
    },
    /// No exporter is enabled.
    #[error("every exporter is disabled in the config file; nothing to serve")]
    NothingEnabled,
    /// The `logs` section cannot be used.
    #[error("{0}")]
    Logs(String),
}

/// One exporter ready to serve.
pub struct Planned {
    /// `host`, `redis` or `postgres`.
    pub name: &'static str,
    /// Its validated web setup.
    pub setup: WebSetup,
    /// Its full router.
    pub router: Router,
}

impl std::fmt::Debug for Planned {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Planned")
            .field("name", &self.name)
            .field("setup", &self.setup)
            .finish()
    }
}

/// Builds every enabled exporter from the config file, or, without one, exactly as each standalone
/// binary with no flags would (built-in defaults plus the upstream environment variables). A
/// section's connection settings that it leaves out still come from the environment
/// ([`crate::env_defaults`]).
pub async fn plan(config: Option<AgentConfig>) -> Result<Vec<Planned>, RunError> {
    let (host, redis, postgres, has_logs) = match config {
        Some(c) => (c.host, c.redis, c.postgres, c.logs.is_some()),
        None => (None, None, None, false),
    };
    let mut planned = Vec::new();
    planned.extend(
        plan_one::<mcp_host_exporter::HostExporter>(host, crate::env_defaults::host).await?,
    );
    planned.extend(
        plan_one::<mcp_redis_exporter::RedisExporter>(redis, crate::env_defaults::redis).await?,
    );
    planned.extend(
        plan_one::<mcp_postgres_exporter::PostgresExporter>(
            postgres,
            crate::env_defaults::postgres,
        )
        .await?,
    );

    // A logs-only agent (every exporter disabled) is a log collector and nothing else.
    if planned.is_empty() && !has_logs {
        return Err(RunError::NothingEnabled);
    }
    Ok(planned)
}

/// Fills the connection settings a section leaves out from the environment
/// ([`crate::env_defaults`]); gets the keys the section's `settings` sets.
type EnvDefaults<C> = fn(&mut C, &BTreeSet<String>) -> Result<(), String>;

/// One exporter, through the same `from_matches`/`validate`/`app` as its standalone binary, so the
/// two cannot drift. `None` when its section disables it.
async fn plan_one<E: Exporter>(
    section: Option<Section<E::Config>>,
    env_defaults: EnvDefaults<E::Config>,
) -> Result<Option<Planned>, RunError> {
    let Some((cfg, web)) = settings(E::SECTION, section, env_defaults, || {
        E::from_matches(&matches(E::command(), E::NAME)?)
            .map(|(c, w, _)| (c, w))
            .map_err(|e| e.to_string())
    })?
    else {
        return Ok(None);
    };
    let setup = setup(E::SECTION, &web, E::DEFAULT_LISTEN)?;
    let cfg = E::validate(cfg).map_err(|e| config_error(E::SECTION, e))?;
    let router = E::app(cfg, &setup)
        .await
        .map_err(|e| config_error(E::SECTION, e))?;
    Ok(Some(Planned {
        name: E::SECTION,
        setup,
        router,
    }))
}

/// Parses an exporter's flags from an empty command line, so its env vars apply.
fn matches(cmd: clap::Command, bin: &'static str) -> Result<clap::ArgMatches, String> {
    cmd.try_get_matches_from([bin])
        .map_err(|e| mcp_exporter_core::cli::one_line(&e.render().to_string()))
}

fn config_error(exporter: &'static str, error: impl std::fmt::Display) -> RunError {
    RunError::Config {
        exporter,
        reason: mcp_exporter_core::cli::one_line(&error.to_string()),
    }
}

/// The exporter's settings and web flags: from its config-file section when there is one, else
/// from the environment. `None` when the section disables it.
fn settings<C: Default>(
    exporter: &'static str,
    section: Option<Section<C>>,
    env_defaults: EnvDefaults<C>,
    from_env: impl FnOnce() -> Result<(C, WebArgs), String>,
) -> Result<Option<(C, WebArgs)>, RunError> {
    match section {
        None => from_env()
            .map(Some)
            .map_err(|reason| RunError::Config { exporter, reason }),
        Some(section) if !section.enabled => Ok(None),
        Some(section) => {
            let max_scrape_timeout =
                web::parse_duration(&section.max_scrape_timeout).map_err(|reason| {
                    RunError::Config {
                        exporter,
                        reason: format!("max_scrape_timeout: {reason}"),
                    }
                })?;
            let mut settings = section.settings.unwrap_or_default();
            env_defaults(&mut settings, &section.settings_keys)
                .map_err(|reason| RunError::Config { exporter, reason })?;
            Ok(Some((
                settings,
                WebArgs {
                    listen_address: section.listen_address,
                    telemetry_path: section.telemetry_path,
                    config_file: section.web_config_file,
                    max_scrape_timeout,
                },
            )))
        }
    }
}

fn setup(
    exporter: &'static str,
    web: &WebArgs,
    default_listen: &str,
) -> Result<WebSetup, RunError> {
    WebSetup::from_args(web, default_listen).map_err(|e| config_error(exporter, e))
}

/// Binds every planned exporter, prints where each serves, and serves until `shutdown` resolves.
/// `on_ready` receives `(exporter, url)` pairs once every port is bound.
pub async fn serve(
    planned: Vec<Planned>,
    shutdown: impl Future<Output = ()> + Send + 'static,
    on_ready: impl FnOnce(Vec<(&'static str, String)>),
) -> Result<(), RunError> {
    serve_with_logs(planned, None, shutdown, on_ready).await
}

/// [`serve`], plus the log collector when `logs` is set: it tails until shutdown, then flushes
/// what it read (bounded by `flush_timeout_secs`) and saves its positions before this returns.
pub async fn serve_with_logs(
    planned: Vec<Planned>,
    logs: Option<crate::logs::LogsConfig>,
    shutdown: impl Future<Output = ()> + Send + 'static,
    on_ready: impl FnOnce(Vec<(&'static str, String)>),
) -> Result<(), RunError> {
    let log_stats = std::sync::Arc::new(crate::logs::LogStats::default());
    let collector = match logs {
        Some(cfg) => Some(
            crate::logs::Collector::new(cfg, std::sync::Arc::clone(&log_stats))
                .map_err(|e| RunError::Logs(e.to_string()))?,
        ),
        None => None,
    };
    let mut bound = Vec::new();
    let mut urls = Vec::new();
    for p in planned {
        let listeners = web::bind(&p.setup).await.map_err(|source| RunError::Bind {
            exporter: p.name,
            source,
        })?;
        for l in &listeners {
            if let Ok(addr) = l.local_addr() {
                let scheme = if p.setup.is_tls() { "https" } else { "http" };
                urls.push((
                    p.name,
                    format!("{scheme}://{addr}{}", p.setup.telemetry_path),
                ));
            }
        }
        bound.push((p, listeners));
    }
    on_ready(urls);
    let names: Vec<&'static str> = bound.iter().map(|(p, _)| p.name).collect();
    let stats = crate::telemetry::AgentStats::new(&names);
    let (stop_tx, _) = tokio::sync::broadcast::channel::<()>(1);
    let mut tasks = tokio::task::JoinSet::new();
    if let Some(c) = collector {
        stats.set_logs(std::sync::Arc::clone(&log_stats));
        let mut stop = stop_tx.subscribe();
        tasks.spawn(c.run(async move {
            let _ = stop.recv().await;
        }));
    }
    for (p, listeners) in bound {
        let mut stop = stop_tx.subscribe();
        let router =
            crate::telemetry::instrument(p.router, &stats, p.name, &p.setup.telemetry_path);
        tasks.spawn(async move {
            web::serve(listeners, &p.setup, router, async move {
                let _ = stop.recv().await;
            })
            .await;
        });
    }
    shutdown.await;
    // Every listener stops accepting at once; web::serve then lets in-flight scrapes finish.
    tracing::info!(
        in_flight = stats.in_flight(),
        "Stopping: no new connections."
    );
    let _ = stop_tx.send(());
    while tasks.join_next().await.is_some() {}
    Ok(())
}
