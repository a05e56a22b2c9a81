//! `mcp-postgres-exporter`: a drop-in replacement for prometheus-community/postgres_exporter v0.15.0.
//!
//! Same families, labels, HELP, flags and environment variables (see README.md), with one
//! persistent connection per target, bounded scrapes, cached slow queries, no HTTP 500 on duplicate
//! series and no password in any output.
//!
//! The library is what `mcp-agent` links: [`command`] + [`from_matches`] turn flags and environment
//! into a [`Config`] (the agent deserializes the same struct from its file), [`Config::validate`]
//! checks it once, and [`app`] builds the router.

#![forbid(unsafe_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::{Arg, ArgAction, ArgMatches, Command};
use mcp_exporter_core::logging::LogArgs;
use mcp_exporter_core::web::{WebArgs, WebSetup};

pub mod auth_modules;
pub mod collector;
pub mod dsn;
mod http;
pub mod legacy;
pub mod queries;
pub mod reason;
pub mod session;
pub mod socket;
pub mod target;
pub mod tls;

pub use auth_modules::AuthModules;
pub use dsn::{Dsn, DsnError};

/// postgres_exporter's port.
pub const DEFAULT_LISTEN: &str = ":9187";

/// The DSN used when none is configured.
pub const DEFAULT_DSN: &str = "postgresql://postgres@127.0.0.1:5432/postgres?sslmode=disable";

/// The auth-modules file upstream reads when `--config.file` is not given (a missing file is fine).
pub const DEFAULT_CONFIG_FILE: &str = "postgres_exporter.yml";

/// A secret string (a DSN that may hold a password). `Debug` shows the DSN with its password masked.
#[derive(Clone, serde::Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct SecretDsn(pub String);

impl std::fmt::Debug for SecretDsn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match Dsn::parse(&self.0) {
            Ok(d) => write!(f, "{:?}", d.redacted()),
            Err(_) => f.write_str("\"<unparsable DSN>\""),
        }
    }
}

/// The exporter's configuration, from flags and environment ([`from_matches`]) or from the agent's
/// file (serde).
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Data source names (`DATA_SOURCE_NAME`, comma-separated there). The first one also feeds the
    /// collectors; the others get the legacy families only, as upstream.
    pub data_source_names: Vec<SecretDsn>,
    /// Enabled collectors (`--[no-]collector.<name>`).
    pub collectors: BTreeSet<String>,
    /// `--disable-default-metrics`: no legacy built-in maps and no `pg_static`.
    pub disable_default_metrics: bool,
    /// `--disable-settings-metrics`: no `pg_settings_*`.
    pub disable_settings_metrics: bool,
    /// `--auto-discover-databases` (deprecated upstream): accepted; it only ever affected
    /// `queries.yaml` metrics, which are not supported, so it changes nothing.
    pub auto_discover_databases: bool,
    /// `--exclude-databases`: databases the `database` collector leaves out.
    pub exclude_databases: Vec<String>,
    /// `--include-databases` (auto-discover only upstream): accepted, no effect.
    pub include_databases: Vec<String>,
    /// `--metric-prefix`: replaces `pg` in the legacy built-in maps' names.
    pub metric_prefix: String,
    /// `--constantLabels`: labels added to the legacy families.
    pub constant_labels: BTreeMap<String, String>,
    /// `--config.file`: auth modules for `/probe`. `None` reads `postgres_exporter.yml` if present.
    pub config_file: Option<PathBuf>,
    /// `--extend.query-path` (queries.yaml): not supported; set means a configuration error.
    pub extend_query_path: Option<PathBuf>,
    /// `--cache.settings-interval`: how long `pg_settings` is reused, in seconds (0 = every scrape).
    pub settings_cache_interval_secs: u64,
    /// `--cache.database-size-interval`: how long `pg_database_size` is reused, in seconds.
    pub database_size_cache_interval_secs: u64,
    /// `--pg.application-name`: `application_name` of our connection unless the DSN sets one.
    pub application_name: String,
    /// `--pg.connect-timeout`: connect timeout in seconds.
    pub connect_timeout_secs: u64,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data_source_names: vec![SecretDsn(DEFAULT_DSN.to_owned())],
            collectors: mcp_exporter_core::collector::select(collector::TABLE, None::<[&str; 0]>)
                .unwrap_or_default()
                .into_iter()
                .map(str::to_owned)
                .collect(),
            disable_default_metrics: false,
            disable_settings_metrics: false,
            auto_discover_databases: false,
            exclude_databases: Vec::new(),
            include_databases: Vec::new(),
            metric_prefix: "pg".to_owned(),
            constant_labels: BTreeMap::new(),
            config_file: None,
            extend_query_path: None,
            settings_cache_interval_secs: 60,
            database_size_cache_interval_secs: 60,
            application_name: "postgres_exporter".to_owned(),
            connect_timeout_secs: 5,
        }
    }
}

