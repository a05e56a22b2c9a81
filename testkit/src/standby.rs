//! A streaming hot standby of a running [`PgCluster`], for tests of what a replica reports (and
//! what its primary reports about it).
//!
//! ```no_run
//! let primary = mcp_testkit::PgCluster::start().unwrap();
//! let standby = mcp_testkit::standby::Standby::from_primary(&primary, "standby_slot").unwrap();
//! assert_eq!(standby.psql("postgres", "SELECT pg_is_in_recovery()"), "t");
//! ```
//!
//! The standby is a `pg_basebackup` of the primary in its own temporary directory, started by the
//! same code as a [`PgCluster`] (same user, free port, readiness check, fast shutdown on drop),
//! with its own socket directory and `standby.signal`. It streams through a physical replication
//! slot that `pg_basebackup` creates on the primary; [`Standby::from_primary`] returns once the
//! primary's `pg_stat_replication` shows that slot's walsender `streaming`.

use std::io::Write as _;
use std::os::unix::process::CommandExt as _;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use nix::unistd::{Gid, Uid, chown};

use crate::{PgCluster, TestkitError, find_binary, free_port, io, tail, wait_until};

/// How long the standby may take to reach `streaming`.
const STREAMING_TIMEOUT: Duration = Duration::from_secs(30);

/// A hot standby streaming from a primary through a physical slot; stopped on drop.
#[derive(Debug)]
pub struct Standby {
    cluster: PgCluster,
    slot: String,
}

fn chown_to(path: &Path, run_as: Option<(u32, u32)>) -> Result<(), TestkitError> {
    if let Some((uid, gid)) = run_as {
        chown(path, Some(Uid::from_raw(uid)), Some(Gid::from_raw(gid))).map_err(|e| {
            TestkitError::Io {
                what: format!("chown {} to postgres", path.display()),
                source: e.into(),
            }
        })?;
    }
    Ok(())
}

impl Standby {
    /// Takes a base backup of `primary` (creating the physical replication slot `slot` on it;
    /// the slot must not exist yet), starts it as a hot standby streaming through that slot, and
    /// waits until the primary reports the walsender `streaming`.
    pub fn from_primary(primary: &PgCluster, slot: &str) -> Result<Self, TestkitError> {
        let dir = tempfile::Builder::new()
            .prefix("mcp-pg-standby-")
            .tempdir()
            .map_err(io("create temp dir"))?;
        chown_to(dir.path(), primary.run_as)?;
        let data = dir.path().join("data");
        let mut cmd = Command::new(find_binary("pg_basebackup")?);
        cmd.arg("-D")
            .arg(&data)
            .args(["-h", "127.0.0.1", "-p", &primary.port.to_string()])
            .args(["-U", "postgres", "--create-slot", "--slot", slot])
            .args(["--checkpoint=fast", "--no-sync"])
            .env("LC_ALL", "C.UTF-8");
        if let Some((uid, gid)) = primary.run_as {
            cmd.uid(uid).gid(gid);
        }
        let out = cmd.output().map_err(io("run pg_basebackup"))?;
        if !out.status.success() {
            return Err(TestkitError::Command {
                what: format!("pg_basebackup of 127.0.0.1:{}", primary.port),
                output: String::from_utf8_lossy(&out.stderr).into_owned(),
            });
        }
        let signal = data.join("standby.signal");
        std::fs::File::create(&signal).map_err(io("create standby.signal"))?;
        chown_to(&signal, primary.run_as)?;
        // The copied postgresql.conf names the primary's socket directory: use our own. The
        // connection string is written here rather than by `pg_basebackup -R`, which would also
        // record the invoking user's password file path.
        let conf = format!(
            "\nunix_socket_directories = '{}'\nhot_standby = on\n\
             primary_conninfo = 'host=127.0.0.1 port={} user=postgres'\n\
             primary_slot_name = '{slot}'\n",
            dir.path().display(),
            primary.port
        );
        std::fs::OpenOptions::new()
            .append(true)
            .open(data.join("postgresql.conf"))
            .and_then(|mut f| f.write_all(conf.as_bytes()))
            .map_err(io("write the standby's postgresql.conf"))?;

        let mut cluster = PgCluster {
            child: None,
            port: 0,
            dir,
            run_as: primary.run_as,
        };
        // A free port can be taken between our probe and the server's bind: retry on a new one.
        for attempt in 1.. {
            cluster.port = free_port();
            match cluster.spawn() {
                Ok(()) => break,
                Err(_) if attempt < 5 => {}
                Err(e) => return Err(e),
            }
        }
        let streaming = format!(
            "SELECT count(*) FROM pg_stat_replication r \
             JOIN pg_replication_slots s ON s.active_pid = r.pid \
             WHERE s.slot_name = '{slot}' AND r.state = 'streaming'"
        );
        if !wait_until(STREAMING_TIMEOUT, || {
            primary
                .try_psql("postgres", &streaming)
                .is_ok_and(|n| n == "1")
        }) {
            return Err(TestkitError::NotReady {
                what: format!(
                    "standby on 127.0.0.1:{} streaming from 127.0.0.1:{} (slot {slot})",
                    cluster.port, primary.port
                ),
                secs: STREAMING_TIMEOUT.as_secs(),
                log: tail(&cluster.dir.path().join("server.log"), 20),
            });
        }
        Ok(Standby {
            cluster,
            slot: slot.to_owned(),
        })
    }

    /// The standby's port.
    pub fn port(&self) -> u16 {
        self.cluster.port()
    }

    /// `127.0.0.1:PORT` of the standby.
    pub fn host_port(&self) -> String {
        self.cluster.host_port()
    }

    /// A URI DSN for database `db` on the standby as user postgres (trust auth).
    pub fn dsn(&self, db: &str) -> String {
        self.cluster.dsn(db)
    }

    /// The replication slot it streams through (on the primary).
    pub fn slot(&self) -> &str {
        &self.slot
    }

    /// The standby's temporary directory (`server.log`, data directory `data/`).
    pub fn dir(&self) -> &Path {
        self.cluster.dir()
    }

    /// psql on the standby, as [`PgCluster::psql`] (read-only statements: it is in recovery).
    pub fn psql(&self, db: &str, sql: &str) -> String {
        self.cluster.psql(db, sql)
    }

    /// The standby as a cluster, for everything else [`PgCluster`] offers.
    pub fn cluster(&self) -> &PgCluster {
        &self.cluster
    }
}
