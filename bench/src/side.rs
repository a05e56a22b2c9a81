//! One side of a pair in one round: a fresh exporter process, measured from idle through
//! plain-text and gzip scrapes (sequential, multi-target, concurrent), then killed; and the
//! variants that need a process of their own (the TLS listener, another allocator).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::load::{self, Target};
use crate::pairs::{Backend, Pair};
use crate::procstat;
use crate::tls::{self, TlsFiles};

/// Figures of one side in one round, by key (see `report::ROWS`).
pub type Run = BTreeMap<&'static str, f64>;

/// A side's figures and, when scrapes failed, which phase and why (first failure of each phase).
pub type Measured = (Run, Vec<String>);

/// How hard to push.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Scrapes per phase.
    pub scrapes: u64,
    /// Concurrency of the phases after the sequential ones.
    pub concurrency: Vec<u64>,
    /// Wait after the port opens before reading idle RSS.
    pub idle_wait: Duration,
    /// Per-scrape timeout (Prometheus' default scrape timeout).
    pub timeout: Duration,
    /// No phase starts new scrapes after this long.
    pub phase_deadline: Duration,
}

/// Kills and reaps a process whatever happens (only this child, by its handle).
pub struct Guard(pub Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The last `n` lines of a log, on one line.
pub fn tail(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join(" | ")
}

/// Series in an exposition: non-empty lines that are not comments.
pub fn series_count(body: &[u8]) -> usize {
    String::from_utf8_lossy(body)
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .count()
}

/// Starts `bin` and waits until every address in `listen` accepts connections.
pub fn spawn(
    bin: &Path,
    args: &[String],
    env: &[(String, String)],
    listen: &[String],
    log: &Path,
) -> Result<Guard, String> {
    spawn_with_timeout(bin, args, env, listen, log, Duration::from_secs(20))
}

/// [`spawn`], waiting up to `ready_within` for the ports (a process under valgrind starts slowly).
pub fn spawn_with_timeout(
    bin: &Path,
    args: &[String],
    env: &[(String, String)],
    listen: &[String],
    log: &Path,
    ready_within: Duration,
) -> Result<Guard, String> {
    let log_file =
        std::fs::File::create(log).map_err(|e| format!("create {}: {e}", log.display()))?;
    let child = Command::new(bin)
        .args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(log_file))
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
    let mut guard = Guard(child);
    let mut exited = None;
    let ready = mcp_testkit::wait_until(ready_within, || {
        if let Ok(Some(st)) = guard.0.try_wait() {
            exited = Some(st);
            return true;
        }
        listen
            .iter()
            .all(|a| std::net::TcpStream::connect(a).is_ok())
    });
    if let Some(st) = exited {
        return Err(format!("exited at start ({st}): {}", tail(log, 3)));
    }
    if !ready {
        return Err(format!(
            "did not listen on {} within {} s: {}",
            listen.join(", "),
            ready_within.as_secs(),
            tail(log, 3)
        ));
    }
    Ok(guard)
}

fn mb(kb: u64) -> f64 {
    kb as f64 / 1024.0
}

/// Keys of one measured phase.
struct Keys {
    cpu: &'static str,
    p50: &'static str,
    p99: &'static str,
    failed: &'static str,
    what: &'static str,
}

const SEQ_PLAIN: Keys = Keys {
    cpu: "cpu_seq",
    p50: "p50_seq",
    p99: "p99_seq",
    failed: "failed_seq",
    what: "sequential plain-text",
};
const SEQ_GZ: Keys = Keys {
    cpu: "cpu_seq_gz",
    p50: "p50_seq_gz",
    p99: "p99_seq_gz",
    failed: "failed_seq_gz",
    what: "sequential gzip",
};
const MULTI: Keys = Keys {
    cpu: "cpu_multi",
    p50: "p50_multi",
    p99: "p99_multi",
    failed: "failed_multi",
    what: "multi-target gzip",
};
const TLS: Keys = Keys {
    cpu: "cpu_tls",
    p50: "p50_tls",
    p99: "p99_tls",
    failed: "failed_tls",
    what: "TLS gzip",
};
const C10: Keys = Keys {
    cpu: "cpu_c10",
    p50: "p50_c10",
    p99: "p99_c10",
    failed: "failed_c10",
    what: "10 concurrent gzip",
};
const C64: Keys = Keys {
    cpu: "cpu_c64",
    p50: "p50_c64",
    p99: "p99_c64",
    failed: "failed_c64",
    what: "64 concurrent gzip",
};

