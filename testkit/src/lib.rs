//! Test harness: real backends as child processes on free loopback ports.
//!
//! Every server here is started by the test that uses it, on a port picked from the kernel, in a
//! temporary directory, and killed and reaped on drop: tests never touch the machine's own Redis
//! (:6379) or PostgreSQL (:5432), and parallel tests do not collide. A missing binary is a clear
//! error naming the package that provides it (`scripts/test` installs them).
//!
//! Panicking with a clear message is the right failure mode in test support, so the helpers that
//! run commands (`psql`, `cli`) panic; constructors return [`TestkitError`].

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs::File;
use std::io::Write as _;
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};

pub mod certs;
pub mod docker_logs;
pub mod families;
pub mod golden;
pub mod loki;
pub mod pgwire;
pub mod slack;
pub mod standby;
pub mod startup;

pub use families::metric_diff;
use nix::unistd::{Pid, Uid, User, chown};

/// Why a backend could not be started.
#[derive(Debug, thiserror::Error)]
pub enum TestkitError {
    /// The binary is not installed.
    #[error(
        "{name} not found on PATH: run scripts/test, which installs it (apt-get install {package})"
    )]
    MissingBinary {
        /// The binary.
        name: String,
        /// The Debian package that provides it.
        package: String,
    },
    /// A command or the OS failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A server did not become ready.
    #[error("{what} not ready after {secs} s; last log lines:\n{log}")]
    NotReady {
        /// Which server.
        what: String,
        /// How long we waited.
        secs: u64,
        /// Tail of its log.
        log: String,
    },
    /// A setup command failed.
    #[error("{what} failed: {output}")]
    Command {
        /// The command.
        what: String,
        /// Its output.
        output: String,
    },
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> TestkitError {
    let what = what.into();
    move |source| TestkitError::Io { what, source }
}

/// A port that was free a moment ago (the kernel picks it; the listener is closed again).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind 127.0.0.1:0")
}

/// Polls `f` every 50 ms until it is true or `timeout` passes.
pub fn wait_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + timeout;
    loop {
        if f() {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits until a TCP connect to `addr` succeeds.
pub fn wait_for_tcp(addr: &str, timeout: Duration) -> Result<(), TestkitError> {
    if wait_until(timeout, || {
        addr.parse()
            .ok()
            .and_then(|a| TcpStream::connect_timeout(&a, Duration::from_millis(200)).ok())
            .is_some()
    }) {
        Ok(())
    } else {
        Err(TestkitError::NotReady {
            what: addr.to_owned(),
            secs: timeout.as_secs(),
            log: String::new(),
        })
    }
}

fn package_of(name: &str) -> &'static str {
    match name {
        "redis-server" | "redis-cli" => "redis-server",
        "initdb" | "postgres" | "pg_ctl" | "psql" | "pg_isready" => "postgresql",
        "prometheus" | "promtool" => "prometheus",
        "prometheus-alertmanager" | "alertmanager" | "amtool" => "prometheus-alertmanager",
        "prometheus-node-exporter" => "prometheus-node-exporter",
        "prometheus-redis-exporter" => "prometheus-redis-exporter",
        "prometheus-postgres-exporter" => "prometheus-postgres-exporter",
        _ => "the package that provides it",
    }
}

/// Finds a binary on PATH, or for PostgreSQL in the newest `/usr/lib/postgresql/*/bin`.
pub fn find_binary(name: &str) -> Result<PathBuf, TestkitError> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    if let Ok(entries) = std::fs::read_dir("/usr/lib/postgresql") {
        let mut versions: Vec<(u32, PathBuf)> = entries
            .filter_map(Result::ok)
            .filter_map(|e| {
                let v = e.file_name().to_str()?.parse().ok()?;
                Some((v, e.path().join("bin")))
            })
            .collect();
        versions.sort();
        dirs.extend(versions.into_iter().rev().map(|(_, p)| p));
    }
    dirs.into_iter()
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .ok_or_else(|| TestkitError::MissingBinary {
            name: name.to_owned(),
            package: package_of(name).to_owned(),
        })
}

fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Sends SIGTERM, waits up to 5 s, then SIGKILL; always reaps.
fn stop_child(child: &mut Child) {
    if let Ok(None) = child.try_wait() {
        let pid = Pid::from_raw(child.id() as i32);
        let _ = kill(pid, Signal::SIGCONT);
        let _ = kill(pid, Signal::SIGTERM);
        let exited = wait_until(Duration::from_secs(5), || {
            matches!(child.try_wait(), Ok(Some(_)))
        });
        if !exited {
            let _ = child.kill();
        }
    }
    let _ = child.wait();
}

fn signal(pid: u32, sig: Signal) {
    let _ = kill(Pid::from_raw(pid as i32), sig);
}

fn spawn_logged(mut cmd: Command, log: &Path, what: &str) -> Result<Child, TestkitError> {
    let out = File::create(log).map_err(io(format!("create {}", log.display())))?;
    let err = out.try_clone().map_err(io("dup log file"))?;
    cmd.stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .map_err(io(format!("start {what}")))
}

// === impl RedisServer ===

/// A `redis-server` on a free port with no persistence.
#[derive(Debug)]
pub struct RedisServer {
    child: Option<Child>,
    port: u16,
    args: Vec<String>,
    dir: tempfile::TempDir,
}

impl RedisServer {
    /// Starts a plain server.
    pub fn start() -> Result<Self, TestkitError> {
        Self::start_with_args(&[])
    }

    /// Starts a server with extra arguments (`--requirepass x`, `--maxmemory 64mb`, ...).
    pub fn start_with_args(extra: &[&str]) -> Result<Self, TestkitError> {
        find_binary("redis-server")?;
        let mut last = None;
        // A free port can be taken between our probe and redis' bind: retry on a new port.
        for _ in 0..5 {
            let mut server = RedisServer {
                child: None,
                port: free_port(),
                args: extra.iter().map(|s| (*s).to_owned()).collect(),
                dir: tempfile::Builder::new()
                    .prefix("mcp-redis-")
                    .tempdir()
                    .map_err(io("create temp dir"))?,
            };
            match server.spawn() {
                Ok(()) => return Ok(server),
                Err(e) => last = Some(e),
            }
        }
        Err(last.expect("at least one attempt"))
    }

    fn spawn(&mut self) -> Result<(), TestkitError> {
        let bin = find_binary("redis-server")?;
        let mut cmd = Command::new(bin);
        cmd.args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .arg("--dir")
            .arg(self.dir.path())
            .args(&self.args);
        let log = self.dir.path().join("redis.log");
        let mut child = spawn_logged(cmd, &log, "redis-server")?;
        let addr = self.addr();
        let ready = wait_until(Duration::from_secs(10), || {
            if let Ok(Some(_)) = child.try_wait() {
                return true;
            }
            TcpStream::connect(&addr).is_ok()
        });
        if !ready || matches!(child.try_wait(), Ok(Some(_))) {
            stop_child(&mut child);
            return Err(TestkitError::NotReady {
                what: format!("redis-server on {addr}"),
                secs: 10,
                log: tail(&log, 20),
            });
        }
        self.child = Some(child);
        Ok(())
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// The server's pid (0 when killed).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(Child::id).unwrap_or(0)
    }

