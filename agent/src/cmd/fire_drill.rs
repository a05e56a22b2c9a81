//! `mcp-agent fire-drill`: posts a test alert to Alertmanager's v2 API with labels that route
//! like a real warning (CONTRACTS.md: `alertname="McpFireDrill"`, `severity="warning"`,
//! `category="application"`, `instance="mcp-agent-fire-drill"`, a unique `drill_id`), shows it
//! active with its receivers, and with `--resolve` ends it.
//!
//! The alert carries an `endsAt` (`--ttl`, 10 minutes by default): Alertmanager resolves it by
//! itself when an operator forgets `--resolve`. `--via prometheus` checks the whole chain with
//! the always-firing Watchdog alert instead, posting nothing.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use super::endpoint::{Endpoints, FetchError};
use super::output::{Report, Status};

/// The drill's alert name.
pub const ALERTNAME: &str = "McpFireDrill";

/// What to do.
#[derive(Debug, Clone)]
pub struct Options {
    /// The drill id (fresh unless given).
    pub drill_id: String,
    /// End the alert after showing it.
    pub resolve: bool,
    /// Poll until Alertmanager reports it (and, with `--resolve`, until it is gone).
    pub wait: bool,
    /// How long polling may take.
    pub wait_timeout: Duration,
    /// `endsAt` = now + ttl.
    pub ttl: Duration,
    /// Check through Prometheus' Watchdog instead of posting.
    pub via_prometheus: bool,
}

/// Could not run at all (the endpoint asked for is unreachable or answers garbage).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct CannotRun(pub String);

/// A fresh id: time and randomness, so two operators' drills never collide.
pub fn new_drill_id() -> String {
    use std::hash::{BuildHasher as _, Hasher as _};
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(now.as_nanos());
    h.write_u32(std::process::id());
    format!("drill-{}-{:08x}", now.as_secs(), h.finish() as u32)
}

/// Alertmanager's `startsAt`/`endsAt`: RFC 3339 in UTC, whole seconds.
fn rfc3339(t: SystemTime) -> String {
    mcp_exporter_core::time::rfc3339(t, 0)
}

/// The alert as posted; `ends` is its `endsAt`.
pub fn alert(drill_id: &str, starts: SystemTime, ends: SystemTime) -> Value {
    json!([{
        "labels": {
            "alertname": ALERTNAME,
            "severity": "warning",
            "category": "application",
            "instance": "mcp-agent-fire-drill",
            "drill_id": drill_id,
        },
        "annotations": {
            "summary": format!("Fire drill {drill_id} from mcp-agent: no action needed."),
            "description": "Posted by `mcp-agent fire-drill` to prove alert delivery; it resolves by itself.",
        },
        "startsAt": rfc3339(starts),
        "endsAt": rfc3339(ends),
    }])
}

