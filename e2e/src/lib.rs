//! Support for the end-to-end tests of the docker/mcp stack (`e2e/tests/`).
//!
//! The tests load the *committed* files of `docker/mcp/` (Prometheus config and rules, Alertmanager
//! routing, Grafana dashboards, the compose file, deploy.sh) and run them against real processes on
//! loopback: what is rewritten for loopback (targets, intervals, `for:` durations, the Slack URL file)
//! is done here, in one place, and printed by the tests.
//!
//! Panicking with a clear message is the right failure mode in test support.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use serde_json::{Value, json};

/// `docker/mcp/` of this repository.
pub fn stack_dir() -> PathBuf {
    mcp_testkit::workspace_root().join("docker").join("mcp")
}

/// A committed file of `docker/mcp/`, by its path relative to that directory.
pub fn stack_file(rel: &str) -> String {
    let path = stack_dir().join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// YAML text as a JSON value (anchors and merge keys resolved). JSON is YAML, so a value
/// rewritten here can be handed back to Prometheus or Alertmanager as `to_string()`.
pub fn yaml(text: &str) -> Value {
    serde_saphyr::from_str(text).unwrap_or_else(|e| panic!("YAML: {e}"))
}

// === binaries ===

/// The directory cargo puts this test's profile's binaries in (`target/<profile>`): the test
/// executable lives in its `deps/`.
pub fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let deps = exe.parent().expect("test binary has a directory");
    let dir = if deps.file_name().is_some_and(|n| n == "deps") {
        deps.parent().expect("deps has a parent")
    } else {
        deps
    };
    dir.to_path_buf()
}

