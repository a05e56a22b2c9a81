//! The agent's config file: one section per exporter, each holding that exporter's own `Config`
//! (the same struct its flags and env vars fill), plus where to listen.
//!
//! ```yaml
//! host:
//!   listen_address: [":9100"]
//! redis:
//!   listen_address: [":9121"]
//!   max_scrape_timeout: 5s
//!   settings:
//!     redis_addr: redis://127.0.0.1:6379
//! postgres:
//!   enabled: false
//! ```

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Errors reading or validating the agent's configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid YAML for this schema.
    #[error("invalid config file {path}: {reason}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// Why (serde's message names the field).
        reason: String,
    },
    /// A section's settings are invalid.
    #[error("invalid {section} settings: {reason}")]
    Section {
        /// `host`, `redis` or `postgres`.
        section: &'static str,
        /// Why.
        reason: String,
    },
}

/// The whole file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentConfig {
    /// The host exporter (node_exporter names), :9100 by default.
    #[serde(default)]
    pub host: Option<Section<mcp_host_exporter::Config>>,
    /// The Redis exporter (redis_exporter names), :9121 by default.
    #[serde(default)]
    pub redis: Option<Section<mcp_redis_exporter::Config>>,
    /// The PostgreSQL exporter (postgres_exporter names), :9187 by default.
    #[serde(default)]
    pub postgres: Option<Section<mcp_postgres_exporter::Config>>,
    /// Log collection (Docker containers and files) into Loki; absent: no log collection.
    #[serde(default)]
    pub logs: Option<crate::logs::LogsConfig>,
}

/// One exporter's section.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Section<C> {
    /// Whether to run this exporter at all.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Addresses to listen on; the exporter's classic port when empty.
    #[serde(default)]
    pub listen_address: Vec<String>,
    /// Path of the metrics endpoint.
    #[serde(default = "default_telemetry_path")]
    pub telemetry_path: String,
    /// exporter-toolkit web config file (TLS, basic auth).
    #[serde(default)]
    pub web_config_file: Option<PathBuf>,
    /// Upper bound of a scrape's duration (`--web.max-scrape-timeout`, Go duration such as
    /// `10s`); a smaller `X-Prometheus-Scrape-Timeout-Seconds` from Prometheus wins.
    #[serde(default = "default_max_scrape_timeout")]
    pub max_scrape_timeout: String,
    /// The exporter's own settings, as its flags would set them.
    #[serde(default)]
    pub settings: Option<C>,
    /// The keys `settings` sets in the file (filled by [`AgentConfig::from_yaml`]): the
    /// connection settings it leaves out still come from the environment (see
    /// [`crate::env_defaults`]).
    #[serde(skip)]
    pub settings_keys: BTreeSet<String>,
}

fn default_true() -> bool {
    true
}

fn default_max_scrape_timeout() -> String {
    "10s".to_owned()
}

fn default_telemetry_path() -> String {
    "/metrics".to_owned()
}

impl AgentConfig {
    /// Reads and parses a YAML file.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::from_yaml(&text).map_err(|reason| ConfigError::Parse {
            path: path.to_owned(),
            reason,
        })
    }

    /// Parses YAML text.
    pub fn from_yaml(text: &str) -> Result<Self, String> {
        if text.trim().is_empty() {
            return Ok(Self::default());
        }
        let mut config: Self = mcp_exporter_core::yaml::from_str(text)?;
        // The typed parse cannot tell a key left out from one set to its default; the tree can.
        let tree: serde_json::Value = mcp_exporter_core::yaml::from_str(text)?;
        let keys = |section: &str| -> BTreeSet<String> {
            tree.get(section)
                .and_then(|s| s.get("settings"))
                .and_then(serde_json::Value::as_object)
                .map(|m| m.keys().cloned().collect())
                .unwrap_or_default()
        };
        if let Some(s) = &mut config.host {
            s.settings_keys = keys("host");
        }
        if let Some(s) = &mut config.redis {
            s.settings_keys = keys("redis");
        }
        if let Some(s) = &mut config.postgres {
            s.settings_keys = keys("postgres");
        }
        Ok(config)
    }
}
