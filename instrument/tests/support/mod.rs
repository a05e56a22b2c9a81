//! A Loki-compatible push receiver for tests: decodes the real wire format (snappy block
//! compressed protobuf `logproto.PushRequest`, or JSON), records what it accepted, and can be
//! told to answer with a status, a script of statuses, or to hang.
//!
//! The protobuf messages are declared here independently of the crate's own, so the tests
//! check the wire format rather than the crate against itself.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use prost::Message;

#[derive(Clone, PartialEq, prost::Message)]
pub struct PushRequest {
    #[prost(message, repeated, tag = "1")]
    pub streams: Vec<StreamAdapter>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct StreamAdapter {
    #[prost(string, tag = "1")]
    pub labels: String,
    #[prost(message, repeated, tag = "2")]
    pub entries: Vec<EntryAdapter>,
    #[prost(uint64, tag = "3")]
    pub hash: u64,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct EntryAdapter {
    #[prost(message, optional, tag = "1")]
    pub timestamp: Option<Timestamp>,
    #[prost(string, tag = "2")]
    pub line: String,
    #[prost(message, repeated, tag = "3")]
    pub structured_metadata: Vec<LabelPairAdapter>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct LabelPairAdapter {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "2")]
    pub value: String,
}

#[derive(Clone, Copy, PartialEq, prost::Message)]
pub struct Timestamp {
    #[prost(int64, tag = "1")]
    pub seconds: i64,
    #[prost(int32, tag = "2")]
    pub nanos: i32,
}

/// One accepted log entry.
#[derive(Clone, Debug)]
pub struct Received {
    pub labels: String,
    pub ts_ns: i128,
    pub line: String,
}

impl Received {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.line).expect("line is JSON")
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Mode {
    Accept,
    Status(u16),
    Hang,
}

struct Inner {
    mode: Mutex<Mode>,
    script: Mutex<VecDeque<u16>>,
    requests: AtomicUsize,
    answers: Mutex<Vec<u16>>,
    entries: Mutex<Vec<Received>>,
    content_types: Mutex<Vec<String>>,
}

pub struct FakeLoki {
    pub addr: SocketAddr,
    inner: Arc<Inner>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// A loopback port nothing listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl FakeLoki {
    pub fn start() -> Self {
        Self::start_on(0)
    }

    pub fn start_on(port: u16) -> Self {
        let std_listener = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
        std_listener.set_nonblocking(true).unwrap();
        let addr = std_listener.local_addr().unwrap();
        let inner = Arc::new(Inner {
            mode: Mutex::new(Mode::Accept),
            script: Mutex::new(VecDeque::new()),
            requests: AtomicUsize::new(0),
            answers: Mutex::new(Vec::new()),
            entries: Mutex::new(Vec::new()),
            content_types: Mutex::new(Vec::new()),
        });
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let state = Arc::clone(&inner);
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(std_listener).unwrap();
                let app = axum::Router::new()
                    .route("/loki/api/v1/push", post(push))
                    .with_state(state);
                let server = axum::serve(listener, app);
                // Stopping drops in-flight (hung) requests too: a "down" Loki.
                tokio::select! {
                    _ = server => {}
                    _ = rx => {}
                }
            });
            rt.shutdown_timeout(Duration::from_millis(100));
        });
        Self {
            addr,
            inner,
            stop: Some(tx),
            thread: Some(thread),
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn set_mode(&self, mode: Mode) {
        *self.inner.mode.lock().unwrap() = mode;
    }

    /// The next answers, before falling back to the mode.
    pub fn script(&self, statuses: &[u16]) {
        self.inner.script.lock().unwrap().extend(statuses);
    }

    pub fn requests(&self) -> usize {
        self.inner.requests.load(SeqCst)
    }

    pub fn answers(&self) -> Vec<u16> {
        self.inner.answers.lock().unwrap().clone()
    }

    pub fn entries(&self) -> Vec<Received> {
        self.inner.entries.lock().unwrap().clone()
    }

    pub fn entry_count(&self) -> usize {
        self.inner.entries.lock().unwrap().len()
    }

    pub fn content_types(&self) -> Vec<String> {
        self.inner.content_types.lock().unwrap().clone()
    }

    /// Waits (bounded) until at least `n` entries arrived.
    pub fn wait_for_entries(&self, n: usize, timeout: Duration) -> bool {
        wait_until(timeout, || self.entry_count() >= n)
    }

    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for FakeLoki {
    fn drop(&mut self) {
        self.shutdown();
    }
}

pub fn wait_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    f()
}

async fn push(State(s): State<Arc<Inner>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    s.requests.fetch_add(1, SeqCst);
    let ct = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    s.content_types.lock().unwrap().push(ct.clone());
    let scripted = s.script.lock().unwrap().pop_front();
    let mode = *s.mode.lock().unwrap();
    let status = match (scripted, mode) {
        (Some(code), _) => code,
        (None, Mode::Accept) => 204,
        (None, Mode::Status(code)) => code,
        (None, Mode::Hang) => {
            std::future::pending::<()>().await;
            unreachable!()
        }
    };
    s.answers.lock().unwrap().push(status);
    if (200..300).contains(&status) {
        let decoded = if ct.starts_with("application/json") {
            decode_json(&body)
        } else {
            decode_proto(&body)
        };
        match decoded {
            Some(entries) => s.entries.lock().unwrap().extend(entries),
            None => return StatusCode::BAD_REQUEST,
        }
    }
    StatusCode::from_u16(status).unwrap()
}

fn decode_proto(body: &[u8]) -> Option<Vec<Received>> {
    let raw = snap::raw::Decoder::new().decompress_vec(body).ok()?;
    let req = PushRequest::decode(raw.as_slice()).ok()?;
    let mut out = Vec::new();
    for s in req.streams {
        for e in s.entries {
            let ts = e.timestamp.unwrap_or_default();
            out.push(Received {
                labels: s.labels.clone(),
                ts_ns: i128::from(ts.seconds) * 1_000_000_000 + i128::from(ts.nanos),
                line: e.line,
            });
        }
    }
    Some(out)
}

fn decode_json(body: &[u8]) -> Option<Vec<Received>> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    let mut out = Vec::new();
    for s in v.get("streams")?.as_array()? {
        let labels = s
            .get("stream")?
            .as_object()?
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(",");
        for val in s.get("values")?.as_array()? {
            out.push(Received {
                labels: format!("{{{labels}}}"),
                ts_ns: val.get(0)?.as_str()?.parse().ok()?,
                line: val.get(1)?.as_str()?.to_owned(),
            });
        }
    }
    Some(out)
}

/// Resident set size of this process, from /proc/self/status.
pub fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap()
        * 1024
}
