//! The exporter pairs: the backend each one scrapes (started by mcp-testkit on free ports, never
//! the machine's own services), how to start each side, how to count the backend's work, and the
//! floor: the backend's own round trips for the same data, without any exporter.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use mcp_testkit::{PgCluster, RedisServer};

use crate::procstat;

/// Which exporter pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Pair {
    /// mcp-redis-exporter vs redis_exporter.
    Redis,
    /// mcp-postgres-exporter vs postgres_exporter.
    Postgres,
    /// mcp-host-exporter vs node_exporter.
    Host,
    /// mcp-agent (host + Redis + PostgreSQL in one process) vs the three Go exporters together.
    Agent,
}

impl Pair {
    /// Lower-case name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Pair::Redis => "redis",
            Pair::Postgres => "postgres",
            Pair::Host => "host",
            Pair::Agent => "agent",
        }
    }

    /// The Go original's binary and Debian package (the same name).
    pub fn go_binary(self) -> &'static str {
        match self {
            Pair::Redis => "prometheus-redis-exporter",
            Pair::Postgres => "prometheus-postgres-exporter",
            Pair::Host => "prometheus-node-exporter",
            // Three binaries (agent::GO_ORDER); this one is looked up first for the label.
            Pair::Agent => "prometheus-node-exporter",
        }
    }

    /// The upstream project's name.
    pub fn upstream_name(self) -> &'static str {
        match self {
            Pair::Redis => "redis_exporter",
            Pair::Postgres => "postgres_exporter",
            Pair::Host => "node_exporter",
            Pair::Agent => "node_exporter + redis_exporter + postgres_exporter",
        }
    }

    /// Our binary (the cargo package and bin name).
    pub fn our_binary(self) -> &'static str {
        match self {
            Pair::Redis => "mcp-redis-exporter",
            Pair::Postgres => "mcp-postgres-exporter",
            Pair::Host => "mcp-host-exporter",
            Pair::Agent => "mcp-agent",
        }
    }

    /// What the backend counter counts.
    pub fn backend_unit(self) -> &'static str {
        match self {
            Pair::Redis => "Redis commands per scrape (INFO commandstats delta)",
            Pair::Postgres => "SQL statements per scrape (pg_stat_statements delta)",
            Pair::Host | Pair::Agent => "",
        }
    }

    /// The multi-target endpoint, for labels.
    pub fn multi_target_path(self) -> &'static str {
        match self {
            Pair::Redis => "`/scrape?target=`",
            Pair::Postgres => "`/probe?target=`",
            Pair::Host | Pair::Agent => "",
        }
    }

    /// What the floor does.
    pub fn floor_desc(self) -> &'static str {
        match self {
            Pair::Redis => "`INFO ALL` over one RESP connection (what `redis-cli INFO ALL` sends)",
            Pair::Postgres => {
                "the 0.11.1 exporter's own statements (anchors/postgres_exporter_0.11.1.scrape-sql.log) \
                 over one tokio-postgres connection"
            }
            Pair::Host => {
                "reading /proc/{stat,meminfo,loadavg,diskstats,vmstat,net/dev,mounts} and \
                 /proc/sys/fs/file-nr once, in the driver"
            }
            Pair::Agent => "",
        }
    }
}

/// A running backend for one pair.
pub enum Backend {
    /// A private redis-server.
    Redis(Arc<RedisServer>),
    /// A private PostgreSQL cluster with pg_stat_statements.
    Postgres(Arc<PgCluster>, Vec<String>),
    /// The host itself.
    Host,
    /// The agent's: the redis-server and PostgreSQL cluster of the pairs when they run (the
    /// runs are sequential), else its own; and the host.
    Agent(Arc<RedisServer>, Arc<PgCluster>),
}

