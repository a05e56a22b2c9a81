//! `mcp-agent check`: the stack's sanity check, one row per checked thing, in the team's eight
//! categories plus rule health.
//!
//! Every call has the shared timeout; an unreachable component is a FAIL row naming the error,
//! never a hang. Docker rows (containers, volumes) are SKIP with the reason when no Docker
//! engine is reachable from here (no `DOCKER_HOST`, no socket).

use std::collections::BTreeSet;
use std::net::{TcpStream, ToSocketAddrs as _};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use super::endpoint::{Endpoint, Endpoints};
use super::output::{Report, Status};
use super::promql;

/// The categories, in the order they run.
pub const CATEGORIES: [&str; 9] = [
    "components",
    "targets",
    "grafana",
    "loki",
    "promql",
    "alertmanager",
    "volumes",
    "network",
    "rules",
];

/// The Prometheus jobs the stack must have (CONTRACTS.md).
pub const DEFAULT_JOBS: &str =
    "prometheus,alertmanager,grafana,loki,mcp_agent,cdb_services,node,redis,postgres";

/// The CDB services whose `up` the PromQL smoke queries look at.
pub const DEFAULT_CDB_SERVICES: &str = "cdb_core,cdb_risk,cdb_execution,cdb_ws";

/// The Alertmanager receivers of the committed routing (CONTRACTS.md).
pub const DEFAULT_RECEIVERS: &str = "watchdog,slack-critical,slack-infrastructure,slack-warning";

/// What `check` looks at beyond the endpoints.
#[derive(Debug, Clone)]
pub struct Options {
    /// Categories to run.
    pub categories: BTreeSet<&'static str>,
    /// Categories skipped by `--skip`/`--only` (shown as SKIP rows).
    pub skipped: Vec<&'static str>,
    /// Categories named by `--skip`: their components' readiness rows are skipped too
    /// (`--skip grafana,loki` on a stack without Grafana and Loki; Promtail goes with Loki).
    pub skipped_by_flag: Vec<&'static str>,
    /// Jobs that must have at least one active target.
    pub expected_jobs: Vec<String>,
    /// The job of the CDB services.
    pub cdb_job: String,
    /// The CDB services.
    pub cdb_services: Vec<String>,
    /// Receivers Alertmanager must have.
    pub expected_receivers: Vec<String>,
    /// Container name prefix of the stack.
    pub docker_prefix: String,
    /// LogQL query for the Loki category.
    pub loki_query: String,
}

/// Turns `--skip`/`--only` into the set to run; an unknown name is an error naming it.
pub fn select(
    skip: &[String],
    only: &[String],
) -> Result<(BTreeSet<&'static str>, Vec<&'static str>), String> {
    let known = |name: &str| -> Result<&'static str, String> {
        CATEGORIES
            .iter()
            .copied()
            .find(|c| *c == name.trim())
            .ok_or_else(|| {
                format!(
                    "unknown category {:?} (known: {})",
                    name.trim(),
                    CATEGORIES.join(", ")
                )
            })
    };
    let skip = skip
        .iter()
        .map(|s| known(s))
        .collect::<Result<BTreeSet<_>, _>>()?;
    let only = only
        .iter()
        .map(|s| known(s))
        .collect::<Result<BTreeSet<_>, _>>()?;
    let mut run = BTreeSet::new();
    let mut skipped = Vec::new();
    for c in CATEGORIES {
        if skip.contains(c) || (!only.is_empty() && !only.contains(c)) {
            skipped.push(c);
        } else {
            run.insert(c);
        }
    }
    Ok((run, skipped))
}

