//! The four services as real processes on a real Redis and PostgreSQL (mcp-testkit), with a
//! Loki-compatible receiver; helpers to talk to them.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use mcp_testkit::loki::FakeLoki;
use mcp_testkit::{PgCluster, RedisServer, free_port, wait_until};

pub const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

/// A service process, killed on drop; its stderr goes to a file shown when a test fails.
pub struct Proc {
    pub name: &'static str,
    pub child: Child,
    pub port: u16,
    pub log: PathBuf,
}

impl Proc {
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    pub fn ready(&self) -> bool {
        get(&self.url("/-/ready")).0 == 200
    }

    pub fn metrics(&self) -> String {
        let (status, body) = get(&self.url("/metrics"));
        assert_eq!(status, 200, "{}: /metrics: {body}", self.name);
        body
    }

    /// Sends SIGTERM and waits up to `timeout` for the service to exit: its exit status.
    pub fn terminate(&mut self, timeout: Duration) -> ExitStatus {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(sent.success(), "{}: kill -TERM failed", self.name);
        let mut status = None;
        let exited = wait_until(timeout, || {
            status = self.child.try_wait().unwrap();
            status.is_some()
        });
        assert!(
            exited,
            "{} did not exit within {timeout:?} of SIGTERM:\n{}",
            self.name,
            self.log_tail()
        );
        status.unwrap()
    }

    /// Peak resident memory (VmHWM) in bytes.
    pub fn peak_rss(&self) -> u64 {
        mcp_testkit::proc_status_kib(self.child.id(), "VmHWM") * 1024
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub struct Stack {
    pub redis: RedisServer,
    pub pg: PgCluster,
    pub loki: FakeLoki,
    pub logs: tempfile::TempDir,
    pub procs: Vec<Proc>,
}

impl Stack {
    /// Redis, PostgreSQL and the Loki receiver; no services yet.
    pub fn backends() -> Self {
        Self {
            redis: RedisServer::start().expect("redis-server"),
            pg: PgCluster::start().expect("postgres"),
            loki: FakeLoki::start(),
            logs: tempfile::tempdir().unwrap(),
            procs: Vec::new(),
        }
    }

    /// Starts `name` with the common environment plus `extra`.
    pub fn spawn(&mut self, name: &'static str, extra: &[(&str, String)]) -> &Proc {
        let port = free_port();
        let log = self.logs.path().join(format!("{name}.log"));
        let mut cmd = Command::new(binary(name));
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("PORT", port.to_string())
            .env("REDIS_ADDR", self.redis.addr())
            .env("DATABASE_URL", self.pg.dsn("postgres"))
            .env("MCP_LOKI_URL", self.loki.url())
            .env("MCP_LOKI_BATCH_WAIT_MS", "100")
            .env("MCP_INSTANCE", "test-host")
            .env("MCP_METRICS_ADDR", "off")
            .env("MCP_LOG_FORMAT", "json")
            .env("RUST_LOG", "info")
            .env("CDB_TICK_MS", "100");
        if let Some(risk) = self.procs.iter().find(|p| p.name == "cdb_risk") {
            cmd.env("RISK_URL", format!("http://127.0.0.1:{}", risk.port));
        }
        for (k, v) in extra {
            cmd.env(k, v);
        }
        let err = std::fs::File::create(&log).unwrap();
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(err)
            .spawn()
            .unwrap();
        self.procs.push(Proc {
            name,
            child,
            port,
            log,
        });
        self.procs.last().unwrap()
    }

    /// All four services, started at once against one database, and ready.
    pub fn start_all() -> Self {
        let mut s = Self::backends();
        for name in ["cdb_risk", "cdb_core", "cdb_execution", "cdb_ws"] {
            s.spawn(name, &[]);
        }
        s.wait_ready();
        s
    }

    pub fn proc(&self, name: &str) -> &Proc {
        self.procs.iter().find(|p| p.name == name).unwrap()
    }

    pub fn wait_ready(&self) {
        for p in &self.procs {
            assert!(
                wait_until(Duration::from_secs(60), || p.ready()),
                "{} never became ready:\n{}",
                p.name,
                p.log_tail()
            );
        }
    }
}

pub fn binary(name: &str) -> &'static str {
    match name {
        "cdb_core" => env!("CARGO_BIN_EXE_cdb_core"),
        "cdb_risk" => env!("CARGO_BIN_EXE_cdb_risk"),
        "cdb_execution" => env!("CARGO_BIN_EXE_cdb_execution"),
        "cdb_ws" => env!("CARGO_BIN_EXE_cdb_ws"),
        "cdb_load" => env!("CARGO_BIN_EXE_cdb_load"),
        other => panic!("no binary {other}"),
    }
}

fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(10))
        .no_proxy()
        .build()
        .unwrap()
}