impl Backend {
    /// Starts the backend and gives it some state to export, like the anchors' captures.
    /// `started` are the backends already running, which the agent reuses.
    pub fn start(pair: Pair, started: &[&Backend]) -> anyhow::Result<Self> {
        match pair {
            Pair::Redis => Ok(Backend::Redis(Arc::new(start_redis()?))),
            Pair::Postgres => Ok(Backend::Postgres(
                Arc::new(start_postgres()?),
                floor_statements(),
            )),
            Pair::Host => Ok(Backend::Host),
            Pair::Agent => {
                let redis = started.iter().find_map(|b| match b {
                    Backend::Redis(r) => Some(Arc::clone(r)),
                    _ => None,
                });
                let pg = started.iter().find_map(|b| match b {
                    Backend::Postgres(p, _) => Some(Arc::clone(p)),
                    _ => None,
                });
                let redis = match redis {
                    Some(r) => r,
                    None => Arc::new(start_redis()?),
                };
                let pg = match pg {
                    Some(p) => p,
                    None => Arc::new(start_postgres()?),
                };
                Ok(Backend::Agent(redis, pg))
            }
        }
    }

    /// Arguments and environment for one side.
    pub fn exporter_command(
        &self,
        pair: Pair,
        listen: &str,
    ) -> (Vec<String>, Vec<(String, String)>) {
        let listen_flag = format!("--web.listen-address={listen}");
        match (pair, self) {
            (Pair::Redis, Backend::Redis(r)) => (
                vec![format!("--redis.addr={}", r.url()), listen_flag],
                Vec::new(),
            ),
            (Pair::Postgres, Backend::Postgres(pg, _)) => (
                vec![listen_flag],
                vec![("DATA_SOURCE_NAME".into(), pg.dsn("postgres"))],
            ),
            _ => (vec![listen_flag], Vec::new()),
        }
    }

    /// Total work the backend has done (commands or statements), to take deltas of.
    pub fn work_counter(&self) -> Option<f64> {
        match self {
            Backend::Redis(r) => {
                let mut c = Resp::connect(&r.addr()).ok()?;
                let info = c.cmd(&["INFO", "commandstats"]).ok()?;
                Some(commandstats_calls(&info))
            }
            Backend::Postgres(pg, _) => {
                // The probe marks itself so it is not counted (pg_stat_statements keeps the
                // comment of the first text it saw for a query).
                let out = pg.psql(
                    "postgres",
                    "SELECT /* mcp_bench_probe */ coalesce(sum(calls), 0) FROM pg_stat_statements \
                     WHERE query NOT LIKE '%mcp_bench_probe%'",
                );
                out.trim().parse::<f64>().ok()
            }
            Backend::Host | Backend::Agent(..) => None,
        }
    }

    /// The backend's own probes that show up in [`Self::work_counter`] deltas.
    pub fn probe_overhead(&self) -> f64 {
        match self {
            // The first INFO commandstats is counted when the second one reads the table.
            Backend::Redis(_) => 1.0,
            _ => 0.0,
        }
    }

    /// CPU ticks the backend has used (server plus its connection processes).
    pub fn cpu_ticks(&self) -> Option<u64> {
        match self {
            Backend::Redis(r) => procstat::tree_cpu_ticks(r.pid()),
            Backend::Postgres(pg, _) => procstat::tree_cpu_ticks(pg.pid()),
            Backend::Agent(r, pg) => {
                Some(procstat::tree_cpu_ticks(r.pid())? + procstat::tree_cpu_ticks(pg.pid())?)
            }
            Backend::Host => None,
        }
    }

    /// Runs the floor `n` times sequentially: latencies in seconds, and failures.
    pub async fn floor(&self, n: u64) -> anyhow::Result<(Vec<f64>, u64)> {
        let mut lat = Vec::with_capacity(n as usize);
        let mut failed = 0;
        match self {
            Backend::Redis(r) => {
                let mut c = Resp::connect(&r.addr())?;
                for _ in 0..n {
                    let t0 = Instant::now();
                    match c.cmd(&["INFO", "ALL"]) {
                        Ok(_) => lat.push(t0.elapsed().as_secs_f64()),
                        Err(_) => {
                            failed += 1;
                            c = Resp::connect(&r.addr())?;
                        }
                    }
                }
            }
            Backend::Postgres(pg, statements) => {
                if statements.is_empty() {
                    bail!(
                        "no statements (anchors/postgres_exporter_0.11.1.scrape-sql.log missing)"
                    );
                }
                let (client, conn) =
                    tokio_postgres::connect(&pg.dsn("postgres"), tokio_postgres::NoTls).await?;
                let task = tokio::spawn(conn);
                for _ in 0..n {
                    let t0 = Instant::now();
                    let mut ok = true;
                    for s in statements {
                        ok &= client.simple_query(s).await.is_ok();
                    }
                    if ok {
                        lat.push(t0.elapsed().as_secs_f64());
                    } else {
                        failed += 1;
                    }
                }
                drop(client);
                let _ = task.await;
            }
            Backend::Agent(..) => bail!("the agent has no floor"),
            Backend::Host => {
                let files = [
                    "/proc/stat",
                    "/proc/meminfo",
                    "/proc/loadavg",
                    "/proc/diskstats",
                    "/proc/vmstat",
                    "/proc/net/dev",
                    "/proc/mounts",
                    "/proc/sys/fs/file-nr",
                ];
                let mut buf = Vec::with_capacity(1 << 16);
                for _ in 0..n {
                    let t0 = Instant::now();
                    let mut ok = true;
                    for f in files {
                        buf.clear();
                        ok &= std::fs::File::open(f)
                            .and_then(|mut h| h.read_to_end(&mut buf))
                            .is_ok();
                    }
                    if ok {
                        lat.push(t0.elapsed().as_secs_f64());
                    } else {
                        failed += 1;
                    }
                }
            }
        }
        Ok((lat, failed))
    }
}

