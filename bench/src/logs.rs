//! `bench/run logs`: mcp-agent as the host's log collector, tailing a Docker root laid out in a
//! temp dir (20 containers, json-file logs, `config.v2.json` with names) into the test suite's
//! Loki-compatible receiver (`mcp_testkit::loki::FakeLoki`, the real snappy-protobuf push) on
//! loopback, while a thread writes 10,000 lines/s over the containers. Three phases: the receiver
//! up, an outage (503 or hanging), up again; then the backlog drains. Per phase: lines written,
//! lines stored, the agent's CPU-seconds (utime+stime), lines stored per CPU-second, VmRSS (peak
//! of the samples) and VmHWM; at the end loss (written − distinct stored), duplicates and the
//! agent's own drop counters. Goals (issue 15): ≥ 200,000 lines per CPU-second, RSS ≤ 16 MiB,
//! zero loss.

use std::fmt::Write as _;
use std::io::BufRead as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use mcp_testkit::docker_logs::{Arrivals, DockerRoot, RateWriter};
use mcp_testkit::loki::{FakeLoki, Mode};

use crate::procstat;
use crate::report::thousands;

/// The logs mode's flags.
#[derive(Debug, Clone, clap::Args)]
pub struct LogsArgs {
    /// logs: seconds of the first phase, the receiver up (default 30; 3 with --quick).
    #[arg(long, value_name = "SECS")]
    pub logs_up_secs: Option<u64>,
    /// logs: seconds of the outage (default 30; 3 with --quick).
    #[arg(long, value_name = "SECS")]
    pub logs_outage_secs: Option<u64>,
    /// logs: seconds with the receiver back up (default 30; 3 with --quick).
    #[arg(long, value_name = "SECS")]
    pub logs_back_secs: Option<u64>,
    /// logs: how the receiver fails in the outage: `503` (answers 503) or `hang` (never answers).
    #[arg(long, default_value = "503", value_parser = ["503", "hang"])]
    pub logs_outage: String,
    /// logs: lines written per second, over all containers.
    #[arg(long, default_value_t = 10_000)]
    pub logs_rate: u64,
    /// logs: containers in the Docker root.
    #[arg(long, default_value_t = 20)]
    pub logs_containers: usize,
}

const GOAL_LINES_PER_CPU_S: f64 = 200_000.0;
const GOAL_RSS_KB: u64 = 16 * 1024;

/// One phase's figures.
#[derive(Debug, Clone, Default)]
struct Row {
    name: String,
    secs: f64,
    written: u64,
    stored: u64,
    cpu_s: f64,
    rss_max_kb: u64,
    hwm_kb: u64,
}

impl Row {
    fn lines_per_cpu_s(&self) -> Option<f64> {
        (self.cpu_s > 0.0 && self.stored > 0).then(|| self.stored as f64 / self.cpu_s)
    }
}

