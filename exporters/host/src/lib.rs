//! mcp-host-exporter: host metrics with node_exporter 1.5's names, types, labels and HELP.
//!
//! Each collector is one file in `collector/`, reads `/proc`, `/sys` or the root filesystem under
//! the configured paths (`--path.procfs`, `--path.sysfs`, `--path.rootfs`, so it works in a
//! container with the host's mounted), and is registered in the one table in `collector/mod.rs`
//! that also makes the `--[no-]collector.<name>` flags. A collector that fails (a garbled or
//! missing file) reports `node_scrape_collector_success{collector} 0`; the scrape still answers.

// deny, not forbid: `collector/timex.rs` holds the crate's one syscall without a safe binding.
#![deny(unsafe_code)]

pub mod collector;
#[cfg(target_os = "linux")]
pub mod files;
pub mod names;
pub mod parse;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use clap::{Arg, ArgAction, ArgMatches, Command};
use http::HeaderMap;
use mcp_exporter_core::collector::{CollectorRunner, ScrapeNames};
use mcp_exporter_core::logging::LogArgs;
use mcp_exporter_core::web::{self, LandingPage, WebArgs, WebSetup};
use mcp_exporter_core::{MetricSet, collector as core_collector};
use regex::Regex;
use serde::Deserialize;

/// node_exporter's port.
pub const DEFAULT_LISTEN: &str = ":9100";
const VERSION: &str = env!("CARGO_PKG_VERSION");

/// node_exporter 1.5's default `--collector.filesystem.mount-points-exclude`.
pub const DEFAULT_MOUNT_POINTS_EXCLUDE: &str =
    "^/(dev|proc|run/credentials/.+|sys|var/lib/docker/.+|var/lib/containers/storage/.+)($|/)";
/// node_exporter 1.5's default `--collector.filesystem.fs-types-exclude`.
pub const DEFAULT_FS_TYPES_EXCLUDE: &str = "^(autofs|binfmt_misc|bpf|cgroup2?|configfs|debugfs|devpts|devtmpfs|fusectl|hugetlbfs|iso9660|mqueue|nsfs|overlay|proc|procfs|pstore|rpc_pipefs|securityfs|selinuxfs|squashfs|sysfs|tracefs)$";
/// node_exporter 1.5's default `--collector.diskstats.device-exclude`.
pub const DEFAULT_DISK_EXCLUDE: &str = "^(ram|loop|fd|(h|s|v|xv)d[a-z]|nvme\\d+n\\d+p)\\d+$";
/// node_exporter 1.5's default `--collector.netstat.fields`.
pub const DEFAULT_NETSTAT_FIELDS: &str = "^(.*_(InErrors|InErrs)|Ip_Forwarding|Ip(6|Ext)_(InOctets|OutOctets)|Icmp6?_(InMsgs|OutMsgs)|TcpExt_(Listen.*|Syncookies.*|TCPSynRetrans|TCPTimeouts)|Tcp_(ActiveOpens|InSegs|OutSegs|OutRsts|PassiveOpens|RetransSegs|CurrEstab)|Udp6?_(InDatagrams|OutDatagrams|NoPorts|RcvbufErrors|SndbufErrors))$";
/// node_exporter 1.5's default `--collector.vmstat.fields`.
pub const DEFAULT_VMSTAT_FIELDS: &str = "^(oom_kill|pgpg|pswp|pg.*fault).*";