/// A configuration problem; every message is one line and names no secret.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A DSN could not be parsed.
    #[error("{0}")]
    Dsn(#[from] DsnError),
    /// No DSN at all.
    #[error("no data source name configured")]
    NoDsn,
    /// An unknown collector name.
    #[error("unknown collector {0:?}")]
    UnknownCollector(String),
    /// A `*_FILE` variable or other file could not be read.
    #[error("cannot read {what} {path}: {reason}")]
    ReadFile {
        /// Which setting.
        what: String,
        /// The file.
        path: PathBuf,
        /// The OS error.
        reason: String,
    },
    /// The auth-modules file is invalid.
    #[error("invalid --config.file {path}: {reason}")]
    AuthModules {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A feature of upstream that this exporter does not have.
    #[error("{0}")]
    Unsupported(String),
    /// Any other invalid value.
    #[error("{0}")]
    Invalid(String),
}

/// Errors building the application.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Invalid configuration.
    #[error(transparent)]
    Config(#[from] ConfigError),
}

/// A checked configuration; the only thing [`app`] accepts.
#[derive(Debug, Clone)]
pub struct ValidatedConfig {
    dsns: Vec<Dsn>,
    collectors: Vec<&'static str>,
    default_metrics: bool,
    settings: bool,
    exclude_databases: Vec<String>,
    metric_prefix: String,
    constant_labels: BTreeMap<String, String>,
    auth_modules: AuthModules,
    settings_ttl: Duration,
    database_size_ttl: Duration,
    application_name: String,
    connect_timeout: Duration,
}

impl ValidatedConfig {
    /// The DSNs with passwords masked, for a startup log line.
    pub fn redacted_dsns(&self) -> Vec<String> {
        self.dsns.iter().map(Dsn::redacted).collect()
    }

    /// The enabled collectors.
    pub fn collectors(&self) -> &[&'static str] {
        &self.collectors
    }
}

impl Config {
    /// Checks everything that can be checked without the server.
    pub fn validate(self) -> Result<ValidatedConfig, ConfigError> {
        if let Some(path) = &self.extend_query_path {
            return Err(ConfigError::Unsupported(format!(
                "--extend.query-path {} (queries.yaml, deprecated upstream) is not supported",
                path.display()
            )));
        }
        let dsns = self
            .data_source_names
            .iter()
            .map(|d| Dsn::parse(&d.0))
            .collect::<Result<Vec<_>, _>>()?;
        if dsns.is_empty() {
            return Err(ConfigError::NoDsn);
        }
        for dsn in &dsns {
            dsn.tls().map_err(|reason| {
                ConfigError::Invalid(format!("TLS settings of {}: {reason}", dsn.redacted()))
            })?;
        }
        let collectors = mcp_exporter_core::collector::select(
            collector::TABLE,
            Some(self.collectors.iter().map(String::as_str)),
        )
        .map_err(|e| ConfigError::UnknownCollector(e.0))?;
        if self.metric_prefix.is_empty() {
            return Err(ConfigError::Invalid(
                "metric prefix must not be empty".to_owned(),
            ));
        }
        for key in self.constant_labels.keys() {
            if !valid_label_name(key) {
                return Err(ConfigError::Invalid(format!(
                    "invalid constant label name {key:?}"
                )));
            }
        }
        let auth_modules = match &self.config_file {
            Some(path) => AuthModules::load(path).map_err(|reason| ConfigError::AuthModules {
                path: path.clone(),
                reason,
            })?,
            None => {
                let path = PathBuf::from(DEFAULT_CONFIG_FILE);
                if path.exists() {
                    AuthModules::load(&path)
                        .map_err(|reason| ConfigError::AuthModules { path, reason })?
                } else {
                    AuthModules::default()
                }
            }
        };
        if self.auto_discover_databases {
            tracing::warn!(
                "--auto-discover-databases is deprecated and has no effect here (it only applied to queries.yaml metrics)."
            );
        }
        Ok(ValidatedConfig {
            dsns,
            collectors,
            default_metrics: !self.disable_default_metrics,
            settings: !self.disable_settings_metrics,
            exclude_databases: self.exclude_databases,
            metric_prefix: self.metric_prefix,
            constant_labels: self.constant_labels,
            auth_modules,
            settings_ttl: Duration::from_secs(self.settings_cache_interval_secs),
            database_size_ttl: Duration::from_secs(self.database_size_cache_interval_secs),
            application_name: self.application_name,
            connect_timeout: Duration::from_secs(self.connect_timeout_secs.max(1)),
        })
    }
}

fn valid_label_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn boolish(arg: Arg) -> Arg {
    arg.action(ArgAction::SetTrue)
        .value_parser(clap::builder::FalseyValueParser::new())
}

/// Every flag: postgres_exporter v0.15.0's (with their `PG_EXPORTER_*` variables), `--web.*`,
/// `--log.*`, `--[no-]collector.<name>`, and this exporter's cache and connection flags.
pub fn command() -> Command {
    let cmd = Command::new("mcp-postgres-exporter").version(env!("CARGO_PKG_VERSION"));
    let cmd = <WebArgs as clap::Args>::augment_args(cmd);
    let cmd = <LogArgs as clap::Args>::augment_args(cmd);
    // After the flattened groups, whose doc comments would otherwise replace the about text.
    let cmd = cmd
        .about("Prometheus exporter for PostgreSQL server metrics (drop-in for postgres_exporter v0.15.0).")
        .after_help(
            "Environment: DATA_SOURCE_NAME (comma-separated URIs or key=value DSNs), or \
             DATA_SOURCE_URI / DATA_SOURCE_USER / DATA_SOURCE_PASS and their *_FILE forms.",
        );
    let cmd = cmd
        .mut_arg("telemetry_path", |a| a.env("PG_EXPORTER_WEB_TELEMETRY_PATH"))
        .arg(
            Arg::new("config.file")
                .long("config.file")
                .value_name("FILE")
                .value_parser(clap::value_parser!(PathBuf))
                .help("Postgres exporter configuration file (auth_modules for /probe). [default: postgres_exporter.yml]"),
        )
        .arg(boolish(
            Arg::new("web.systemd-socket")
                .long("web.systemd-socket")
                .help("Use systemd socket activation listeners instead of port listeners (Linux only). Not supported: ignored with a warning."),
        ))
        .arg(boolish(
            Arg::new("disable-default-metrics")
                .long("disable-default-metrics")
                .env("PG_EXPORTER_DISABLE_DEFAULT_METRICS")
                .help("Do not include default metrics."),
        ))
        .arg(boolish(
            Arg::new("disable-settings-metrics")
                .long("disable-settings-metrics")
                .env("PG_EXPORTER_DISABLE_SETTINGS_METRICS")
                .help("Do not include pg_settings metrics."),
        ))
        .arg(boolish(
            Arg::new("auto-discover-databases")
                .long("auto-discover-databases")
                .env("PG_EXPORTER_AUTO_DISCOVER_DATABASES")
                .help("Whether to discover the databases on a server dynamically. (DEPRECATED; no effect)"),
        ))
        .arg(
            Arg::new("extend.query-path")
                .long("extend.query-path")
                .env("PG_EXPORTER_EXTEND_QUERY_PATH")
                .value_name("FILE")
                .help("Path to custom queries to run. (DEPRECATED; not supported: setting it is an error)"),
        )
        .arg(boolish(
            Arg::new("dumpmaps")
                .long("dumpmaps")
                .help("Do not run, simply dump the legacy metric families."),
        ))
        .arg(
            Arg::new("constantLabels")
                .long("constantLabels")
                .env("PG_EXPORTER_CONSTANT_LABELS")
                .value_name("LABELS")
                .help("A list of label=value separated by comma(,). (DEPRECATED)"),
        )
        .arg(
            Arg::new("exclude-databases")
                .long("exclude-databases")
                .env("PG_EXPORTER_EXCLUDE_DATABASES")
                .value_name("LIST")
                .help("A list of databases to remove when autoDiscoverDatabases is enabled (honoured by the database collector). (DEPRECATED)"),
        )
        .arg(
            Arg::new("include-databases")
                .long("include-databases")
                .env("PG_EXPORTER_INCLUDE_DATABASES")
                .value_name("LIST")
                .help("A list of databases to include when autoDiscoverDatabases is enabled. (DEPRECATED; no effect)"),
        )
        .arg(
            Arg::new("metric-prefix")
                .long("metric-prefix")
                .env("PG_EXPORTER_METRIC_PREFIX")
                .value_name("PREFIX")
                .default_value("pg")
                .help("A metric prefix can be used to have non-default (not \"pg\") prefixes for each of the metrics"),
        )
        .arg(
            Arg::new("cache.settings-interval")
                .long("cache.settings-interval")
                .env("PG_EXPORTER_CACHE_SETTINGS_INTERVAL")
                .value_name("DURATION")
                .default_value("60s")
                .value_parser(mcp_exporter_core::web::parse_duration)
                .help("Reuse pg_settings rows for this long (0 = query on every scrape)."),
        )
        .arg(
            Arg::new("cache.database-size-interval")
                .long("cache.database-size-interval")
                .env("PG_EXPORTER_CACHE_DATABASE_SIZE_INTERVAL")
                .value_name("DURATION")
                .default_value("60s")
                .value_parser(mcp_exporter_core::web::parse_duration)
                .help("Reuse pg_database_size results for this long (0 = query on every scrape)."),
        )
        .arg(
            Arg::new("pg.application-name")
                .long("pg.application-name")
                .value_name("NAME")
                .default_value("postgres_exporter")
                .help("application_name of the exporter's connections unless the DSN sets one."),
        )
        .arg(
            Arg::new("pg.connect-timeout")
                .long("pg.connect-timeout")
                .value_name("DURATION")
                .default_value("5s")
                .value_parser(mcp_exporter_core::web::parse_duration)
                .help("Timeout for opening a connection to PostgreSQL."),
        );
    mcp_exporter_core::collector::add_collector_flags(
        cmd,
        &mcp_exporter_core::collector::infos(collector::TABLE),
    )
}

fn list(s: Option<&String>) -> Vec<String> {
    s.map(|s| {
        s.split(',')
            .map(str::trim)
            .filter(|x| !x.is_empty())
            .map(str::to_owned)
            .collect()
    })
    .unwrap_or_default()
}

/// Builds the configuration from parsed flags and the environment (`DATA_SOURCE_*`).
pub fn from_matches(m: &ArgMatches) -> Result<(Config, WebArgs, LogArgs), ConfigError> {
    use clap::FromArgMatches;
    let web = WebArgs::from_arg_matches(m).map_err(|e| ConfigError::Invalid(e.to_string()))?;
    let log = LogArgs::from_arg_matches(m).map_err(|e| ConfigError::Invalid(e.to_string()))?;
    let mut config = Config::default();
    let dsns = data_sources_from_env()?;
    if !dsns.is_empty() {
        config.data_source_names = dsns.into_iter().map(SecretDsn).collect();
    }
    config.collectors = mcp_exporter_core::collector::enabled_collectors(
        m,
        &mcp_exporter_core::collector::infos(collector::TABLE),
    )
    .into_iter()
    .map(str::to_owned)
    .collect();
    config.disable_default_metrics = m.get_flag("disable-default-metrics");
    config.disable_settings_metrics = m.get_flag("disable-settings-metrics");
    config.auto_discover_databases = m.get_flag("auto-discover-databases");
    config.extend_query_path = m
        .get_one::<String>("extend.query-path")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from);
    config.exclude_databases = list(m.get_one::<String>("exclude-databases"));
    config.include_databases = list(m.get_one::<String>("include-databases"));
    if let Some(p) = m.get_one::<String>("metric-prefix") {
        config.metric_prefix = p.clone();
    }
    for pair in list(m.get_one::<String>("constantLabels")) {
        let (k, v) = pair.split_once('=').ok_or_else(|| {
            ConfigError::Invalid(format!(
                "invalid --constantLabels entry {pair:?} (want label=value)"
            ))
        })?;
        config
            .constant_labels
            .insert(k.trim().to_owned(), v.trim().to_owned());
    }
    config.config_file = m.get_one::<PathBuf>("config.file").cloned();
    if let Some(d) = m.get_one::<Duration>("cache.settings-interval") {
        config.settings_cache_interval_secs = d.as_secs();
    }
    if let Some(d) = m.get_one::<Duration>("cache.database-size-interval") {
        config.database_size_cache_interval_secs = d.as_secs();
    }
    if let Some(n) = m.get_one::<String>("pg.application-name") {
        config.application_name = n.clone();
    }
    if let Some(d) = m.get_one::<Duration>("pg.connect-timeout") {
        config.connect_timeout_secs = d.as_secs().max(1);
    }
    Ok((config, web, log))
}

