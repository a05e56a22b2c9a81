//! Helpers shared by the agent's tests: the agent as a child process, the CLI as a command, an
//! example service binary, and a server that answers garbage.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A child process killed on drop.
pub struct Proc(pub Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `mcp-agent --config <config>` and waits for its `serving` lines.
pub fn start_agent(config: &str, dir: &Path, expect: usize) -> (Proc, Vec<String>) {
    let path = dir.join("agent.yml");
    std::fs::write(&path, config).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_mcp-agent"))
        .arg("--config")
        .arg(&path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let lines = serving_lines(&mut child, expect);
    (Proc(child), lines)
}

/// Reads the child's stdout until `expect` `serving` lines came (or stdout closed), then keeps
/// draining it in the background so the agent never blocks on a full pipe.
fn serving_lines(child: &mut Child, expect: usize) -> Vec<String> {
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let mut lines = Vec::new();
    while lines.len() < expect {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap() == 0 {
            break;
        }
        if line.contains(" serving ") {
            lines.push(line.trim().to_owned());
        }
    }
    std::thread::spawn(move || {
        let mut sink = Vec::new();
        let _ = reader.read_to_end(&mut sink);
    });
    lines
}

/// An agent started from a prepared command, with its stderr collected as it comes.
pub struct Agent {
    pub proc: Proc,
    /// The `serving` lines it printed (fewer than expected when it exited early).
    pub serving: Vec<String>,
    stderr: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Agent {
    /// Everything the agent wrote to stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Waits for the agent to exit (after it printed fewer lines than expected) and returns
    /// its exit code and stderr.
    pub fn wait_exit(mut self) -> (Option<i32>, String) {
        let status = self.proc.0.wait().unwrap();
        // The stderr reader ends with the process; give it the moment it needs.
        let done = mcp_testkit::wait_until(Duration::from_secs(10), || {
            std::sync::Arc::strong_count(&self.stderr) == 1
        });
        assert!(done, "stderr reader still running");
        (status.code(), self.stderr())
    }
}

/// Spawns `cmd` (an `mcp-agent` command line) and waits for `expect` `serving` lines, or for
/// the agent to close stdout (exit).
pub fn spawn_agent(mut cmd: Command, expect: usize) -> Agent {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let sink = std::sync::Arc::clone(&stderr);
    std::thread::spawn(move || {
        let mut line = String::new();
        while err.read_line(&mut line).unwrap_or(0) > 0 {
            sink.lock().unwrap().push_str(&line);
            line.clear();
        }
    });
    let serving = serving_lines(&mut child, expect);
    Agent {
        proc: Proc(child),
        serving,
        stderr,
    }
}

/// The result of one CLI run.
#[derive(Debug)]
pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    /// stdout parsed as JSON (for `--output json`).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}):\n{}\n{}",
                self.stdout, self.stderr
            )
        })
    }

    /// The rows of a JSON report whose check contains `needle`.
    pub fn rows(&self, needle: &str) -> Vec<serde_json::Value> {
        self.json()["rows"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["check"].as_str().unwrap().contains(needle))
            .cloned()
            .collect()
    }
}

/// Runs `mcp-agent ARGS` to completion.
pub fn agent_cli(args: &[&str]) -> Out {
    let out = Command::new(env!("CARGO_BIN_EXE_mcp-agent"))
        .args(args)
        .env_remove("MCP_AGENT_CONFIG")
        .env_remove("DOCKER_HOST")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The path of an example service binary of mcp-examples, built on demand (`cargo build -p
/// mcp-examples --bin NAME`: a dev-dependency cannot provide another package's binaries).
pub fn example_binary(name: &str) -> PathBuf {
    let target = std::env::current_exe()
        .unwrap()
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .to_path_buf();
    let status = Command::new(env!("CARGO"))
        .args(["build", "-q", "-p", "mcp-examples", "--bin", name])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("CARGO_TARGET_DIR", target.parent().unwrap())
        .status()
        .unwrap();
    assert!(
        status.success(),
        "cargo build -p mcp-examples --bin {name} failed"
    );
    let path = target.join(name);
    assert!(path.is_file(), "{} missing after the build", path.display());
    path
}

/// A server on a free port answering every request `200` with a body that is not JSON.
pub fn garbage_server() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
            let mut buf = [0u8; 8192];
            let _ = s.read(&mut buf);
            let body = "<html>{not json";
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    format!("http://{addr}")
}

/// A loopback URL where nothing listens.
pub fn closed_url() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    format!("http://127.0.0.1:{port}")
}
