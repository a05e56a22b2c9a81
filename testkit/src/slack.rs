//! A Slack incoming-webhook receiver for tests: records every JSON payload that Alertmanager (or
//! any tool) posts to it, with the time it arrived, and answers `ok` as Slack does. Point a
//! Slack receiver's `api_url` (or `api_url_file`) at [`SlackReceiver::url`].

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;

use crate::wait_until;

/// One payload as received.
#[derive(Clone, Debug)]
pub struct SlackPayload {
    /// When it arrived.
    pub at: Instant,
    /// The request path (Alertmanager posts to the webhook URL's path).
    pub path: String,
    /// The body, parsed.
    pub json: serde_json::Value,
}

impl SlackPayload {
    /// `channel` of the payload (`""` when absent).
    pub fn channel(&self) -> &str {
        self.json["channel"].as_str().unwrap_or("")
    }

    /// Every human-readable text of the payload (top-level `text` and each attachment's
    /// `title`, `text`, `fallback` and `pretext`), joined by newlines.
    pub fn text(&self) -> String {
        let mut parts = Vec::new();
        let mut push = |v: &serde_json::Value| {
            if let Some(s) = v.as_str().filter(|s| !s.trim().is_empty()) {
                parts.push(s.to_owned());
            }
        };
        push(&self.json["text"]);
        if let Some(atts) = self.json["attachments"].as_array() {
            for a in atts {
                for key in ["pretext", "title", "text", "fallback"] {
                    push(&a[key]);
                }
            }
        }
        parts.join("\n")
    }
}

/// The receiver; stopped on drop.
pub struct SlackReceiver {
    addr: std::net::SocketAddr,
    payloads: Arc<Mutex<Vec<SlackPayload>>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for SlackReceiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SlackReceiver")
            .field("addr", &self.addr)
            .finish()
    }
}

async fn record(
    State(s): State<Arc<Mutex<Vec<SlackPayload>>>>,
    uri: axum::http::Uri,
    body: Bytes,
) -> (axum::http::StatusCode, &'static str) {
    let Ok(json) = serde_json::from_slice(&body) else {
        return (axum::http::StatusCode::BAD_REQUEST, "invalid_payload");
    };
    s.lock().expect("lock").push(SlackPayload {
        at: Instant::now(),
        path: uri.path().to_owned(),
        json,
    });
    (axum::http::StatusCode::OK, "ok")
}

impl SlackReceiver {
    /// On a free loopback port.
    pub fn start() -> Self {
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        std_listener.set_nonblocking(true).expect("nonblocking");
        let addr = std_listener.local_addr().expect("addr");
        let payloads = Arc::new(Mutex::new(Vec::new()));
        let state = Arc::clone(&payloads);
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(std_listener).expect("listener");
                let app = axum::Router::new().fallback(post(record)).with_state(state);
                tokio::select! {
                    _ = axum::serve(listener, app) => {}
                    _ = rx => {}
                }
            });
        });
        Self {
            addr,
            payloads,
            stop: Some(tx),
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:PORT/services/T000/B000/XXXX` (a webhook-shaped URL).
    pub fn url(&self) -> String {
        format!("http://{}/services/T000/B000/XXXX", self.addr)
    }

    /// Every payload so far, in arrival order.
    pub fn payloads(&self) -> Vec<SlackPayload> {
        self.payloads.lock().expect("lock").clone()
    }

    /// The first payload (existing or arriving within `timeout`) for which `f` is true.
    pub fn wait_for(
        &self,
        timeout: Duration,
        mut f: impl FnMut(&SlackPayload) -> bool,
    ) -> Option<SlackPayload> {
        let mut found = None;
        wait_until(timeout, || {
            found = self.payloads().into_iter().find(|p| f(p));
            found.is_some()
        });
        found
    }
}

impl Drop for SlackReceiver {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
