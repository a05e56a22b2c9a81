//! mcp-redis-exporter: a drop-in for oliver006/redis_exporter (v1.63 names, flags and env vars).
//!
//! - `/metrics` scrapes `--redis.addr`; `/scrape?target=redis://host:port` scrapes any target
//!   (credentials from `--redis.password-file`, keyed by target URI), as upstream.
//! - One persistent connection per target, every command of a scrape in one pipelined round trip,
//!   the whole scrape bounded by `X-Prometheus-Scrape-Timeout-Seconds` (capped by
//!   `--web.max-scrape-timeout`). Redis down, hung or refusing the password: HTTP 200 with
//!   `redis_up 0` and `redis_exporter_last_scrape_error 1`.
//! - Passwords never reach logs, errors, metrics or `--help`.

#![forbid(unsafe_code)]

pub mod collector;
pub mod conn;
pub mod info;
pub mod keys;
pub mod target;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use clap::{Arg, ArgAction, ArgMatches, Command};
use http::{HeaderMap, StatusCode};
use mcp_exporter_core::MetricSet;
use mcp_exporter_core::logging::LogArgs;
use mcp_exporter_core::web::{self, LandingPage, WebArgs, WebSetup};
use serde::Deserialize;

use crate::conn::{Connector, TlsFiles};
use crate::keys::KeyCheck;
use crate::target::{SharedTarget, Target};

/// redis_exporter's port.
pub const DEFAULT_LISTEN: &str = ":9121";
const VERSION: &str = env!("CARGO_PKG_VERSION");

/// A secret string: never printed by `Debug`.
#[derive(Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0.is_empty() {
            f.write_str("\"\"")
        } else {
            f.write_str("<redacted>")
        }
    }
}

/// The exporter's settings: filled by the flags and env vars of the standalone binary, or by the
/// `redis:` section of the agent's config file. Field names follow the flags.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address of the Redis instance (`redis://`, `rediss://`, `unix://` or `host:port`); empty
    /// means `/metrics` scrapes nothing (use `/scrape?target=`).
    pub redis_addr: String,
    /// User name for Redis ACLs.
    pub redis_user: String,
    /// Password for Redis.
    pub redis_password: Secret,
    /// JSON file mapping target URIs to passwords.
    pub redis_password_file: Option<PathBuf>,
    /// Metric name prefix.
    pub namespace: String,
    /// `db3=pattern,...`: keys to SCAN for and report sizes/values of.
    pub check_keys: String,
    /// `db3=key,...`: single keys to report, without SCAN.
    pub check_single_keys: String,
    /// `db3=pattern,...`: count keys matching patterns.
    pub count_keys: String,
    /// SCAN COUNT per call.
    pub check_keys_batch_size: u64,
    /// At most this many keys per `--check-keys` pattern and scrape.
    pub check_keys_limit: usize,
    /// Lua scripts run with EVAL on every scrape.
    pub script: Vec<PathBuf>,
    /// Name of the CONFIG command (renamed on some managed Redis); `-` skips it.
    pub config_command: String,
    /// Timeout of each connection attempt and command, in seconds.
    pub connection_timeout_secs: f64,
    /// Export `total_system_memory_bytes`.
    pub include_system_metrics: bool,
    /// Export every CONFIG setting as `config_key_value` / `config_value`.
    pub include_config_metrics: bool,
    /// Hide secret settings in `config_key_value`.
    pub redact_config_metrics: bool,
    /// Export `connected_clients_details` from CLIENT LIST.
    pub export_client_list: bool,
    /// Add the client port label to `connected_clients_details`.
    pub export_client_port: bool,
    /// PING and export `exporter_last_scrape_ping_time_seconds`.
    pub ping_on_connect: bool,
    /// Leave out `process_*` and `redis_exporter_build_info`.
    pub redis_only_metrics: bool,
    /// Name the connection `redis_exporter` (CLIENT SETNAME).
    pub set_client_name: bool,
    /// Leave out `commands_latencies_usec` (LATENCY HISTOGRAM).
    pub exclude_latency_histogram_metrics: bool,
    /// Do not put non-numeric key values into the `val` label.
    pub disable_exporting_key_values: bool,
    /// Client certificate for TLS to Redis (PEM).
    pub tls_client_cert_file: Option<PathBuf>,
    /// Client key for TLS to Redis (PEM).
    pub tls_client_key_file: Option<PathBuf>,
    /// CA for the Redis server certificate (PEM); the system roots when unset.
    pub tls_ca_cert_file: Option<PathBuf>,
    /// Do not verify the Redis server certificate.
    pub skip_tls_verification: bool,
    /// At most this many `/scrape` targets keep a connection; the least recently used is closed.
    pub max_scrape_targets: usize,
    /// At most this many bytes read from Redis per scrape; past it the scrape fails with
    /// `err="reply too large"` and the connection is dropped.
    pub max_reply_bytes: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            redis_addr: "redis://127.0.0.1:6379".into(),
            redis_user: String::new(),
            redis_password: Secret::default(),
            redis_password_file: None,
            namespace: "redis".into(),
            check_keys: String::new(),
            check_single_keys: String::new(),
            count_keys: String::new(),
            check_keys_batch_size: 1000,
            check_keys_limit: 1000,
            script: Vec::new(),
            config_command: "CONFIG".into(),
            connection_timeout_secs: 15.0,
            include_system_metrics: false,
            include_config_metrics: false,
            redact_config_metrics: true,
            export_client_list: false,
            export_client_port: false,
            ping_on_connect: false,
            redis_only_metrics: false,
            set_client_name: true,
            exclude_latency_histogram_metrics: false,
            disable_exporting_key_values: false,
            tls_client_cert_file: None,
            tls_client_key_file: None,
            tls_ca_cert_file: None,
            skip_tls_verification: false,
            max_scrape_targets: 256,
            max_reply_bytes: conn::DEFAULT_MAX_REPLY_BYTES,
        }
    }
}

