//! A Loki-compatible receiver for tests: decodes the real push format (snappy block compressed
//! protobuf `logproto.PushRequest`, or JSON), records what it accepted, answers the LogQL
//! queries the tools ask (`/loki/api/v1/query_range` and `/loki/api/v1/query` with a stream
//! selector and line filters), and can be told to answer pushes with a status, a script of
//! statuses, or to hang.
//!
//! The protobuf messages are declared here independently of mcp-instrument's own, so tests check
//! the wire format rather than the crate against itself.
//!
//! The LogQL subset: a selector `{k="v", k!="v", k=~"re", k!~"re"}` followed by any number of
//! line filters `|= "s"`, `!= "s"`, `|~ "re"`, `!~ "re"`. Anything else is answered 400 with
//! Loki's error shape, so a tool that asks for more finds out at once.

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use prost::Message;

use crate::wait_until;

/// `logproto.PushRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct PushRequest {
    /// The streams.
    #[prost(message, repeated, tag = "1")]
    pub streams: Vec<StreamAdapter>,
}

/// `logproto.StreamAdapter`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct StreamAdapter {
    /// `{k="v", ...}`.
    #[prost(string, tag = "1")]
    pub labels: String,
    /// The entries.
    #[prost(message, repeated, tag = "2")]
    pub entries: Vec<EntryAdapter>,
    /// Unused by Loki on push.
    #[prost(uint64, tag = "3")]
    pub hash: u64,
}

/// `logproto.EntryAdapter`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct EntryAdapter {
    /// The entry's time.
    #[prost(message, optional, tag = "1")]
    pub timestamp: Option<Timestamp>,
    /// The line.
    #[prost(string, tag = "2")]
    pub line: String,
    /// Structured metadata.
    #[prost(message, repeated, tag = "3")]
    pub structured_metadata: Vec<LabelPairAdapter>,
}

/// `logproto.LabelPairAdapter`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct LabelPairAdapter {
    /// Name.
    #[prost(string, tag = "1")]
    pub name: String,
    /// Value.
    #[prost(string, tag = "2")]
    pub value: String,
}

/// `google.protobuf.Timestamp`.
#[derive(Clone, Copy, PartialEq, prost::Message)]
pub struct Timestamp {
    /// Seconds.
    #[prost(int64, tag = "1")]
    pub seconds: i64,
    /// Nanoseconds.
    #[prost(int32, tag = "2")]
    pub nanos: i32,
}

/// One accepted log entry.
#[derive(Clone, Debug)]
pub struct Received {
    /// The stream's labels as pushed (`{k="v", ...}`).
    pub labels: String,
    /// The entry's timestamp in nanoseconds since the epoch.
    pub ts_ns: i128,
    /// The line.
    pub line: String,
    /// Structured metadata (name, value).
    pub metadata: Vec<(String, String)>,
}

impl Received {
    /// The line parsed as JSON (panics when it is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.line).expect("line is JSON")
    }

    /// The stream's labels as a map.
    pub fn label_map(&self) -> BTreeMap<String, String> {
        parse_labels(&self.labels).unwrap_or_default()
    }
}

/// How pushes are answered when no scripted answer is left.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Mode {
    /// 204, entries stored.
    Accept,
    /// This status; entries stored only for a 2xx.
    Status(u16),
    /// Never answer (the request is held until the client gives up or the receiver stops).
    Hang,
}

struct Inner {
    mode: Mutex<Mode>,
    script: Mutex<VecDeque<u16>>,
    requests: AtomicUsize,
    queries: AtomicUsize,
    answers: Mutex<Vec<u16>>,
    entries: Mutex<Vec<Received>>,
    content_types: Mutex<Vec<String>>,
    headers: Mutex<Vec<HeaderMap>>,
}

/// The receiver; stopped on drop.
pub struct FakeLoki {
    /// Where it listens.
    pub addr: SocketAddr,
    inner: Arc<Inner>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for FakeLoki {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeLoki")
            .field("addr", &self.addr)
            .finish()
    }
}

