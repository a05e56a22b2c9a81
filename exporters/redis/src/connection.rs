//! Opening a connection to Redis through our own socket, so that every byte Redis sends is
//! counted against a cap before redis-rs buffers it.
//!
//! Why at the socket: redis-rs reads replies into its own buffer until a reply is complete, so a
//! backend that answers `+` and then streams bytes without a line end, or announces
//! `$2147483647`, makes that buffer grow without bound (issue 17 item 1: 1.86 GiB after 12
//! scrapes). The parser offers no limit, and parsing RESP ourselves would mean re-doing AUTH,
//! HELLO, SELECT and the multiplexing redis-rs already gets right. A byte counter under the parser
//! bounds every reply — INFO, CONFIG, SLOWLOG, CLIENT LIST, EVAL, key checks — without knowing
//! any of them: once a scrape has read more than `--max-reply-bytes` the read fails, redis-rs
//! fails the pending requests, the connection and its buffer are dropped, and the scrape reports
//! `redis_up 0` with `err="reply too large"`.
//!
//! The budget is per connection and restarts with every scrape, so an idle connection can hold at
//! most one budget of unread bytes and a scrape at most two.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll};

use mcp_exporter_core::tls::AcceptAnyCertificate;
use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, ConnectionAddr, ConnectionInfo};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::error::{ScrapeError, classify_connect};

/// The default of `--max-reply-bytes`: far above any real INFO ALL or CONFIG GET * (tens of KiB),
/// far below what hurts an exporter.
pub const DEFAULT_MAX_REPLY_BYTES: u64 = 64 * 1024 * 1024;

/// Bytes read on one connection since the current scrape began.
#[derive(Debug)]
pub struct ReplyBudget {
    read: AtomicU64,
    cap: u64,
    exceeded: AtomicBool,
}

impl ReplyBudget {
    /// A budget of `cap` bytes per scrape.
    pub fn new(cap: u64) -> Arc<Self> {
        Arc::new(ReplyBudget {
            read: AtomicU64::new(0),
            cap,
            exceeded: AtomicBool::new(false),
        })
    }

    /// Starts a scrape's budget.
    pub fn restart(&self) {
        self.read.store(0, Ordering::Relaxed);
    }

    /// Whether a read on this connection ever went over the cap.
    pub fn exceeded(&self) -> bool {
        self.exceeded.load(Ordering::Relaxed)
    }
}

/// A stream whose reads fail once the budget is spent.
struct Capped<S> {
    inner: S,
    budget: Arc<ReplyBudget>,
}

impl<S: AsyncRead + Unpin> AsyncRead for Capped<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let result = Pin::new(&mut this.inner).poll_read(cx, buf);
        let n = (buf.filled().len() - before) as u64;
        let total = this.budget.read.fetch_add(n, Ordering::Relaxed) + n;
        if total > this.budget.cap {
            this.budget.exceeded.store(true, Ordering::Relaxed);
            return Poll::Ready(Err(io::Error::other("reply larger than --max-reply-bytes")));
        }
        result
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Capped<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

trait Stream: AsyncRead + AsyncWrite + Send + Unpin {}
impl<S: AsyncRead + AsyncWrite + Send + Unpin> Stream for S {}

/// PEM files for `rediss://`, read at startup.
#[derive(Clone)]
pub struct TlsFiles {
    /// Client certificate chain and key.
    pub client: Option<(Vec<u8>, Vec<u8>)>,
    /// CA certificates; the system roots when `None`.
    pub ca: Option<Vec<u8>>,
}

impl std::fmt::Debug for TlsFiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsFiles")
            .field("client", &self.client.is_some())
            .field("ca", &self.ca.is_some())
            .finish()
    }
}

/// How to reach one target: the address, the credentials and, for `rediss://`, the TLS setup.
pub struct Connector {
    info: ConnectionInfo,
    tls: Option<Arc<rustls::ClientConfig>>,
    max_reply_bytes: u64,
}

impl std::fmt::Debug for Connector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connector")
            .field("tls", &self.tls.is_some())
            .finish()
    }
}

/// A live connection, its reply budget and the task that drives it.
pub struct Connection {
    /// The shared redis-rs handle.
    pub conn: MultiplexedConnection,
    /// Bytes read in the current scrape.
    pub budget: Arc<ReplyBudget>,
    driver: tokio::task::AbortHandle,
}

impl Drop for Connection {
    fn drop(&mut self) {
        // redis-rs' driver finishes the requests in flight before it closes, which against a
        // hung or endless backend is never: stop it, which closes the socket and frees its buffer.
        self.driver.abort();
    }
}

