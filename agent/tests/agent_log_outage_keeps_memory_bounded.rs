//! `mcp-agent run` as the host's log collector, as a real process, through a Loki outage: 20
//! containers of a Docker root laid out by the test, 10,000 lines/s written over them while the
//! receiver refuses (503) — and, in the second test, hangs — for 30 s. The agent stops reading
//! instead of buffering (the files are the buffer), so its peak RSS stays under a bound derived
//! from `memory_limit_bytes`; once the receiver is back every line arrives (the exact count per
//! stream), duplicates are at most the batches whose push ended in doubt (a timeout or a broken
//! connection), and the `mcp_agent_log_lines_dropped_total` counters stay 0. No file rotates
//! here, so no line may be lost at all.
//!
//! Nothing is asserted about time: the waits are bounded, and a wait that runs out fails on the
//! count it was waiting for.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use mcp_testkit::docker_logs::{Arrivals, DockerRoot, RateWriter, lines_in_stream};
use mcp_testkit::loki::{FakeLoki, Mode};
use mcp_testkit::{free_port, http_get, proc_status_kib, sample, sample_sum, wait_until};

const CONTAINERS: usize = 20;
const LINES_PER_SEC: u64 = 10_000;
const OUTAGE: Duration = Duration::from_secs(30);
const MEMORY_LIMIT: u64 = 4 << 20;
const BATCH_MAX: u64 = 1 << 20;
/// The shortest text an `app_line` has: a batch holds at most `BATCH_MAX / this` lines.
const MIN_LINE: u64 = 150;

/// How much the agent's peak RSS may grow from its startup (every container tailed, no line
/// read yet) to the end of the outage, in kB: twice `memory_limit_bytes`. What the collector
/// holds is one batch (at most a third of `memory_limit_bytes`) in a few copies while it is
/// encoded and pushed (the lines, the protobuf, the snappy body) plus one read chunk, and the
/// pages of code and allocator that only the push path touches. The bound is on the growth
/// because the base is this unoptimised test build's own size (VmHWM about 25 MiB at startup
/// on the reference machine, code pages mostly; the shipped release build starts near 10 MiB,
/// see `bench/run logs`). Measured: about 4 MiB of growth through either outage. Reading on
/// during the outage instead (30 s at 10,000 lines/s is about 90 MiB of records) fails it many
/// times over; an allocator keeping a little more does not.
const RSS_GROWTH_KB: u64 = 2 * MEMORY_LIMIT / 1024;