/// Runs the selected categories into `report`.
pub fn run(endpoints: &Endpoints, opts: &Options, report: &mut Report) {
    let mut targets: Option<Result<Vec<Value>, String>> = None;
    for category in CATEGORIES {
        if !opts.categories.contains(category) {
            if opts.skipped.contains(&category) {
                report.push(
                    category,
                    "(category)",
                    Status::Skip,
                    "skipped by --skip/--only".into(),
                    Duration::ZERO,
                );
            }
            continue;
        }
        match category {
            "components" => components(endpoints, opts, report),
            "targets" => {
                let t = fetch_targets(&endpoints.prometheus);
                check_targets(&t, opts, report);
                targets = Some(t);
            }
            "grafana" => grafana(&endpoints.grafana, report),
            "loki" => {
                loki(&endpoints.loki, opts, report);
                if let Some(agent) = endpoints.agent.first() {
                    log_collection(agent, report);
                }
            }
            "promql" => smoke_queries(&endpoints.prometheus, opts, report),
            "alertmanager" => alertmanager(&endpoints.alertmanager, opts, report),
            "volumes" => volumes(opts, report),
            "network" => {
                let t = targets
                    .take()
                    .unwrap_or_else(|| fetch_targets(&endpoints.prometheus));
                network(&t, endpoints.timeout, report);
            }
            "rules" => rules(&endpoints.prometheus, report),
            _ => {}
        }
    }
}

// === components ===

fn ready(e: &Endpoint, path: &str) -> (Status, String) {
    match e.get(path) {
        Ok(a) if (200..300).contains(&a.status) => {
            (Status::Pass, format!("{path}: HTTP {}", a.status))
        }
        Ok(a) => (
            Status::Fail,
            format!(
                "{path}: HTTP {}: {}",
                a.status,
                super::endpoint::snippet(&a.body)
            ),
        ),
        Err(error) => (Status::Fail, error.to_string()),
    }
}

fn components(e: &Endpoints, opts: &Options, r: &mut Report) {
    let cat = "components";
    r.run(cat, "Prometheus ready", || ready(&e.prometheus, "/-/ready"));
    r.run(cat, "Alertmanager ready", || {
        ready(&e.alertmanager, "/-/ready")
    });
    let skipped = |category: &str| (Status::Skip, format!("--skip {category}"));
    if opts.skipped_by_flag.contains(&"grafana") {
        r.run(cat, "Grafana healthy", || skipped("grafana"));
    } else {
        r.run(cat, "Grafana healthy", || grafana_health(&e.grafana));
    }
    if opts.skipped_by_flag.contains(&"loki") {
        r.run(cat, "Loki ready", || skipped("loki"));
        r.run(cat, "Promtail ready", || skipped("loki"));
    } else {
        r.run(cat, "Loki ready", || ready(&e.loki, "/ready"));
        if e.promtail_asked {
            r.run(cat, "Promtail ready", || ready(&e.promtail, "/ready"));
        } else {
            r.run(cat, "Promtail ready", || {
                (
                    Status::Skip,
                    "the agent collects the logs; Promtail is the fallback (--promtail-url checks it)".into(),
                )
            });
        }
    }
    for a in &e.agent {
        let name = format!("mcp-agent {}", host_port(&a.url));
        r.run(cat, &name, || ready(a, "/-/healthy"));
    }
    let start = Instant::now();
    match docker_reachable() {
        Err(reason) => r.push(
            cat,
            "containers (Docker)",
            Status::Skip,
            reason,
            start.elapsed(),
        ),
        Ok(()) => {
            let filter = format!("name=^{}", opts.docker_prefix);
            match docker(
                &[
                    "ps",
                    "-a",
                    "--filter",
                    &filter,
                    "--format",
                    "{{.Names}}\t{{.Status}}",
                ],
                e.timeout * 2,
            ) {
                Err(error) => {
                    let (status, reason) = docker_row(error);
                    r.push(cat, "containers (Docker)", status, reason, start.elapsed());
                }
                Ok(out) => {
                    let lines: Vec<&str> = out.lines().filter(|l| !l.trim().is_empty()).collect();
                    if lines.is_empty() {
                        r.push(
                            cat,
                            "containers (Docker)",
                            Status::Fail,
                            format!("no container named {}*", opts.docker_prefix),
                            start.elapsed(),
                        );
                    }
                    for line in lines {
                        let (name, status) = line.split_once('\t').unwrap_or((line, ""));
                        let ok = status.starts_with("Up")
                            && !status.contains("unhealthy")
                            && !status.contains("health: starting");
                        r.push(
                            cat,
                            &format!("container {name}"),
                            if ok { Status::Pass } else { Status::Fail },
                            status.to_owned(),
                            start.elapsed(),
                        );
                    }
                }
            }
        }
    }
}