struct Agent {
    child: Child,
    pid: u32,
    metrics_url: String,
    log: PathBuf,
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Agent {
    fn start(bin: &Path, dir: &Path, loki: &FakeLoki, root: &Path) -> anyhow::Result<Self> {
        let port = mcp_testkit::free_port();
        // A host section with one cheap collector only serves /agent/metrics (scraped at the
        // phase ends, never by a Prometheus); the logs section keeps the shipped defaults.
        let cfg = format!(
            "host: {{listen_address: [\"127.0.0.1:{port}\"], settings: {{collectors: [loadavg]}}}}\n\
             redis: {{enabled: false}}\npostgres: {{enabled: false}}\n\
             logs:\n  loki_url: {}\n  positions_file: {}\n  host: bench\n  docker: {{root: {}}}\n",
            loki.url(),
            dir.join("positions.json").display(),
            root.display()
        );
        let path = dir.join("agent.yml");
        std::fs::write(&path, cfg).context("write the agent config")?;
        let log = dir.join("agent.log");
        let stderr = std::fs::File::create(&log).context("create the agent log")?;
        let mut child = Command::new(bin)
            .arg("--config")
            .arg(&path)
            .arg("run")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .with_context(|| format!("start {}", bin.display()))?;
        let pid = child.id();
        // Drain stdout so the agent never blocks on a full pipe.
        if let Some(out) = child.stdout.take() {
            std::thread::spawn(move || for _ in std::io::BufReader::new(out).lines() {});
        }
        let mut agent = Self {
            child,
            pid,
            metrics_url: format!("http://127.0.0.1:{port}/agent/metrics"),
            log,
        };
        if mcp_testkit::wait_for_tcp(&format!("127.0.0.1:{port}"), Duration::from_secs(30)).is_err()
        {
            bail!("mcp-agent did not listen within 30 s: {}", agent.log_tail());
        }
        agent.alive()?;
        Ok(agent)
    }

    fn alive(&mut self) -> anyhow::Result<()> {
        match self.child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(st)) => bail!("mcp-agent exited ({st}): {}", self.log_tail()),
            Err(e) => bail!("mcp-agent: {e}"),
        }
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(5)..].join(" | ")
    }

    fn metrics(&self) -> anyhow::Result<String> {
        let (status, body) = mcp_testkit::http_get(&self.metrics_url);
        if status != 200 {
            bail!("GET {}: {status} {body}", self.metrics_url);
        }
        Ok(body)
    }

    fn ticks(&self) -> anyhow::Result<u64> {
        procstat::cpu_ticks(self.pid).context("read the agent's /proc/PID/stat")
    }

    fn status(&self) -> anyhow::Result<procstat::Status> {
        procstat::status(self.pid).context("read the agent's /proc/PID/status")
    }

    /// SIGTERM and wait (15 s); the exit status.
    fn stop(mut self) -> anyhow::Result<String> {
        let _ = Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status();
        let end = Instant::now() + Duration::from_secs(15);
        while Instant::now() < end {
            if let Ok(Some(st)) = self.child.try_wait() {
                return Ok(st.to_string());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        bail!("mcp-agent did not exit within 15 s of SIGTERM")
    }
}

/// What the bench measured, for the printers.
struct Outcome {
    rows: Vec<Row>,
    total: Row,
    written: u64,
    written_per: Vec<u64>,
    tally: Arrivals,
    drained: bool,
    metrics: Vec<(String, f64)>,
    exit: String,
    settings: String,
    binary: String,
}

/// Runs the logs benchmark (blocking work, on a blocking thread) and prints the result.
pub async fn run(
    args: &LogsArgs,
    quick: bool,
    ours: &[String],
    ours_missing: &[String],
    output: &str,
) -> anyhow::Result<()> {
    if ours_missing.iter().any(|m| m == "agent") {
        bail!("logs: mcp-agent did not build (see the bench/run output)");
    }
    let bin = match ours.iter().find_map(|o| o.strip_prefix("agent=")) {
        Some(p) => PathBuf::from(p),
        None => crate::pairs::find_ours("mcp-agent", quick)
            .context("logs: mcp-agent is not built (run bench/run logs, which builds it)")?,
    };
    let args = args.clone();
    let when = crate::command_line("date", &["-u", "+%Y-%m-%d %H:%M UTC"]);
    let load_start = procstat::loadavg();
    let outcome = tokio::task::spawn_blocking(move || measure(&args, quick, &bin))
        .await
        .context("the logs benchmark thread")??;
    let load_end = procstat::loadavg();
    let command =
        std::env::var("MCP_BENCH_COMMAND").unwrap_or_else(|_| "mcp-bench logs".to_owned());
    if output == "json" {
        println!("{}", json(&outcome, &command, &when));
    } else {
        print!(
            "{}",
            markdown(&outcome, &command, &when, &load_start, &load_end)
        );
    }
    Ok(())
}

fn measure(args: &LogsArgs, quick: bool, bin: &Path) -> anyhow::Result<Outcome> {
    let secs = |v: Option<u64>| v.unwrap_or(if quick { 3 } else { 30 });
    let phases = [
        ("receiver up", secs(args.logs_up_secs), Mode::Accept),
        (
            if args.logs_outage == "hang" {
                "outage (hang)"
            } else {
                "outage (503)"
            },
            secs(args.logs_outage_secs),
            if args.logs_outage == "hang" {
                Mode::Hang
            } else {
                Mode::Status(503)
            },
        ),
        ("receiver back", secs(args.logs_back_secs), Mode::Accept),
    ];
    let n = args.logs_containers.max(1);
    let dir = tempfile::Builder::new()
        .prefix("mcp-bench-logs-")
        .tempdir()
        .context("create the run's temp dir")?;
    let root = DockerRoot::new().context("lay out the Docker root")?;
    let logs = root
        .add_many("bench", n)
        .context("lay out the containers")?;
    let names: Vec<String> = logs.iter().map(|(n, _)| n.clone()).collect();
    let loki = FakeLoki::start();
    eprintln!("mcp-bench: logs: {} on {}", bin.display(), loki.url());
    let mut agent = Agent::start(bin, dir.path(), &loki, root.root())?;
    // Every container discovered before the clock starts.
    let targets_ready = mcp_testkit::wait_until(Duration::from_secs(30), || {
        agent
            .metrics()
            .ok()
            .and_then(|m| mcp_testkit::sample(&m, "mcp_agent_log_targets"))
            == Some(n as f64)
    });
    if !targets_ready {
        bail!(
            "the agent did not tail {n} containers within 30 s: {}",
            agent.log_tail()
        );
    }
    let clk = procstat::clk_tck();
    let mut tally = Arrivals::new(&names);
    let writer = RateWriter::start(logs, args.logs_rate);
    let mut rows = Vec::new();
    let run_start = Instant::now();
    let ticks_start = agent.ticks()?;
    let mut rss_run_max = 0;
    for (name, secs, mode) in phases {
        eprintln!("mcp-bench: logs: {name} for {secs} s");
        loki.set_mode(mode);
        let row = phase(&mut agent, &loki, &mut tally, name, clk, &writer, |t| {
            t.elapsed() >= Duration::from_secs(secs)
        })?;
        rss_run_max = rss_run_max.max(row.rss_max_kb);
        rows.push(row);
    }
    let written_per = writer.stop().context("the log writer")?;
    let written: u64 = written_per.iter().sum();
    // The backlog: bounded by what a collector at the goal's pace needs, with room for a
    // loaded machine; a backlog that does not drain is reported as loss, not waited for.
    let drain_limit = Duration::from_secs(if quick { 60 } else { 180 });
    eprintln!("mcp-bench: logs: draining the backlog ({written} lines written)");
    let drain = phase(
        &mut agent,
        &loki,
        &mut tally,
        "drain (writer stopped)",
        clk,
        &RateWriterDone(written),
        |t| t.elapsed() >= drain_limit,
    )?;
    let drained = tally.missing(&written_per) == 0;
    rows.push(drain);
    let ticks_end = agent.ticks()?;
    let st = agent.status()?;
    let total = Row {
        name: "whole run".into(),
        secs: run_start.elapsed().as_secs_f64(),
        written,
        stored: tally.stored,
        cpu_s: ticks_end.saturating_sub(ticks_start) as f64 / clk,
        rss_max_kb: rows.iter().map(|r| r.rss_max_kb).max().unwrap_or(0),
        hwm_kb: st.hwm_kb,
    };
    let text = agent.metrics()?;
    let mut metrics = Vec::new();
    for line in text.lines() {
        if line.starts_with("mcp_agent_log_")
            && !line.starts_with("mcp_agent_log_target_lag")
            && let Some((series, v)) = line.rsplit_once(' ')
            && let Ok(v) = v.parse::<f64>()
        {
            metrics.push((series.to_owned(), v));
        }
    }
    let exit = agent.stop()?;
    if tally.foreign > 0 {
        bail!(
            "{} stored lines were not the writer's (no container or sequence number)",
            tally.foreign
        );
    }
    Ok(Outcome {
        rows,
        total,
        written,
        written_per,
        tally,
        drained,
        metrics,
        exit,
        settings: format!(
            "{} lines/s over {n} containers (json-file records of 150–250-byte JSON lines, one in ten on stderr), outage: {}",
            args.logs_rate, args.logs_outage
        ),
        binary: bin.display().to_string(),
    })
}

/// Lines written so far, for a phase's figures.
trait Written {
    fn written_now(&self) -> u64;
}

impl Written for RateWriter {
    fn written_now(&self) -> u64 {
        self.total()
    }
}

/// The writer after it stopped: a fixed count.
struct RateWriterDone(u64);

impl Written for RateWriterDone {
    fn written_now(&self) -> u64 {
        self.0
    }
}

/// One phase: until `done` (given the phase's start) or, for the drain, until every line
/// written arrived. Samples RSS every 200 ms and folds what the receiver stored every second.
#[allow(clippy::too_many_arguments)]
fn phase(
    agent: &mut Agent,
    loki: &FakeLoki,
    tally: &mut Arrivals,
    name: &str,
    clk: f64,
    writer: &dyn Written,
    done: impl Fn(Instant) -> bool,
) -> anyhow::Result<Row> {
    let start = Instant::now();
    let ticks0 = agent.ticks()?;
    let written0 = writer.written_now();
    let stored0 = tally.stored;
    let draining = name.starts_with("drain");
    let mut rss_max = 0;
    let mut last_fold = Instant::now();
    loop {
        agent.alive()?;
        rss_max = rss_max.max(agent.status()?.rss_kb);
        if last_fold.elapsed() >= Duration::from_secs(1) {
            tally.add(loki.take_entries());
            last_fold = Instant::now();
        }
        if draining && tally.distinct >= writer.written_now() {
            break;
        }
        if done(start) {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    tally.add(loki.take_entries());
    let st = agent.status()?;
    Ok(Row {
        name: name.to_owned(),
        secs: start.elapsed().as_secs_f64(),
        written: writer.written_now() - written0,
        stored: tally.stored - stored0,
        cpu_s: agent.ticks()?.saturating_sub(ticks0) as f64 / clk,
        rss_max_kb: rss_max.max(st.rss_kb),
        hwm_kb: st.hwm_kb,
    })
}

fn mib(kb: u64) -> String {
    format!("{:.1} MiB", kb as f64 / 1024.0)
}

/// A markdown table with its columns padded to one width (readable as printed).
fn table(head: &[&str], rows: &[Vec<String>], right: &[bool]) -> String {
    let mut w: Vec<usize> = head.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            w[i] = w[i].max(c.chars().count());
        }
    }
    let pad = |s: &str, i: usize| {
        let fill = " ".repeat(w[i] - s.chars().count());
        if right.get(i).copied().unwrap_or(false) {
            format!("{fill}{s}")
        } else {
            format!("{s}{fill}")
        }
    };
    let mut out = String::new();
    let line = |cells: Vec<String>| format!("| {} |\n", cells.join(" | "));
    out.push_str(&line(
        head.iter().enumerate().map(|(i, h)| pad(h, i)).collect(),
    ));
    out.push_str(&line(
        w.iter()
            .enumerate()
            .map(|(i, n)| {
                if right.get(i).copied().unwrap_or(false) {
                    format!("{}:", "-".repeat(n.saturating_sub(1)))
                } else {
                    "-".repeat(*n)
                }
            })
            .collect(),
    ));
    for r in rows {
        out.push_str(&line(
            r.iter().enumerate().map(|(i, c)| pad(c, i)).collect(),
        ));
    }
    out
}

struct Verdicts {
    rate: f64,
    rate_ok: bool,
    hwm_ok: bool,
    loss: u64,
    dropped: f64,
    loss_ok: bool,
}

fn verdicts(o: &Outcome) -> Verdicts {
    let rate = if o.total.cpu_s > 0.0 {
        o.tally.distinct as f64 / o.total.cpu_s
    } else {
        0.0
    };
    let loss = o.tally.missing(&o.written_per);
    let dropped: f64 = o
        .metrics
        .iter()
        .filter(|(s, _)| s.starts_with("mcp_agent_log_lines_dropped_total"))
        .map(|(_, v)| v)
        .sum();
    Verdicts {
        rate,
        rate_ok: rate >= GOAL_LINES_PER_CPU_S,
        hwm_ok: o.total.hwm_kb <= GOAL_RSS_KB,
        loss,
        dropped,
        loss_ok: loss == 0 && dropped == 0.0,
    }
}

fn verdict(ok: bool) -> &'static str {
    if ok { "met" } else { "**missed**" }
}

