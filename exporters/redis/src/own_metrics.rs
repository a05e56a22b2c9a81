//! The exporter's own samples: `redis_up`, `redis_exporter_*`, `redis_target_scrape_request_errors_total`,
//! `redis_last_key_groups_scrape_duration_milliseconds`, as literal rows like every collector's.
//! Written on every scrape, Redis up or down. HELP is upstream's, byte for byte (the captured
//! 1.45 output in `testkit/fixtures/anchors`).

use mcp_exporter_core::MetricSet;

/// A literal family: full name with the default namespace, and HELP.
pub type Row = (&'static str, &'static str);

/// `redis_up`: connect + INFO succeeded.
pub const UP: Row = ("redis_up", "Information about the Redis instance");
/// `redis_exporter_last_scrape_error{err}`: 1 and a category when the scrape failed.
pub const LAST_SCRAPE_ERROR: Row = (
    "redis_exporter_last_scrape_error",
    "The last scrape error status.",
);
/// Seconds of the last scrape.
pub const LAST_SCRAPE_DURATION: Row = (
    "redis_exporter_last_scrape_duration_seconds",
    "exporter_last_scrape_duration_seconds metric",
);
/// Seconds to connect in the last scrape, 0 on a kept connection.
pub const LAST_SCRAPE_CONNECT_TIME: Row = (
    "redis_exporter_last_scrape_connect_time_seconds",
    "exporter_last_scrape_connect_time_seconds metric",
);
/// Seconds of the PING with `--ping-on-connect`.
pub const LAST_SCRAPE_PING_TIME: Row = (
    "redis_exporter_last_scrape_ping_time_seconds",
    "exporter_last_scrape_ping_time_seconds metric",
);
/// Scrapes of this target.
pub const SCRAPES_TOTAL: Row = (
    "redis_exporter_scrapes_total",
    "Current total redis scrapes.",
);
/// Summary (no quantiles) of scrape durations.
pub const SCRAPE_DURATION: Row = (
    "redis_exporter_scrape_duration_seconds",
    "Durations of scrapes by the exporter",
);
/// Bad `/scrape` requests.
pub const REQUEST_ERRORS: Row = (
    "redis_target_scrape_request_errors_total",
    "Errors in requests to the exporter",
);
/// Always 0: `--check-key-groups` is not implemented (the family is kept for dashboards).
pub const KEY_GROUPS_DURATION: Row = (
    "redis_last_key_groups_scrape_duration_milliseconds",
    "Duration of the last key group metrics scrape in milliseconds",
);
/// Version and build of this exporter.
pub const BUILD_INFO: Row = ("redis_exporter_build_info", "redis exporter build_info");

/// What one scrape did, for the own samples.
#[derive(Debug, Clone, Default)]
pub struct Outcome<'a> {
    /// `None` when it succeeded, else the error category.
    pub error: Option<&'a str>,
    /// Seconds the scrape took.
    pub duration: f64,
    /// Seconds to connect.
    pub connect: f64,
    /// Seconds of the PING, with `--ping-on-connect`.
    pub ping: Option<f64>,
    /// Scrapes of this target so far, this one included.
    pub scrapes: u64,
    /// Their summed durations.
    pub duration_sum: f64,
    /// Bad `/scrape` requests so far.
    pub request_errors: u64,
    /// `--redis-only-metrics`: no build info.
    pub redis_only: bool,
}

/// Writes the own samples of one scrape.
pub fn write(o: &Outcome<'_>, out: &mut MetricSet) {
    let up = o.error.is_none();
    if let Some(ping) = o.ping {
        out.gauge(LAST_SCRAPE_PING_TIME.0, LAST_SCRAPE_PING_TIME.1, &[], ping);
    }
    out.gauge(UP.0, UP.1, &[], if up { 1.0 } else { 0.0 });
    out.gauge(
        LAST_SCRAPE_ERROR.0,
        LAST_SCRAPE_ERROR.1,
        &[("err", o.error.unwrap_or(""))],
        if up { 0.0 } else { 1.0 },
    );
    out.gauge(
        LAST_SCRAPE_DURATION.0,
        LAST_SCRAPE_DURATION.1,
        &[],
        o.duration,
    );
    out.gauge(
        LAST_SCRAPE_CONNECT_TIME.0,
        LAST_SCRAPE_CONNECT_TIME.1,
        &[],
        o.connect,
    );
    out.counter(SCRAPES_TOTAL.0, SCRAPES_TOTAL.1, &[], o.scrapes as f64);
    out.summary(
        SCRAPE_DURATION.0,
        SCRAPE_DURATION.1,
        &[],
        vec![],
        o.duration_sum,
        o.scrapes,
    );
    out.counter(
        REQUEST_ERRORS.0,
        REQUEST_ERRORS.1,
        &[],
        o.request_errors as f64,
    );
    out.gauge(KEY_GROUPS_DURATION.0, KEY_GROUPS_DURATION.1, &[], 0.0);
    if !o.redis_only {
        out.gauge(
            BUILD_INFO.0,
            BUILD_INFO.1,
            &[
                ("version", crate::VERSION),
                (
                    "commit_sha",
                    option_env!("MCP_GIT_SHA").unwrap_or("unknown"),
                ),
                (
                    "build_date",
                    option_env!("MCP_BUILD_DATE").unwrap_or("unknown"),
                ),
                (
                    "golang_version",
                    concat!("rust", env!("CARGO_PKG_RUST_VERSION")),
                ),
            ],
            1.0,
        );
    }
}