/// Warnings about accepted-but-ignored flags, for the binary to log once logging is set up.
pub fn flag_warnings(m: &ArgMatches) -> Vec<&'static str> {
    let mut v = Vec::new();
    if m.get_flag("web.systemd-socket") {
        v.push("--web.systemd-socket is not supported; listening on --web.listen-address.");
    }
    v
}

/// Whether `--dumpmaps` was given (the binary prints [`legacy_families`] and exits).
pub fn dumpmaps(m: &ArgMatches) -> bool {
    m.get_flag("dumpmaps")
}

/// The legacy metric families (what `--dumpmaps` prints).
pub fn legacy_families() -> &'static [&'static str] {
    &[
        "pg_settings_*",
        "pg_static",
        "pg_stat_activity_count",
        "pg_stat_activity_max_tx_duration",
        "pg_stat_archiver_archived_count",
        "pg_stat_archiver_failed_count",
        "pg_stat_archiver_last_archive_age",
        "pg_stat_database_conflicts_confl_bufferpin",
        "pg_stat_database_conflicts_confl_deadlock",
        "pg_stat_database_conflicts_confl_lock",
        "pg_stat_database_conflicts_confl_snapshot",
        "pg_stat_database_conflicts_confl_tablespace",
        "pg_stat_replication_pg_current_wal_lsn_bytes",
        "pg_stat_replication_pg_wal_lsn_diff",
        "pg_replication_slots_active",
        "pg_replication_slots_pg_wal_lsn_diff",
    ]
}

