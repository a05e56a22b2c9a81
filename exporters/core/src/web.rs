//! HTTP serving shared by every exporter: the `--web.*` flags, the exporter-toolkit web config file
//! (TLS and basic auth), the landing page, `/-/healthy`, the scrape timeout and the `/metrics`
//! response with optional gzip.

use std::collections::HashMap;
use std::net::{Ipv6Addr, SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

// The `--web.*` flags of the Go exporters (exporter-toolkit names). A plain comment, not a doc
// comment: clap's derive turns an `Args` struct's doc comment into the `about` of every command
// it is flattened into, which put "The `--log.*` flags" at the top of the exporters' `--help`
// (issue 17, item 6).
#[derive(Debug, Clone, clap::Args)]
pub struct WebArgs {
    /// Addresses on which to expose metrics and web interface. Repeatable.
    #[arg(long = "web.listen-address", value_name = "ADDR", num_args = 1, action = clap::ArgAction::Append)]
    pub listen_address: Vec<String>,

    /// Path under which to expose metrics.
    #[arg(
        long = "web.telemetry-path",
        value_name = "PATH",
        default_value = "/metrics"
    )]
    pub telemetry_path: String,

    /// Path to configuration file that can enable TLS or authentication (exporter-toolkit format).
    #[arg(long = "web.config.file", value_name = "FILE")]
    pub config_file: Option<PathBuf>,

    /// Upper bound of a scrape's duration; a smaller X-Prometheus-Scrape-Timeout-Seconds wins.
    #[arg(long = "web.max-scrape-timeout", value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    pub max_scrape_timeout: Duration,
}

/// Errors of the web layer.
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    /// `--web.listen-address` could not be parsed or resolved.
    #[error("invalid --web.listen-address {address:?}: {reason}")]
    ListenAddress {
        /// The address as given.
        address: String,
        /// Why.
        reason: String,
    },
    /// The web config file could not be read or is invalid.
    #[error("invalid --web.config.file {path}: {reason}")]
    Config {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A listener could not be bound. The message is the whole story on one line
    /// (`cannot listen on 127.0.0.1:9121: address in use`): the OS error is folded into it and
    /// not kept as a `source`, so `anyhow` in a main prints no "Caused by" block.
    #[error("cannot listen on {address}: {reason}")]
    Bind {
        /// The address.
        address: SocketAddr,
        /// What went wrong, in a few lowercase words.
        reason: String,
        /// The OS error's kind, for callers that react to a port in use.
        kind: std::io::ErrorKind,
    },
}

/// A short lowercase phrase for an OS error: `address in use`, not
/// `Address already in use (os error 98)`.
fn io_reason(error: &std::io::Error) -> String {
    use std::io::ErrorKind;
    match error.kind() {
        ErrorKind::AddrInUse => "address in use".to_owned(),
        ErrorKind::AddrNotAvailable => "address not available on this host".to_owned(),
        ErrorKind::PermissionDenied => "permission denied".to_owned(),
        _ => {
            let text = error.to_string();
            let text = match text.find(" (os error") {
                Some(i) => &text[..i],
                None => &text,
            };
            let mut chars = text.chars();
            match chars.next() {
                Some(first) => first.to_lowercase().chain(chars).collect(),
                None => "unknown error".to_owned(),
            }
        }
    }
}

/// The longest duration any flag or header may ask for. Far beyond any sensible scrape, yet
/// small enough that `Instant::now() + d` can never overflow (which would panic).
pub const MAX_DURATION: Duration = Duration::from_secs(366 * 24 * 3600);

/// Parses `500ms`, `10s`, `1m`, `1h` or a bare number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = match s.find(|c: char| !(c.is_ascii_digit() || c == '.')) {
        Some(i) => s.split_at(i),
        None => (s, "s"),
    };
    let n: f64 = num.parse().map_err(|_| format!("invalid duration {s:?}"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => {
            return Err(format!(
                "invalid duration unit in {s:?} (use ms, s, m or h)"
            ));
        }
    };
    if !secs.is_finite() || secs < 0.0 {
        return Err(format!("invalid duration {s:?}"));
    }
    // `Duration::from_secs_f64` panics past 2^64 s; a checked conversion and a bound instead.
    match Duration::try_from_secs_f64(secs) {
        Ok(d) if d <= MAX_DURATION => Ok(d),
        _ => Err(format!("duration {s:?} is too long (at most 366 days)")),
    }
}

/// Resolves Go-style listen addresses: `:9121` means every interface, `host:port` is resolved.
pub fn resolve_listen_address(address: &str) -> Result<Vec<SocketAddr>, WebError> {
    let err = |reason: &str| WebError::ListenAddress {
        address: address.to_owned(),
        reason: reason.to_owned(),
    };
    if let Some(port) = address.strip_prefix(':') {
        let port: u16 = port.parse().map_err(|_| err("port is not a number"))?;
        // Go's ":port" listens on every address, IPv6 and IPv4 (a dual-stack socket where possible).
        return Ok(vec![SocketAddr::from((Ipv6Addr::UNSPECIFIED, port))]);
    }
    let addrs: Vec<SocketAddr> = address
        .to_socket_addrs()
        .map_err(|e| err(&e.to_string()))?
        .collect();
    match addrs.first() {
        Some(first) => Ok(vec![*first]),
        None => Err(err("resolves to no address")),
    }
}