fn grafana_health(g: &Endpoint) -> (Status, String) {
    match g.get_json("/api/health", &[]) {
        Ok(v) => {
            let db = v["database"].as_str().unwrap_or("?");
            let version = v["version"].as_str().unwrap_or("?");
            if db == "ok" {
                (Status::Pass, format!("version {version}, database ok"))
            } else {
                (Status::Fail, format!("database {db:?} (version {version})"))
            }
        }
        Err(e) => (Status::Fail, e),
    }
}

/// `host:port` of a URL, for row names.
pub fn host_port(url: &str) -> String {
    url::Url::parse(url)
        .ok()
        .map(|u| {
            format!(
                "{}:{}",
                u.host_str().unwrap_or("?"),
                u.port_or_known_default().unwrap_or(0)
            )
        })
        .unwrap_or_else(|| url.to_owned())
}

/// Ok when a Docker engine may be reachable; the reason otherwise.
pub fn docker_reachable() -> Result<(), String> {
    if std::env::var_os("DOCKER_HOST").is_some_and(|v| !v.is_empty()) {
        return Ok(());
    }
    #[cfg(windows)]
    let socket = r"\\.\pipe\docker_engine";
    #[cfg(not(windows))]
    let socket = "/var/run/docker.sock";
    if std::path::Path::new(socket).exists() {
        Ok(())
    } else {
        Err(format!(
            "no Docker here: DOCKER_HOST is unset and {socket} does not exist"
        ))
    }
}

/// Why a docker CLI call gave no output.
#[derive(Debug)]
enum DockerError {
    /// There is no `docker` program to run: the Docker rows cannot be checked from here (SKIP),
    /// as without an engine.
    NoCli(String),
    /// The CLI ran and failed, or hung (FAIL).
    Failed(String),
}

/// The row for a docker CLI failure: no CLI is SKIP with the reason, anything else FAIL.
fn docker_row(error: DockerError) -> (Status, String) {
    match error {
        DockerError::NoCli(reason) => (Status::Skip, reason),
        DockerError::Failed(reason) => (Status::Fail, reason),
    }
}

/// Runs the docker CLI with a deadline; stdout, or the reason it failed.
fn docker(args: &[&str], timeout: Duration) -> Result<String, DockerError> {
    docker_program("docker", args, timeout)
}

fn docker_program(program: &str, args: &[&str], timeout: Duration) -> Result<String, DockerError> {
    let mut child = std::process::Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                DockerError::NoCli(
                    "the docker CLI is not installed (not on PATH), so the engine cannot be asked"
                        .to_owned(),
                )
            } else {
                DockerError::Failed(format!("cannot run the docker CLI: {e}"))
            }
        })?;
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(DockerError::Failed(format!(
                    "docker {} timed out after {timeout:?}",
                    args[0]
                )));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(DockerError::Failed(format!("docker {}: {e}", args[0]))),
        }
    }
    let out = child
        .wait_with_output()
        .map_err(|e| DockerError::Failed(format!("docker {}: {e}", args[0])))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(DockerError::Failed(format!(
            "docker {}: {}",
            args[0],
            super::endpoint::snippet(&String::from_utf8_lossy(&out.stderr))
        )))
    }
}

// === targets ===

fn fetch_targets(p: &Endpoint) -> Result<Vec<Value>, String> {
    let v = p.get_json("/api/v1/targets", &[("state", "active")])?;
    v["data"]["activeTargets"]
        .as_array()
        .cloned()
        .ok_or_else(|| "/api/v1/targets: no data.activeTargets in the answer".to_owned())
}

fn label<'a>(t: &'a Value, name: &str) -> &'a str {
    t["labels"][name].as_str().unwrap_or("")
}