/// Reads `name_FILE` (trimmed) or `name`; `Ok(None)` when neither is set.
fn file_or_env(name: &str) -> Result<Option<String>, ConfigError> {
    let file_var = format!("{name}_FILE");
    if let Some(path) = std::env::var_os(&file_var).filter(|p| !p.is_empty()) {
        let path = PathBuf::from(path);
        let text = std::fs::read_to_string(&path).map_err(|e| ConfigError::ReadFile {
            what: file_var,
            path: path.clone(),
            reason: e.to_string(),
        })?;
        return Ok(Some(text.trim().to_owned()));
    }
    Ok(std::env::var(name).ok().filter(|v| !v.is_empty()))
}

/// The DSNs from `DATA_SOURCE_NAME` or `DATA_SOURCE_{URI,USER,PASS}[_FILE]` (upstream
/// `getDataSources`). Empty when none is set.
pub fn data_sources_from_env() -> Result<Vec<String>, ConfigError> {
    if let Some(v) = std::env::var("DATA_SOURCE_NAME")
        .ok()
        .filter(|v| !v.trim().is_empty())
    {
        return Ok(v
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect());
    }
    let Some(uri) = file_or_env("DATA_SOURCE_URI")? else {
        // Still read the credential files so an unreadable one is reported.
        file_or_env("DATA_SOURCE_USER")?;
        file_or_env("DATA_SOURCE_PASS")?;
        return Ok(Vec::new());
    };
    let user = file_or_env("DATA_SOURCE_USER")?.unwrap_or_default();
    let pass = file_or_env("DATA_SOURCE_PASS")?;
    let uri = uri
        .strip_prefix("postgresql://")
        .or_else(|| uri.strip_prefix("postgres://"))
        .unwrap_or(&uri);
    let enc = |s: &str| {
        percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
    };
    let mut dsn = String::from("postgresql://");
    if !user.is_empty() || pass.is_some() {
        dsn.push_str(&enc(&user));
        if let Some(p) = pass {
            dsn.push(':');
            dsn.push_str(&enc(&p));
        }
        dsn.push('@');
    }
    dsn.push_str(uri);
    Ok(vec![dsn])
}

