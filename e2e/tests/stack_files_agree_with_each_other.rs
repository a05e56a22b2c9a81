//! The committed files of docker/mcp agree with each other and with the issue's values: every
//! `${VAR}` of both compose files is in .env.example, and every secret file they mount is the one
//! .env.example names, QUICK_START.md creates and deploy.sh checks (one PostgreSQL password, one
//! file, for the stack and the example CDB services); the promtail job finds Promtail by DNS
//! (no down target without its profile); every alert has its labels, annotations, a
//! runbook in the README and promtool tests that both fire and silence it; the dashboards use the
//! provisioned datasource uids; the compose file has the containers, images, profiles, healthchecks
//! and network the README describes. No process is started here.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};

use mcp_e2e::{dashboard_queries, stack_dir, stack_file, yaml};
use serde_json::Value;

/// GitHub's anchor for a Markdown heading: lower case, punctuation other than `-`/`_` removed,
/// spaces to `-`.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == '-' || *c == '_' || *c == ' ')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

fn readme_anchors() -> BTreeSet<String> {
    stack_file("README.md")
        .lines()
        .filter(|l| l.starts_with('#'))
        .map(|l| anchor(l.trim_start_matches('#')))
        .collect()
}

fn rules() -> Vec<Value> {
    let r = yaml(&stack_file("prometheus/alert.rules.yml"));
    r["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["rules"].as_array().unwrap().clone())
        .collect()
}

/// The variables .env.example sets (`KEY=value` lines, comments left out), with their values.
fn env_example() -> BTreeMap<String, String> {
    stack_file(".env.example")
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| {
            l.split_once('=')
                .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        })
        .collect()
}

/// `${VAR}` and `${VAR:-default}` names in a compose file's text.
fn compose_variables(text: &str) -> BTreeSet<String> {
    let re = regex::Regex::new(r"\$\{([A-Za-z_][A-Za-z0-9_]*)").unwrap();
    re.captures_iter(text).map(|c| c[1].to_owned()).collect()
}

#[test]
fn both_compose_files_use_the_documented_variables_and_secret_files() {
    let example = env_example();
    let quick_start = stack_file("QUICK_START.md");
    let deploy = stack_file("deploy.sh");
    let file_of = regex::Regex::new(r"^\$\{([A-Z_]+_FILE):-(\./secrets/[a-z_]+)\}$").unwrap();
    let run_secret = regex::Regex::new(r"/run/secrets/([a-z_]+)").unwrap();
    let mut secrets_by_file: BTreeMap<&str, Value> = BTreeMap::new();
    for file in ["docker-compose.observability.yml", "docker-compose.cdb.yml"] {
        let text = stack_file(file);
        let missing: Vec<String> = compose_variables(&text)
            .into_iter()
            .filter(|v| !example.contains_key(v))
            .collect();
        assert!(
            missing.is_empty(),
            "{file} uses variables .env.example does not set: {missing:?}"
        );
        let c = yaml(&text);
        let secrets = c["secrets"].as_object().unwrap();
        for (name, def) in secrets {
            let expr = def["file"].as_str().unwrap_or("");
            let caps = file_of.captures(expr).unwrap_or_else(|| {
                panic!("{file}: secret {name} is not ${{NAME_FILE:-./secrets/name}}: {expr:?}")
            });
            let (var, default) = (&caps[1], &caps[2]);
            assert_eq!(
                example.get(var).map(String::as_str),
                Some(default),
                "{file}: secret {name}: .env.example sets {var} to its default"
            );
            let path = default.trim_start_matches("./");
            assert!(
                quick_start.contains(&format!("> {path}\n")),
                "{file}: QUICK_START.md creates {path} (secret {name})"
            );
            assert!(
                deploy.contains(&format!("\"{var}:{default}\"")),
                "{file}: deploy.sh pre-flights {var} ({default})"
            );
        }
        // Each service mounts only declared secrets, and reads /run/secrets/<name> of a secret it
        // mounts.
        for (svc, s) in c["services"].as_object().unwrap() {
            let mounted: BTreeSet<String> = s["secrets"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|x| x.as_str().or(x["source"].as_str()).unwrap().to_owned())
                .collect();
            for m in &mounted {
                assert!(
                    secrets.contains_key(m),
                    "{file}: {svc} mounts undeclared {m}"
                );
            }
            let env = s["environment"].to_string();
            for used in run_secret.captures_iter(&env) {
                assert!(
                    mounted.contains(&used[1]),
                    "{file}: {svc} reads /run/secrets/{} without mounting it",
                    &used[1]
                );
            }
        }
        secrets_by_file.insert(file, c["secrets"].clone());
    }
    // The PostgreSQL password: the same secret, file and variable in both files.
    assert_eq!(
        secrets_by_file["docker-compose.cdb.yml"]["postgres_password"],
        secrets_by_file["docker-compose.observability.yml"]["postgres_password"],
        "one PostgreSQL password, one file"
    );
    assert_eq!(
        secrets_by_file["docker-compose.cdb.yml"]
            .as_object()
            .unwrap()
            .len(),
        1,
        "the CDB services need no other secret"
    );
}

