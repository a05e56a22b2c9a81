//! `cdb_core`: reference data (instruments, in PostgreSQL) and market data (last prices and
//! order books, in Redis), kept moving by a built-in ticker that publishes every tick on the
//! Redis channel [`TICKS_CHANNEL`].

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::response::IntoResponse as _;
use axum::routing::get;
use serde_json::json;

use crate::api::{ApiError, ApiResult, Ready, Trace, respond};
use crate::backend::{Pg, Redis};
use crate::config::Settings;

/// Redis pub/sub channel of ticks.
pub const TICKS_CHANNEL: &str = "cdb:ticks";
/// Order book depth kept per side.
const DEPTH: usize = 5;

/// Redis hash holding the last price of `symbol` (`last`, `bid`, `ask`, `seq`, `ts_ms`).
pub fn price_key(symbol: &str) -> String {
    format!("cdb:price:{symbol}")
}

fn book_key(symbol: &str, side: &str) -> String {
    format!("cdb:book:{symbol}:{side}")
}

#[derive(Clone)]
struct CoreState {
    redis: Arc<Redis>,
    pg: Arc<Pg>,
}

/// Builds the API, starts the readiness probe (which also migrates) and the ticker.
pub fn start(settings: &Settings, ready: Ready) -> Result<Router, crate::backend::BackendError> {
    let redis = Redis::new(settings.redis.clone())?;
    let pg = Pg::new(settings.pg.clone(), settings.pg_pool_size)?;
    crate::probe_redis_and_pg(ready, Arc::clone(&redis), Arc::clone(&pg));
    tokio::spawn(ticker(Arc::clone(&redis), Arc::clone(&pg), settings.tick));
    let state = CoreState { redis, pg };
    Ok(Router::new()
        .route("/api/v1/instruments", get(instruments))
        .route("/api/v1/instruments/{symbol}", get(instrument))
        .route("/api/v1/prices/{symbol}", get(price))
        .route("/api/v1/book/{symbol}", get(book))
        .with_state(state))
}

async fn instruments(State(s): State<CoreState>, trace: Trace) -> axum::response::Response {
    let result: ApiResult = async {
        let rows = s
            .pg
            .run("instruments_list", |c| async move {
                c.query(
                    "SELECT symbol, name, tick_size, lot_size, venue FROM cdb_instruments ORDER BY symbol",
                    &[],
                )
                .await
            })
            .await?;
        let list: Vec<_> = rows
            .iter()
            .map(|r| {
                json!({
                    "symbol": r.get::<_, String>(0),
                    "name": r.get::<_, String>(1),
                    "tick_size": r.get::<_, f64>(2),
                    "lot_size": r.get::<_, i32>(3),
                    "venue": r.get::<_, String>(4),
                })
            })
            .collect();
        Ok(Json(json!({ "instruments": list })).into_response())
    }
    .await;
    respond(trace, result)
}

async fn instrument(
    State(s): State<CoreState>,
    Path(symbol): Path<String>,
    trace: Trace,
) -> axum::response::Response {
    let result: ApiResult = async {
        let sym = symbol.clone();
        let row = s
            .pg
            .run("instrument_get", |c| async move {
                c.query_opt(
                    "SELECT symbol, name, tick_size, lot_size, venue, ref_price FROM cdb_instruments WHERE symbol = $1",
                    &[&sym],
                )
                .await
            })
            .await?;
        let Some(r) = row else {
            metrics::counter!("cdb_instrument_lookups_total", "result" => "unknown").increment(1);
            return Err(ApiError::NotFound(format!("no instrument {symbol:?}")));
        };
        let last: Option<f64> = s
            .redis
            .cmd("price_get", redis::cmd("HGET").arg(price_key(&symbol)).arg("last"))
            .await?;
        metrics::counter!("cdb_instrument_lookups_total", "result" => "found").increment(1);
        tracing::info!(symbol = %symbol, venue = %r.get::<_, String>(4), "Instrument looked up.");
        Ok(Json(json!({
            "symbol": r.get::<_, String>(0),
            "name": r.get::<_, String>(1),
            "tick_size": r.get::<_, f64>(2),
            "lot_size": r.get::<_, i32>(3),
            "venue": r.get::<_, String>(4),
            "ref_price": r.get::<_, f64>(5),
            "last": last,
        }))
        .into_response())
    }
    .await;
    respond(trace, result)
}

async fn price(
    State(s): State<CoreState>,
    Path(symbol): Path<String>,
    trace: Trace,
) -> axum::response::Response {
    let result: ApiResult = async {
        let fields: std::collections::HashMap<String, String> = s
            .redis
            .cmd("price_get", redis::cmd("HGETALL").arg(price_key(&symbol)))
            .await?;
        if fields.is_empty() {
            return Err(ApiError::NotFound(format!("no price for {symbol:?}")));
        }
        let num = |k: &str| fields.get(k).and_then(|v| v.parse::<f64>().ok());
        Ok(Json(json!({
            "symbol": symbol,
            "last": num("last"),
            "bid": num("bid"),
            "ask": num("ask"),
            "seq": num("seq"),
            "ts_ms": num("ts_ms"),
        }))
        .into_response())
    }
    .await;
    respond(trace, result)
}