/// The exporter's settings: filled by node_exporter's flags in the standalone binary, or by the
/// `host:` section of the agent's config file.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// procfs mountpoint.
    pub path_procfs: PathBuf,
    /// sysfs mountpoint.
    pub path_sysfs: PathBuf,
    /// rootfs mountpoint (filesystem sizes are read under it).
    pub path_rootfs: PathBuf,
    /// Enabled collectors; `None` means the defaults of the table.
    pub collectors: Option<Vec<String>>,
    /// Regexp of mount points to ignore.
    pub filesystem_mount_points_exclude: String,
    /// Regexp of filesystem types to ignore.
    pub filesystem_fs_types_exclude: String,
    /// Seconds before a stuck statfs marks the mount `device_error`.
    pub filesystem_stat_timeout_secs: f64,
    /// Regexp of block devices to ignore.
    pub diskstats_device_exclude: String,
    /// Regexp of block devices to include (overrides the exclude when set).
    pub diskstats_device_include: Option<String>,
    /// Regexp of network devices to ignore in netdev and netclass.
    pub netdev_device_exclude: Option<String>,
    /// Regexp of netstat fields to export.
    pub netstat_fields: String,
    /// Regexp of vmstat fields to export.
    pub vmstat_fields: String,
    /// Directory of `*.prom` files for the textfile collector.
    pub textfile_directory: Option<PathBuf>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            path_procfs: "/proc".into(),
            path_sysfs: "/sys".into(),
            path_rootfs: "/".into(),
            collectors: None,
            filesystem_mount_points_exclude: DEFAULT_MOUNT_POINTS_EXCLUDE.into(),
            filesystem_fs_types_exclude: DEFAULT_FS_TYPES_EXCLUDE.into(),
            filesystem_stat_timeout_secs: 5.0,
            diskstats_device_exclude: DEFAULT_DISK_EXCLUDE.into(),
            diskstats_device_include: None,
            netdev_device_exclude: None,
            netstat_fields: DEFAULT_NETSTAT_FIELDS.into(),
            vmstat_fields: DEFAULT_VMSTAT_FIELDS.into(),
            textfile_directory: None,
        }
    }
}

/// Invalid configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A regexp does not compile.
    #[error("invalid {flag}: {reason}")]
    Regex {
        /// Which flag.
        flag: &'static str,
        /// The regex error, first line.
        reason: String,
    },
    /// Another invalid setting.
    #[error("{0}")]
    Invalid(String),
}

/// Errors building the exporter.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Building the collectors failed.
    #[error("{0}")]
    Build(String),
}

/// What every collector reads: paths and compiled filters.
#[derive(Debug, Clone)]
pub struct Host {
    /// procfs root.
    pub proc: PathBuf,
    /// sysfs root.
    pub sys: PathBuf,
    /// rootfs root.
    pub root: PathBuf,
    /// Mount points to skip.
    pub mount_exclude: Regex,
    /// Filesystem types to skip.
    pub fs_type_exclude: Regex,
    /// statfs timeout.
    pub stat_timeout: std::time::Duration,
    /// Disk devices filter: (include, exclude).
    pub disk_include: Option<Regex>,
    /// Disk devices to skip.
    pub disk_exclude: Regex,
    /// Network devices to skip.
    pub net_exclude: Option<Regex>,
    /// netstat fields to keep.
    pub netstat_fields: Regex,
    /// vmstat fields to keep.
    pub vmstat_fields: Regex,
    /// textfile directory.
    pub textfile_dir: Option<PathBuf>,
    /// Names built from file contents, made once.
    pub names: Arc<names::Names>,
}

impl Host {
    /// `<procfs>/<rel>`.
    pub fn proc(&self, rel: &str) -> PathBuf {
        self.proc.join(rel)
    }
    /// `<sysfs>/<rel>`.
    pub fn sys(&self, rel: &str) -> PathBuf {
        self.sys.join(rel)
    }
    /// `<rootfs>/<mountpoint>` for a mount point as seen by the host.
    pub fn rooted(&self, mount_point: &str) -> PathBuf {
        self.root.join(mount_point.trim_start_matches('/'))
    }
}

/// A validated configuration: the only type [`app`] accepts.
#[derive(Debug, Clone)]
pub struct ValidatedConfig {
    host: Arc<Host>,
    enabled: Vec<&'static str>,
}

impl ValidatedConfig {
    /// The paths and filters the collectors read with.
    pub fn host(&self) -> &Arc<Host> {
        &self.host
    }
}

fn regex(flag: &'static str, s: &str) -> Result<Regex, ConfigError> {
    Regex::new(s).map_err(|e| ConfigError::Regex {
        flag,
        reason: mcp_exporter_core::cli::one_line(&e.to_string()),
    })
}

