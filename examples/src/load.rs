//! The load driver behind `cdb_load`: an open-loop mix of orders (a share of them meant to be
//! rejected by risk), instrument and market-data lookups, and websocket subscribers, at a fixed
//! rate for a fixed time; optional fault injection; a summary (requests, errors, latency
//! percentiles, CPU per request of chosen processes) as a table or JSON.
//!
//! Open loop: a request is started every `1/rate` seconds whatever the previous ones do, so a
//! slow service shows up as latency, not as a lower rate (no coordinated omission). At most
//! `--concurrency` requests are in flight; a slot that finds none free is counted as `missed`.

use std::io::{IsTerminal as _, Write as _};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use futures_util::StreamExt as _;
use serde_json::json;

/// Drives the CDB services with a realistic mix and reports what happened.
#[derive(Debug, Parser)]
#[command(name = "cdb_load", version, about, long_about = None)]
pub struct Args {
    /// Base URL of cdb_core (instrument and market-data lookups).
    #[arg(long, default_value = "http://127.0.0.1:8000")]
    pub core_url: String,
    /// Base URL of cdb_execution (orders).
    #[arg(long, default_value = "http://127.0.0.1:8002")]
    pub execution_url: String,
    /// Base URL of cdb_ws (websocket subscribers).
    #[arg(long, default_value = "ws://127.0.0.1:8003")]
    pub ws_url: String,
    /// Requests started per second.
    #[arg(long, default_value_t = 20.0)]
    pub rate: f64,
    /// How long to run: 30s, 2m, 500ms, 1h (a bare number is seconds).
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Load before the measured run, not counted in the summary.
    #[arg(long, default_value = "0s", value_parser = parse_duration)]
    pub warmup: Duration,
    /// Share of requests that are lookups (the rest are orders), 0 to 1.
    #[arg(long, default_value_t = 0.3, value_parser = parse_share)]
    pub lookup_share: f64,
    /// Share of orders meant to be rejected by risk (blocked account, notional limit), 0 to 1.
    #[arg(long, default_value_t = 0.1, value_parser = parse_share)]
    pub reject_share: f64,
    /// Websocket subscribers kept connected (to `all`) during the run.
    #[arg(long, default_value_t = 2)]
    pub subscribers: usize,
    /// Most requests in flight.
    #[arg(long, default_value_t = 256)]
    pub concurrency: usize,
    /// Fault to inject during the run (needs CDB_FAULT_INJECTION=on on the target).
    #[arg(long, value_enum, default_value_t = FaultKind::None)]
    pub fault: FaultKind,
    /// Service the fault is injected into (its base URL; default: cdb_execution's).
    #[arg(long)]
    pub fault_target: Option<String>,
    /// Share of requests answered 500 with `--fault errors`, 0 to 1.
    #[arg(long, default_value_t = 0.5, value_parser = parse_share)]
    pub fault_ratio: f64,
    /// Delay added to each request with `--fault slow`, in milliseconds.
    #[arg(long, default_value_t = 500)]
    pub fault_delay_ms: u64,
    /// How long the fault lasts (default: the whole run).
    #[arg(long, value_parser = parse_duration)]
    pub fault_duration: Option<Duration>,
    /// A process whose CPU time per request to report (repeatable; Linux /proc).
    #[arg(long = "pid")]
    pub pids: Vec<u32>,
    /// How often a plain progress line is printed when stderr is not a terminal (CI, a pipe);
    /// 0 turns it off. On a terminal one line is redrawn every second instead.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub progress_interval: Duration,
    /// Summary format.
    #[arg(long, value_enum, default_value_t = Output::Text)]
    pub output: Output,
    /// Exit 3 when the error ratio of the run is above this, 0 to 1.
    #[arg(long, value_parser = parse_share)]
    pub max_error_ratio: Option<f64>,
}

/// A fault to inject.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum FaultKind {
    /// No fault.
    None,
    /// A share of requests answered with 500 (`--fault-ratio`).
    Errors,
    /// Every request delayed (`--fault-delay-ms`).
    Slow,
}

