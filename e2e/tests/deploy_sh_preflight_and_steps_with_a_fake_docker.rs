//! deploy.sh, run for real against a fake `docker` on PATH (there is no Docker engine here): each
//! pre-flight failure (a secret file missing or unreadable by the containers' users included)
//! exits 2 with one line naming the fix and starts nothing; a good setup runs
//! compose config, up -d, the health wait, then `mcp-agent check`, `fire-drill --wait` and
//! `log-drill --service cdb_ws` in that order; the skip flags leave those out. Promtail's access
//! point is printed only when the `promtail` profile runs it (from .env or the environment, as
//! compose reads them), and Promtail next to the agent's own log collection is refused. The
//! commands of QUICK_START.md (from step 2) run as written, in one shell, and end deployed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::fs::PermissionsExt as _;
use std::path::PathBuf;
use std::process::{Command, Output};

use mcp_e2e::stack_dir;

const FAKE_DOCKER: &str = r#"#!/usr/bin/env bash
# A fake docker CLI for deploy.sh's tests: logs each call, answers as a healthy engine would.
echo "$*" >> "$FAKE_DOCKER_LOG"
case "$1" in
  compose)
    case " $* " in
      *" version "*) [ -z "${FAKE_NO_COMPOSE:-}" ] || { echo "docker: 'compose' is not a docker command." >&2; exit 1; }
                     echo "Docker Compose version v2.29.7" ;;
      *" config --quiet "*) [ -z "${FAKE_BAD_CONFIG:-}" ] || { echo "services.x: bad" >&2; exit 15; } ;;
      *" config --format json "*)
        # As compose: the profiles from the environment, else from .env (deploy.sh's directory).
        profiles=${COMPOSE_PROFILES:-$(sed -n 's/^COMPOSE_PROFILES=//p' .env | tail -n 1)}
        promtail=''
        case ",$profiles," in *,promtail,*) promtail=', "promtail": {"container_name": "mcp_promtail"}' ;; esac
        echo "{\"services\": {\"prometheus\": {\"container_name\": \"mcp_prometheus\"}, \"mcp-agent\": {\"container_name\": \"mcp_agent\"}$promtail}}" ;;
    esac ;;
  network) [ -z "${FAKE_NO_NETWORK:-}" ] || { echo "Error: No such network: cdb_network" >&2; exit 1; } ;;
  inspect)
    if [ "$2" = "--format" ]; then echo "${FAKE_HEALTH:-healthy}"; fi ;;
  exec) exit "${FAKE_AGENT_RC:-0}" ;;
esac
exit 0
"#;

struct Setup {
    _tmp: tempfile::TempDir,
    stack: PathBuf,
    bin: PathBuf,
    log: PathBuf,
}

fn setup(with_env: bool, with_secrets: bool) -> Setup {
    let tmp = tempfile::tempdir().unwrap();
    let stack = tmp.path().join("mcp");
    std::fs::create_dir(&stack).unwrap();
    std::fs::create_dir(stack.join("agent")).unwrap();
    for f in [
        "deploy.sh",
        "docker-compose.observability.yml",
        ".env.example",
        "agent/agent.yml",
    ] {
        std::fs::copy(stack_dir().join(f), stack.join(f)).unwrap();
    }
    if with_env {
        std::fs::copy(stack.join(".env.example"), stack.join(".env")).unwrap();
    }
    if with_secrets {
        std::fs::create_dir(stack.join("secrets")).unwrap();
        for s in [
            "slack_webhook_url",
            "grafana_admin_password",
            "postgres_password",
        ] {
            let f = stack.join("secrets").join(s);
            std::fs::write(&f, "x\n").unwrap();
            // As QUICK_START.md has it: readable by the containers' users, whatever the umask.
            std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
        }
    }
    let bin = tmp.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let docker = bin.join("docker");
    std::fs::write(&docker, FAKE_DOCKER).unwrap();
    std::fs::set_permissions(&docker, std::fs::Permissions::from_mode(0o755)).unwrap();
    let log = tmp.path().join("docker.log");
    std::fs::write(&log, "").unwrap();
    Setup {
        _tmp: tmp,
        stack,
        bin,
        log,
    }
}