#[test]
fn the_promtail_job_finds_promtail_by_dns_only_while_it_runs() {
    let p = yaml(&stack_file("prometheus/prometheus.yml"));
    let job = p["scrape_configs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["job_name"] == "promtail")
        .expect("a promtail job");
    // A static target would be down, and fire ServiceDown, whenever the profile is off.
    assert!(job.get("static_configs").is_none(), "{job}");
    let dns = &job["dns_sd_configs"][0];
    assert_eq!(dns["names"], serde_json::json!(["mcp_promtail"]));
    assert_eq!(dns["type"], "A");
    assert_eq!(dns["port"], 9080);
    let compose = yaml(&stack_file("docker-compose.observability.yml"));
    let promtail = &compose["services"]["promtail"];
    assert_eq!(promtail["container_name"], "mcp_promtail");
    assert_eq!(promtail["profiles"], serde_json::json!(["promtail"]));
    assert_eq!(promtail["ports"], serde_json::json!(["9080:9080"]));
}

#[test]
fn every_compose_variable_is_in_env_example() {
    let compose = stack_file("docker-compose.observability.yml");
    let re = regex::Regex::new(r"\$\{([A-Za-z_][A-Za-z0-9_]*)").unwrap();
    let used: BTreeSet<String> = re
        .captures_iter(&compose)
        .map(|c| c[1].to_owned())
        .collect();
    assert!(
        used.len() >= 8,
        "the compose file uses its variables: {used:?}"
    );
    let example = stack_file(".env.example");
    let defined: BTreeSet<String> = example
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| l.split_once('=').map(|(k, _)| k.trim().to_owned()))
        .collect();
    let missing: Vec<&String> = used.difference(&defined).collect();
    assert!(
        missing.is_empty(),
        "in the compose file but not in .env.example: {missing:?}"
    );
    // The team's names, or their *_FILE variants for Docker secrets.
    for name in [
        "GF_SECURITY_ADMIN_USER",
        "REDIS_ADDR",
        "REDIS_PASSWORD",
        "POSTGRES_USER",
        "POSTGRES_PASSWORD_FILE",
        "POSTGRES_DB",
        "SLACK_WEBHOOK_URL_FILE",
    ] {
        assert!(defined.contains(name), "{name} in .env.example");
    }
    // No secret value in the committed example: secrets are paths of files.
    assert!(
        !example.contains("hooks.slack.com/services/"),
        "no webhook in .env.example"
    );
    let ignore = stack_file(".gitignore");
    assert!(
        ignore.lines().any(|l| l == ".env") && ignore.lines().any(|l| l == "secrets/"),
        ".env and secrets/ git-ignored"
    );
}

