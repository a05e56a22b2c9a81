//! The committed systemd unit's credential wiring works as its comments say: the
//! `Environment=` and `LoadCredential=` lines of agent/systemd/mcp-agent.service (read at test
//! time), a credentials directory (the unit's `%d`) holding the documented "unused" contents,
//! and the real agent binary started with that environment and the unit's `ExecStart` arguments
//! starts and serves all three exporters against real redis-server and PostgreSQL.
//!
//! And the credentials reach an agent.yml that has `redis:` / `postgres:` sections: a section
//! that does not set the password takes it from the credential (a password-protected Redis is
//! `redis_up 1` only with it), and a section whose own DSNs would leave a given password unused
//! stops the agent with one line naming both, never the secret.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use mcp_testkit::{PgCluster, RedisServer, free_port, http_get};
use support::{Agent, spawn_agent};

/// What the committed unit says.
struct Unit {
    /// `Environment=` pairs, `%d` not yet replaced.
    env: Vec<(String, String)>,
    /// `LoadCredential=` name → its documented "unused" content.
    credentials: BTreeMap<String, String>,
    /// `ExecStart=` arguments after the binary.
    args: Vec<String>,
}

fn unit() -> Unit {
    let path = mcp_testkit::workspace_root().join("agent/systemd/mcp-agent.service");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut env = Vec::new();
    let mut credentials = BTreeMap::new();
    let mut args = Vec::new();
    for line in text.lines() {
        if let Some(kv) = line.strip_prefix("Environment=") {
            let (k, v) = kv.split_once('=').unwrap();
            env.push((k.to_owned(), v.to_owned()));
        } else if let Some(spec) = line.strip_prefix("LoadCredential=") {
            let (name, source) = spec.split_once(':').unwrap();
            // The documented default: a comment line `#   <source>  holds  <content>` or
            // `#   <source>  is empty`.
            let doc = text
                .lines()
                .filter(|l| l.starts_with('#'))
                .find_map(|l| {
                    l.split_once(&format!("{source} "))
                        .map(|(_, rest)| rest.trim())
                })
                .unwrap_or_else(|| panic!("the unit documents no default content of {source}"));
            let content = if let Some(c) = doc.strip_prefix("holds") {
                c.trim().to_owned()
            } else {
                assert_eq!(doc, "is empty", "{source}");
                String::new()
            };
            credentials.insert(name.to_owned(), content);
        } else if let Some(exec) = line.strip_prefix("ExecStart=") {
            args = exec.split_whitespace().skip(1).map(str::to_owned).collect();
        }
    }
    assert!(!credentials.is_empty() && !env.is_empty() && !args.is_empty());
    // Every credential is handed to the agent through an Environment= line under %d.
    for name in credentials.keys() {
        assert!(
            env.iter().any(|(_, v)| v == &format!("%d/{name}")),
            "credential {name} is not passed on: {:?}",
            env
        );
    }
    Unit {
        env,
        credentials,
        args,
    }
}

/// The agent as systemd would start it: a clean environment holding only the unit's
/// `Environment=` lines (with `%d` the credentials directory), `CREDENTIALS_DIRECTORY`, and
/// `agent_env` (what /etc/mcp/agent.env would hold); the unit's arguments with the config path
/// pointed at `config`.
fn start_as_unit(
    unit: &Unit,
    credentials: &Path,
    agent_env: &[(&str, String)],
    config: &Path,
    expect: usize,
) -> Agent {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mcp-agent"));
    cmd.env_clear();
    for (k, v) in &unit.env {
        cmd.env(k, v.replace("%d", credentials.to_str().unwrap()));
    }
    cmd.env("CREDENTIALS_DIRECTORY", credentials);
    for (k, v) in agent_env {
        cmd.env(k, v);
    }
    for a in &unit.args {
        if a == "/etc/mcp/agent.yml" {
            cmd.arg(config);
        } else {
            cmd.arg(a);
        }
    }
    spawn_agent(cmd, expect)
}

fn credentials_dir(root: &Path, unit: &Unit, overrides: &[(&str, &str)]) -> PathBuf {
    let dir = root.join("credentials");
    std::fs::create_dir_all(&dir).unwrap();
    for (name, content) in &unit.credentials {
        let content = overrides
            .iter()
            .find(|(n, _)| n == name)
            .map_or(content.as_str(), |(_, c)| c);
        std::fs::write(dir.join(name), content).unwrap();
    }
    dir
}

fn write_config(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("agent.yml");
    std::fs::write(&path, text).unwrap();
    path
}