fn run(s: &Setup, args: &[&str], env: &[(&str, &str)]) -> (Output, Vec<String>) {
    let out = Command::new("bash")
        .arg(s.stack.join("deploy.sh"))
        .args(args)
        .env_clear()
        .env("PATH", format!("{}:/usr/bin:/bin", s.bin.display()))
        .env("FAKE_DOCKER_LOG", &s.log)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    let calls = std::fs::read_to_string(&s.log)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    (out, calls)
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn assert_preflight_failure(o: &Output, calls: &[String], needle: &str) {
    assert_eq!(o.status.code(), Some(2), "exit 2: {}", stderr(o));
    let err = stderr(o);
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    assert!(err.contains(needle), "{needle:?} in {err:?}");
    assert!(
        !calls.iter().any(|c| c.contains(" up ")),
        "nothing started: {calls:?}"
    );
}

#[test]
fn missing_env_file_fails_before_anything_starts() {
    let s = setup(false, true);
    let (o, calls) = run(&s, &[], &[]);
    assert_preflight_failure(&o, &calls, "cp .env.example .env");
}

#[test]
fn missing_secret_file_is_named() {
    let s = setup(true, false);
    let (o, calls) = run(&s, &[], &[]);
    assert_preflight_failure(&o, &calls, "./secrets/slack_webhook_url");
}

#[test]
fn a_secret_file_the_containers_cannot_read_is_named() {
    let s = setup(true, true);
    let f = s.stack.join("secrets/postgres_password");
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600)).unwrap();
    let (o, calls) = run(&s, &[], &[]);
    assert_preflight_failure(&o, &calls, "chmod 644 ./secrets/postgres_password");
}

#[test]
fn missing_compose_plugin_and_network_are_told_apart() {
    let s = setup(true, true);
    let (o, calls) = run(&s, &[], &[("FAKE_NO_COMPOSE", "1")]);
    assert_preflight_failure(&o, &calls, "compose plugin");
    let (o, calls) = run(&s, &[], &[("FAKE_NO_NETWORK", "1")]);
    assert_preflight_failure(&o, &calls, "docker network create cdb_network");
}

#[test]
fn both_exporter_profiles_at_once_are_refused() {
    let s = setup(true, true);
    let env = std::fs::read_to_string(s.stack.join(".env")).unwrap();
    std::fs::write(
        s.stack.join(".env"),
        env.replace(
            "COMPOSE_PROFILES=agent",
            "COMPOSE_PROFILES=agent,standalone",
        ),
    )
    .unwrap();
    let (o, calls) = run(&s, &[], &[]);
    assert_preflight_failure(&o, &calls, "both agent and standalone");
}

fn set_profiles(s: &Setup, profiles: &str) {
    let env = std::fs::read_to_string(s.stack.join(".env")).unwrap();
    assert!(env.contains("COMPOSE_PROFILES=agent\n"), "{env}");
    std::fs::write(
        s.stack.join(".env"),
        env.replace(
            "COMPOSE_PROFILES=agent\n",
            &format!("COMPOSE_PROFILES={profiles}\n"),
        ),
    )
    .unwrap();
}

#[test]
fn promtail_next_to_the_agent_s_log_collection_is_refused() {
    let s = setup(true, true);
    set_profiles(&s, "agent,promtail");
    let (o, calls) = run(&s, &[], &[]);
    assert_preflight_failure(&o, &calls, "logs: in agent/agent.yml");
    // The profile given in the environment counts as compose counts it, over .env.
    let s = setup(true, true);
    let (o, calls) = run(&s, &[], &[("COMPOSE_PROFILES", "agent,promtail")]);
    assert_preflight_failure(&o, &calls, "logs: in agent/agent.yml");
}