fn markdown(o: &Outcome, command: &str, when: &str, load_start: &str, load_end: &str) -> String {
    let v = verdicts(o);
    let mut s = String::new();
    let _ = writeln!(
        s,
        "## logs: mcp-agent tailing Docker json-file logs into a Loki-compatible receiver\n"
    );
    let _ = writeln!(
        s,
        "Command: `{command}` · {when} · {} · load {load_start} → {load_end}\n",
        crate::machine()
    );
    let _ = writeln!(
        s,
        "Agent: `{}`, logs section at its defaults (batch_max_bytes 1 MiB, batch_wait_ms 1000, \
         poll_interval_ms 250, memory_limit_bytes 8 MiB). Receiver: mcp_testkit::loki::FakeLoki \
         on loopback (snappy-protobuf push decoded and stored), in the driver's process, as is \
         the writer: {}. CPU is the agent's utime+stime from /proc/PID/stat (10 ms ticks); \
         \"stored\" counts every entry the receiver accepted, duplicates included.\n",
        o.binary, o.settings
    );
    let rows: Vec<Vec<String>> = o
        .rows
        .iter()
        .chain(std::iter::once(&o.total))
        .map(|r| {
            vec![
                r.name.clone(),
                format!("{:.1}", r.secs),
                thousands(r.written),
                thousands(r.stored),
                format!("{:.2}", r.cpu_s),
                r.lines_per_cpu_s()
                    .map_or_else(|| "—".to_owned(), |x| thousands(x as u64)),
                mib(r.rss_max_kb),
                mib(r.hwm_kb),
            ]
        })
        .collect();
    s.push_str(&table(
        &[
            "phase",
            "seconds",
            "lines written",
            "lines stored",
            "agent CPU s",
            "stored / CPU s",
            "VmRSS max",
            "VmHWM",
        ],
        &rows,
        &[false, true, true, true, true, true, true, true],
    ));
    let _ = writeln!(
        s,
        "\nLoss: written {} − distinct stored {} = **{}**; duplicates {}; backlog drained: {}; \
         agent exit on SIGTERM: {}.\n",
        thousands(o.written),
        thousands(o.tally.distinct),
        v.loss,
        o.tally.duplicates,
        if o.drained { "yes" } else { "no (time limit)" },
        o.exit
    );
    let goals = vec![
        vec![
            "≥ 200,000 lines per CPU-second (distinct stored / agent CPU, whole run)".to_owned(),
            thousands(v.rate as u64),
            verdict(v.rate_ok).to_owned(),
        ],
        vec![
            "RSS ≤ 16 MiB (VmHWM, whole run)".to_owned(),
            mib(o.total.hwm_kb),
            verdict(v.hwm_ok).to_owned(),
        ],
        vec![
            "zero loss (and mcp_agent_log_lines_dropped_total 0)".to_owned(),
            format!("loss {}, dropped {}", v.loss, v.dropped),
            verdict(v.loss_ok).to_owned(),
        ],
    ];
    s.push_str(&table(
        &["goal", "measured", "verdict"],
        &goals,
        &[false, true, false],
    ));
    let _ = writeln!(s, "\nThe agent's counters at the end:\n");
    let m: Vec<Vec<String>> = o
        .metrics
        .iter()
        .map(|(k, v)| vec![format!("`{k}`"), format!("{v}")])
        .collect();
    s.push_str(&table(&["series", "value"], &m, &[false, true]));
    s
}

