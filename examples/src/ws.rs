//! `cdb_ws`: a websocket fan-out of ticks and executions from Redis pub/sub.
//!
//! One subscriber connection per process reads [`crate::core::TICKS_CHANNEL`] and
//! [`crate::execution::EXECUTIONS_CHANNEL`]; each message is shared (one allocation) into every
//! interested client's bounded queue with `try_send`. A client whose queue is full is too slow:
//! it is dropped at once and counted (`cdb_ws_clients_dropped_total{reason="slow"}`), so a
//! reader that stalls costs at most its queue plus a bounded socket write buffer, and never
//! slows the others.
//!
//! The subscription is the service: while it is not healthy (not yet subscribed, its connection
//! lost, or its own `PING` unanswered within the Redis timeout) an upgrade on `/ws/stream/…`
//! answers 503 with the services' JSON error body, and every connected client is closed with
//! code 1013 ("try again later") and the reason `redis unavailable`, counted as
//! `cdb_ws_clients_dropped_total{reason="redis_unavailable"}`. Closing rather than keeping them
//! is deliberate: pub/sub does not replay, so a client kept open across an outage would miss
//! messages without knowing; a close tells it to reconnect and resynchronise. The subscriber
//! resubscribes by itself (backoff up to 2 s), and upgrades succeed again from then on.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::response::{IntoResponse as _, Response};
use axum::routing::get;
use futures_util::{SinkExt as _, StreamExt as _};
use tokio::sync::{mpsc, oneshot};

use crate::api::{ApiError, Ready, Trace, spawn_probe};
use crate::backend::{Backend, BackendError, REDIS_TIMEOUT, Redis};
use crate::config::Settings;
use crate::core::TICKS_CHANNEL;
use crate::execution::EXECUTIONS_CHANNEL;

/// Largest message a client may send us (they only send pings and close frames).
const MAX_INBOUND: usize = 64 << 10;
/// Socket write buffer bound per client, on top of its queue.
const MAX_WRITE_BUFFER: usize = 1 << 20;
/// How often the subscriber pings its own connection: a connection that is open but whose
/// server no longer answers (hung, partitioned) yields no error by itself.
const SUBSCRIPTION_PING: Duration = Duration::from_secs(1);
/// Close code for clients dropped because the subscription is gone: 1013, "try again later".
const CLOSE_TRY_AGAIN_LATER: u16 = 1013;
/// Close reason sent with [`CLOSE_TRY_AGAIN_LATER`].
const REDIS_UNAVAILABLE: &str = "redis unavailable";

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

/// Why the hub disconnects a client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kick {
    /// Its queue was full.
    Slow,
    /// The Redis subscription is gone.
    RedisUnavailable,
}

struct Client {
    id: u64,
    ticks: bool,
    executions: bool,
    tx: mpsc::Sender<Utf8Bytes>,
    /// Taken when the hub drops the client, to tell its task why.
    kick: Option<oneshot::Sender<Kick>>,
}

/// The connected clients.
struct Hub {
    clients: Mutex<Vec<Client>>,
    next_id: AtomicU64,
    queue: usize,
    /// True while the subscription is healthy. Written under `clients`' lock when it turns
    /// false, so a client registering concurrently is either refused or closed, never left
    /// on a dead subscription.
    subscribed: AtomicBool,
}