/// The web config file of the Prometheus exporter-toolkit (`--web.config.file`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebConfigFile {
    /// TLS settings.
    #[serde(default)]
    pub tls_server_config: Option<TlsServerConfig>,
    /// Extra HTTP settings (headers); accepted for compatibility.
    #[serde(default)]
    pub http_server_config: Option<HttpServerConfig>,
    /// Users and their bcrypt hashes.
    #[serde(default)]
    pub basic_auth_users: HashMap<String, String>,
}

/// `tls_server_config` of the exporter-toolkit file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsServerConfig {
    /// Certificate chain (PEM).
    pub cert_file: Option<PathBuf>,
    /// Private key (PEM).
    pub key_file: Option<PathBuf>,
    /// `NoClientCert` (default) or `RequireAndVerifyClientCert`.
    #[serde(default)]
    pub client_auth_type: Option<String>,
    /// CA for client certificates.
    #[serde(default)]
    pub client_ca_file: Option<PathBuf>,
    /// `TLS12` or `TLS13`.
    #[serde(default)]
    pub min_version: Option<String>,
    /// `TLS12` or `TLS13`.
    #[serde(default)]
    pub max_version: Option<String>,
}

/// `http_server_config` of the exporter-toolkit file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpServerConfig {
    /// Extra response headers.
    #[serde(default)]
    pub headers: HashMap<String, String>,
    /// Accepted and ignored: this server speaks HTTP/1.1 only.
    #[serde(default)]
    pub http2: Option<bool>,
}

/// A validated web setup: listeners, TLS acceptor and basic-auth users.
#[derive(Clone)]
pub struct WebSetup {
    /// Where to listen.
    pub listen: Vec<SocketAddr>,
    /// Path of the metrics endpoint.
    pub telemetry_path: String,
    /// Cap on a scrape's duration.
    pub max_scrape_timeout: Duration,
    /// Limits on client connections (defaults: [`ConnectionLimits::default`]).
    pub limits: ConnectionLimits,
    tls: Option<TlsAcceptor>,
    auth: Option<Arc<BasicAuth>>,
    headers: Vec<(http::HeaderName, HeaderValue)>,
    stats: Arc<ConnectionCounters>,
}

/// Limits on what clients may hold, so slow or abusive clients cannot exhaust the process'
/// file descriptors or keep `/metrics` unreachable (issue 17, item 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Most connections served at once (default 256). A connection beyond it is accepted and
    /// closed at once, and counted ([`ConnectionStats::refused`]). The effective limit is also
    /// kept under the process' open-file limit (`RLIMIT_NOFILE`), with room left for backends.
    pub max_connections: usize,
    /// Time a client has to send a request's headers (default 10 s); an idle keep-alive
    /// connection is closed after the same time. hyper's `header_read_timeout`.
    pub header_read_timeout: Duration,
    /// Time a TLS client has to finish its handshake (default 10 s).
    pub tls_handshake_timeout: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            max_connections: 256,
            header_read_timeout: Duration::from_secs(10),
            tls_handshake_timeout: Duration::from_secs(10),
        }
    }
}

/// Counters of the connections a [`WebSetup`] served, for an exporter's own telemetry.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConnectionStats {
    /// Connections accepted and served.
    pub accepted: u64,
    /// Connections closed at once because the connection limit was reached.
    pub refused: u64,
    /// Connections closed because the client did not send its request headers in time.
    pub header_timeouts: u64,
    /// Failed `accept` calls (EMFILE and the like).
    pub accept_errors: u64,
    /// Connections open right now.
    pub active: u64,
}

#[derive(Debug, Default)]
struct ConnectionCounters {
    accepted: AtomicU64,
    refused: AtomicU64,
    header_timeouts: AtomicU64,
    accept_errors: AtomicU64,
    active: AtomicU64,
}

impl std::fmt::Debug for WebSetup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebSetup")
            .field("listen", &self.listen)
            .field("telemetry_path", &self.telemetry_path)
            .field("tls", &self.tls.is_some())
            .field("basic_auth", &self.auth.is_some())
            .finish()
    }
}

impl WebSetup {
    /// Validates the flags: resolves addresses, reads the web config file, loads certificates.
    /// `default_listen` is the exporter's classic address (`:9121`, `:9187`, `:9100`).
    pub fn from_args(args: &WebArgs, default_listen: &str) -> Result<Self, WebError> {
        let addresses = if args.listen_address.is_empty() {
            vec![default_listen.to_owned()]
        } else {
            args.listen_address.clone()
        };
        let mut listen = Vec::new();
        for address in &addresses {
            listen.extend(resolve_listen_address(address)?);
        }
        let mut setup = WebSetup {
            listen,
            telemetry_path: normalize_path(&args.telemetry_path),
            max_scrape_timeout: args.max_scrape_timeout,
            limits: ConnectionLimits::default(),
            tls: None,
            auth: None,
            headers: Vec::new(),
            stats: Arc::new(ConnectionCounters::default()),
        };
        if let Some(path) = &args.config_file {
            setup.apply_config_file(path)?;
        }
        Ok(setup)
    }

    /// Whether TLS is on.
    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// The connection counters so far (shared by clones of this setup).
    pub fn connection_stats(&self) -> ConnectionStats {
        let c = &self.stats;
        ConnectionStats {
            accepted: c.accepted.load(Relaxed),
            refused: c.refused.load(Relaxed),
            header_timeouts: c.header_timeouts.load(Relaxed),
            accept_errors: c.accept_errors.load(Relaxed),
            active: c.active.load(Relaxed),
        }
    }