fn json(o: &Outcome, command: &str, when: &str) -> String {
    let v = verdicts(o);
    let row = |r: &Row| {
        serde_json::json!({
            "phase": r.name, "seconds": r.secs, "lines_written": r.written,
            "lines_stored": r.stored, "agent_cpu_seconds": r.cpu_s,
            "lines_stored_per_cpu_second": r.lines_per_cpu_s(),
            "vmrss_max_kb": r.rss_max_kb, "vmhwm_kb": r.hwm_kb,
        })
    };
    serde_json::json!({
        "mode": "logs",
        "command": command,
        "date": when,
        "machine": crate::machine(),
        "binary": o.binary,
        "settings": o.settings,
        "phases": o.rows.iter().map(row).collect::<Vec<_>>(),
        "whole_run": row(&o.total),
        "lines_written": o.written,
        "lines_distinct_stored": o.tally.distinct,
        "loss": v.loss,
        "duplicates": o.tally.duplicates,
        "drained": o.drained,
        "agent_exit": o.exit,
        "metrics": o.metrics.iter().map(|(k, v)| serde_json::json!({"series": k, "value": v})).collect::<Vec<_>>(),
        "verdicts": {
            "lines_per_cpu_second": {"goal": GOAL_LINES_PER_CPU_S, "measured": v.rate, "met": v.rate_ok},
            "vmhwm_kb": {"goal": GOAL_RSS_KB, "measured": o.total.hwm_kb, "met": v.hwm_ok},
            "loss": {"goal": 0, "measured": v.loss, "dropped": v.dropped, "met": v.loss_ok},
        },
    })
    .to_string()
}
