//! `cdb_execution`: orders in, fills out. An order is risk-checked by `cdb_risk` (the trace
//! continues there through `traceparent`), then the order, its fills and the position change
//! are written in one PostgreSQL transaction, and an execution event is published on the Redis
//! channel [`EXECUTIONS_CHANNEL`]. The transaction checks the position limit again under the
//! position row's lock, so orders racing past risk together cannot exceed it (422
//! `position_limit`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Json;
use axum::Router;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse as _, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::json;

use crate::api::{ApiError, ApiResult, Ready, Trace, respond};
use crate::backend::{Backend, BackendError, Pg, Redis};
use crate::config::Settings;

/// Redis pub/sub channel of execution events.
pub const EXECUTIONS_CHANNEL: &str = "cdb:executions";
/// Timeout of the call to `cdb_risk`.
pub const RISK_TIMEOUT: Duration = Duration::from_secs(2);

/// Order side.
#[derive(Clone, Copy, Debug, Deserialize, serde::Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    /// Buy.
    Buy,
    /// Sell.
    Sell,
}

impl Side {
    /// `buy` or `sell`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Buy => "buy",
            Self::Sell => "sell",
        }
    }
}

/// An order as posted (also the body of a risk check).
#[derive(Clone, Debug, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct OrderRequest {
    /// Account id (`A1`…).
    pub account: String,
    /// Symbol (`AAPL`…).
    pub symbol: String,
    /// Side.
    pub side: Side,
    /// Quantity, positive.
    pub qty: i64,
    /// Limit price, positive.
    pub price: f64,
}

impl OrderRequest {
    /// The position change: +qty for a buy, -qty for a sell.
    pub fn signed_qty(&self) -> i64 {
        match self.side {
            Side::Buy => self.qty,
            Side::Sell => -self.qty,
        }
    }
}

/// Checks an order body: 400 on bad JSON or out-of-range fields.
pub fn validate(body: Result<Json<OrderRequest>, JsonRejection>) -> Result<OrderRequest, ApiError> {
    let Json(o) = body.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let id_ok =
        |s: &str| !s.is_empty() && s.len() <= 16 && s.bytes().all(|b| b.is_ascii_alphanumeric());
    if !id_ok(&o.account) {
        return Err(ApiError::BadRequest(
            "account: 1 to 16 letters or digits".to_owned(),
        ));
    }
    if !id_ok(&o.symbol) {
        return Err(ApiError::BadRequest(
            "symbol: 1 to 16 letters or digits".to_owned(),
        ));
    }
    if o.qty <= 0 || o.qty > 1_000_000_000 {
        return Err(ApiError::BadRequest("qty: 1 to 1000000000".to_owned()));
    }
    if !o.price.is_finite() || o.price <= 0.0 || o.price > 1e9 {
        return Err(ApiError::BadRequest(
            "price: positive, at most 1e9".to_owned(),
        ));
    }
    Ok(o)
}

#[derive(Clone)]
struct ExecState {
    redis: Arc<Redis>,
    pg: Arc<Pg>,
    http: reqwest::Client,
    check_url: Arc<str>,
}

/// Builds the API and starts the readiness probe (which also migrates).
pub fn start(settings: &Settings, ready: Ready) -> Result<Router, BackendError> {
    let redis = Redis::new(settings.redis.clone())?;
    let pg = Pg::new(settings.pg.clone(), settings.pg_pool_size)?;
    crate::probe_redis_and_pg(ready, Arc::clone(&redis), Arc::clone(&pg));
    let http = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(1))
        .timeout(RISK_TIMEOUT)
        .pool_max_idle_per_host(64)
        .no_proxy()
        .build()
        .map_err(|e| BackendError::new(Backend::Risk, "client", e))?;
    for side in ["buy", "sell"] {
        for result in ["filled", "rejected"] {
            metrics::counter!("cdb_orders_total", "side" => side, "result" => result).increment(0);
        }
    }
    Ok(Router::new()
        .route("/api/v1/orders", post(new_order))
        .route("/api/v1/orders/{id}", get(order))
        .with_state(ExecState {
            redis,
            pg,
            http,
            check_url: format!("{}/api/v1/check", settings.risk_url).into(),
        }))
}

/// Splits `qty` into up to three fills, as a venue working the order would.
fn fill_plan(qty: i64) -> Vec<i64> {
    if qty < 4 {
        vec![qty]
    } else {
        vec![qty / 2, qty / 4, qty - qty / 2 - qty / 4]
    }
}

enum Verdict {
    Pass,
    Reject(String),
}

/// What the order's transaction did.
enum Written {
    /// Committed: the order's id.
    Filled(i64),
    /// Rolled back: the position after this order (`position`) would exceed the limit.
    OverLimit { position: i64, max: i64 },
}