#[test]
fn every_alert_is_labelled_annotated_documented_and_unit_tested() {
    let rules = rules();
    let names: BTreeSet<String> = rules
        .iter()
        .map(|r| r["alert"].as_str().unwrap().to_owned())
        .collect();
    for required in [
        "ServiceDown",
        "PrometheusDown",
        "LokiDown",
        "Watchdog",
        "NoAlertsReceived",
        "HighCPU",
        "HighMemory",
        "DiskSpaceLow",
        "RedisDown",
        "RedisBackpressure",
        "HighRedisMemory",
        "PostgreSQLDown",
        "TooManyPostgresConnections",
        "CdbHighErrorRate",
        "CdbHighLatencyP99",
        "LogShippingDropping",
        "LogShippingFailing",
        "PostgreSQLDeadlocks",
        "PostgreSQLExporterCollectorFailing",
    ] {
        assert!(names.contains(required), "alert {required} exists");
    }

    let anchors = readme_anchors();
    let tests = yaml(&stack_file("prometheus/alert.rules.test.yml"));
    // alertname -> (a test where it fires, a test where it does not)
    let mut tested: BTreeMap<String, (bool, bool)> = BTreeMap::new();
    for t in tests["tests"].as_array().unwrap() {
        for a in t["alert_rule_test"].as_array().unwrap() {
            let e = tested
                .entry(a["alertname"].as_str().unwrap().to_owned())
                .or_default();
            let fires = a["exp_alerts"].as_array().is_some_and(|x| !x.is_empty());
            if fires {
                e.0 = true;
            } else {
                e.1 = true;
            }
        }
    }

    let mut problems = Vec::new();
    for r in &rules {
        let name = r["alert"].as_str().unwrap();
        let sev = r["labels"]["severity"].as_str().unwrap_or("");
        let cat = r["labels"]["category"].as_str().unwrap_or("");
        if !["critical", "warning"].contains(&sev) {
            problems.push(format!("{name}: severity {sev:?}"));
        }
        if !["application", "infrastructure", "database", "monitoring"].contains(&cat) {
            problems.push(format!("{name}: category {cat:?}"));
        }
        for key in ["summary", "description", "runbook_url"] {
            if r["annotations"][key].as_str().is_none_or(str::is_empty) {
                problems.push(format!("{name}: no {key}"));
            }
        }
        let url = r["annotations"]["runbook_url"].as_str().unwrap_or("");
        match url.split_once("docker/mcp/README.md#") {
            Some((_, a)) if anchors.contains(a) => {}
            _ => problems.push(format!(
                "{name}: runbook_url {url:?} is not a heading of docker/mcp/README.md"
            )),
        }
        if !url.ends_with(&format!("#{}", name.to_lowercase())) {
            problems.push(format!(
                "{name}: runbook anchor is not #{}",
                name.to_lowercase()
            ));
        }
        match tested.get(name) {
            Some((true, true)) => {}
            // Always firing by design: tested firing, never quiet.
            Some((true, false)) if name == "Watchdog" => {}
            other => problems.push(format!(
                "{name}: promtool tests (fires, quiet) = {other:?}, want both"
            )),
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn dashboards_use_the_provisioned_datasources_and_cover_the_panels() {
    let ds = yaml(&stack_file(
        "grafana/provisioning/datasources/datasources.yml",
    ));
    let uids: BTreeSet<String> = ds["datasources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["uid"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        uids,
        BTreeSet::from(["prometheus".to_owned(), "loki".to_owned()])
    );
    let queries = dashboard_queries();
    for q in &queries {
        assert!(
            uids.contains(&q.datasource),
            "{} / {}: datasource {:?} is not provisioned",
            q.dashboard,
            q.panel,
            q.datasource
        );
        assert!(
            !q.expr.is_empty(),
            "{} / {}: empty query",
            q.dashboard,
            q.panel
        );
    }
    let dir = stack_dir().join("grafana").join("dashboards");
    let mut dash_uids = BTreeSet::new();
    for f in std::fs::read_dir(dir).unwrap() {
        let d: Value =
            serde_json::from_str(&std::fs::read_to_string(f.unwrap().path()).unwrap()).unwrap();
        assert!(dash_uids.insert(d["uid"].as_str().unwrap().to_owned()));
    }
    assert_eq!(
        dash_uids,
        BTreeSet::from(
            ["cdb-overview", "cdb-redis", "cdb-postgres", "cdb-host"].map(str::to_owned)
        )
    );
    // The panels the issue lists, by the metric each one needs.
    let all: String = queries
        .iter()
        .map(|q| format!("{} {}\n", q.dashboard, q.expr))
        .collect();
    for (dash, needle) in [
        ("cdb-overview.json", "up{"),
        ("cdb-overview.json", "http_server_requests_total"),
        ("cdb-overview.json", "status=~\"5..\""),
        ("cdb-overview.json", "histogram_quantile(0.99"),
        ("cdb-overview.json", "process_cpu_seconds_total"),
        ("cdb-overview.json", "process_resident_memory_bytes"),
        ("cdb-overview.json", "{service=~\"$service\"}"),
        ("cdb-overview.json", "{container_name=~\"$service\"}"),
        ("redis.json", "redis_memory_used_bytes"),
        ("redis.json", "redis_connected_clients"),
        ("redis.json", "redis_commands_processed_total"),
        ("redis.json", "redis_keyspace_hits_total"),
        ("redis.json", "redis_evicted_keys_total"),
        ("redis.json", "redis_db_keys"),
        ("postgresql.json", "pg_stat_activity_count"),
        ("postgresql.json", "pg_stat_database_xact_commit"),
        ("postgresql.json", "pg_locks_count"),
        ("postgresql.json", "pg_stat_database_deadlocks"),
        ("postgresql.json", "pg_stat_database_blks_hit"),
        ("postgresql.json", "pg_stat_replication"),
        ("host.json", "node_cpu_seconds_total"),
        ("host.json", "node_memory_MemAvailable_bytes"),
        ("host.json", "node_filesystem_avail_bytes"),
        ("host.json", "node_network_receive_bytes_total"),
        ("host.json", "node_load1"),
    ] {
        assert!(
            all.lines()
                .any(|l| l.starts_with(dash) && l.contains(needle)),
            "{dash} has a panel on {needle}"
        );
    }
}

#[test]
fn compose_file_runs_the_issue_s_containers_images_and_profiles() {
    let c = yaml(&stack_file("docker-compose.observability.yml"));
    let services = c["services"].as_object().unwrap();
    let version = env!("CARGO_PKG_VERSION");
    let want: BTreeMap<&str, (&str, &[&str])> = BTreeMap::from([
        (
            "mcp_prometheus",
            ("prom/prometheus:v2.54.1", &["9090:9090"][..]),
        ),
        (
            "mcp_alertmanager",
            ("prom/alertmanager:v0.27.0", &["9093:9093"][..]),
        ),
        (
            "mcp_grafana",
            ("grafana/grafana:11.3.0", &["3000:3000"][..]),
        ),
        ("mcp_loki", ("grafana/loki:3.2.0", &["3100:3100"][..])),
    ]);
    let mut by_container: BTreeMap<String, &Value> = BTreeMap::new();
    for (name, s) in services {
        let cn = s["container_name"]
            .as_str()
            .unwrap_or_else(|| panic!("{name} has a container_name"));
        assert!(cn.starts_with("mcp_"), "{cn} is mcp_*");
        assert!(
            s["healthcheck"]["test"].is_array(),
            "{name} has a healthcheck"
        );
        assert_eq!(s["restart"], "unless-stopped", "{name} restarts");
        let nets = &s["networks"];
        assert!(
            nets.as_array()
                .is_some_and(|n| n.iter().any(|x| x == "cdb_network"))
                || nets.get("cdb_network").is_some(),
            "{name} is on cdb_network"
        );
        by_container.insert(cn.to_owned(), s);
    }
    for (cn, (image, ports)) in want {
        let s = by_container
            .get(cn)
            .unwrap_or_else(|| panic!("{cn} exists"));
        assert_eq!(s["image"], image, "{cn} image");
        let got: Vec<&str> = s["ports"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p.as_str().unwrap())
            .collect();
        assert_eq!(got, ports, "{cn} ports");
        assert!(s.get("profiles").is_none(), "{cn} always runs");
    }
    // Ours: tagged with the workspace version; the agent and the standalone exporters never in
    // the same profile (they serve the same ports).
    let profile = |cn: &str| -> Vec<String> {
        by_container[cn]["profiles"]
            .as_array()
            .unwrap_or_else(|| panic!("{cn} has a profile"))
            .iter()
            .map(|p| p.as_str().unwrap().to_owned())
            .collect()
    };
    let agent = profile("mcp_agent");
    for (cn, port) in [
        ("mcp_redis_exporter", "9121:9121"),
        ("mcp_postgres_exporter", "9187:9187"),
        ("mcp_host_exporter", "9100:9100"),
    ] {
        let p = profile(cn);
        assert!(
            p.iter().all(|x| !agent.contains(x)),
            "{cn} {p:?} never starts with mcp_agent {agent:?}"
        );
        assert!(
            by_container[cn]["ports"]
                .as_array()
                .unwrap()
                .iter()
                .any(|x| x == port)
        );
    }
    for (cn, s) in &by_container {
        let image = s["image"].as_str().unwrap();
        if image.starts_with("mcp/") {
            assert!(
                image.ends_with(&format!(":{version}")),
                "{cn}: {image} tagged {version}"
            );
        }
    }
    assert_eq!(c["networks"]["cdb_network"]["external"], true);
    let volumes: BTreeSet<&str> = c["volumes"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    for v in ["prometheus_data", "grafana_data", "loki_data"] {
        assert!(volumes.contains(v), "volume {v}");
    }
    // The build context (the workspace root) keeps target/ out.
    let ignore =
        std::fs::read_to_string(mcp_testkit::workspace_root().join(".dockerignore")).unwrap();
    assert!(
        ignore.lines().any(|l| l.trim() == "target/"),
        ".dockerignore has target/"
    );
}