/// Summary format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// An aligned table for people.
    Text,
    /// One JSON object for machines.
    Json,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = match s.find(|c: char| !c.is_ascii_digit() && c != '.') {
        Some(i) => s.split_at(i),
        None => (s, "s"),
    };
    let n: f64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a duration (30s, 2m, 500ms)"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(format!("{s:?} is not a duration (30s, 2m, 500ms)")),
    };
    if !secs.is_finite() || !(0.0..=7.0 * 86400.0).contains(&secs) {
        return Err(format!("{s:?} is out of range"));
    }
    Ok(Duration::from_secs_f64(secs))
}

fn parse_share(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if (0.0..=1.0).contains(&v) => Ok(v),
        _ => Err(format!("{s:?} is not a share between 0 and 1")),
    }
}

/// What one kind of request did.
#[derive(Debug, Default)]
struct OpStats {
    requests: u64,
    ok: u64,
    rejected: u64,
    errors: u64,
    latencies_us: Vec<u32>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Order,
    RejectedOrder,
    Lookup,
}

const OPS: [(Op, &str); 3] = [
    (Op::Order, "order"),
    (Op::RejectedOrder, "order_reject"),
    (Op::Lookup, "lookup"),
];

#[derive(Debug, Default)]
struct Stats {
    ops: [OpStats; 3],
}

struct Shared {
    stats: Mutex<Stats>,
    recording: std::sync::atomic::AtomicBool,
    sent: AtomicU64,
    failed: AtomicU64,
    missed: AtomicU64,
    ws_messages: AtomicU64,
    ws_disconnects: AtomicU64,
    ws_connected: AtomicU64,
    prices: Mutex<[f64; 2]>,
}

const SYMBOLS: [&str; 2] = ["AAPL", "MSFT"];

/// Entry point of `cdb_load`.
pub fn main() -> std::process::ExitCode {
    let args = match Args::try_parse() {
        Ok(a) => a,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
                let _ = e.print();
                return std::process::ExitCode::SUCCESS;
            }
            // One line naming the problem (clap adds usage and a help hint below it).
            let text = e.render().to_string();
            let first = text.lines().next().unwrap_or("invalid arguments");
            eprintln!("cdb_load: {}", first.trim_start_matches("error: "));
            return std::process::ExitCode::from(64);
        }
    };
    if !(args.rate > 0.0 && args.rate <= 100_000.0) || args.concurrency == 0 {
        eprintln!("cdb_load: --rate must be in (0, 100000] and --concurrency positive");
        return std::process::ExitCode::from(64);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cdb_load: cannot start the runtime: {e}");
            return std::process::ExitCode::from(1);
        }
    };
    match runtime.block_on(run(args)) {
        Ok(code) => std::process::ExitCode::from(code),
        Err(e) => {
            eprintln!("cdb_load: {e}");
            std::process::ExitCode::from(1)
        }
    }
}

fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name; utime and stime are the 14th and 15th.
    let rest = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = f.get(11)?.parse().ok()?;
    let stime: f64 = f.get(12)?.parse().ok()?;
    // USER_HZ is 100 on every Linux we run on.
    Some((utime + stime) / 100.0)
}

