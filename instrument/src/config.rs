//! Settings for [`crate::init`]: a [`Builder`] in code, overridden by environment variables.
//!
//! Code gives the defaults and the environment has the last word, so an operator can re-point a
//! service (another Loki, another port) without a rebuild.

use std::net::SocketAddr;
use std::time::Duration;

use crate::error::InitError;
use crate::logs::{DropPolicy, LokiConfig};

/// Environment variable: the service name (`service` label on metrics and logs).
pub const ENV_SERVICE: &str = "MCP_SERVICE";
/// Environment variable: the service version (`version` label of `mcp_build_info`).
pub const ENV_SERVICE_VERSION: &str = "MCP_SERVICE_VERSION";
/// Environment variable: the instance name (`instance` metric label, `host` log label).
pub const ENV_INSTANCE: &str = "MCP_INSTANCE";
/// Environment variable: listen address of the standalone `/metrics` listener, or `off`.
pub const ENV_METRICS_ADDR: &str = "MCP_METRICS_ADDR";
/// Environment variable: Loki base URL (`http://loki:3100`) or full push URL; empty or `off` disables.
pub const ENV_LOKI_URL: &str = "MCP_LOKI_URL";
/// Environment variable: extra static Loki labels, `key=value,key=value`.
pub const ENV_LOKI_LABELS: &str = "MCP_LOKI_LABELS";
/// Environment variable: the most log events held for Loki (queued and in flight).
pub const ENV_LOKI_MAX_EVENTS: &str = "MCP_LOKI_MAX_EVENTS";
/// Environment variable: the most bytes of log events held for Loki (queued and in flight).
pub const ENV_LOKI_MAX_BYTES: &str = "MCP_LOKI_MAX_BYTES";
/// Environment variable: what to drop when the Loki queue is full, `newest` or `oldest`.
pub const ENV_LOKI_DROP_POLICY: &str = "MCP_LOKI_DROP_POLICY";
/// Environment variable: longest wait before a partial batch is pushed, in milliseconds.
pub const ENV_LOKI_BATCH_WAIT_MS: &str = "MCP_LOKI_BATCH_WAIT_MS";
/// Environment variable: the log filter, in `tracing_subscriber::EnvFilter` syntax.
pub const ENV_RUST_LOG: &str = "RUST_LOG";
/// Environment variable: console log format, `pretty`, `compact`, `json` or `off`.
pub const ENV_LOG_FORMAT: &str = "MCP_LOG_FORMAT";

/// Default listen address of the standalone metrics listener (the OpenTelemetry Prometheus port).
pub const DEFAULT_METRICS_ADDR: &str = "0.0.0.0:9464";

/// Console log format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// Multi-line, human friendly.
    Pretty,
    /// One line per event, human friendly (the default).
    Compact,
    /// One JSON object per line.
    Json,
    /// No console output (logs still go to Loki when configured).
    Off,
}

impl LogFormat {
    fn parse(value: &str) -> Option<Self> {
        match value.trim().to_ascii_lowercase().as_str() {
            "pretty" => Some(Self::Pretty),
            "compact" | "text" | "logfmt" => Some(Self::Compact),
            "json" => Some(Self::Json),
            "off" | "none" => Some(Self::Off),
            _ => None,
        }
    }
}

/// Everything [`crate::init`] needs. Build it with [`Builder`].
#[derive(Clone, Debug)]
pub struct Config {
    pub(crate) service: String,
    pub(crate) version: String,
    pub(crate) instance: String,
    pub(crate) metrics_addr: Option<SocketAddr>,
    pub(crate) loki: Option<LokiConfig>,
    pub(crate) log_filter: String,
    pub(crate) log_format: LogFormat,
    pub(crate) ready_at_start: bool,
    pub(crate) route_cap: usize,
    pub(crate) read_env: bool,
    pub(crate) runtime: Option<tokio::runtime::Handle>,
    pub(crate) buckets: Vec<f64>,
}

/// Builder for [`crate::init`]'s settings.
///
/// ```no_run
/// # fn main() -> Result<(), mcp_instrument::InitError> {
/// let guard = mcp_instrument::Builder::new("cdb_core")
///     .version(env!("CARGO_PKG_VERSION"))
///     .metrics_addr("127.0.0.1:9464".parse().unwrap())
///     .loki_url("http://127.0.0.1:3100")
///     .loki_label("env", "prod")
///     .init()?;
/// guard.set_ready(true);
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct Builder {
    config: Config,
    loki_url: Option<String>,
    loki_labels: Vec<(String, String)>,
    loki_tuning: LokiConfig,
}

