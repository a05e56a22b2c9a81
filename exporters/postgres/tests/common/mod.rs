//! Helpers of this crate's tests: `mcp_testkit::PgCluster` with the settings these tests need, and
//! the exporter binary as a real process. Ports, waits, psql, kill/restart and certificates
//! come from `mcp-testkit`; only what is specific to this exporter lives here.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub use mcp_testkit::free_port;

/// A cluster from `mcp_testkit::PgCluster` (free port, trust auth, run as `postgres`), with the
/// extras these tests need: pg_stat_statements preloaded, a short deadlock timeout, an optional
/// password-only `pg_hba.conf`, interactive psql sessions, crash and restart.
pub struct PgCluster {
    inner: mcp_testkit::PgCluster,
    pub port: u16,
}

/// Settings every test cluster gets.
const BASE_CONF: &str =
    "shared_preload_libraries = 'pg_stat_statements'\ndeadlock_timeout = '100ms'\n";

impl PgCluster {
    /// Start with extra `postgresql.conf` lines. `hba_password` makes TCP connections of every
    /// role but `postgres` need a password (scram).
    pub fn start_with(extra_conf: &str, hba_password: bool) -> PgCluster {
        let inner = mcp_testkit::PgCluster::start_with_conf(&format!("{BASE_CONF}{extra_conf}"))
            .expect("start PostgreSQL");
        let port = inner.port();
        let c = PgCluster { inner, port };
        if hba_password {
            std::fs::write(
                c.data().join("pg_hba.conf"),
                "local all all trust\nhost all postgres 127.0.0.1/32 trust\nhost all all 127.0.0.1/32 scram-sha-256\n",
            )
            .unwrap();
            c.psql("postgres", "SELECT pg_reload_conf()");
        }
        c
    }

    pub fn start_new() -> PgCluster {
        Self::start_with("", false)
    }

    /// The `mcp_testkit` cluster underneath (e.g. for `mcp_testkit::standby::Standby`).
    pub fn cluster(&self) -> &mcp_testkit::PgCluster {
        &self.inner
    }

    /// The temporary directory (server log, data directory `data/`).
    pub fn dir(&self) -> &Path {
        self.inner.dir()
    }

    pub fn data(&self) -> PathBuf {
        self.inner.dir().join("data")
    }

    /// Kills the server at once (a crash: connections are cut).
    pub fn stop(&mut self) {
        self.inner.kill();
    }

    /// Starts the same data directory on the same port again.
    pub fn start(&mut self) {
        self.inner.restart().expect("restart PostgreSQL");
    }

    pub fn dsn(&self, db: &str) -> String {
        self.inner.dsn(db)
    }

    /// psql; returns stdout (unaligned, tuples only); panics on error.
    pub fn psql(&self, db: &str, sql: &str) -> String {
        self.inner.psql(db, sql)
    }

    /// A psql session kept open; statements are written to its stdin one at a time.
    pub fn session(&self, db: &str) -> PsqlSession {
        let child = Command::new(mcp_testkit::find_binary("psql").unwrap())
            .args([
                "-X",
                "-q",
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
                "-d",
                db,
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        PsqlSession { child }
    }
}

pub struct PsqlSession {
    child: Child,
}

impl PsqlSession {
    pub fn send(&mut self, sql: &str) {
        use std::io::Write;
        let stdin = self.child.stdin.as_mut().unwrap();
        stdin.write_all(sql.as_bytes()).unwrap();
        stdin.write_all(b"\n").unwrap();
        stdin.flush().unwrap();
    }
}

impl Drop for PsqlSession {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The exporter binary running on a free port, its stderr captured to a file.
pub struct Exporter {
    pub child: Child,
    pub port: u16,
    pub log: PathBuf,
    _dir: tempfile::TempDir,
}

pub fn exporter_command() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_mcp-postgres-exporter"));
    for var in [
        "DATA_SOURCE_NAME",
        "DATA_SOURCE_URI",
        "DATA_SOURCE_USER",
        "DATA_SOURCE_PASS",
        "DATA_SOURCE_URI_FILE",
        "DATA_SOURCE_USER_FILE",
        "DATA_SOURCE_PASS_FILE",
        "PGPASSWORD",
        "RUST_LOG",
    ] {
        c.env_remove(var);
    }
    c
}

impl Exporter {
    pub fn start(envs: &[(&str, &str)], args: &[&str]) -> Exporter {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let log = dir.path().join("exporter.log");
        let mut cmd = exporter_command();
        cmd.current_dir(dir.path())
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .args(args)
            .stdout(std::fs::File::create(dir.path().join("stdout.log")).unwrap())
            .stderr(std::fs::File::create(&log).unwrap());
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let child = cmd.spawn().unwrap();
        let e = Exporter {
            child,
            port,
            log,
            _dir: dir,
        };
        wait_until(Duration::from_secs(20), || {
            reqwest::blocking::get(e.url("/-/healthy")).is_ok()
        });
        e
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn get(&self, path: &str) -> (u16, String) {
        get_with(&self.url(path), &[])
    }

    pub fn metrics(&self) -> String {
        let (code, body) = self.get("/metrics");
        assert_eq!(code, 200, "{body}");
        body
    }

    /// Everything the process wrote to stdout and stderr so far.
    pub fn logs(&self) -> String {
        let mut s = std::fs::read_to_string(&self.log).unwrap_or_default();
        s.push_str(
            &std::fs::read_to_string(self._dir.path().join("stdout.log")).unwrap_or_default(),
        );
        s
    }

    pub fn open_fds(&self) -> usize {
        mcp_testkit::open_fds(self.child.id())
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn get_with(url: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let mut req = client.get(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let res = req.send().unwrap();
    let code = res.status().as_u16();
    (code, res.text().unwrap())
}

/// `mcp_testkit::wait_until` that fails the test when the condition is not met in time.
pub fn wait_until(timeout: Duration, f: impl FnMut() -> bool) {
    assert!(
        mcp_testkit::wait_until(timeout, f),
        "condition not met within {timeout:?}"
    );
}

#[allow(unused_imports)]
pub use mcp_testkit::sample;

/// `# TYPE` of a family.
pub fn family_type(text: &str, name: &str) -> Option<String> {
    let prefix = format!("# TYPE {name} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .map(str::to_owned)
}

/// Label keys of the first sample of a family.
pub fn label_keys(text: &str, name: &str) -> Option<Vec<String>> {
    let line = text.lines().find(|l| {
        l.strip_prefix(name)
            .is_some_and(|r| r.starts_with('{') || r.starts_with(' '))
    })?;
    let rest = &line[name.len()..];
    if !rest.starts_with('{') {
        return Some(Vec::new());
    }
    let inner = &rest[1..rest.find("} ")?];
    let mut keys = Vec::new();
    let mut in_quotes = false;
    let mut escaped = false;
    let mut key = String::new();
    let mut reading_key = true;
    for c in inner.chars() {
        if in_quotes {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_quotes = false;
            }
            continue;
        }
        match c {
            '"' => in_quotes = true,
            '=' => {
                keys.push(std::mem::take(&mut key));
                reading_key = false;
            }
            ',' => reading_key = true,
            c if reading_key => key.push(c),
            _ => {}
        }
    }
    Some(keys)
}