/// A private redis-server with the state the anchors' captures had: 200 keys, a TTL key in db3,
/// a stream, maxmemory 64mb.
fn start_redis() -> anyhow::Result<RedisServer> {
    let r =
        RedisServer::start_with_args(&["--maxmemory", "64mb", "--maxmemory-policy", "allkeys-lru"])
            .context("start redis-server through mcp-testkit")?;
    let mut conn = Resp::connect(&r.addr())?;
    for i in 0..200 {
        conn.cmd(&["SET", &format!("key:{i}"), &"v".repeat(64)])?;
    }
    conn.cmd(&["SELECT", "3"])?;
    conn.cmd(&["SET", "ttl-key", "x", "EX", "86400"])?;
    conn.cmd(&["SELECT", "0"])?;
    conn.cmd(&["XADD", "stream", "*", "field", "value"])?;
    Ok(r)
}

/// A private PostgreSQL cluster with pg_stat_statements, four extra databases and a table.
fn start_postgres() -> anyhow::Result<PgCluster> {
    let pg = PgCluster::start_with_conf(
        "shared_preload_libraries = 'pg_stat_statements'\n\
         pg_stat_statements.track = all\n\
         pg_stat_statements.max = 10000",
    )
    .context("start PostgreSQL through mcp-testkit")?;
    pg.psql("postgres", "CREATE EXTENSION pg_stat_statements");
    for db in ["app1", "app2", "app3", "app4"] {
        pg.psql("postgres", &format!("CREATE DATABASE {db}"));
    }
    pg.psql(
        "app1",
        "CREATE TABLE t AS SELECT g AS id, md5(g::text) AS v FROM generate_series(1, 10000) g; \
         ANALYZE t",
    );
    Ok(pg)
}

/// Sum of `calls=` over every `cmdstat_*` line.
pub fn commandstats_calls(info: &str) -> f64 {
    info.lines()
        .filter(|l| l.starts_with("cmdstat_"))
        .filter_map(|l| {
            l.split([':', ','])
                .find_map(|kv| kv.strip_prefix("calls="))
                .and_then(|v| v.parse::<f64>().ok())
        })
        .sum()
}

/// The SQL statements the Go exporter sent in one scrape, from the anchor log.
fn floor_statements() -> Vec<String> {
    let path = mcp_testkit::anchors_dir().join("postgres_exporter_0.11.1.scrape-sql.log");
    std::fs::read_to_string(path)
        .map(|t| parse_statement_log(&t))
        .unwrap_or_default()
}

/// Splits a `log_statement = all` log into statements (continuation lines belong to the
/// statement above them; other LOG lines end it).
pub fn parse_statement_log(text: &str) -> Vec<String> {
    const MARK: &str = " LOG:  statement: ";
    let mut out = Vec::new();
    let mut cur: Option<String> = None;
    for line in text.lines() {
        if let Some(i) = line.find(MARK) {
            out.extend(cur.take());
            cur = Some(line[i + MARK.len()..].to_owned());
        } else if line.contains(" LOG:  ") || line.contains(" ERROR:  ") {
            out.extend(cur.take());
        } else if let Some(c) = cur.as_mut() {
            c.push('\n');
            c.push_str(line);
        }
    }
    out.extend(cur);
    out.into_iter()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty() && s != ";")
        .collect()
}