fn check_targets(targets: &Result<Vec<Value>, String>, opts: &Options, r: &mut Report) {
    let cat = "targets";
    let start = Instant::now();
    let targets = match targets {
        Ok(t) => t,
        Err(e) => {
            r.push(
                cat,
                "active targets",
                Status::Fail,
                e.clone(),
                start.elapsed(),
            );
            return;
        }
    };
    if targets.is_empty() {
        r.push(
            cat,
            "active targets",
            Status::Fail,
            "Prometheus has no active target".into(),
            start.elapsed(),
        );
    }
    for t in targets {
        let name = format!("{} {}", label(t, "job"), label(t, "instance"));
        let (status, detail) = match t["health"].as_str().unwrap_or("") {
            "up" => (Status::Pass, "up".to_owned()),
            "down" => (
                Status::Fail,
                format!(
                    "down: {}",
                    t["lastError"].as_str().unwrap_or("no lastError")
                ),
            ),
            other => (Status::Fail, format!("health {other:?}: not scraped yet")),
        };
        r.push(cat, &name, status, detail, start.elapsed());
    }
    for job in &opts.expected_jobs {
        let of_job: Vec<&Value> = targets.iter().filter(|t| label(t, "job") == job).collect();
        let up = of_job.iter().filter(|t| t["health"] == "up").count();
        if of_job.is_empty() {
            r.push(
                cat,
                &format!("job {job}"),
                Status::Fail,
                "no active target of this expected job".into(),
                start.elapsed(),
            );
        } else {
            r.push(
                cat,
                &format!("job {job}"),
                Status::Pass,
                format!("{} target(s), {up} up", of_job.len()),
                start.elapsed(),
            );
        }
    }
}

// === grafana ===

fn grafana(g: &Endpoint, r: &mut Report) {
    let cat = "grafana";
    r.run(cat, "health", || grafana_health(g));
    let start = Instant::now();
    match g.get_json("/api/datasources", &[]) {
        Err(e) => r.push(cat, "datasources", Status::Fail, e, start.elapsed()),
        Ok(v) => {
            let list = v.as_array().cloned().unwrap_or_default();
            if list.is_empty() {
                r.push(
                    cat,
                    "datasources",
                    Status::Fail,
                    "no datasource provisioned".into(),
                    start.elapsed(),
                );
            }
            for ds in list {
                let name = ds["name"].as_str().unwrap_or("?").to_owned();
                let uid = ds["uid"].as_str().unwrap_or("").to_owned();
                r.run(cat, &format!("datasource {name}"), || {
                    let path = format!("/api/datasources/uid/{uid}/health");
                    match g.get(&path) {
                        Err(e) => (Status::Fail, e.to_string()),
                        Ok(a) => {
                            let v: Value = serde_json::from_str(&a.body).unwrap_or(Value::Null);
                            let msg = v["message"].as_str().unwrap_or("").to_owned();
                            if a.status == 200 && v["status"] == "OK" {
                                (Status::Pass, if msg.is_empty() { "OK".into() } else { msg })
                            } else {
                                (
                                    Status::Fail,
                                    format!(
                                        "HTTP {}: {}",
                                        a.status,
                                        if msg.is_empty() {
                                            super::endpoint::snippet(&a.body)
                                        } else {
                                            msg
                                        }
                                    ),
                                )
                            }
                        }
                    }
                });
            }
        }
    }
    r.run(cat, "dashboards", || {
        match g.get_json("/api/search", &[("type", "dash-db")]) {
            Err(e) => (Status::Fail, e),
            Ok(v) => {
                let titles: Vec<&str> = v
                    .as_array()
                    .map(|a| a.iter().filter_map(|d| d["title"].as_str()).collect())
                    .unwrap_or_default();
                if titles.is_empty() {
                    (Status::Fail, "no dashboard provisioned".into())
                } else {
                    (
                        Status::Pass,
                        format!("{} dashboard(s): {}", titles.len(), titles.join(", ")),
                    )
                }
            }
        }
    });
}

// === loki ===

fn loki(l: &Endpoint, opts: &Options, r: &mut Report) {
    let cat = "loki";
    r.run(cat, "ready", || ready(l, "/ready"));
    r.run(cat, &format!("query {}", opts.loki_query), || {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let end = now.as_nanos().to_string();
        let start = now
            .saturating_sub(Duration::from_secs(3600))
            .as_nanos()
            .to_string();
        match l.get_json(
            "/loki/api/v1/query_range",
            &[
                ("query", &opts.loki_query),
                ("start", &start),
                ("end", &end),
                ("limit", "10"),
            ],
        ) {
            Err(e) => (Status::Fail, e),
            Ok(v) if v["status"] == "success" => {
                let streams = v["data"]["result"].as_array().map(Vec::len).unwrap_or(0);
                (
                    Status::Pass,
                    format!("answered: {streams} stream(s) in the last hour"),
                )
            }
            Ok(v) => (Status::Fail, format!("status {}", v["status"])),
        }
    });
}

