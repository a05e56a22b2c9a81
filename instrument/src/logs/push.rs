//! Loki's push API as a reusable client: the wire encoding (snappy-compressed protobuf
//! `logproto.PushRequest`, the same messages the service shipper sends), one push with a
//! timeout, the classification of Loki's answer, and the retry backoff.
//!
//! mcp-agent's log collector ships with this, so the host's collector and the services'
//! shipper speak to Loki one way. The service shipper drops at its memory bound because a
//! service must never wait; a collector tailing files instead waits (the files are its buffer),
//! which is why the loop around [`LokiClient::push`] belongs to the caller.
//!
//! ```no_run
//! use mcp_instrument::logs::push::{LokiClient, PushEntry, PushStream, encode};
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let client = LokiClient::builder("http://127.0.0.1:3100").build()?;
//! let streams = vec![PushStream {
//!     labels: r#"{job="demo"}"#.to_owned(),
//!     entries: vec![PushEntry { secs: 1_700_000_000, nanos: 0, line: "hello".to_owned() }],
//! }];
//! client.push(encode(&streams)).await?;
//! # Ok(()) }
//! ```

use std::time::Duration;

use prost::Message as _;

use super::proto::{EntryAdapter, PushRequest, StreamAdapter, Timestamp};

/// The body type of a push (the `bytes` crate's, which reqwest and prost use too): cloning it for
/// a retry shares the buffer.
pub use bytes::Bytes;

/// One stream of a push: a label set in Loki's syntax (`{k="v", …}`) and its entries, oldest
/// first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PushStream {
    /// `{k="v", …}`; build it with [`label_set`].
    pub labels: String,
    /// The entries, in time order.
    pub entries: Vec<PushEntry>,
}

/// One log entry.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PushEntry {
    /// Seconds since the Unix epoch.
    pub secs: i64,
    /// Nanoseconds within the second.
    pub nanos: i32,
    /// The line.
    pub line: String,
}

/// Encodes streams as the body of a push: protobuf `PushRequest`, snappy block compressed.
/// Copies every line once; [`encode_owned`] moves them instead.
pub fn encode(streams: &[PushStream]) -> Vec<u8> {
    encode_owned(streams.to_vec())
}

/// Like [`encode`], taking the streams by value: the lines move into the request instead of
/// being copied, which spares a copy of the whole batch where the caller is done with them (the
/// agent's log collector encodes each batch once).
///
/// ```
/// use mcp_instrument::logs::push::{PushEntry, PushStream, encode, encode_owned};
/// let streams = vec![PushStream {
///     labels: r#"{job="demo"}"#.to_owned(),
///     entries: vec![PushEntry { secs: 1_700_000_000, nanos: 0, line: "hello".to_owned() }],
/// }];
/// assert_eq!(encode(&streams), encode_owned(streams));
/// ```
pub fn encode_owned(streams: Vec<PushStream>) -> Vec<u8> {
    compress(PushRequest {
        streams: streams
            .into_iter()
            .map(|s| StreamAdapter {
                labels: s.labels,
                entries: s
                    .entries
                    .into_iter()
                    .map(|e| EntryAdapter {
                        timestamp: Some(Timestamp {
                            seconds: e.secs,
                            nanos: e.nanos,
                        }),
                        line: e.line,
                    })
                    .collect(),
                hash: 0,
            })
            .collect(),
    })
}

/// The push body of a request: its protobuf encoding, snappy block compressed. The one
/// encoding of [`encode_owned`] and the service shipper.
pub(crate) fn compress(req: PushRequest) -> Vec<u8> {
    let raw = req.encode_to_vec();
    // The request's lines are not needed once encoded: freed before the body is allocated.
    drop(req);
    let mut body = vec![0; snap::raw::max_compress_len(raw.len())];
    match snap::raw::Encoder::new().compress(&raw, &mut body) {
        Ok(n) => body.truncate(n),
        // Cannot happen with a buffer of max_compress_len; an empty body would be a 400.
        Err(_) => body.clear(),
    }
    body
}

/// A label set in Loki's syntax, values escaped, in the order given.
pub fn label_set<'a>(labels: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut out = String::from("{");
    for (i, (k, v)) in labels.into_iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(k);
        out.push_str("=\"");
        for c in v.chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '"' => out.push_str("\\\""),
                '\n' => out.push_str("\\n"),
                c => out.push(c),
            }
        }
        out.push('"');
    }
    out.push('}');
    out
}

/// Why a push did not deliver.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    /// A network error, a timeout, 429 or 5xx: the batch may be retried (after a timeout Loki
    /// may have stored it: delivery is at least once).
    #[error("{0}")]
    Retryable(String),
    /// Any other 4xx: the batch is bad and retrying cannot help; `reason` is Loki's answer,
    /// cut to 300 characters.
    #[error("HTTP {status}: {reason}")]
    Rejected {
        /// The HTTP status.
        status: u16,
        /// Loki's answer.
        reason: String,
    },
}

