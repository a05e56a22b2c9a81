//! The `logs` section of the agent config.
//!
//! ```yaml
//! logs:
//!   loki_url: http://loki:3100          # push path appended
//!   positions_file: /var/lib/mcp-agent/positions.json
//!   docker: {root: /var/lib/docker}     # containers discovered under <root>/containers
//!   files: [{path: "/var/log/postgresql/*.log", labels: {job: postgresql}}]
//! ```

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

/// Log collection: Docker containers' json-file logs and plain files, shipped to Loki.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LogsConfig {
    /// Loki base URL (`http://loki:3100`, the push path is appended) or full push URL.
    pub loki_url: String,
    /// Where read positions are kept (written atomically, only after Loki acknowledged).
    #[serde(default = "default_positions_file")]
    pub positions_file: PathBuf,
    /// Docker containers (json-file log driver); absent: no container logs.
    #[serde(default)]
    pub docker: Option<DockerConfig>,
    /// Plain log files by glob, each with static labels.
    #[serde(default)]
    pub files: Vec<FileTarget>,
    /// The `host` label; default: this machine's hostname.
    #[serde(default)]
    pub host: Option<String>,
    /// `X-Scope-OrgID` for multi-tenant Loki.
    #[serde(default)]
    pub tenant: Option<String>,
    /// Basic auth; the password from a file.
    #[serde(default)]
    pub basic_auth: Option<BasicAuth>,
    /// A file holding a bearer token.
    #[serde(default)]
    pub bearer_token_file: Option<PathBuf>,
    /// TLS to Loki.
    #[serde(default)]
    pub tls: Option<TlsConfig>,
    /// Largest batch in bytes of line text. Default 1 MiB (Alloy's default).
    #[serde(default = "default_batch_max_bytes")]
    pub batch_max_bytes: usize,
    /// Longest a partial batch waits before it is pushed, in milliseconds. Default 1000.
    #[serde(default = "default_batch_wait_ms")]
    pub batch_wait_ms: u64,
    /// Bound on the bytes of log lines the collector holds. It holds one batch at a time (read,
    /// encoded, retried until Loki acknowledges it; nothing more is read meanwhile: the files
    /// are the buffer): the batch's line text, cut at a third of this bound when that is below
    /// `batch_max_bytes` (filled over several polls, it stays within that plus one line), one
    /// encoded push body of it (every retry sends that same body), and one read buffer, the
    /// batch's room or twice `max_line_bytes` plus 4 KiB, whichever is larger. Default 8 MiB.
    #[serde(default = "default_memory_limit_bytes")]
    pub memory_limit_bytes: usize,
    /// Longest line shipped; a longer one is cut there and counted. Default 256 KiB (Loki's
    /// default `max_line_size`).
    #[serde(default = "default_max_line_bytes")]
    pub max_line_bytes: usize,
    /// Timeout of one push, in seconds. Default 10.
    #[serde(default = "default_request_timeout_secs")]
    pub request_timeout_secs: u64,
    /// Longest wait between two attempts at a failing push, in milliseconds (the waits grow
    /// from 250 ms, with jitter, up to this). Default 30000. After an outage, Loki sees the
    /// collector again within about this long.
    #[serde(default = "default_max_backoff_ms")]
    pub max_backoff_ms: u64,
    /// How often files are polled for new lines, in milliseconds. Default 250.
    #[serde(default = "default_poll_interval_ms")]
    pub poll_interval_ms: u64,
    /// How often targets are discovered again (new containers, new files), in seconds. Default 5.
    #[serde(default = "default_discover_interval_secs")]
    pub discover_interval_secs: u64,
    /// How long shutdown may spend flushing what was read, in seconds. Default 5.
    #[serde(default = "default_flush_timeout_secs")]
    pub flush_timeout_secs: u64,
}

/// Docker discovery.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DockerConfig {
    /// Docker's root directory; containers are under `<root>/containers/<id>/`.
    #[serde(default = "default_docker_root")]
    pub root: PathBuf,
    /// A container carrying this label (`key=value`, or `key` for any value) is not collected:
    /// the CDB services push through mcp-instrument, so their stdout is not stored twice.
    #[serde(default = "default_exclude_label")]
    pub exclude_label: Option<String>,
    /// When not empty, only containers whose name matches one of these regexes are collected
    /// (even ones carrying the exclude label: an explicit selector wins).
    #[serde(default)]
    pub include: Vec<String>,
    /// Optional parsing of the lines, lifting fields to labels.
    #[serde(default)]
    pub parse: Option<ParseConfig>,
}