/// The agent's own log collector, from its `mcp_agent_log_*` families on `/agent/metrics`:
/// targets tailed, bytes not yet acknowledged by Loki, and how long ago Loki last took a push.
fn log_collection(agent: &Endpoint, r: &mut Report) {
    r.run("loki", "agent log collection", || {
        let text = match agent.get("/agent/metrics") {
            Ok(a) if a.status == 200 => a.body,
            Ok(a) => {
                return (
                    Status::Fail,
                    format!("/agent/metrics answered HTTP {}", a.status),
                );
            }
            Err(e) => return (Status::Fail, e.to_string()),
        };
        let value = |name: &str| -> Option<f64> {
            text.lines()
                .filter(|l| l.starts_with(name) && l[name.len()..].starts_with([' ', '{']))
                .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
                .reduce(|a, b| a + b)
        };
        let Some(targets) = value("mcp_agent_log_targets") else {
            return (
                Status::Skip,
                "the agent collects no logs (no logs section in its config)".into(),
            );
        };
        let lag = value("mcp_agent_log_target_lag_bytes").unwrap_or(0.0);
        let last = value("mcp_agent_log_last_push_timestamp_seconds").unwrap_or(0.0);
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs_f64();
        let ago = if last > 0.0 {
            format!("{:.0} s ago", now - last)
        } else {
            "never".to_owned()
        };
        let detail =
            format!("{targets:.0} target(s) tailed, {lag:.0} bytes behind, last push {ago}");
        // Behind and nothing delivered for a minute: Loki is not taking the logs.
        if lag > 0.0 && (last == 0.0 || now - last > 60.0) {
            (Status::Fail, detail)
        } else {
            (Status::Pass, detail)
        }
    });
}

// === promql ===

/// An instant query's `data.result`.
pub fn query(p: &Endpoint, expr: &str) -> Result<Vec<Value>, String> {
    let v = p.get_json("/api/v1/query", &[("query", expr)])?;
    if v["status"] != "success" {
        return Err(format!(
            "query failed: {}",
            v["error"].as_str().unwrap_or("?")
        ));
    }
    Ok(v["data"]["result"].as_array().cloned().unwrap_or_default())
}

fn value(series: &Value) -> f64 {
    series["value"][1]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or(f64::NAN)
}

fn smoke_queries(p: &Endpoint, opts: &Options, r: &mut Report) {
    let cat = "promql";
    let start = Instant::now();
    let up = query(p, &format!("up{{job=\"{}\"}}", opts.cdb_job));
    for svc in &opts.cdb_services {
        let check = format!("up {svc}");
        let (status, detail) = match &up {
            Err(e) => (Status::Fail, e.clone()),
            Ok(series) => {
                let found = series.iter().find(|s| {
                    s["metric"]["service"] == svc.as_str()
                        || s["metric"]["instance"]
                            .as_str()
                            .is_some_and(|i| i.split(':').next() == Some(svc.as_str()))
                });
                match found {
                    None => (
                        Status::Fail,
                        format!("no up{{job=\"{}\"}} series for {svc}", opts.cdb_job),
                    ),
                    Some(s) if value(s) == 1.0 => (
                        Status::Pass,
                        format!(
                            "up = 1 ({})",
                            s["metric"]["instance"].as_str().unwrap_or("?")
                        ),
                    ),
                    Some(s) => (
                        Status::Fail,
                        format!(
                            "up = {} ({}): the target is down",
                            value(s),
                            s["metric"]["instance"].as_str().unwrap_or("?")
                        ),
                    ),
                }
            }
        };
        r.push(cat, &check, status, detail, start.elapsed());
    }
    for metric in ["redis_up", "pg_up"] {
        r.run(cat, metric, || match query(p, metric) {
            Err(e) => (Status::Fail, e),
            Ok(s) if s.is_empty() => (
                Status::Fail,
                format!("no {metric} series: is the exporter scraped?"),
            ),
            Ok(s) => {
                let bad: Vec<String> = s
                    .iter()
                    .filter(|x| value(x) != 1.0)
                    .map(|x| x["metric"]["instance"].as_str().unwrap_or("?").to_owned())
                    .collect();
                if bad.is_empty() {
                    (Status::Pass, format!("{metric} = 1 on {} series", s.len()))
                } else {
                    (Status::Fail, format!("{metric} = 0 on {}", bad.join(", ")))
                }
            }
        });
    }
    let host = [
        (
            "host CPU",
            "100 * (1 - avg(rate(node_cpu_seconds_total{mode=\"idle\"}[2m])))",
            "% busy",
        ),
        (
            "host memory",
            "100 * (1 - sum(node_memory_MemAvailable_bytes) / sum(node_memory_MemTotal_bytes))",
            "% used",
        ),
        (
            "host disk",
            "100 * (1 - sum(node_filesystem_avail_bytes{fstype!~\"tmpfs|overlay\"}) / sum(node_filesystem_size_bytes{fstype!~\"tmpfs|overlay\"}))",
            "% used",
        ),
    ];
    for (check, expr, unit) in host {
        r.run(cat, check, || match query(p, expr) {
            Err(e) => (Status::Fail, e),
            Ok(s) => match s.first().map(value) {
                Some(v) if v.is_finite() => (Status::Pass, format!("{v:.1}{unit}")),
                _ => (Status::Fail, format!("no data for {expr}")),
            },
        });
    }
}