/// Invalid configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A flag or setting is invalid.
    #[error("{0}")]
    Invalid(String),
    /// A file could not be read.
    #[error("cannot read {what} {path}: {source}")]
    Read {
        /// Which setting.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

/// Errors building the exporter.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The default target could not be set up.
    #[error("{0}")]
    Target(String),
}

/// Why a scrape failed; the category, never the URL or password.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ScrapeError {
    /// Could not connect.
    #[error("connect: {0}")]
    Connect(String),
    /// The password or user was refused.
    #[error("auth: {0}")]
    Auth(String),
    /// The scrape deadline or a command timeout passed.
    #[error("timeout")]
    Timeout,
    /// Redis answered something unexpected.
    #[error("protocol: {0}")]
    Protocol(String),
    /// Redis sent more than `--max-reply-bytes` in one scrape.
    #[error("reply too large")]
    TooLarge,
}

impl ScrapeError {
    fn drops_connection(&self) -> bool {
        !matches!(self, ScrapeError::Protocol(_))
    }
}

/// A Lua script read at startup.
#[derive(Debug, Clone)]
pub struct Script {
    /// File name, for the `filename` label.
    pub name: String,
    /// The script text.
    pub body: String,
}

/// Validated options the scrape path uses.
#[derive(Debug, Clone)]
pub struct Options {
    /// Name prefix.
    pub namespace: String,
    /// See [`Config`].
    pub config_command: String,
    /// See [`Config`].
    pub connection_timeout: Duration,
    /// See [`Config`].
    pub include_system_metrics: bool,
    /// See [`Config`].
    pub include_config_metrics: bool,
    /// See [`Config`].
    pub redact_config_metrics: bool,
    /// See [`Config`].
    pub export_client_list: bool,
    /// See [`Config`].
    pub export_client_port: bool,
    /// See [`Config`].
    pub ping_on_connect: bool,
    /// See [`Config`].
    pub redis_only_metrics: bool,
    /// See [`Config`].
    pub set_client_name: bool,
    /// See [`Config`].
    pub exclude_latency_histogram_metrics: bool,
    /// See [`Config`].
    pub disable_exporting_key_values: bool,
    /// See [`Config`].
    pub check_keys_batch_size: u64,
    /// See [`Config`].
    pub check_keys_limit: usize,
    /// Scripts.
    pub scripts: Vec<Script>,
}

/// A validated configuration: the only type [`app`] accepts.
#[derive(Debug, Clone)]
pub struct ValidatedConfig {
    opts: Options,
    addr: Option<String>,
    user: String,
    password: Secret,
    password_map: HashMap<String, Secret>,
    checks: KeyCheck,
    tls: Option<TlsFiles>,
    skip_tls_verification: bool,
    max_targets: usize,
    max_reply_bytes: u64,
}

