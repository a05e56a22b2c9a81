//! Benchmarks of mcp-instrument against the other Rust Prometheus clients and the floor.
//!
//! `cargo bench -p mcp-instrument --bench instrument -- --warm-up-time 1 --measurement-time 2`
//!
//! Names: `<group>/<case>`; numbers are per operation (per operation per thread for the
//! contended group). Results and the machine are in `instrument/BENCHMARKS.md`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::hint::black_box;
use std::net::SocketAddr;
use std::sync::Barrier;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use common::{loki_hung, loki_up, refused};
use criterion::{Criterion, criterion_group, criterion_main};
use mcp_instrument::logs::{LokiConfig, loki};
use tracing_subscriber::prelude::*;

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2))
}

/// The global recorder (metrics-exporter-prometheus through `mcp_instrument::init`).
fn guard() -> &'static mcp_instrument::Guard {
    static GUARD: std::sync::OnceLock<mcp_instrument::Guard> = std::sync::OnceLock::new();
    GUARD.get_or_init(|| {
        mcp_instrument::Builder::new("bench")
            .instance("host")
            .ignore_env()
            .no_metrics_listener()
            .log_format(mcp_instrument::LogFormat::Off)
            .init()
            .expect("init")
    })
}

fn mep_recorder() -> metrics_exporter_prometheus::PrometheusRecorder {
    metrics_exporter_prometheus::PrometheusBuilder::new()
        .set_buckets(&BUCKETS)
        .unwrap()
        .add_global_label("service", "bench")
        .add_global_label("instance", "host")
        .build_recorder()
}

const BUCKETS: [f64; 16] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

fn counters(c: &mut Criterion) {
    guard();
    let mut g = c.benchmark_group("counter");
    let floor = AtomicU64::new(0);
    g.bench_function("floor_atomic_fetch_add", |b| {
        b.iter(|| black_box(&floor).fetch_add(1, Relaxed))
    });
    let handle = metrics::counter!("bench_handle_total");
    g.bench_function("metrics_handle", |b| {
        b.iter(|| black_box(&handle).increment(1))
    });
    g.bench_function("metrics_macro_0_labels", |b| {
        b.iter(|| metrics::counter!("bench_macro0_total").increment(1))
    });
    g.bench_function("metrics_macro_2_labels", |b| {
        b.iter(|| {
            metrics::counter!("bench_macro2_total", "venue" => "xnas", "side" => "buy").increment(1)
        })
    });
    // metrics-exporter-prometheus' own recorder, for comparison (thread-local, not global).
    let mep = mep_recorder();
    let mep_handle = metrics::with_local_recorder(&mep, || metrics::counter!("bench_handle_total"));
    g.bench_function("mep_handle", |b| {
        b.iter(|| black_box(&mep_handle).increment(1))
    });
    g.bench_function("mep_macro_2_labels", |b| {
        metrics::with_local_recorder(&mep, || {
            b.iter(|| {
                metrics::counter!("bench_macro2_total", "venue" => "xnas", "side" => "buy")
                    .increment(1)
            })
        })
    });
    let pc = prometheus_client::metrics::counter::Counter::<u64>::default();
    g.bench_function("prometheus_client_counter", |b| {
        b.iter(|| black_box(&pc).inc())
    });
    let tikv = prometheus::IntCounter::new("bench_tikv_total", "h").unwrap();
    g.bench_function("prometheus_tikv_int_counter", |b| {
        b.iter(|| black_box(&tikv).inc())
    });
    g.finish();

    let mut g = c.benchmark_group("histogram");
    let h = metrics::histogram!("bench_hist_seconds");
    g.bench_function("metrics_handle", |b| {
        b.iter(|| black_box(&h).record(black_box(0.0042)))
    });
    let mep_h = metrics::with_local_recorder(&mep, || metrics::histogram!("bench_hist_seconds"));
    let mep_rh = mep.handle();
    g.bench_function("mep_handle", |b| {
        b.iter_custom(|n| {
            let start = Instant::now();
            for _ in 0..n {
                black_box(&mep_h).record(black_box(0.0042));
            }
            let t = start.elapsed();
            // Its samples are buffered until upkeep; drain them outside the clock.
            mep_rh.run_upkeep();
            t
        })
    });
    let ph = prometheus_client::metrics::histogram::Histogram::new(BUCKETS);
    g.bench_function("prometheus_client", |b| {
        b.iter(|| black_box(&ph).observe(black_box(0.0042)))
    });
    let th = prometheus::Histogram::with_opts(
        prometheus::HistogramOpts::new("bench_tikv_seconds", "h").buckets(BUCKETS.to_vec()),
    )
    .unwrap();
    g.bench_function("prometheus_tikv", |b| {
        b.iter(|| black_box(&th).observe(black_box(0.0042)))
    });
    g.finish();
}