// === alertmanager ===

fn alertmanager(a: &Endpoint, opts: &Options, r: &mut Report) {
    let cat = "alertmanager";
    let start = Instant::now();
    match a.get_json("/api/v2/status", &[]) {
        Err(e) => r.push(cat, "status", Status::Fail, e, start.elapsed()),
        Ok(v) => {
            let version = v["versionInfo"]["version"].as_str().unwrap_or("?");
            r.push(
                cat,
                "status",
                Status::Pass,
                format!(
                    "version {version}, up since {}",
                    v["uptime"].as_str().unwrap_or("?")
                ),
                start.elapsed(),
            );
            let cluster = v["cluster"]["status"].as_str().unwrap_or("");
            let peers = v["cluster"]["peers"].as_array().map(Vec::len).unwrap_or(0);
            let (s, d) = match cluster {
                "ready" => (Status::Pass, format!("ready, {peers} peer(s)")),
                "disabled" => (Status::Pass, "disabled (single instance)".into()),
                other => (Status::Fail, format!("cluster {other:?}")),
            };
            r.push(cat, "cluster", s, d, start.elapsed());
            let original = v["config"]["original"].as_str().unwrap_or("");
            if original.trim().is_empty() {
                r.push(
                    cat,
                    "config loaded",
                    Status::Fail,
                    "no configuration loaded".into(),
                    start.elapsed(),
                );
            } else {
                r.push(
                    cat,
                    "config loaded",
                    Status::Pass,
                    format!("{} lines", original.lines().count()),
                    start.elapsed(),
                );
            }
        }
    }
    r.run(cat, "receivers", || {
        match a.get_json("/api/v2/receivers", &[]) {
            Err(e) => (Status::Fail, e),
            Ok(v) => {
                let have: Vec<&str> = v
                    .as_array()
                    .map(|l| l.iter().filter_map(|x| x["name"].as_str()).collect())
                    .unwrap_or_default();
                let missing: Vec<&str> = opts
                    .expected_receivers
                    .iter()
                    .map(String::as_str)
                    .filter(|x| !have.contains(x))
                    .collect();
                if missing.is_empty() {
                    (Status::Pass, have.join(", "))
                } else {
                    (
                        Status::Fail,
                        format!("missing {} (have {})", missing.join(", "), have.join(", ")),
                    )
                }
            }
        }
    });
}

// === volumes ===

fn volumes(opts: &Options, r: &mut Report) {
    let cat = "volumes";
    let start = Instant::now();
    if let Err(reason) = docker_reachable() {
        r.push(
            cat,
            "volumes (Docker)",
            Status::Skip,
            reason,
            start.elapsed(),
        );
        return;
    }
    let needle = opts.docker_prefix.trim_end_matches('_');
    match docker(
        &["volume", "ls", "--format", "{{.Name}}"],
        Duration::from_secs(10),
    ) {
        Err(error) => {
            let (status, reason) = docker_row(error);
            r.push(cat, "volumes (Docker)", status, reason, start.elapsed());
        }
        Ok(out) => {
            let names: Vec<&str> = out.lines().filter(|l| l.contains(needle)).collect();
            if names.is_empty() {
                r.push(
                    cat,
                    "volumes (Docker)",
                    Status::Fail,
                    format!("no volume named *{needle}*"),
                    start.elapsed(),
                );
            } else {
                r.push(
                    cat,
                    "volumes (Docker)",
                    Status::Pass,
                    names.join(", "),
                    start.elapsed(),
                );
            }
        }
    }
}