/// The exporter's descriptor: what `mcp_exporter_core::exporter::main` and the agent build it from.
#[derive(Debug, Clone, Copy)]
pub struct PostgresExporter;

impl mcp_exporter_core::Exporter for PostgresExporter {
    const NAME: &'static str = "mcp-postgres-exporter";
    const SECTION: &'static str = "postgres";
    const DEFAULT_LISTEN: &'static str = DEFAULT_LISTEN;
    // The deployed units of the Go exporters use single-dash flags too.
    const GO_FLAGS: bool = true;
    type Config = Config;
    type Validated = ValidatedConfig;
    type ConfigError = ConfigError;
    type Error = Error;

    fn command() -> Command {
        command()
    }

    fn from_matches(m: &ArgMatches) -> Result<(Config, WebArgs, LogArgs), ConfigError> {
        from_matches(m)
    }

    fn validate(config: Config) -> Result<ValidatedConfig, ConfigError> {
        config.validate()
    }

    async fn app(config: ValidatedConfig, web: &WebSetup) -> Result<axum::Router, Error> {
        app(config, web).await
    }

    fn early_exit(m: &ArgMatches) -> Option<std::process::ExitCode> {
        if !dumpmaps(m) {
            return None;
        }
        for family in legacy_families() {
            println!("{family}");
        }
        Some(std::process::ExitCode::SUCCESS)
    }

