//! A served router in a child process, so a test sees the server's own stderr (panic text,
//! warnings) and can give it its own fd limit (`prlimit`). The child is this same test binary,
//! re-run with `--exact child_server --ignored` and `MCP_WEB_CHILD=1`: each test file that uses
//! this module declares that `#[ignore]`d test and calls [`child_main`] from it.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead as _, BufReader, Read as _};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::Duration;

use axum::Router;
use axum::response::IntoResponse as _;
use axum::routing::get;
use http::HeaderMap;
use mcp_exporter_core::MetricSet;
use mcp_exporter_core::web::{self, LandingPage, WebArgs, WebSetup};

/// The scrape timeout cap the child runs with.
pub const CAP: Duration = Duration::from_secs(10);

/// What an exporter's `/metrics` handler does with the client's headers: compute the scrape
/// deadline (an `Instant` plus the timeout, which panics on overflow), run under it, answer.
async fn metrics(headers: HeaderMap) -> axum::response::Response {
    let timeout = web::scrape_timeout(&headers, CAP);
    let deadline = tokio::time::Instant::now() + timeout;
    let work = async {
        let mut set = MetricSet::new();
        set.gauge("demo_up", "Whether the demo is up.", &[], 1.0);
        set.gauge(
            "demo_scrape_timeout_seconds",
            "The scrape timeout derived from the request.",
            &[],
            timeout.as_secs_f64(),
        );
        set.encode().0
    };
    match tokio::time::timeout_at(deadline, work).await {
        Ok(text) => web::metrics_response(text, &headers),
        Err(_) => http::StatusCode::SERVICE_UNAVAILABLE.into_response(),
    }
}

/// The child's body: serve until stdin closes. Does nothing unless `MCP_WEB_CHILD` is set, so
/// running the ignored tests by hand is harmless.
pub fn child_main() {
    if std::env::var_os("MCP_WEB_CHILD").is_none() {
        return;
    }
    mcp_exporter_core::logging::init(&mcp_exporter_core::logging::LogArgs {
        level: "info".into(),
        format: "logfmt".into(),
    });
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let args = WebArgs {
            listen_address: vec!["127.0.0.1:0".into()],
            telemetry_path: "/metrics".into(),
            config_file: std::env::var_os("MCP_WEB_CHILD_CONFIG").map(PathBuf::from),
            max_scrape_timeout: CAP,
        };
        let mut setup = WebSetup::from_args(&args, ":0").unwrap();
        configure(&mut setup);
        let router = web::finish_router(
            Router::new().route("/metrics", get(metrics)),
            &setup,
            LandingPage {
                name: "demo-exporter",
                description: "A test exporter.",
                version: "0.0.0",
                links: vec![],
            },
        );
        let router = extra_routes(router, &setup);
        let listeners = web::bind(&setup).await.unwrap();
        let addr = listeners[0].local_addr().unwrap();
        println!("listening {addr}");
        let stdin_closed = async {
            let _ = tokio::task::spawn_blocking(|| {
                let mut sink = Vec::new();
                let _ = std::io::stdin().read_to_end(&mut sink);
            })
            .await;
        };
        web::serve(listeners, &setup, router, stdin_closed).await;
    });
}

/// Limits from the environment: `MCP_WEB_CHILD_HEADER_TIMEOUT_MS`, `MCP_WEB_CHILD_MAX_CONNECTIONS`.
fn configure(setup: &mut WebSetup) {
    let num = |k: &str| std::env::var(k).ok().and_then(|v| v.parse::<u64>().ok());
    if let Some(ms) = num("MCP_WEB_CHILD_HEADER_TIMEOUT_MS") {
        setup.limits.header_read_timeout = Duration::from_millis(ms);
    }
    if let Some(n) = num("MCP_WEB_CHILD_MAX_CONNECTIONS") {
        setup.limits.max_connections = n as usize;
    }
}

/// `/stats`: the connection counters, `name value` per line.
fn extra_routes(router: Router, setup: &WebSetup) -> Router {
    let setup = setup.clone();
    router.route(
        "/stats",
        get(move || {
            let s = setup.connection_stats();
            async move {
                format!(
                    "accepted {}\nrefused {}\nheader_timeouts {}\naccept_errors {}\nactive {}\n",
                    s.accepted, s.refused, s.header_timeouts, s.accept_errors, s.active
                )
            }
        }),
    )
}

/// One counter from a `/stats` body.
pub fn stat(body: &str, name: &str) -> u64 {
    body.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in {body:?}"))
}

/// A plain GET with a 10 s timeout: `Some((status, body))`, `None` when the connection fails or
/// is closed without an answer.
pub fn get_once(addr: &str, path: &str) -> Option<(u16, String)> {
    use std::io::Write as _;
    let mut stream = std::net::TcpStream::connect(addr).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status = text.strip_prefix("HTTP/1.1 ")?.get(..3)?.parse().ok()?;
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned())?;
    Some((status, body))
}

/// Polls `f` every 20 ms until it holds or `timeout` passes.
pub fn wait_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = std::time::Instant::now() + timeout;
    loop {
        if f() {
            return true;
        }
        if std::time::Instant::now() >= end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn find_in_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// A running child server.
pub struct ChildServer {
    pub addr: String,
    child: Child,
    stdin: Option<ChildStdin>,
    stderr_path: PathBuf,
    _dir: tempfile::TempDir,
}

impl ChildServer {
    /// Starts this test binary's `child_server` test as a server, with `env` and, when given,
    /// `prlimit --nofile=N:N` in front.
    pub fn start(env: &[(&str, String)], nofile: Option<u64>) -> Self {
        let exe = std::env::current_exe().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let stderr_path = dir.path().join("stderr");
        let stderr = std::fs::File::create(&stderr_path).unwrap();
        let test_args = [
            "--exact",
            "child_server",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ];
        let mut cmd = match nofile {
            Some(n) => {
                // A missing prlimit must fail the test, not skip it.
                let prlimit = find_in_path("prlimit").expect("prlimit (util-linux) on PATH");
                let mut c = Command::new(prlimit);
                c.arg(format!("--nofile={n}:{n}")).arg("--").arg(&exe);
                c
            }
            None => Command::new(&exe),
        };
        cmd.args(test_args)
            .env("MCP_WEB_CHILD", "1")
            .env_remove("RUST_LOG")
            .env_remove("RUST_BACKTRACE")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(stderr);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                // libtest prints "test child_server ... " before the child's own output.
                if let Some((_, addr)) = line.split_once("listening ") {
                    let _ = tx.send(addr.trim().to_owned());
                }
            }
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| {
                panic!(
                    "child did not start: {}",
                    std::fs::read_to_string(&stderr_path).unwrap_or_default()
                )
            });
        let stdin = child.stdin.take();
        ChildServer {
            addr,
            child,
            stdin,
            stderr_path,
            _dir: dir,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The child's stderr so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// Stops the server (closes its stdin), waits for it, returns its whole stderr.
    pub fn stop(mut self) -> String {
        drop(self.stdin.take());
        let exited = wait_until(Duration::from_secs(30), || {
            matches!(self.child.try_wait(), Ok(Some(_)))
        });
        if !exited {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        assert!(exited, "child server did not stop on stdin EOF");
        self.stderr()
    }
}

impl Drop for ChildServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