impl Builder {
    /// Starts with defaults for a service called `service`.
    pub fn new(service: impl Into<String>) -> Self {
        Self {
            config: Config {
                service: service.into(),
                version: "unknown".to_owned(),
                instance: default_instance(),
                metrics_addr: DEFAULT_METRICS_ADDR.parse().ok(),
                loki: None,
                log_filter: "info".to_owned(),
                log_format: LogFormat::Compact,
                ready_at_start: true,
                route_cap: crate::metrics::http::DEFAULT_ROUTE_CAP,
                read_env: true,
                runtime: None,
                buckets: crate::LATENCY_BUCKETS.to_vec(),
            },
            loki_url: None,
            loki_labels: Vec::new(),
            loki_tuning: LokiConfig::new(String::new()),
        }
    }

    /// A builder whose service name comes from `MCP_SERVICE` (default `app`).
    pub fn from_env() -> Self {
        Self::new(std::env::var(ENV_SERVICE).unwrap_or_else(|_| "app".to_owned()))
    }

    /// The version reported by `mcp_build_info{version}`.
    pub fn version(mut self, version: impl Into<String>) -> Self {
        self.config.version = version.into();
        self
    }

    /// The instance name (default: the host name).
    pub fn instance(mut self, instance: impl Into<String>) -> Self {
        self.config.instance = instance.into();
        self
    }

    /// Listen address of the standalone `/metrics`, `/-/healthy`, `/-/ready` listener.
    /// Port 0 picks a free port; see [`crate::Guard::metrics_addr`].
    pub fn metrics_addr(mut self, addr: SocketAddr) -> Self {
        self.config.metrics_addr = Some(addr);
        self
    }

    /// No standalone listener: merge [`crate::router`] into the service's own router instead.
    pub fn no_metrics_listener(mut self) -> Self {
        self.config.metrics_addr = None;
        self
    }

    /// Ship logs to this Loki (base URL or full push URL).
    pub fn loki_url(mut self, url: impl Into<String>) -> Self {
        self.loki_url = Some(url.into());
        self
    }

    /// Adds a static Loki stream label (keep these few and low-cardinality).
    pub fn loki_label(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.loki_labels.push((key.into(), value.into()));
        self
    }

    /// Tunes the Loki shipper (capacity, drop policy, timeouts). The URL and labels set here win.
    pub fn loki_config(mut self, config: LokiConfig) -> Self {
        self.loki_tuning = config;
        self
    }

    /// The log filter, `tracing_subscriber::EnvFilter` syntax (default `info`).
    pub fn log_filter(mut self, filter: impl Into<String>) -> Self {
        self.config.log_filter = filter.into();
        self
    }

    /// Console log format (default [`LogFormat::Compact`]).
    pub fn log_format(mut self, format: LogFormat) -> Self {
        self.config.log_format = format;
        self
    }

    /// Whether `/-/ready` answers 200 from the start (default true). Set false for services
    /// that warm up, then call [`crate::Guard::set_ready`].
    pub fn ready_at_start(mut self, ready: bool) -> Self {
        self.config.ready_at_start = ready;
        self
    }

    /// Most distinct `route` label values for the HTTP metrics before folding into `other`.
    pub fn route_label_cap(mut self, cap: usize) -> Self {
        self.config.route_cap = cap;
        self
    }

    /// The Tokio runtime whose metrics are exported (default: the one `init` is called in).
    pub fn runtime(mut self, handle: tokio::runtime::Handle) -> Self {
        self.config.runtime = Some(handle);
        self
    }

    /// Histogram bucket upper bounds, in the unit recorded (default [`crate::LATENCY_BUCKETS`],
    /// seconds).
    pub fn histogram_buckets(mut self, bounds: &[f64]) -> Self {
        self.config.buckets = bounds.to_vec();
        self
    }

    /// Ignore environment variables (tests, or services that own their configuration).
    pub fn ignore_env(mut self) -> Self {
        self.config.read_env = false;
        self
    }

    /// Installs everything; see [`crate::init`].
    pub fn init(self) -> Result<crate::Guard, InitError> {
        crate::init_with(self.build()?)
    }