#[test]
fn promtail_s_access_point_is_printed_only_when_its_profile_runs() {
    let s = setup(true, true);
    let (o, _) = run(&s, &["--skip-check", "--skip-drills"], &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        !stdout.contains("Promtail") && !stdout.contains(":9080"),
        "no Promtail without its profile:\n{stdout}"
    );
    // The agent without its logs section, and Promtail collecting: the access point is there.
    let agent_yml = s.stack.join("agent/agent.yml");
    let committed = std::fs::read_to_string(&agent_yml).unwrap();
    let without_logs = committed.split("\nlogs:").next().unwrap().to_owned();
    assert_ne!(without_logs, committed, "agent.yml has a logs: section");
    std::fs::write(&agent_yml, without_logs).unwrap();
    for (dotenv, environment) in [("agent,promtail", None), ("agent", Some("agent,promtail"))] {
        set_profiles(&s, dotenv);
        let env: Vec<(&str, &str)> = environment
            .map(|p| ("COMPOSE_PROFILES", p))
            .into_iter()
            .collect();
        let (o, _) = run(&s, &["--skip-check", "--skip-drills"], &env);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        let stdout = String::from_utf8_lossy(&o.stdout);
        assert!(
            stdout.contains("Promtail       http://localhost:9080"),
            "Promtail with its profile (.env {dotenv}, environment {environment:?}):\n{stdout}"
        );
        assert!(
            stdout.contains("3/3 healthy"),
            "mcp_promtail awaited:\n{stdout}"
        );
        std::fs::copy(s.stack.join(".env.example"), s.stack.join(".env")).unwrap();
    }
}