// === network ===

/// Why a TCP connection failed, DNS apart from the rest.
pub fn connect(host: &str, port: u16, timeout: Duration) -> Result<String, String> {
    let (tx, rx) = std::sync::mpsc::channel();
    let target = (host.to_owned(), port);
    // The system resolver has no timeout of its own; a thread bounds it.
    let _ = std::thread::Builder::new()
        .name("dns".into())
        .spawn(move || {
            let _ = tx.send(target.to_socket_addrs().map(Iterator::collect::<Vec<_>>));
        });
    let addrs = match rx.recv_timeout(timeout) {
        Ok(Ok(a)) if !a.is_empty() => a,
        Ok(Ok(_)) => return Err(format!("DNS: {host} has no address")),
        Ok(Err(e)) => return Err(format!("DNS: cannot resolve {host}: {e}")),
        Err(_) => return Err(format!("DNS: resolving {host} timed out after {timeout:?}")),
    };
    let mut last = String::new();
    for addr in &addrs {
        let start = Instant::now();
        match TcpStream::connect_timeout(addr, timeout) {
            Ok(_) => {
                return Ok(format!(
                    "connected to {addr} in {}",
                    super::output::fmt_elapsed(start.elapsed())
                ));
            }
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                last = format!("connection refused by {addr}");
            }
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                last = format!("no answer from {addr} within {timeout:?}");
            }
            Err(e) => last = format!("{addr}: {e}"),
        }
    }
    Err(last)
}

fn network(targets: &Result<Vec<Value>, String>, timeout: Duration, r: &mut Report) {
    let cat = "network";
    let targets = match targets {
        Ok(t) => t,
        Err(e) => {
            r.push(
                cat,
                "scrape targets",
                Status::Fail,
                format!("cannot list targets: {e}"),
                Duration::ZERO,
            );
            return;
        }
    };
    for t in targets {
        let url = t["scrapeUrl"].as_str().unwrap_or("");
        let Some((host, port)) = url::Url::parse(url).ok().and_then(|u| {
            Some((
                u.host_str()?.trim_matches(['[', ']']).to_owned(),
                u.port_or_known_default()?,
            ))
        }) else {
            r.push(
                cat,
                url,
                Status::Fail,
                "no scrape URL".into(),
                Duration::ZERO,
            );
            continue;
        };
        r.run(cat, &format!("{host}:{port}"), || {
            match connect(&host, port, timeout) {
                Ok(d) => (Status::Pass, d),
                Err(e) => (Status::Fail, e),
            }
        });
    }
}

// === rules ===