    fn apply_config_file(&mut self, path: &Path) -> Result<(), WebError> {
        let err = |reason: String| WebError::Config {
            path: path.to_owned(),
            reason,
        };
        let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
        let file: WebConfigFile = if text.trim().is_empty() {
            WebConfigFile::default()
        } else {
            crate::yaml::from_str(&text).map_err(err)?
        };
        let base = path.parent().unwrap_or(Path::new("."));
        if let Some(tls) = &file.tls_server_config {
            self.tls = Some(build_tls(tls, base).map_err(err)?);
        }
        if !file.basic_auth_users.is_empty() {
            for (user, hash) in &file.basic_auth_users {
                // Validate the hash format now so a typo is a startup error, not a 401 forever.
                if !hash.starts_with("$2") || hash.len() != 60 {
                    return Err(err(format!("basic_auth_users.{user}: not a bcrypt hash")));
                }
            }
            self.auth = Some(Arc::new(BasicAuth {
                users: file.basic_auth_users,
                verified: Mutex::new(HashMap::new()),
            }));
        }
        if let Some(http) = &file.http_server_config {
            for (name, value) in &http.headers {
                let name = http::HeaderName::try_from(name.as_str())
                    .map_err(|e| err(format!("http_server_config.headers: {e}")))?;
                let value = HeaderValue::try_from(value.as_str())
                    .map_err(|e| err(format!("http_server_config.headers: {e}")))?;
                self.headers.push((name, value));
            }
        }
        Ok(())
    }
}

fn normalize_path(p: &str) -> String {
    if p.starts_with('/') {
        p.to_owned()
    } else {
        format!("/{p}")
    }
}

fn build_tls(cfg: &TlsServerConfig, base: &Path) -> Result<TlsAcceptor, String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};

    let resolve = |p: &Path| {
        if p.is_absolute() {
            p.to_owned()
        } else {
            base.join(p)
        }
    };
    let cert_file = cfg
        .cert_file
        .as_deref()
        .ok_or("tls_server_config.cert_file is required")?;
    let key_file = cfg
        .key_file
        .as_deref()
        .ok_or("tls_server_config.key_file is required")?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(resolve(cert_file))
        .map_err(|e| format!("cert_file: {e}"))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("cert_file: {e}"))?;
    if certs.is_empty() {
        return Err("cert_file: no certificate found".into());
    }
    let key =
        PrivateKeyDer::from_pem_file(resolve(key_file)).map_err(|e| format!("key_file: {e}"))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let versions: Vec<&'static rustls::SupportedProtocolVersion> =
        match (cfg.min_version.as_deref(), cfg.max_version.as_deref()) {
            (Some("TLS13"), _) => vec![&rustls::version::TLS13],
            (_, Some("TLS12")) => vec![&rustls::version::TLS12],
            (None | Some("TLS12") | Some("TLS10") | Some("TLS11"), _) => {
                vec![&rustls::version::TLS13, &rustls::version::TLS12]
            }
            (Some(other), _) => return Err(format!("unknown min_version {other:?}")),
        };
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions)
        .map_err(|e| e.to_string())?;
    let builder = match cfg.client_auth_type.as_deref() {
        None | Some("") | Some("NoClientCert") => builder.with_no_client_auth(),
        Some("RequireAndVerifyClientCert") | Some("VerifyClientCertIfGiven") => {
            let ca = cfg
                .client_ca_file
                .as_deref()
                .ok_or("client_ca_file is required for client certificate verification")?;
            let mut roots = rustls::RootCertStore::empty();
            for cert in CertificateDer::pem_file_iter(resolve(ca))
                .map_err(|e| format!("client_ca_file: {e}"))?
            {
                roots
                    .add(cert.map_err(|e| format!("client_ca_file: {e}"))?)
                    .map_err(|e| format!("client_ca_file: {e}"))?;
            }
            let mut verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            );
            if cfg.client_auth_type.as_deref() == Some("VerifyClientCertIfGiven") {
                verifier = verifier.allow_unauthenticated();
            }
            let verifier = verifier.build().map_err(|e| e.to_string())?;
            builder.with_client_cert_verifier(verifier)
        }
        Some(other) => return Err(format!("unsupported client_auth_type {other:?}")),
    };
    let mut config = builder
        .with_single_cert(certs, key)
        .map_err(|e| format!("certificate and key do not match: {e}"))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Basic-auth users with bcrypt hashes. A verified `(user, password)` pair is cached, because bcrypt
/// costs tens of milliseconds per check and Prometheus sends the same credentials on every scrape.
struct BasicAuth {
    users: HashMap<String, String>,
    verified: Mutex<HashMap<(String, String), bool>>,
}

impl BasicAuth {
    async fn check(self: Arc<Self>, header: Option<&HeaderValue>) -> bool {
        let Some((user, password)) = header.and_then(decode_basic) else {
            return false;
        };
        let Some(hash) = self.users.get(&user).cloned() else {
            return false;
        };
        let key = (user, password);
        if let Ok(cache) = self.verified.lock()
            && let Some(ok) = cache.get(&key)
        {
            return *ok;
        }
        let password = key.1.clone();
        let ok =
            tokio::task::spawn_blocking(move || bcrypt::verify(password, &hash).unwrap_or(false))
                .await
                .unwrap_or(false);
        if let Ok(mut cache) = self.verified.lock() {
            // Bound the cache so a password-guessing client cannot grow it without limit.
            if cache.len() > 64 {
                cache.clear();
            }
            cache.insert(key, ok);
        }
        ok
    }
}

