//! The exporter's settings: [`Config`] as the flags, the env vars or the agent's `redis:` section
//! fill it, and [`ValidatedConfig`], the only form the exporter accepts (every file read, every
//! address and key pattern checked once, at start).

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::addr::{normalize_addr, parse_target};
use crate::connection::{self, TlsFiles};
use crate::key_checks::KeyCheck;

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
            max_reply_bytes: connection::DEFAULT_MAX_REPLY_BYTES,
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
    pub(crate) opts: Options,
    pub(crate) addr: Option<String>,
    pub(crate) user: String,
    pub(crate) password: Secret,
    pub(crate) password_map: HashMap<String, Secret>,
    pub(crate) checks: KeyCheck,
    pub(crate) tls: Option<TlsFiles>,
    pub(crate) skip_tls_verification: bool,
    pub(crate) max_targets: usize,
    pub(crate) max_reply_bytes: u64,
}

impl ValidatedConfig {
    /// The options the scrape path uses.
    pub fn options(&self) -> &Options {
        &self.opts
    }
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

#[cfg(test)]
mod tests {
    use super::*;

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