/// An agent.yml serving only `section` on `port`, with `settings` (YAML lines under
/// `settings:`, already indented by four) when given.
fn only_section(dir: &Path, section: &str, port: u16, settings: &str) -> PathBuf {
    let mut text: String = ["host", "redis", "postgres"]
        .iter()
        .filter(|s| **s != section)
        .map(|s| format!("{s}:\n  enabled: false\n"))
        .collect();
    text.push_str(&format!(
        "{section}:\n  listen_address: [\"127.0.0.1:{port}\"]\n"
    ));
    if !settings.is_empty() {
        text.push_str("  settings:\n");
        text.push_str(settings);
    }
    write_config(dir, &text)
}

#[test]
fn the_units_documented_default_credentials_start_and_serve() {
    let unit = unit();
    let redis = RedisServer::start().unwrap();
    let pg = PgCluster::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let credentials = credentials_dir(dir.path(), &unit, &[]);
    let (host_port, redis_port, pg_port) = (free_port(), free_port(), free_port());
    // The README's shape: sections that set where to listen; the connection comes from
    // agent.env, the (unused) passwords from the credentials.
    let config = write_config(
        dir.path(),
        &format!(
            "host:\n  listen_address: [\"127.0.0.1:{host_port}\"]\n\
             redis:\n  listen_address: [\"127.0.0.1:{redis_port}\"]\n\
             postgres:\n  listen_address: [\"127.0.0.1:{pg_port}\"]\n"
        ),
    );
    let agent_env = [
        ("REDIS_ADDR", redis.url()),
        (
            "DATA_SOURCE_URI",
            format!("{}/postgres?sslmode=disable", pg.host_port()),
        ),
        ("DATA_SOURCE_USER", "postgres".to_owned()),
    ];
    let agent = start_as_unit(&unit, &credentials, &agent_env, &config, 3);
    assert_eq!(
        agent.serving.len(),
        3,
        "the agent did not start with the unit's defaults: {}",
        agent.stderr()
    );
    let (status, body) = http_get(&format!("http://127.0.0.1:{redis_port}/metrics"));
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("redis_up 1"), "redis_up 1 in:\n{body}");
    let (status, body) = http_get(&format!("http://127.0.0.1:{pg_port}/metrics"));
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("pg_up 1"), "pg_up 1 in:\n{body}");
    // The DSN is the one agent.env describes (not the built-in default on :5432).
    assert!(body.contains(&pg.host_port()), "{}", pg.host_port());
    let (status, body) = http_get(&format!("http://127.0.0.1:{host_port}/metrics"));
    assert_eq!(status, 200);
    assert!(body.contains("node_cpu_seconds_total{"));
    assert!(!agent.stderr().contains("panicked"), "{}", agent.stderr());
}

#[test]
fn a_section_without_a_password_takes_the_credential() {
    let unit = unit();
    let password = "cred-s3cret-0451";
    let redis = RedisServer::start_with_args(&["--requirepass", password]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    // The section names the address itself, as the README's example does, and no password.
    let config = write_config(
        dir.path(),
        &format!(
            "host:\n  enabled: false\npostgres:\n  enabled: false\n\
             redis:\n  listen_address: [\"127.0.0.1:{port}\"]\n  settings:\n    redis_addr: {}\n",
            redis.url()
        ),
    );
    let map = format!("{{\"{}\": \"{password}\"}}", redis.url());
    let credentials = credentials_dir(dir.path(), &unit, &[("redis_password", &map)]);
    let agent = start_as_unit(&unit, &credentials, &[], &config, 1);
    assert_eq!(agent.serving.len(), 1, "{}", agent.stderr());
    let (status, body) = http_get(&format!("http://127.0.0.1:{port}/metrics"));
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("redis_up 1"), "redis_up 1 in:\n{body}");
    assert!(!body.contains(password) && !agent.stderr().contains(password));
    drop(agent);

    // Control: with the documented "unused" content the same config cannot log in, so it was
    // the credential that did.
    let credentials = credentials_dir(dir.path(), &unit, &[]);
    let agent = start_as_unit(&unit, &credentials, &[], &config, 1);
    assert_eq!(agent.serving.len(), 1, "{}", agent.stderr());
    let (status, body) = http_get(&format!("http://127.0.0.1:{port}/metrics"));
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("redis_up 0"), "redis_up 0 in:\n{body}");
}

