//! `cdb_risk`: pre-trade checks. Account limits, instruments and positions live in
//! PostgreSQL; a hot cache in Redis holds them with TTLs (limits and instruments 60 s,
//! positions 5 s; `cdb_execution` invalidates a position when it fills).

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::response::{IntoResponse as _, Response};
use axum::routing::{get, post};
use serde_json::json;

use crate::api::{ApiError, ApiResult, Ready, Trace, respond};
use crate::backend::{BackendError, Pg, Redis};
use crate::config::Settings;
use crate::execution::OrderRequest;

const LIMITS_TTL_SECS: u64 = 60;
const POSITION_TTL_SECS: u64 = 5;
/// Largest distance of an order's price from the last (or reference) price.
pub const PRICE_BAND: f64 = 0.10;

/// Every reject reason (the `reason` label's whole value set).
pub const REJECT_REASONS: &[&str] = &[
    "unknown_account",
    "unknown_symbol",
    "account_blocked",
    "notional_limit",
    "position_limit",
    "price_band",
];

/// Redis key of the cached position of `account` in `symbol`.
pub fn position_key(account: &str, symbol: &str) -> String {
    format!("cdb:risk:position:{account}:{symbol}")
}

fn limits_key(account: &str) -> String {
    format!("cdb:risk:limits:{account}")
}

fn instrument_key(symbol: &str) -> String {
    format!("cdb:risk:instrument:{symbol}")
}

#[derive(Clone)]
struct RiskState {
    redis: Arc<Redis>,
    pg: Arc<Pg>,
}

/// Builds the API and starts the readiness probe (which also migrates).
pub fn start(settings: &Settings, ready: Ready) -> Result<Router, BackendError> {
    let redis = Redis::new(settings.redis.clone())?;
    let pg = Pg::new(settings.pg.clone(), settings.pg_pool_size)?;
    crate::probe_redis_and_pg(ready, Arc::clone(&redis), Arc::clone(&pg));
    for reason in REJECT_REASONS {
        // Every reason exists from the start, so a rate over it is 0, not absent.
        metrics::counter!("cdb_risk_rejects_total", "reason" => *reason).increment(0);
    }
    Ok(Router::new()
        .route("/api/v1/limits/{account}", get(limits))
        .route("/api/v1/check", post(check))
        .with_state(RiskState { redis, pg }))
}

struct Limits {
    max_notional: f64,
    max_position: i64,
    blocked: bool,
}

impl RiskState {
    /// The account's limits, from the cache or PostgreSQL (then cached).
    async fn limits(&self, account: &str) -> Result<Option<Limits>, BackendError> {
        let key = limits_key(account);
        let cached: HashMap<String, String> = self
            .redis
            .cmd("limits_get", redis::cmd("HGETALL").arg(&key))
            .await?;
        self.limits_from(account, cached).await
    }

    async fn limits_from(
        &self,
        account: &str,
        cached: HashMap<String, String>,
    ) -> Result<Option<Limits>, BackendError> {
        let key = limits_key(account);
        if let (Some(n), Some(p), Some(b)) = (
            cached.get("max_notional").and_then(|v| v.parse().ok()),
            cached.get("max_position").and_then(|v| v.parse().ok()),
            cached.get("blocked"),
        ) {
            metrics::counter!("cdb_risk_cache_total", "kind" => "limits", "result" => "hit")
                .increment(1);
            return Ok(Some(Limits {
                max_notional: n,
                max_position: p,
                blocked: b == "1",
            }));
        }
        metrics::counter!("cdb_risk_cache_total", "kind" => "limits", "result" => "miss")
            .increment(1);
        let acct = account.to_owned();
        let row = self
            .pg
            .run("limits_get", |c| async move {
                c.query_opt(
                    "SELECT max_notional, max_position, blocked FROM cdb_accounts WHERE account = $1",
                    &[&acct],
                )
                .await
            })
            .await?;
        let Some(row) = row else { return Ok(None) };
        let limits = Limits {
            max_notional: row.get(0),
            max_position: row.get(1),
            blocked: row.get(2),
        };
        let mut pipe = redis::pipe();
        pipe.atomic()
            .cmd("HSET")
            .arg(&key)
            .arg("max_notional")
            .arg(limits.max_notional)
            .arg("max_position")
            .arg(limits.max_position)
            .arg("blocked")
            .arg(if limits.blocked { "1" } else { "0" })
            .ignore()
            .cmd("EXPIRE")
            .arg(&key)
            .arg(LIMITS_TTL_SECS)
            .ignore();
        self.redis.pipe::<()>("limits_cache", &pipe).await?;
        Ok(Some(limits))
    }

    /// The reference price of `symbol`: the ticker's last price, else the instrument's
    /// reference price (cached); `None` for an unknown symbol.
    async fn reference_price(
        &self,
        symbol: &str,
        last: Option<f64>,
        cached: Option<f64>,
    ) -> Result<Option<f64>, BackendError> {
        if cached.is_some() {
            metrics::counter!("cdb_risk_cache_total", "kind" => "instrument", "result" => "hit")
                .increment(1);
            return Ok(last.or(cached));
        }
        metrics::counter!("cdb_risk_cache_total", "kind" => "instrument", "result" => "miss")
            .increment(1);
        let sym = symbol.to_owned();
        let row = self
            .pg
            .run("instrument_get", |c| async move {
                c.query_opt(
                    "SELECT ref_price FROM cdb_instruments WHERE symbol = $1",
                    &[&sym],
                )
                .await
            })
            .await?;
        let Some(row) = row else { return Ok(None) };
        let ref_price: f64 = row.get(0);
        self.redis
            .cmd::<()>(
                "instrument_cache",
                redis::cmd("SET")
                    .arg(instrument_key(symbol))
                    .arg(ref_price)
                    .arg("EX")
                    .arg(LIMITS_TTL_SECS),
            )
            .await?;
        Ok(Some(last.unwrap_or(ref_price)))
    }