fn decode_basic(value: &HeaderValue) -> Option<(String, String)> {
    let value = value.to_str().ok()?;
    let encoded = value
        .strip_prefix("Basic ")
        .or_else(|| value.strip_prefix("basic "))?;
    let decoded =
        base64::Engine::decode(&base64::engine::general_purpose::STANDARD, encoded.trim()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

/// What the landing page shows.
#[derive(Debug, Clone)]
pub struct LandingPage {
    /// Program name, e.g. `mcp-redis-exporter`.
    pub name: &'static str,
    /// One-line description.
    pub description: &'static str,
    /// Version.
    pub version: &'static str,
    /// Extra links `(path, text)`.
    pub links: Vec<(String, String)>,
}

/// Adds `/`, `/-/healthy` to an exporter's router and wraps it in basic auth and extra headers.
/// The router must already serve the telemetry path (and `/scrape` or `/probe`).
pub fn finish_router(router: Router, setup: &WebSetup, page: LandingPage) -> Router {
    let mut links = vec![(setup.telemetry_path.clone(), "Metrics".to_owned())];
    links.extend(page.links.iter().cloned());
    let html = landing_html(&page, &links);
    let mut router = router
        .route("/", get(move || async move { Html(html) }))
        .route("/-/healthy", get(|| async { "Healthy" }));
    if !setup.headers.is_empty() {
        let headers = Arc::new(setup.headers.clone());
        router = router.layer(axum::middleware::from_fn(
            move |req: Request, next: Next| {
                let headers = headers.clone();
                async move {
                    let mut res = next.run(req).await;
                    for (k, v) in headers.iter() {
                        res.headers_mut().insert(k.clone(), v.clone());
                    }
                    res
                }
            },
        ));
    }
    if let Some(auth) = &setup.auth {
        router = router.layer(axum::middleware::from_fn_with_state(
            auth.clone(),
            basic_auth_middleware,
        ));
    }
    router
}

async fn basic_auth_middleware(
    State(auth): State<Arc<BasicAuth>>,
    req: Request,
    next: Next,
) -> Response {
    if auth.check(req.headers().get(header::AUTHORIZATION)).await {
        next.run(req).await
    } else {
        (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Basic")],
            "Unauthorized\n",
        )
            .into_response()
    }
}

fn landing_html(page: &LandingPage, links: &[(String, String)]) -> String {
    let mut items = String::new();
    for (href, text) in links {
        items.push_str(&format!(
            "<li><a href=\"{}\">{}</a></li>",
            html_escape(href),
            html_escape(text)
        ));
    }
    format!(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{name}</title></head>\
         <body><h1>{name}</h1><p>{desc}</p><p>Version: {version}</p><ul>{items}</ul></body></html>\n",
        name = html_escape(page.name),
        desc = html_escape(page.description),
        version = html_escape(page.version),
    )
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The time a scrape may take: Prometheus' `X-Prometheus-Scrape-Timeout-Seconds` minus a small
/// margin (so our answer arrives before Prometheus gives up), capped by `--web.max-scrape-timeout`.
///
/// The header is client input: whatever it holds (`1e20`, `inf`, `NaN`, `-3`, bytes that are not
/// text) gives a usable duration, never a panic. A value too large is clamped to the cap; one
/// that is not a positive number is ignored. The result never exceeds [`MAX_DURATION`], so a
/// caller may add it to an `Instant`.
pub fn scrape_timeout(headers: &HeaderMap, cap: Duration) -> Duration {
    let cap = cap.min(MAX_DURATION);
    let asked = headers
        .get("x-prometheus-scrape-timeout-seconds")
        .and_then(|v| v.to_str().ok())
        .and_then(parse_timeout_seconds);
    let t = match asked {
        Some(asked) => asked.min(cap),
        None => cap,
    };
    let margin = (t / 10).min(Duration::from_millis(500));
    t.saturating_sub(margin).max(Duration::from_millis(50))
}

/// A client's "seconds" value as a duration: `None` unless it is a positive number; a number
/// too large for a `Duration` (anything from 2^64 s up, `inf` included) saturates to
/// `Duration::MAX` instead of panicking.
pub fn parse_timeout_seconds(text: &str) -> Option<Duration> {
    let secs: f64 = text.trim().parse().ok()?;
    if secs.is_nan() || secs <= 0.0 {
        return None;
    }
    Some(Duration::try_from_secs_f64(secs).unwrap_or(Duration::MAX))
}

/// The `/metrics` response: text format 0.0.4, gzip when the scraper accepts it. A
/// [`MetricsBody`](crate::body::MetricsBody) shared by coalesced scrapes is compressed once for
/// all of them.
pub fn metrics_response(
    body: impl Into<crate::body::MetricsBody>,
    headers: &HeaderMap,
) -> Response {
    let body: crate::body::MetricsBody = body.into();
    const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";
    if accepts_gzip(headers)
        && let Some(gz) = body.gzip()
    {
        return Response::builder()
            .header(header::CONTENT_TYPE, CONTENT_TYPE)
            .header(header::CONTENT_ENCODING, "gzip")
            .header(header::VARY, "Accept-Encoding")
            .body(Body::from(gz))
            .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response());
    }
    Response::builder()
        .header(header::CONTENT_TYPE, CONTENT_TYPE)
        .body(Body::from(body.text().clone()))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

/// Whether `Accept-Encoding` allows gzip (present and not `q=0`). Client input: any bytes give
/// an answer, never a panic.
pub fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|part| {
            let mut it = part.split(';');
            let coding = it.next().unwrap_or("").trim();
            let q_zero = it.any(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f64>().ok())
                    .is_some_and(|q| q == 0.0)
            });
            coding.eq_ignore_ascii_case("gzip") && !q_zero
        })
}

