//! `agent`: one mcp-agent serving host + Redis + PostgreSQL against the three Go exporters
//! running together, on the same backends in the same round. Each side gets three scrape loops
//! at once, one per exporter, each on its own keep-alive connection with gzip (a Prometheus
//! scraping the three jobs); figures are summed over the side's processes.

use std::path::Path;

use crate::load::{self, Target};
use crate::pairs::{Backend, Pair};
use crate::procstat::{self, Status};
use crate::side::{self, Guard, Measured, Plan, Run};

/// The agent's config file for these backends and ports.
pub fn agent_config(backend: &Backend, ports: [u16; 3]) -> Result<String, String> {
    let Backend::Agent(redis, pg) = backend else {
        return Err("not the agent's backend".into());
    };
    Ok(format!(
        "host:\n  listen_address: [\"127.0.0.1:{}\"]\n\
         redis:\n  listen_address: [\"127.0.0.1:{}\"]\n  settings:\n    redis_addr: {}\n\
         postgres:\n  listen_address: [\"127.0.0.1:{}\"]\n  settings:\n    data_source_names: [\"{}\"]\n",
        ports[0],
        ports[1],
        redis.url(),
        ports[2],
        pg.dsn("postgres")
    ))
}

/// The Go side's three binaries, in the order host, redis, postgres.
pub const GO_ORDER: [Pair; 3] = [Pair::Host, Pair::Redis, Pair::Postgres];

fn sum_status(pids: &[u32]) -> Option<Status> {
    let mut t = Status::default();
    for &p in pids {
        let s = procstat::status(p)?;
        t.rss_kb += s.rss_kb;
        t.hwm_kb += s.hwm_kb;
        t.anon_kb += s.anon_kb;
        t.file_kb += s.file_kb;
        t.threads += s.threads;
    }
    Some(t)
}

fn sum_cpu(pids: &[u32]) -> Option<u64> {
    pids.iter().map(|&p| procstat::cpu_ticks(p)).sum()
}

fn mb(kb: u64) -> f64 {
    kb as f64 / 1024.0
}