#[test]
fn a_password_the_config_would_leave_unused_stops_the_agent_in_one_line() {
    let unit = unit();
    let password = "pg-s3cret-7731";
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = only_section(
        dir.path(),
        "postgres",
        port,
        "    data_source_names: [\"postgresql://mcp@127.0.0.1:1/postgres?sslmode=disable\"]\n",
    );
    let credentials = credentials_dir(dir.path(), &unit, &[("pg_password", password)]);
    assert_one_line_refusal(
        &unit,
        &credentials,
        &[],
        &config,
        &["settings.data_source_names", "DATA_SOURCE_PASS_FILE"],
        password,
    );

    // The same for Redis: a password in the section and a password map with entries.
    let other = dir.path().join("other.json");
    std::fs::write(&other, "{}").unwrap();
    let config = only_section(
        dir.path(),
        "redis",
        port,
        &format!("    redis_password_file: {}\n", other.display()),
    );
    let credentials = credentials_dir(
        dir.path(),
        &unit,
        &[(
            "redis_password",
            &format!("{{\"redis://127.0.0.1:1\": \"{password}\"}}"),
        )],
    );
    assert_one_line_refusal(
        &unit,
        &credentials,
        &[],
        &config,
        &["settings.redis_password_file", "REDIS_PASSWORD_FILE"],
        password,
    );
}

/// Starts the unit's environment plus `env` with `config` and expects exit 2 and one stderr line
/// naming each of `names`, never `secret`.
fn assert_one_line_refusal(
    unit: &Unit,
    credentials: &Path,
    env: &[(&str, String)],
    config: &Path,
    names: &[&str],
    secret: &str,
) {
    let agent = start_as_unit(unit, credentials, env, config, 1);
    assert!(agent.serving.is_empty(), "{:?}", agent.serving);
    let (code, stderr) = agent.wait_exit();
    assert_eq!(code, Some(2), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    for name in names {
        assert!(stderr.contains(name), "{name} in {stderr}");
    }
    assert!(!stderr.contains(secret), "{stderr}");
}

#[test]
fn plain_password_variables_and_an_unparsable_credential_stop_the_agent_in_one_line() {
    let unit = unit();
    let secret = "env-s3cret-4410";
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let credentials = credentials_dir(dir.path(), &unit, &[]);

    // REDIS_PASSWORD beside a section that sets redis_password.
    let config = only_section(
        dir.path(),
        "redis",
        port,
        "    redis_addr: redis://127.0.0.1:1\n    redis_password: other\n",
    );
    assert_one_line_refusal(
        &unit,
        &credentials,
        &[("REDIS_PASSWORD", secret.to_owned())],
        &config,
        &["settings.redis_password", "REDIS_PASSWORD"],
        secret,
    );

    // DATA_SOURCE_NAME beside a section that sets data_source_names.
    let config = only_section(
        dir.path(),
        "postgres",
        port,
        "    data_source_names: [\"postgresql://mcp@127.0.0.1:1/postgres?sslmode=disable\"]\n",
    );
    assert_one_line_refusal(
        &unit,
        &credentials,
        &[(
            "DATA_SOURCE_NAME",
            format!("postgresql://mcp:{secret}@127.0.0.1:1/postgres"),
        )],
        &config,
        &["settings.data_source_names", "DATA_SOURCE_NAME"],
        secret,
    );

    // Any setting other than the connection ones comes from the file or the default, never from
    // the environment: REDIS_EXPORTER_NAMESPACE does not rename the families of a section.
    let config = only_section(
        dir.path(),
        "redis",
        port,
        "    redis_addr: redis://127.0.0.1:1\n",
    );
    let agent = start_as_unit(
        &unit,
        &credentials,
        &[("REDIS_EXPORTER_NAMESPACE", "envns".to_owned())],
        &config,
        1,
    );
    assert_eq!(agent.serving.len(), 1, "{}", agent.stderr());
    let (status, body) = http_get(&format!("http://127.0.0.1:{port}/metrics"));
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains("redis_up 0") && !body.contains("envns_"),
        "{body}"
    );
    drop(agent);

    // A Redis credential that is not upstream's JSON map stops the agent at start, not at scrape.
    let config = only_section(dir.path(), "redis", port, "");
    let credentials = credentials_dir(dir.path(), &unit, &[("redis_password", secret)]);
    let agent = start_as_unit(&unit, &credentials, &[], &config, 1);
    assert!(agent.serving.is_empty(), "{:?}", agent.serving);
    let (code, stderr) = agent.wait_exit();
    assert_eq!(code, Some(2), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("not a JSON object"), "{stderr}");
    assert!(!stderr.contains(secret), "{stderr}");
}