impl Config {
    /// Checks every setting and reads the files it names.
    pub fn validate(self) -> Result<ValidatedConfig, ConfigError> {
        let invalid = |m: String| ConfigError::Invalid(m);
        let checks = KeyCheck::parse(&self.check_keys, &self.check_single_keys, &self.count_keys)
            .map_err(invalid)?;
        if self.namespace.is_empty()
            || !self
                .namespace
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            return Err(invalid(format!("invalid --namespace {:?}", self.namespace)));
        }
        if !(self.connection_timeout_secs > 0.0 && self.connection_timeout_secs.is_finite()) {
            return Err(invalid("--connection-timeout must be positive".into()));
        }
        let mut scripts = Vec::new();
        for path in &self.script {
            let body = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                what: "--script",
                path: path.clone(),
                source,
            })?;
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            scripts.push(Script { name, body });
        }
        let password_map = match &self.redis_password_file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    what: "--redis.password-file",
                    path: path.clone(),
                    source,
                })?;
                // The error names the file, never its content.
                serde_json::from_str::<HashMap<String, String>>(&text)
                    .map_err(|_| {
                        invalid(format!(
                            "--redis.password-file {}: not a JSON object of URI to password",
                            path.display()
                        ))
                    })?
                    .into_iter()
                    .map(|(k, v)| (k, Secret(v)))
                    .collect()
            }
            None => HashMap::new(),
        };
        let read = |what: &'static str,
                    p: &Option<PathBuf>|
         -> Result<Option<Vec<u8>>, ConfigError> {
            match p {
                Some(path) => std::fs::read(path)
                    .map(Some)
                    .map_err(|source| ConfigError::Read {
                        what,
                        path: path.clone(),
                        source,
                    }),
                None => Ok(None),
            }
        };
        let cert = read("--tls-client-cert-file", &self.tls_client_cert_file)?;
        let key = read("--tls-client-key-file", &self.tls_client_key_file)?;
        let ca = read("--tls-ca-cert-file", &self.tls_ca_cert_file)?;
        let client = match (cert, key) {
            (Some(c), Some(k)) => Some((c, k)),
            (None, None) => None,
            _ => {
                return Err(invalid(
                    "--tls-client-cert-file and --tls-client-key-file go together".into(),
                ));
            }
        };
        let tls = (client.is_some() || ca.is_some()).then_some(TlsFiles { client, ca });
        let addr = if self.redis_addr.trim().is_empty() {
            None
        } else {
            let addr = normalize_addr(self.redis_addr.trim());
            parse_target(&addr).map_err(|e| invalid(format!("invalid --redis.addr: {e}")))?;
            Some(addr)
        };
        Ok(ValidatedConfig {
            opts: Options {
                namespace: self.namespace,
                config_command: self.config_command,
                connection_timeout: Duration::from_secs_f64(self.connection_timeout_secs),
                include_system_metrics: self.include_system_metrics,
                include_config_metrics: self.include_config_metrics,
                redact_config_metrics: self.redact_config_metrics,
                export_client_list: self.export_client_list,
                export_client_port: self.export_client_port,
                ping_on_connect: self.ping_on_connect,
                redis_only_metrics: self.redis_only_metrics,
                set_client_name: self.set_client_name,
                exclude_latency_histogram_metrics: self.exclude_latency_histogram_metrics,
                disable_exporting_key_values: self.disable_exporting_key_values,
                check_keys_batch_size: self.check_keys_batch_size.max(1),
                check_keys_limit: self.check_keys_limit.max(1),
                scripts,
            },
            addr,
            user: self.redis_user,
            password: self.redis_password,
            password_map,
            checks,
            tls,
            skip_tls_verification: self.skip_tls_verification,
            max_targets: self.max_scrape_targets.max(1),
            max_reply_bytes: self.max_reply_bytes.max(1024),
        })
    }
}

/// `host:port` → `redis://host:port`, as upstream accepts bare addresses.
fn normalize_addr(addr: &str) -> String {
    if addr.contains("://") {
        addr.to_owned()
    } else {
        format!("redis://{addr}")
    }
}

/// Parses a target URI without ever echoing it (it may hold a password).
fn parse_target(addr: &str) -> Result<redis::ConnectionInfo, String> {
    use redis::IntoConnectionInfo;
    const EXPECTED: &str = "expected redis://host:port, rediss://, unix:// or host:port";
    let info = addr
        .into_connection_info()
        .map_err(|e| format!("{:?} ({EXPECTED})", e.kind()))?;
    // The URL parser takes `%%%garbage` as a host name; it would only fail at scrape time.
    let host_ok = |h: &str| {
        !h.is_empty()
            && h.chars().all(|c| {
                c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | ':' | '[' | ']')
            })
    };
    match &info.addr {
        redis::ConnectionAddr::Tcp(host, _) | redis::ConnectionAddr::TcpTls { host, .. }
            if !host_ok(host) =>
        {
            Err(format!("not a host name or IP address ({EXPECTED})"))
        }
        redis::ConnectionAddr::Unix(path) if path.as_os_str().is_empty() => {
            Err(format!("empty socket path ({EXPECTED})"))
        }
        _ => Ok(info),
    }
}

/// The address with any `user:password@` removed: what logs and errors may show.
pub fn redact_addr(addr: &str) -> String {
    match (addr.find("://"), addr.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}{}", &addr[..scheme + 3], &addr[at + 1..])
        }
        _ => addr.to_owned(),
    }
}

// === CLI ===

fn go_bool(id: &'static str, env: &'static str, help: &'static str) -> Arg {
    // Go's flag package takes `--flag`, `--flag=true` and `--flag=false`.
    Arg::new(id)
        .long(id)
        .env(env)
        .num_args(0..=1)
        .require_equals(true)
        .default_missing_value("true")
        .value_parser(clap::builder::BoolishValueParser::new())
        .action(ArgAction::Set)
        .help(help)
}