/// Runs the drill into `report`; `Err` when Alertmanager (or Prometheus) cannot be reached at all.
pub fn run(e: &Endpoints, opts: &Options, report: &mut Report) -> Result<(), CannotRun> {
    if opts.via_prometheus {
        return via_prometheus(e, opts, report);
    }
    let am = &e.alertmanager;
    let cat = "fire-drill";
    report
        .extra
        .insert("drill_id".into(), opts.drill_id.clone().into());
    let started = SystemTime::now();
    let start = Instant::now();
    let answer = am
        .post_json(
            "/api/v2/alerts",
            &alert(&opts.drill_id, started, started + opts.ttl),
        )
        .map_err(|e| CannotRun(format!("cannot post the drill alert to Alertmanager: {e}")))?;
    if !(200..300).contains(&answer.status) {
        return Err(CannotRun(format!(
            "Alertmanager refused the drill alert: HTTP {}: {}",
            answer.status,
            super::endpoint::snippet(&answer.body)
        )));
    }
    report.push(
        cat,
        "post alert",
        Status::Pass,
        format!(
            "{ALERTNAME} drill_id={} (ends by itself in {})",
            opts.drill_id,
            super::output::fmt_elapsed(opts.ttl)
        ),
        start.elapsed(),
    );

    let filter = format!("drill_id=\"{}\"", opts.drill_id);
    let find = || -> Result<Option<Value>, String> {
        let v = am.get_json(
            "/api/v2/alerts",
            &[
                ("filter", &filter),
                ("active", "true"),
                ("silenced", "true"),
                ("inhibited", "true"),
            ],
        )?;
        let list = v
            .as_array()
            .ok_or_else(|| "/api/v2/alerts: not a JSON list".to_owned())?;
        Ok(list.first().cloned())
    };
    let start = Instant::now();
    let mut found = None;
    let mut last_err = None;
    loop {
        match find() {
            Ok(Some(a)) => {
                found = Some(a);
                break;
            }
            Ok(None) => {}
            Err(e) => last_err = Some(e),
        }
        if !opts.wait || start.elapsed() >= opts.wait_timeout {
            break;
        }
        report.progress(&format!(
            "waiting for Alertmanager to report the drill… {}",
            super::output::fmt_elapsed(start.elapsed())
        ));
        std::thread::sleep(Duration::from_millis(200));
    }
    match found {
        Some(a) => {
            let receivers: Vec<&str> = a["receivers"]
                .as_array()
                .map(|r| r.iter().filter_map(|x| x["name"].as_str()).collect())
                .unwrap_or_default();
            let state = a["status"]["state"].as_str().unwrap_or("?");
            report.extra.insert("receivers".into(), json!(receivers));
            report.extra.insert(
                "seen_after_seconds".into(),
                start.elapsed().as_secs_f64().into(),
            );
            report.push(
                cat,
                "alert in Alertmanager",
                if state == "active" {
                    Status::Pass
                } else {
                    Status::Fail
                },
                format!(
                    "{state}, receivers: {}{}",
                    if receivers.is_empty() {
                        "none".to_owned()
                    } else {
                        receivers.join(", ")
                    },
                    if opts.wait {
                        format!(
                            ", seen after {}",
                            super::output::fmt_elapsed(start.elapsed())
                        )
                    } else {
                        String::new()
                    }
                ),
                start.elapsed(),
            );
        }
        None => report.push(
            cat,
            "alert in Alertmanager",
            Status::Fail,
            last_err.unwrap_or_else(|| {
                if opts.wait {
                    format!("not reported within {:?}", opts.wait_timeout)
                } else {
                    "not reported yet (use --wait to poll)".to_owned()
                }
            }),
            start.elapsed(),
        ),
    }

    if opts.resolve {
        let now = SystemTime::now();
        let start = Instant::now();
        let posted = am.post_json("/api/v2/alerts", &alert(&opts.drill_id, started, now));
        let (status, detail) = match posted {
            Ok(a) if (200..300).contains(&a.status) => {
                (Status::Pass, "endsAt set to now".to_owned())
            }
            Ok(a) => (
                Status::Fail,
                format!("HTTP {}: {}", a.status, super::endpoint::snippet(&a.body)),
            ),
            Err(e) => (Status::Fail, e.to_string()),
        };
        report.push(cat, "resolve", status, detail, start.elapsed());
        if status == Status::Pass && opts.wait {
            let start = Instant::now();
            let mut gone = false;
            while start.elapsed() < opts.wait_timeout {
                if let Ok(None) = find() {
                    gone = true;
                    break;
                }
                report.progress("waiting for Alertmanager to drop the resolved drill…");
                std::thread::sleep(Duration::from_millis(200));
            }
            report.push(
                cat,
                "resolved in Alertmanager",
                if gone { Status::Pass } else { Status::Fail },
                if gone {
                    format!(
                        "no longer active after {}",
                        super::output::fmt_elapsed(start.elapsed())
                    )
                } else {
                    format!("still active after {:?}", opts.wait_timeout)
                },
                start.elapsed(),
            );
        }
    }
    Ok(())
}

