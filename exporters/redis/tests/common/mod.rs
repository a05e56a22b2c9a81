//! Shared helpers: the exporter binary as a real process on a free port.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use mcp_testkit::{free_port, http_get, wait_until};

pub struct Exporter {
    pub child: Child,
    pub port: u16,
    pub log: tempfile::NamedTempFile,
}

impl Exporter {
    pub fn start(args: &[&str]) -> Exporter {
        Self::start_env(args, &[])
    }

    pub fn start_env(args: &[&str], env: &[(&str, &str)]) -> Exporter {
        let port = free_port();
        let log = tempfile::NamedTempFile::new().unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_mcp-redis-exporter"))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .args(args)
            .envs(env.iter().copied())
            .stdout(Stdio::from(log.reopen().unwrap()))
            .stderr(Stdio::from(log.reopen().unwrap()))
            .spawn()
            .unwrap();
        let up = wait_until(Duration::from_secs(10), || {
            http_get(&format!("http://127.0.0.1:{port}/health")).0 == 200
        });
        assert!(up, "exporter did not start");
        Exporter { child, port, log }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn metrics(&self) -> String {
        let (status, body) = http_get(&self.url("/metrics"));
        assert_eq!(status, 200, "{body}");
        body
    }

    pub fn logs(&self) -> String {
        std::fs::read_to_string(self.log.path()).unwrap_or_default()
    }

    pub fn fds(&self) -> usize {
        mcp_testkit::open_fds(self.child.id())
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The value of a sample (shared with every exporter's tests).
#[allow(unused_imports)]
pub use mcp_testkit::sample as value;