/// GET with a fixed `traceparent`: `(status, body)`, `(0, error)` without an answer.
pub fn get(url: &str) -> (u16, String) {
    match client()
        .get(url)
        .header("traceparent", format!("00-{TRACE}-b7ad6b7169203331-01"))
        .send()
    {
        Ok(r) => (r.status().as_u16(), r.text().unwrap_or_default()),
        Err(e) => (0, e.to_string()),
    }
}

/// POST JSON with `traceparent` for `trace`: `(status, body as JSON)`.
pub fn post(url: &str, body: &str, trace: &str) -> (u16, serde_json::Value) {
    match client()
        .post(url)
        .header("content-type", "application/json")
        .header("traceparent", format!("00-{trace}-b7ad6b7169203331-01"))
        .body(body.to_owned())
        .send()
    {
        Ok(r) => {
            let status = r.status().as_u16();
            let text = r.text().unwrap_or_default();
            (
                status,
                serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)),
            )
        }
        Err(e) => (0, serde_json::Value::String(e.to_string())),
    }
}

pub fn json(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

/// The value of the sample of family `name` whose labels include all of `labels`.
pub fn metric(body: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    body.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|r| r.starts_with('{') || r.starts_with(' '))
        })
        .find(|l| {
            labels
                .iter()
                .all(|(k, v)| l.contains(&format!("{k}=\"{v}\"")))
        })
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

/// `promtool check metrics` must pass.
pub fn promtool_check(name: &str, body: &str) {
    if let Err(out) = mcp_testkit::promtool_check_metrics(body) {
        panic!("{name}: promtool check metrics failed:\n{out}\n{body}");
    }
}

/// A websocket client on a runtime of its own, collecting text messages. A close frame from
/// the server arrives as `{"type":"ws_close","code":N,"reason":"…"}` (a type the services
/// never send).
pub struct WsClient {
    rt: tokio::runtime::Runtime,
    rx: std::sync::mpsc::Receiver<String>,
}

impl WsClient {
    pub fn connect(url: &str) -> Self {
        Self::try_connect(url).unwrap_or_else(|e| panic!("websocket connect to {url}: {e}"))
    }

    /// Connects, or says why not (the HTTP status when the upgrade was refused).
    pub fn try_connect(url: &str) -> Result<Self, String> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let url = url.to_owned();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        rt.spawn(async move {
            use futures_util::StreamExt as _;
            use tokio_tungstenite::tungstenite::{Error, Message};
            let (ws, _) = match tokio_tungstenite::connect_async(url.as_str()).await {
                Ok(ok) => ok,
                Err(Error::Http(resp)) => {
                    let _ = ready_tx.send(Err(format!("HTTP {}", resp.status().as_u16())));
                    return;
                }
                Err(e) => {
                    let _ = ready_tx.send(Err(e.to_string()));
                    return;
                }
            };
            let _ = ready_tx.send(Ok(()));
            let (_write, mut read) = ws.split();
            while let Some(Ok(msg)) = read.next().await {
                let text = match msg {
                    Message::Text(t) => t.to_string(),
                    Message::Close(frame) => {
                        let (code, reason) = frame
                            .map(|f| (u16::from(f.code), f.reason.to_string()))
                            .unwrap_or((1005, String::new()));
                        serde_json::json!({"type": "ws_close", "code": code, "reason": reason})
                            .to_string()
                    }
                    _ => continue,
                };
                if tx.send(text).is_err() {
                    break;
                }
            }
        });
        match ready_rx.recv_timeout(Duration::from_secs(10)) {
            Ok(Ok(())) => Ok(Self { rt, rx }),
            Ok(Err(e)) => Err(e),
            Err(_) => Err("no answer within 10 s".to_owned()),
        }
    }

    /// The first message for which `f` holds, within `timeout`.
    pub fn wait_for(
        &self,
        timeout: Duration,
        mut f: impl FnMut(&serde_json::Value) -> bool,
    ) -> Option<serde_json::Value> {
        let end = std::time::Instant::now() + timeout;
        loop {
            let left = end.saturating_duration_since(std::time::Instant::now());
            let msg = self.rx.recv_timeout(left).ok()?;
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(&msg)
                && f(&v)
            {
                return Some(v);
            }
        }
    }

    pub fn shutdown(self) {
        self.rt.shutdown_background();
    }
}

/// A websocket upgrade request sent as plain HTTP, with `traceparent` for [`TRACE`]:
/// `(status, Retry-After, body)` of a refused upgrade (a 101 has no body to read).
pub fn ws_upgrade(url: &str) -> (u16, Option<String>, String) {
    match client()
        .get(url)
        .header("connection", "Upgrade")
        .header("upgrade", "websocket")
        .header("sec-websocket-version", "13")
        .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
        .header("traceparent", format!("00-{TRACE}-b7ad6b7169203331-01"))
        .send()
    {
        Ok(r) => {
            let status = r.status().as_u16();
            let retry = r
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            if status == 101 {
                return (status, retry, String::new());
            }
            (status, retry, r.text().unwrap_or_default())
        }
        Err(e) => (0, None, e.to_string()),
    }
}
