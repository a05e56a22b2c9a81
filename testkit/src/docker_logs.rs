//! A Docker root laid out for log collector tests and benchmarks, and a writer that appends
//! json-file records to its containers' logs at a fixed rate.
//!
//! The layout is the one the json-file log driver leaves: `<root>/containers/<id>/config.v2.json`
//! (name, image, labels) and `<root>/containers/<id>/<id>-json.log`, one JSON record per line
//! (`{"log":"text\n","stream":"stdout","time":"RFC 3339 with nanoseconds"}`).
//!
//! [`RateWriter`] writes application-like JSON lines (about 150 to 250 bytes of text each) over
//! all containers from one thread, `lines_per_sec` in total, and counts what it wrote per
//! container, so a test can say exactly how many lines each stream must hold. Every line carries
//! its container's sequence number last (`"seq":N}`, see [`seq_of`]): one line per `(container,
//! seq)`, which tells loss from duplicates.

use std::collections::{BTreeMap, HashMap};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant, SystemTime};

/// A Docker root in a temporary directory (removed on drop).
#[derive(Debug)]
pub struct DockerRoot {
    dir: tempfile::TempDir,
}

impl DockerRoot {
    /// An empty root (`containers/` only).
    pub fn new() -> std::io::Result<Self> {
        let dir = tempfile::Builder::new().prefix("docker-root-").tempdir()?;
        std::fs::create_dir_all(dir.path().join("containers"))?;
        Ok(Self { dir })
    }

    /// The root (what the collector's `docker.root` points at).
    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// Adds a container with an empty json-file log; returns the log's path.
    pub fn add(&self, id: &str, name: &str, labels: &[(&str, &str)]) -> std::io::Result<PathBuf> {
        let c = self.dir.path().join("containers").join(id);
        std::fs::create_dir_all(&c)?;
        let labels: BTreeMap<&str, &str> = labels.iter().copied().collect();
        let cfg = serde_json::json!({
            "ID": id, "Name": format!("/{name}"),
            "Config": {"Image": "mcp/test:0.1.0", "Labels": labels},
        });
        std::fs::write(c.join("config.v2.json"), cfg.to_string())?;
        let log = c.join(format!("{id}-json.log"));
        std::fs::File::create(&log)?;
        Ok(log)
    }

    /// Removes a container's directory, as `docker rm` does.
    pub fn remove(&self, id: &str) -> std::io::Result<()> {
        std::fs::remove_dir_all(self.dir.path().join("containers").join(id))
    }

    /// `n` containers named `{prefix}_00`, `{prefix}_01`, … with ids of 64 hex digits that look
    /// random, as Docker's do (ids sharing a long prefix would make every id comparison in the
    /// collector slower than on a real host); returns (name, log path) in order.
    pub fn add_many(&self, prefix: &str, n: usize) -> std::io::Result<Vec<(String, PathBuf)>> {
        (0..n)
            .map(|i| {
                let name = format!("{prefix}_{i:02}");
                let id: String = (0..4u64)
                    .map(|k| format!("{:016x}", splitmix64((i as u64) << 2 | k)))
                    .collect();
                let log = self.add(
                    &id,
                    &name,
                    &[
                        ("com.docker.compose.service", name.as_str()),
                        ("com.docker.compose.project", prefix),
                    ],
                )?;
                Ok((name, log))
            })
            .collect()
    }
}

/// A well-mixed 64-bit hash (SplitMix64's finaliser).
fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// One json-file record (with its trailing `\n`) for a whole line `text` (which must not end in
/// `\n`; the record's `log` does).
pub fn record(text: &str, stream: &str, time: SystemTime) -> String {
    let mut s = serde_json::json!({
        "log": format!("{text}\n"), "stream": stream, "time": rfc3339_nanos(time),
    })
    .to_string();
    s.push('\n');
    s
}

/// `2026-12-01T10:00:00.123456789Z`, as Docker writes its records' times.
pub fn rfc3339_nanos(t: SystemTime) -> String {
    mcp_exporter_core::time::rfc3339(t, 9)
}

const MESSAGES: [(&str, &str); 8] = [
    ("info", "order accepted"),
    ("info", "quote streamed"),
    ("debug", "cache hit"),
    ("info", "request served"),
    ("warn", "slow downstream call, retrying once"),
    ("info", "position updated"),
    ("debug", "heartbeat"),
    ("error", "risk check failed: limit exceeded"),
];

/// The stream line `seq` of a container goes to: every tenth line is stderr.
pub fn stream_of(seq: u64) -> &'static str {
    if seq % 10 == 9 { "stderr" } else { "stdout" }
}