fn string(id: &'static str, env: &'static str, help: &'static str) -> Arg {
    Arg::new(id)
        .long(id)
        .env(env)
        .num_args(1)
        .action(ArgAction::Set)
        .help(help)
}

/// Flags of redis_exporter that this exporter does not implement: set, they are a startup error
/// naming the flag, rather than silently ignored.
const UNSUPPORTED: &[(&str, &str)] = &[
    ("check-streams", "REDIS_EXPORTER_CHECK_STREAMS"),
    (
        "check-single-streams",
        "REDIS_EXPORTER_CHECK_SINGLE_STREAMS",
    ),
    ("check-key-groups", "REDIS_EXPORTER_CHECK_KEY_GROUPS"),
    ("is-cluster", "REDIS_EXPORTER_IS_CLUSTER"),
    ("is-tile38", "REDIS_EXPORTER_IS_TILE38"),
    (
        "tls-server-cert-file",
        "REDIS_EXPORTER_TLS_SERVER_CERT_FILE",
    ),
    ("tls-server-key-file", "REDIS_EXPORTER_TLS_SERVER_KEY_FILE"),
    (
        "tls-server-ca-cert-file",
        "REDIS_EXPORTER_TLS_SERVER_CA_CERT_FILE",
    ),
];

/// Every flag, with redis_exporter's names and env vars, plus `--web.*` and `--log.*`.
pub fn command() -> Command {
    let mut cmd = Command::new("mcp-redis-exporter")
        .version(VERSION)
        .about("Prometheus exporter for Redis metrics, a drop-in for oliver006/redis_exporter.")
        .arg(string("redis.addr", "REDIS_ADDR", "Address of the Redis instance to scrape [default: redis://127.0.0.1:6379]"))
        .arg(string("redis.user", "REDIS_USER", "User name to use for authentication (Redis ACL for Redis 6.0 and newer)"))
        .arg(string("redis.password", "REDIS_PASSWORD", "Password of the Redis instance to scrape").hide_env_values(true))
        .arg(string("redis.password-file", "REDIS_PASSWORD_FILE", "JSON file mapping target URIs to passwords"))
        .arg(string("namespace", "REDIS_EXPORTER_NAMESPACE", "Namespace for metrics [default: redis]"))
        .arg(string("check-keys", "REDIS_EXPORTER_CHECK_KEYS", "Comma separated list of key-patterns to export value and length/size, searched for with SCAN"))
        .arg(string("check-single-keys", "REDIS_EXPORTER_CHECK_SINGLE_KEYS", "Comma separated list of single keys to export value and length/size"))
        .arg(string("count-keys", "REDIS_EXPORTER_COUNT_KEYS", "Comma separated list of patterns to count (eg: 'db0=production_*,db3=sessions:*'), searched for with SCAN"))
        .arg(string("check-keys-batch-size", "REDIS_EXPORTER_CHECK_KEYS_BATCH_SIZE", "Approximate number of keys to process in each SCAN call [default: 1000]"))
        .arg(string("check-keys-limit", "REDIS_EXPORTER_CHECK_KEYS_LIMIT", "At most this many keys per --check-keys pattern and scrape [default: 1000]"))
        .arg(string("script", "REDIS_EXPORTER_SCRIPT", "Comma separated list of path(s) to Redis Lua script(s) for gathering extra metrics"))
        .arg(string("config-command", "REDIS_EXPORTER_CONFIG_COMMAND", "What to use for the CONFIG command, set to \"-\" to skip config metrics extraction [default: CONFIG]"))
        .arg(string("connection-timeout", "REDIS_EXPORTER_CONNECTION_TIMEOUT", "Timeout for connection to Redis instance [default: 15s]"))
        .arg(string("tls-client-key-file", "REDIS_EXPORTER_TLS_CLIENT_KEY_FILE", "Name of the client key file (including full path) if the server requires TLS client authentication"))
        .arg(string("tls-client-cert-file", "REDIS_EXPORTER_TLS_CLIENT_CERT_FILE", "Name of the client certificate file (including full path) if the server requires TLS client authentication"))
        .arg(string("tls-ca-cert-file", "REDIS_EXPORTER_TLS_CA_CERT_FILE", "Name of the CA certificate file (including full path) if the server requires TLS client authentication"))
        .arg(string("max-scrape-targets", "REDIS_EXPORTER_MAX_SCRAPE_TARGETS", "At most this many /scrape targets keep a connection [default: 256]"))
        .arg(string("max-reply-bytes", "REDIS_EXPORTER_MAX_REPLY_BYTES", "At most this many bytes read from Redis per scrape; more fails the scrape with err=\"reply too large\" [default: 67108864]"))
        .arg(string("log-format", "REDIS_EXPORTER_LOG_FORMAT", "Log format, valid options are txt and json (use --log.format)").hide(true))
        .arg(go_bool("skip-tls-verification", "REDIS_EXPORTER_SKIP_TLS_VERIFICATION", "Whether to to skip TLS verification"))
        .arg(go_bool("include-system-metrics", "REDIS_EXPORTER_INCL_SYSTEM_METRICS", "Whether to include system metrics like e.g. redis_total_system_memory_bytes"))
        .arg(go_bool("include-config-metrics", "REDIS_EXPORTER_INCL_CONFIG_METRICS", "Whether to include all config settings as metrics"))
        .arg(go_bool("redact-config-metrics", "REDIS_EXPORTER_REDACT_CONFIG_METRICS", "Whether to redact config settings that include potentially sensitive information like passwords [default: true]"))
        .arg(go_bool("export-client-list", "REDIS_EXPORTER_EXPORT_CLIENT_LIST", "Whether to scrape Client List specific metrics"))
        .arg(go_bool("export-client-port", "REDIS_EXPORTER_EXPORT_CLIENT_PORT", "Whether to include the client's port when exporting the client list"))
        .arg(go_bool("ping-on-connect", "REDIS_EXPORTER_PING_ON_CONNECT", "Whether to ping the redis instance after connecting"))
        .arg(go_bool("redis-only-metrics", "REDIS_EXPORTER_REDIS_ONLY_METRICS", "Whether to also export process metrics and build info (false: export them)"))
        .arg(go_bool("set-client-name", "REDIS_EXPORTER_SET_CLIENT_NAME", "Whether to set client name to redis_exporter [default: true]"))
        .arg(go_bool("exclude-latency-histogram-metrics", "REDIS_EXPORTER_EXCLUDE_LATENCY_HISTOGRAM_METRICS", "Do not try to collect latency histogram metrics"))
        .arg(go_bool("disable-exporting-key-values", "REDIS_EXPORTER_DISABLE_EXPORTING_KEY_VALUES", "Whether to disable values of keys stored in redis as labels or not when using check-keys/check-single-key"))
        .arg(go_bool("debug", "REDIS_EXPORTER_DEBUG", "Output verbose debug information (same as --log.level=debug)"));
    for (flag, env) in UNSUPPORTED {
        cmd = cmd.arg(
            Arg::new(*flag)
                .long(*flag)
                .env(*env)
                .num_args(0..=1)
                .require_equals(true)
                .default_missing_value("true")
                .action(ArgAction::Set)
                .hide(true),
        );
    }
    let cmd = <WebArgs as clap::Args>::augment_args(cmd);
    let cmd = <LogArgs as clap::Args>::augment_args(cmd);
    cmd.mut_arg("listen_address", |a| {
        a.env("REDIS_EXPORTER_WEB_LISTEN_ADDRESS")
            .help("Address to listen on for web interface and telemetry [default: :9121]")
    })
    .mut_arg("telemetry_path", |a| {
        a.env("REDIS_EXPORTER_WEB_TELEMETRY_PATH")
    })
}

