//! Why a scrape failed, as a stable category: the `err` label of
//! `redis_exporter_last_scrape_error` and the log line, never the URL or password. One outage
//! reads as one category (issue 17 item 6), so the label makes one series, not one per attempt.

/// Errors building the exporter.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The default target could not be set up.
    #[error("{0}")]
    Target(String),
}

/// Why a scrape failed; the category, never the URL or password.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ScrapeError {
    /// Could not connect.
    #[error("connect: {0}")]
    Connect(String),
    /// The password or user was refused.
    #[error("auth: {0}")]
    Auth(String),
    /// The scrape deadline or a command timeout passed.
    #[error("timeout")]
    Timeout,
    /// Redis answered something unexpected.
    #[error("protocol: {0}")]
    Protocol(String),
    /// Redis sent more than `--max-reply-bytes` in one scrape.
    #[error("reply too large")]
    TooLarge,
}

impl ScrapeError {
    /// Whether the connection is dropped after this error (all but a protocol surprise).
    pub fn drops_connection(&self) -> bool {
        !matches!(self, ScrapeError::Protocol(_))
    }
}

/// A server error code in a reply as a category.
pub fn classify_code(code: &str) -> ScrapeError {
    if code.eq_ignore_ascii_case("NOAUTH") || code.eq_ignore_ascii_case("WRONGPASS") {
        ScrapeError::Auth(code.to_owned())
    } else {
        ScrapeError::Protocol(format!("server error {code}"))
    }
}

/// A connection-setup error (AUTH, HELLO, SELECT) as a category.
pub fn classify_connect(e: &redis::RedisError) -> ScrapeError {
    match classify(e) {
        ScrapeError::Protocol(msg) => ScrapeError::Connect(msg),
        other => other,
    }
}

/// Maps a redis-rs error to a stable category. The text never includes the URL (it could carry
/// a password), only the error kind.
pub fn classify(e: &redis::RedisError) -> ScrapeError {
    use redis::ErrorKind;
    if e.is_timeout() {
        return ScrapeError::Timeout;
    }
    match e.kind() {
        ErrorKind::AuthenticationFailed => ScrapeError::Auth("authentication failed".into()),
        ErrorKind::IoError => ScrapeError::Connect(if e.is_connection_refusal() {
            "connection refused".into()
        } else {
            "connection lost".into()
        }),
        _ => {
            let code = e.code().unwrap_or("");
            if code == "NOAUTH" || code == "WRONGPASS" {
                ScrapeError::Auth(code.to_owned())
            } else if e.is_connection_dropped() || e.is_connection_refusal() || e.is_io_error() {
                ScrapeError::Connect("connection lost".into())
            } else {
                ScrapeError::Protocol(format!("{:?}", e.kind()))
            }
        }
    }
}