    /// SIGKILL and reap.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts again on the same port with the same arguments.
    pub fn restart(&mut self) -> Result<(), TestkitError> {
        self.kill();
        // The old socket may linger briefly in the kernel.
        let mut last = None;
        for _ in 0..20 {
            match self.spawn() {
                Ok(()) => return Ok(()),
                Err(e) => {
                    last = Some(e);
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        }
        Err(last.expect("at least one attempt"))
    }

    /// SIGSTOP: the server stops answering but keeps its sockets open.
    pub fn pause(&self) {
        signal(self.pid(), Signal::SIGSTOP);
    }

    /// SIGCONT.
    pub fn resume(&self) {
        signal(self.pid(), Signal::SIGCONT);
    }

    /// Runs `redis-cli -h 127.0.0.1 -p PORT ARGS...` and returns its stdout; panics on failure.
    pub fn cli(&self, args: &[&str]) -> String {
        let bin = find_binary("redis-cli").expect("redis-cli");
        let out = Command::new(bin)
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(args)
            .output()
            .expect("run redis-cli");
        assert!(
            out.status.success(),
            "redis-cli {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            stop_child(&mut child);
        }
    }
}

// === impl PgCluster ===

/// A PostgreSQL cluster made with initdb in a temporary directory, on a free port, trust auth,
/// listening on 127.0.0.1 only. Run as the `postgres` user when the tests run as root.
#[derive(Debug)]
pub struct PgCluster {
    child: Option<Child>,
    port: u16,
    dir: tempfile::TempDir,
    run_as: Option<(u32, u32)>,
}

fn postgres_user() -> Option<(u32, u32)> {
    if !Uid::effective().is_root() {
        return None;
    }
    let user = User::from_name("postgres").ok().flatten()?;
    Some((user.uid.as_raw(), user.gid.as_raw()))
}

impl PgCluster {
    /// initdb and start.
    pub fn start() -> Result<Self, TestkitError> {
        Self::start_with_conf("")
    }

    /// initdb, append `extra_conf` to postgresql.conf, and start.
    pub fn start_with_conf(extra_conf: &str) -> Result<Self, TestkitError> {
        let initdb = find_binary("initdb")?;
        find_binary("postgres")?;
        let run_as = postgres_user();
        if Uid::effective().is_root() && run_as.is_none() {
            return Err(TestkitError::Command {
                what: "find the postgres user".into(),
                output: "running as root and no `postgres` user exists to run the server".into(),
            });
        }
        let dir = tempfile::Builder::new()
            .prefix("mcp-pg-")
            .tempdir()
            .map_err(io("create temp dir"))?;
        if let Some((uid, gid)) = run_as {
            chown(
                dir.path(),
                Some(Uid::from_raw(uid)),
                Some(nix::unistd::Gid::from_raw(gid)),
            )
            .map_err(|e| TestkitError::Io {
                what: "chown temp dir to postgres".into(),
                source: e.into(),
            })?;
        }
        let data = dir.path().join("data");
        let mut cmd = Command::new(initdb);
        cmd.arg("-D")
            .arg(&data)
            .args(["-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8"])
            .env("LC_ALL", "C.UTF-8");
        if let Some((uid, gid)) = run_as {
            cmd.uid(uid).gid(gid);
        }
        let out = cmd.output().map_err(io("run initdb"))?;
        if !out.status.success() {
            return Err(TestkitError::Command {
                what: "initdb".into(),
                output: String::from_utf8_lossy(&out.stderr).into_owned(),
            });
        }
        let conf = format!(
            "\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{}'\nfsync = off\n\
             shared_buffers = 16MB\n\
             max_connections = 50\n{extra_conf}\n",
            dir.path().display()
        );
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(data.join("postgresql.conf"))
            .map_err(io("open postgresql.conf"))?;
        f.write_all(conf.as_bytes())
            .map_err(io("write postgresql.conf"))?;
        let mut cluster = PgCluster {
            child: None,
            port: 0,
            dir,
            run_as,
        };
        let mut last = None;
        // A free port can be taken between our probe and the server's bind: retry on a new one.
        for _ in 0..5 {
            cluster.port = free_port();
            match cluster.spawn() {
                Ok(()) => return Ok(cluster),
                Err(e) => last = Some(e),
            }
        }
        Err(last.expect("at least one attempt"))
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn spawn(&mut self) -> Result<(), TestkitError> {
        let bin = find_binary("postgres")?;
        let _ = std::fs::remove_file(self.data().join("postmaster.pid"));
        let mut cmd = Command::new(bin);
        cmd.arg("-D")
            .arg(self.data())
            .args(["-p", &self.port.to_string()])
            .env("LC_ALL", "C.UTF-8");
        if let Some((uid, gid)) = self.run_as {
            cmd.uid(uid).gid(gid);
        }
        let log = self.dir.path().join("server.log");
        let mut child = spawn_logged(cmd, &log, "postgres")?;
        let ready = wait_until(Duration::from_secs(30), || {
            if let Ok(Some(_)) = child.try_wait() {
                return true;
            }
            self.try_psql("postgres", "SELECT 1").is_ok()
        });
        if !ready || matches!(child.try_wait(), Ok(Some(_))) {
            stop_child(&mut child);
            return Err(TestkitError::NotReady {
                what: format!("postgres on 127.0.0.1:{}", self.port),
                secs: 30,
                log: tail(&log, 20),
            });
        }
        self.child = Some(child);
        Ok(())
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `127.0.0.1:PORT`.
    pub fn host_port(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// A URI DSN for database `db` as user postgres (trust auth).
    pub fn dsn(&self, db: &str) -> String {
        format!(
            "postgresql://postgres@127.0.0.1:{}/{db}?sslmode=disable",
            self.port
        )
    }

    /// The postmaster's pid (0 when killed).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(Child::id).unwrap_or(0)
    }

    /// The directory of the server's log file (`server.log`) and data.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    fn psql_command(&self, db: &str) -> Command {
        let bin = find_binary("psql").expect("psql");
        let mut cmd = Command::new(bin);
        cmd.args([
            "-h",
            "127.0.0.1",
            "-p",
            &self.port.to_string(),
            "-U",
            "postgres",
        ])
        .args(["-d", db, "-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1"]);
        cmd
    }

    fn try_psql(&self, db: &str, sql: &str) -> Result<String, String> {
        let out = self
            .psql_command(db)
            .args(["-c", sql])
            .output()
            .map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    /// Runs SQL with psql and returns its trimmed, unaligned, tuples-only output; panics on error.
    pub fn psql(&self, db: &str, sql: &str) -> String {
        self.try_psql(db, sql)
            .unwrap_or_else(|e| panic!("psql {sql:?} on {db}: {e}"))
    }

    /// Starts psql with `sql` on its stdin and keeps stdin open, so the session (an open
    /// transaction, a held lock) lives until the child is killed or dropped by the caller.
    pub fn psql_background(&self, db: &str, sql: &str) -> Child {
        let mut child = self
            .psql_command(db)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start psql");
        let mut stdin = child.stdin.take().expect("psql stdin");
        stdin.write_all(sql.as_bytes()).expect("write SQL");
        stdin.write_all(b"\n").expect("write SQL");
        stdin.flush().expect("flush SQL");
        // Leak the pipe's write end into a thread that holds it until the child exits.
        std::thread::spawn(move || {
            let _keep = stdin;
            std::thread::sleep(Duration::from_secs(3600));
        });
        child
    }

    /// SIGKILL the postmaster (a crash). Its backends exit when they notice; we wait for the
    /// port to close.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let addr = self.host_port();
        wait_until(Duration::from_secs(10), || {
            TcpStream::connect(&addr).is_err()
        });
    }

    /// Starts the same data directory on the same port again.
    pub fn restart(&mut self) -> Result<(), TestkitError> {
        self.kill();
        // Orphaned backends of a killed postmaster hold shared memory until they exit.
        let mut last = None;
        for _ in 0..20 {
            match self.spawn() {
                Ok(()) => return Ok(()),
                Err(e) => {
                    last = Some(e);
                    std::thread::sleep(Duration::from_millis(250));
                }
            }
        }
        Err(last.expect("at least one attempt"))
    }

    /// SIGSTOP the postmaster.
    pub fn pause(&self) {
        signal(self.pid(), Signal::SIGSTOP);
    }

    /// SIGCONT the postmaster.
    pub fn resume(&self) {
        signal(self.pid(), Signal::SIGCONT);
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SIGINT is PostgreSQL's "fast shutdown": backends are told to exit at once.
            signal(child.id(), Signal::SIGCONT);
            signal(child.id(), Signal::SIGINT);
            let exited = wait_until(Duration::from_secs(10), || {
                matches!(child.try_wait(), Ok(Some(_)))
            });
            if !exited {
                let _ = child.kill();
            }
            let _ = child.wait();
        }
    }
}

/// Starts a Prometheus-family server and waits for its `/-/ready`; on failure the error carries
/// the tail of its log.
fn spawn_until_ready(
    cmd: Command,
    log: &Path,
    what: &str,
    port: u16,
) -> Result<Child, TestkitError> {
    let mut child = spawn_logged(cmd, log, what)?;
    let url = format!("http://127.0.0.1:{port}/-/ready");
    let exited = |c: &mut Child| matches!(c.try_wait(), Ok(Some(_)));
    if !wait_until(Duration::from_secs(30), || {
        exited(&mut child) || http_get(&url).0 == 200
    }) || exited(&mut child)
    {
        stop_child(&mut child);
        return Err(TestkitError::NotReady {
            what: what.to_owned(),
            secs: 30,
            log: tail(log, 20),
        });
    }
    Ok(child)
}

// === impl Prometheus ===

/// A real `prometheus` server from config text, on a free port, with its TSDB in a temp dir.
#[derive(Debug)]
pub struct Prometheus {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Prometheus {
    /// Writes `config_yaml` and the `(file name, text)` rule files into one temp dir (so the
    /// config can name rule files relatively) and starts Prometheus. `{{self}}` in the config is
    /// replaced by Prometheus' own `127.0.0.1:PORT`, for a self-scrape job.
    pub fn start(config_yaml: &str, rule_files: &[(&str, &str)]) -> Result<Self, TestkitError> {
        let bin = find_binary("prometheus")?;
        let dir = tempfile::Builder::new()
            .prefix("mcp-prom-")
            .tempdir()
            .map_err(io("create temp dir"))?;
        for (name, text) in rule_files {
            std::fs::write(dir.path().join(name), text).map_err(io(format!("write {name}")))?;
        }
        let port = free_port();
        let config = dir.path().join("prometheus.yml");
        let config_yaml = config_yaml.replace("{{self}}", &format!("127.0.0.1:{port}"));
        std::fs::write(&config, config_yaml).map_err(io("write prometheus.yml"))?;
        let mut cmd = Command::new(bin);
        cmd.arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--web.enable-lifecycle")
            .current_dir(dir.path());
        let child = spawn_until_ready(cmd, &dir.path().join("prometheus.log"), "prometheus", port)?;
        Ok(Prometheus {
            child,
            port,
            _dir: dir,
        })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn api(&self, path: &str) -> serde_json::Value {
        let (status, body) = http_get(&format!("{}{path}", self.url()));
        assert_eq!(status, 200, "GET {path}: {body}");
        let v: serde_json::Value = serde_json::from_str(&body).expect("JSON from Prometheus");
        v["data"].clone()
    }

    /// An instant query; returns `data.result`.
    pub fn query(&self, expr: &str) -> serde_json::Value {
        let q = reqwest::Url::parse_with_params("http://x/api/v1/query", [("query", expr)])
            .expect("url");
        self.api(&format!("/api/v1/query?{}", q.query().unwrap_or("")))["result"].clone()
    }

    /// `data.activeTargets` of `/api/v1/targets`.
    pub fn targets(&self) -> serde_json::Value {
        self.api("/api/v1/targets")["activeTargets"].clone()
    }

    /// `data.alerts` of `/api/v1/alerts`.
    pub fn alerts(&self) -> serde_json::Value {
        self.api("/api/v1/alerts")["alerts"].clone()
    }

    /// Polls `f` until true or the timeout; the error names `what`.
    pub fn wait_until(
        &self,
        what: &str,
        timeout: Duration,
        mut f: impl FnMut(&Self) -> bool,
    ) -> Result<(), TestkitError> {
        if wait_until(timeout, || f(self)) {
            Ok(())
        } else {
            Err(TestkitError::NotReady {
                what: what.to_owned(),
                secs: timeout.as_secs(),
                log: String::new(),
            })
        }
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        stop_child(&mut self.child);
    }
}

// === impl Alertmanager ===

/// A real Alertmanager from config text, clustering off, on a free port.
#[derive(Debug)]
pub struct Alertmanager {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Alertmanager {
    /// Writes the config and starts `prometheus-alertmanager` (Debian's name) or `alertmanager`.
    pub fn start(config_yaml: &str) -> Result<Self, TestkitError> {
        let bin =
            find_binary("prometheus-alertmanager").or_else(|_| find_binary("alertmanager"))?;
        let dir = tempfile::Builder::new()
            .prefix("mcp-am-")
            .tempdir()
            .map_err(io("create temp dir"))?;
        let config = dir.path().join("alertmanager.yml");
        std::fs::write(&config, config_yaml).map_err(io("write alertmanager.yml"))?;
        let port = free_port();
        let mut cmd = Command::new(bin);
        cmd.arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            // Empty: no gossip listener, so parallel instances do not meet or collide on :9094.
            .arg("--cluster.listen-address=")
            .current_dir(dir.path());
        let child = spawn_until_ready(
            cmd,
            &dir.path().join("alertmanager.log"),
            "alertmanager",
            port,
        )?;
        Ok(Alertmanager {
            child,
            port,
            _dir: dir,
        })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// `GET /api/v2/alerts`.
    pub fn alerts(&self) -> serde_json::Value {
        let (status, body) = http_get(&format!("{}/api/v2/alerts", self.url()));
        assert_eq!(status, 200, "alerts: {body}");
        serde_json::from_str(&body).expect("JSON from Alertmanager")
    }
}

impl Drop for Alertmanager {
    fn drop(&mut self) {
        stop_child(&mut self.child);
    }
}

// === tools ===

/// The workspace root (the parent of this crate's directory).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("testkit has a parent directory")
        .to_path_buf()
}

/// The captured outputs of the Go exporters (`testkit/fixtures/anchors`), committed in the
/// repository so the suite reads nothing outside it.
pub fn anchors_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join("anchors")
}

fn promtool(text: &str) -> (bool, String) {
    let bin = find_binary("promtool").expect("promtool");
    let mut child = Command::new(bin)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start promtool");
    let mut stdin = child.stdin.take().expect("stdin");
    let text = text.to_owned();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(text.as_bytes());
    });
    let out = child.wait_with_output().expect("promtool output");
    let _ = writer.join();
    let mut all = String::from_utf8_lossy(&out.stdout).into_owned();
    all.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.success(), all)
}

/// `promtool check metrics` on `text`: `Ok(output)` when it exits 0, else `Err(output)`.
pub fn promtool_check_metrics(text: &str) -> Result<String, String> {
    match promtool(text) {
        (true, out) => Ok(out),
        (false, out) => Err(out),
    }
}

/// The problem lines promtool prints for `text` (empty when it is clean). Callers that accept
/// upstream's historic names filter this list.
pub fn promtool_lint(text: &str) -> Vec<String> {
    let (_, out) = promtool(text);
    out.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

/// A blocking GET with a 30 s timeout: `(status, body)`, or `(0, error)` when no answer came.
pub fn http_get(url: &str) -> (u16, String) {
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("HTTP client");
    match client.get(url).send() {
        Ok(res) => {
            let status = res.status().as_u16();
            (status, res.text().unwrap_or_default())
        }
        Err(e) => (0, e.to_string()),
    }
}

/// Scrapes as Prometheus does with a short scrape timeout (`X-Prometheus-Scrape-Timeout-Seconds`)
/// and an HTTP client that gives up `margin` after it, so a scrape that outlives its deadline
/// fails the test as a client timeout: the hostile-backend drills' check that every scrape ends,
/// without a timing threshold (the margin is generous). Keeps the slowest scrape for the figures.
pub struct DeadlineScraper {
    client: reqwest::blocking::Client,
    deadline_secs: u64,
    margin: Duration,
    /// The longest a scrape took so far.
    pub slowest: Duration,
}

impl Default for DeadlineScraper {
    /// [`Self::DEFAULT_DEADLINE_SECS`] and [`Self::DEFAULT_MARGIN`].
    fn default() -> Self {
        Self::new(Self::DEFAULT_DEADLINE_SECS, Self::DEFAULT_MARGIN)
    }
}

impl DeadlineScraper {
    /// The deadline the hostile-backend drills ask for: short, so a backend that only a deadline
    /// can stop costs each scrape little.
    pub const DEFAULT_DEADLINE_SECS: u64 = 2;
    /// How much longer than the deadline the client waits before it calls a scrape hung:
    /// generous, so a slow machine is not mistaken for a hang.
    pub const DEFAULT_MARGIN: Duration = Duration::from_secs(5);

    /// A scraper asking for `deadline_secs` and waiting `margin` longer.
    pub fn new(deadline_secs: u64, margin: Duration) -> Self {
        let client = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(deadline_secs) + margin)
            .build()
            .expect("HTTP client");
        Self {
            client,
            deadline_secs,
            margin,
            slowest: Duration::ZERO,
        }
    }

    /// One GET of `url`: `(status, body)`. Panics, naming `what`, when no whole answer came
    /// within the deadline plus the margin.
    pub fn get(&mut self, url: &str, what: &str) -> (u16, String) {
        let started = std::time::Instant::now();
        let answer = self
            .client
            .get(url)
            .header(
                "X-Prometheus-Scrape-Timeout-Seconds",
                self.deadline_secs.to_string(),
            )
            .send()
            .and_then(|res| {
                let status = res.status().as_u16();
                res.text().map(|body| (status, body))
            });
        let (status, body) = answer.unwrap_or_else(|e| {
            panic!(
                "{what} did not end within its {} s deadline + {:?}: {e}",
                self.deadline_secs, self.margin
            )
        });
        self.slowest = self.slowest.max(started.elapsed());
        (status, body)
    }
}

/// The value of the sample written exactly as `series` (`name` or `name{labels}`, labels sorted
/// as the encoders write them) in a text exposition; `None` when absent or not a number.
pub fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| {
            l.strip_prefix(series)
                .and_then(|rest| rest.strip_prefix(' '))
        })
        .and_then(sample_value)
}