/// A minimal blocking RESP client (the floor must not include a client library's overhead).
pub struct Resp {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Resp {
    /// Connects with 5 s timeouts.
    pub fn connect(addr: &str) -> anyhow::Result<Self> {
        let sock = addr.parse().with_context(|| format!("address {addr}"))?;
        let stream = TcpStream::connect_timeout(&sock, Duration::from_secs(5))?;
        stream.set_read_timeout(Some(Duration::from_secs(5)))?;
        stream.set_nodelay(true)?;
        Ok(Resp {
            stream,
            buf: Vec::new(),
        })
    }

    /// Sends one command and returns its reply (bulk strings as text, others as the line).
    pub fn cmd(&mut self, args: &[&str]) -> anyhow::Result<String> {
        let mut req = format!("*{}\r\n", args.len());
        for a in args {
            req.push_str(&format!("${}\r\n{a}\r\n", a.len()));
        }
        self.stream.write_all(req.as_bytes())?;
        self.buf.clear();
        let line = self.read_line()?;
        match line.as_bytes().first() {
            Some(b'$') => {
                let len: i64 = line[1..].trim().parse()?;
                if len < 0 {
                    return Ok(String::new());
                }
                let need = len as usize + 2;
                let mut body = vec![0u8; need];
                self.read_exact_buffered(&mut body)?;
                body.truncate(len as usize);
                Ok(String::from_utf8_lossy(&body).into_owned())
            }
            Some(b'-') => bail!("redis error: {line}"),
            _ => Ok(line),
        }
    }

    fn fill(&mut self) -> anyhow::Result<()> {
        let mut chunk = [0u8; 65536];
        let n = self.stream.read(&mut chunk)?;
        if n == 0 {
            bail!("connection closed");
        }
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(())
    }

    fn read_line(&mut self) -> anyhow::Result<String> {
        loop {
            if let Some(i) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let line = String::from_utf8_lossy(&self.buf[..i]).into_owned();
                self.buf.drain(..i + 2);
                return Ok(line);
            }
            self.fill()?;
        }
    }

    fn read_exact_buffered(&mut self, out: &mut [u8]) -> anyhow::Result<()> {
        while self.buf.len() < out.len() {
            self.fill()?;
        }
        out.copy_from_slice(&self.buf[..out.len()]);
        self.buf.drain(..out.len());
        Ok(())
    }
}

/// Finds our binary: an explicit path, else the release (or, in quick mode, debug) build in
/// `$CARGO_TARGET_DIR` or the workspace's `target/`.
pub fn find_ours(name: &str, allow_debug: bool) -> Option<PathBuf> {
    let root = workspace_root();
    let mut dirs: Vec<PathBuf> = Vec::new();
    if let Some(t) = std::env::var_os("CARGO_TARGET_DIR") {
        let t = PathBuf::from(t);
        dirs.push(if t.is_absolute() { t } else { root.join(t) });
    }
    dirs.push(root.join("target"));
    let mut profiles = vec!["release"];
    if allow_debug {
        profiles.push("debug");
    }
    for p in profiles {
        for d in &dirs {
            let bin = d.join(p).join(name);
            if bin.is_file() {
                return Some(bin);
            }
        }
    }
    None
}

/// The workspace root (this crate's parent directory).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commandstats_sum() {
        let info = "# Commandstats\r\ncmdstat_info:calls=3,usec=10,usec_per_call=3.3\r\n\
                    cmdstat_config|get:calls=2,usec=1\r\n";
        assert_eq!(commandstats_calls(info), 5.0);
    }

    #[test]
    fn statement_log() {
        let log = "2026-11-24 00:00:34.532 UTC [5828] LOG:  statement: ;\n\
                   2026-11-24 00:00:34.532 UTC [5829] LOG:  statement: SELECT\n\t a\n\t FROM t;\n\
                   2026-11-24 00:00:34.532 UTC [5828] LOG:  statement: SELECT version();\n";
        assert_eq!(
            parse_statement_log(log),
            vec!["SELECT\n\t a\n\t FROM t;", "SELECT version();"]
        );
    }
}