impl ExecState {
    async fn risk_check(&self, o: &OrderRequest, trace: Trace) -> Result<Verdict, BackendError> {
        let start = Instant::now();
        let resp = self
            .http
            .post(&*self.check_url)
            .header("traceparent", trace.traceparent())
            .json(o)
            .send()
            .await;
        metrics::histogram!("cdb_risk_call_duration_seconds").record(start.elapsed().as_secs_f64());
        let fail = |detail: String| {
            metrics::counter!("cdb_risk_call_errors_total").increment(1);
            BackendError::new(Backend::Risk, "check", detail)
        };
        let resp = resp.map_err(|e| {
            fail(if e.is_timeout() {
                "timed out".to_owned()
            } else {
                format!("unreachable: {}", without_url(&e))
            })
        })?;
        let status = resp.status();
        let body: serde_json::Value = resp.json().await.map_err(|e| {
            fail(format!(
                "answered {status} with a bad body: {}",
                without_url(&e)
            ))
        })?;
        if status != StatusCode::OK {
            // Pass on what failed there: "answered 503: redis limits_get …".
            let part = |k: &str| body[k].as_str().unwrap_or("").to_owned();
            let why = [part("backend"), part("op"), part("detail")]
                .into_iter()
                .filter(|p| !p.is_empty())
                .collect::<Vec<_>>()
                .join(" ");
            let why = if why.is_empty() { part("error") } else { why };
            return Err(fail(format!("answered {}: {why}", status.as_u16())));
        }
        match body["result"].as_str() {
            Some("pass") => Ok(Verdict::Pass),
            Some("reject") => Ok(Verdict::Reject(
                body["reason"].as_str().unwrap_or("unknown").to_owned(),
            )),
            _ => Err(fail("answered without a result".to_owned())),
        }
    }
}

fn without_url(e: &reqwest::Error) -> String {
    // reqwest puts the URL in its Display; the error kind is enough and keeps logs short.
    let mut s = e.to_string();
    if let Some(u) = e.url() {
        s = s
            .replace(&format!(" ({u})"), "")
            .replace(u.as_str(), "risk");
    }
    match std::error::Error::source(e).and_then(std::error::Error::source) {
        Some(root) => format!("{s}: {root}"),
        None => s,
    }
}