/// Two threads on one series; the figure is time per operation per thread.
fn contended(c: &mut Criterion) {
    guard();
    fn two_threads(iters: u64, op: impl Fn() + Sync) -> Duration {
        let barrier = Barrier::new(2);
        std::thread::scope(|s| {
            let t = s.spawn(|| {
                barrier.wait();
                for _ in 0..iters {
                    op();
                }
            });
            barrier.wait();
            let start = Instant::now();
            for _ in 0..iters {
                op();
            }
            let mine = start.elapsed();
            t.join().unwrap();
            mine
        })
    }
    let mut g = c.benchmark_group("contended_2_threads");
    let floor = AtomicU64::new(0);
    g.bench_function("floor_atomic_fetch_add", |b| {
        b.iter_custom(|n| {
            two_threads(n, || {
                black_box(&floor).fetch_add(1, Relaxed);
            })
        })
    });
    let handle = metrics::counter!("bench_contended_total");
    g.bench_function("metrics_handle", |b| {
        b.iter_custom(|n| two_threads(n, || black_box(&handle).increment(1)))
    });
    g.bench_function("metrics_macro_2_labels", |b| {
        b.iter_custom(|n| {
            two_threads(n, || {
                metrics::counter!("bench_contended2_total", "venue" => "xnas", "side" => "buy")
                    .increment(1)
            })
        })
    });
    let pc = prometheus_client::metrics::counter::Counter::<u64>::default();
    g.bench_function("prometheus_client_counter", |b| {
        b.iter_custom(|n| {
            two_threads(n, || {
                black_box(&pc).inc();
            })
        })
    });
    let h = metrics::histogram!("bench_contended_seconds");
    g.bench_function("metrics_histogram_handle", |b| {
        b.iter_custom(|n| two_threads(n, || black_box(&h).record(0.0042)))
    });
    g.finish();
}

/// 10 families × 1,000 series with 2 labels, rendered to text.
fn render(c: &mut Criterion) {
    let guard = guard();
    let mut g = c.benchmark_group("render_10k_series");
    g.sample_size(20);

    for f in 0..10 {
        let name = format!("bench_render_{f}_total");
        metrics::describe_counter!(name.clone(), "A benchmark family.");
        for i in 0..1_000 {
            metrics::counter!(name.clone(), "instance_id" => i.to_string(), "venue" => "xnas")
                .increment(i);
        }
    }
    g.bench_function("mcp_instrument_full_scrape", |b| {
        b.iter(|| black_box(guard.render()))
    });

    let mep = mep_recorder();
    metrics::with_local_recorder(&mep, || {
        for f in 0..10 {
            let name = format!("bench_render_{f}_total");
            metrics::describe_counter!(name.clone(), "A benchmark family.");
            for i in 0..1_000 {
                metrics::counter!(name.clone(), "instance_id" => i.to_string(), "venue" => "xnas")
                    .increment(i);
            }
        }
    });
    let mep_handle = mep.handle();
    g.bench_function("metrics_exporter_prometheus", |b| {
        b.iter(|| black_box(mep_handle.render()))
    });

    let mut reg = prometheus_client::registry::Registry::default();
    for f in 0..10 {
        let fam = prometheus_client::metrics::family::Family::<
            Vec<(String, String)>,
            prometheus_client::metrics::counter::Counter<u64>,
        >::default();
        for i in 0..1_000u64 {
            fam.get_or_create(&vec![
                ("instance_id".to_owned(), i.to_string()),
                ("venue".to_owned(), "xnas".to_owned()),
            ])
            .inc_by(i);
        }
        reg.register(format!("bench_render_{f}"), "A benchmark family", fam);
    }
    g.bench_function("prometheus_client", |b| {
        b.iter(|| {
            let mut s = String::new();
            prometheus_client::encoding::text::encode(&mut s, &reg).unwrap();
            black_box(s)
        })
    });

    let treg = prometheus::Registry::new();
    for f in 0..10 {
        let v = prometheus::IntCounterVec::new(
            prometheus::Opts::new(format!("bench_render_{f}_total"), "A benchmark family."),
            &["instance_id", "venue"],
        )
        .unwrap();
        for i in 0..1_000u64 {
            v.with_label_values(&[i.to_string().as_str(), "xnas"])
                .inc_by(i);
        }
        treg.register(Box::new(v)).unwrap();
    }
    g.bench_function("prometheus_tikv", |b| {
        b.iter(|| {
            let mut s = String::new();
            prometheus::TextEncoder::new()
                .encode_utf8(&treg.gather(), &mut s)
                .unwrap();
            black_box(s)
        })
    });
    g.finish();
}