/// Runs one side: `go` = the three Go binaries (host, redis, postgres), else our agent.
pub async fn run(
    backend: &Backend,
    go: Option<&[std::path::PathBuf; 3]>,
    agent: Option<&Path>,
    plan: &Plan,
    logdir: &Path,
    tag: &str,
) -> Result<Measured, String> {
    let ports = [
        mcp_testkit::free_port(),
        mcp_testkit::free_port(),
        mcp_testkit::free_port(),
    ];
    let listen: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
    let mut guards: Vec<Guard> = Vec::new();
    let mut bin_mb = 0.0;
    match (go, agent) {
        (Some(bins), _) => {
            let Backend::Agent(redis, pg) = backend else {
                return Err("not the agent's backend".into());
            };
            for (i, pair) in GO_ORDER.iter().enumerate() {
                let (args, env) = match pair {
                    Pair::Redis => (
                        vec![
                            format!("--redis.addr={}", redis.url()),
                            format!("--web.listen-address={}", listen[i]),
                        ],
                        Vec::new(),
                    ),
                    Pair::Postgres => (
                        vec![format!("--web.listen-address={}", listen[i])],
                        vec![("DATA_SOURCE_NAME".to_owned(), pg.dsn("postgres"))],
                    ),
                    _ => (
                        vec![format!("--web.listen-address={}", listen[i])],
                        Vec::new(),
                    ),
                };
                let log = logdir.join(format!("{tag}-{}.log", pair.name()));
                guards.push(side::spawn(
                    &bins[i],
                    &args,
                    &env,
                    std::slice::from_ref(&listen[i]),
                    &log,
                )?);
                bin_mb += file_mb(&bins[i]);
            }
        }
        (None, Some(bin)) => {
            let config = logdir.join(format!("{tag}.yml"));
            std::fs::write(&config, agent_config(backend, ports)?)
                .map_err(|e| format!("write {}: {e}", config.display()))?;
            let args = vec!["--config".to_owned(), config.display().to_string()];
            let log = logdir.join(format!("{tag}.log"));
            guards.push(side::spawn(bin, &args, &[], &listen, &log)?);
            bin_mb += file_mb(bin);
        }
        (None, None) => return Err("nothing to run".into()),
    }
    let pids: Vec<u32> = guards.iter().map(|g| g.0.id()).collect();
    let mut run = Run::new();
    let mut why = Vec::new();
    let mut failed = 0u64;
    tokio::time::sleep(plan.idle_wait).await;
    run.insert("bin_mb", bin_mb);
    let idle = sum_status(&pids).ok_or("a process vanished before the first scrape")?;
    run.insert("idle_rss_mb", mb(idle.rss_kb));

    let targets: Vec<Target> = listen
        .iter()
        .map(|l| Target::http(format!("http://{l}/metrics"), true))
        .collect();
    let (mut wire, mut series) = (0.0, 0.0);
    for (t, pair) in targets.iter().zip(GO_ORDER) {
        let got = match load::client(plan.timeout, t) {
            Ok(c) => load::scrape(&c, t).await,
            Err(e) => Err(e),
        };
        match got.and_then(|s| Ok((s.wire_bytes, s.text()?))) {
            Ok((w, text)) => {
                wire += w as f64;
                series += side::series_count(&text) as f64;
            }
            Err(e) => {
                failed += 1;
                why.push(format!("first scrape of {}: {e}", pair.name()));
            }
        }
    }
    run.insert("wire_gz", wire);
    run.insert("series", series);

    // Three scrape loops at once, one per exporter, each sequential on its own connection.
    let cpu0 = sum_cpu(&pids);
    let phases = futures_join(&targets, plan).await;
    let cpu1 = sum_cpu(&pids);
    let mut lat = Vec::new();
    for (ph, pair) in phases.iter().zip(GO_ORDER) {
        lat.extend_from_slice(&ph.latencies);
        failed += ph.failures;
        if let Some(e) = &ph.first_error {
            why.push(format!(
                "{} of {} {} scrapes failed, first: {e}",
                ph.failures,
                plan.scrapes,
                pair.name()
            ));
        }
    }
    // Per 1000 scrapes of each exporter: the CPU of a Prometheus scraping all three jobs.
    let per_each = phases
        .iter()
        .map(|p| p.latencies.len())
        .min()
        .unwrap_or(0)
        .max(1) as f64;
    if let (Some(a), Some(b)) = (cpu0, cpu1) {
        run.insert(
            "cpu_seq_gz",
            b.saturating_sub(a) as f64 / procstat::clk_tck() / per_each * 1000.0,
        );
    }
    run.insert("p50_seq_gz", load::percentile(&lat, 0.5) * 1000.0);
    run.insert("p99_seq_gz", load::percentile(&lat, 0.99) * 1000.0);
    run.insert(
        "failed_seq_gz",
        phases.iter().map(|p| p.failures).sum::<u64>() as f64,
    );
    if let Some(s) = sum_status(&pids) {
        run.insert("rss_after_mb", mb(s.rss_kb));
        run.insert("anon_after_mb", mb(s.anon_kb));
        run.insert("file_after_mb", mb(s.file_kb));
        run.insert("hwm_mb", mb(s.hwm_kb));
        run.insert("threads", s.threads as f64);
    }
    for g in &mut guards {
        if let Ok(Some(st)) = g.0.try_wait() {
            return Err(format!("a process died during the run ({st})"));
        }
    }
    run.insert("failed", failed as f64);
    drop(guards);
    Ok((run, why))
}

fn file_mb(p: &Path) -> f64 {
    std::fs::metadata(p).map_or(0.0, |m| m.len() as f64 / 1_048_576.0)
}

async fn futures_join(targets: &[Target], plan: &Plan) -> Vec<load::Phase> {
    let tasks: Vec<_> = targets
        .iter()
        .map(|t| {
            let t = t.clone();
            let plan = plan.clone();
            tokio::spawn(async move {
                load::run(&t, plan.scrapes, 1, plan.timeout, plan.phase_deadline).await
            })
        })
        .collect();
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap_or_else(|e| load::Phase {
            failures: plan.scrapes,
            first_error: Some(format!("scrape loop panicked: {e}")),
            ..load::Phase::default()
        }));
    }
    out
}