/// Builds the binaries the stack runs (`mcp-agent`, the four CDB services of `mcp-examples`) once
/// per test process, in this test's profile, so the e2e runs from a clean clone. Cargo serialises
/// on the target dir's lock; nextest has released it while tests run.
pub fn ensure_built() {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.current_dir(mcp_testkit::workspace_root()).args([
            "build",
            "--quiet",
            "-p",
            "mcp-agent",
            "-p",
            "mcp-examples",
            "--bins",
        ]);
        // The test's own cargo-set variables (CARGO_PKG_*, CARGO_MANIFEST_DIR, ...) would change
        // what the nested build sees; give it the environment a shell would.
        for (k, _) in std::env::vars_os() {
            let k = k.to_string_lossy();
            if (k.starts_with("CARGO_") && k != "CARGO_HOME" && k != "CARGO_TARGET_DIR")
                || k.starts_with("NEXTEST")
                || k == "OUT_DIR"
            {
                cmd.env_remove(&*k);
            }
        }
        if profile_dir().file_name().is_some_and(|n| n == "release") {
            cmd.arg("--release");
        }
        let out = cmd.output().expect("run cargo build");
        assert!(
            out.status.success(),
            "cargo build -p mcp-agent -p mcp-examples --bins failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    });
}

/// A workspace binary of this profile (built by [`ensure_built`]), or from `MCP_E2E_BIN_DIR`
/// when set (binaries built elsewhere, e.g. another profile; nothing is built then).
pub fn binary(name: &str) -> PathBuf {
    let dir = match std::env::var_os("MCP_E2E_BIN_DIR").filter(|d| !d.is_empty()) {
        Some(d) => PathBuf::from(d),
        None => {
            ensure_built();
            profile_dir()
        }
    };
    let path = dir.join(name);
    assert!(
        path.is_file(),
        "{} missing (built by cargo build -p mcp-agent -p mcp-examples --bins)",
        path.display()
    );
    path
}

// === processes ===

/// A child process with its output in a log file; killed and reaped on drop.
#[derive(Debug)]
pub struct Proc {
    /// What it is (for messages).
    pub name: String,
    child: Option<Child>,
    log: PathBuf,
}

impl Proc {
    /// Starts `cmd` with stdout and stderr to `dir/<name>.log`.
    pub fn spawn(name: &str, mut cmd: Command, dir: &Path) -> Self {
        let log = dir.join(format!("{name}.log"));
        let out = File::create(&log).expect("create log");
        let err = out.try_clone().expect("dup log");
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("start {name}: {e}"));
        Proc {
            name: name.to_owned(),
            child: Some(child),
            log,
        }
    }

    /// The last lines of its log.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    /// Whether it is still running.
    pub fn running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// SIGKILL and reap.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Waits until `GET url` answers 200, or panics with the process' log.
pub fn wait_http_ok(proc: &mut Proc, url: &str, timeout: Duration) {
    let ok = mcp_testkit::wait_until(timeout, || {
        !proc.running() || mcp_testkit::http_get(url).0 == 200
    });
    assert!(
        ok && proc.running(),
        "{} did not answer 200 on {url} within {timeout:?}; log:\n{}",
        proc.name,
        proc.log_tail()
    );
}

/// A Prometheus of this test: `config` (with `{{self}}` replaced by its own `127.0.0.1:PORT`) and
/// the `(name, text)` files beside it, extra flags, TSDB in `dir/<name>`.
pub struct PromProc {
    /// The process.
    pub proc: Proc,
    /// Its port.
    pub port: u16,
}

impl PromProc {
    /// Starts it and waits for `/-/ready`.
    pub fn start(
        name: &str,
        config: &str,
        files: &[(&str, &str)],
        extra: &[&str],
        dir: &Path,
    ) -> Self {
        let bin = mcp_testkit::find_binary("prometheus").expect("prometheus");
        let port = mcp_testkit::free_port();
        let sub = dir.join(name);
        std::fs::create_dir_all(&sub).expect("mkdir");
        for (f, text) in files {
            std::fs::write(sub.join(f), text).expect("write file");
        }
        let cfg = sub.join("prometheus.yml");
        std::fs::write(
            &cfg,
            config.replace("{{self}}", &format!("127.0.0.1:{port}")),
        )
        .expect("write config");
        let mut cmd = Command::new(bin);
        cmd.arg(format!("--config.file={}", cfg.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                sub.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .args(extra)
            .current_dir(&sub);
        let mut proc = Proc::spawn(name, cmd, dir);
        wait_http_ok(
            &mut proc,
            &format!("http://127.0.0.1:{port}/-/ready"),
            Duration::from_secs(30),
        );
        PromProc { proc, port }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// An instant query: `data.result`.
    pub fn query(&self, expr: &str) -> Value {
        query(&self.url(), expr)
    }

    /// `data.activeTargets` of `/api/v1/targets`.
    pub fn targets(&self) -> Value {
        let (_, body) = mcp_testkit::http_get(&format!("{}/api/v1/targets", self.url()));
        let v: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
        v["data"]["activeTargets"].clone()
    }
}

/// An instant query against any Prometheus: `data.result`.
pub fn query(base: &str, expr: &str) -> Value {
    let url = reqwest::Url::parse_with_params(&format!("{base}/api/v1/query"), [("query", expr)])
        .expect("url");
    let (status, body) = mcp_testkit::http_get(url.as_str());
    if status != 200 {
        return json!({"error": body});
    }
    let v: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    v["data"]["result"].clone()
}

// === the committed configs, rewritten for loopback ===

/// Where the test runs each target of the committed prometheus.yml.
#[derive(Clone, Debug, Default)]
pub struct Loopback {
    /// `host:port` in the committed file -> `127.0.0.1:port` here.
    pub targets: Vec<(String, String)>,
    /// Alertmanager's `127.0.0.1:port`.
    pub alertmanager: String,
    /// Remote-write receiver URL (`http://127.0.0.1:port/api/v1/write`), uncommenting the
    /// committed remote_write block.
    pub remote_write: Option<String>,
    /// Jobs dropped (components this test does not run).
    pub drop_jobs: Vec<String>,
}

/// The commented `remote_write:` block of prometheus.yml, uncommented and parsed.
pub fn commented_remote_write(config_text: &str) -> Value {
    let mut block = Vec::new();
    let mut inside = false;
    for line in config_text.lines() {
        if line.starts_with("# remote_write:") {
            inside = true;
        } else if inside && !line.starts_with("#   ") {
            break;
        }
        if inside {
            block.push(line.trim_start_matches('#').strip_prefix(' ').unwrap_or(""));
        }
    }
    assert!(
        !block.is_empty(),
        "prometheus.yml has no commented `# remote_write:` block"
    );
    let v = yaml(&block.join("\n"));
    assert!(
        v["remote_write"].is_array(),
        "the commented block is not a remote_write list: {v}"
    );
    v["remote_write"].clone()
}

/// The committed prometheus.yml with 1 s scrape and evaluation intervals, static targets on
/// loopback, Alertmanager on loopback, some jobs dropped and optionally the remote_write block
/// uncommented (pointing at `lb.remote_write`). Jobs that discover their targets by DNS
/// (`dns_sd_configs`) are left as committed. `{{self}}` stands for Prometheus' own address.
pub fn rewrite_prometheus_config(lb: &Loopback) -> Value {
    let text = stack_file("prometheus/prometheus.yml");
    let mut cfg = yaml(&text);
    cfg["global"]["scrape_interval"] = json!("1s");
    cfg["global"]["scrape_timeout"] = json!("1s");
    cfg["global"]["evaluation_interval"] = json!("1s");
    cfg["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] = json!([lb.alertmanager]);
    let jobs = cfg["scrape_configs"]
        .as_array_mut()
        .expect("scrape_configs");
    jobs.retain(|j| {
        !lb.drop_jobs
            .iter()
            .any(|d| j["job_name"].as_str() == Some(d))
    });
    for job in jobs.iter_mut() {
        let name = job["job_name"].as_str().unwrap_or("?").to_owned();
        if job.get("static_configs").is_none() {
            // A DNS-discovered job (promtail) is kept as committed: its names are looked up by
            // this host's resolver, which knows no container, so it has no target here, which is
            // what it has in the stack while the container does not run. Any other discovery
            // would need a loopback rewrite this function does not know.
            assert!(
                job.as_object()
                    .is_some_and(|o| o.contains_key("dns_sd_configs")),
                "job {name}: neither static_configs nor dns_sd_configs, no loopback rewrite known"
            );
            continue;
        }
        for sc in job["static_configs"]
            .as_array_mut()
            .unwrap_or_else(|| panic!("job {name}: static_configs is a list"))
        {
            for t in sc["targets"].as_array_mut().expect("targets") {
                let name = t.as_str().expect("target string").to_owned();
                let new = if name == "localhost:9090" {
                    "{{self}}".to_owned()
                } else if name == "mcp_alertmanager:9093" {
                    lb.alertmanager.clone()
                } else {
                    lb.targets
                        .iter()
                        .find(|(k, _)| *k == name)
                        .map(|(_, v)| v.clone())
                        .unwrap_or_else(|| panic!("no loopback address for target {name}"))
                };
                *t = json!(new);
            }
        }
    }
    if let Some(url) = &lb.remote_write {
        let mut rw = commented_remote_write(&text);
        rw[0]["url"] = json!(url);
        cfg["remote_write"] = rw;
    }
    cfg
}

/// The committed alert.rules.yml with every `for:` set to `for_` (JSON, which Prometheus reads as
/// YAML). Expressions, labels and annotations are untouched.
pub fn shorten_rules(for_: &str) -> String {
    let mut rules = yaml(&stack_file("prometheus/alert.rules.yml"));
    for g in rules["groups"].as_array_mut().expect("groups") {
        for r in g["rules"].as_array_mut().expect("rules") {
            if r.get("for").is_some() {
                r["for"] = json!(for_);
            }
        }
    }
    rules.to_string()
}

/// The committed alertmanager.yml with only the Slack webhook file replaced.
pub fn alertmanager_config(slack_url_file: &Path) -> String {
    const COMMITTED: &str = "/etc/alertmanager/secrets/slack_webhook_url";
    let text = stack_file("alertmanager/alertmanager.yml");
    assert!(
        text.contains(&format!("slack_api_url_file: {COMMITTED}")),
        "alertmanager.yml does not read the webhook from {COMMITTED}"
    );
    text.replace(COMMITTED, &slack_url_file.display().to_string())
}

/// The healthcheck command of a compose service (`test: ["CMD", ...]`), with compose's `$$`
/// unescaped and each `(from, to)` replacement applied, ready to run on this host.
pub fn compose_healthcheck(service: &str, replace: &[(&str, &str)]) -> Vec<String> {
    let compose = yaml(&stack_file("docker-compose.observability.yml"));
    let test = compose["services"][service]["healthcheck"]["test"]
        .as_array()
        .unwrap_or_else(|| panic!("{service} has a healthcheck test list"));
    assert_eq!(test[0], "CMD", "{service}: exec form");
    test[1..]
        .iter()
        .map(|a| {
            let mut a = a.as_str().expect("string").replace("$$", "$");
            for (from, to) in replace {
                a = a.replace(from, to);
            }
            a
        })
        .collect()
}

/// Runs a healthcheck command: whether it exits 0.
pub fn run_healthcheck(cmd: &[String]) -> bool {
    Command::new(&cmd[0])
        .args(&cmd[1..])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

// === dashboards ===

/// One query of a committed dashboard.
#[derive(Clone, Debug)]
pub struct PanelQuery {
    /// Dashboard file name.
    pub dashboard: String,
    /// Panel title.
    pub panel: String,
    /// Datasource uid (`prometheus` or `loki`).
    pub datasource: String,
    /// The expression as committed.
    pub expr: String,
}

/// Every query of every dashboard in `grafana/dashboards/`.
pub fn dashboard_queries() -> Vec<PanelQuery> {
    let dir = stack_dir().join("grafana").join("dashboards");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("dashboards dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let d: Value =
            serde_json::from_str(&std::fs::read_to_string(&f).expect("read")).expect("JSON");
        for p in d["panels"].as_array().expect("panels") {
            for t in p["targets"].as_array().into_iter().flatten() {
                let ds = t["datasource"]["uid"]
                    .as_str()
                    .or(p["datasource"]["uid"].as_str())
                    .unwrap_or("")
                    .to_owned();
                out.push(PanelQuery {
                    dashboard: f.file_name().unwrap().to_string_lossy().into_owned(),
                    panel: p["title"].as_str().unwrap_or("").to_owned(),
                    datasource: ds,
                    expr: t["expr"].as_str().unwrap_or("").to_owned(),
                });
            }
        }
    }
    out
}

/// A dashboard expression with Grafana's variables as Grafana would send them: template
/// variables set to "All" (`.*`), the interval variables to `window`.
pub fn substitute(expr: &str, window: &str) -> String {
    let re = regex::Regex::new(r"\$(__rate_interval|__interval|__range|__auto|[A-Za-z_]+)")
        .expect("regex");
    re.replace_all(expr, |c: &regex::Captures<'_>| match &c[1] {
        "__rate_interval" | "__interval" | "__range" | "__auto" => window.to_owned(),
        _ => ".*".to_owned(),
    })
    .into_owned()
}