fn one_event(seq: u64) {
    tracing::info!(seq, venue = "xnas", side = "buy", "Order accepted.");
}

/// Caller cost of one `info!` with 3 fields inside a span (with a trace id).
fn log_caller(c: &mut Criterion) {
    let mut g = c.benchmark_group("log_info_3_fields_in_span");
    let run = |d: &tracing::Dispatch, b: &mut criterion::Bencher<'_>| {
        tracing::dispatcher::with_default(d, || {
            let span = tracing::info_span!(
                "http_request",
                trace_id = "0af7651916cd43dd8448eb211c80319c"
            );
            let _e = span.enter();
            let mut seq = 0u64;
            b.iter(|| {
                seq += 1;
                one_event(seq)
            });
        })
    };
    let registry = tracing::Dispatch::new(tracing_subscriber::registry());
    g.bench_function("registry_only", |b| run(&registry, b));

    let make = |addr: SocketAddr| {
        let mut cfg = LokiConfig::new(format!("http://{addr}"));
        cfg.labels = vec![("service".into(), "bench".into())];
        cfg.request_timeout = Duration::from_secs(2);
        cfg.flush_timeout = Duration::from_millis(200);
        let (layer, handle) = loki(cfg).unwrap();
        (
            tracing::Dispatch::new(tracing_subscriber::registry().with(layer)),
            handle,
        )
    };

    // Loki up, queue never full: events are emitted in chunks that fit the bound and the
    // clock stops while the shipper drains, so every timed event is formatted and queued.
    let (up, up_handle) = {
        // Batches are pushed only when asked, between chunks, so the shipper does not
        // compete for the CPU while the clock runs.
        let mut cfg = LokiConfig::new(format!("http://{}", loki_up()));
        cfg.labels = vec![("service".into(), "bench".into())];
        cfg.batch_wait = Duration::from_secs(3600);
        cfg.batch_max_bytes = 64 << 20;
        cfg.max_bytes = 64 << 20;
        cfg.max_events = 100_000;
        let (layer, handle) = loki(cfg).unwrap();
        (
            tracing::Dispatch::new(tracing_subscriber::registry().with(layer)),
            handle,
        )
    };
    g.bench_function("loki_up_accepted", |b| {
        tracing::dispatcher::with_default(&up, || {
            let span = tracing::info_span!(
                "http_request",
                trace_id = "0af7651916cd43dd8448eb211c80319c"
            );
            let _e = span.enter();
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                let mut left = iters;
                while left > 0 {
                    let n = left.min(20_000);
                    let start = Instant::now();
                    for seq in 0..n {
                        one_event(seq);
                    }
                    total += start.elapsed();
                    left -= n;
                    up_handle.flush_now();
                    while up_handle.stats().held_events > 0 {
                        std::thread::sleep(Duration::from_millis(1));
                    }
                }
                total
            })
        })
    });
    let s = up_handle.shutdown().stats;
    eprintln!("loki_up_accepted: {s:?}");
    assert_eq!(s.dropped_total(), 0, "nothing dropped with Loki up");

    // Outages: the queue fills within the first ~50k events, then every event is dropped
    // (and counted) before formatting: this is the steady-state cost during an outage.
    let (refusing, h) = make(refused());
    g.bench_function("loki_refusing", |b| run(&refusing, b));
    eprintln!("loki_refusing: {:?}", h.shutdown().stats);
    let (hung, h) = make(loki_hung());
    g.bench_function("loki_hung", |b| run(&hung, b));
    eprintln!("loki_hung: {:?}", h.shutdown().stats);
    g.finish();
}

criterion_group! {
    name = benches;
    config = config();
    targets = counters, contended, render, log_caller
}
criterion_main!(benches);
