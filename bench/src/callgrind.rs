//! `--callgrind`: instructions per scrape under callgrind, the figure that stays put on a shared
//! machine (CPU seconds move with the load; instruction counts do not), for before/after
//! comparisons of a change. bench/profile is the entry point.
//!
//! Per target: the same private backend as the benchmark, our release binary started under
//! `valgrind --tool=callgrind` (through bench/tools/no-pr-get-auxv, see there why), a few
//! warm-up scrapes, then per mode (gzip, plain text; sequential on one keep-alive connection,
//! and 10 at once for the single exporters) `callgrind_control --zero`, N scrapes,
//! `callgrind_control --dump`; the dump's total divided by N is the figure. The agent's N
//! scrapes are N of each of its three exporters.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context as _, bail};

use crate::load::{self, Target};
use crate::pairs::{self, Backend, Pair};
use crate::side;

/// One measured mode of one target.
pub struct Figure {
    /// `redis`, `host`, `postgres`, `agent`.
    pub target: &'static str,
    /// `gzip` or `plain text`.
    pub mode: &'static str,
    /// Instructions per scrape (per scrape of each exporter for the agent).
    pub ir_per_scrape: f64,
    /// The top functions by self cost, from callgrind_annotate.
    pub top: Vec<(u64, String)>,
}

fn tool(name: &str) -> anyhow::Result<()> {
    let ok = Command::new(name)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok && name == "callgrind_control" {
        // callgrind_control --version is not an option everywhere; -h is.
        if Command::new(name)
            .arg("-h")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok()
        {
            return Ok(());
        }
    }
    if !ok {
        bail!("{name} not found (apt-get install valgrind)");
    }
    Ok(())
}

fn control(pid: u32, what: &str) -> anyhow::Result<()> {
    let out = Command::new("callgrind_control")
        .arg(what)
        .arg(pid.to_string())
        .stdin(Stdio::null())
        .output()
        .context("run callgrind_control")?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() || !text.contains("OK") {
        bail!(
            "callgrind_control {what} {pid}: {}",
            text.lines()
                .chain(String::from_utf8_lossy(&out.stderr).lines())
                .collect::<Vec<_>>()
                .join(" ")
        );
    }
    Ok(())
}

/// `summary:` (else `totals:`) of a callgrind output file.
fn total_ir(file: &Path) -> anyhow::Result<u64> {
    let text = std::fs::read_to_string(file).with_context(|| format!("read {}", file.display()))?;
    for key in ["summary:", "totals:"] {
        if let Some(v) = text
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        {
            return Ok(v);
        }
    }
    bail!("{}: no summary line", file.display())
}

/// The `top` functions by self cost. Rows holding (nearly) the whole dump are left out: those
/// are the frames on the stack when `--dump` came (thread start, the runtime's task loop), which
/// callgrind_annotate 3.19 lists with their inclusive cost.
fn annotate(file: &Path, top: usize, total: u64) -> Vec<(u64, String)> {
    let Ok(out) = Command::new("callgrind_annotate")
        .arg("--inclusive=no")
        .arg("--threshold=100")
        .arg(file)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
    else {
        return Vec::new();
    };
    let text = String::from_utf8_lossy(&out.stdout);
    let mut rows = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.contains("PROGRAM TOTALS") {
            continue;
        }
        // "1,234,567 (12.34%)  file:function [object]"
        let Some((num, rest)) = line.split_once(' ') else {
            continue;
        };
        let Ok(n) = num.replace(',', "").parse::<u64>() else {
            continue;
        };
        if n as f64 >= total as f64 * 0.99 {
            continue;
        }
        let func = rest
            .split_once(')')
            .map_or(rest, |(_, f)| f)
            .trim()
            .to_owned();
        let func = func
            .rsplit_once(" [")
            .map_or(func.as_str(), |(f, _)| f)
            .to_owned();
        let func = func
            .split_once(':')
            .filter(|(file, _)| file.starts_with('/') || file.starts_with("???"))
            .map_or(func.clone(), |(_, f)| f.to_owned());
        rows.push((n, func));
        if rows.len() == top {
            break;
        }
    }
    rows
}

