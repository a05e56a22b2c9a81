//! The exporter's own socket to PostgreSQL, with a cap on what one scrape may read.
//!
//! tokio-postgres buffers every backend message whole before handing it over, and reserves the
//! length a message announces: a server (or anything listening at its address) that announces a
//! 2 GiB message, or streams rows without end, would grow the exporter's memory without bound
//! (issue 17: 1.06 GiB in a drill). The cap therefore sits below the driver, at the socket: past
//! [`READ_CAP`] bytes in one scrape the next read fails, the driver closes the connection, every
//! collector fails with a message naming the cap, `pg_up` is 0, and the buffers are freed with
//! the connection. The next scrape connects afresh.
//!
//! The check runs after each read, so a scrape can overshoot by one socket read (the kernel's
//! receive buffer, a few MiB at most).

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::reason::Reason;

/// Bytes one scrape may read from a server (64 MiB: a default scrape of a busy server reads well
/// under 1 MiB; the largest legitimate answers, `stat_user_tables` of a database with tens of
/// thousands of tables, stay below it).
pub const READ_CAP: u64 = 64 << 20;

/// What is left of a connection's per-scrape read allowance.
#[derive(Debug)]
pub struct ReadBudget {
    cap: u64,
    left: AtomicU64,
    /// A read was refused because the budget ran out (by bytes, or after a row cut: then both
    /// flags are set, and the row cut is the cause).
    exceeded: AtomicBool,
    /// The allowance was withdrawn because a statement returned more rows than
    /// [`crate::session::MAX_ROWS`]: the connection is dropped like at the byte cap.
    rows_cut: AtomicBool,
}

impl ReadBudget {
    /// A full budget of `cap` bytes.
    pub fn new(cap: u64) -> Arc<Self> {
        Arc::new(Self {
            cap,
            left: AtomicU64::new(cap),
            exceeded: AtomicBool::new(false),
            rows_cut: AtomicBool::new(false),
        })
    }

    /// Refills the budget; called at the start of every scrape.
    pub fn reset(&self) {
        self.left.store(self.cap, Ordering::Relaxed);
    }

    /// The cap, in bytes.
    pub fn cap(&self) -> u64 {
        self.cap
    }

    /// Withdraws what is left, after a statement returned more than
    /// [`crate::session::MAX_ROWS`] rows: the next read fails, so the driver stops reading (and
    /// discarding) the rest of an endless answer and closes the connection, as at the byte cap.
    pub fn cut_at_row_cap(&self) {
        self.rows_cut.store(true, Ordering::Relaxed);
        self.left.store(0, Ordering::Relaxed);
    }

    /// Which cap cut the connection off, if one did. The row cap comes first: after a row cut
    /// the next read is refused too and sets the byte flag, but the rows were the cause.
    pub fn cut(&self) -> Option<Reason> {
        if self.rows_cut.load(Ordering::Relaxed) {
            Some(Reason::RowCap)
        } else if self.exceeded.load(Ordering::Relaxed) {
            Some(Reason::ReadCap)
        } else {
            None
        }
    }

    /// Whether the connection is cut off, by either cap.
    pub fn spent(&self) -> bool {
        self.cut().is_some()
    }

    /// The error a collector reports once a cap was hit (the byte cap's text until one is, for
    /// the read that is about to be refused).
    pub fn error_text(&self) -> String {
        match self.cut() {
            Some(Reason::RowCap) => format!(
                "a statement returned more than {} rows (the row cap); connection dropped",
                crate::session::MAX_ROWS
            ),
            _ => format!(
                "PostgreSQL sent more than {} MiB in one scrape (the read cap); connection dropped",
                self.cap >> 20
            ),
        }
    }

    fn spend(&self, n: usize) {
        let n = n as u64;
        let _ = self
            .left
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| {
                Some(left.saturating_sub(n))
            });
    }
}

enum Inner {
    Tcp(tokio::net::TcpStream),
    #[cfg(unix)]
    Unix(tokio::net::UnixStream),
}

/// A TCP or Unix socket whose reads draw on a [`ReadBudget`].
pub struct CappedStream {
    inner: Inner,
    budget: Arc<ReadBudget>,
}

impl std::fmt::Debug for CappedStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CappedStream")
            .field("budget", &self.budget)
            .finish()
    }
}

/// Opens the socket to `host:port` (a host starting with `/` is a Unix socket directory, as
/// libpq), within `timeout`, with TCP keepalives after 30 s idle so a silently dropped network
/// is noticed.
pub async fn open(
    host: &str,
    port: u16,
    timeout: Duration,
    budget: Arc<ReadBudget>,
) -> io::Result<CappedStream> {
    let connect = async {
        #[cfg(unix)]
        if host.starts_with('/') {
            let path = format!("{}/.s.PGSQL.{port}", host.trim_end_matches('/'));
            return io::Result::Ok(Inner::Unix(tokio::net::UnixStream::connect(path).await?));
        }
        let stream = tokio::net::TcpStream::connect((host, port)).await?;
        stream.set_nodelay(true)?;
        let keepalive = socket2::TcpKeepalive::new().with_time(Duration::from_secs(30));
        socket2::SockRef::from(&stream).set_tcp_keepalive(&keepalive)?;
        io::Result::Ok(Inner::Tcp(stream))
    };
    let inner = tokio::time::timeout(timeout, connect)
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "connect timed out"))??;
    Ok(CappedStream { inner, budget })
}

impl AsyncRead for CappedStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.budget.left.load(Ordering::Relaxed) == 0 {
            this.budget.exceeded.store(true, Ordering::Relaxed);
            return Poll::Ready(Err(io::Error::other(this.budget.error_text())));
        }
        let before = buf.filled().len();
        let poll = match &mut this.inner {
            Inner::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            #[cfg(unix)]
            Inner::Unix(s) => Pin::new(s).poll_read(cx, buf),
        };
        this.budget.spend(buf.filled().len().saturating_sub(before));
        poll
    }
}

impl AsyncWrite for CappedStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match &mut self.get_mut().inner {
            Inner::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            #[cfg(unix)]
            Inner::Unix(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().inner {
            Inner::Tcp(s) => Pin::new(s).poll_flush(cx),
            #[cfg(unix)]
            Inner::Unix(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().inner {
            Inner::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            #[cfg(unix)]
            Inner::Unix(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_read_is_the_read_cap() {
        let b = ReadBudget::new(10);
        b.spend(10);
        b.exceeded.store(true, Ordering::Relaxed);
        assert_eq!(b.cut(), Some(Reason::ReadCap));
        assert!(b.spent());
        assert!(b.error_text().contains("read cap"));
    }

    #[test]
    fn budget_runs_out_and_refills() {
        let b = ReadBudget::new(10);
        b.spend(4);
        b.spend(40);
        assert_eq!(b.left.load(Ordering::Relaxed), 0);
        b.reset();
        assert_eq!(b.left.load(Ordering::Relaxed), 10);
        assert!(b.error_text().contains("read cap"));
        assert!(!b.spent());
        assert_eq!(b.cut(), None);
        b.cut_at_row_cap();
        assert!(b.spent() && b.cut() == Some(Reason::RowCap));
        assert!(b.error_text().contains("row cap"));
        // The read refused after the row cut sets the byte flag too: still the row cap.
        b.exceeded.store(true, Ordering::Relaxed);
        assert_eq!(b.cut(), Some(Reason::RowCap));
        assert!(b.error_text().contains("row cap"));
    }
}