/// Reads the parsed flags into a [`Config`] and the web/log flags.
pub fn from_matches(m: &ArgMatches) -> Result<(Config, WebArgs, LogArgs), ConfigError> {
    use clap::FromArgMatches;
    for (flag, _) in UNSUPPORTED {
        if let Some(v) = m.get_one::<String>(flag)
            && !v.is_empty()
            && v != "false"
        {
            return Err(ConfigError::Invalid(format!(
                "--{flag} is not supported by mcp-redis-exporter (see exporters/redis/README.md)"
            )));
        }
    }
    let web = WebArgs::from_arg_matches(m).map_err(|e| ConfigError::Invalid(e.to_string()))?;
    let mut log = LogArgs::from_arg_matches(m).map_err(|e| ConfigError::Invalid(e.to_string()))?;
    let s = |id: &str| m.get_one::<String>(id).cloned();
    let b = |id: &str| m.get_one::<bool>(id).copied();
    let mut c = Config::default();
    if let Some(v) = s("redis.addr") {
        c.redis_addr = v;
    }
    if let Some(v) = s("redis.user") {
        c.redis_user = v;
    }
    if let Some(v) = s("redis.password") {
        c.redis_password = Secret(v);
    }
    c.redis_password_file = s("redis.password-file")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from);
    if let Some(v) = s("namespace") {
        c.namespace = v;
    }
    c.check_keys = s("check-keys").unwrap_or_default();
    c.check_single_keys = s("check-single-keys").unwrap_or_default();
    c.count_keys = s("count-keys").unwrap_or_default();
    let num = |id: &str, v: String| {
        v.parse::<u64>()
            .map_err(|_| ConfigError::Invalid(format!("invalid --{id} {v:?}: not a number")))
    };
    if let Some(v) = s("check-keys-batch-size") {
        c.check_keys_batch_size = num("check-keys-batch-size", v)?;
    }
    if let Some(v) = s("check-keys-limit") {
        c.check_keys_limit = num("check-keys-limit", v)? as usize;
    }
    if let Some(v) = s("max-scrape-targets") {
        c.max_scrape_targets = num("max-scrape-targets", v)? as usize;
    }
    if let Some(v) = s("max-reply-bytes") {
        c.max_reply_bytes = num("max-reply-bytes", v)?;
    }
    if let Some(v) = s("script") {
        c.script = v
            .split(',')
            .filter(|p| !p.trim().is_empty())
            .map(|p| PathBuf::from(p.trim()))
            .collect();
    }
    if let Some(v) = s("config-command") {
        c.config_command = v;
    }
    if let Some(v) = s("connection-timeout") {
        c.connection_timeout_secs = web::parse_duration(&v)
            .map_err(|e| ConfigError::Invalid(format!("--connection-timeout: {e}")))?
            .as_secs_f64();
    }
    c.tls_client_key_file = s("tls-client-key-file")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from);
    c.tls_client_cert_file = s("tls-client-cert-file")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from);
    c.tls_ca_cert_file = s("tls-ca-cert-file")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from);
    let flags: [(&str, &mut bool); 12] = [
        ("skip-tls-verification", &mut c.skip_tls_verification),
        ("include-system-metrics", &mut c.include_system_metrics),
        ("include-config-metrics", &mut c.include_config_metrics),
        ("redact-config-metrics", &mut c.redact_config_metrics),
        ("export-client-list", &mut c.export_client_list),
        ("export-client-port", &mut c.export_client_port),
        ("ping-on-connect", &mut c.ping_on_connect),
        ("redis-only-metrics", &mut c.redis_only_metrics),
        ("set-client-name", &mut c.set_client_name),
        (
            "exclude-latency-histogram-metrics",
            &mut c.exclude_latency_histogram_metrics,
        ),
        (
            "disable-exporting-key-values",
            &mut c.disable_exporting_key_values,
        ),
        ("debug", &mut false),
    ];
    for (id, slot) in flags {
        if let Some(v) = b(id) {
            *slot = v;
        }
    }
    if b("debug") == Some(true) {
        log.level = "debug".into();
    }
    if s("log-format").as_deref() == Some("json") {
        log.format = "json".into();
    }
    Ok((c, web, log))
}

