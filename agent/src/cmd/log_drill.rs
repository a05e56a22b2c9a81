//! `mcp-agent log-drill --service NAME`: proves the real log path. It asks the service to log one
//! line carrying a fresh trace id (`GET /-/log-drill?id=…` with a W3C `traceparent`, the
//! endpoint every service on mcp-instrument has), then queries Loki with
//! `{service="NAME"} |= "<drill id>"` until the line shows up or the timeout passes, and prints
//! the propagation time. `--direct` pushes the line to Loki itself (for services that are not
//! on mcp-instrument) and queries it back the same way.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::json;

use super::endpoint::{Auth, Endpoint, Endpoints, FetchError, Tls};
use super::fire_drill::CannotRun;
use super::output::{Report, Status};

/// The compose ports of the CDB services, for `--service` without `--service-url`.
pub const KNOWN_SERVICES: [(&str, u16); 4] = [
    ("cdb_core", 8000),
    ("cdb_risk", 8001),
    ("cdb_execution", 8002),
    ("cdb_ws", 8003),
];

/// What to do.
#[derive(Debug, Clone)]
pub struct Options {
    /// The service (its Loki `service` label).
    pub service: String,
    /// Its base URL (not needed with `direct`).
    pub service_url: Option<String>,
    /// Push the line ourselves.
    pub direct: bool,
    /// How long to look for the line in Loki.
    pub wait_timeout: Duration,
    /// The drill id.
    pub drill_id: String,
}

/// The default URL of a known service.
pub fn default_url(service: &str) -> Option<String> {
    KNOWN_SERVICES
        .iter()
        .find(|(s, _)| *s == service)
        .map(|(_, port)| format!("http://localhost:{port}"))
}

/// A fresh 32-hex trace id and 16-hex span id.
fn fresh_ids() -> (String, String) {
    use std::hash::{BuildHasher as _, Hasher as _};
    let word = || {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u128(
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_nanos(),
        );
        h.finish() | 1
    };
    (
        format!("{:016x}{:016x}", word(), word()),
        format!("{:016x}", word()),
    )
}