async fn run(args: Args) -> Result<u8, String> {
    let http = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(2))
        .timeout(Duration::from_secs(10))
        .pool_max_idle_per_host(args.concurrency)
        .no_proxy()
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
    for (name, url) in [
        ("cdb_core", &args.core_url),
        ("cdb_execution", &args.execution_url),
    ] {
        let probe = format!("{}/-/healthy", url.trim_end_matches('/'));
        match http.get(&probe).send().await {
            Ok(r) if r.status().is_success() => {}
            Ok(r) => {
                return Err(format!(
                    "{name} at {url} answered {} to /-/healthy",
                    r.status()
                ));
            }
            Err(_) => return Err(format!("cannot reach {name} at {url}")),
        }
    }
    let shared = Arc::new(Shared {
        stats: Mutex::new(Stats::default()),
        recording: std::sync::atomic::AtomicBool::new(args.warmup.is_zero()),
        sent: AtomicU64::new(0),
        failed: AtomicU64::new(0),
        missed: AtomicU64::new(0),
        ws_messages: AtomicU64::new(0),
        ws_disconnects: AtomicU64::new(0),
        ws_connected: AtomicU64::new(0),
        prices: Mutex::new([190.0, 410.0]),
    });
    refresh_prices(&http, &args.core_url, &shared).await;
    let mut background = Vec::new();
    {
        let (http, core, shared) = (http.clone(), args.core_url.clone(), Arc::clone(&shared));
        background.push(tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                refresh_prices(&http, &core, &shared).await;
            }
        }));
    }
    for _ in 0..args.subscribers {
        let url = format!("{}/ws/stream/all", args.ws_url.trim_end_matches('/'));
        background.push(tokio::spawn(subscriber(url, Arc::clone(&shared))));
    }

    if !args.warmup.is_zero() {
        pace(&args, &http, &shared, args.warmup).await;
        shared.recording.store(true, Relaxed);
    }
    let fault_target = args
        .fault_target
        .clone()
        .unwrap_or_else(|| args.execution_url.clone());
    if args.fault != FaultKind::None {
        // The whole run by default: a second past its end, since it is cleared at the end.
        let secs = match args.fault_duration {
            Some(d) => d.as_secs().max(1),
            None => args.duration.as_secs() + 1,
        };
        let body = match args.fault {
            FaultKind::Errors => json!({"error_ratio": args.fault_ratio, "duration_secs": secs}),
            _ => json!({"delay_ms": args.fault_delay_ms, "duration_secs": secs}),
        };
        set_fault(&http, &fault_target, &body).await?;
    }
    let cpu_before: Vec<Option<f64>> = args.pids.iter().map(|p| cpu_seconds(*p)).collect();
    let started = Instant::now();
    let terminal = std::io::stderr().is_terminal();
    let progress = progress_task(&args, terminal, Arc::clone(&shared), started);
    let ws_before = shared.ws_messages.load(Relaxed);
    let in_flight = pace(&args, &http, &shared, args.duration).await;
    // Let the requests started in the window finish (each is bounded by the client timeout).
    let _ = tokio::time::timeout(
        Duration::from_secs(12),
        in_flight.acquire_many(args.concurrency as u32),
    )
    .await;
    let elapsed = started.elapsed();
    let cpu_after: Vec<Option<f64>> = args.pids.iter().map(|p| cpu_seconds(*p)).collect();
    if let Some(p) = progress {
        p.abort();
        if terminal {
            eprint!("\r\x1b[2K");
        }
    }
    for b in background {
        b.abort();
    }
    if args.fault != FaultKind::None {
        let _ = set_fault(&http, &fault_target, &json!({"duration_secs": 0})).await;
    }

    let stats = std::mem::take(&mut *shared.stats.lock().unwrap_or_else(|p| p.into_inner()));
    let total: u64 = stats.ops.iter().map(|o| o.requests).sum();
    let errors: u64 = stats.ops.iter().map(|o| o.errors).sum();
    let mut all: Vec<u32> = stats
        .ops
        .iter()
        .flat_map(|o| o.latencies_us.iter().copied())
        .collect();
    all.sort_unstable();
    let cpu: Vec<serde_json::Value> = args
        .pids
        .iter()
        .zip(cpu_before.iter().zip(&cpu_after))
        .map(|(pid, (b, a))| {
            let secs = match (b, a) {
                (Some(b), Some(a)) => Some(a - b),
                _ => None,
            };
            json!({
                "pid": pid,
                "cpu_seconds": secs,
                "cpu_ms_per_request": secs.filter(|_| total > 0).map(|s| s * 1000.0 / total as f64),
            })
        })
        .collect();
    let ops: Vec<serde_json::Value> = OPS
        .iter()
        .zip(stats.ops.iter())
        .map(|((_, name), o)| {
            let mut l = o.latencies_us.clone();
            l.sort_unstable();
            json!({
                "op": name, "requests": o.requests, "ok": o.ok, "rejected": o.rejected,
                "errors": o.errors, "latency_ms": percentiles(&l),
            })
        })
        .collect();
    let summary = json!({
        "duration_seconds": elapsed.as_secs_f64(),
        "rate_target": args.rate,
        "rate_achieved": total as f64 / elapsed.as_secs_f64().max(1e-9),
        "requests": total,
        "errors": errors,
        "error_ratio": if total > 0 { errors as f64 / total as f64 } else { 0.0 },
        "missed": shared.missed.load(Relaxed),
        "latency_ms": percentiles(&all),
        "ops": ops,
        "fault": match args.fault { FaultKind::None => "none", FaultKind::Errors => "errors", FaultKind::Slow => "slow" },
        "websocket": {
            "subscribers": args.subscribers,
            "connected": shared.ws_connected.load(Relaxed),
            "messages": shared.ws_messages.load(Relaxed) - ws_before,
            "disconnects": shared.ws_disconnects.load(Relaxed),
        },
        "cpu": cpu,
    });
    match args.output {
        Output::Json => println!("{summary}"),
        Output::Text => print_table(&summary),
    }
    let ratio = summary["error_ratio"].as_f64().unwrap_or(0.0);
    Ok(match args.max_error_ratio {
        Some(max) if ratio > max => 3,
        _ => 0,
    })
}