/// Binds every listen address. Separate from [`serve`] so that callers can report a port in use
/// before they start anything else.
pub async fn bind(setup: &WebSetup) -> Result<Vec<TcpListener>, WebError> {
    let mut listeners = Vec::new();
    for address in &setup.listen {
        let listener = bind_one(*address).map_err(|error| WebError::Bind {
            address: *address,
            reason: io_reason(&error),
            kind: error.kind(),
        })?;
        listeners.push(listener);
    }
    Ok(listeners)
}

fn bind_one(address: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if address.is_ipv6() {
        tokio::net::TcpSocket::new_v6()?
    } else {
        tokio::net::TcpSocket::new_v4()?
    };
    socket.set_reuseaddr(true)?;
    match socket.bind(address) {
        Ok(()) => socket.listen(1024),
        // No IPv6 on this host: Go falls back to IPv4 for ":port"; so do we.
        Err(error) if address.ip() == Ipv6Addr::UNSPECIFIED => {
            let v4 = SocketAddr::from(([0, 0, 0, 0], address.port()));
            let socket = tokio::net::TcpSocket::new_v4()?;
            socket.set_reuseaddr(true)?;
            socket.bind(v4).map_err(|_| error)?;
            socket.listen(1024)
        }
        Err(error) => Err(error),
    }
}

/// File descriptors left for everything but client connections: backend connections, files
/// read during a scrape, the runtime's own. A quarter of the limit, at least 32.
fn fd_reserve(soft_limit: u64) -> u64 {
    (soft_limit / 4).max(32)
}

/// The process-wide budget of client connections that the open-file limit allows, shared by
/// every [`serve`] of the process (the agent serves three exporters). `None` when the limit is
/// unknown or so high it never binds.
fn fd_budget() -> Option<Arc<tokio::sync::Semaphore>> {
    static BUDGET: OnceLock<Option<Arc<tokio::sync::Semaphore>>> = OnceLock::new();
    BUDGET
        .get_or_init(|| {
            let (soft, open) = fd_usage()?;
            let budget = soft.saturating_sub(open).saturating_sub(fd_reserve(soft));
            // Above this the per-setup limit binds first anyway.
            if budget >= 1 << 16 {
                return None;
            }
            Some(Arc::new(
                tokio::sync::Semaphore::new(budget.max(1) as usize),
            ))
        })
        .clone()
}

/// `(soft RLIMIT_NOFILE, fds open now)`, from /proc/self.
#[cfg(target_os = "linux")]
fn fd_usage() -> Option<(u64, u64)> {
    let me = procfs::process::Process::myself().ok()?;
    let soft = match me.limits().ok()?.max_open_files.soft_limit {
        procfs::process::LimitValue::Value(v) => v,
        procfs::process::LimitValue::Unlimited => return None,
    };
    let open = me.fd_count().ok()? as u64;
    Some((soft, open))
}

#[cfg(not(target_os = "linux"))]
fn fd_usage() -> Option<(u64, u64)> {
    None
}

/// How long a condition (accept failing, the connection limit reached) must stay away before
/// its end is logged; until then a repeat is part of the same episode and not logged again.
const QUIET: Duration = Duration::from_secs(10);

/// A condition that is logged once when it starts and once when it has stayed away for
/// [`QUIET`], never once per occurrence: 500 refused connections are one warning.
#[derive(Debug, Default)]
struct Episode {
    active: bool,
    last: Option<Instant>,
    count: u64,
}

impl Episode {
    /// Records one occurrence; true when it starts an episode (log it).
    fn hit(&mut self, now: Instant) -> bool {
        self.count += 1;
        self.last = Some(now);
        !std::mem::replace(&mut self.active, true)
    }

    /// On a success: `Some(occurrences)` when an episode has been quiet long enough to end.
    fn quiet(&mut self, now: Instant) -> Option<u64> {
        let last = self.last?;
        if self.active && now.saturating_duration_since(last) >= QUIET {
            self.active = false;
            return Some(std::mem::take(&mut self.count));
        }
        None
    }
}

/// The pause after a failed `accept`: 10 ms, doubling per consecutive failure, at most 1 s, and
/// back to 10 ms after a success. A failing accept (EMFILE) leaves the connection in the backlog
/// and fails again at once, so without a pause the loop would spin a core.
#[derive(Debug)]
struct AcceptBackoff {
    next: Duration,
}

impl AcceptBackoff {
    const FIRST: Duration = Duration::from_millis(10);
    const MAX: Duration = Duration::from_secs(1);