fn rules(p: &Endpoint, r: &mut Report) {
    let cat = "rules";
    let start = Instant::now();
    let groups = match p.get_json("/api/v1/rules", &[]) {
        Err(e) => {
            r.push(cat, "rule groups", Status::Fail, e, start.elapsed());
            return;
        }
        Ok(v) => v["data"]["groups"].as_array().cloned().unwrap_or_default(),
    };
    if groups.is_empty() {
        r.push(
            cat,
            "rule groups",
            Status::Fail,
            "Prometheus has no rule group loaded".into(),
            start.elapsed(),
        );
        return;
    }
    let mut alert_rules: Vec<(String, Vec<String>)> = Vec::new();
    for g in &groups {
        let name = g["name"].as_str().unwrap_or("?");
        let rules = g["rules"].as_array().cloned().unwrap_or_default();
        let errors: Vec<String> = rules
            .iter()
            .filter(|x| {
                x["health"] == "err" || x["lastError"].as_str().is_some_and(|e| !e.is_empty())
            })
            .map(|x| {
                format!(
                    "{}: {}",
                    x["name"].as_str().unwrap_or("?"),
                    x["lastError"].as_str().unwrap_or("error")
                )
            })
            .collect();
        let unknown = rules.iter().filter(|x| x["health"] == "unknown").count();
        if errors.is_empty() {
            let note = if unknown > 0 {
                format!(" ({unknown} not evaluated yet)")
            } else {
                String::new()
            };
            r.push(
                cat,
                &format!("group {name}"),
                Status::Pass,
                format!("{} rule(s) evaluate without error{note}", rules.len()),
                start.elapsed(),
            );
        } else {
            r.push(
                cat,
                &format!("group {name}"),
                Status::Fail,
                errors.join("; "),
                start.elapsed(),
            );
        }
        for x in &rules {
            if x["type"] == "alerting" {
                let q = x["query"].as_str().unwrap_or("");
                if q.contains("absent(") || q.contains("absent_over_time(") {
                    // Such a rule is about a missing metric: no series is its normal state.
                    continue;
                }
                alert_rules.push((
                    x["name"].as_str().unwrap_or("?").to_owned(),
                    promql::metric_names(q),
                ));
            }
        }
    }
    let start = Instant::now();
    let all: BTreeSet<&str> = alert_rules
        .iter()
        .flat_map(|(_, n)| n.iter().map(String::as_str))
        .collect();
    if all.is_empty() {
        r.push(
            cat,
            "alert rule metrics",
            Status::Pass,
            "no alert rule reads a metric".into(),
            start.elapsed(),
        );
        return;
    }
    let re = all
        .iter()
        .map(|n| n.replace('.', "\\\\."))
        .collect::<Vec<_>>()
        .join("|");
    let present: BTreeSet<String> =
        match query(p, &format!("group by (__name__) ({{__name__=~\"{re}\"}})")) {
            Err(e) => {
                r.push(cat, "alert rule metrics", Status::Fail, e, start.elapsed());
                return;
            }
            Ok(s) => s
                .iter()
                .filter_map(|x| x["metric"]["__name__"].as_str().map(str::to_owned))
                .collect(),
        };
    let mut failed = false;
    for (rule, names) in &alert_rules {
        let missing: Vec<&str> = names
            .iter()
            .map(String::as_str)
            .filter(|n| !present.contains(*n))
            .collect();
        if !missing.is_empty() {
            failed = true;
            r.push(
                cat,
                &format!("alert {rule}"),
                Status::Fail,
                format!(
                    "no series of {}: no target serves it, so the rule can never fire",
                    missing.join(", ")
                ),
                start.elapsed(),
            );
        }
    }
    if !failed {
        r.push(
            cat,
            "alert rule metrics",
            Status::Pass,
            format!(
                "all {} metric names of {} alert rules have series",
                all.len(),
                alert_rules.len()
            ),
            start.elapsed(),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skip_and_only_name_known_categories() {
        let (run, skipped) = select(&["volumes".into()], &[]).unwrap();
        assert!(!run.contains("volumes") && skipped == ["volumes"]);
        let (run, _) = select(&[], &["rules".into(), "targets".into()]).unwrap();
        assert_eq!(run.into_iter().collect::<Vec<_>>(), ["rules", "targets"]);
        let err = select(&["volume".into()], &[]).unwrap_err();
        assert!(
            err.contains("\"volume\"") && err.contains("volumes"),
            "{err}"
        );
    }

    #[test]
    fn a_missing_docker_cli_is_skip_and_a_failing_one_fail() {
        let missing = docker_program(
            "mcp-agent-test-no-such-docker-cli",
            &["ps"],
            Duration::from_secs(5),
        )
        .unwrap_err();
        let (status, reason) = docker_row(missing);
        assert_eq!(status, Status::Skip);
        assert!(reason.contains("docker CLI is not installed"), "{reason}");
        // A CLI that runs and fails is a FAIL row (`false` exits 1).
        let failed = docker_program("false", &["ps"], Duration::from_secs(5)).unwrap_err();
        assert_eq!(docker_row(failed).0, Status::Fail);
    }

    #[test]
    fn dns_errors_are_told_apart_from_refused_connections() {
        let dns = connect("no-such-host.invalid", 80, Duration::from_secs(5)).unwrap_err();
        assert!(dns.starts_with("DNS:"), "{dns}");
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        drop(l);
        let refused = connect("127.0.0.1", port, Duration::from_secs(5)).unwrap_err();
        assert!(refused.starts_with("connection refused"), "{refused}");
    }
}