/// `POST /api/v1/orders`.
async fn new_order(
    State(s): State<ExecState>,
    trace: Trace,
    body: Result<Json<OrderRequest>, JsonRejection>,
) -> Response {
    let received = Instant::now();
    let mut side = "unknown";
    let result: ApiResult = async {
        let o = validate(body)?;
        side = o.side.name();
        if let Verdict::Reject(reason) = s.risk_check(&o, trace).await? {
            metrics::counter!("cdb_orders_total", "side" => side, "result" => "rejected")
                .increment(1);
            tracing::info!(
                account = %o.account, symbol = %o.symbol, side, qty = o.qty, reason = %reason,
                "Order rejected by risk."
            );
            return Err(ApiError::Rejected(reason));
        }
        let fills = fill_plan(o.qty);
        let trace_id = trace.0.to_string();
        let order = o.clone();
        let fills_db = fills.clone();
        let tid = trace_id.clone();
        let written = s
            .pg
            .run("order_insert", |mut c| async move {
                let tx = c.transaction().await?;
                let row = tx
                    .query_one(
                        "INSERT INTO cdb_orders (account, symbol, side, qty, price, status, trace_id, filled_at) \
                         VALUES ($1, $2, $3, $4, $5, 'filled', $6, now()) RETURNING id",
                        &[&order.account, &order.symbol, &order.side.name(), &order.qty, &order.price, &tid],
                    )
                    .await?;
                let id: i64 = row.get(0);
                for q in &fills_db {
                    tx.execute(
                        "INSERT INTO cdb_fills (order_id, qty, price) VALUES ($1, $2, $3)",
                        &[&id, q, &order.price],
                    )
                    .await?;
                }
                // Risk checked the position limit against a position read before this order;
                // orders running side by side all passed against the same one. The upsert
                // locks the position row until commit, so the position it returns includes
                // every committed order, and the limit is checked again here.
                let row = tx
                    .query_one(
                        "INSERT INTO cdb_positions (account, symbol, qty) VALUES ($1, $2, $3) \
                         ON CONFLICT (account, symbol) DO UPDATE SET qty = cdb_positions.qty + EXCLUDED.qty \
                         RETURNING qty, (SELECT max_position FROM cdb_accounts a WHERE a.account = cdb_positions.account)",
                        &[&order.account, &order.symbol, &order.signed_qty()],
                    )
                    .await?;
                let (position, max): (i64, i64) = (row.get(0), row.get(1));
                if position.abs() > max {
                    tx.rollback().await?;
                    return Ok(Written::OverLimit { position, max });
                }
                tx.commit().await?;
                Ok(Written::Filled(id))
            })
            .await?;
        let id = match written {
            Written::Filled(id) => id,
            Written::OverLimit { position, max } => {
                metrics::counter!("cdb_orders_total", "side" => side, "result" => "rejected")
                    .increment(1);
                tracing::info!(
                    account = %o.account, symbol = %o.symbol, side, qty = o.qty, position, max,
                    "Order rejected at fill: the position limit no longer holds."
                );
                return Err(ApiError::Rejected("position_limit".to_owned()));
            }
        };
        metrics::histogram!("cdb_order_fill_latency_seconds")
            .record(received.elapsed().as_secs_f64());
        metrics::counter!("cdb_fills_total").increment(fills.len() as u64);
        metrics::counter!("cdb_orders_total", "side" => side, "result" => "filled").increment(1);
        let event = json!({
            "type": "execution", "order_id": id, "account": o.account, "symbol": o.symbol,
            "side": side, "qty": o.qty, "price": o.price, "fills": fills, "trace_id": trace_id,
        });
        // After the commit: the order stands even if Redis is down now; the answer says whether
        // the event went out, and the failure is logged and counted.
        let mut pipe = redis::pipe();
        pipe.cmd("DEL")
            .arg(crate::risk::position_key(&o.account, &o.symbol))
            .ignore()
            .cmd("PUBLISH")
            .arg(EXECUTIONS_CHANNEL)
            .arg(event.to_string())
            .ignore();
        let published = match s.redis.pipe::<()>("execution_publish", &pipe).await {
            Ok(()) => true,
            Err(error) => {
                tracing::error!(order_id = id, error = %error, "Execution event not published.");
                false
            }
        };
        tracing::info!(
            order_id = id, account = %o.account, symbol = %o.symbol, side, qty = o.qty,
            fills = fills.len(), "Order filled."
        );
        Ok((
            StatusCode::CREATED,
            Json(json!({
                "id": id, "account": o.account, "symbol": o.symbol, "side": side, "qty": o.qty,
                "price": o.price, "status": "filled", "fills": fills, "published": published,
                "trace_id": trace_id,
            })),
        )
            .into_response())
    }
    .await;
    if let Err(ApiError::Unavailable(_)) = &result {
        metrics::counter!("cdb_orders_total", "side" => side, "result" => "error").increment(1);
    }
    respond(trace, result)
}

/// `GET /api/v1/orders/{id}`.
async fn order(State(s): State<ExecState>, Path(id): Path<String>, trace: Trace) -> Response {
    let result: ApiResult = async {
        let id: i64 = id
            .parse()
            .map_err(|_| ApiError::BadRequest("order id: an integer".to_owned()))?;
        let rows =
            s.pg.run("order_get", |c| async move {
                let order = c
                    .query_opt(
                        "SELECT id, account, symbol, side, qty, price, status, trace_id, \
                         extract(epoch from created_at)::float8 FROM cdb_orders WHERE id = $1",
                        &[&id],
                    )
                    .await?;
                let fills = c
                    .query(
                        "SELECT qty, price FROM cdb_fills WHERE order_id = $1 ORDER BY id",
                        &[&id],
                    )
                    .await?;
                Ok((order, fills))
            })
            .await?;
        let (Some(r), fills) = rows else {
            return Err(ApiError::NotFound(format!("no order {id}")));
        };
        tracing::info!(order_id = id, "Order read.");
        let fills: Vec<_> = fills
            .iter()
            .map(|f| json!({"qty": f.get::<_, i64>(0), "price": f.get::<_, f64>(1)}))
            .collect();
        Ok(Json(json!({
            "id": r.get::<_, i64>(0),
            "account": r.get::<_, String>(1),
            "symbol": r.get::<_, String>(2),
            "side": r.get::<_, String>(3),
            "qty": r.get::<_, i64>(4),
            "price": r.get::<_, f64>(5),
            "status": r.get::<_, String>(6),
            "trace_id": r.get::<_, String>(7),
            "created_at": r.get::<_, f64>(8),
            "fills": fills,
        }))
        .into_response())
    }
    .await;
    respond(trace, result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_add_up_to_the_order() {
        for q in 1..50 {
            let plan = fill_plan(q);
            assert_eq!(plan.iter().sum::<i64>(), q);
            assert!(plan.iter().all(|f| *f > 0), "{q}: {plan:?}");
        }
    }
}