/// The progress line's task: on a terminal one line redrawn every second; otherwise a plain
/// line every `--progress-interval` (none when it is 0), so CI logs and pipes show progress
/// without carriage returns or escape codes.
fn progress_task(
    args: &Args,
    terminal: bool,
    shared: Arc<Shared>,
    started: Instant,
) -> Option<tokio::task::JoinHandle<()>> {
    let every = if terminal {
        Duration::from_secs(1)
    } else {
        args.progress_interval
    };
    if every.is_zero() {
        return None;
    }
    let total = args.duration;
    Some(tokio::spawn(async move {
        loop {
            tokio::time::sleep(every).await;
            let (elapsed, total) = (started.elapsed().as_secs(), total.as_secs());
            let counts = format!(
                "{} sent, {} failed, {} missed, {} ws messages",
                shared.sent.load(Relaxed),
                shared.failed.load(Relaxed),
                shared.missed.load(Relaxed),
                shared.ws_messages.load(Relaxed),
            );
            let mut err = std::io::stderr().lock();
            let _ = if terminal {
                write!(err, "\r\x1b[2K[{elapsed:>4}s/{total}s] {counts}")
            } else {
                writeln!(err, "cdb_load: {elapsed}s of {total}s, {counts}")
            };
            let _ = err.flush();
        }
    }))
}

fn percentiles(sorted_us: &[u32]) -> serde_json::Value {
    let at = |q: f64| -> Option<f64> {
        if sorted_us.is_empty() {
            return None;
        }
        let i = ((q * sorted_us.len() as f64).ceil() as usize).clamp(1, sorted_us.len()) - 1;
        Some(f64::from(sorted_us[i]) / 1000.0)
    };
    json!({"p50": at(0.50), "p90": at(0.90), "p99": at(0.99), "max": at(1.0)})
}