fn via_prometheus(e: &Endpoints, opts: &Options, report: &mut Report) -> Result<(), CannotRun> {
    let cat = "fire-drill";
    let start = Instant::now();
    let watchdog_in_prom = || -> Result<bool, FetchError> {
        let v = e.prometheus.fetch_json("/api/v1/alerts", &[])?;
        let alerts = v["data"]["alerts"]
            .as_array()
            .ok_or_else(|| FetchError::Answer("/api/v1/alerts: no data.alerts".to_owned()))?;
        Ok(alerts
            .iter()
            .any(|a| a["labels"]["alertname"] == "Watchdog" && a["state"] == "firing"))
    };
    let mut last = watchdog_in_prom();
    // Prometheus is what this drill asks first: not reaching it at all (DNS, refused, timeout)
    // is "could not run"; an answer that is wrong is a FAIL row below.
    if let Err(error) = &last
        && error.is_unreachable()
    {
        return Err(CannotRun(format!("Prometheus: {error}")));
    }
    while opts.wait && !matches!(last, Ok(true)) && start.elapsed() < opts.wait_timeout {
        report.progress("waiting for Watchdog to fire in Prometheus…");
        std::thread::sleep(Duration::from_millis(500));
        last = watchdog_in_prom();
    }
    report.push(
        cat,
        "Watchdog firing in Prometheus",
        if matches!(last, Ok(true)) {
            Status::Pass
        } else {
            Status::Fail
        },
        match last {
            Ok(true) => "firing".to_owned(),
            Ok(false) => {
                "no firing Watchdog alert in /api/v1/alerts (is the rule loaded?)".to_owned()
            }
            Err(e) => e.to_string(),
        },
        start.elapsed(),
    );
    let start = Instant::now();
    let in_am = || -> Result<Option<Vec<String>>, String> {
        let v = e
            .alertmanager
            .get_json("/api/v2/alerts", &[("filter", "alertname=\"Watchdog\"")])?;
        let list = v
            .as_array()
            .ok_or_else(|| "/api/v2/alerts: not a JSON list".to_owned())?;
        Ok(list.first().map(|a| {
            a["receivers"]
                .as_array()
                .map(|r| {
                    r.iter()
                        .filter_map(|x| x["name"].as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default()
        }))
    };
    let mut last = in_am();
    while opts.wait && !matches!(last, Ok(Some(_))) && start.elapsed() < opts.wait_timeout {
        report.progress("waiting for Watchdog to reach Alertmanager…");
        std::thread::sleep(Duration::from_millis(500));
        last = in_am();
    }
    let (status, detail) = match last {
        Ok(Some(r)) => (Status::Pass, format!("active, receivers: {}", r.join(", "))),
        Ok(None) => (
            Status::Fail,
            "Watchdog not in Alertmanager's /api/v2/alerts: Prometheus → Alertmanager is broken"
                .to_owned(),
        ),
        Err(e) => (Status::Fail, e),
    };
    report.push(
        cat,
        "Watchdog in Alertmanager",
        status,
        detail,
        start.elapsed(),
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_rfc3339_utc() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        assert_eq!(
            rfc3339(UNIX_EPOCH + Duration::from_secs(1_709_251_199)),
            "2024-02-29T23:59:59Z"
        );
        assert_eq!(
            rfc3339(UNIX_EPOCH + Duration::from_secs(1_798_761_600)),
            "2027-01-01T00:00:00Z"
        );
    }

    #[test]
    fn drill_ids_differ_and_labels_follow_the_contract() {
        assert_ne!(new_drill_id(), new_drill_id());
        let a = alert("d1", UNIX_EPOCH, UNIX_EPOCH + Duration::from_secs(600));
        let l = &a[0]["labels"];
        assert_eq!(l["alertname"], "McpFireDrill");
        assert_eq!(l["severity"], "warning");
        assert_eq!(l["category"], "application");
        assert_eq!(l["instance"], "mcp-agent-fire-drill");
        assert_eq!(l["drill_id"], "d1");
        assert_eq!(a[0]["endsAt"], "1970-01-01T00:10:00Z");
    }
}