    /// Resolves the settings (environment overrides applied) without installing anything.
    pub fn build(self) -> Result<Config, InitError> {
        let Builder {
            mut config,
            mut loki_url,
            mut loki_labels,
            mut loki_tuning,
        } = self;
        if config.read_env {
            let env = |name: &str| std::env::var(name).ok();
            if let Some(v) = env(ENV_SERVICE).filter(|v| !v.is_empty()) {
                config.service = v;
            }
            if let Some(v) = env(ENV_SERVICE_VERSION).filter(|v| !v.is_empty()) {
                config.version = v;
            }
            if let Some(v) = env(ENV_INSTANCE).filter(|v| !v.is_empty()) {
                config.instance = v;
            }
            if let Some(v) = env(ENV_METRICS_ADDR) {
                config.metrics_addr = parse_addr(&v)?;
            }
            if let Some(v) = env(ENV_LOKI_URL) {
                let v = v.trim();
                loki_url = (!v.is_empty() && v != "off").then(|| v.to_owned());
            }
            if let Some(v) = env(ENV_LOKI_LABELS) {
                loki_labels.extend(parse_labels(&v)?);
            }
            if let Some(v) = env(ENV_LOKI_MAX_EVENTS) {
                loki_tuning.max_events = parse_num(ENV_LOKI_MAX_EVENTS, &v)?;
            }
            if let Some(v) = env(ENV_LOKI_MAX_BYTES) {
                loki_tuning.max_bytes = parse_num(ENV_LOKI_MAX_BYTES, &v)?;
            }
            if let Some(v) = env(ENV_LOKI_BATCH_WAIT_MS) {
                loki_tuning.batch_wait =
                    Duration::from_millis(parse_num(ENV_LOKI_BATCH_WAIT_MS, &v)? as u64);
            }
            if let Some(v) = env(ENV_LOKI_DROP_POLICY) {
                loki_tuning.drop_policy = match v.trim() {
                    "newest" => DropPolicy::Newest,
                    "oldest" => DropPolicy::Oldest,
                    _ => return Err(invalid(ENV_LOKI_DROP_POLICY, &v, "want newest or oldest")),
                };
            }
            if let Some(v) = env(ENV_RUST_LOG).filter(|v| !v.trim().is_empty()) {
                config.log_filter = v;
            }
            if let Some(v) = env(ENV_LOG_FORMAT) {
                config.log_format = LogFormat::parse(&v).ok_or_else(|| {
                    invalid(ENV_LOG_FORMAT, &v, "want pretty, compact, json or off")
                })?;
            }
        }
        if let Some(url) = loki_url {
            let mut loki = loki_tuning;
            loki.url = url;
            loki.labels.extend(loki_labels);
            config.loki = Some(loki);
        }
        Ok(config)
    }
}

fn invalid(var: &'static str, value: &str, reason: &str) -> InitError {
    InitError::InvalidEnv {
        var,
        value: value.to_owned(),
        reason: reason.to_owned(),
    }
}

fn parse_addr(value: &str) -> Result<Option<SocketAddr>, InitError> {
    let v = value.trim();
    if v.is_empty() || v == "off" {
        return Ok(None);
    }
    // Accept ":9464" like Go's net.Listen does.
    let full = if v.starts_with(':') {
        format!("0.0.0.0{v}")
    } else {
        v.to_owned()
    };
    full.parse()
        .map(Some)
        .map_err(|_| invalid(ENV_METRICS_ADDR, value, "want host:port, :port or off"))
}

fn parse_num(var: &'static str, value: &str) -> Result<usize, InitError> {
    value
        .trim()
        .parse()
        .map_err(|_| invalid(var, value, "want a non-negative integer"))
}

fn parse_labels(value: &str) -> Result<Vec<(String, String)>, InitError> {
    let mut out = Vec::new();
    for pair in value.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let Some((k, v)) = pair.split_once('=') else {
            return Err(invalid(ENV_LOKI_LABELS, value, "want key=value,key=value"));
        };
        out.push((k.trim().to_owned(), v.trim().to_owned()));
    }
    Ok(out)
}

/// The host name, from `HOSTNAME` or the kernel, falling back to `localhost`.
fn default_instance() -> String {
    if let Ok(h) = std::env::var("HOSTNAME")
        && !h.trim().is_empty()
    {
        return h.trim().to_owned();
    }
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_go_style_port_only_address() {
        assert_eq!(
            parse_addr(":9464").unwrap(),
            Some("0.0.0.0:9464".parse().unwrap())
        );
        assert_eq!(parse_addr("off").unwrap(), None);
        assert!(parse_addr("nonsense").is_err());
    }

    #[test]
    fn parses_static_labels() {
        assert_eq!(
            parse_labels("env=prod, region = eu").unwrap(),
            vec![
                ("env".to_owned(), "prod".to_owned()),
                ("region".to_owned(), "eu".to_owned())
            ]
        );
        assert!(parse_labels("novalue").is_err());
    }
}