// === the exporter ===

struct Exporter {
    cfg: ValidatedConfig,
    default: Option<SharedTarget>,
    targets: Mutex<HashMap<String, (SharedTarget, Instant)>>,
    request_errors: Mutex<u64>,
    max_timeout: Duration,
    /// Concurrent scrapes of `/metrics` share one collection (see
    /// `mcp_exporter_core::coalesce`); `/scrape` requests carry their own key checks and run
    /// each.
    coalesce: mcp_exporter_core::coalesce::Coalescer,
}

fn build_connector(
    cfg: &ValidatedConfig,
    addr: &str,
    password: Option<&Secret>,
) -> Result<Connector, String> {
    let mut info = parse_target(addr)?;
    if !cfg.user.is_empty() && info.redis.username.is_none() {
        info.redis.username = Some(cfg.user.clone());
    }
    if let Some(p) = password.filter(|p| !p.0.is_empty()) {
        info.redis.password = Some(p.0.clone());
    }
    Connector::new(
        info,
        cfg.tls.as_ref(),
        cfg.skip_tls_verification,
        cfg.max_reply_bytes,
    )
}

impl Exporter {
    /// Password for a target: `--redis.password`, else the password file entry for its URI.
    fn password_for(&self, addr: &str) -> Option<&Secret> {
        if !self.cfg.password.0.is_empty() {
            return Some(&self.cfg.password);
        }
        self.cfg.password_map.get(addr)
    }

    fn target(&self, addr: &str) -> Result<SharedTarget, String> {
        let Ok(mut map) = self.targets.lock() else {
            return Err("internal lock poisoned".into());
        };
        if let Some((t, used)) = map.get_mut(addr) {
            *used = Instant::now();
            return Ok(t.clone());
        }
        let connector = build_connector(&self.cfg, addr, self.password_for(addr))?;
        let target = Arc::new(Target::new(redact_addr(addr), connector));
        if map.len() >= self.cfg.max_targets
            && let Some(oldest) = map
                .iter()
                .min_by_key(|(_, (_, used))| *used)
                .map(|(k, _)| k.clone())
        {
            map.remove(&oldest);
        }
        map.insert(addr.to_owned(), (target.clone(), Instant::now()));
        Ok(target)
    }

    fn deadline(&self, headers: &HeaderMap) -> tokio::time::Instant {
        tokio::time::Instant::now() + web::scrape_timeout(headers, self.max_timeout)
    }