/// A running side being measured.
struct Measuring<'a> {
    pid: u32,
    plan: &'a Plan,
    clk: f64,
    run: Run,
    why: Vec<String>,
    failed: u64,
}

impl Measuring<'_> {
    /// Runs one phase of `plan.scrapes` scrapes and records CPU, latency and failures.
    async fn phase(&mut self, target: &Target, conc: u64, k: &Keys) -> load::Phase {
        let cpu0 = procstat::cpu_ticks(self.pid);
        let ph = load::run(
            target,
            self.plan.scrapes,
            conc,
            self.plan.timeout,
            self.plan.phase_deadline,
        )
        .await;
        let cpu1 = procstat::cpu_ticks(self.pid);
        // Per successful scrape: a refused scrape (HTTP 503) costs the exporter almost nothing,
        // and counting it would flatter the side that refuses.
        let ok = ph.latencies.len().max(1) as f64;
        if let (Some(a), Some(b)) = (cpu0, cpu1) {
            self.run
                .insert(k.cpu, b.saturating_sub(a) as f64 / self.clk / ok * 1000.0);
        }
        self.run
            .insert(k.p50, load::percentile(&ph.latencies, 0.5) * 1000.0);
        self.run
            .insert(k.p99, load::percentile(&ph.latencies, 0.99) * 1000.0);
        self.run.insert(k.failed, ph.failures as f64);
        self.failed += ph.failures;
        if let Some(e) = &ph.first_error {
            self.why.push(format!(
                "{} of {} {} scrapes failed, first: {e}",
                ph.failures, self.plan.scrapes, k.what
            ));
        }
        ph
    }

    /// One scrape for its size (and, with `series_key`, its series); `Err` when it failed or
    /// the answer is not an exposition (a landing page where a path is not served).
    async fn first(
        &mut self,
        target: &Target,
        bytes_key: &'static str,
        series_key: Option<&'static str>,
    ) -> Result<(), String> {
        let got = match load::client(self.plan.timeout, target) {
            Ok(c) => load::scrape(&c, target).await,
            Err(e) => Err(e),
        };
        let (wire, text) = got.and_then(|s| {
            let ct = s.content_type.to_ascii_lowercase();
            if !(ct.starts_with("text/plain") || ct.starts_with("application/openmetrics-text")) {
                return Err(format!(
                    "not an exposition (Content-Type {:?}): the path is not served",
                    s.content_type
                ));
            }
            if target.gzip && !s.gzipped {
                return Err("asked for gzip, got an uncompressed body".into());
            }
            let text = s.text()?;
            Ok((s.wire_bytes, text))
        })?;
        self.run.insert(bytes_key, wire as f64);
        if let Some(k) = series_key {
            self.run.insert(k, series_count(&text) as f64);
        }
        Ok(())
    }

    /// [`Self::first`], a failure counted as one failed scrape.
    async fn first_counted(
        &mut self,
        target: &Target,
        bytes_key: &'static str,
        series_key: Option<&'static str>,
    ) {
        if let Err(e) = self.first(target, bytes_key, series_key).await {
            self.failed += 1;
            self.why.push(format!("first scrape ({bytes_key}): {e}"));
        }
    }

    fn memory(
        &mut self,
        rss: &'static str,
        anon: Option<&'static str>,
        file: Option<&'static str>,
    ) {
        if let Some(s) = procstat::status(self.pid) {
            self.run.insert(rss, mb(s.rss_kb));
            if let Some(k) = anon {
                self.run.insert(k, mb(s.anon_kb));
            }
            if let Some(k) = file {
                self.run.insert(k, mb(s.file_kb));
            }
        }
    }
}