/// Runs the drill; `Err` when the service or Loki cannot be reached at all.
pub fn run(e: &Endpoints, opts: &Options, report: &mut Report) -> Result<(), CannotRun> {
    let cat = "log-drill";
    let (trace_id, span_id) = fresh_ids();
    report
        .extra
        .insert("drill_id".into(), opts.drill_id.clone().into());
    report
        .extra
        .insert("trace_id".into(), trace_id.clone().into());
    let emitted = SystemTime::now();
    let start = Instant::now();
    if opts.direct {
        let ns = emitted
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos()
            .to_string();
        let line = json!({
            "level": "info",
            "msg": "Log drill.",
            "drill_id": opts.drill_id,
            "trace_id": trace_id,
            "source": "mcp-agent log-drill --direct",
        })
        .to_string();
        let body = json!({"streams": [{
            "stream": {"service": opts.service},
            "values": [[ns, line]],
        }]});
        let a = e
            .loki
            .post_json("/loki/api/v1/push", &body)
            .map_err(|err| CannotRun(format!("cannot push to Loki: {err}")))?;
        if !(200..300).contains(&a.status) {
            return Err(CannotRun(format!(
                "Loki refused the push: HTTP {}: {}",
                a.status,
                super::endpoint::snippet(&a.body)
            )));
        }
        report.push(
            cat,
            "push to Loki",
            Status::Pass,
            format!("HTTP {}, service={}", a.status, opts.service),
            start.elapsed(),
        );
    } else {
        let url = opts
            .service_url
            .clone()
            .or_else(|| default_url(&opts.service))
            .ok_or_else(|| {
                CannotRun(format!(
                    "no URL known for service {:?}: give --service-url",
                    opts.service
                ))
            })?;
        let svc = Endpoint::new("service", &url, Auth::None, &Tls::default(), e.timeout)
            .map_err(|err| CannotRun(err.to_string()))?;
        let a = svc
            .get_with_headers(
                &format!("/-/log-drill?id={}", opts.drill_id),
                &[("traceparent", &format!("00-{trace_id}-{span_id}-01"))],
            )
            .map_err(|err| CannotRun(format!("cannot reach {}: {err}", opts.service)))?;
        let answered: serde_json::Value = serde_json::from_str(&a.body).unwrap_or_default();
        if a.status != 200 {
            report.push(
                cat,
                "service logs the drill line",
                Status::Fail,
                format!(
                    "{url}/-/log-drill answered HTTP {}: {} (is the service on mcp-instrument? else use --direct)",
                    a.status,
                    super::endpoint::snippet(&a.body)
                ),
                start.elapsed(),
            );
            return Ok(());
        }
        if answered["trace_id"] != trace_id.as_str()
            || answered["drill_id"] != opts.drill_id.as_str()
        {
            report.push(
                cat,
                "service logs the drill line",
                Status::Fail,
                format!(
                    "unexpected answer (not the mcp-instrument drill endpoint?): {}",
                    super::endpoint::snippet(&a.body)
                ),
                start.elapsed(),
            );
            return Ok(());
        }
        report.push(
            cat,
            "service logs the drill line",
            Status::Pass,
            format!(
                "{url} logged drill_id={} trace_id={trace_id}",
                opts.drill_id
            ),
            start.elapsed(),
        );
    }

    let logql = format!("{{service=\"{}\"}} |= \"{}\"", opts.service, opts.drill_id);
    let from = emitted
        .checked_sub(Duration::from_secs(60))
        .unwrap_or(emitted)
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos()
        .to_string();
    let query = || -> Result<Option<String>, FetchError> {
        let end = (SystemTime::now() + Duration::from_secs(60))
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos()
            .to_string();
        let v = e.loki.fetch_json(
            "/loki/api/v1/query_range",
            &[
                ("query", &logql),
                ("start", &from),
                ("end", &end),
                ("limit", "10"),
                ("direction", "backward"),
            ],
        )?;
        if v["status"] != "success" {
            return Err(FetchError::Answer(format!(
                "Loki query status {}",
                v["status"]
            )));
        }
        let line = v["data"]["result"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|s| s["values"].as_array().into_iter().flatten())
            .filter_map(|pair| pair[1].as_str())
            .find(|l| l.contains(&opts.drill_id))
            .map(str::to_owned);
        Ok(line)
    };
    let poll_start = Instant::now();
    let mut first = true;
    let found = loop {
        match query() {
            Ok(Some(line)) => break Ok(line),
            Ok(None) => {}
            // Loki not reachable at all on the first query (DNS, refused, timeout): could not
            // run. Later, or an answer that is wrong, is the FAIL row.
            Err(err) if first && err.is_unreachable() => {
                return Err(CannotRun(format!("cannot query Loki: {err}")));
            }
            Err(err) if poll_start.elapsed() >= opts.wait_timeout => break Err(err.to_string()),
            Err(_) => {}
        }
        first = false;
        if poll_start.elapsed() >= opts.wait_timeout {
            break Err(format!(
                "not found in Loki within {} ({logql})",
                super::output::fmt_elapsed(opts.wait_timeout)
            ));
        }
        report.progress(&format!(
            "waiting for the line in Loki… {}",
            super::output::fmt_elapsed(poll_start.elapsed())
        ));
        std::thread::sleep(Duration::from_millis(250));
    };
    let propagation = emitted.elapsed().unwrap_or_default();
    match found {
        Ok(line) => {
            report.extra.insert(
                "propagation_seconds".into(),
                propagation.as_secs_f64().into(),
            );
            let has_trace = line.contains(&trace_id);
            report.push(
                cat,
                "line found in Loki",
                if has_trace {
                    Status::Pass
                } else {
                    Status::Fail
                },
                if has_trace {
                    format!(
                        "propagation {} ({logql})",
                        super::output::fmt_elapsed(propagation)
                    )
                } else {
                    format!(
                        "the line lacks trace_id {trace_id}: {}",
                        super::endpoint::snippet(&line)
                    )
                },
                poll_start.elapsed(),
            );
        }
        Err(reason) => report.push(
            cat,
            "line found in Loki",
            Status::Fail,
            reason,
            poll_start.elapsed(),
        ),
    }
    Ok(())
}
