//! The log collector against a Docker root laid out by the test and the suite's Loki-compatible
//! receiver (real snappy-protobuf pushes): every line arrives once, in order per stream, with the
//! right labels and timestamps, through partial records, rotation both ways, truncation, a
//! container added and one removed, a crash (the collector task aborted, as SIGKILL would leave
//! it: no flush, positions as last persisted) and a Loki outage.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use mcp_agent::logs::config::{DockerConfig, FileTarget};
use mcp_agent::logs::{Collector, LogStats, LogsConfig};
use mcp_testkit::docker_logs::DockerRoot;
use mcp_testkit::loki::{FakeLoki, Mode};
use mcp_testkit::wait_until;

/// Appends Docker json-file records; a `\u{1}` in a line splits it into partial records there.
fn write_records(log: &Path, stream: &str, lines: &[String]) {
    let mut f = std::fs::OpenOptions::new().append(true).open(log).unwrap();
    let mut out = String::new();
    for (i, l) in lines.iter().enumerate() {
        let parts: Vec<&str> = l.split('\u{1}').collect();
        for (j, p) in parts.iter().enumerate() {
            let text = if j + 1 == parts.len() {
                format!("{p}\n")
            } else {
                (*p).to_owned()
            };
            let rec = serde_json::json!({
                "log": text, "stream": stream,
                "time": format!("2026-12-01T10:00:{:02}.{:09}Z", (i / 1000) % 60, i % 1000 * 1000 + j),
            });
            out.push_str(&rec.to_string());
            out.push('\n');
        }
    }
    f.write_all(out.as_bytes()).unwrap();
}

fn config(
    loki: &FakeLoki,
    root: Option<&Path>,
    files: Vec<FileTarget>,
    positions: &Path,
) -> LogsConfig {
    let yaml = format!(
        "loki_url: {}\npositions_file: {}\nhost: testhost\nbatch_wait_ms: 100\npoll_interval_ms: 50\ndiscover_interval_secs: 1\nbatch_max_bytes: 65536\nmemory_limit_bytes: 1048576\n",
        loki.url(),
        positions.display()
    );
    let mut cfg: LogsConfig = mcp_exporter_core::yaml::from_str(&yaml).unwrap();
    cfg.docker = root.map(|r| DockerConfig {
        root: r.to_owned(),
        exclude_label: Some("logging=mcp-instrument".into()),
        include: Vec::new(),
        parse: None,
    });
    cfg.files = files;
    cfg
}

struct Running {
    rt: tokio::runtime::Runtime,
    task: Option<tokio::task::JoinHandle<()>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    stats: Arc<LogStats>,
}

impl Running {
    fn start(cfg: LogsConfig) -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let stats = Arc::new(LogStats::default());
        let collector = Collector::new(cfg, Arc::clone(&stats)).unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = rt.spawn(collector.run(async move {
            let _ = rx.await;
        }));
        Self {
            rt,
            task: Some(task),
            stop: Some(tx),
            stats,
        }
    }

    /// As SIGKILL would: the task is dropped mid-flight, nothing runs after.
    fn kill(mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
        self.rt.shutdown_timeout(Duration::from_secs(1));
    }

    /// As SIGTERM: flush, save positions, return.
    fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.task.take() {
            self.rt.block_on(async {
                tokio::time::timeout(Duration::from_secs(20), t)
                    .await
                    .expect("stopped in bounded time")
                    .unwrap();
            });
        }
    }
}

fn lines_of(loki: &FakeLoki, selector: &str) -> Vec<String> {
    loki.select(selector)
        .unwrap()
        .into_iter()
        .map(|e| e.line)
        .collect()
}