/// The value of a sample line's rest after its series (a timestamp may follow it).
fn sample_value(rest: &str) -> Option<f64> {
    match rest.split_whitespace().next()? {
        "NaN" => Some(f64::NAN),
        "+Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        v => v.parse().ok(),
    }
}

/// The sum over every sample of family `name` (the bare `name` and every `name{...}`, not
/// `name_suffix`) whose labels include each `(label, value)` of `labels`; 0 when none matches.
/// With no `labels`, the whole family: e.g. "every `..._dropped_total` counter is 0".
pub fn sample_sum(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let rest = l.strip_prefix(name)?;
            if let Some(rest) = rest.strip_prefix(' ') {
                return labels.is_empty().then_some(("", rest));
            }
            // Label values may hold `}` only escaped inside quotes; the set ends at the last `} `.
            let (set, value) = rest.strip_prefix('{')?.rsplit_once("} ")?;
            Some((set, value))
        })
        .filter(|(set, _)| labels.iter().all(|(k, v)| has_label(set, k, v)))
        .filter_map(|(_, value)| sample_value(value))
        .sum()
}

/// Whether the label set `a="x",b="y"` (without braces) holds `key="value"`, as a whole label:
/// `le="1"` is not found in `handle="1"`.
fn has_label(set: &str, key: &str, value: &str) -> bool {
    let pair = format!("{key}=\"{value}\"");
    set.match_indices(&pair).any(|(at, _)| {
        let before = set[..at].chars().next_back();
        let after = set[at + pair.len()..].chars().next();
        matches!(before, None | Some(',')) && matches!(after, None | Some(','))
    })
}

