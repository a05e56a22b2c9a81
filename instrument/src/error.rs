//! The one error type of [`crate::init`].

use std::net::SocketAddr;

/// Why [`crate::init`] could not install the instrumentation. Nothing panics: every failure
/// is one of these.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    /// `init` was already called in this process (metrics recorder and log subscriber are global).
    #[error("mcp-instrument is already initialised in this process")]
    AlreadyInitialized,
    /// An environment variable holds a value that cannot be used.
    #[error("invalid {var}={value:?}: {reason}")]
    InvalidEnv {
        /// The variable.
        var: &'static str,
        /// What it held.
        value: String,
        /// What was expected.
        reason: String,
    },
    /// A setting given in code is unusable.
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
    /// The metrics listener could not bind (port in use, no permission).
    #[error("cannot listen for /metrics on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// Another metrics recorder was installed by someone else first.
    #[error("another `metrics` recorder is already installed")]
    RecorderInstalled,
    /// Another global `tracing` subscriber was installed by someone else first.
    #[error("another global tracing subscriber is already installed")]
    SubscriberInstalled,
    /// The log filter does not parse.
    #[error("invalid log filter {filter:?}: {reason}")]
    LogFilter {
        /// The filter text.
        filter: String,
        /// The parser's complaint.
        reason: String,
    },
    /// A background thread or its runtime could not be started.
    #[error("cannot start background thread {name}: {source}")]
    Thread {
        /// The thread's name.
        name: &'static str,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The Loki client could not be built (bad URL, TLS setup).
    #[error("invalid Loki settings: {0}")]
    Loki(String),
}