#[test]
fn container_lines_arrive_once_in_order_with_labels_through_partials_rotation_and_removal() {
    let loki = FakeLoki::start();
    let root = DockerRoot::new().unwrap();
    let ws = root
        .add(
            "aaa111",
            "cdb_ws",
            &[
                ("com.docker.compose.service", "cdb_ws"),
                ("com.docker.compose.project", "cdb"),
            ],
        )
        .unwrap();
    let _skipped = root
        .add("bbb222", "cdb_core", &[("logging", "mcp-instrument")])
        .unwrap();
    let pos = root.root().join("positions.json");
    let run = Running::start(config(&loki, Some(root.root()), Vec::new(), &pos));

    let first: Vec<String> = (0..500).map(|i| format!("ws line {i}")).collect();
    write_records(&ws, "stdout", &first);
    // A long line Docker split into partial records, and a stderr line.
    let long = format!(
        "{}\u{1}{}\u{1}{}",
        "a".repeat(16384),
        "b".repeat(16384),
        "c".repeat(10)
    );
    write_records(&ws, "stdout", &[long]);
    write_records(&ws, "stderr", &["oops".to_owned()]);
    assert!(
        loki.wait_for_entries(502, Duration::from_secs(30)),
        "got {}",
        loki.entry_count()
    );

    let entries = loki
        .select(r#"{container_name="cdb_ws", stream="stdout"}"#)
        .unwrap();
    let got: Vec<&str> = entries.iter().map(|e| e.line.as_str()).collect();
    assert_eq!(
        &got[..500],
        first
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .as_slice()
    );
    assert_eq!(
        got[500].len(),
        16384 * 2 + 10,
        "partial records joined into one line"
    );
    let labels = entries[0].label_map();
    assert_eq!(labels["compose_service"], "cdb_ws");
    assert_eq!(labels["compose_project"], "cdb");
    assert_eq!(labels["host"], "testhost");
    assert_eq!(
        entries[0].ts_ns, 1_796_119_200_000_000_000,
        "the container's own timestamp"
    );
    assert_eq!(
        lines_of(&loki, r#"{container_name="cdb_ws", stream="stderr"}"#),
        ["oops"]
    );
    assert!(
        lines_of(&loki, r#"{container_name="cdb_core"}"#).is_empty(),
        "opted out by label"
    );

    // Rotation by rename-and-create: Docker's own scheme (<id>-json.log.1).
    write_records(&ws, "stdout", &["before rotation".to_owned()]);
    std::fs::rename(&ws, ws.with_extension("log.1")).unwrap();
    std::fs::File::create(&ws).unwrap();
    write_records(&ws, "stdout", &["after rotation".to_owned()]);
    // copytruncate: copy away, truncate in place, keep writing.
    assert!(wait_until(Duration::from_secs(20), || lines_of(
        &loki,
        r#"{container_name="cdb_ws"} |= "after rotation""#
    )
    .len()
        == 1));
    std::fs::copy(&ws, ws.with_extension("log.2")).unwrap();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&ws)
        .unwrap()
        .set_len(0)
        .unwrap();
    write_records(&ws, "stdout", &["after truncation".to_owned()]);

    // A container added while running, one removed while its last lines are in flight.
    let risk = root.add("ccc333", "cdb_risk", &[]).unwrap();
    write_records(&risk, "stdout", &["risk says hi".to_owned()]);
    write_records(&ws, "stdout", &["last words".to_owned()]);
    root.remove("aaa111").unwrap();

    assert!(
        wait_until(Duration::from_secs(30), || {
            lines_of(&loki, r#"{container_name="cdb_risk"}"#).len() == 1
                && lines_of(&loki, r#"{container_name="cdb_ws"} |= "last words""#).len() == 1
        }),
        "entries: {:?}",
        loki.entries()
            .iter()
            .rev()
            .take(5)
            .map(|e| e.line.clone())
            .collect::<Vec<_>>()
    );
    let ws_lines = lines_of(&loki, r#"{container_name="cdb_ws", stream="stdout"}"#);
    let tail: Vec<&str> = ws_lines[501..].iter().map(String::as_str).collect();
    assert_eq!(
        tail,
        [
            "before rotation",
            "after rotation",
            "after truncation",
            "last words"
        ],
        "each once, in order"
    );
    let stats = Arc::clone(&run.stats);
    run.stop();
    let (targets, lag, last_push) = stats.summary();
    assert_eq!(lag, 0, "nothing left unacknowledged ({targets} targets)");
    assert!(last_push > 0);
    assert_eq!(
        stats.dropped().values().sum::<u64>(),
        0,
        "nothing dropped: {:?}",
        stats.dropped()
    );
}

#[test]
fn a_crash_resends_at_most_the_unacknowledged_batch_and_skips_nothing() {
    let loki = FakeLoki::start();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("app.log");
    std::fs::File::create(&file).unwrap();
    let files = vec![FileTarget {
        path: dir.path().join("*.log").display().to_string(),
        labels: BTreeMap::from([("job".into(), "app".into())]),
        parse: None,
    }];
    let pos = dir.path().join("positions.json");
    let total = 20_000;
    let mut written = 0;
    let mut append = |n: usize| {
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&file)
            .unwrap();
        let mut s = String::new();
        for i in written..written + n {
            s.push_str(&format!("line {i:06}\n"));
        }
        f.write_all(s.as_bytes()).unwrap();
        written += n;
    };
    append(total / 2);
    let run = Running::start(config(&loki, None, files.clone(), &pos));
    assert!(wait_until(Duration::from_secs(30), || loki.entry_count() >= 2_000));
    run.kill();
    println!(
        "crash: stored {} before the kill; positions {}",
        loki.entry_count(),
        std::fs::read_to_string(&pos)
            .unwrap_or_default()
            .replace('\n', " ")
    );
    append(total / 2);
    let run = Running::start(config(&loki, None, files, &pos));
    assert!(
        wait_until(Duration::from_secs(60), || {
            let mut seen: Vec<String> = loki.entries().into_iter().map(|e| e.line).collect();
            seen.sort();
            seen.dedup();
            seen.len() == total
        }),
        "only {} distinct of {total}",
        {
            let mut s: Vec<String> = loki.entries().into_iter().map(|e| e.line).collect();
            s.sort();
            s.dedup();
            s.len()
        }
    );
    run.stop();
    let all = loki.entry_count();
    let duplicates = all - total;
    println!(
        "crash: {all} entries stored for {total} lines, {duplicates} duplicates (the unacknowledged batch)"
    );
    // A batch is at most 64 KiB of text here: 12-byte lines, so at most ~5,500 lines.
    assert!(
        duplicates <= 65_536 / 11,
        "duplicates {duplicates} exceed one batch"
    );
}

#[test]
fn an_outage_pauses_reading_and_loses_nothing() {
    let loki = FakeLoki::start();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("svc.log");
    std::fs::File::create(&file).unwrap();
    let files = vec![FileTarget {
        path: file.display().to_string(),
        labels: BTreeMap::new(),
        parse: None,
    }];
    let pos = dir.path().join("positions.json");
    let run = Running::start(config(&loki, None, files, &pos));
    loki.set_mode(Mode::Status(503));
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&file)
        .unwrap();
    for i in 0..30_000 {
        writeln!(f, "outage line {i}").unwrap();
    }
    f.flush().unwrap();
    assert!(
        wait_until(Duration::from_secs(10), || loki.requests() >= 3),
        "retried while refused"
    );
    assert_eq!(loki.entry_count(), 0);
    // Hanging, then back.
    loki.set_mode(Mode::Hang);
    std::thread::sleep(Duration::from_millis(500));
    loki.set_mode(Mode::Accept);
    assert!(
        wait_until(Duration::from_secs(60), || {
            let mut s: Vec<String> = loki.entries().into_iter().map(|e| e.line).collect();
            s.sort();
            s.dedup();
            s.len() == 30_000
        }),
        "only {} entries",
        loki.entry_count()
    );
    let stats = Arc::clone(&run.stats);
    run.stop();
    assert_eq!(stats.dropped().values().sum::<u64>(), 0);
    let mut set = mcp_exporter_core::MetricSet::new();
    stats.render(&mut set);
    let (text, _) = set.encode();
    assert!(
        text.contains("mcp_agent_log_push_errors_total{reason=\"http_503\"}"),
        "{text}"
    );
    assert!(mcp_testkit::promtool_check_metrics(&text).is_ok(), "{text}");
}