fn outage_keeps_memory_bounded_and_loses_nothing(outage: Mode) {
    let loki = FakeLoki::start();
    let root = DockerRoot::new().unwrap();
    let logs = root.add_many("svc", CONTAINERS).unwrap();
    let names: Vec<String> = logs.iter().map(|(n, _)| n.clone()).collect();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    // Small batches' waits and polls, a 5 s push timeout (a hanging receiver costs a few
    // timeouts, each a push in doubt) and retries at most 3 s apart, so the backlog starts to
    // drain soon after the receiver is back (the default 30 s cap would only lengthen the test).
    let config = format!(
        "host: {{listen_address: [\"127.0.0.1:{port}\"], settings: {{collectors: [loadavg]}}}}\n\
         redis: {{enabled: false}}\npostgres: {{enabled: false}}\n\
         logs:\n  loki_url: {}\n  positions_file: {}/positions.json\n  host: testhost\n  \
         docker: {{root: {}}}\n  batch_max_bytes: {BATCH_MAX}\n  memory_limit_bytes: {MEMORY_LIMIT}\n  \
         batch_wait_ms: 200\n  poll_interval_ms: 100\n  request_timeout_secs: 5\n  \
         max_backoff_ms: 3000\n",
        loki.url(),
        dir.path().display(),
        root.root().display()
    );
    let (agent, serving) = support::start_agent(&config, dir.path(), 1);
    assert_eq!(serving.len(), 1, "the agent did not serve: {serving:?}");
    let pid = agent.0.id();
    let metrics_url = format!("http://127.0.0.1:{port}/agent/metrics");
    let metrics = || {
        let (status, body) = http_get(&metrics_url);
        assert_eq!(status, 200, "{body}");
        body
    };
    assert!(
        wait_until(Duration::from_secs(30), || sample(
            &metrics(),
            "mcp_agent_log_targets"
        ) == Some(CONTAINERS as f64)),
        "not every container tailed: {}",
        metrics()
    );
    let startup_hwm = proc_status_kib(pid, "VmHWM");

    // Up: lines flow.
    let writer = RateWriter::start(logs, LINES_PER_SEC);
    let mut arrived = Arrivals::new(&names);
    assert!(
        wait_until(Duration::from_secs(30), || {
            arrived.add(loki.take_entries());
            arrived.distinct >= 10_000
        }),
        "lines did not flow before the outage: {} stored",
        arrived.distinct
    );

    // The outage, with the writer going on.
    loki.set_mode(outage);
    let requests_before = loki.requests();
    let written_before = writer.total();
    let mut peak_rss = 0;
    let outage_end = std::time::Instant::now() + OUTAGE;
    while std::time::Instant::now() < outage_end {
        peak_rss = peak_rss.max(proc_status_kib(pid, "VmRSS"));
        arrived.add(loki.take_entries());
        std::thread::sleep(Duration::from_millis(250));
    }
    let written_in_outage = writer.total() - written_before;
    let requests_in_outage = loki.requests() - requests_before;
    let hwm = proc_status_kib(pid, "VmHWM");
    // Back: the writer stops, the backlog drains.
    loki.set_mode(Mode::Accept);
    let written = writer.stop().unwrap();
    let total: u64 = written.iter().sum();
    println!(
        "{outage:?}: {written_in_outage} lines written in the outage, {requests_in_outage} pushes tried; \
         VmHWM {startup_hwm} kB after startup, {hwm} kB after the outage (VmRSS peak {peak_rss} kB, growth bound {RSS_GROWTH_KB} kB)"
    );
    assert!(
        written_in_outage >= LINES_PER_SEC * 10,
        "the writer fell far behind: {written_in_outage} lines in the outage"
    );
    assert!(
        requests_in_outage >= 1,
        "the agent never tried to push during the outage"
    );
    assert!(
        hwm <= startup_hwm + RSS_GROWTH_KB,
        "peak RSS {hwm} kB: grew more than {RSS_GROWTH_KB} kB from {startup_hwm} kB at startup"
    );

    assert!(
        wait_until(Duration::from_secs(180), || {
            arrived.add(loki.take_entries());
            arrived.missing(&written) == 0
        }),
        "{} of {total} lines missing after the outage",
        arrived.missing(&written)
    );
    arrived.add(loki.take_entries());
    assert_eq!(arrived.foreign, 0, "entries that are not the writer's");
    for (i, name) in names.iter().enumerate() {
        for stream in ["stdout", "stderr"] {
            assert_eq!(
                arrived.distinct_in(i, stream),
                lines_in_stream(written[i], stream),
                "{name} {stream}"
            );
        }
    }
    let text = metrics();
    // A push that timed out or lost its connection may have been stored: those batches are the
    // only ones that may arrive twice.
    let in_doubt = sample(&text, "mcp_agent_log_push_errors_total{reason=\"timeout\"}")
        .unwrap_or(0.0)
        + sample(&text, "mcp_agent_log_push_errors_total{reason=\"network\"}").unwrap_or(0.0);
    println!(
        "{outage:?}: {total} lines, {} duplicates, {in_doubt} pushes in doubt",
        arrived.duplicates
    );
    assert!(
        arrived.duplicates <= in_doubt as u64 * (BATCH_MAX / MIN_LINE),
        "{} duplicates, but only {in_doubt} pushes ended in doubt",
        arrived.duplicates
    );
    assert_eq!(
        sample_sum(&text, "mcp_agent_log_lines_dropped_total", &[]),
        0.0,
        "{text}"
    );
    // The agent counts a batch once its answer is in, a moment after the receiver stored it.
    assert!(
        wait_until(Duration::from_secs(10), || sample(
            &metrics(),
            "mcp_agent_log_lines_sent_total"
        ) == Some(arrived.stored as f64)),
        "lines_sent is not the {} entries stored: {}",
        arrived.stored,
        metrics()
    );
    let refused = match outage {
        Mode::Status(code) => format!("mcp_agent_log_push_errors_total{{reason=\"http_{code}\"}}"),
        _ => "mcp_agent_log_push_errors_total{reason=\"timeout\"}".to_owned(),
    };
    assert!(
        sample(&text, &refused).unwrap_or(0.0) >= 1.0,
        "the outage was not counted as {refused}:\n{text}"
    );
    drop(agent);
}

#[test]
fn a_refusing_receiver_for_30s_keeps_rss_bounded_and_every_line_arrives_after() {
    outage_keeps_memory_bounded_and_loses_nothing(Mode::Status(503));
}

#[test]
fn a_hanging_receiver_for_30s_keeps_rss_bounded_and_every_line_arrives_after() {
    outage_keeps_memory_bounded_and_loses_nothing(Mode::Hang);
}