    /// The account's position in `symbol`, from the cache or PostgreSQL (then cached).
    async fn position(
        &self,
        account: &str,
        symbol: &str,
        cached: Option<i64>,
    ) -> Result<i64, BackendError> {
        let key = position_key(account, symbol);
        if let Some(p) = cached {
            metrics::counter!("cdb_risk_cache_total", "kind" => "position", "result" => "hit")
                .increment(1);
            return Ok(p);
        }
        metrics::counter!("cdb_risk_cache_total", "kind" => "position", "result" => "miss")
            .increment(1);
        let (acct, sym) = (account.to_owned(), symbol.to_owned());
        let row = self
            .pg
            .run("position_get", |c| async move {
                c.query_opt(
                    "SELECT qty FROM cdb_positions WHERE account = $1 AND symbol = $2",
                    &[&acct, &sym],
                )
                .await
            })
            .await?;
        let qty: i64 = row.map(|r| r.get(0)).unwrap_or(0);
        self.redis
            .cmd::<()>(
                "position_cache",
                redis::cmd("SET")
                    .arg(&key)
                    .arg(qty)
                    .arg("EX")
                    .arg(POSITION_TTL_SECS),
            )
            .await?;
        Ok(qty)
    }

    /// The verdict: `None` passes, `Some(reason)` rejects.
    async fn verdict(&self, o: &OrderRequest) -> Result<Option<&'static str>, BackendError> {
        // The hot path is one round trip to Redis; PostgreSQL only on cache misses.
        let mut pipe = redis::pipe();
        pipe.cmd("HGETALL")
            .arg(limits_key(&o.account))
            .cmd("HGET")
            .arg(crate::core::price_key(&o.symbol))
            .arg("last")
            .cmd("GET")
            .arg(instrument_key(&o.symbol))
            .cmd("GET")
            .arg(position_key(&o.account, &o.symbol));
        type Hot = (
            HashMap<String, String>,
            Option<f64>,
            Option<f64>,
            Option<i64>,
        );
        let (limits, last, instrument, position): Hot =
            self.redis.pipe("risk_cache_get", &pipe).await?;
        let Some(limits) = self.limits_from(&o.account, limits).await? else {
            return Ok(Some("unknown_account"));
        };
        let Some(reference) = self.reference_price(&o.symbol, last, instrument).await? else {
            return Ok(Some("unknown_symbol"));
        };
        if limits.blocked {
            return Ok(Some("account_blocked"));
        }
        if o.qty as f64 * o.price > limits.max_notional {
            return Ok(Some("notional_limit"));
        }
        if reference > 0.0 && ((o.price - reference) / reference).abs() > PRICE_BAND {
            return Ok(Some("price_band"));
        }
        let position = self.position(&o.account, &o.symbol, position).await?;
        let after = position + o.signed_qty();
        if after.abs() > limits.max_position {
            return Ok(Some("position_limit"));
        }
        Ok(None)
    }
}

/// `POST /api/v1/check`: 200 `{"result":"pass"}` or `{"result":"reject","reason":…}`.
async fn check(
    State(s): State<RiskState>,
    trace: Trace,
    body: Result<Json<OrderRequest>, JsonRejection>,
) -> Response {
    let result: ApiResult = async {
        let order = crate::execution::validate(body)?;
        let verdict = s.verdict(&order).await?;
        let result = if verdict.is_some() { "reject" } else { "pass" };
        metrics::counter!("cdb_risk_checks_total", "result" => result).increment(1);
        match verdict {
            Some(reason) => {
                metrics::counter!("cdb_risk_rejects_total", "reason" => reason).increment(1);
                tracing::info!(
                    account = %order.account, symbol = %order.symbol, side = order.side.name(),
                    qty = order.qty, result, reason, "Risk check done."
                );
                Ok(Json(json!({"result": result, "reason": reason})).into_response())
            }
            None => {
                tracing::info!(
                    account = %order.account, symbol = %order.symbol, side = order.side.name(),
                    qty = order.qty, result, "Risk check done."
                );
                Ok(Json(json!({"result": result})).into_response())
            }
        }
    }
    .await;
    if let Err(ApiError::Unavailable(_)) = &result {
        metrics::counter!("cdb_risk_checks_total", "result" => "error").increment(1);
    }
    respond(trace, result)
}

/// `GET /api/v1/limits/{account}`.
async fn limits(State(s): State<RiskState>, Path(account): Path<String>, trace: Trace) -> Response {
    let result: ApiResult = async {
        let Some(l) = s.limits(&account).await? else {
            return Err(ApiError::NotFound(format!("no account {account:?}")));
        };
        tracing::info!(account = %account, "Limits read.");
        Ok(Json(json!({
            "account": account,
            "max_notional": l.max_notional,
            "max_position": l.max_position,
            "blocked": l.blocked,
        }))
        .into_response())
    }
    .await;
    respond(trace, result)
}
