//! mcp-redis-exporter: a drop-in for oliver006/redis_exporter (v1.63 names, flags and env vars).
//!
//! - `/metrics` scrapes `--redis.addr`; `/scrape?target=redis://host:port` scrapes any target
//!   (credentials from `--redis.password-file`, keyed by target URI), as upstream.
//! - One persistent connection per target, every command of a scrape in one pipelined round trip,
//!   the whole scrape bounded by `X-Prometheus-Scrape-Timeout-Seconds` (capped by
//!   `--web.max-scrape-timeout`) and its replies by `--max-reply-bytes`. Redis down, hung or
//!   refusing the password: HTTP 200 with `redis_up 0` and `redis_exporter_last_scrape_error 1`.
//! - Passwords never reach logs, errors, metrics or `--help`.
//!
//! Where things are, by concern (a request's path from top to bottom):
//!
//! | file | what |
//! |---|---|
//! | `config.rs`, `cli.rs`, `addr.rs` | settings, their flags and env vars, target addresses |
//! | `http.rs` | the router and the `/metrics`, `/scrape` handlers |
//! | `exporter.rs` | targets, one scrape: fetch, collectors, own metrics, `--namespace` |
//! | `target.rs`, `connection.rs` | one target's connection (capped socket, backoff) and its fetch |
//! | `pipeline.rs`, `key_checks.rs` | the (slot, command) table of a scrape's round trip; key checks |
//! | `info_parser.rs` | the INFO text as fields |
//! | `collector/` | one file per source of samples, one table row each (`collector/mod.rs`) |
//! | `own_metrics.rs` | `redis_up`, `redis_exporter_*`: the exporter's own rows |
//! | `error.rs` | a failed scrape's stable category |

#![forbid(unsafe_code)]

pub mod addr;
pub mod cli;
pub mod collector;
pub mod config;
pub mod connection;
pub mod error;
pub mod exporter;
pub mod http;
pub mod info_parser;
pub mod key_checks;
pub mod names;
pub mod own_metrics;
pub mod pipeline;
pub mod target;

pub use cli::{command, from_matches};
pub use config::{Config, ConfigError, Options, Script, Secret, ValidatedConfig};
pub use error::{Error, ScrapeError};
pub use http::app;

/// redis_exporter's port.
pub const DEFAULT_LISTEN: &str = ":9121";

/// The exporter's descriptor: what `mcp_exporter_core::exporter::main` and the agent build it from.
#[derive(Debug, Clone, Copy)]
pub struct RedisExporter;

impl mcp_exporter_core::Exporter for RedisExporter {
    const NAME: &'static str = "mcp-redis-exporter";
    const SECTION: &'static str = "redis";
    const DEFAULT_LISTEN: &'static str = DEFAULT_LISTEN;
    // Go's flag package accepts `-redis.addr`; deployed units use it.
    const GO_FLAGS: bool = true;
    type Config = Config;
    type Validated = ValidatedConfig;
    type ConfigError = ConfigError;
    type Error = Error;

    fn command() -> clap::Command {
        command()
    }

    fn from_matches(
        m: &clap::ArgMatches,
    ) -> Result<
        (
            Config,
            mcp_exporter_core::web::WebArgs,
            mcp_exporter_core::logging::LogArgs,
        ),
        ConfigError,
    > {
        from_matches(m)
    }

    fn validate(config: Config) -> Result<ValidatedConfig, ConfigError> {
        config.validate()
    }

    async fn app(
        config: ValidatedConfig,
        web: &mcp_exporter_core::web::WebSetup,
    ) -> Result<axum::Router, Error> {
        app(config, web).await
    }

    /// Two workers: `/scrape?target=` serves several Redis targets at once.
    fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
    }
}
/// This exporter's version, for `--version` and `redis_exporter_build_info`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