/// A glob of plain files.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FileTarget {
    /// A glob (`/var/log/postgresql/*.log`).
    pub path: String,
    /// Static labels of these files' streams (`filename` is added).
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Optional parsing of the lines, lifting fields to labels.
    #[serde(default)]
    pub parse: Option<ParseConfig>,
}

/// Lifting fields of JSON or logfmt lines to labels, bounded.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ParseConfig {
    /// `json` or `logfmt`.
    pub format: ParseFormat,
    /// The fields that become labels (the line is shipped whole).
    pub labels: Vec<String>,
    /// Most distinct values per lifted label per target; beyond it the value is `__overflow__`
    /// and counted. Default 50.
    #[serde(default = "default_max_label_values")]
    pub max_values_per_label: usize,
}

/// A line format.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ParseFormat {
    /// One JSON object per line.
    Json,
    /// `key=value key2="quoted value"`.
    Logfmt,
}

/// Basic auth credentials.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BasicAuth {
    /// The user.
    pub username: String,
    /// A file holding the password (never the password itself).
    pub password_file: PathBuf,
}

/// TLS settings.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// A PEM CA bundle to trust.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Accept any certificate (testing only).
    #[serde(default)]
    pub insecure_skip_verify: bool,
}

fn default_positions_file() -> PathBuf {
    PathBuf::from("/var/lib/mcp-agent/positions.json")
}
fn default_docker_root() -> PathBuf {
    PathBuf::from("/var/lib/docker")
}
#[allow(clippy::unnecessary_wraps)]
fn default_exclude_label() -> Option<String> {
    Some("logging=mcp-instrument".to_owned())
}
fn default_batch_max_bytes() -> usize {
    1 << 20
}
fn default_batch_wait_ms() -> u64 {
    1000
}
fn default_memory_limit_bytes() -> usize {
    8 << 20
}
fn default_max_line_bytes() -> usize {
    256 << 10
}
fn default_request_timeout_secs() -> u64 {
    10
}
fn default_max_backoff_ms() -> u64 {
    30_000
}
fn default_poll_interval_ms() -> u64 {
    250
}
fn default_discover_interval_secs() -> u64 {
    5
}
fn default_flush_timeout_secs() -> u64 {
    5
}
fn default_max_label_values() -> usize {
    50
}

/// A config problem, with the key path.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("logs.{key}: {reason}")]
pub struct LogsConfigError {
    /// The key path below `logs`.
    pub key: String,
    /// What is wrong.
    pub reason: String,
}

impl LogsConfig {
    /// The bytes of line text one batch may hold: `batch_max_bytes`, cut to a third of
    /// `memory_limit_bytes` (the batch and its encoded body fit the bound). Never 0 in a
    /// valid config: `batch_max_bytes > 0` and `memory_limit_bytes >= 3072` are checked.
    pub fn batch_bytes(&self) -> usize {
        self.batch_max_bytes.min(self.memory_limit_bytes / 3)
    }