impl PushError {
    /// A short, stable category for a metric label (`timeout`, `connect`, `http_429`, …).
    pub fn category(&self) -> String {
        match self {
            Self::Rejected { status, .. } => format!("http_{status}"),
            Self::Retryable(msg) => {
                if let Some(code) = msg.strip_prefix("HTTP ") {
                    format!("http_{}", code.split_whitespace().next().unwrap_or("5xx"))
                } else if msg.contains("timed out") || msg.contains("timeout") {
                    "timeout".to_owned()
                } else if msg.contains("connect") || msg.contains("refused") {
                    "connect".to_owned()
                } else {
                    "network".to_owned()
                }
            }
        }
    }
}

/// Why a client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The URL is not an http(s) URL.
    #[error("invalid Loki URL: {0}")]
    Url(String),
    /// The TLS or HTTP client setup failed (an unreadable CA file, …).
    #[error("Loki client: {0}")]
    Client(String),
}

/// Builds a [`LokiClient`].
#[derive(Debug)]
pub struct LokiClientBuilder {
    url: String,
    tenant: Option<String>,
    authorization: Option<String>,
    ca_pem: Option<Vec<u8>>,
    insecure_skip_verify: bool,
    connect_timeout: Duration,
    request_timeout: Duration,
    user_agent: String,
}

impl LokiClientBuilder {
    /// `X-Scope-OrgID` for multi-tenant Loki.
    pub fn tenant(mut self, tenant: Option<String>) -> Self {
        self.tenant = tenant;
        self
    }

    /// HTTP basic auth (the password read from a file by the caller, never from a flag).
    pub fn basic_auth(mut self, user: &str, password: &str) -> Self {
        use base64::Engine as _;
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        self.authorization = Some(format!("Basic {token}"));
        self
    }

    /// A bearer token.
    pub fn bearer(mut self, token: &str) -> Self {
        self.authorization = Some(format!("Bearer {}", token.trim()));
        self
    }

    /// A PEM CA bundle to trust in addition to the platform's roots.
    pub fn ca_pem(mut self, pem: Vec<u8>) -> Self {
        self.ca_pem = Some(pem);
        self
    }

    /// Accept any server certificate (testing only).
    pub fn insecure_skip_verify(mut self, yes: bool) -> Self {
        self.insecure_skip_verify = yes;
        self
    }

    /// Timeout of one push, connection included. Default 10 s.
    pub fn request_timeout(mut self, t: Duration) -> Self {
        self.request_timeout = t;
        self
    }

    /// Timeout of the TCP/TLS connect. Default 3 s.
    pub fn connect_timeout(mut self, t: Duration) -> Self {
        self.connect_timeout = t;
        self
    }

    /// The `User-Agent` header. Default `mcp-instrument/VERSION`.
    pub fn user_agent(mut self, ua: impl Into<String>) -> Self {
        self.user_agent = ua.into();
        self
    }

    /// The client.
    pub fn build(self) -> Result<LokiClient, ClientError> {
        let url = push_url(&self.url)?;
        let mut b = reqwest::Client::builder()
            .connect_timeout(self.connect_timeout)
            .user_agent(self.user_agent)
            // Loki is addressed directly; a proxy meant for other traffic must not swallow logs.
            .no_proxy()
            .danger_accept_invalid_certs(self.insecure_skip_verify);
        if let Some(pem) = &self.ca_pem {
            for cert in reqwest::Certificate::from_pem_bundle(pem)
                .map_err(|e| ClientError::Client(format!("CA file: {e}")))?
            {
                b = b.add_root_certificate(cert);
            }
        }
        let client = b.build().map_err(|e| ClientError::Client(e.to_string()))?;
        Ok(LokiClient {
            client,
            url,
            tenant: self.tenant,
            authorization: self.authorization,
            request_timeout: self.request_timeout,
        })
    }
}

/// A client of one Loki push endpoint.
#[derive(Clone, Debug)]
pub struct LokiClient {
    client: reqwest::Client,
    url: String,
    tenant: Option<String>,
    authorization: Option<String>,
    request_timeout: Duration,
}

impl LokiClient {
    /// A builder for `url`: a base URL (`http://loki:3100`, the push path is appended) or the
    /// full push URL.
    pub fn builder(url: impl Into<String>) -> LokiClientBuilder {
        LokiClientBuilder {
            url: url.into(),
            tenant: None,
            authorization: None,
            ca_pem: None,
            insecure_skip_verify: false,
            connect_timeout: Duration::from_secs(3),
            request_timeout: Duration::from_secs(10),
            user_agent: concat!("mcp-instrument/", env!("CARGO_PKG_VERSION")).to_owned(),
        }
    }

    /// The push URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Sends one encoded body (from [`encode`]) with the request timeout.
    pub async fn push(&self, body: impl Into<Bytes>) -> Result<(), PushError> {
        self.push_within(body, self.request_timeout).await
    }