    fn new() -> Self {
        Self { next: Self::FIRST }
    }

    /// The pause after one more failure.
    fn failed(&mut self) -> Duration {
        let pause = self.next;
        self.next = self.next.saturating_mul(2).min(Self::MAX);
        pause
    }

    fn succeeded(&mut self) {
        self.next = Self::FIRST;
    }
}

/// Serves `router` on the bound listeners (TLS when configured) until `shutdown` resolves, then
/// lets in-flight requests finish for up to 5 seconds.
///
/// Hostile clients are bounded by [`WebSetup::limits`]: a client that does not send its headers
/// in time is disconnected, connections beyond the limit (or beyond what the open-file limit
/// allows) are closed at once, and a failing `accept` (EMFILE) backs off exponentially. Each of
/// these is logged once when it starts and once when it ends, and counted
/// ([`WebSetup::connection_stats`]).
pub async fn serve(
    listeners: Vec<TcpListener>,
    setup: &WebSetup,
    router: Router,
    shutdown: impl std::future::Future<Output = ()> + Send,
) {
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let connections = tokio_util::task::TaskTracker::new();
    let mut acceptors = tokio::task::JoinSet::new();
    let limits = setup.limits;
    let own = Arc::new(tokio::sync::Semaphore::new(limits.max_connections.max(1)));
    let budget = fd_budget();
    let effective = match &budget {
        Some(b) => limits.max_connections.min(b.available_permits()).max(1),
        None => limits.max_connections.max(1),
    };
    for listener in listeners {
        let router = router.clone();
        let tls = setup.tls.clone();
        let mut stop = stop_rx.clone();
        let connections = connections.clone();
        let stats = Arc::clone(&setup.stats);
        let own = Arc::clone(&own);
        let budget = budget.clone();
        let address = listener
            .local_addr()
            .map(|a| a.to_string())
            .unwrap_or_default();
        acceptors.spawn(async move {
            let mut accept_failing = Episode::default();
            let mut at_limit = Episode::default();
            let mut backoff = AcceptBackoff::new();
            loop {
                let accepted = tokio::select! {
                    _ = stop.changed() => break,
                    accepted = listener.accept() => accepted,
                };
                let now = Instant::now();
                let stream = match accepted {
                    Ok((stream, _)) => stream,
                    Err(error) => {
                        // EMFILE and friends: the connection stays in the backlog; back off
                        // instead of spinning, and say so once, not per attempt.
                        stats.accept_errors.fetch_add(1, Relaxed);
                        if accept_failing.hit(now) {
                            tracing::warn!(address = %address, error = %error, "Accepting connections fails; backing off until it recovers.");
                        }
                        let pause = backoff.failed();
                        tokio::select! {
                            _ = stop.changed() => break,
                            _ = tokio::time::sleep(pause) => {}
                        }
                        continue;
                    }
                };
                backoff.succeeded();
                if let Some(failures) = accept_failing.quiet(now) {
                    tracing::info!(address = %address, failures, "Accepting connections works again.");
                }
                let permits = match own.clone().try_acquire_owned() {
                    Ok(p) => match &budget {
                        Some(b) => b.clone().try_acquire_owned().ok().map(|f| (p, Some(f))),
                        None => Some((p, None)),
                    },
                    Err(_) => None,
                };
                let Some(permits) = permits else {
                    // Closed at once: the client learns now, and the descriptor is free again.
                    stats.refused.fetch_add(1, Relaxed);
                    if at_limit.hit(now) {
                        tracing::warn!(address = %address, limit = effective, "Connection limit reached; closing new connections until some finish.");
                    }
                    drop(stream);
                    continue;
                };
                if let Some(refused) = at_limit.quiet(now) {
                    tracing::info!(address = %address, refused, "Below the connection limit again.");
                }
                stats.accepted.fetch_add(1, Relaxed);
                stats.active.fetch_add(1, Relaxed);
                let _ = stream.set_nodelay(true);
                let router = router.clone();
                let tls = tls.clone();
                let stop = stop.clone();
                let stats = Arc::clone(&stats);
                connections.spawn(async move {
                    let _permits = permits;
                    let timed_out = match tls {
                        Some(acceptor) => {
                            // Bound the handshake so a silent client cannot hold a slot forever.
                            let handshake = tokio::time::timeout(
                                limits.tls_handshake_timeout,
                                acceptor.accept(stream),
                            )
                            .await;
                            match handshake {
                                Ok(Ok(tls_stream)) => {
                                    serve_connection(TokioIo::new(tls_stream), router, stop, &limits)
                                        .await
                                }
                                Ok(Err(_)) => false,
                                Err(_) => true,
                            }
                        }
                        None => serve_connection(TokioIo::new(stream), router, stop, &limits).await,
                    };
                    if timed_out {
                        stats.header_timeouts.fetch_add(1, Relaxed);
                    }
                    stats.active.fetch_sub(1, Relaxed);
                });
            }
        });
    }
    drop(stop_rx);
    shutdown.await;
    let _ = stop_tx.send(true);
    while acceptors.join_next().await.is_some() {}
    connections.close();
    let _ = tokio::time::timeout(Duration::from_secs(5), connections.wait()).await;
}

