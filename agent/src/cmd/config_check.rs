//! `mcp-agent config check FILE`: validates the agent's config file without serving anything.
//! Every problem is one message with its key path (`redis.settings.redis_adr: unknown key`), all
//! of them at once, not only the first serde stops at.

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;

use serde_json::Value;

use crate::config::{AgentConfig, Section};

const SECTIONS: [(&str, u16); 3] = [("host", 9100), ("redis", 9121), ("postgres", 9187)];
const SECTION_KEYS: [&str; 6] = [
    "enabled",
    "listen_address",
    "telemetry_path",
    "web_config_file",
    "max_scrape_timeout",
    "settings",
];

/// The problems of the file at `path`; empty when it is valid.
pub fn check_file(path: &Path) -> Vec<String> {
    match std::fs::read_to_string(path) {
        Ok(text) => check_text(&text),
        Err(e) => vec![format!("{}: cannot read: {e}", path.display())],
    }
}

/// The problems of config text; empty when it is valid.
pub fn check_text(text: &str) -> Vec<String> {
    match AgentConfig::from_yaml(text) {
        Ok(config) => check_config(&config),
        Err(reason) => {
            let structural = structural(text);
            if structural.is_empty() {
                vec![reason]
            } else {
                structural
            }
        }
    }
}

/// Unknown keys and per-key type errors at every level, found by walking the YAML as a tree
/// (serde stops at the first).
fn structural(text: &str) -> Vec<String> {
    let tree: Value = match mcp_exporter_core::yaml::from_str(text) {
        Ok(v) => v,
        Err(reason) => return vec![reason],
    };
    let Some(top) = tree.as_object() else {
        return vec!["(top level): expected a mapping of sections (host, redis, postgres)".into()];
    };
    let mut problems = Vec::new();
    for (key, value) in top {
        if key == "logs" {
            // The tailer follows rotation by device and inode, which only Unix hosts give.
            if cfg!(not(unix)) {
                problems.push(
                    "logs: log collection runs on Unix hosts only (Linux, macOS); remove the section here".into(),
                );
                continue;
            }
            // serde_path_to_error keeps the key path inside the section
            // (`logs.docker.parse.format: ...`, `logs.files[1].labels: ...`), which serde's own
            // message for a nested struct does not name.
            if let Err(e) =
                serde_path_to_error::deserialize::<_, crate::logs::LogsConfig>(value.clone())
            {
                let inner = e.path().to_string();
                let path = if inner.is_empty() || inner == "." {
                    "logs".to_owned()
                } else {
                    format!("logs.{inner}")
                };
                problems.push(format!("{path}: {}", short(&e.into_inner().to_string())));
            }
            continue;
        }
        if !SECTIONS.iter().any(|(s, _)| s == key) {
            problems.push(format!(
                "{key}: unknown key (known: host, redis, postgres, logs)"
            ));
            continue;
        }
        let Some(section) = value.as_object() else {
            if !value.is_null() {
                problems.push(format!("{key}: expected a mapping"));
            }
            continue;
        };
        for (k, v) in section {
            let path = format!("{key}.{k}");
            if !SECTION_KEYS.contains(&k.as_str()) {
                problems.push(format!(
                    "{path}: unknown key (known: {})",
                    SECTION_KEYS.join(", ")
                ));
                continue;
            }
            if k == "settings" {
                if let Some(settings) = v.as_object() {
                    for (sk, sv) in settings {
                        let single =
                            Value::Object([(sk.clone(), sv.clone())].into_iter().collect());
                        if let Err(reason) = settings_of(key, single) {
                            problems.push(format!("{path}.{sk}: {}", short(&reason)));
                        }
                    }
                } else if !v.is_null() {
                    problems.push(format!("{path}: expected a mapping"));
                }
            } else {
                let single = Value::Object([(k.clone(), v.clone())].into_iter().collect());
                if let Err(e) = serde_json::from_value::<Section<Value>>(single) {
                    problems.push(format!("{path}: {}", short(&e.to_string())));
                }
            }
        }
    }
    problems
}

fn short(reason: &str) -> String {
    if reason.starts_with("unknown field") {
        let field_end = reason.find(", expected").unwrap_or(reason.len());
        format!("unknown key ({})", &reason[..field_end])
    } else {
        mcp_exporter_core::cli::one_line(reason)
    }
}

fn settings_of(section: &str, v: Value) -> Result<(), String> {
    let r = match section {
        "host" => serde_json::from_value::<mcp_host_exporter::Config>(v).map(drop),
        "redis" => serde_json::from_value::<mcp_redis_exporter::Config>(v).map(drop),
        _ => serde_json::from_value::<mcp_postgres_exporter::Config>(v).map(drop),
    };
    r.map_err(|e| e.to_string())
}