    /// Every problem found, one per key (empty: valid).
    pub fn problems(&self) -> Vec<LogsConfigError> {
        let mut out = Vec::new();
        let mut bad = |key: &str, reason: String| {
            out.push(LogsConfigError {
                key: key.to_owned(),
                reason,
            })
        };
        match reqwest::Url::parse(&self.loki_url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") => {}
            Ok(u) => bad(
                "loki_url",
                format!("scheme {:?} is not http(s)", u.scheme()),
            ),
            Err(e) => bad("loki_url", format!("not a URL: {e}")),
        }
        if self.docker.is_none() && self.files.is_empty() {
            bad(
                "docker",
                "neither docker nor files is set: nothing to collect".into(),
            );
        }
        if let Some(d) = &self.docker {
            for (i, re) in d.include.iter().enumerate() {
                if let Err(e) = regex::Regex::new(re) {
                    bad(&format!("docker.include[{i}]"), format!("bad regex: {e}"));
                }
            }
            if let Some(l) = &d.exclude_label
                && l.trim().is_empty()
            {
                bad("docker.exclude_label", "empty".into());
            }
            if let Some(p) = &d.parse {
                check_parse(p, "docker.parse", &mut bad);
            }
        }
        for (i, f) in self.files.iter().enumerate() {
            if let Err(e) = glob::Pattern::new(&f.path) {
                bad(&format!("files[{i}].path"), format!("bad glob: {e}"));
            }
            for k in f.labels.keys() {
                if !valid_label_name(k) {
                    bad(
                        &format!("files[{i}].labels.{k}"),
                        "not a valid label name".into(),
                    );
                }
            }
            if let Some(p) = &f.parse {
                check_parse(p, &format!("files[{i}].parse"), &mut bad);
            }
        }
        if self.batch_max_bytes == 0 {
            bad("batch_max_bytes", "must be > 0".into());
        }
        if self.memory_limit_bytes < 3 * 1024 {
            bad("memory_limit_bytes", "must be at least 3072".into());
        }
        if self.max_line_bytes < 1024 {
            bad("max_line_bytes", "must be at least 1024".into());
        }
        if self.request_timeout_secs == 0 || self.poll_interval_ms == 0 {
            bad(
                "request_timeout_secs",
                "timeouts and intervals must be > 0".into(),
            );
        }
        if self.max_backoff_ms < 250 {
            bad(
                "max_backoff_ms",
                "must be at least 250 (the first wait)".into(),
            );
        }
        if self.basic_auth.is_some() && self.bearer_token_file.is_some() {
            bad(
                "bearer_token_file",
                "set either basic_auth or bearer_token_file".into(),
            );
        }
        out
    }

    pub(crate) fn batch_wait(&self) -> Duration {
        Duration::from_millis(self.batch_wait_ms)
    }
    pub(crate) fn poll_interval(&self) -> Duration {
        Duration::from_millis(self.poll_interval_ms.max(10))
    }
    pub(crate) fn max_backoff(&self) -> Duration {
        Duration::from_millis(self.max_backoff_ms.max(250))
    }
    pub(crate) fn discover_interval(&self) -> Duration {
        Duration::from_secs(self.discover_interval_secs.max(1))
    }
    pub(crate) fn flush_timeout(&self) -> Duration {
        Duration::from_secs(self.flush_timeout_secs)
    }
}

fn check_parse(p: &ParseConfig, key: &str, bad: &mut impl FnMut(&str, String)) {
    for l in &p.labels {
        if !valid_label_name(l) {
            bad(
                &format!("{key}.labels"),
                format!("{l:?} is not a valid label name"),
            );
        }
    }
    if p.max_values_per_label == 0 {
        bad(&format!("{key}.max_values_per_label"), "must be > 0".into());
    }
}

pub(crate) fn valid_label_name(k: &str) -> bool {
    let mut chars = k.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(extra: &str) -> LogsConfig {
        mcp_exporter_core::yaml::from_str(&format!(
            "loki_url: http://127.0.0.1:3100\nfiles: [{{path: \"/var/log/app/*.log\"}}]\n{extra}"
        ))
        .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn memory_limit_cuts_the_batch_to_a_third_and_is_validated() {
        // Defaults: 1 MiB batches under an 8 MiB bound.
        let c = config("");
        assert_eq!(c.batch_bytes(), 1 << 20);
        let problems: Vec<String> = c.problems().iter().map(ToString::to_string).collect();
        assert!(problems.is_empty(), "{problems:?}");
        // A bound below three batches cuts the batch, so the bound holds.
        let c = config("memory_limit_bytes: 1500000\n");
        assert_eq!(c.batch_bytes(), 500_000);
        assert!(c.problems().is_empty());
        let c = config("memory_limit_bytes: 100\n");
        let problems: Vec<String> = c.problems().iter().map(ToString::to_string).collect();
        assert_eq!(problems, ["logs.memory_limit_bytes: must be at least 3072"]);
    }

    #[test]
    fn a_small_batch_max_bytes_is_kept_as_given() {
        // Below 1 KiB too: nothing raises what the operator set.
        let c = config("batch_max_bytes: 100\n");
        assert!(c.problems().is_empty());
        assert_eq!(c.batch_bytes(), 100);
        // The smallest valid bound still leaves a batch room.
        let c = config("memory_limit_bytes: 3072\n");
        assert!(c.problems().is_empty());
        assert_eq!(c.batch_bytes(), 1024);
        let c = config("batch_max_bytes: 0\n");
        let problems: Vec<String> = c.problems().iter().map(ToString::to_string).collect();
        assert_eq!(problems, ["logs.batch_max_bytes: must be > 0"]);
    }
}