/// Serves one connection; true when it ended because the client was too slow with its headers.
async fn serve_connection<I>(
    io: I,
    router: Router,
    mut stop: tokio::sync::watch::Receiver<bool>,
    limits: &ConnectionLimits,
) -> bool
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let service = hyper_util::service::TowerToHyperService::new(router);
    let conn = hyper::server::conn::http1::Builder::new()
        .header_read_timeout(limits.header_read_timeout)
        .timer(hyper_util::rt::TokioTimer::new())
        .serve_connection(io, service);
    let mut conn = std::pin::pin!(conn);
    let result = tokio::select! {
        r = conn.as_mut() => r,
        _ = stop.changed() => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    matches!(result, Err(error) if error.is_timeout())
}

/// Resolves on SIGTERM or SIGINT (Ctrl-C).
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            (Ok(mut term), Ok(mut int)) => {
                tokio::select! {
                    _ = term.recv() => {},
                    _ = int.recv() => {},
                }
            }
            _ => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
    tracing::info!("Shutting down.");
}

/// Entry points for the fuzz targets (`fuzz/`, cargo-fuzz) and for the bounded corpus tests in
/// `tests/fuzz_request_parsing_corpus.rs`, so both drive exactly the same code. Each takes
/// arbitrary bytes and panics only when an invariant breaks. Not an API.
#[doc(hidden)]
pub mod fuzzing {
    use super::*;

    /// Splits `data` into `name: value` header pairs (one per line) the way a client could send
    /// them, and runs every header parser of the request path on them.
    pub fn request_headers(data: &[u8]) {
        let mut headers = HeaderMap::new();
        for line in data.split(|b| *b == b'\n') {
            let (name, value) = match line.iter().position(|b| *b == b':') {
                Some(i) => (&line[..i], &line[i + 1..]),
                None => (&b"x-prometheus-scrape-timeout-seconds"[..], line),
            };
            if let (Ok(name), Ok(value)) = (
                http::HeaderName::from_bytes(name),
                HeaderValue::from_bytes(value),
            ) {
                headers.append(name, value);
            }
        }
        for cap in [
            Duration::ZERO,
            Duration::from_millis(1),
            Duration::from_secs(10),
            MAX_DURATION,
            Duration::MAX,
        ] {
            let t = scrape_timeout(&headers, cap);
            assert!(t <= MAX_DURATION, "{t:?}");
            assert!(t >= Duration::from_millis(50), "{t:?}");
            // What an exporter does with it: must not overflow.
            let _ = std::time::Instant::now() + t;
        }
        let _ = accepts_gzip(&headers);
        if let Some(v) = headers.get(header::AUTHORIZATION) {
            let _ = decode_basic(v);
        }
        for v in headers.values() {
            if let Ok(text) = v.to_str() {
                let _ = parse_timeout_seconds(text);
            }
        }
    }

    /// Everything else core parses from operator or client text: durations, the web config
    /// file, Go-style flags.
    pub fn core_parsers(data: &[u8]) {
        let text = String::from_utf8_lossy(data);
        if let Ok(d) = parse_duration(&text) {
            assert!(d <= MAX_DURATION);
        }
        let _ = parse_timeout_seconds(&text);
        let _ = crate::yaml::from_str::<WebConfigFile>(&text);
        let args: Vec<std::ffi::OsString> = std::iter::once("prog".into())
            .chain(text.split_whitespace().map(Into::into))
            .collect();
        let cmd = <WebArgs as clap::Args>::augment_args(clap::Command::new("prog"));
        let cmd = <crate::logging::LogArgs as clap::Args>::augment_args(cmd);
        let normalized = crate::cli::normalize_go_flags(&cmd, args);
        if let Ok(m) = cmd.try_get_matches_from(normalized) {
            let _ = <WebArgs as clap::FromArgMatches>::from_arg_matches(&m);
        }
        if text.starts_with(':') {
            // Only the ":port" form: anything else would ask the resolver.
            let _ = resolve_listen_address(&text);
        }
    }

    /// Feeds `data` as the bytes of one client connection to the real connection handling
    /// (hyper with our limits) serving a router like an exporter's, and reads what comes back.
    pub fn http_request(data: &[u8]) {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let Ok(rt) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        rt.block_on(async {
            let args = WebArgs {
                listen_address: vec![":0".into()],
                telemetry_path: "/metrics".into(),
                config_file: None,
                max_scrape_timeout: Duration::from_secs(10),
            };
            let Ok(mut setup) = WebSetup::from_args(&args, ":0") else {
                return;
            };
            setup.limits.header_read_timeout = Duration::from_millis(200);
            let router = finish_router(
                Router::new().route(
                    "/metrics",
                    get(|headers: HeaderMap| async move {
                        let t = scrape_timeout(&headers, Duration::from_secs(10));
                        let deadline = tokio::time::Instant::now() + t;
                        let _ = deadline;
                        metrics_response("demo_up 1\n", &headers)
                    }),
                ),
                &setup,
                LandingPage {
                    name: "fuzz",
                    description: "fuzz",
                    version: "0",
                    links: vec![],
                },
            );
            let (mut client, server) = tokio::io::duplex(64 * 1024);
            let (_stop_tx, stop_rx) = tokio::sync::watch::channel(false);
            let limits = setup.limits;
            let serve = serve_connection(TokioIo::new(server), router, stop_rx, &limits);
            let talk = async move {
                let _ = client.write_all(data).await;
                let _ = client.shutdown().await;
                let mut out = Vec::new();
                let _ = client.read_to_end(&mut out).await;
                out
            };
            let _ =
                tokio::time::timeout(Duration::from_secs(5), async { tokio::join!(serve, talk) })
                    .await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_like_go() {
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("15s").unwrap(), Duration::from_secs(15));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("3").unwrap(), Duration::from_secs(3));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("5y").is_err());
        // Past 2^64 s `Duration::from_secs_f64` would panic; past a year is refused.
        assert!(parse_duration("100000000000000000000000").is_err());
        assert!(parse_duration("99999999999999999999h").is_err());
        assert!(parse_duration("8785h").is_err());
        assert_eq!(parse_duration("8784h").unwrap(), MAX_DURATION);
    }