impl Connector {
    /// A connector for `info`; `insecure` skips certificate checks for `rediss://`.
    pub fn new(
        info: ConnectionInfo,
        tls: Option<&TlsFiles>,
        insecure: bool,
        max_reply_bytes: u64,
    ) -> Result<Self, String> {
        let tls = match &info.addr {
            ConnectionAddr::TcpTls {
                insecure: url_insecure,
                ..
            } => Some(Arc::new(client_config(tls, insecure || *url_insecure)?)),
            _ => None,
        };
        Ok(Connector {
            info,
            tls,
            max_reply_bytes,
        })
    }

    /// Connects, authenticates and selects the database (redis-rs' setup), all before `timeout`.
    pub async fn connect(&self, config: AsyncConnectionConfig) -> Result<Connection, ScrapeError> {
        let budget = ReplyBudget::new(self.max_reply_bytes);
        let stream: Box<dyn Stream> = match &self.info.addr {
            ConnectionAddr::Tcp(host, port) => {
                let tcp = tcp(host, *port).await?;
                Box::new(Capped {
                    inner: tcp,
                    budget: budget.clone(),
                })
            }
            ConnectionAddr::TcpTls { host, port, .. } => {
                let Some(tls) = &self.tls else {
                    return Err(ScrapeError::Connect("tls not configured".into()));
                };
                let tcp = tcp(host, *port).await?;
                let capped = Capped {
                    inner: tcp,
                    budget: budget.clone(),
                };
                let name = ServerName::try_from(host.clone())
                    .map_err(|_| ScrapeError::Connect("invalid tls server name".into()))?;
                let stream = tokio_rustls::TlsConnector::from(tls.clone())
                    .connect(name, capped)
                    .await
                    .map_err(|_| ScrapeError::Connect("tls handshake failed".into()))?;
                Box::new(stream)
            }
            #[cfg(unix)]
            ConnectionAddr::Unix(path) => {
                let unix = tokio::net::UnixStream::connect(path)
                    .await
                    .map_err(|e| connect_error(&e))?;
                Box::new(Capped {
                    inner: unix,
                    budget: budget.clone(),
                })
            }
            // redis-rs parses unix:// everywhere; tokio has Unix sockets only on Unix.
            #[cfg(not(unix))]
            ConnectionAddr::Unix(_) => {
                return Err(ScrapeError::Connect(
                    "unix sockets are not supported on this platform".into(),
                ));
            }
        };
        let (conn, driver) =
            MultiplexedConnection::new_with_config(&self.info.redis, stream, config)
                .await
                .map_err(|e| {
                    if budget.exceeded() {
                        ScrapeError::TooLarge
                    } else {
                        classify_connect(&e)
                    }
                })?;
        let driver = tokio::spawn(driver).abort_handle();
        Ok(Connection {
            conn,
            budget,
            driver,
        })
    }
}

async fn tcp(host: &str, port: u16) -> Result<tokio::net::TcpStream, ScrapeError> {
    let stream = tokio::net::TcpStream::connect((host, port))
        .await
        .map_err(|e| connect_error(&e))?;
    let _ = stream.set_nodelay(true);
    Ok(stream)
}

/// A connect error as a stable category: the same outage always reads the same.
pub fn connect_error(e: &io::Error) -> ScrapeError {
    use io::ErrorKind;
    ScrapeError::Connect(
        match e.kind() {
            ErrorKind::ConnectionRefused => "connection refused",
            ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted => "connection reset",
            ErrorKind::NotFound => "no such socket",
            ErrorKind::PermissionDenied => "permission denied",
            ErrorKind::TimedOut => return ScrapeError::Timeout,
            _ => "io error",
        }
        .into(),
    )
}

fn client_config(files: Option<&TlsFiles>, insecure: bool) -> Result<rustls::ClientConfig, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    let builder = if insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(AcceptAnyCertificate::new(provider))
    } else {
        let mut roots = rustls::RootCertStore::empty();
        match files.and_then(|f| f.ca.as_deref()) {
            Some(pem) => {
                for cert in CertificateDer::pem_slice_iter(pem) {
                    let cert = cert.map_err(|_| "--tls-ca-cert-file: not a PEM certificate")?;
                    roots
                        .add(cert)
                        .map_err(|_| "--tls-ca-cert-file: unusable certificate")?;
                }
            }
            None => {
                for cert in rustls_native_certs::load_native_certs().certs {
                    let _ = roots.add(cert);
                }
            }
        }
        builder.with_root_certificates(roots)
    };
    match files.and_then(|f| f.client.as_ref()) {
        Some((cert, key)) => {
            let chain = CertificateDer::pem_slice_iter(cert)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|_| "--tls-client-cert-file: not a PEM certificate")?;
            let key = PrivateKeyDer::from_pem_slice(key)
                .map_err(|_| "--tls-client-key-file: not a PEM private key")?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|_| "--tls-client-cert-file and key do not match".into())
        }
        None => Ok(builder.with_no_client_auth()),
    }
}