/// The problems of a parsed config (addresses, durations, the exporters' own validation, ports
/// that clash); empty when it is valid. `mcp-agent run` calls this too before binding anything,
/// so a port listed twice is the same one-line config error there as here.
pub fn check_config(config: &AgentConfig) -> Vec<String> {
    let mut problems: Vec<String> = config
        .logs
        .iter()
        .flat_map(|l| l.problems())
        .map(|p| p.to_string())
        .collect();
    let mut listens: Vec<(SocketAddr, String)> = Vec::new();
    let mut web = |name: &str,
                   default_port: u16,
                   enabled: Option<bool>,
                   listen: &[String],
                   timeout: Option<&str>,
                   problems: &mut Vec<String>| {
        if enabled == Some(false) {
            return;
        }
        if let Some(t) = timeout
            && let Err(reason) = mcp_exporter_core::web::parse_duration(t)
        {
            problems.push(format!("{name}.max_scrape_timeout: {reason}"));
        }
        if listen.is_empty() {
            // The classic `:PORT`: every address.
            listens.push((
                SocketAddr::from(([0, 0, 0, 0], default_port)),
                format!("{name} (default :{default_port})"),
            ));
        }
        for (i, address) in listen.iter().enumerate() {
            let key = format!("{name}.listen_address[{i}]");
            match mcp_exporter_core::web::resolve_listen_address(address) {
                Ok(addrs) => {
                    listens.extend(addrs.into_iter().map(|a| (a, key.clone())));
                }
                Err(e) => problems.push(format!(
                    "{key}: {}",
                    mcp_exporter_core::cli::one_line(&e.to_string())
                )),
            }
        }
    };
    macro_rules! section {
        ($field:ident, $name:literal, $port:expr) => {
            match &config.$field {
                Some(s) => {
                    web(
                        $name,
                        $port,
                        Some(s.enabled),
                        &s.listen_address,
                        Some(&s.max_scrape_timeout),
                        &mut problems,
                    );
                    if s.enabled
                        && let Some(settings) = &s.settings
                        && let Err(e) = settings.clone().validate()
                    {
                        problems.push(format!(
                            "{}.settings: {}",
                            $name,
                            mcp_exporter_core::cli::one_line(&e.to_string())
                        ));
                    }
                    if s.enabled && !s.telemetry_path.starts_with('/') {
                        problems.push(format!("{}.telemetry_path: must start with /", $name));
                    }
                    if s.enabled
                        && let Some(f) = &s.web_config_file
                        && !f.is_file()
                    {
                        problems.push(format!(
                            "{}.web_config_file: {} does not exist",
                            $name,
                            f.display()
                        ));
                    }
                }
                None => web($name, $port, None, &[], None, &mut problems),
            }
        };
    }
    section!(host, "host", 9100);
    section!(redis, "redis", 9121);
    section!(postgres, "postgres", 9187);
    problems.extend(clashes(&listens));
    problems
}

/// Two listen addresses clash when one bind would fail because of the other: the same port and
/// the same IP, or either on the unspecified address (`0.0.0.0` / `[::]` take the port on every
/// address). `127.0.0.1:X` and `127.0.0.2:X` do not clash. One message per pair of keys.
fn clashes(listens: &[(SocketAddr, String)]) -> Vec<String> {
    let mut pairs: BTreeSet<(u16, &str, &str)> = BTreeSet::new();
    for (i, (a, ka)) in listens.iter().enumerate() {
        for (b, kb) in &listens[i + 1..] {
            // Port 0 is a fresh port per bind: never a clash.
            if ka != kb && a.port() != 0 && a.port() == b.port() && ips_overlap(a.ip(), b.ip()) {
                pairs.insert((a.port(), ka, kb));
            }
        }
    }
    pairs
        .into_iter()
        .map(|(port, ka, kb)| format!("port {port} is used by both {ka} and {kb}"))
        .collect()
}