    async fn scrape(
        &self,
        target: &Target,
        checks: &KeyCheck,
        deadline: tokio::time::Instant,
    ) -> String {
        let start = Instant::now();
        let result = target.fetch(&self.cfg.opts, checks, deadline).await;
        let ns = self.cfg.opts.namespace.as_str();
        let mut out = MetricSet::new();
        let name = |n: &str| format!("{ns}_{n}");
        let (up, err, connect) = match &result {
            Ok(snap) => {
                let scrape = collector::Scrape {
                    snap,
                    info: info::Info::parse(&snap.info),
                    opts: &self.cfg.opts,
                    ns,
                };
                collector::collect_all(&scrape, &mut out);
                if let Some(ping) = snap.ping_seconds {
                    out.gauge(
                        name("exporter_last_scrape_ping_time_seconds"),
                        "exporter_last_scrape_ping_time_seconds metric",
                        &[],
                        ping,
                    );
                }
                (1.0, String::new(), snap.connect_seconds)
            }
            Err(error) => (0.0, error.to_string(), 0.0),
        };
        let elapsed = start.elapsed().as_secs_f64();
        let stats = match target.stats.lock() {
            Ok(mut s) => {
                s.scrapes += 1;
                s.duration_sum += elapsed;
                s.clone()
            }
            Err(_) => Default::default(),
        };
        out.gauge(name("up"), "Information about the Redis instance", &[], up);
        out.gauge(
            name("exporter_last_scrape_error"),
            "The last scrape error status.",
            &[("err", err.as_str())],
            if up == 1.0 { 0.0 } else { 1.0 },
        );
        out.gauge(
            name("exporter_last_scrape_duration_seconds"),
            "exporter_last_scrape_duration_seconds metric",
            &[],
            elapsed,
        );
        out.gauge(
            name("exporter_last_scrape_connect_time_seconds"),
            "exporter_last_scrape_connect_time_seconds metric",
            &[],
            connect,
        );
        out.counter(
            name("exporter_scrapes_total"),
            "Current total redis scrapes.",
            &[],
            stats.scrapes as f64,
        );
        out.summary(
            name("exporter_scrape_duration_seconds"),
            "Durations of scrapes by the exporter",
            &[],
            vec![],
            stats.duration_sum,
            stats.scrapes,
        );
        let request_errors = self.request_errors.lock().map(|n| *n).unwrap_or(0);
        out.counter(
            name("target_scrape_request_errors_total"),
            "Errors in requests to the exporter",
            &[],
            request_errors as f64,
        );
        out.gauge(
            name("last_key_groups_scrape_duration_milliseconds"),
            "Duration of the last key group metrics scrape in milliseconds",
            &[],
            0.0,
        );
        if !self.cfg.opts.redis_only_metrics {
            out.gauge(
                name("exporter_build_info"),
                "redis exporter build_info",
                &[
                    ("version", VERSION),
                    (
                        "commit_sha",
                        option_env!("MCP_GIT_SHA").unwrap_or("unknown"),
                    ),
                    (
                        "build_date",
                        option_env!("MCP_BUILD_DATE").unwrap_or("unknown"),
                    ),
                    (
                        "golang_version",
                        concat!("rust", env!("CARGO_PKG_RUST_VERSION")),
                    ),
                ],
                1.0,
            );
            mcp_exporter_core::process::collect(&mut out);
        }
        let (text, dropped) = out.encode();
        if dropped > 0 {
            tracing::debug!(dropped, "Dropped duplicate series.");
        }
        text
    }
}

async fn metrics(State(exp): State<Arc<Exporter>>, headers: HeaderMap) -> Response {
    match &exp.default {
        Some(target) => {
            let deadline = exp.deadline(&headers);
            let body = exp
                .coalesce
                .run(deadline, || exp.scrape(target, &exp.cfg.checks, deadline))
                .await;
            web::metrics_response(body, &headers)
        }
        None => {
            // --redis.addr="" : only /scrape serves Redis metrics; /metrics serves the process.
            let mut out = MetricSet::new();
            mcp_exporter_core::process::collect(&mut out);
            web::metrics_response(out.encode().0, &headers)
        }
    }
}

#[derive(Debug, Deserialize)]
struct ScrapeParams {
    target: Option<String>,
    #[serde(rename = "check-keys")]
    check_keys: Option<String>,
    #[serde(rename = "check-single-keys")]
    check_single_keys: Option<String>,
    #[serde(rename = "count-keys")]
    count_keys: Option<String>,
}