    fn warnings(m: &ArgMatches) -> Vec<&'static str> {
        flag_warnings(m)
    }

    fn log_start(config: &ValidatedConfig) {
        tracing::info!(
            data_sources = ?config.redacted_dsns(),
            collectors = ?config.collectors(),
            "Configured."
        );
    }
}

/// The full router: the telemetry path, `/probe`, `/`, `/-/healthy`, with the web config's auth.
/// Nothing connects to PostgreSQL until the first scrape.
pub async fn app(config: ValidatedConfig, web: &WebSetup) -> Result<axum::Router, Error> {
    let state = Arc::new(http::AppState::new(config, web.max_scrape_timeout));
    Ok(http::router(state, web))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_config_validates_with_the_nine_default_collectors() {
        let v = Config::default().validate().unwrap();
        assert_eq!(v.collectors().len(), 9);
        assert_eq!(
            v.redacted_dsns(),
            ["postgresql://postgres@127.0.0.1:5432/postgres?sslmode=disable"]
        );
    }

    #[test]
    fn debug_of_a_config_hides_passwords() {
        let c = Config {
            data_source_names: vec![
                SecretDsn("postgresql://u:topsecret@h/db".to_owned()),
                SecretDsn("host=h password=topsecret".to_owned()),
                SecretDsn("nonsense topsecret".to_owned()),
            ],
            ..Default::default()
        };
        assert!(!format!("{c:?}").contains("topsecret"));
    }

    #[test]
    fn unknown_collectors_and_queries_yaml_are_rejected() {
        let mut c = Config::default();
        c.collectors.insert("nope".to_owned());
        assert!(matches!(
            c.validate(),
            Err(ConfigError::UnknownCollector(_))
        ));
        let c = Config {
            extend_query_path: Some("queries.yaml".into()),
            ..Default::default()
        };
        assert!(c.validate().is_err());
    }

    #[test]
    fn flags_parse_like_kingpin() {
        let m = command()
            .try_get_matches_from([
                "x",
                "--no-collector.wal",
                "--collector.postmaster",
                "--web.listen-address=127.0.0.1:1",
                "--constantLabels=a=b,c=d",
                "--exclude-databases=template0",
            ])
            .unwrap();
        let (c, web, _) = from_matches(&m).unwrap();
        assert!(!c.collectors.contains("wal"));
        assert!(c.collectors.contains("postmaster"));
        assert_eq!(web.listen_address, ["127.0.0.1:1"]);
        assert_eq!(c.constant_labels.get("c").map(String::as_str), Some("d"));
        assert_eq!(c.exclude_databases, ["template0"]);
        assert!(
            command()
                .try_get_matches_from(["x", "--collector.nope"])
                .is_err()
        );
    }
}

