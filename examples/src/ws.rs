//! `cdb_ws`: a websocket fan-out of ticks and executions from Redis pub/sub.
//!
//! One subscriber connection per process reads [`crate::core::TICKS_CHANNEL`] and
//! [`crate::execution::EXECUTIONS_CHANNEL`]; each message is shared (one allocation) into every
//! interested client's bounded queue with `try_send`. A client whose queue is full is too slow:
//! it is dropped at once and counted (`cdb_ws_clients_dropped_total{reason="slow"}`), so a
//! reader that stalls costs at most its queue plus a bounded socket write buffer, and never
//! slows the others.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::ws::{Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse as _, Response};
use axum::routing::get;
use futures_util::{SinkExt as _, StreamExt as _};
use tokio::sync::{Notify, mpsc};

use crate::api::{Ready, spawn_probe};
use crate::backend::{Backend, BackendError, Redis};
use crate::config::Settings;
use crate::core::TICKS_CHANNEL;
use crate::execution::EXECUTIONS_CHANNEL;

/// Largest message a client may send us (they only send pings and close frames).
const MAX_INBOUND: usize = 64 << 10;
/// Socket write buffer bound per client, on top of its queue.
const MAX_WRITE_BUFFER: usize = 1 << 20;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Channel {
    Ticks,
    Executions,
}

impl Channel {
    fn name(self) -> &'static str {
        match self {
            Self::Ticks => "ticks",
            Self::Executions => "executions",
        }
    }
}

struct Client {
    id: u64,
    ticks: bool,
    executions: bool,
    tx: mpsc::Sender<Utf8Bytes>,
    kick: Arc<Notify>,
}

/// The connected clients.
struct Hub {
    clients: Mutex<Vec<Client>>,
    next_id: AtomicU64,
    queue: usize,
    subscribed: AtomicBool,
}

impl Hub {
    fn broadcast(&self, channel: Channel, msg: Utf8Bytes) {
        let mut sent = 0u64;
        let mut dropped = 0usize;
        let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        clients.retain(|c| {
            let wants = match channel {
                Channel::Ticks => c.ticks,
                Channel::Executions => c.executions,
            };
            if !wants {
                return true;
            }
            match c.tx.try_send(msg.clone()) {
                Ok(()) => {
                    sent += 1;
                    true
                }
                Err(mpsc::error::TrySendError::Full(_)) => {
                    dropped += 1;
                    c.kick.notify_one();
                    tracing::warn!(
                        client = c.id,
                        queue = self.queue,
                        "Slow websocket client dropped."
                    );
                    false
                }
                // Its task has ended; it unregisters itself too.
                Err(mpsc::error::TrySendError::Closed(_)) => false,
            }
        });
        drop(clients);
        metrics::counter!("cdb_ws_messages_total", "channel" => channel.name()).increment(sent);
        if dropped > 0 {
            metrics::counter!("cdb_ws_clients_dropped_total", "reason" => "slow")
                .increment(dropped as u64);
        }
    }

    fn remove(&self, id: u64) {
        self.clients
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|c| c.id != id);
    }
}

/// Builds the websocket route and starts the subscriber and the readiness probe.
pub fn start(settings: &Settings, ready: Ready) -> Result<Router, BackendError> {
    let redis = Redis::new(settings.redis.clone())?;
    let hub = Arc::new(Hub {
        clients: Mutex::new(Vec::new()),
        next_id: AtomicU64::new(1),
        queue: settings.ws_client_queue,
        subscribed: AtomicBool::new(false),
    });
    metrics::gauge!("cdb_ws_clients").set(0.0);
    metrics::counter!("cdb_ws_clients_dropped_total", "reason" => "slow").increment(0);
    tokio::spawn(subscriber(Arc::clone(&redis), Arc::clone(&hub)));
    let (probe_redis, probe_hub) = (Arc::clone(&redis), Arc::clone(&hub));
    spawn_probe(ready, Duration::from_secs(1), move || {
        let (redis, hub) = (Arc::clone(&probe_redis), Arc::clone(&probe_hub));
        async move {
            redis.ping().await?;
            if hub.subscribed.load(Relaxed) {
                Ok(())
            } else {
                Err(BackendError::new(
                    Backend::Redis,
                    "subscribe",
                    "not subscribed yet",
                ))
            }
        }
    });
    Ok(Router::new()
        .route("/ws/stream/{channel}", get(stream))
        .with_state(hub))
}

