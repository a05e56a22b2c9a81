//! `--check-keys`, `--check-single-keys` and `--count-keys`: sizes and values of chosen keys.
//!
//! Never `KEYS`: patterns are expanded with `SCAN ... MATCH ... COUNT batch`, stopped after
//! `--check-keys-limit` keys or 100 SCAN calls per pattern, whichever comes first (upstream scans
//! the whole keyspace on every scrape, #319/#536). Every step runs under the scrape deadline, and
//! `SELECT` travels in the same pipeline as the commands it applies to, so scrapes sharing the
//! connection cannot mix up databases.

use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::{Pipeline, Value};

use crate::config::Options;
use crate::error::{ScrapeError, classify};
use crate::pipeline::text;

/// SCAN calls per pattern per scrape, at most.
const MAX_SCAN_CALLS: usize = 100;

/// Parsed key-check flags.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyCheck {
    /// `(db, pattern)` from `--check-keys`.
    pub patterns: Vec<(u32, String)>,
    /// `(db, key)` from `--check-single-keys`.
    pub single: Vec<(u32, String)>,
    /// `(db, pattern)` from `--count-keys`.
    pub count: Vec<(u32, String)>,
}

impl KeyCheck {
    /// Whether nothing is to be checked.
    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty() && self.single.is_empty() && self.count.is_empty()
    }

    /// Parses the three flags' values.
    pub fn parse(check_keys: &str, single: &str, count: &str) -> Result<Self, String> {
        Ok(KeyCheck {
            patterns: parse_key_arg(check_keys)?,
            single: parse_key_arg(single)?,
            count: parse_key_arg(count)?,
        })
    }
}

/// Parses upstream's `db3=pattern,pattern2` list: each comma-separated item is `[dbN=]key`, the db
/// defaulting to 0.
pub fn parse_key_arg(arg: &str) -> Result<Vec<(u32, String)>, String> {
    let mut out = Vec::new();
    for item in arg.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        match item.split_once('=') {
            Some((db, key)) => {
                let n = db
                    .trim()
                    .trim_start_matches("db")
                    .parse::<u32>()
                    .map_err(|_| format!("invalid db in key argument {item:?}"))?;
                if key.is_empty() {
                    return Err(format!("empty key in key argument {item:?}"));
                }
                out.push((n, key.to_owned()));
            }
            None => out.push((0, item.to_owned())),
        }
    }
    Ok(out)
}

/// One checked key.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyInfo {
    /// Database number.
    pub db: u32,
    /// Key name.
    pub key: String,
    /// Length or size (STRLEN, LLEN, SCARD, ZCARD, HLEN, XLEN, PFCOUNT).
    pub size: Option<f64>,
    /// The value, for string keys.
    pub value: Option<String>,
}

/// What the key checks found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KeyReport {
    /// Checked keys.
    pub keys: Vec<KeyInfo>,
    /// `(db, pattern, count)` of `--count-keys`.
    pub counts: Vec<(u32, String, f64)>,
    /// Patterns stopped at the limit before the SCAN finished.
    pub truncated: u64,
}

async fn query(
    conn: &mut MultiplexedConnection,
    pipe: &Pipeline,
) -> Result<Vec<Value>, ScrapeError> {
    conn.req_packed_commands(pipe, 0, pipe.len())
        .await
        .map_err(|e| classify(&e))
}

/// SCANs `pattern` in `db` until the cursor returns to 0 or a bound is hit. Returns keys and whether
/// it was cut short.
async fn scan(
    conn: &mut MultiplexedConnection,
    db: u32,
    pattern: &str,
    batch: u64,
    limit: usize,
) -> Result<(Vec<String>, bool), ScrapeError> {
    let mut keys = Vec::new();
    let mut cursor: u64 = 0;
    for _ in 0..MAX_SCAN_CALLS {
        let mut pipe = Pipeline::with_capacity(2);
        pipe.cmd("SELECT").arg(db).ignore();
        pipe.cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(pattern)
            .arg("COUNT")
            .arg(batch);
        let replies = query(conn, &pipe).await?;
        let Some(Value::Array(parts)) = replies.into_iter().last() else {
            return Err(ScrapeError::Protocol("SCAN answered no array".into()));
        };
        let mut parts = parts.into_iter();
        cursor = parts
            .next()
            .and_then(|c| text(&c))
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        if let Some(Value::Array(found)) = parts.next() {
            keys.extend(found.iter().filter_map(text));
        }
        if keys.len() >= limit {
            // Cut short when keys were dropped here or the SCAN had more to give.
            let cut = keys.len() > limit || cursor != 0;
            keys.truncate(limit);
            return Ok((keys, cut));
        }
        if cursor == 0 {
            return Ok((keys, false));
        }
    }
    Ok((keys, true))
}