/// The URL of the pair's multi-target endpoint for this backend (`None`: the pair has none).
pub fn multi_target_url(backend: &Backend, listen: &str) -> Option<String> {
    match backend {
        Backend::Redis(r) => Some(format!(
            "http://{listen}/scrape?target={}",
            encode(&r.url())
        )),
        // Another database of the same server: a second target, as a probe job would have.
        Backend::Postgres(pg, _) => Some(format!(
            "http://{listen}/probe?target={}",
            encode(&pg.dsn("app1"))
        )),
        Backend::Host | Backend::Agent(..) => None,
    }
}

fn encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Which process variant of a side to measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    /// Plain HTTP: every phase.
    Main,
    /// The TLS (+ basic auth) listener: idle RSS and the sequential gzip phase.
    Tls,
    /// Another build of ours (the allocator A/B): idle RSS, sequential gzip, memory.
    Alt,
}

/// Runs one side; `Err` is a reason to skip it (the exporter did not start or died).
#[allow(clippy::too_many_arguments)]
pub async fn run(
    pair: Pair,
    backend: &Backend,
    bin: &Path,
    go: bool,
    variant: Variant,
    tls_files: Option<&TlsFiles>,
    plan: &Plan,
    logdir: &Path,
    tag: &str,
) -> Result<Measured, String> {
    let port = mcp_testkit::free_port();
    let listen = format!("127.0.0.1:{port}");
    let (mut args, env) = backend.exporter_command(pair, &listen);
    let mut auth = false;
    if variant == Variant::Tls {
        let files = tls_files.ok_or("no TLS files (openssl failed; see above)")?;
        let (extra, basic) = files.args(pair, go);
        args.extend(extra);
        auth = basic;
    }
    let log = logdir.join(format!("{tag}.log"));
    let guard = spawn(bin, &args, &env, std::slice::from_ref(&listen), &log)?;
    let mut m = Measuring {
        pid: guard.0.id(),
        plan,
        clk: procstat::clk_tck(),
        run: Run::new(),
        why: Vec::new(),
        failed: 0,
    };
    tokio::time::sleep(plan.idle_wait).await;
    if let Ok(meta) = std::fs::metadata(bin) {
        m.run.insert("bin_mb", meta.len() as f64 / 1_048_576.0);
    }
    let idle = procstat::status(m.pid).ok_or("process vanished before the first scrape")?;

    match variant {
        Variant::Tls => {
            let files = tls_files.ok_or("no TLS files")?;
            let target = Target {
                url: format!("https://{listen}/metrics"),
                gzip: true,
                basic_auth: auth.then(|| (tls::USER.to_owned(), files.password.clone())),
                ca_pem: Some(files.ca_pem.clone()),
            };
            m.run.insert("idle_rss_tls", mb(idle.rss_kb));
            if auth {
                // The listener really checks: without credentials, 401.
                let anon = Target {
                    basic_auth: None,
                    ..target.clone()
                };
                match load::client(plan.timeout, &anon) {
                    Ok(c) => match load::scrape(&c, &anon).await {
                        Err(e) if e.contains("401") => {}
                        Err(e) => m.why.push(format!("TLS without credentials: {e}, not 401")),
                        Ok(_) => {
                            m.failed += 1;
                            m.why
                                .push("TLS without credentials answered 200: no basic auth".into());
                        }
                    },
                    Err(e) => m.why.push(format!("TLS client: {e}")),
                }
            }
            m.phase(&target, 1, &TLS).await;
            m.memory("rss_tls", None, None);
        }
        Variant::Alt => {
            let gz = Target::http(format!("http://{listen}/metrics"), true);
            m.run.insert("idle_rss_mb", mb(idle.rss_kb));
            m.phase(&gz, 1, &SEQ_GZ).await;
            m.memory("rss_after_mb", Some("anon_after_mb"), Some("file_after_mb"));
        }
        Variant::Main => {
            let plain = Target::http(format!("http://{listen}/metrics"), false);
            let gz = Target::http(plain.url.clone(), true);
            m.run.insert("idle_rss_mb", mb(idle.rss_kb));
            m.first_counted(&plain, "wire_plain", Some("series")).await;
            m.first_counted(&gz, "wire_gz", None).await;

            // Plain text, sequential: also the backend's work and CPU per scrape (they do not
            // depend on the encoding).
            let work0 = backend.work_counter();
            let bcpu0 = backend.cpu_ticks();
            let seq = m.phase(&plain, 1, &SEQ_PLAIN).await;
            let bcpu1 = backend.cpu_ticks();
            let work1 = backend.work_counter();
            let n = seq.latencies.len().max(1) as f64;
            if let (Some(a), Some(b)) = (bcpu0, bcpu1) {
                m.run.insert(
                    "backend_cpu",
                    b.saturating_sub(a) as f64 / m.clk / n * 1000.0,
                );
            }
            if let (Some(a), Some(b)) = (work0, work1) {
                m.run
                    .insert("backend_work", (b - a - backend.probe_overhead()) / n);
            }

            // As Prometheus scrapes: gzip, one keep-alive connection.
            m.phase(&gz, 1, &SEQ_GZ).await;
            m.memory("rss_after_mb", Some("anon_after_mb"), Some("file_after_mb"));

            if let Some(url) = multi_target_url(backend, &listen) {
                let t = Target::http(url, true);
                match m.first(&t, "wire_multi", Some("series_multi")).await {
                    Ok(()) => {
                        m.phase(&t, 1, &MULTI).await;
                    }
                    // A Go original older than the feature (postgres_exporter 0.11.1 has no
                    // /probe; 0.12 added it) is a gap in the row, not a failed scrape.
                    Err(e) if go => m.why.push(format!("multi-target row: {e}")),
                    Err(e) => {
                        m.failed += 1;
                        m.why.push(format!("multi-target first scrape: {e}"));
                    }
                }
            }
            for &c in &plan.concurrency {
                m.phase(&gz, c, if c == 10 { &C10 } else { &C64 }).await;
            }
        }
    }

    let end = procstat::status(m.pid);
    let mut guard = guard;
    if let Ok(Some(st)) = guard.0.try_wait() {
        return Err(format!("died during the run ({st}): {}", tail(&log, 3)));
    }
    if let Some(s) = end {
        match variant {
            Variant::Tls => {
                m.run.insert("hwm_tls", mb(s.hwm_kb));
            }
            _ => {
                m.run.insert("hwm_mb", mb(s.hwm_kb));
                m.run.insert("threads", s.threads as f64);
            }
        }
    }
    m.run.insert(
        if variant == Variant::Tls {
            "failed_tls_all"
        } else {
            "failed"
        },
        m.failed as f64,
    );
    drop(guard);
    Ok((m.run, m.why))
}