impl FakeLoki {
    /// On a free loopback port.
    pub fn start() -> Self {
        Self::start_on(0)
    }

    /// On `127.0.0.1:port` (0: a free one), e.g. to come back on the port of a stopped one.
    pub fn start_on(port: u16) -> Self {
        let std_listener = std::net::TcpListener::bind(("127.0.0.1", port)).expect("bind");
        std_listener.set_nonblocking(true).expect("nonblocking");
        let addr = std_listener.local_addr().expect("local addr");
        let inner = Arc::new(Inner {
            mode: Mutex::new(Mode::Accept),
            script: Mutex::new(VecDeque::new()),
            requests: AtomicUsize::new(0),
            queries: AtomicUsize::new(0),
            answers: Mutex::new(Vec::new()),
            entries: Mutex::new(Vec::new()),
            content_types: Mutex::new(Vec::new()),
            headers: Mutex::new(Vec::new()),
        });
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let state = Arc::clone(&inner);
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(std_listener).expect("listener");
                let app = axum::Router::new()
                    .route("/loki/api/v1/push", post(push))
                    .route("/loki/api/v1/query_range", get(query))
                    .route("/loki/api/v1/query", get(query))
                    .route("/ready", get(|| async { "ready\n" }))
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

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// How pushes are answered from now on.
    pub fn set_mode(&self, mode: Mode) {
        *self.inner.mode.lock().expect("lock") = mode;
    }

    /// The next answers, before falling back to the mode.
    pub fn script(&self, statuses: &[u16]) {
        self.inner.script.lock().expect("lock").extend(statuses);
    }

    /// Push requests received (answered or not).
    pub fn requests(&self) -> usize {
        self.inner.requests.load(SeqCst)
    }

    /// Queries received.
    pub fn queries(&self) -> usize {
        self.inner.queries.load(SeqCst)
    }

    /// The statuses answered to pushes, in order.
    pub fn answers(&self) -> Vec<u16> {
        self.inner.answers.lock().expect("lock").clone()
    }

    /// Every stored entry, in arrival order.
    pub fn entries(&self) -> Vec<Received> {
        self.inner.entries.lock().expect("lock").clone()
    }

    /// Moves the stored entries out, in arrival order: from then on [`entries`](Self::entries)
    /// and [`entry_count`](Self::entry_count) count from none again. For long runs that check
    /// what arrived as they go instead of holding every entry to the end.
    pub fn take_entries(&self) -> Vec<Received> {
        std::mem::take(&mut *self.inner.entries.lock().expect("lock"))
    }

    /// How many entries are stored.
    pub fn entry_count(&self) -> usize {
        self.inner.entries.lock().expect("lock").len()
    }

    /// The Content-Type of every push.
    pub fn content_types(&self) -> Vec<String> {
        self.inner.content_types.lock().expect("lock").clone()
    }

    /// The headers of every push (for tenant and auth checks).
    pub fn push_headers(&self) -> Vec<HeaderMap> {
        self.inner.headers.lock().expect("lock").clone()
    }

    /// The stored entries a LogQL query (the subset in the module doc) selects.
    pub fn select(&self, logql: &str) -> Result<Vec<Received>, String> {
        let q = LogQuery::parse(logql)?;
        Ok(self
            .entries()
            .into_iter()
            .filter(|e| q.matches(e))
            .collect())
    }

    /// Waits (bounded) until at least `n` entries arrived.
    pub fn wait_for_entries(&self, n: usize, timeout: Duration) -> bool {
        wait_until(timeout, || self.entry_count() >= n)
    }

    /// Stops it now (also done on drop).
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

async fn push(State(s): State<Arc<Inner>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    s.requests.fetch_add(1, SeqCst);
    let ct = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    s.content_types.lock().expect("lock").push(ct.clone());
    s.headers.lock().expect("lock").push(headers.clone());
    let scripted = s.script.lock().expect("lock").pop_front();
    let mode = *s.mode.lock().expect("lock");
    let status = match (scripted, mode) {
        (Some(code), _) => code,
        (None, Mode::Accept) => 204,
        (None, Mode::Status(code)) => code,
        (None, Mode::Hang) => {
            std::future::pending::<()>().await;
            return StatusCode::GATEWAY_TIMEOUT;
        }
    };
    s.answers.lock().expect("lock").push(status);
    if (200..300).contains(&status) {
        let decoded = if ct.starts_with("application/json") {
            decode_json(&body)
        } else {
            decode_proto(&body)
        };
        match decoded {
            Some(entries) => s.entries.lock().expect("lock").extend(entries),
            None => return StatusCode::BAD_REQUEST,
        }
    }
    StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

async fn query(
    State(s): State<Arc<Inner>>,
    Query(params): Query<BTreeMap<String, String>>,
) -> Response {
    s.queries.fetch_add(1, SeqCst);
    let bad = |msg: String| {
        (
            StatusCode::BAD_REQUEST,
            axum::Json(serde_json::json!({"status": "error", "error": msg})),
        )
            .into_response()
    };
    let Some(text) = params.get("query") else {
        return bad("query parameter missing".into());
    };
    let q = match LogQuery::parse(text) {
        Ok(q) => q,
        Err(e) => return bad(e),
    };
    let ns = |k: &str| params.get(k).and_then(|v| parse_time_ns(v));
    let start = ns("start").unwrap_or(i128::MIN);
    let end = ns("end").unwrap_or(i128::MAX);
    let limit: usize = params
        .get("limit")
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let mut streams: BTreeMap<String, Vec<(i128, String)>> = BTreeMap::new();
    let entries = s.entries.lock().expect("lock").clone();
    let mut picked: Vec<&Received> = entries
        .iter()
        .filter(|e| e.ts_ns >= start && e.ts_ns <= end && q.matches(e))
        .collect();
    // Loki's default direction is backward: the newest first, up to the limit.
    picked.sort_by_key(|e| std::cmp::Reverse(e.ts_ns));
    for e in picked.into_iter().take(limit) {
        streams
            .entry(e.labels.clone())
            .or_default()
            .push((e.ts_ns, e.line.clone()));
    }
    let result: Vec<serde_json::Value> = streams
        .into_iter()
        .map(|(labels, values)| {
            serde_json::json!({
                "stream": parse_labels(&labels).unwrap_or_default(),
                "values": values.into_iter().map(|(ts, l)| serde_json::json!([ts.to_string(), l])).collect::<Vec<_>>(),
            })
        })
        .collect();
    axum::Json(serde_json::json!({
        "status": "success",
        "data": {"resultType": "streams", "result": result, "stats": {}},
    }))
    .into_response()
}

/// Loki accepts nanosecond integers, or seconds with a fraction.
fn parse_time_ns(v: &str) -> Option<i128> {
    if let Ok(n) = v.parse::<i128>() {
        // Seconds (10 digits) or nanoseconds (19 digits), as Loki guesses.
        return Some(if n.abs() < 100_000_000_000 {
            n * 1_000_000_000
        } else {
            n
        });
    }
    v.parse::<f64>().ok().map(|s| (s * 1e9) as i128)
}

fn decode_proto(body: &[u8]) -> Option<Vec<Received>> {
    let raw = snap::raw::Decoder::new().decompress_vec(body).ok()?;
    let req = PushRequest::decode(raw.as_slice()).ok()?;
    let mut out = Vec::new();
    for s in req.streams {
        parse_labels(&s.labels).ok()?;
        for e in s.entries {
            let ts = e.timestamp.unwrap_or_default();
            out.push(Received {
                labels: s.labels.clone(),
                ts_ns: i128::from(ts.seconds) * 1_000_000_000 + i128::from(ts.nanos),
                line: e.line,
                metadata: e
                    .structured_metadata
                    .into_iter()
                    .map(|p| (p.name, p.value))
                    .collect(),
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
            .join(", ");
        for val in s.get("values")?.as_array()? {
            out.push(Received {
                labels: format!("{{{labels}}}"),
                ts_ns: val.get(0)?.as_str()?.parse().ok()?,
                line: val.get(1)?.as_str()?.to_owned(),
                metadata: Vec::new(),
            });
        }
    }
    Some(out)
}

// === LogQL subset ===

#[derive(Debug)]
enum Matcher {
    Eq(String, String),
    Ne(String, String),
    Re(String, regex::Regex),
    NotRe(String, regex::Regex),
}

#[derive(Debug)]
enum LineFilter {
    Contains(String),
    NotContains(String),
    Re(regex::Regex),
    NotRe(regex::Regex),
}

#[derive(Debug)]
struct LogQuery {
    matchers: Vec<Matcher>,
    filters: Vec<LineFilter>,
}

impl LogQuery {
    fn parse(text: &str) -> Result<Self, String> {
        let mut p = Parser {
            s: text.trim(),
            i: 0,
        };
        p.expect('{')?;
        let mut matchers = Vec::new();
        loop {
            p.ws();
            if p.eat('}') {
                break;
            }
            let name = p.ident()?;
            p.ws();
            let op = p.op(&["=~", "!~", "!=", "="])?;
            p.ws();
            let value = p.string()?;
            let anchored = |v: &str| {
                regex::Regex::new(&format!("^(?:{v})$")).map_err(|e| format!("bad regex: {e}"))
            };
            matchers.push(match op {
                "=" => Matcher::Eq(name, value),
                "!=" => Matcher::Ne(name, value),
                "=~" => Matcher::Re(name, anchored(&value)?),
                _ => Matcher::NotRe(name, anchored(&value)?),
            });
            p.ws();
            if p.eat(',') {
                continue;
            }
            p.ws();
            p.expect('}')?;
            break;
        }
        if matchers.is_empty() {
            return Err("queries require at least one label matcher".into());
        }
        let mut filters = Vec::new();
        loop {
            p.ws();
            if p.done() {
                break;
            }
            let op = p.op(&["|=", "!=", "|~", "!~"])?;
            p.ws();
            let value = p.string()?;
            let re = |v: &str| regex::Regex::new(v).map_err(|e| format!("bad regex: {e}"));
            filters.push(match op {
                "|=" => LineFilter::Contains(value),
                "!=" => LineFilter::NotContains(value),
                "|~" => LineFilter::Re(re(&value)?),
                _ => LineFilter::NotRe(re(&value)?),
            });
        }
        Ok(Self { matchers, filters })
    }

    fn matches(&self, e: &Received) -> bool {
        let labels = e.label_map();
        let get = |k: &str| labels.get(k).map(String::as_str).unwrap_or("");
        self.matchers.iter().all(|m| match m {
            Matcher::Eq(k, v) => get(k) == v,
            Matcher::Ne(k, v) => get(k) != v,
            Matcher::Re(k, r) => r.is_match(get(k)),
            Matcher::NotRe(k, r) => !r.is_match(get(k)),
        }) && self.filters.iter().all(|f| match f {
            LineFilter::Contains(s) => e.line.contains(s.as_str()),
            LineFilter::NotContains(s) => !e.line.contains(s.as_str()),
            LineFilter::Re(r) => r.is_match(&e.line),
            LineFilter::NotRe(r) => !r.is_match(&e.line),
        })
    }
}

struct Parser<'a> {
    s: &'a str,
    i: usize,
}

impl Parser<'_> {
    fn rest(&self) -> &str {
        &self.s[self.i..]
    }
    fn done(&self) -> bool {
        self.i >= self.s.len()
    }
    fn ws(&mut self) {
        while self.rest().starts_with(char::is_whitespace) {
            self.i += self.rest().chars().next().map_or(1, char::len_utf8);
        }
    }
    fn eat(&mut self, c: char) -> bool {
        if self.rest().starts_with(c) {
            self.i += c.len_utf8();
            true
        } else {
            false
        }
    }
    fn expect(&mut self, c: char) -> Result<(), String> {
        if self.eat(c) {
            Ok(())
        } else {
            Err(format!("parse error at {}: expected {c:?}", self.i))
        }
    }
    fn op(&mut self, ops: &[&'static str]) -> Result<&'static str, String> {
        for op in ops {
            if self.rest().starts_with(op) {
                self.i += op.len();
                return Ok(op);
            }
        }
        Err(format!(
            "parse error at {}: unsupported expression (this receiver answers a selector and line filters)",
            self.i
        ))
    }
    fn ident(&mut self) -> Result<String, String> {
        let n = self
            .rest()
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(self.rest().len());
        if n == 0 {
            return Err(format!("parse error at {}: expected a label name", self.i));
        }
        let id = self.rest()[..n].to_owned();
        self.i += n;
        Ok(id)
    }
    fn string(&mut self) -> Result<String, String> {
        if self.eat('`') {
            let end = self.rest().find('`').ok_or("unterminated raw string")?;
            let v = self.rest()[..end].to_owned();
            self.i += end + 1;
            return Ok(v);
        }
        self.expect('"')?;
        let mut out = String::new();
        let mut chars = self.rest().char_indices();
        while let Some((n, c)) = chars.next() {
            match c {
                '"' => {
                    self.i += n + 1;
                    return Ok(out);
                }
                '\\' => match chars.next() {
                    Some((_, 'n')) => out.push('\n'),
                    Some((_, 't')) => out.push('\t'),
                    Some((_, c)) => out.push(c),
                    None => break,
                },
                c => out.push(c),
            }
        }
        Err("unterminated string".into())
    }
}

/// Parses `{k="v", k2="v2"}` (Prometheus label syntax) into a map.
pub fn parse_labels(text: &str) -> Result<BTreeMap<String, String>, String> {
    let mut p = Parser {
        s: text.trim(),
        i: 0,
    };
    p.expect('{')?;
    let mut out = BTreeMap::new();
    loop {
        p.ws();
        if p.eat('}') {
            break;
        }
        let k = p.ident()?;
        p.ws();
        p.expect('=')?;
        p.ws();
        let v = p.string()?;
        out.insert(k, v);
        p.ws();
        if !p.eat(',') {
            p.ws();
            p.expect('}')?;
            break;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(labels: &str, line: &str) -> Received {
        Received {
            labels: labels.into(),
            ts_ns: 1,
            line: line.into(),
            metadata: Vec::new(),
        }
    }

    #[test]
    fn selector_and_line_filters_select_like_loki() {
        let e = entry(r#"{service="cdb_ws", level="info"}"#, "order 42 trace=abc");
        let yes = |q: &str| LogQuery::parse(q).unwrap().matches(&e);
        assert!(yes(r#"{service="cdb_ws"}"#));
        assert!(yes(r#"{service=~"cdb_.*", level!="error"} |= "trace=abc""#));
        assert!(!yes(r#"{service="cdb_ws"} != "order""#));
        assert!(yes(r#"{service="cdb_ws"} |~ "order [0-9]+" !~ "x{3}""#));
        assert!(!yes(r#"{service=~"cdb"}"#), "regex matchers are anchored");
        assert!(!yes(r#"{container_name="cdb_ws"}"#));
        assert!(LogQuery::parse("sum(rate({a=\"b\"}[1m]))").is_err());
        assert!(LogQuery::parse("{}").is_err());
    }

    #[test]
    fn labels_parse_with_escapes() {
        let m = parse_labels(r#"{a="x\"y", b="2"}"#).unwrap();
        assert_eq!(m["a"], "x\"y");
        assert_eq!(m["b"], "2");
        assert_eq!(parse_labels("{}").unwrap().len(), 0);
    }
}