/// A `kB` field of `/proc/PID/status`, e.g. `VmRSS` (resident now) or `VmHWM` (the peak), in
/// KiB; panics, naming the field, when the process or the field is not there.
pub fn proc_status_kib(pid: u32, field: &str) -> u64 {
    let path = format!("/proc/{pid}/status");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {path}: {e}"));
    text.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field}: in {path}:\n{text}"))
}

/// Open file descriptors of a process (entries of `/proc/PID/fd`).
pub fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "# HELP x_total X.\n# TYPE x_total counter\nx_total 1\n\
        x_total{route=\"/a\",le=\"0.25\"} 2\nx_total{handle=\"0.25\",route=\"/a\"} 4\n\
        x_total{route=\"/b\"} 8 1700000000000\nx_total_created 16\n";

    #[test]
    fn sample_sum_adds_the_family_or_the_series_with_the_labels() {
        assert_eq!(sample_sum(TEXT, "x_total", &[]), 15.0);
        assert_eq!(sample_sum(TEXT, "x_total", &[("route", "/a")]), 6.0);
        // `le="0.25"` is a whole label, not the tail of `handle="0.25"`.
        assert_eq!(sample_sum(TEXT, "x_total", &[("le", "0.25")]), 2.0);
        assert_eq!(sample_sum(TEXT, "x_total", &[("route", "/c")]), 0.0);
        assert_eq!(sample_sum(TEXT, "x", &[]), 0.0);
    }

    #[test]
    fn proc_status_kib_reads_this_process() {
        let pid = std::process::id();
        let rss = proc_status_kib(pid, "VmRSS");
        assert!(rss > 0);
        // The peak, read later, is at least what was resident before.
        assert!(proc_status_kib(pid, "VmHWM") >= rss);
    }
}