impl Config {
    /// Compiles the regexps and checks the collector names.
    pub fn validate(self) -> Result<ValidatedConfig, ConfigError> {
        let enabled = core_collector::select(
            collector::TABLE,
            self.collectors
                .as_ref()
                .map(|names| names.iter().map(String::as_str)),
        )
        .map_err(|e| ConfigError::Invalid(e.to_string()))?;
        if self.filesystem_stat_timeout_secs.is_nan() || self.filesystem_stat_timeout_secs <= 0.0 {
            return Err(ConfigError::Invalid(
                "filesystem stat timeout must be positive".into(),
            ));
        }
        let host = Host {
            proc: self.path_procfs,
            sys: self.path_sysfs,
            root: self.path_rootfs,
            mount_exclude: regex(
                "--collector.filesystem.mount-points-exclude",
                &self.filesystem_mount_points_exclude,
            )?,
            fs_type_exclude: regex(
                "--collector.filesystem.fs-types-exclude",
                &self.filesystem_fs_types_exclude,
            )?,
            stat_timeout: std::time::Duration::from_secs_f64(self.filesystem_stat_timeout_secs),
            disk_include: self
                .diskstats_device_include
                .as_deref()
                .map(|s| regex("--collector.diskstats.device-include", s))
                .transpose()?,
            disk_exclude: regex(
                "--collector.diskstats.device-exclude",
                &self.diskstats_device_exclude,
            )?,
            net_exclude: self
                .netdev_device_exclude
                .as_deref()
                .filter(|s| !s.is_empty())
                .map(|s| regex("--collector.netdev.device-exclude", s))
                .transpose()?,
            netstat_fields: regex("--collector.netstat.fields", &self.netstat_fields)?,
            vmstat_fields: regex("--collector.vmstat.fields", &self.vmstat_fields)?,
            textfile_dir: self.textfile_directory,
            names: Arc::default(),
        };
        Ok(ValidatedConfig {
            host: Arc::new(host),
            enabled,
        })
    }
}

fn string(id: &'static str, help: &'static str) -> Arg {
    Arg::new(id)
        .long(id)
        .num_args(1)
        .action(ArgAction::Set)
        .help(help)
}

/// node_exporter's flags (kingpin names), plus `--web.*`, `--log.*` and the collector flags.
pub fn command() -> Command {
    let cmd = Command::new("mcp-host-exporter")
        .version(VERSION)
        .about("Host metrics with node_exporter's names (a drop-in for the Linux collectors of node_exporter 1.5).")
        .arg(string("path.procfs", "procfs mountpoint. [default: /proc]"))
        .arg(string("path.sysfs", "sysfs mountpoint. [default: /sys]"))
        .arg(string("path.rootfs", "rootfs mountpoint. [default: /]"))
        .arg(string("collector.filesystem.mount-points-exclude", "Regexp of mount points to exclude for filesystem collector.").alias("collector.filesystem.ignored-mount-points"))
        .arg(string("collector.filesystem.fs-types-exclude", "Regexp of filesystem types to exclude for filesystem collector.").alias("collector.filesystem.ignored-fs-types"))
        .arg(string("collector.filesystem.stat-timeout", "How long to wait for a mount to respond before marking it as stale. [default: 5s]"))
        .arg(string("collector.diskstats.device-exclude", "Regexp of diskstats devices to exclude.").alias("collector.diskstats.ignored-devices"))
        .arg(string("collector.diskstats.device-include", "Regexp of diskstats devices to include (mutually exclusive to device-exclude)."))
        .arg(string("collector.netdev.device-exclude", "Regexp of net devices to exclude (mutually exclusive to device-include).").alias("collector.netdev.device-blacklist"))
        .arg(string("collector.netstat.fields", "Regexp of fields to return for netstat collector."))
        .arg(string("collector.vmstat.fields", "Regexp of fields to return for vmstat collector."))
        .arg(string("collector.textfile.directory", "Directory to read text files with metrics from."));
    let cmd = core_collector::add_collector_flags(cmd, &collector::infos());
    let cmd = <WebArgs as clap::Args>::augment_args(cmd);
    let cmd = <LogArgs as clap::Args>::augment_args(cmd);
    cmd.mut_arg("listen_address", |a| {
        a.help(
            "Addresses on which to expose metrics and web interface. Repeatable. [default: :9100]",
        )
    })
}