/// Entry points for the fuzz targets (`fuzz/`, cargo-fuzz) and for the bounded corpus tests in
/// `tests/fuzz_dsn_and_probe_target_corpus.rs`, so both drive exactly the same code: the
/// operator's and the `/probe` client's connection strings through every parser. Each takes
/// arbitrary bytes and panics only when an invariant breaks. Not an API.
#[doc(hidden)]
pub mod fuzzing {
    use std::time::Duration;

    use crate::auth_modules::AuthModules;
    use crate::dsn::Dsn;

    /// What is done with a DSN that parsed (not `tls()`: it would read the `sslrootcert` file
    /// the input names).
    fn use_dsn(dsn: &Dsn) {
        dsn.assert_password_not_shown();
        let _ = dsn.redacted();
        let _ = dsn.server_label();
        let _ = dsn.to_pg_config("fuzz", Duration::from_secs(10), Duration::from_secs(5));
    }

    /// `data` as a `DATA_SOURCE_NAME` (URI or key=value form) and as a `/probe?target=`.
    pub fn dsn(data: &[u8]) {
        let text = String::from_utf8_lossy(data);
        if let Ok(dsn) = Dsn::parse(&text) {
            use_dsn(&dsn);
            let mut with = dsn.clone();
            with.set_credentials("fuzz", "fuzz-password");
            use_dsn(&with);
        }
        if let Ok(dsn) = Dsn::parse_target(&text) {
            use_dsn(&dsn);
        }
        let none = AuthModules::default();
        for target in [Some(text.as_ref()), None] {
            if let Ok(dsn) = none.target_dsn(target, None) {
                use_dsn(&dsn);
            }
        }
    }

    /// `data` split at the first NUL into an auth-modules file (YAML) and a `/probe` request's
    /// `target` and `auth_module`, through the parser and the lookup.
    pub fn probe(data: &[u8]) {
        let text = String::from_utf8_lossy(data);
        let mut parts = text.splitn(3, '\0');
        let yaml = parts.next().unwrap_or("");
        let target = parts.next();
        let module = parts.next();
        let Ok(modules) = AuthModules::parse(yaml) else {
            return;
        };
        if let Ok(dsn) = modules.target_dsn(target, module) {
            use_dsn(&dsn);
        }
        for name in ["", "fuzz", "foo"] {
            if let Ok(dsn) = modules.target_dsn(target, Some(name)) {
                use_dsn(&dsn);
            }
        }
    }
}