    #[test]
    fn client_seconds_never_panic_and_saturate() {
        assert_eq!(parse_timeout_seconds("1e20"), Some(Duration::MAX));
        assert_eq!(parse_timeout_seconds("inf"), Some(Duration::MAX));
        assert_eq!(parse_timeout_seconds("NaN"), None);
        assert_eq!(parse_timeout_seconds("-1"), None);
        assert_eq!(parse_timeout_seconds("0"), None);
        assert_eq!(parse_timeout_seconds("x"), None);
        assert_eq!(
            parse_timeout_seconds(" 2.5 "),
            Some(Duration::from_millis(2500))
        );
        let mut h = HeaderMap::new();
        h.insert(
            "x-prometheus-scrape-timeout-seconds",
            HeaderValue::from_static("1e20"),
        );
        // A cap beyond MAX_DURATION (a library caller's Duration::MAX) is bounded too, so
        // `Instant::now() + scrape_timeout(..)` cannot overflow.
        let t = scrape_timeout(&h, Duration::MAX);
        assert!(t <= MAX_DURATION);
        let _ = std::time::Instant::now() + t;
    }

    #[test]
    fn go_style_listen_addresses_resolve() {
        let any = resolve_listen_address(":9121").unwrap();
        assert_eq!(any[0].port(), 9121);
        assert!(any[0].ip().is_unspecified());
        let lo = resolve_listen_address("127.0.0.1:9187").unwrap();
        assert_eq!(lo[0], "127.0.0.1:9187".parse().unwrap());
        assert!(resolve_listen_address(":http").is_err());
    }

    #[test]
    fn scrape_timeout_honours_header_and_cap() {
        let mut h = HeaderMap::new();
        assert_eq!(
            scrape_timeout(&h, Duration::from_secs(10)),
            Duration::from_millis(9500)
        );
        h.insert(
            "x-prometheus-scrape-timeout-seconds",
            HeaderValue::from_static("2"),
        );
        assert_eq!(
            scrape_timeout(&h, Duration::from_secs(10)),
            Duration::from_millis(1800)
        );
        h.insert(
            "x-prometheus-scrape-timeout-seconds",
            HeaderValue::from_static("garbage"),
        );
        assert_eq!(
            scrape_timeout(&h, Duration::from_secs(1)),
            Duration::from_millis(900)
        );
    }

    #[test]
    fn basic_header_decodes() {
        let v = HeaderValue::from_static("Basic dXNlcjpwYXNzOndvcmQ=");
        assert_eq!(
            decode_basic(&v),
            Some(("user".to_owned(), "pass:word".to_owned()))
        );
        assert_eq!(decode_basic(&HeaderValue::from_static("Basic !!!")), None);
    }

    #[test]
    fn an_episode_is_logged_once_when_it_starts_and_once_when_it_ends() {
        let t0 = Instant::now();
        let mut e = Episode::default();
        // A success before anything failed ends nothing.
        assert_eq!(e.quiet(t0), None);
        // 500 failures in a row: only the first starts the episode (one warning).
        let starts = (0..500u64)
            .filter(|i| e.hit(t0 + Duration::from_millis(*i)))
            .count();
        assert_eq!(starts, 1);
        let last = t0 + Duration::from_millis(499);
        // Successes soon after the last failure do not end it yet: the next failure would be
        // part of the same episode.
        assert_eq!(e.quiet(last + QUIET / 2), None);
        assert!(!e.hit(last + QUIET / 2));
        let last = last + QUIET / 2;
        assert_eq!(e.quiet(last + QUIET - Duration::from_millis(1)), None);
        // Quiet for QUIET: ended once (one info line), with the count of the episode.
        assert_eq!(e.quiet(last + QUIET), Some(501));
        assert_eq!(e.quiet(last + QUIET * 2), None);
        // The next failure starts a new episode, counted from zero.
        let later = last + QUIET * 3;
        assert!(e.hit(later));
        assert!(!e.hit(later));
        assert_eq!(e.quiet(later + QUIET), Some(2));
    }

    #[test]
    fn the_accept_backoff_doubles_up_to_one_second_and_resets_on_success() {
        let mut b = AcceptBackoff::new();
        let pauses: Vec<u64> = (0..10).map(|_| b.failed().as_millis() as u64).collect();
        assert_eq!(pauses, [10, 20, 40, 80, 160, 320, 640, 1000, 1000, 1000]);
        // Thousands of failures (a long EMFILE spell) stay capped, never overflow.
        for _ in 0..10_000 {
            assert!(b.failed() <= AcceptBackoff::MAX);
        }
        b.succeeded();
        assert_eq!(b.failed(), AcceptBackoff::FIRST);
    }
}