fn print_table(s: &serde_json::Value) {
    let ms = |v: &serde_json::Value| match v.as_f64() {
        Some(x) => format!("{x:.2}"),
        None => "-".to_owned(),
    };
    println!(
        "{} requests in {:.1} s ({:.1}/s, target {}/s), {} errors ({:.2}%), {} missed slots",
        s["requests"],
        s["duration_seconds"].as_f64().unwrap_or(0.0),
        s["rate_achieved"].as_f64().unwrap_or(0.0),
        s["rate_target"],
        s["errors"],
        s["error_ratio"].as_f64().unwrap_or(0.0) * 100.0,
        s["missed"],
    );
    println!();
    println!(
        "{:<14} {:>9} {:>9} {:>9} {:>8} {:>9} {:>9} {:>9} {:>9}",
        "op", "requests", "ok", "rejected", "errors", "p50 ms", "p90 ms", "p99 ms", "max ms"
    );
    let mut rows: Vec<serde_json::Value> = s["ops"].as_array().cloned().unwrap_or_default();
    rows.push(json!({
        "op": "all", "requests": s["requests"],
        "ok": rows.iter().map(|r| r["ok"].as_u64().unwrap_or(0)).sum::<u64>(),
        "rejected": rows.iter().map(|r| r["rejected"].as_u64().unwrap_or(0)).sum::<u64>(),
        "errors": s["errors"], "latency_ms": s["latency_ms"],
    }));
    for r in &rows {
        let l = &r["latency_ms"];
        println!(
            "{:<14} {:>9} {:>9} {:>9} {:>8} {:>9} {:>9} {:>9} {:>9}",
            r["op"].as_str().unwrap_or(""),
            r["requests"].to_string(),
            r["ok"].to_string(),
            r["rejected"].to_string(),
            r["errors"].to_string(),
            ms(&l["p50"]),
            ms(&l["p90"]),
            ms(&l["p99"]),
            ms(&l["max"]),
        );
    }
    let w = &s["websocket"];
    println!();
    println!(
        "websocket: {} subscribers, {} messages, {} disconnects",
        w["subscribers"], w["messages"], w["disconnects"]
    );
    for c in s["cpu"].as_array().into_iter().flatten() {
        match (c["cpu_seconds"].as_f64(), c["cpu_ms_per_request"].as_f64()) {
            (Some(secs), Some(per)) => println!(
                "pid {}: {secs:.2} s CPU, {per:.3} ms CPU per request",
                c["pid"]
            ),
            _ => println!("pid {}: CPU time not readable", c["pid"]),
        }
    }
}

async fn set_fault(
    http: &reqwest::Client,
    target: &str,
    body: &serde_json::Value,
) -> Result<(), String> {
    let url = format!("{}/api/v1/fault", target.trim_end_matches('/'));
    match http.post(&url).json(body).send().await {
        Ok(r) if r.status().is_success() => Ok(()),
        Ok(r) if r.status() == reqwest::StatusCode::NOT_FOUND => Err(format!(
            "fault injection is off at {target} (start it with CDB_FAULT_INJECTION=on)"
        )),
        Ok(r) => Err(format!(
            "{target} answered {} to the fault request",
            r.status()
        )),
        Err(_) => Err(format!("cannot reach {target} to inject the fault")),
    }
}

async fn refresh_prices(http: &reqwest::Client, core: &str, shared: &Shared) {
    for (i, sym) in SYMBOLS.iter().enumerate() {
        let url = format!("{}/api/v1/prices/{sym}", core.trim_end_matches('/'));
        if let Ok(r) = http.get(&url).send().await
            && let Ok(v) = r.json::<serde_json::Value>().await
            && let Some(p) = v["last"].as_f64()
            && let Ok(mut prices) = shared.prices.lock()
        {
            prices[i] = p;
        }
    }
}

/// Starts requests at the rate for `length`; returns the in-flight semaphore to wait on.
async fn pace(
    args: &Args,
    http: &reqwest::Client,
    shared: &Arc<Shared>,
    length: Duration,
) -> Arc<tokio::sync::Semaphore> {
    let slots = Arc::new(tokio::sync::Semaphore::new(args.concurrency));
    let period = Duration::from_secs_f64(1.0 / args.rate);
    let mut tick = tokio::time::interval(period);
    // Burst to catch up after a stall: the schedule, not the driver, sets the rate.
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let end = Instant::now() + length;
    while Instant::now() < end {
        tick.tick().await;
        let Ok(permit) = Arc::clone(&slots).try_acquire_owned() else {
            shared.missed.fetch_add(1, Relaxed);
            continue;
        };
        let (http, shared, args) = (http.clone(), Arc::clone(shared), request_plan(args, shared));
        tokio::spawn(async move {
            one_request(&http, &shared, args).await;
            drop(permit);
        });
    }
    slots
}

struct Plan {
    op: Op,
    url: String,
    body: Option<String>,
}

