//! Tables and seed data, applied by every service at start.
//!
//! All four services may start at once against one database: the whole migration runs in one
//! transaction under a transaction-scoped advisory lock, so concurrent `CREATE TABLE IF NOT
//! EXISTS` cannot race (they would on `pg_type`), and every step is idempotent.

use crate::backend::{BackendError, Pg};

/// Key of the advisory lock taken while migrating ("cdb" in ASCII).
const LOCK_KEY: i64 = 0x0063_6462;

/// Seeded accounts: id, max notional per order, max absolute position per symbol, blocked.
pub const ACCOUNTS: &[(&str, f64, i64, bool)] = &[
    ("A1", 1_000_000.0, 100_000, false),
    ("A2", 500_000.0, 50_000, false),
    ("A3", 250_000.0, 25_000, false),
    ("A4", 100_000.0, 10_000, false),
    // A5 is blocked: every order from it is rejected (`account_blocked`).
    ("A5", 100_000.0, 10_000, true),
];

/// Seeded instruments: symbol, name, tick size, lot size, venue, reference price.
pub const INSTRUMENTS: &[(&str, &str, f64, i32, &str, f64)] = &[
    ("AAPL", "Apple Inc.", 0.01, 1, "XNAS", 190.0),
    ("MSFT", "Microsoft Corp.", 0.01, 1, "XNAS", 410.0),
];

const DDL: &str = "
CREATE TABLE IF NOT EXISTS cdb_instruments (
    symbol     text PRIMARY KEY,
    name       text NOT NULL,
    tick_size  double precision NOT NULL,
    lot_size   integer NOT NULL,
    venue      text NOT NULL,
    ref_price  double precision NOT NULL
);
CREATE TABLE IF NOT EXISTS cdb_accounts (
    account       text PRIMARY KEY,
    max_notional  double precision NOT NULL,
    max_position  bigint NOT NULL,
    blocked       boolean NOT NULL DEFAULT false
);
CREATE TABLE IF NOT EXISTS cdb_positions (
    account  text NOT NULL REFERENCES cdb_accounts,
    symbol   text NOT NULL REFERENCES cdb_instruments,
    qty      bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (account, symbol)
);
CREATE TABLE IF NOT EXISTS cdb_orders (
    id          bigserial PRIMARY KEY,
    account     text NOT NULL REFERENCES cdb_accounts,
    symbol      text NOT NULL REFERENCES cdb_instruments,
    side        text NOT NULL CHECK (side IN ('buy', 'sell')),
    qty         bigint NOT NULL CHECK (qty > 0),
    price       double precision NOT NULL,
    status      text NOT NULL,
    trace_id    text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    filled_at   timestamptz
);
CREATE TABLE IF NOT EXISTS cdb_fills (
    id          bigserial PRIMARY KEY,
    order_id    bigint NOT NULL REFERENCES cdb_orders ON DELETE CASCADE,
    qty         bigint NOT NULL,
    price       double precision NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS cdb_fills_order_id ON cdb_fills (order_id);
";

/// Creates the tables and seeds accounts and instruments; safe to run any number of times,
/// concurrently.
pub async fn migrate(pg: &Pg) -> Result<(), BackendError> {
    pg.run("migrate", |mut c| async move {
        let tx = c.transaction().await?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&LOCK_KEY])
            .await?;
        tx.batch_execute(DDL).await?;
        for (account, notional, position, blocked) in ACCOUNTS {
            tx.execute(
                "INSERT INTO cdb_accounts (account, max_notional, max_position, blocked) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (account) DO NOTHING",
                &[account, notional, position, blocked],
            )
            .await?;
        }
        for (symbol, name, tick, lot, venue, price) in INSTRUMENTS {
            tx.execute(
                "INSERT INTO cdb_instruments (symbol, name, tick_size, lot_size, venue, ref_price) \
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (symbol) DO NOTHING",
                &[symbol, name, tick, lot, venue, price],
            )
            .await?;
        }
        tx.commit().await
    })
    .await
}