/// Scrapes `targets` `n` times each over `conc` workers (one keep-alive connection each).
async fn scrapes(targets: &[Target], n: u64, conc: u64) -> anyhow::Result<()> {
    for t in targets {
        let ph = load::run(
            t,
            n,
            conc,
            Duration::from_secs(60),
            Duration::from_secs(1800),
        )
        .await;
        if ph.failures > 0 {
            bail!(
                "{} of {n} scrapes of {} failed: {}",
                ph.failures,
                t.url,
                ph.first_error.unwrap_or_default()
            );
        }
    }
    Ok(())
}

/// Profiles one target; `bin` is our binary for it.
pub async fn profile(
    pair: Pair,
    bin: &Path,
    backend: &Backend,
    n: u64,
    dir: &Path,
    top: usize,
) -> anyhow::Result<Vec<Figure>> {
    let wrapper = pairs::workspace_root().join("bench/tools/no-pr-get-auxv");
    let ports: Vec<u16> = (0..3).map(|_| mcp_testkit::free_port()).collect();
    let listen: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
    let (args, env, listen) = if pair == Pair::Agent {
        let cfg = dir.join("agent.yml");
        std::fs::write(
            &cfg,
            crate::agent::agent_config(backend, [ports[0], ports[1], ports[2]])
                .map_err(anyhow::Error::msg)?,
        )?;
        (
            vec!["--config".to_owned(), cfg.display().to_string()],
            Vec::new(),
            listen,
        )
    } else {
        let (a, e) = backend.exporter_command(pair, &listen[0]);
        (a, e, vec![listen[0].clone()])
    };
    let out = dir.join(format!("callgrind.{}.out", pair.name()));
    let mut vg_args: Vec<String> = vec![
        "valgrind".into(),
        "--tool=callgrind".into(),
        format!("--callgrind-out-file={}", out.display()),
        "--log-file=".to_owned()
            + &dir
                .join(format!("valgrind.{}.log", pair.name()))
                .display()
                .to_string(),
    ];
    vg_args.push(bin.display().to_string());
    vg_args.extend(args);
    let log = dir.join(format!("{}.log", pair.name()));
    let guard = side::spawn_with_timeout(
        &wrapper,
        &vg_args,
        &env,
        &listen,
        &log,
        Duration::from_secs(120),
    )
    .map_err(anyhow::Error::msg)?;
    let pid = guard.0.id();
    let urls: Vec<String> = listen
        .iter()
        .map(|l| format!("http://{l}/metrics"))
        .collect();
    let mut figures = Vec::new();
    // Warm-up: connections to the backends made, buffers grown, caches (e.g. pg_settings) filled.
    let gz: Vec<Target> = urls.iter().map(|u| Target::http(u.clone(), true)).collect();
    let plain: Vec<Target> = urls
        .iter()
        .map(|u| Target::http(u.clone(), false))
        .collect();
    scrapes(&gz, 5, 1).await?;
    scrapes(&plain, 2, 1).await?;
    // Sequential (one Prometheus), then 10 scrapers at once: concurrent scrapes of a target share
    // one collection (the coalescer) but each response is encoded and compressed on its own, so
    // the gap between the two gzip rows is what compressing once per collection would save.
    let modes: Vec<(&'static str, &Vec<Target>, u64)> = if pair == Pair::Agent {
        vec![("gzip", &gz, 1), ("plain text", &plain, 1)]
    } else {
        vec![
            ("gzip", &gz, 1),
            ("plain text", &plain, 1),
            ("gzip, 10 concurrent", &gz, 10),
            ("plain text, 10 concurrent", &plain, 10),
        ]
    };
    for (i, (mode, targets, conc)) in modes.into_iter().enumerate() {
        control(pid, "--zero")?;
        scrapes(targets, n, conc).await?;
        control(pid, "--dump")?;
        let part = PathBuf::from(format!("{}.{}", out.display(), i + 1));
        let ir = total_ir(&part)?;
        figures.push(Figure {
            target: pair.name(),
            mode,
            ir_per_scrape: ir as f64 / n as f64,
            top: annotate(&part, top, ir),
        });
    }
    drop(guard);
    Ok(figures)
}