    /// Sends one encoded body, giving up after `timeout`. A `Vec<u8>` becomes [`Bytes`]
    /// without a copy; a caller that retries keeps one [`Bytes`] and passes clones of it, each a
    /// reference count, not a copy of the body.
    pub async fn push_within(
        &self,
        body: impl Into<Bytes>,
        timeout: Duration,
    ) -> Result<(), PushError> {
        let body: Bytes = body.into();
        let mut req = self
            .client
            .post(&self.url)
            .timeout(timeout)
            .header("Content-Type", "application/x-protobuf")
            .header("Content-Encoding", "snappy")
            .body(body);
        if let Some(t) = &self.tenant {
            req = req.header("X-Scope-OrgID", t);
        }
        if let Some(a) = &self.authorization {
            req = req.header("Authorization", a);
        }
        match req.send().await {
            Ok(resp) if resp.status().is_success() => Ok(()),
            Ok(resp) => {
                let status = resp.status();
                if status.as_u16() == 429 || status.is_server_error() {
                    Err(PushError::Retryable(format!("HTTP {}", status.as_u16())))
                } else {
                    let text = resp.text().await.unwrap_or_default();
                    Err(PushError::Rejected {
                        status: status.as_u16(),
                        reason: text.trim().chars().take(300).collect(),
                    })
                }
            }
            Err(error) => Err(PushError::Retryable(error_chain(&error))),
        }
    }
}

/// An error and its sources, `: `-joined (reqwest's own message alone says only "error sending
/// request").
pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut s = error.to_string();
    let mut src = error.source();
    while let Some(e) = src {
        s.push_str(": ");
        s.push_str(&e.to_string());
        src = e.source();
    }
    s
}

/// The push URL for a base or full URL.
pub(crate) fn push_url(url: &str) -> Result<String, ClientError> {
    let parsed = reqwest::Url::parse(url).map_err(|e| ClientError::Url(e.to_string()))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(ClientError::Url(format!(
            "scheme {:?} is not http(s)",
            parsed.scheme()
        )));
    }
    let trimmed = url.trim_end_matches('/');
    Ok(if parsed.path().trim_end_matches('/').is_empty() {
        format!("{trimmed}/loki/api/v1/push")
    } else {
        trimmed.to_owned()
    })
}

/// Exponential backoff with equal jitter (half fixed, half random), capped at `max`: the
/// policy of the service shipper, for callers that run their own retry loop.
pub fn backoff(attempt: u32, min: Duration, max: Duration) -> Duration {
    super::shipper::backoff(attempt, min, max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_sets_escape_values() {
        assert_eq!(
            label_set([("a", "x\"y\\z"), ("b", "1")]),
            r#"{a="x\"y\\z", b="1"}"#
        );
        assert_eq!(label_set([]), "{}");
    }

    #[test]
    fn encode_round_trips_through_snappy_and_protobuf() {
        let body = encode(&[PushStream {
            labels: r#"{job="x"}"#.into(),
            entries: vec![PushEntry {
                secs: 5,
                nanos: 7,
                line: "l".into(),
            }],
        }]);
        let raw = snap::raw::Decoder::new().decompress_vec(&body).unwrap();
        let req = PushRequest::decode(raw.as_slice()).unwrap();
        assert_eq!(req.streams[0].labels, r#"{job="x"}"#);
        assert_eq!(req.streams[0].entries[0].line, "l");
        assert_eq!(req.streams[0].entries[0].timestamp.unwrap().nanos, 7);
    }

    #[test]
    fn errors_have_stable_categories() {
        assert_eq!(
            PushError::Retryable("HTTP 503".into()).category(),
            "http_503"
        );
        assert_eq!(
            PushError::Rejected {
                status: 400,
                reason: "x".into()
            }
            .category(),
            "http_400"
        );
        assert!(push_url("ftp://x").is_err());
        assert_eq!(
            push_url("http://l:3100/").unwrap(),
            "http://l:3100/loki/api/v1/push"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn a_retry_sends_the_same_shared_body_and_a_vec_still_pushes() {
        let loki = mcp_testkit::loki::FakeLoki::start();
        let client = LokiClient::builder(loki.url())
            .request_timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        let stream = |line: &str| PushStream {
            labels: r#"{job="x"}"#.into(),
            entries: vec![PushEntry {
                secs: 5,
                nanos: 7,
                line: line.into(),
            }],
        };
        // One body for every attempt: a refused one is sent again as it is.
        loki.script(&[503]);
        let body = Bytes::from(encode_owned(vec![stream("again")]));
        let first = client.push(body.clone()).await;
        assert!(matches!(first, Err(PushError::Retryable(_))), "{first:?}");
        client.push(body.clone()).await.unwrap();
        // A Vec<u8> is taken as it was before the body became Bytes.
        client.push(encode(&[stream("vec")])).await.unwrap();
        assert_eq!(loki.answers(), [503, 204, 204]);
        let lines: Vec<String> = loki.entries().into_iter().map(|e| e.line).collect();
        assert_eq!(lines, ["again", "vec"]);
    }
}
