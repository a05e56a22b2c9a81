//! The commands of docker/mcp/README.md's runbooks ("Alerts and runbooks"), checked the way an
//! operator would paste them, as far as this machine can run them (there is no Docker engine):
//! - every `docker` command names a container that one of the two compose files creates (or no
//!   container: `docker stats`, `docker system df`, `docker image prune`; `docker network`
//!   commands name `cdb_network`), with a subcommand from the set the runbooks use;
//! - every `docker exec cdb_redis redis-cli …` runs, as `redis-cli -p PORT …`, against a real
//!   redis-server (pipes included), exit 0 with output;
//! - every `curl` to the stack's published ports runs against the real part behind that port:
//!   Prometheus (testkit's, started with `--web.enable-lifecycle` as the compose file starts
//!   mcp_prometheus, which the test also checks) for :9090 and the Loki-compatible receiver for
//!   :3100; exit 0 and HTTP 2xx;
//! - a `curl` to a CDB service (`http://cdb_ws:8003/…`) names a service and port of
//!   docker-compose.cdb.yml; the path (`/-/healthy`) is mcp-instrument's, served and tested in
//!   instrument/tests/init_once_serves_metrics_and_health.rs.
//!
//! A command of another form fails the test: a new runbook command needs a check here.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::process::Command;

use mcp_e2e::stack_file;
use mcp_testkit::loki::FakeLoki;
use mcp_testkit::{Prometheus, RedisServer};

/// The inline commands (`docker …`, `curl …`) of the README's "Alerts and runbooks" section.
fn runbook_commands() -> Vec<String> {
    let readme = stack_file("README.md");
    let start = readme
        .find("\n## Alerts and runbooks")
        .expect("README.md has an \"Alerts and runbooks\" section");
    let section = &readme[start + 1..];
    let section = &section[..section[3..].find("\n## ").map_or(section.len(), |i| i + 3)];
    let span = regex::Regex::new(r"`((?:docker|curl) [^`]+)`").unwrap();
    let mut seen = BTreeSet::new();
    span.captures_iter(section)
        // A span may wrap across lines in the Markdown source.
        .map(|c| c[1].split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|c| seen.insert(c.clone()))
        .collect()
}

/// Every `container_name` of both compose files.
fn containers() -> BTreeSet<String> {
    let name = regex::Regex::new(r"(?m)^\s+container_name:\s*(\S+)\s*$").unwrap();
    ["docker-compose.observability.yml", "docker-compose.cdb.yml"]
        .iter()
        .flat_map(|f| {
            let text = stack_file(f);
            name.captures_iter(&text)
                .map(|c| c[1].trim_matches('"').to_owned())
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The container a `docker` command acts on, or `None` for the host-wide ones.
fn container_of(cmd: &str) -> Option<String> {
    let words: Vec<&str> = cmd.split_whitespace().collect();
    let sub = words.get(1).copied().unwrap_or("");
    let first_plain = |from: usize| {
        let mut i = from;
        while i < words.len() {
            let w = words[i];
            if w == "--tail" || w == "--format" {
                i += 2;
                // A quoted Go template may hold spaces.
                if w == "--format" {
                    while i <= words.len() && !words[i - 1].ends_with('\'') {
                        i += 1;
                    }
                }
                continue;
            }
            if w.starts_with('-') {
                i += 1;
                continue;
            }
            return Some(w.to_owned());
        }
        None
    };
    match sub {
        "ps" => words
            .iter()
            .find_map(|w| w.strip_prefix("name="))
            .map(str::to_owned),
        "logs" | "restart" | "exec" | "inspect" => first_plain(2),
        "network" => {
            // The one network the stack shares with the CDB services.
            assert_eq!(
                words.last().copied(),
                Some("cdb_network"),
                "runbook command {cmd:?}: a network other than cdb_network"
            );
            None
        }
        "stats" | "system" | "image" => None,
        other => panic!("runbook command {cmd:?}: docker {other} has no check here"),
    }
}

#[test]
fn runbook_commands_name_real_containers_and_run_against_real_parts() {
    let commands = runbook_commands();
    assert!(
        commands.len() >= 10,
        "the runbooks' commands were not found: {commands:#?}"
    );
    let known = containers();
    let redis = RedisServer::start().unwrap();
    let prom = Prometheus::start(
        "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: prometheus\n    static_configs:\n      - targets: ['{{self}}']\n",
        &[],
    )
    .unwrap();
    let loki = FakeLoki::start();
    let compose = stack_file("docker-compose.observability.yml");
    let cdb_compose = stack_file("docker-compose.cdb.yml");

    let mut checked = Vec::new();
    for cmd in &commands {
        if let Some(rest) = cmd.strip_prefix("docker ") {
            if let Some(name) = container_of(cmd) {
                assert!(
                    known.contains(&name),
                    "runbook command {cmd:?} names container {name:?}, which no compose file creates ({known:?})"
                );
            }
            if let Some(args) = rest.strip_prefix("exec cdb_redis redis-cli ") {
                let args = args.replace("<larger>", "256mb");
                let script = format!("redis-cli -p {} {args}", redis.port());
                let out = Command::new("bash")
                    .args(["-o", "pipefail", "-c", &script])
                    .output()
                    .unwrap();
                let stdout = String::from_utf8_lossy(&out.stdout);
                assert!(
                    out.status.success() && !stdout.trim().is_empty(),
                    "{cmd:?} as {script:?}: {:?}\n{stdout}{}",
                    out.status,
                    String::from_utf8_lossy(&out.stderr)
                );
                checked.push(format!("ran against redis-server: {cmd}"));
            } else {
                checked.push(format!("container checked: {cmd}"));
            }
            continue;
        }
        // curl: the URL is the word that starts with http.
        let url = cmd
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap_or_else(|| panic!("runbook command {cmd:?}: no URL"));
        let rewritten = if let Some(path) = url.strip_prefix("http://localhost:9090") {
            if path == "/-/reload" {
                assert!(
                    compose.contains("--web.enable-lifecycle"),
                    "{cmd:?} needs mcp_prometheus started with --web.enable-lifecycle"
                );
            }
            format!("{}{path}", prom.url())
        } else if let Some(path) = url.strip_prefix("http://localhost:3100") {
            format!("{}{path}", loki.url())
        } else if let Some(rest) = url.strip_prefix("http://cdb_") {
            let (host_port, path) = rest.split_once('/').unwrap();
            let (service, port) = host_port.split_once(':').unwrap();
            assert!(
                cdb_compose.contains(&format!("container_name: cdb_{service}"))
                    && cdb_compose.contains(&format!("PORT: \"{port}\"")),
                "{cmd:?}: cdb_{service}:{port} is not a service of docker-compose.cdb.yml"
            );
            assert_eq!(
                path, "-/healthy",
                "{cmd:?}: only mcp-instrument's /-/healthy is checked for the CDB services"
            );
            checked.push(format!("service and port checked: {cmd}"));
            continue;
        } else {
            panic!("runbook command {cmd:?}: {url} is no port this test knows")
        };
        let script = format!(
            "{} -o /dev/null -w '%{{http_code}}' --max-time 10",
            cmd.replace(url, &rewritten)
        );
        let out = Command::new("bash").args(["-c", &script]).output().unwrap();
        let code = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success() && code.starts_with('2'),
            "{cmd:?} as {script:?}: {:?}, HTTP {code}, {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        checked.push(format!("ran against the real part (HTTP {code}): {cmd}"));
    }
    println!("runbook commands:\n  {}", checked.join("\n  "));
}