/// The markdown of a profile run.
pub fn markdown(figures: &[Figure], n: u64, command: &str) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "## callgrind: instructions per scrape\n\n- Command: `{command}`.\n- Method: our release \
         binary under `valgrind --tool=callgrind`, private backends (mcp-testkit), 5 warm-up \
         scrapes, then per mode `callgrind_control --zero`, {n} scrapes with Prometheus' headers \
         (sequential on one keep-alive connection, or spread over 10 connections at once), \
         `callgrind_control --dump`; the dump's \
         instructions (all threads) / {n}. The agent's figure is per scrape of each of its three \
         exporters. Instruction counts do not move with the machine's load, so two runs compare; except the \
         10-concurrent rows, whose per-scrape figure depends on how many scrapes share one \
         collection, which timing decides: read their top functions (compression per response \
         against collection per scrape) within one run.\n\n\
         | target | mode | instructions per scrape |\n|---|---|---|"
    );
    for f in figures {
        let _ = writeln!(
            s,
            "| {} | {} | {} |",
            f.target,
            f.mode,
            crate::report::num(f.ir_per_scrape)
        );
    }
    for f in figures {
        if f.top.is_empty() {
            continue;
        }
        let _ = writeln!(
            s,
            "\n### {} ({}): top functions by self cost, per scrape\n\n| instructions | % | function |\n|---|---|---|",
            f.target, f.mode
        );
        let total = f.ir_per_scrape * n as f64;
        for (ir, func) in &f.top {
            let _ = writeln!(
                s,
                "| {} | {:.1} | `{}` |",
                crate::report::num(*ir as f64 / n as f64),
                *ir as f64 / total * 100.0,
                func.replace('|', "\\|")
            );
        }
    }
    s
}

/// Checks the tools, starts the backends and profiles each target in turn.
pub async fn run(
    targets: &[Pair],
    ours: &std::collections::BTreeMap<String, Result<PathBuf, String>>,
    n: u64,
    top: usize,
    command: &str,
) -> anyhow::Result<String> {
    tool("valgrind")?;
    tool("callgrind_control")?;
    let dir = tempfile::Builder::new()
        .prefix("mcp-callgrind-")
        .tempdir()
        .context("create a temp dir")?;
    // MCP_CALLGRIND_KEEP=1 keeps the callgrind files for callgrind_annotate / kcachegrind.
    let (path, _dir) = if std::env::var_os("MCP_CALLGRIND_KEEP").is_some() {
        let kept = dir.keep();
        eprintln!("mcp-bench: callgrind files kept in {}", kept.display());
        (kept, None)
    } else {
        (dir.path().to_path_buf(), Some(dir))
    };
    let mut backends: Vec<(Pair, Backend)> = Vec::new();
    let mut figures = Vec::new();
    for &pair in targets {
        let bin = match ours.get(pair.name()) {
            Some(Ok(b)) => b.clone(),
            Some(Err(e)) => bail!("{}: {e}", pair.name()),
            None => pairs::find_ours(pair.our_binary(), false).with_context(|| {
                format!("{} not built (bench/profile builds it)", pair.our_binary())
            })?,
        };
        let started: Vec<&Backend> = backends.iter().map(|(_, b)| b).collect();
        let backend = Backend::start(pair, &started)?;
        eprintln!(
            "mcp-bench: callgrind {}: {n} scrapes per mode under valgrind (slow: ~50× native)",
            pair.name()
        );
        figures.extend(profile(pair, &bin, &backend, n, &path, top).await?);
        backends.push((pair, backend));
    }
    Ok(markdown(&figures, n, command))
}