async fn book(
    State(s): State<CoreState>,
    Path(symbol): Path<String>,
    trace: Trace,
) -> axum::response::Response {
    let result: ApiResult = async {
        let mut pipe = redis::pipe();
        pipe.cmd("ZREVRANGE")
            .arg(book_key(&symbol, "bids"))
            .arg(0)
            .arg(DEPTH - 1)
            .cmd("ZRANGE")
            .arg(book_key(&symbol, "asks"))
            .arg(0)
            .arg(DEPTH - 1);
        let (bids, asks): (Vec<String>, Vec<String>) = s.redis.pipe("book_get", &pipe).await?;
        if bids.is_empty() && asks.is_empty() {
            return Err(ApiError::NotFound(format!("no book for {symbol:?}")));
        }
        let levels = |v: &[String]| -> Vec<serde_json::Value> {
            v.iter()
                .filter_map(|m| {
                    let (p, q) = m.split_once(':')?;
                    Some(json!([p.parse::<f64>().ok()?, q.parse::<i64>().ok()?]))
                })
                .collect()
        };
        Ok(
            Json(json!({"symbol": symbol, "bids": levels(&bids), "asks": levels(&asks)}))
                .into_response(),
        )
    }
    .await;
    respond(trace, result)
}

/// Moves each instrument's price by a small random step every `period`, writes price and book
/// to Redis and publishes the tick, all in one atomic pipeline. Keeps going through outages.
async fn ticker(redis: Arc<Redis>, pg: Arc<Pg>, period: Duration) {
    let mut book: Vec<(String, f64, f64)> = Vec::new(); // symbol, price, tick size
    let mut seq: u64 = 0;
    let mut interval = tokio::time::interval(period);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut failing = false;
    loop {
        interval.tick().await;
        if book.is_empty() {
            let loaded = pg
                .run("instruments_list", |c| async move {
                    c.query(
                        "SELECT symbol, ref_price, tick_size FROM cdb_instruments ORDER BY symbol",
                        &[],
                    )
                    .await
                })
                .await;
            match loaded {
                Ok(rows) => {
                    book = rows
                        .iter()
                        .map(|r| (r.get::<_, String>(0), r.get(1), r.get(2)))
                        .collect();
                }
                // Not migrated yet, or PostgreSQL down: the probe logs it; try next tick.
                Err(_) => continue,
            }
        }
        seq += 1;
        let ts_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis() as u64;
        let mut pipe = redis::pipe();
        pipe.atomic();
        for (symbol, price, tick) in &mut book {
            let step = (crate::api::unit_random() - 0.5) * 0.001 * *price;
            *price = round_to((*price + step).max(*tick), *tick);
            let bid = round_to(*price - *tick, *tick);
            let ask = round_to(*price + *tick, *tick);
            pipe.cmd("HSET")
                .arg(price_key(symbol))
                .arg("last")
                .arg(*price)
                .arg("bid")
                .arg(bid)
                .arg("ask")
                .arg(ask)
                .arg("seq")
                .arg(seq)
                .arg("ts_ms")
                .arg(ts_ms)
                .ignore();
            for side in ["bids", "asks"] {
                pipe.cmd("DEL").arg(book_key(symbol, side)).ignore();
                let mut zadd = redis::cmd("ZADD");
                zadd.arg(book_key(symbol, side));
                for level in 0..DEPTH {
                    let offset = (level as f64) * *tick;
                    let p = if side == "bids" {
                        bid - offset
                    } else {
                        ask + offset
                    };
                    let p = round_to(p, *tick);
                    let qty = 100 * (level as i64 + 1) + (seq % 7) as i64 * 10;
                    zadd.arg(p).arg(format!("{p}:{qty}"));
                }
                pipe.add_command(zadd).ignore();
            }
            let tick_msg = json!({
                "type": "tick", "symbol": symbol, "last": *price, "bid": bid, "ask": ask,
                "seq": seq, "ts_ms": ts_ms,
            });
            pipe.cmd("PUBLISH")
                .arg(TICKS_CHANNEL)
                .arg(tick_msg.to_string())
                .ignore();
        }
        match redis.pipe::<()>("tick_publish", &pipe).await {
            Ok(()) => {
                metrics::counter!("cdb_ticks_published_total").increment(book.len() as u64);
                if failing {
                    tracing::info!("Ticker publishing again.");
                    failing = false;
                }
            }
            Err(error) => {
                if !failing {
                    tracing::error!(error = %error, "Ticker cannot publish.");
                    failing = true;
                }
            }
        }
    }
}

fn round_to(v: f64, tick: f64) -> f64 {
    ((v / tick).round() * tick * 1e6).round() / 1e6
}
