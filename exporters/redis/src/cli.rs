//! The command line: redis_exporter's flags and environment variables (single or double dash),
//! plus core's `--web.*` and `--log.*`, mapped onto a [`Config`].

use std::path::PathBuf;

use clap::{Arg, ArgAction, ArgMatches, Command};
use mcp_exporter_core::logging::LogArgs;
use mcp_exporter_core::web::{self, WebArgs};

use crate::VERSION;
use crate::config::{Config, ConfigError, Secret};

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
