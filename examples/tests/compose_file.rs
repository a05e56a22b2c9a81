//! docker/mcp/docker-compose.cdb.yml (no Docker engine here, so checked statically): valid
//! against the Compose Specification schema committed in the repository, the four services
//! named and labelled as CONTRACTS.md and the stack's log collectors (mcp-agent, Promtail) expect,
//! on the external network cdb_network, no secret in the environment, the PostgreSQL password
//! from the stack's one secret `postgres_password`, and every binary it runs built by
//! Dockerfile.examples. That its variables and secret file are the ones .env.example and
//! QUICK_START.md document is checked with the stack's other files, in
//! e2e/tests/stack_files_agree_with_each_other.rs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

fn root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The compose file as JSON (anchors and merge keys resolved), after schema validation.
fn compose() -> serde_json::Value {
    let script = r#"
import json, sys, yaml, jsonschema
doc = yaml.safe_load(open(sys.argv[1]))
jsonschema.validate(doc, json.load(open(sys.argv[2])))
print(json.dumps(doc))
"#;
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(root().join("docker/mcp/docker-compose.cdb.yml"))
        .arg(root().join("docker/schemas/compose-spec.json"))
        .output()
        .expect("python3 (with PyYAML and jsonschema; scripts/test installs them)");
    assert!(
        out.status.success(),
        "compose check failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// `${VAR:-default}` replaced by its default, as compose resolves it when VAR is unset.
fn defaults(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find('}').expect("closing brace") + start;
        let inner = &rest[start + 2..end];
        out.push_str(inner.split_once(":-").map_or("", |(_, d)| d));
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

#[test]
fn the_cdb_compose_file_is_valid_and_runs_the_four_services_as_contracted() {
    let c = compose();
    assert_eq!(c["networks"]["cdb_network"]["external"], true);
    let dockerfile =
        std::fs::read_to_string(root().join("docker/mcp/Dockerfile.examples")).unwrap();
    for (name, port) in [
        ("cdb_core", 8000),
        ("cdb_risk", 8001),
        ("cdb_execution", 8002),
        ("cdb_ws", 8003),
    ] {
        let s = &c["services"][name];
        assert_eq!(s["container_name"], name);
        assert_eq!(s["labels"]["logging"], "mcp-instrument", "{name}");
        assert_eq!(s["networks"], serde_json::json!(["cdb_network"]), "{name}");
        assert_eq!(s["command"], serde_json::json!([name]));
        assert_eq!(s["build"]["dockerfile"], "docker/mcp/Dockerfile.examples");
        let env = &s["environment"];
        assert_eq!(env["PORT"], port.to_string());
        assert_eq!(s["ports"], serde_json::json!([format!("{port}:{port}")]));
        assert_eq!(env["REDIS_ADDR"], "redis://redis:6379");
        assert_eq!(env["RISK_URL"], "http://cdb_risk:8001");
        assert_eq!(
            env["DATABASE_PASSWORD_FILE"],
            "/run/secrets/postgres_password"
        );
        assert_eq!(
            s["secrets"],
            serde_json::json!(["postgres_password"]),
            "{name}"
        );
        let dsn = defaults(env["DATABASE_URL"].as_str().unwrap());
        assert_eq!(dsn, "postgres://postgres@postgres:5432/cdb?sslmode=disable");
        let userinfo = dsn.split('@').next().unwrap();
        assert!(
            !userinfo["postgres://".len()..].contains(':'),
            "password in {dsn}"
        );
        assert!(
            dockerfile.contains(&format!("--bin {name}")),
            "Dockerfile.examples does not build {name}"
        );
    }
    for (service, container) in [("redis", "cdb_redis"), ("postgres", "cdb_postgres")] {
        let s = &c["services"][service];
        assert_eq!(s["container_name"], container);
        assert_eq!(s["networks"], serde_json::json!(["cdb_network"]));
        // Their output is not pushed by mcp-instrument: the log collector must keep it.
        assert!(s["labels"].is_null(), "{service}");
    }
    let pg = &c["services"]["postgres"];
    assert_eq!(
        pg["environment"]["POSTGRES_PASSWORD_FILE"],
        "/run/secrets/postgres_password"
    );
    assert_eq!(pg["secrets"], serde_json::json!(["postgres_password"]));
    assert_eq!(
        c["secrets"],
        serde_json::json!({"postgres_password": {"file": "${POSTGRES_PASSWORD_FILE:-./secrets/postgres_password}"}}),
        "one secret, the observability stack's"
    );
    assert_eq!(c["services"]["cdb_load"]["entrypoint"][0], "cdb_load");
    assert!(dockerfile.contains("--bin cdb_load"));
}