async fn scrape_target(
    State(exp): State<Arc<Exporter>>,
    Query(params): Query<ScrapeParams>,
    headers: HeaderMap,
) -> Response {
    let bad = |exp: &Exporter, msg: &str| {
        if let Ok(mut n) = exp.request_errors.lock() {
            *n += 1;
        }
        (StatusCode::BAD_REQUEST, format!("{msg}\n")).into_response()
    };
    let Some(target) = params.target.filter(|t| !t.trim().is_empty()) else {
        return bad(&exp, "'target' parameter must be specified");
    };
    // Credentials in the target are dropped ("so users don't send them in plain text via
    // http", upstream v1.69); the user is kept, the password comes from the flags or the file.
    let addr = strip_password(&normalize_addr(target.trim()));
    if parse_target(&addr).is_err() {
        return bad(&exp, "invalid 'target' parameter");
    }
    let checks = if params.check_keys.is_some()
        || params.check_single_keys.is_some()
        || params.count_keys.is_some()
    {
        match KeyCheck::parse(
            params.check_keys.as_deref().unwrap_or(""),
            params.check_single_keys.as_deref().unwrap_or(""),
            params.count_keys.as_deref().unwrap_or(""),
        ) {
            Ok(c) => c,
            Err(e) => return bad(&exp, &e),
        }
    } else {
        KeyCheck::default()
    };
    let target = match exp.target(&addr) {
        Ok(t) => t,
        Err(e) => return bad(&exp, &e),
    };
    let text = exp.scrape(&target, &checks, exp.deadline(&headers)).await;
    web::metrics_response(text, &headers)
}

fn strip_password(addr: &str) -> String {
    match (addr.find("://"), addr.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let creds = &addr[scheme + 3..at];
            let user = creds.split(':').next().unwrap_or("");
            if user.is_empty() {
                format!("{}{}", &addr[..scheme + 3], &addr[at + 1..])
            } else {
                format!("{}{user}@{}", &addr[..scheme + 3], &addr[at + 1..])
            }
        }
        _ => addr.to_owned(),
    }
}

/// Builds the full router: the telemetry path, `/scrape`, `/health`, `/`, `/-/healthy`. Nothing
/// connects to Redis until the first scrape.
pub async fn app(config: ValidatedConfig, web: &WebSetup) -> Result<Router, Error> {
    // rustls needs one process-wide crypto provider for `rediss://`; a second install is a no-op.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let default = match &config.addr {
        Some(addr) => {
            let password = if config.password.0.is_empty() {
                config.password_map.get(addr)
            } else {
                Some(&config.password)
            };
            let connector = build_connector(&config, addr, password).map_err(Error::Target)?;
            Some(Arc::new(Target::new(redact_addr(addr), connector)))
        }
        None => None,
    };
    let exp = Arc::new(Exporter {
        cfg: config,
        default,
        targets: Mutex::new(HashMap::new()),
        request_errors: Mutex::new(0),
        max_timeout: web.max_scrape_timeout,
        coalesce: Default::default(),
    });
    let router = Router::new()
        .route(&web.telemetry_path, get(metrics))
        .route("/scrape", get(scrape_target))
        .route("/health", get(|| async { "ok" }))
        .with_state(exp);
    Ok(web::finish_router(
        router,
        web,
        LandingPage {
            name: "mcp-redis-exporter",
            description: "Redis metrics with redis_exporter's names.",
            version: VERSION,
            links: vec![(
                "/scrape?target=redis://127.0.0.1:6379".into(),
                "Scrape a target".into(),
            )],
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_redacted_and_stripped() {
        assert_eq!(redact_addr("redis://u:secret@h:1"), "redis://h:1");
        assert_eq!(redact_addr("redis://h:1"), "redis://h:1");
        assert_eq!(strip_password("redis://u:secret@h:1"), "redis://u@h:1");
        assert_eq!(strip_password("redis://:secret@h:1"), "redis://h:1");
        assert_eq!(normalize_addr("h:6379"), "redis://h:6379");
    }

    #[test]
    fn secret_debug_is_redacted() {
        let c = Config {
            redis_password: Secret("hunter2".into()),
            ..Config::default()
        };
        assert!(!format!("{c:?}").contains("hunter2"));
    }

    #[test]
    fn garbage_hosts_are_refused_at_start() {
        for addr in ["%%%garbage", "redis://%%%garbage", "redis://a b:1"] {
            let c = Config {
                redis_addr: addr.into(),
                ..Config::default()
            };
            let e = c.validate().unwrap_err().to_string();
            assert!(!e.contains("garbage") && !e.contains("a b"), "{e}");
        }
        for addr in [
            "localhost:6379",
            "redis://10.0.0.5:6379",
            "redis://[::1]:6379",
            "unix:///tmp/r.sock",
        ] {
            let c = Config {
                redis_addr: addr.into(),
                ..Config::default()
            };
            assert!(c.validate().is_ok(), "{addr}");
        }
    }

    #[test]
    fn bad_addresses_are_rejected_without_echoing_them() {
        let c = Config {
            redis_addr: "redis://:pw@[bad".into(),
            ..Config::default()
        };
        let e = c.validate().unwrap_err().to_string();
        assert!(!e.contains("pw"), "{e}");
    }
}