#[test]
fn bad_usage_and_bad_compose_config_have_their_exit_codes() {
    let s = setup(true, true);
    let (o, _) = run(&s, &["--frobnicate"], &[]);
    assert_eq!(o.status.code(), Some(64), "{}", stderr(&o));
    let (o, _) = run(&s, &["--timeout", "soon"], &[]);
    assert_eq!(o.status.code(), Some(64), "{}", stderr(&o));
    let (o, calls) = run(&s, &[], &[("FAKE_BAD_CONFIG", "1")]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(stderr(&o).contains("services.x: bad"), "{}", stderr(&o));
    assert!(!calls.iter().any(|c| c.contains(" up ")), "{calls:?}");
}

#[test]
fn good_setup_runs_config_up_health_check_and_drills_in_order() {
    let s = setup(true, true);
    let (o, calls) = run(&s, &[], &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let pos = |needle: &str| -> usize {
        calls
            .iter()
            .position(|c| c.contains(needle))
            .unwrap_or_else(|| panic!("{needle:?} in {calls:#?}"))
    };
    let steps = [
        pos("compose version"),
        pos("network inspect cdb_network"),
        pos("config --quiet"),
        pos("up -d --build"),
        pos("inspect --format"),
        pos("exec mcp_agent mcp-agent check"),
        pos("exec mcp_agent mcp-agent fire-drill"),
        pos("exec mcp_agent mcp-agent log-drill"),
    ];
    assert!(steps.windows(2).all(|w| w[0] < w[1]), "order: {calls:#?}");
    assert!(calls[steps[6]].ends_with("--wait"), "{}", calls[steps[6]]);
    assert!(
        calls[steps[7]].ends_with("--service cdb_ws"),
        "{}",
        calls[steps[7]]
    );
    assert!(
        calls[steps[5]].contains("--prometheus-url http://mcp_prometheus:9090"),
        "the agent in its container reaches the stack by name: {}",
        calls[steps[5]]
    );
    let stdout = String::from_utf8_lossy(&o.stdout);
    for url in [
        "http://localhost:3000",
        "http://localhost:9090",
        "http://localhost:9093",
        "http://localhost:3100",
    ] {
        assert!(stdout.contains(url), "{url} in the summary:\n{stdout}");
    }
    assert!(stdout.contains("2/2 healthy"), "progress line:\n{stdout}");
}

#[test]
fn skip_flags_leave_out_the_check_and_the_drills() {
    let s = setup(true, true);
    let (o, calls) = run(&s, &["--skip-drills"], &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(calls.iter().any(|c| c.contains("mcp-agent check")));
    assert!(!calls.iter().any(|c| c.contains("drill")), "{calls:?}");
    std::fs::write(&s.log, "").unwrap();
    let (o, calls) = run(&s, &["--skip-check", "--skip-drills", "--no-build"], &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(!calls.iter().any(|c| c.contains("mcp-agent")), "{calls:?}");
    assert!(calls.iter().any(|c| c.ends_with("up -d")), "{calls:?}");
}

#[test]
fn a_failed_check_or_unhealthy_container_has_its_exit_code() {
    let s = setup(true, true);
    let (o, _) = run(&s, &[], &[("FAKE_AGENT_RC", "1")]);
    assert_eq!(o.status.code(), Some(5), "{}", stderr(&o));
    let (o, _) = run(&s, &["--timeout", "0"], &[("FAKE_HEALTH", "starting")]);
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("mcp_prometheus:starting"),
        "{}",
        stderr(&o)
    );
}

/// The `sh` blocks of QUICK_START.md, in order, without the clone (the test copies the files
/// instead) and with the block's indentation removed.
fn quick_start_blocks() -> Vec<String> {
    let text = std::fs::read_to_string(stack_dir().join("QUICK_START.md")).unwrap();
    let mut blocks = Vec::new();
    let mut current: Option<Vec<&str>> = None;
    for line in text.lines() {
        let trimmed = line.trim_start();
        match (&mut current, trimmed) {
            (None, "```sh") => current = Some(Vec::new()),
            (Some(_), "```") => blocks.push(current.take().unwrap().join("\n")),
            (Some(lines), _) => lines.push(trimmed),
            (None, _) => {}
        }
    }
    assert!(
        current.is_none(),
        "QUICK_START.md: an sh block is not closed"
    );
    blocks
        .into_iter()
        .filter(|b| !b.contains("git clone"))
        .collect()
}

#[test]
fn quick_start_commands_run_as_written_against_the_fake_docker() {
    let s = setup(false, false);
    std::fs::copy(
        stack_dir().join("docker-compose.cdb.yml"),
        s.stack.join("docker-compose.cdb.yml"),
    )
    .unwrap();
    let blocks = quick_start_blocks();
    assert!(
        blocks.len() >= 5,
        "network, settings, secrets, example services, deploy: {blocks:#?}"
    );
    assert!(
        blocks.last().unwrap().trim() == "./deploy.sh",
        "the last step deploys: {blocks:#?}"
    );
    // Every block as an operator pastes it, in one shell (what one step creates the next uses);
    // the editor of step 3 leaves .env as copied.
    let script = format!("set -euo pipefail\n{}\n", blocks.join("\n"));
    let out = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .current_dir(&s.stack)
        .env_clear()
        .env("PATH", format!("{}:/usr/bin:/bin", s.bin.display()))
        .env("FAKE_DOCKER_LOG", &s.log)
        .env("EDITOR", "true")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "QUICK_START.md's commands:\n{script}\nstdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        stderr(&out)
    );
    let calls = std::fs::read_to_string(&s.log).unwrap();
    for step in [
        "network create cdb_network",
        "compose -f docker-compose.cdb.yml up -d --build",
        "exec mcp_agent mcp-agent check",
        "exec mcp_agent mcp-agent log-drill",
    ] {
        assert!(
            calls.contains(step),
            "{step:?} in the docker calls:\n{calls}"
        );
    }
    for secret in [
        "slack_webhook_url",
        "grafana_admin_password",
        "postgres_password",
    ] {
        let meta = std::fs::metadata(s.stack.join("secrets").join(secret)).unwrap();
        assert!(meta.len() > 0, "secrets/{secret} is written");
    }
}