/// How many of a container's first `n` lines went to `stream`.
pub fn lines_in_stream(n: u64, stream: &str) -> u64 {
    let stderr = n / 10;
    if stream == "stderr" {
        stderr
    } else {
        n - stderr
    }
}

/// An application's JSON log line, 150 to 250 bytes, ending in `"seq":N}`.
pub fn app_line(container: &str, seq: u64, time: SystemTime) -> String {
    let (level, msg) = MESSAGES[(seq % 8) as usize];
    let level = if stream_of(seq) == "stderr" {
        "error"
    } else {
        level
    };
    let mut s = format!(
        r#"{{"ts":"{}","level":"{level}","svc":"{container}","msg":"{msg}","trace_id":"{:032x}","user_id":{},"latency_ms":{}.{:03}"#,
        rfc3339_nanos(time),
        (seq.wrapping_mul(0x9e37_79b9_7f4a_7c15)) as u128 * 3 + 17,
        4000 + seq % 997,
        seq % 250,
        seq % 1000
    );
    if !seq.is_multiple_of(3) {
        s.push_str(r#","path":"/api/v1/orders","status":200"#);
    }
    s.push_str(&format!(r#","seq":{seq}}}"#));
    s
}

/// The sequence number at the end of an [`app_line`].
pub fn seq_of(line: &str) -> Option<u64> {
    line.strip_suffix('}')?
        .rsplit_once("\"seq\":")?
        .1
        .parse()
        .ok()
}

/// What a receiver stored of a [`RateWriter`]'s lines: per container which sequence numbers
/// arrived, per stream how many distinct lines, and how many arrived more than once.
#[derive(Debug, Default)]
pub struct Arrivals {
    names: Vec<String>,
    /// A stream's label set as pushed → (container index, is stderr); `None`: not the writer's.
    streams: HashMap<String, Option<(usize, bool)>>,
    seen: Vec<Vec<bool>>,
    per_stream: Vec<[u64; 2]>,
    /// Distinct (container, seq) stored.
    pub distinct: u64,
    /// Entries stored again for a (container, seq) already seen.
    pub duplicates: u64,
    /// Every entry folded in.
    pub stored: u64,
    /// Entries that were not the writer's (no known `container_name`, or no sequence number).
    pub foreign: u64,
}

impl Arrivals {
    /// For the containers written to, by name, in the writer's order.
    pub fn new(names: &[String]) -> Self {
        Self {
            names: names.to_vec(),
            seen: vec![Vec::new(); names.len()],
            per_stream: vec![[0; 2]; names.len()],
            ..Self::default()
        }
    }

    /// Folds stored entries in (e.g. [`FakeLoki::take_entries`](crate::loki::FakeLoki::take_entries)).
    pub fn add(&mut self, entries: impl IntoIterator<Item = crate::loki::Received>) {
        for e in entries {
            self.stored += 1;
            let names = &self.names;
            let key = *self.streams.entry(e.labels.clone()).or_insert_with(|| {
                let labels = e.label_map();
                let i = names
                    .iter()
                    .position(|n| Some(n) == labels.get("container_name"))?;
                Some((
                    i,
                    labels.get("stream").map(String::as_str) == Some("stderr"),
                ))
            });
            let (Some((i, stderr)), Some(seq)) = (key, seq_of(&e.line)) else {
                self.foreign += 1;
                continue;
            };
            let seen = &mut self.seen[i];
            let seq = seq as usize;
            if seen.len() <= seq {
                seen.resize(seq + 1, false);
            }
            if seen[seq] {
                self.duplicates += 1;
            } else {
                seen[seq] = true;
                self.distinct += 1;
                self.per_stream[i][usize::from(stderr)] += 1;
            }
        }
    }

    /// Distinct lines of container `i` stored in `stream`.
    pub fn distinct_in(&self, i: usize, stream: &str) -> u64 {
        self.per_stream
            .get(i)
            .map_or(0, |s| s[usize::from(stream == "stderr")])
    }

    /// Lines written (per container, as [`RateWriter::written`]) and not stored.
    pub fn missing(&self, written: &[u64]) -> u64 {
        written
            .iter()
            .enumerate()
            .map(|(i, n)| {
                n.saturating_sub(self.distinct_in(i, "stdout") + self.distinct_in(i, "stderr"))
            })
            .sum()
    }
}

/// Writes [`app_line`]s as json-file records into a set of logs from a thread, `lines_per_sec`
/// in total spread evenly over them, one `write` per log every 20 ms. Stops on [`stop`](Self::stop)
/// or drop.
#[derive(Debug)]
pub struct RateWriter {
    stop: Arc<AtomicBool>,
    counts: Arc<Vec<AtomicU64>>,
    thread: Option<std::thread::JoinHandle<std::io::Result<()>>>,
}

impl RateWriter {
    /// Starts writing to `logs` (container name, log path).
    pub fn start(logs: Vec<(String, PathBuf)>, lines_per_sec: u64) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let counts: Arc<Vec<AtomicU64>> =
            Arc::new(logs.iter().map(|_| AtomicU64::new(0)).collect());
        let (s, c) = (Arc::clone(&stop), Arc::clone(&counts));
        let thread = std::thread::spawn(move || write_loop(&logs, lines_per_sec, &s, &c));
        Self {
            stop,
            counts,
            thread: Some(thread),
        }
    }

    /// Lines written so far, per log (in the order given).
    pub fn written(&self) -> Vec<u64> {
        self.counts.iter().map(|c| c.load(Relaxed)).collect()
    }

    /// Lines written so far, in total.
    pub fn total(&self) -> u64 {
        self.written().iter().sum()
    }

    /// Stops the thread; the lines written per log, or the write error that stopped it.
    pub fn stop(mut self) -> std::io::Result<Vec<u64>> {
        self.finish()?;
        Ok(self.written())
    }

    fn finish(&mut self) -> std::io::Result<()> {
        self.stop.store(true, Relaxed);
        match self.thread.take().map(std::thread::JoinHandle::join) {
            Some(Ok(r)) => r,
            Some(Err(_)) => Err(std::io::Error::other("the writer thread panicked")),
            None => Ok(()),
        }
    }
}

impl Drop for RateWriter {
    fn drop(&mut self) {
        let _ = self.finish();
    }
}

fn write_loop(
    logs: &[(String, PathBuf)],
    lines_per_sec: u64,
    stop: &AtomicBool,
    counts: &[AtomicU64],
) -> std::io::Result<()> {
    let mut files = logs
        .iter()
        .map(|(_, p)| std::fs::OpenOptions::new().append(true).open(p))
        .collect::<std::io::Result<Vec<_>>>()?;
    let n = logs.len().max(1) as u64;
    let start = Instant::now();
    let mut buf = String::new();
    while !stop.load(Relaxed) {
        // Lines due by now in total; log i is owed its share (the first ones take the remainder).
        let due = (start.elapsed().as_secs_f64() * lines_per_sec as f64) as u64;
        let now = SystemTime::now();
        for (i, ((name, _), f)) in logs.iter().zip(files.iter_mut()).enumerate() {
            let share = due / n + u64::from((i as u64) < due % n);
            let have = counts[i].load(Relaxed);
            if share <= have {
                continue;
            }
            buf.clear();
            for seq in have..share {
                buf.push_str(&record(&app_line(name, seq, now), stream_of(seq), now));
            }
            f.write_all(buf.as_bytes())?;
            counts[i].store(share, Relaxed);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_lines_and_records_have_the_docker_shape() {
        let t = SystemTime::UNIX_EPOCH + Duration::new(1_796_119_200, 5);
        assert_eq!(rfc3339_nanos(t), "2026-12-01T10:00:00.000000005Z");
        assert_eq!(
            rfc3339_nanos(SystemTime::UNIX_EPOCH + Duration::from_secs(951_782_400)),
            "2000-02-29T00:00:00.000000000Z"
        );
        for seq in (0..2_000).chain([12_345, 9_999_999]) {
            let l = app_line("cdb_ws", seq, t);
            assert!((150..=250).contains(&l.len()), "{} bytes: {l}", l.len());
            assert_eq!(seq_of(&l), Some(seq));
            let v: serde_json::Value = serde_json::from_str(&l).unwrap();
            assert_eq!(v["seq"], seq);
        }
        let r = record("hi \"x\"", "stderr", t);
        let v: serde_json::Value = serde_json::from_str(r.trim_end()).unwrap();
        assert_eq!(v["log"], "hi \"x\"\n");
        assert_eq!(v["stream"], "stderr");
        assert_eq!(
            (0..25).filter(|s| stream_of(*s) == "stderr").count() as u64,
            lines_in_stream(25, "stderr")
        );
    }

    #[test]
    fn the_writer_counts_what_it_wrote() {
        let root = DockerRoot::new().unwrap();
        let logs = root.add_many("svc", 3).unwrap();
        let w = RateWriter::start(logs.clone(), 3_000);
        assert!(crate::wait_until(Duration::from_secs(10), || w.total() >= 300));
        let counts = w.stop().unwrap();
        for ((_, path), n) in logs.iter().zip(&counts) {
            let text = std::fs::read_to_string(path).unwrap();
            assert_eq!(text.lines().count() as u64, *n);
        }
        assert!(root.root().join("containers").is_dir());
    }
}