/// Reads the parsed flags into a [`Config`] and the web/log flags.
pub fn from_matches(m: &ArgMatches) -> Result<(Config, WebArgs, LogArgs), ConfigError> {
    use clap::FromArgMatches;
    let web = WebArgs::from_arg_matches(m).map_err(|e| ConfigError::Invalid(e.to_string()))?;
    let log = LogArgs::from_arg_matches(m).map_err(|e| ConfigError::Invalid(e.to_string()))?;
    let s = |id: &str| m.get_one::<String>(id).cloned();
    let mut c = Config::default();
    if let Some(v) = s("path.procfs") {
        c.path_procfs = v.into();
    }
    if let Some(v) = s("path.sysfs") {
        c.path_sysfs = v.into();
    }
    if let Some(v) = s("path.rootfs") {
        c.path_rootfs = v.into();
    }
    if let Some(v) = s("collector.filesystem.mount-points-exclude") {
        c.filesystem_mount_points_exclude = v;
    }
    if let Some(v) = s("collector.filesystem.fs-types-exclude") {
        c.filesystem_fs_types_exclude = v;
    }
    if let Some(v) = s("collector.filesystem.stat-timeout") {
        c.filesystem_stat_timeout_secs = web::parse_duration(&v)
            .map_err(|e| ConfigError::Invalid(format!("--collector.filesystem.stat-timeout: {e}")))?
            .as_secs_f64();
    }
    if let Some(v) = s("collector.diskstats.device-exclude") {
        c.diskstats_device_exclude = v;
    }
    c.diskstats_device_include = s("collector.diskstats.device-include");
    c.netdev_device_exclude = s("collector.netdev.device-exclude");
    if let Some(v) = s("collector.netstat.fields") {
        c.netstat_fields = v;
    }
    if let Some(v) = s("collector.vmstat.fields") {
        c.vmstat_fields = v;
    }
    c.textfile_directory = s("collector.textfile.directory")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from);
    let enabled = core_collector::enabled_collectors(m, &collector::infos());
    c.collectors = Some(enabled.into_iter().map(str::to_owned).collect());
    Ok((c, web, log))
}

struct Exporter {
    host: Arc<Host>,
    runner: CollectorRunner<Host>,
    max_timeout: std::time::Duration,
    /// Concurrent scrapes share one collection (see `mcp_exporter_core::coalesce`).
    coalesce: mcp_exporter_core::coalesce::Coalescer,
}

const SCRAPE_NAMES: ScrapeNames = ScrapeNames {
    duration: "node_scrape_collector_duration_seconds",
    duration_help: "node_exporter: Duration of a collector scrape.",
    success: "node_scrape_collector_success",
    success_help: "node_exporter: Whether a collector succeeded.",
};

async fn metrics(State(exp): State<Arc<Exporter>>, headers: HeaderMap) -> Response {
    let timeout = web::scrape_timeout(&headers, exp.max_timeout);
    let deadline = tokio::time::Instant::now() + timeout;
    let body = exp.coalesce.run(deadline, || collect(&exp, deadline)).await;
    web::metrics_response(body, &headers)
}

async fn collect(exp: &Exporter, deadline: tokio::time::Instant) -> String {
    let mut out = MetricSet::new();
    exp.runner.run(&exp.host, deadline, &mut out).await;
    out.gauge(
        "node_exporter_build_info",
        "A metric with a constant '1' value labeled by version, revision, branch, goversion from which node_exporter was built, and the goos and goarch for the build.",
        &[
            ("version", VERSION),
            ("revision", option_env!("MCP_GIT_SHA").unwrap_or("unknown")),
            ("branch", "main"),
            ("goversion", concat!("rust", env!("CARGO_PKG_RUST_VERSION"))),
            ("goos", std::env::consts::OS),
            ("goarch", go_arch()),
        ],
        1.0,
    );
    mcp_exporter_core::process::collect(&mut out);
    out.encode().0
}

fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        other => other,
    }
}

/// The exporter's descriptor: what `mcp_exporter_core::exporter::main` and the agent build it from.
#[derive(Debug, Clone, Copy)]
pub struct HostExporter;

impl mcp_exporter_core::Exporter for HostExporter {
    const NAME: &'static str = "mcp-host-exporter";
    const SECTION: &'static str = "host";
    const DEFAULT_LISTEN: &'static str = DEFAULT_LISTEN;
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