impl Hub {
    fn broadcast(&self, channel: Channel, msg: Utf8Bytes) {
        let mut sent = 0u64;
        let mut dropped = 0usize;
        let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        clients.retain_mut(|c| {
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
                    if let Some(kick) = c.kick.take() {
                        let _ = kick.send(Kick::Slow);
                    }
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

    /// Adds a client unless the subscription is down (then `false`).
    fn register(&self, client: Client) -> bool {
        let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        if !self.subscribed.load(Relaxed) {
            return false;
        }
        clients.push(client);
        true
    }

    /// Marks the subscription healthy: upgrades are accepted from now on.
    fn subscription_up(&self) {
        self.subscribed.store(true, Relaxed);
    }

    /// Marks the subscription lost and disconnects every client (they get close 1013).
    fn subscription_down(&self) {
        let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        self.subscribed.store(false, Relaxed);
        let gone = std::mem::take(&mut *clients);
        drop(clients);
        let mut closed = 0u64;
        for mut c in gone {
            if let Some(kick) = c.kick.take()
                && kick.send(Kick::RedisUnavailable).is_ok()
            {
                closed += 1;
            }
        }
        if closed > 0 {
            metrics::counter!("cdb_ws_clients_dropped_total", "reason" => "redis_unavailable")
                .increment(closed);
            tracing::warn!(
                clients = closed,
                "Websocket clients closed: the Redis subscription is gone."
            );
        }
    }

    /// `Ok` while the subscription is healthy; the 503's cause otherwise.
    fn health(&self) -> Result<(), BackendError> {
        if self.subscribed.load(Relaxed) {
            Ok(())
        } else {
            Err(BackendError::new(
                Backend::Redis,
                "subscribe",
                "not subscribed to ticks and executions (Redis down or unreachable); retrying",
            ))
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
    for reason in ["slow", "redis_unavailable"] {
        metrics::counter!("cdb_ws_clients_dropped_total", "reason" => reason).increment(0);
    }
    tokio::spawn(subscriber(Arc::clone(&redis), Arc::clone(&hub)));
    let (probe_redis, probe_hub) = (Arc::clone(&redis), Arc::clone(&hub));
    spawn_probe(ready, Duration::from_secs(1), move || {
        let (redis, hub) = (Arc::clone(&probe_redis), Arc::clone(&probe_hub));
        async move {
            redis.ping().await?;
            hub.health()
        }
    });
    Ok(Router::new()
        .route("/ws/stream/{channel}", get(stream))
        .with_state(hub))
}

/// Reads both channels and fans out; on a lost or silent connection, closes the clients and
/// resubscribes (backoff up to 2 s).
async fn subscriber(redis: Arc<Redis>, hub: Arc<Hub>) {
    let mut backoff = Duration::from_millis(100);
    loop {
        // A failed connect is already counted, and the probe logs the outage.
        if let Ok(mut pubsub) = redis.pubsub().await {
            let subscribed = async {
                pubsub.subscribe(TICKS_CHANNEL).await?;
                pubsub.subscribe(EXECUTIONS_CHANNEL).await
            };
            match tokio::time::timeout(REDIS_TIMEOUT, subscribed).await {
                Ok(Ok(())) => {
                    hub.subscription_up();
                    backoff = Duration::from_millis(100);
                    tracing::info!("Subscribed to ticks and executions.");
                    let why = fan_out(pubsub, &hub).await;
                    hub.subscription_down();
                    metrics::counter!("cdb_redis_errors_total", "op" => "subscribe").increment(1);
                    tracing::error!(error = why, "Redis subscription lost; resubscribing.");
                }
                Ok(Err(error)) => {
                    metrics::counter!("cdb_redis_errors_total", "op" => "subscribe").increment(1);
                    tracing::error!(error = %error, "Cannot subscribe.");
                }
                Err(_) => {
                    metrics::counter!("cdb_redis_errors_total", "op" => "subscribe").increment(1);
                    tracing::error!("Subscribing timed out.");
                }
            }
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(2));
    }
}

/// Broadcasts messages until the subscription fails; returns why it failed.
async fn fan_out(pubsub: redis::aio::PubSub, hub: &Hub) -> &'static str {
    let (mut sink, mut messages) = pubsub.split();
    let mut ping = tokio::time::interval(SUBSCRIPTION_PING);
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ping.tick().await; // The first tick is immediate; the subscribe just answered.
    loop {
        tokio::select! {
            msg = messages.next() => {
                let Some(msg) = msg else { return "connection closed" };
                let channel = if msg.get_channel_name() == TICKS_CHANNEL {
                    Channel::Ticks
                } else {
                    Channel::Executions
                };
                let Ok(text) = String::from_utf8(msg.get_payload_bytes().to_vec()) else {
                    continue;
                };
                hub.broadcast(channel, Utf8Bytes::from(text));
            }
            _ = ping.tick() => {
                // Messages keep arriving in the connection's own buffer meanwhile; the answer
                // takes a round trip, at most the Redis timeout.
                match tokio::time::timeout(REDIS_TIMEOUT, sink.ping::<redis::Value>()).await {
                    Ok(Ok(_)) => {}
                    Ok(Err(_)) => return "ping failed",
                    Err(_) => return "ping unanswered",
                }
            }
        }
    }
}

/// `GET /ws/stream/{channel}`, channel `ticks`, `executions` or `all`; 503 while the Redis
/// subscription is not healthy.
async fn stream(
    State(hub): State<Arc<Hub>>,
    Path(channel): Path<String>,
    trace: Trace,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let (ticks, executions) = match channel.as_str() {
        "ticks" => (true, false),
        "executions" => (false, true),
        "all" => (true, true),
        _ => {
            return ApiError::NotFound("channel: ticks, executions or all".to_owned())
                .into_response_for(trace);
        }
    };
    // Before the upgrade check, so a plain GET (curl) sees the outage too.
    if let Err(e) = hub.health() {
        return ApiError::Unavailable(e).into_response_for(trace);
    }
    let ws = match ws {
        Ok(ws) => ws,
        Err(rejection) => return rejection.into_response(),
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
    let (kick_tx, mut kick) = oneshot::channel();
    let (mut sink, mut incoming) = socket.split();
    let registered = hub.register(Client {
        id,
        ticks,
        executions,
        tx,
        kick: Some(kick_tx),
    });
    if !registered {
        // The subscription went down between the health check and the upgrade.
        let _ = tokio::time::timeout(
            Duration::from_millis(100),
            sink.send(close_frame(Kick::RedisUnavailable)),
        )
        .await;
        return;
    }
    metrics::gauge!("cdb_ws_clients").increment(1.0);
    tracing::info!(client = id, channel = %channel, "Websocket client connected.");
    let hello = serde_json::json!({"type": "hello", "channel": channel, "client": id}).to_string();
    let mut reason = "closed";
    let mut kicked = None;
    if sink.send(Message::Text(hello.into())).await.is_err() {
        reason = "error";
    } else {
        // `kick` is polled in two places but completes at most once: both arms break on it.
        loop {
            tokio::select! {
                biased;
                k = &mut kick => { kicked = k.ok(); break; }
                msg = rx.recv() => {
                    // The hub dropped our sender: it kicked us (the kick arm says why).
                    let Some(msg) = msg else { kicked = (&mut kick).await.ok(); break };
                    tokio::select! {
                        biased;
                        k = &mut kick => { kicked = k.ok(); break; }
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
    match kicked {
        Some(Kick::Slow) => {
            reason = "slow";
            // Best effort, bounded: the peer is not reading, so this may never complete.
            let _ = tokio::time::timeout(
                Duration::from_millis(100),
                sink.send(close_frame(Kick::Slow)),
            )
            .await;
        }
        Some(Kick::RedisUnavailable) => {
            reason = "redis_unavailable";
            // What was queued before the outage still goes out, then the close; bounded, as
            // the peer may not be reading.
            let flush = async {
                while let Ok(msg) = rx.try_recv() {
                    if sink.send(Message::Text(msg)).await.is_err() {
                        return;
                    }
                }
                let _ = sink.send(close_frame(Kick::RedisUnavailable)).await;
            };
            let _ = tokio::time::timeout(Duration::from_secs(1), flush).await;
        }
        None => {}
    }
    tracing::info!(client = id, reason, "Websocket client gone.");
}

fn close_frame(kick: Kick) -> Message {
    let (code, reason) = match kick {
        // 1008: policy violation.
        Kick::Slow => (1008, "too slow"),
        Kick::RedisUnavailable => (CLOSE_TRY_AGAIN_LATER, REDIS_UNAVAILABLE),
    };
    Message::Close(Some(CloseFrame {
        code,
        reason: reason.into(),
    }))
}
