//! One side of a pair in one round: a fresh exporter process, measured from idle through
//! sequential and concurrent scrapes, then killed.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::load;
use crate::pairs::{Backend, Pair};
use crate::procstat;

/// Figures of one side in one round, by key (see `report::ROWS`).
pub type Run = BTreeMap<&'static str, f64>;

/// A side's figures and, when scrapes failed, which phase and why (first failure of each phase).
pub type Measured = (Run, Vec<String>);

/// How hard to push.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Scrapes per phase.
    pub scrapes: u64,
    /// Concurrency of the phases after the sequential one.
    pub concurrency: Vec<u64>,
    /// Wait after the port opens before reading idle RSS.
    pub idle_wait: Duration,
    /// Per-scrape timeout (Prometheus' default scrape timeout).
    pub timeout: Duration,
    /// No phase starts new scrapes after this long.
    pub phase_deadline: Duration,
}

/// Kills and reaps the exporter whatever happens (only this child, by its handle).
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn tail(path: &Path, n: usize) -> String {
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

/// Runs one side; `Err` is a reason to skip it (the exporter did not start or died).
pub async fn run(
    pair: Pair,
    backend: &Backend,
    bin: &Path,
    plan: &Plan,
    logdir: &Path,
    tag: &str,
) -> Result<Measured, String> {
    let clk = procstat::clk_tck();
    let mut why: Vec<String> = Vec::new();
    let port = mcp_testkit::free_port();
    let listen = format!("127.0.0.1:{port}");
    let (args, env) = backend.exporter_command(pair, &listen);
    let log = logdir.join(format!("{tag}.log"));
    let log_file =
        std::fs::File::create(&log).map_err(|e| format!("create {}: {e}", log.display()))?;
    let mut cmd = Command::new(bin);
    cmd.args(&args)
        .envs(env)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(log_file));
    let child = cmd
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
    let mut guard = Guard(child);
    let pid = guard.0.id();

    let mut exited = None;
    let ready = mcp_testkit::wait_until(Duration::from_secs(20), || {
        if let Ok(Some(st)) = guard.0.try_wait() {
            exited = Some(st);
            return true;
        }
        std::net::TcpStream::connect(&listen).is_ok()
    });
    if let Some(st) = exited {
        return Err(format!("exited at start ({st}): {}", tail(&log, 3)));
    }
    if !ready {
        return Err(format!(
            "did not listen on {listen} within 20 s: {}",
            tail(&log, 3)
        ));
    }
    tokio::time::sleep(plan.idle_wait).await;
    let mut run = Run::new();
    let mb = |kb: u64| kb as f64 / 1024.0;
    if let Ok(meta) = std::fs::metadata(bin) {
        run.insert("bin_mb", meta.len() as f64 / 1_048_576.0);
    }
    let idle = procstat::status(pid).ok_or("process vanished before the first scrape")?;
    run.insert("idle_rss_mb", mb(idle.rss_kb));

    let url = format!("http://{listen}/metrics");
    let mut failed = 0u64;
    let first = match load::client(plan.timeout) {
        Ok(c) => load::scrape(&c, &url).await,
        Err(e) => Err(e.to_string()),
    };
    match &first {
        Ok(body) => {
            run.insert("bytes", body.len() as f64);
            run.insert("series", series_count(body) as f64);
        }
        Err(e) => {
            failed += 1;
            why.push(format!("first scrape: {e}"));
        }
    }

    // Sequential phase: CPU, latency, backend work and backend CPU per scrape.
    let work0 = backend.work_counter();
    let bcpu0 = backend.cpu_ticks();
    let cpu0 = procstat::cpu_ticks(pid);
    let seq = load::run(&url, plan.scrapes, 1, plan.timeout, plan.phase_deadline).await;
    let cpu1 = procstat::cpu_ticks(pid);
    let bcpu1 = backend.cpu_ticks();
    let work1 = backend.work_counter();
    // Per successful scrape: a refused scrape (HTTP 503) costs the exporter almost nothing, and
    // counting it would flatter the side that refuses.
    let n = seq.latencies.len().max(1) as f64;
    if let (Some(a), Some(b)) = (cpu0, cpu1) {
        run.insert("cpu_seq", (b - a) as f64 / clk / n * 1000.0);
    }
    if let (Some(a), Some(b)) = (bcpu0, bcpu1) {
        run.insert("backend_cpu", b.saturating_sub(a) as f64 / clk / n * 1000.0);
    }
    if let (Some(a), Some(b)) = (work0, work1) {
        run.insert("backend_work", (b - a - backend.probe_overhead()) / n);
    }
    run.insert("p50_seq", load::percentile(&seq.latencies, 0.5) * 1000.0);
    run.insert("p99_seq", load::percentile(&seq.latencies, 0.99) * 1000.0);
    failed += seq.failures;
    run.insert("failed_seq", seq.failures as f64);
    if let Some(e) = seq.first_error {
        why.push(format!(
            "{} of {} sequential scrapes failed, first: {e}",
            seq.failures, plan.scrapes
        ));
    }
    if let Some(s) = procstat::status(pid) {
        run.insert("rss_after_mb", mb(s.rss_kb));
        run.insert("anon_after_mb", mb(s.anon_kb));
        run.insert("file_after_mb", mb(s.file_kb));
    }

    for &c in &plan.concurrency {
        let cpu0 = procstat::cpu_ticks(pid);
        let ph = load::run(&url, plan.scrapes, c, plan.timeout, plan.phase_deadline).await;
        let cpu1 = procstat::cpu_ticks(pid);
        let (kcpu, k50, k99) = match c {
            10 => ("cpu_c10", "p50_c10", "p99_c10"),
            _ => ("cpu_c64", "p50_c64", "p99_c64"),
        };
        if let (Some(a), Some(b)) = (cpu0, cpu1) {
            let ok = ph.latencies.len().max(1) as f64;
            run.insert(kcpu, (b - a) as f64 / clk / ok * 1000.0);
        }
        run.insert(k50, load::percentile(&ph.latencies, 0.5) * 1000.0);
        run.insert(k99, load::percentile(&ph.latencies, 0.99) * 1000.0);
        failed += ph.failures;
        run.insert(
            if c == 10 { "failed_c10" } else { "failed_c64" },
            ph.failures as f64,
        );
        if let Some(e) = ph.first_error {
            why.push(format!(
                "{} of {} scrapes at {c} concurrent failed, first: {e}",
                ph.failures, plan.scrapes
            ));
        }
    }

    let end = procstat::status(pid);
    if let Ok(Some(st)) = guard.0.try_wait() {
        return Err(format!("died during the run ({st}): {}", tail(&log, 3)));
    }
    if let Some(s) = end {
        run.insert("hwm_mb", mb(s.hwm_kb));
        run.insert("threads", s.threads as f64);
    }
    run.insert("failed", failed as f64);
    drop(guard);
    Ok((run, why))
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