    async fn app(config: ValidatedConfig, web: &WebSetup) -> Result<Router, Error> {
        app(config, web).await
    }

    fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
        // One thread serves: the collectors only read kernel files (statvfs, which can hang, runs
        // on the blocking pool); a second worker only added cross-thread wake-ups per scrape.
        tokio::runtime::Builder::new_current_thread()
            .max_blocking_threads(16)
            .enable_all()
            .build()
    }
}

/// Builds the full router: the telemetry path, `/`, `/-/healthy`.
pub async fn app(config: ValidatedConfig, web: &WebSetup) -> Result<Router, Error> {
    let exp = Arc::new(Exporter {
        host: config.host,
        runner: CollectorRunner::from_table(collector::TABLE, &config.enabled, Some(SCRAPE_NAMES)),
        max_timeout: web.max_scrape_timeout,
        coalesce: Default::default(),
    });
    let router = Router::new()
        .route(&web.telemetry_path, get(metrics))
        .with_state(exp);
    Ok(web::finish_router(
        router,
        web,
        LandingPage {
            name: "mcp-host-exporter",
            description: "Host metrics with node_exporter's names.",
            version: VERSION,
            links: vec![],
        },
    ))
}

/// Reads a file under a root, as text.
pub fn read(path: &Path) -> Result<String, core_collector::CollectError> {
    read_text(path).map_err(core_collector::CollectError::Io)
}

/// Files larger than this are refused (a /proc file never is; a runaway textfile might be).
pub(crate) const MAX_FILE: u64 = 64 << 20;

/// Reads a small `/proc`, `/sys` or text file. On Linux kernel files go through descriptors kept
/// open (see [`files`]); others are opened, read into 4 KiB of spare capacity until EOF and closed
/// (`fs::read_to_string` also stats and seeks for a size hint, always 0 in /proc and /sys, then
/// probes with a 32-byte read: three syscalls more per file).
pub fn read_text(path: impl AsRef<Path>) -> std::io::Result<String> {
    #[cfg(target_os = "linux")]
    {
        files::read(path.as_ref())
    }
    #[cfg(not(target_os = "linux"))]
    {
        read_uncached(path)
    }
}

/// Reads a file without keeping its descriptor (textfiles, which are replaced by rename).
pub fn read_uncached(path: impl AsRef<Path>) -> std::io::Result<String> {
    use std::io::Read as _;
    let file = std::fs::File::open(path)?;
    let mut buf = Vec::with_capacity(4096);
    // `Take` has no size-hint specialisation: plain reads into the spare capacity.
    file.take(MAX_FILE).read_to_end(&mut buf)?;
    String::from_utf8(buf).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}

/// Entry points for the fuzz target (`fuzz/`, cargo-fuzz) and for the bounded corpus test in
/// `tests/fuzz_proc_parsers_corpus.rs`, so both drive exactly the same code: the text of any
/// `/proc` or `/sys` file, `os-release`, a textfile-collector line or a container's config,
/// through every pure parser. Takes arbitrary bytes and panics only when an invariant breaks.
/// Not an API.
#[doc(hidden)]
pub mod fuzzing {
    use crate::collector::{cgroup, filesystem, os, textfile};
    use crate::parse;

    /// `data` (lossily as text) through every parser.
    pub fn proc_files(data: &[u8]) {
        let text = String::from_utf8_lossy(data);
        let stat = parse::stat(&text);
        assert!(stat.cpus.iter().all(|(name, _)| !name.is_empty()));
        let _ = parse::meminfo(&text);
        let _ = parse::key_values(&text);
        let _ = parse::netstat(&text);
        let _ = parse::snmp6(&text);
        let _ = parse::net_dev(&text);
        let _ = parse::diskstats(&text);
        let _ = parse::mountinfo(&text);
        let _ = parse::pressure(&text);
        let _ = filesystem::parse_mounts(&text);
        let _ = os::parse_os_release(&text);
        let _ = cgroup::docker_meta(&text);
        for line in text.lines() {
            let _ = textfile::parse_sample(line);
            if let Some(id) = cgroup::container_id(line) {
                assert!(line.contains(id));
            }
        }
    }
}
