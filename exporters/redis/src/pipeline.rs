//! The reply pipeline: the commands of one scrape's round trip, as a table of (slot, command).
//!
//! `INFO ALL`, `CONFIG GET`, `SLOWLOG LEN`, `SLOWLOG GET 1`, `LATENCY LATEST`, `LATENCY
//! HISTOGRAM`, `CLIENT LIST` and the scripts go in one pipeline: one round trip. Each command is
//! sent with the [`Slot`] its reply fills, and replies are stored by slot, so adding, removing or
//! reordering a row cannot shift another row's reply (the old code read them back by hand-kept
//! positions).

use redis::{Cmd, Value};

use crate::config::Options;
use crate::error::{ScrapeError, classify_code};
use crate::key_checks::KeyReport;

/// Which part of a [`Snapshot`] a reply fills.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    /// `INFO ALL`.
    Info,
    /// `CONFIG GET` (`--config-command`, `-` skips it).
    Config,
    /// `SLOWLOG LEN`.
    SlowlogLen,
    /// `SLOWLOG GET 1`.
    SlowlogLast,
    /// `LATENCY LATEST`.
    LatencyLatest,
    /// `LATENCY HISTOGRAM` (unless `--exclude-latency-histogram-metrics`).
    LatencyHistogram,
    /// `CLIENT LIST` (with `--export-client-list`).
    ClientList,
    /// `EVAL` of the n-th `--script`.
    Script(usize),
}

/// A row: the slot, the command words, and whether the options send it. `Config` and `Script`
/// rows take their words from the options (see [`commands`]).
type Row = (Slot, &'static [&'static str], fn(&Options) -> bool);

/// THE table, in the order sent.
const ROWS: &[Row] = &[
    (Slot::Info, &["INFO", "ALL"], |_| true),
    (Slot::Config, &[], |o| o.config_command != "-"),
    (Slot::SlowlogLen, &["SLOWLOG", "LEN"], |_| true),
    (Slot::SlowlogLast, &["SLOWLOG", "GET", "1"], |_| true),
    (Slot::LatencyLatest, &["LATENCY", "LATEST"], |_| true),
    (Slot::LatencyHistogram, &["LATENCY", "HISTOGRAM"], |o| {
        !o.exclude_latency_histogram_metrics
    }),
    (Slot::ClientList, &["CLIENT", "LIST"], |o| {
        o.export_client_list
    }),
];

/// Only the settings the default families need (Redis 7 takes several patterns; 6.x answers
/// with an error, and then we ask for `*` from then on: `config_star`).
pub const CONFIG_KEYS: &[&str] = &[
    "maxmemory",
    "maxclients",
    "io-threads",
    "databases",
    "client-output-buffer-limit",
];

/// The commands of one scrape with their slots. `config_star`: ask `CONFIG GET *` (Redis < 7
/// refused our key list once, or `--include-config-metrics`).
pub fn commands(opts: &Options, config_star: bool) -> Vec<(Slot, Cmd)> {
    let mut out = Vec::with_capacity(ROWS.len() + opts.scripts.len());
    for (slot, words, sent) in ROWS {
        if !sent(opts) {
            continue;
        }
        let cmd = match slot {
            Slot::Config => {
                let mut c = redis::cmd(&opts.config_command);
                c.arg("GET");
                if opts.include_config_metrics || config_star {
                    c.arg("*");
                } else {
                    c.arg(CONFIG_KEYS);
                }
                c
            }
            _ => {
                let mut c = redis::cmd(words[0]);
                c.arg(&words[1..]);
                c
            }
        };
        out.push((*slot, cmd));
    }
    for (i, script) in opts.scripts.iter().enumerate() {
        let mut c = redis::cmd("EVAL");
        c.arg(&script.body).arg(0);
        out.push((Slot::Script(i), c));
    }
    out
}

/// The replies of one scrape, handed to the collectors.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// `INFO ALL`, as sent.
    pub info: String,
    /// `CONFIG GET ...` as `(key, value)` pairs; `None` when CONFIG is disabled or failed.
    pub config: Option<Vec<(String, String)>>,
    /// `SLOWLOG LEN`.
    pub slowlog_len: Option<i64>,
    /// `SLOWLOG GET 1`.
    pub slowlog_last: Option<Value>,
    /// `LATENCY LATEST`.
    pub latency_latest: Option<Value>,
    /// `LATENCY HISTOGRAM`.
    pub latency_histogram: Option<Value>,
    /// `CLIENT LIST`.
    pub client_list: Option<String>,
    /// `(file name, reply)` of each `--script`.
    pub scripts: Vec<(String, Result<Value, String>)>,
    /// Key checks.
    pub keys: KeyReport,
    /// Seconds to connect (+AUTH), 0 when the connection was reused.
    pub connect_seconds: f64,
    /// Seconds for the PING with `--ping-on-connect`.
    pub ping_seconds: Option<f64>,
}

/// What reading the replies found besides the data.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ReadOutcome {
    /// CONFIG GET answered with an error (Redis < 7 and a key list): ask `*` from now on.
    pub config_refused: bool,
}

