//! Why a scrape failed, as a stable category: the `reason` label of
//! `postgres_exporter_last_scrape_error_reason` (issue 17, item 1).
//!
//! Upstream's `pg_up` and `pg_exporter_last_scrape_error` carry no labels and must keep it that
//! way (drop-in compatibility), so the reason is a family of its own, named like this exporter's
//! other additions (`postgres_exporter_dropped_series_total`). The categories are a small fixed
//! set, never an error text: one outage reads as one series, and no server message, host name or
//! password can reach a label. The redis exporter's `err` label (`redis/src/error.rs`) is the
//! model.

use std::io;

use mcp_exporter_core::CollectError;

/// The family.
pub const FAMILY: &str = "postgres_exporter_last_scrape_error_reason";
/// HELP of the family.
pub const HELP: &str = "Why the last scrape failed (1, with a stable category: read cap exceeded, row cap exceeded, connection refused, timeout, authentication failed, other), or 0 with an empty reason when it succeeded.";

/// Why a scrape failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// The server sent more than the per-scrape read cap ([`crate::socket::READ_CAP`]).
    ReadCap,
    /// A statement returned more than [`crate::session::MAX_ROWS`] rows.
    RowCap,
    /// Nothing listens at the server's address.
    ConnectionRefused,
    /// Connecting or a statement did not finish within the scrape's deadline.
    Timeout,
    /// The server refused the user or password.
    Authentication,
    /// Anything else (a statement failed, the connection was lost, a TLS or protocol error).
    Other,
}

impl Reason {
    /// The label value.
    pub fn label(self) -> &'static str {
        match self {
            Reason::ReadCap => "read cap exceeded",
            Reason::RowCap => "row cap exceeded",
            Reason::ConnectionRefused => "connection refused",
            Reason::Timeout => "timeout",
            Reason::Authentication => "authentication failed",
            Reason::Other => "other",
        }
    }

    /// A socket error.
    pub fn of_io(error: &io::Error) -> Reason {
        match error.kind() {
            io::ErrorKind::ConnectionRefused => Reason::ConnectionRefused,
            io::ErrorKind::TimedOut => Reason::Timeout,
            _ => Reason::Other,
        }
    }

    /// A driver error (the read caps are checked by the caller, which knows the socket).
    pub fn of_pg(error: &tokio_postgres::Error) -> Reason {
        use tokio_postgres::error::SqlState;
        if let Some(code) = error.code()
            && (*code == SqlState::INVALID_PASSWORD
                || *code == SqlState::INVALID_AUTHORIZATION_SPECIFICATION)
        {
            return Reason::Authentication;
        }
        match std::error::Error::source(error).and_then(|s| s.downcast_ref::<io::Error>()) {
            Some(io) => Reason::of_io(io),
            None => Reason::Other,
        }
    }

    /// A collector's failure.
    pub fn of_collect(error: &CollectError) -> Reason {
        match error {
            CollectError::Timeout => Reason::Timeout,
            CollectError::Io(io) => Reason::of_io(io),
            CollectError::Backend(_) | CollectError::Parse(_) => Reason::Other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_the_documented_fixed_set() {
        let all = [
            Reason::ReadCap,
            Reason::RowCap,
            Reason::ConnectionRefused,
            Reason::Timeout,
            Reason::Authentication,
            Reason::Other,
        ];
        for r in all {
            assert!(HELP.contains(r.label()), "{r:?} missing from the HELP");
        }
        assert_eq!(
            Reason::of_io(&io::Error::from(io::ErrorKind::ConnectionRefused)),
            Reason::ConnectionRefused
        );
        assert_eq!(Reason::of_collect(&CollectError::Timeout), Reason::Timeout);
        assert_eq!(
            Reason::of_collect(&CollectError::Backend("x".into())),
            Reason::Other
        );
    }
}