/// The floor for one round: the backend's own round trips, sequential, timed the same way.
pub async fn floor(backend: &Backend, scrapes: u64) -> Result<Run, String> {
    let clk = procstat::clk_tck();
    let work0 = backend.work_counter();
    let bcpu0 = backend.cpu_ticks();
    let self0 = procstat::cpu_ticks(std::process::id());
    let (lat, failed) = backend.floor(scrapes).await.map_err(|e| e.to_string())?;
    let self1 = procstat::cpu_ticks(std::process::id());
    let bcpu1 = backend.cpu_ticks();
    let work1 = backend.work_counter();
    let n = scrapes as f64;
    let mut run = Run::new();
    run.insert("p50_seq", load::percentile(&lat, 0.5) * 1000.0);
    run.insert("p99_seq", load::percentile(&lat, 0.99) * 1000.0);
    run.insert("failed", failed as f64);
    match (bcpu0, bcpu1) {
        (Some(a), Some(b)) => {
            run.insert("backend_cpu", b.saturating_sub(a) as f64 / clk / n * 1000.0);
        }
        // Host: the floor's work is the driver's own reads.
        _ => {
            if let (Some(a), Some(b)) = (self0, self1) {
                run.insert("cpu_seq", b.saturating_sub(a) as f64 / clk / n * 1000.0);
            }
        }
    }
    if let (Some(a), Some(b)) = (work0, work1) {
        run.insert("backend_work", (b - a - backend.probe_overhead()) / n);
    }
    Ok(run)
}
