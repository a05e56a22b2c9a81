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

/// Entry points for the fuzz targets (`fuzz/`, cargo-fuzz) and for the bounded corpus tests in
/// `tests/fuzz_reply_parsing_corpus.rs`, so both drive exactly the same code: what Redis (or
/// anything listening at its address) sends, through every parser of a scrape. Each takes
/// arbitrary bytes and panics only when an invariant breaks. Not an API.
#[doc(hidden)]
pub mod fuzzing {
    use std::sync::Arc;

    use mcp_exporter_core::MetricSet;
    use redis::Value;

    use crate::collector::{Scrape, TABLE};
    use crate::config::{Config, Options, Script};
    use crate::pipeline::{Snapshot, commands};

    /// The options of a default scrape and of one with every optional reply on (CONFIG GET *,
    /// CLIENT LIST with ports, a script, system metrics), so every slot and collector runs.
    fn option_sets() -> Vec<Options> {
        let Ok(validated) = Config::default().validate() else {
            return Vec::new();
        };
        let default = validated.options().clone();
        let mut all = default.clone();
        all.include_system_metrics = true;
        all.include_config_metrics = true;
        all.export_client_list = true;
        all.export_client_port = true;
        all.scripts = vec![Script {
            name: "fuzz.lua".into(),
            body: "return 1".into(),
        }];
        vec![default, all]
    }

    /// Every collector of the table over one scrape's replies, then the encoder.
    fn collect_all(snap: Snapshot, opts: Options) {
        let namespace = opts.namespace.clone();
        let scrape = Scrape::at(snap, Arc::new(opts), 0.0);
        let mut set = MetricSet::new();
        for entry in TABLE {
            // The table's collectors are plain functions that run inside `collect`; the
            // returned future holds nothing more to do.
            drop((entry.new)().collect(&scrape, &mut set));
        }
        let (text, _) = crate::exporter::apply_namespace(set, &namespace).encode();
        assert!(text.is_empty() || text.ends_with('\n'));
    }

    /// `data` as RESP, the way redis-rs reads a reply off the socket: one reply (an array is
    /// taken as the pipeline's list of replies, one per slot), stored by slot as a scrape does,
    /// then every collector.
    pub fn replies(data: &[u8]) {
        let replies = match redis::parse_redis_value(data) {
            Ok(Value::Array(items)) => items,
            Ok(other) => vec![other],
            Err(_) => return,
        };
        for opts in option_sets() {
            for config_star in [false, true] {
                let slots: Vec<_> = commands(&opts, config_star)
                    .into_iter()
                    .map(|(slot, _)| slot)
                    .collect();
                let mut snap = Snapshot::default();
                if snap.read(&slots, replies.clone(), &opts).is_ok() {
                    collect_all(snap, opts.clone());
                }
            }
        }
    }

    /// `data` as the text of an `INFO ALL` reply, through the INFO parser and every collector.
    pub fn info(data: &[u8]) {
        let text = String::from_utf8_lossy(data).into_owned();
        let info = crate::info_parser::Info::parse(text.clone());
        for field in info.fields() {
            let _ = crate::info_parser::parse_value(field.value);
            let _ = crate::info_parser::parse_kv(field.value).count();
        }
        let _ = crate::info_parser::major_version(&info);
        for opts in option_sets() {
            let snap = Snapshot {
                info: text.clone(),
                ..Snapshot::default()
            };
            collect_all(snap, opts);
        }
    }
}