/// Reads both channels and fans out; on a lost connection, resubscribes (backoff up to 2 s).
async fn subscriber(redis: Arc<Redis>, hub: Arc<Hub>) {
    let mut backoff = Duration::from_millis(100);
    loop {
        // A failed connect is already counted, and the probe logs the outage.
        if let Ok(mut pubsub) = redis.pubsub().await {
            {
                let subscribed = async {
                    pubsub.subscribe(TICKS_CHANNEL).await?;
                    pubsub.subscribe(EXECUTIONS_CHANNEL).await
                };
                match tokio::time::timeout(crate::backend::REDIS_TIMEOUT, subscribed).await {
                    Ok(Ok(())) => {
                        hub.subscribed.store(true, Relaxed);
                        backoff = Duration::from_millis(100);
                        tracing::info!("Subscribed to ticks and executions.");
                        let mut messages = pubsub.on_message();
                        while let Some(msg) = messages.next().await {
                            let channel = if msg.get_channel_name() == TICKS_CHANNEL {
                                Channel::Ticks
                            } else {
                                Channel::Executions
                            };
                            let Ok(text) = String::from_utf8(msg.get_payload_bytes().to_vec())
                            else {
                                continue;
                            };
                            hub.broadcast(channel, Utf8Bytes::from(text));
                        }
                        hub.subscribed.store(false, Relaxed);
                        metrics::counter!("cdb_redis_errors_total", "op" => "subscribe")
                            .increment(1);
                        tracing::error!("Redis subscription lost; resubscribing.");
                    }
                    Ok(Err(error)) => {
                        metrics::counter!("cdb_redis_errors_total", "op" => "subscribe")
                            .increment(1);
                        tracing::error!(error = %error, "Cannot subscribe.");
                    }
                    Err(_) => {
                        metrics::counter!("cdb_redis_errors_total", "op" => "subscribe")
                            .increment(1);
                        tracing::error!("Subscribing timed out.");
                    }
                }
            }
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(2));
    }
}

/// `GET /ws/stream/{channel}`, channel `ticks`, `executions` or `all`.
async fn stream(
    State(hub): State<Arc<Hub>>,
    Path(channel): Path<String>,
    ws: WebSocketUpgrade,
) -> Response {
    let (ticks, executions) = match channel.as_str() {
        "ticks" => (true, false),
        "executions" => (false, true),
        "all" => (true, true),
        _ => {
            return (
                StatusCode::NOT_FOUND,
                axum::Json(serde_json::json!({
                    "error": "not found",
                    "detail": "channel: ticks, executions or all",
                })),
            )
                .into_response();
        }
    };
    ws.max_message_size(MAX_INBOUND)
        .max_frame_size(MAX_INBOUND)
        .max_write_buffer_size(MAX_WRITE_BUFFER)
        .on_upgrade(move |socket| serve_client(hub, socket, channel, ticks, executions))
}

async fn serve_client(
    hub: Arc<Hub>,
    socket: WebSocket,
    channel: String,
    ticks: bool,
    executions: bool,
) {
    let id = hub.next_id.fetch_add(1, Relaxed);
    let (tx, mut rx) = mpsc::channel::<Utf8Bytes>(hub.queue);
    let kick = Arc::new(Notify::new());
    hub.clients
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(Client {
            id,
            ticks,
            executions,
            tx,
            kick: Arc::clone(&kick),
        });
    metrics::gauge!("cdb_ws_clients").increment(1.0);
    tracing::info!(client = id, channel = %channel, "Websocket client connected.");
    let (mut sink, mut incoming) = socket.split();
    let hello = serde_json::json!({"type": "hello", "channel": channel, "client": id}).to_string();
    let mut reason = "closed";
    if sink.send(Message::Text(hello.into())).await.is_err() {
        reason = "error";
    } else {
        loop {
            tokio::select! {
                biased;
                () = kick.notified() => { reason = "slow"; break; }
                msg = rx.recv() => {
                    let Some(msg) = msg else { reason = "slow"; break };
                    tokio::select! {
                        biased;
                        () = kick.notified() => { reason = "slow"; break; }
                        sent = sink.send(Message::Text(msg)) => {
                            if sent.is_err() { reason = "error"; break; }
                        }
                    }
                }
                frame = incoming.next() => match frame {
                    Some(Ok(Message::Close(_))) | None => break,
                    Some(Err(_)) => { reason = "error"; break; }
                    Some(Ok(_)) => {}
                },
            }
        }
    }
    hub.remove(id);
    metrics::gauge!("cdb_ws_clients").decrement(1.0);
    if reason == "slow" {
        // Best effort, bounded: the peer is not reading, so this may never complete.
        let _ = tokio::time::timeout(
            Duration::from_millis(100),
            sink.send(Message::Close(Some(axum::extract::ws::CloseFrame {
                code: 1008,
                reason: "too slow".into(),
            }))),
        )
        .await;
    }
    tracing::info!(client = id, reason, "Websocket client gone.");
}