fn request_plan(args: &Args, shared: &Shared) -> Plan {
    let r = crate::api::unit_random;
    let pick = |n: usize| ((r() * n as f64) as usize).min(n - 1);
    let sym = pick(2);
    if r() < args.lookup_share {
        let path = match pick(3) {
            0 => format!("/api/v1/instruments/{}", SYMBOLS[sym]),
            1 => format!("/api/v1/prices/{}", SYMBOLS[sym]),
            _ => format!("/api/v1/book/{}", SYMBOLS[sym]),
        };
        return Plan {
            op: Op::Lookup,
            url: format!("{}{path}", args.core_url.trim_end_matches('/')),
            body: None,
        };
    }
    let price = shared.prices.lock().map(|p| p[sym]).unwrap_or(100.0);
    let side = if r() < 0.5 { "buy" } else { "sell" };
    let url = format!("{}/api/v1/orders", args.execution_url.trim_end_matches('/'));
    if r() < args.reject_share {
        // Half from the blocked account, half over A4's notional limit (100,000).
        let (account, qty) = if r() < 0.5 {
            ("A5", 1)
        } else {
            ("A4", (200_000.0 / price).ceil() as i64)
        };
        return Plan {
            op: Op::RejectedOrder,
            url,
            body: Some(format!(
                r#"{{"account":"{account}","symbol":"{}","side":"{side}","qty":{qty},"price":{price}}}"#,
                SYMBOLS[sym]
            )),
        };
    }
    let account = ["A1", "A2", "A3", "A4"][pick(4)];
    let qty = 1 + pick(100);
    Plan {
        op: Op::Order,
        url,
        body: Some(format!(
            r#"{{"account":"{account}","symbol":"{}","side":"{side}","qty":{qty},"price":{price}}}"#,
            SYMBOLS[sym]
        )),
    }
}

async fn one_request(http: &reqwest::Client, shared: &Shared, plan: Plan) {
    let start = Instant::now();
    let req = match &plan.body {
        Some(b) => http
            .post(&plan.url)
            .header("content-type", "application/json")
            .body(b.clone()),
        None => http.get(&plan.url),
    };
    let status = match req.send().await {
        Ok(r) => {
            let s = r.status().as_u16();
            // Read the body: the latency is the whole answer's.
            let _ = r.bytes().await;
            s
        }
        Err(_) => 0,
    };
    let us = start.elapsed().as_micros().min(u128::from(u32::MAX)) as u32;
    shared.sent.fetch_add(1, Relaxed);
    let expected = match plan.op {
        Op::Order => 201,
        Op::RejectedOrder => 422,
        Op::Lookup => 200,
    };
    let (ok, rejected) = (status == expected, status == 422 && expected != 422);
    if !ok && !rejected {
        shared.failed.fetch_add(1, Relaxed);
    }
    if !shared.recording.load(Relaxed) {
        return;
    }
    let i = OPS.iter().position(|(o, _)| *o == plan.op).unwrap_or(0);
    let mut stats = shared.stats.lock().unwrap_or_else(|p| p.into_inner());
    let o = &mut stats.ops[i];
    o.requests += 1;
    o.latencies_us.push(us);
    if ok {
        o.ok += 1;
    } else if rejected {
        o.rejected += 1;
    } else {
        o.errors += 1;
    }
}

async fn subscriber(url: String, shared: Arc<Shared>) {
    loop {
        if let Ok((ws, _)) = tokio_tungstenite::connect_async(url.as_str()).await {
            shared.ws_connected.fetch_add(1, Relaxed);
            let (_write, mut read) = ws.split();
            while let Some(Ok(msg)) = read.next().await {
                if msg.is_text() {
                    shared.ws_messages.fetch_add(1, Relaxed);
                }
            }
            shared.ws_disconnects.fetch_add(1, Relaxed);
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn durations_and_percentiles() {
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("7").unwrap(), Duration::from_secs(7));
        assert!(parse_duration("soon").is_err());
        let v: Vec<u32> = (1..=100).map(|i| i * 1000).collect();
        let p = percentiles(&v);
        assert_eq!(p["p50"], 50.0);
        assert_eq!(p["p99"], 99.0);
        assert_eq!(p["max"], 100.0);
    }
}
