//! The password never appears in logs (debug level), errors, metrics, the landing page or `/probe`
//! answers, for every DSN form: URI, URI query parameter, key=value, `DATA_SOURCE_URI/USER/PASS`,
//! their `_FILE` forms, auth modules — with a server that checks the password, one that rejects
//! it, and one that is not there.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;

const PASSWORD: &str = "Sup3r-S3cret!pw";
const ENCODED: &str = "Sup3r-S3cret%21pw";

fn assert_clean(what: &str, text: &str) {
    assert!(
        !text.contains(PASSWORD),
        "{what} leaks the password:\n{text}"
    );
    assert!(
        !text.contains(ENCODED),
        "{what} leaks the encoded password:\n{text}"
    );
    assert!(
        !text.contains("Sup3r"),
        "{what} leaks part of the password:\n{text}"
    );
}

/// Runs the exporter with `envs`, scrapes everything, and checks every output. `expect_up`
/// false is a failure for `reason` (`postgres_exporter_last_scrape_error_reason`) on both
/// scrapes: the second comes within the reconnect backoff and repeats the attempt's reason.
fn check(name: &str, envs: &[(&str, &str)], args: &[&str], expect_up: bool, reason: &str) {
    let mut all_args = vec!["--log.level=debug"];
    all_args.extend_from_slice(args);
    let exporter = Exporter::start(envs, &all_args);
    let mut outputs = Vec::new();
    let series = format!("postgres_exporter_last_scrape_error_reason{{reason=\"{reason}\"}}");
    for _ in 0..2 {
        let text = exporter.metrics();
        assert_eq!(
            sample(&text, "pg_up"),
            Some(if expect_up { 1.0 } else { 0.0 }),
            "{name}: {text}\n{}",
            exporter.logs()
        );
        assert_eq!(
            sample(&text, &series),
            Some(if expect_up { 0.0 } else { 1.0 }),
            "{name}: want {series} in\n{text}"
        );
        outputs.push(text);
    }
    outputs.push(exporter.get("/").1);
    outputs.push(exporter.get("/probe").1);
    let logs = exporter.logs();
    drop(exporter);
    for o in &outputs {
        assert_clean(name, o);
    }
    assert_clean(&format!("{name} logs"), &logs);
}

#[test]
fn no_dsn_form_ever_shows_the_password() {
    let pg = PgCluster::start_with("password_encryption = 'scram-sha-256'\n", true);
    pg.psql(
        "postgres",
        &format!("CREATE ROLE monitor LOGIN PASSWORD '{PASSWORD}' IN ROLE pg_monitor"),
    );
    let port = pg.port.to_string();
    let uri = format!("postgresql://monitor:{ENCODED}@127.0.0.1:{port}/postgres?sslmode=disable");
    let query = format!(
        "postgresql://monitor@127.0.0.1:{port}/postgres?sslmode=disable&password={ENCODED}"
    );
    let kv = format!(
        "host=127.0.0.1 port={port} user=monitor password='{PASSWORD}' dbname=postgres sslmode=disable"
    );
    let wrong =
        format!("postgresql://monitor:{ENCODED}x@127.0.0.1:{port}/postgres?sslmode=disable");
    let dead = format!("host=127.0.0.1 port=1 user=monitor password={PASSWORD} sslmode=disable");

    check("uri", &[("DATA_SOURCE_NAME", &uri)], &[], true, "");
    check("query", &[("DATA_SOURCE_NAME", &query)], &[], true, "");
    check("key=value", &[("DATA_SOURCE_NAME", &kv)], &[], true, "");
    // The cluster checks passwords (scram for every role but postgres over TCP).
    check(
        "wrong password",
        &[("DATA_SOURCE_NAME", &wrong)],
        &[],
        false,
        "authentication failed",
    );
    check(
        "dead server",
        &[("DATA_SOURCE_NAME", &dead)],
        &[],
        false,
        "connection refused",
    );
    let uri_only = format!("127.0.0.1:{port}/postgres?sslmode=disable");
    check(
        "DATA_SOURCE_URI/USER/PASS",
        &[
            ("DATA_SOURCE_URI", &uri_only),
            ("DATA_SOURCE_USER", "monitor"),
            ("DATA_SOURCE_PASS", PASSWORD),
        ],
        &[],
        true,
        "",
    );
    let dir = tempfile::tempdir().unwrap();
    let (u, p, h) = (
        dir.path().join("user"),
        dir.path().join("pass"),
        dir.path().join("uri"),
    );
    std::fs::write(&u, "monitor\n").unwrap();
    std::fs::write(&p, format!("{PASSWORD}\n")).unwrap();
    std::fs::write(&h, format!("{uri_only}\n")).unwrap();
    check(
        "_FILE forms",
        &[
            ("DATA_SOURCE_URI_FILE", h.to_str().unwrap()),
            ("DATA_SOURCE_USER_FILE", u.to_str().unwrap()),
            ("DATA_SOURCE_PASS_FILE", p.to_str().unwrap()),
        ],
        &[],
        true,
        "",
    );

    // Auth modules and targets with passwords through /probe.
    let modules = dir.path().join("pe.yml");
    std::fs::write(
        &modules,
        format!(
            "auth_modules:\n  mon:\n    type: userpass\n    userpass:\n      username: monitor\n      password: '{PASSWORD}'\n    options:\n      sslmode: disable\n"
        ),
    )
    .unwrap();
    let exporter = Exporter::start(
        &[("DATA_SOURCE_NAME", &uri)],
        &[
            "--log.level=debug",
            &format!("--config.file={}", modules.display()),
        ],
    );
    let (code, body) = exporter.get(&format!(
        "/probe?target=127.0.0.1:{port}/postgres&auth_module=mon"
    ));
    assert_eq!(code, 200);
    assert!(body.contains("pg_up 1\n"), "{body}\n{}", exporter.logs());
    assert_clean("probe with auth module", &body);
    let (_, body) = exporter.get(&format!(
        "/probe?target=postgresql%3A%2F%2Fmonitor%3A{ENCODED}x%40127.0.0.1%3A{port}%2Fpostgres%3Fsslmode%3Ddisable"
    ));
    assert!(body.contains("pg_up 0\n"), "{body}");
    assert!(
        body.contains(
            "postgres_exporter_last_scrape_error_reason{reason=\"authentication failed\"} 1\n"
        ),
        "{body}"
    );
    assert_clean("probe with a wrong password in the target", &body);
    let (_, body) = exporter.get(&format!(
        "/probe?target=postgresql%3A%2F%2Fmonitor%3A{ENCODED}%40127.0.0.1%3Anotaport%2Fpostgres"
    ));
    assert_clean("probe with a malformed target", &body);
    let logs = exporter.logs();
    drop(exporter);
    assert_clean("probe logs", &logs);
}