impl Snapshot {
    /// Stores each reply in its slot. A missing or failed optional reply leaves its slot empty;
    /// INFO is required (its error is the scrape's: NOAUTH is an auth failure).
    pub fn read(
        &mut self,
        slots: &[Slot],
        replies: Vec<Value>,
        opts: &Options,
    ) -> Result<ReadOutcome, ScrapeError> {
        let mut outcome = ReadOutcome::default();
        let mut replies = replies.into_iter();
        for slot in slots {
            let reply = replies.next().unwrap_or(Value::Nil);
            match slot {
                Slot::Info => {
                    self.info = match reply {
                        Value::BulkString(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
                        Value::VerbatimString { text, .. } => text,
                        Value::SimpleString(s) => s,
                        Value::ServerError(e) => return Err(classify_code(e.code())),
                        _ => return Err(ScrapeError::Protocol("INFO returned no text".into())),
                    }
                }
                Slot::Config => {
                    outcome.config_refused = matches!(reply, Value::ServerError(_));
                    self.config = config_pairs(reply);
                }
                Slot::SlowlogLen => {
                    self.slowlog_len = match reply {
                        Value::Int(n) => Some(n),
                        _ => None,
                    }
                }
                Slot::SlowlogLast => self.slowlog_last = ok_value(reply),
                Slot::LatencyLatest => self.latency_latest = ok_value(reply),
                Slot::LatencyHistogram => self.latency_histogram = ok_value(reply),
                Slot::ClientList => {
                    self.client_list = match reply {
                        Value::BulkString(bytes) => {
                            Some(String::from_utf8_lossy(&bytes).into_owned())
                        }
                        Value::VerbatimString { text, .. } => Some(text),
                        _ => None,
                    }
                }
                Slot::Script(i) => {
                    let name = opts
                        .scripts
                        .get(*i)
                        .map(|s| s.name.clone())
                        .unwrap_or_default();
                    let reply = match reply {
                        Value::ServerError(e) => {
                            Err(e.details().unwrap_or("script error").to_owned())
                        }
                        v => Ok(v),
                    };
                    self.scripts.push((name, reply));
                }
            }
        }
        Ok(outcome)
    }
}

fn ok_value(v: Value) -> Option<Value> {
    match v {
        Value::ServerError(_) | Value::Nil => None,
        v => Some(v),
    }
}

fn config_pairs(v: Value) -> Option<Vec<(String, String)>> {
    let items = match v {
        Value::Array(items) => items,
        Value::Map(pairs) => pairs.into_iter().flat_map(|(k, v)| [k, v]).collect(),
        _ => return None,
    };
    let mut out = Vec::with_capacity(items.len() / 2);
    let mut it = items.into_iter();
    while let (Some(k), Some(v)) = (it.next(), it.next()) {
        if let (Some(k), Some(v)) = (text(&k), text(&v)) {
            out.push((k, v));
        }
    }
    Some(out)
}

/// The text of a string reply.
pub fn text(v: &Value) -> Option<String> {
    match v {
        Value::BulkString(b) => Some(String::from_utf8_lossy(b).into_owned()),
        Value::SimpleString(s) => Some(s.clone()),
        Value::VerbatimString { text, .. } => Some(text.clone()),
        Value::Int(i) => Some(i.to_string()),
        Value::Double(d) => Some(d.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn opts(f: impl FnOnce(&mut Config)) -> Options {
        let mut c = Config::default();
        f(&mut c);
        c.validate().unwrap().opts
    }

    #[test]
    fn replies_land_in_their_slots_whatever_the_options() {
        // Without the histogram and with the client list, CLIENT LIST's reply must still land in
        // `client_list` (by position it would be read as the histogram).
        let o = opts(|c| {
            c.exclude_latency_histogram_metrics = true;
            c.export_client_list = true;
        });
        let cmds = commands(&o, false);
        let slots: Vec<Slot> = cmds.iter().map(|(s, _)| *s).collect();
        assert!(!slots.contains(&Slot::LatencyHistogram));
        let replies: Vec<Value> = slots
            .iter()
            .map(|s| match s {
                Slot::Info => Value::BulkString(b"# Server\r\nredis_version:7.0.0\r\n".to_vec()),
                Slot::ClientList => Value::BulkString(b"id=1 addr=1.2.3.4:5".to_vec()),
                Slot::SlowlogLen => Value::Int(3),
                _ => Value::Nil,
            })
            .collect();
        let mut snap = Snapshot::default();
        snap.read(&slots, replies, &o).unwrap();
        assert_eq!(snap.client_list.as_deref(), Some("id=1 addr=1.2.3.4:5"));
        assert_eq!(snap.slowlog_len, Some(3));
        assert!(snap.latency_histogram.is_none());
    }

    #[test]
    fn config_dash_skips_config_and_an_info_error_is_the_scrapes() {
        let o = opts(|c| c.config_command = "-".into());
        assert!(commands(&o, false).iter().all(|(s, _)| *s != Slot::Config));
        let mut snap = Snapshot::default();
        let err = snap
            .read(
                &[Slot::Info],
                vec![redis::parse_redis_value(b"-NOAUTH Authentication required.\r\n").unwrap()],
                &o,
            )
            .unwrap_err();
        assert!(matches!(err, ScrapeError::Auth(_)));
    }
}