/// Runs the configured checks on the shared connection.
pub async fn run(
    conn: &mut MultiplexedConnection,
    checks: &KeyCheck,
    opts: &Options,
) -> Result<KeyReport, ScrapeError> {
    let mut report = KeyReport::default();
    let mut wanted: Vec<(u32, String)> = checks.single.clone();
    for (db, pattern) in &checks.patterns {
        let (keys, cut) = scan(
            conn,
            *db,
            pattern,
            opts.check_keys_batch_size,
            opts.check_keys_limit,
        )
        .await?;
        report.truncated += u64::from(cut);
        wanted.extend(keys.into_iter().map(|k| (*db, k)));
    }
    for (db, pattern) in &checks.count {
        // Counting needs the whole keyspace; a limit of 100 SCAN calls of `batch` keys bounds it.
        let (keys, cut) = scan(conn, *db, pattern, opts.check_keys_batch_size, usize::MAX).await?;
        report.truncated += u64::from(cut);
        report
            .counts
            .push((*db, pattern.clone(), keys.len() as f64));
    }
    wanted.sort();
    wanted.dedup();
    let mut dbs: Vec<u32> = wanted.iter().map(|(db, _)| *db).collect();
    dbs.dedup();
    for db in dbs {
        let keys: Vec<&String> = wanted
            .iter()
            .filter(|(d, _)| *d == db)
            .map(|(_, k)| k)
            .collect();
        // Round trip 1: the type of each key.
        let mut pipe = Pipeline::with_capacity(keys.len() + 1);
        pipe.cmd("SELECT").arg(db).ignore();
        for key in &keys {
            pipe.cmd("TYPE").arg(key.as_str());
        }
        let types: Vec<String> = query(conn, &pipe)
            .await?
            .into_iter()
            .skip(1)
            .map(|v| text(&v).unwrap_or_default())
            .collect();
        // Round trip 2: size (and value for strings).
        let mut pipe = Pipeline::with_capacity(2 * keys.len() + 1);
        pipe.cmd("SELECT").arg(db).ignore();
        let mut plan = Vec::with_capacity(keys.len());
        for (key, kind) in keys.iter().zip(types.iter()) {
            let size_cmd = match kind.as_str() {
                "string" => "STRLEN",
                "list" => "LLEN",
                "set" => "SCARD",
                "zset" => "ZCARD",
                "hash" => "HLEN",
                "stream" => "XLEN",
                _ => continue, // "none": the key is gone; nothing to report
            };
            pipe.cmd(size_cmd).arg(key.as_str());
            let with_value = kind == "string";
            if with_value {
                pipe.cmd("GET").arg(key.as_str());
            }
            plan.push(((*key).clone(), with_value));
        }
        let mut replies = query(conn, &pipe).await?.into_iter().skip(1);
        for (key, with_value) in plan {
            let size = replies
                .next()
                .and_then(|v| text(&v))
                .and_then(|s| s.parse().ok());
            let value = if with_value {
                replies.next().and_then(|v| text(&v))
            } else {
                None
            };
            report.keys.push(KeyInfo {
                db,
                key,
                size,
                value,
            });
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_args_parse_like_upstream() {
        assert_eq!(
            parse_key_arg("db3=user:*, session:* ,1=x").unwrap(),
            vec![
                (3, "user:*".into()),
                (0, "session:*".into()),
                (1, "x".into())
            ]
        );
        assert!(parse_key_arg("dbx=a").is_err());
        assert!(parse_key_arg("db1=").is_err());
        assert_eq!(parse_key_arg("").unwrap(), vec![]);
    }
}