fn ips_overlap(a: IpAddr, b: IpAddr) -> bool {
    a == b || a.is_unspecified() || b.is_unspecified()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_problem_is_one_message_with_its_key_path() {
        let p = check_text(
            "host:\n  listen_adress: [\":1\"]\nredis:\n  settings:\n    redis_adr: x\n    check_keys: 5\nfoo: 1\n",
        );
        assert!(
            p.iter()
                .any(|m| m.starts_with("host.listen_adress: unknown key")),
            "{p:?}"
        );
        assert!(
            p.iter()
                .any(|m| m.starts_with("redis.settings.redis_adr: unknown key")),
            "{p:?}"
        );
        assert!(p.iter().any(|m| m.starts_with("foo: unknown key")), "{p:?}");
        // A known key with the wrong type is named too (check_keys is a pattern string).
        assert!(
            p.iter()
                .any(|m| m.starts_with("redis.settings.check_keys: invalid type")),
            "{p:?}"
        );
        assert_eq!(p.len(), 4, "{p:?}");
    }

    #[test]
    fn duplicate_ports_name_both_keys_and_bad_addresses_their_index() {
        let p = check_text(
            "host:\n  listen_address: [\"127.0.0.1:9500\"]\nredis:\n  listen_address: [\"127.0.0.1:9500\", \"nonsense:port\"]\n  max_scrape_timeout: soon\npostgres:\n  enabled: false\n",
        );
        assert!(
            p.iter().any(|m| m
                == "port 9500 is used by both host.listen_address[0] and redis.listen_address[0]"),
            "{p:?}"
        );
        assert!(
            p.iter().any(|m| m.starts_with("redis.listen_address[1]: ")),
            "{p:?}"
        );
        assert!(
            p.iter()
                .any(|m| m.starts_with("redis.max_scrape_timeout: ")),
            "{p:?}"
        );
        assert!(check_text("postgres:\n  enabled: false\n").is_empty());
        assert!(check_text("").is_empty());
    }

    fn listens(entries: &[(&str, &str)]) -> Vec<(SocketAddr, String)> {
        entries
            .iter()
            .map(|(a, k)| (a.parse().unwrap(), (*k).to_owned()))
            .collect()
    }

    #[test]
    fn ports_clash_only_on_the_same_ip_or_an_unspecified_one() {
        // Same port on two loopback addresses: both binds succeed.
        assert!(
            clashes(&listens(&[
                ("127.0.0.1:9500", "a"),
                ("127.0.0.2:9500", "b")
            ]))
            .is_empty()
        );
        assert!(clashes(&listens(&[("127.0.0.1:9500", "a"), ("[::1]:9500", "b")])).is_empty());
        // Different ports never clash; port 0 is a fresh port each time.
        assert!(
            clashes(&listens(&[
                ("127.0.0.1:9500", "a"),
                ("127.0.0.1:9501", "b")
            ]))
            .is_empty()
        );
        assert!(clashes(&listens(&[("127.0.0.1:0", "a"), ("127.0.0.1:0", "b")])).is_empty());
        // One key resolving to the same address twice is not a clash with itself.
        assert!(
            clashes(&listens(&[
                ("127.0.0.1:9500", "a"),
                ("127.0.0.1:9500", "a")
            ]))
            .is_empty()
        );
        assert_eq!(
            clashes(&listens(&[
                ("127.0.0.1:9500", "a"),
                ("127.0.0.1:9500", "b")
            ])),
            ["port 9500 is used by both a and b"]
        );
        for any in ["0.0.0.0:9500", "[::]:9500"] {
            assert_eq!(
                clashes(&listens(&[("127.0.0.2:9500", "a"), (any, "b")])),
                ["port 9500 is used by both a and b"],
                "{any}"
            );
        }
        assert_eq!(
            clashes(&listens(&[("0.0.0.0:9500", "a"), ("[::]:9500", "b")])).len(),
            1
        );
        // Through the whole check: distinct loopback IPs are valid, `:PORT` takes every IP.
        assert!(
            check_text(
                "host:\n  listen_address: [\"127.0.0.1:9500\"]\nredis:\n  listen_address: [\"127.0.0.2:9500\"]\npostgres:\n  enabled: false\n"
            )
            .is_empty()
        );
        assert_eq!(
            check_text(
                "host:\n  listen_address: [\"127.0.0.1:9500\"]\nredis:\n  listen_address: [\":9500\"]\npostgres:\n  enabled: false\n"
            ),
            ["port 9500 is used by both host.listen_address[0] and redis.listen_address[0]"]
        );
        assert_eq!(
            check_text(
                "host:\n  listen_address: [\"127.0.0.1:9121\"]\npostgres:\n  enabled: false\n"
            ),
            ["port 9121 is used by both host.listen_address[0] and redis (default :9121)"]
        );
    }

    #[test]
    fn errors_inside_logs_name_their_key_path() {
        let p = check_text(
            "logs:\n  loki_url: http://127.0.0.1:3100\n  docker:\n    parse: {format: yaml}\n",
        );
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(p[0].starts_with("logs.docker.parse.format: "), "{p:?}");
        let p = check_text(
            "logs:\n  loki_url: http://127.0.0.1:3100\n  files:\n    - path: /a\n    - {path: /b, labls: {}}\n",
        );
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(p[0].starts_with("logs.files[1]"), "{p:?}");
        assert!(p[0].contains("labls"), "{p:?}");
        let p = check_text("logs:\n  batch_max_bytes: lots\n");
        assert!(
            p[0].starts_with("logs.batch_max_bytes: invalid type"),
            "{p:?}"
        );
    }
}
