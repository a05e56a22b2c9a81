//! Settings of the services, from environment variables (names fixed in CONTRACTS.md).
//!
//! A bad value is one [`ConfigError`] line naming the variable; a DSN or password is never
//! echoed back (it may hold a secret).

use std::time::Duration;

/// Environment variable: the service's listen port.
pub const ENV_PORT: &str = "PORT";
/// Environment variable: Redis address, `redis://host:port[/db]` or `host:port`.
pub const ENV_REDIS_ADDR: &str = "REDIS_ADDR";
/// Environment variable: Redis password (optional).
pub const ENV_REDIS_PASSWORD: &str = "REDIS_PASSWORD";
/// Environment variable: PostgreSQL DSN, `postgres://user@host:port/db`.
pub const ENV_DATABASE_URL: &str = "DATABASE_URL";
/// Environment variable: a file holding the PostgreSQL password (Docker secrets), so the DSN
/// in the environment needs none.
pub const ENV_DATABASE_PASSWORD_FILE: &str = "DATABASE_PASSWORD_FILE";
/// Environment variable: base URL of `cdb_risk` (for `cdb_execution`).
pub const ENV_RISK_URL: &str = "RISK_URL";
/// Environment variable: `off` runs the service without mcp-instrument (the benchmark's baseline).
pub const ENV_INSTRUMENT: &str = "MCP_INSTRUMENT";
/// Environment variable: `cdb_core`'s ticker period in milliseconds.
pub const ENV_TICK_MS: &str = "CDB_TICK_MS";
/// Environment variable: messages queued per websocket client before it counts as slow.
pub const ENV_WS_CLIENT_QUEUE: &str = "CDB_WS_CLIENT_QUEUE";
/// Environment variable: `on` enables the fault-injection endpoint `POST /api/v1/fault`.
pub const ENV_FAULTS: &str = "CDB_FAULT_INJECTION";
/// Environment variable: PostgreSQL pool size.
pub const ENV_PG_POOL: &str = "CDB_PG_POOL_SIZE";

/// A setting that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A variable holds a value that cannot be parsed; the value is shown.
    #[error("invalid {var}={value:?}: {reason}")]
    Invalid {
        /// The variable.
        var: &'static str,
        /// Its value.
        value: String,
        /// What was expected.
        reason: &'static str,
    },
    /// A variable holding a secret is invalid; its value is not shown.
    #[error("invalid {var}: {reason}")]
    InvalidSecret {
        /// The variable.
        var: &'static str,
        /// What was expected.
        reason: String,
    },
}

/// Everything the four services read from the environment.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Listen port.
    pub port: u16,
    /// Redis connection settings.
    pub redis: redis::ConnectionInfo,
    /// PostgreSQL connection settings (the password, if any, stays inside).
    pub pg: tokio_postgres::Config,
    /// PostgreSQL pool size.
    pub pg_pool_size: usize,
    /// Base URL of the risk service, without a trailing slash.
    pub risk_url: String,
    /// False when `MCP_INSTRUMENT=off`.
    pub instrument: bool,
    /// `cdb_core`'s ticker period.
    pub tick: Duration,
    /// Per-client websocket queue, in messages.
    pub ws_client_queue: usize,
    /// Whether `POST /api/v1/fault` is served.
    pub faults: bool,
}

impl Settings {
    /// Reads the settings, `default_port` when `PORT` is unset.
    pub fn from_env(default_port: u16) -> Result<Self, ConfigError> {
        Self::from_lookup(default_port, |k| std::env::var(k).ok())
    }

    /// Reads the settings through `env` (tests pass a map).
    pub fn from_lookup(
        default_port: u16,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let get = |k: &str| env(k).filter(|v| !v.trim().is_empty());
        let port = match get(ENV_PORT) {
            Some(v) => parse(ENV_PORT, &v, "want a port number")?,
            None => default_port,
        };
        let redis = redis_info(
            &get(ENV_REDIS_ADDR).unwrap_or_else(|| "redis://127.0.0.1:6379".to_owned()),
            get(ENV_REDIS_PASSWORD),
        )?;
        let dsn = get(ENV_DATABASE_URL)
            .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/cdb".to_owned());
        let mut pg: tokio_postgres::Config =
            dsn.parse().map_err(|_| ConfigError::InvalidSecret {
                var: ENV_DATABASE_URL,
                reason: "want postgres://user@host:port/db".to_owned(),
            })?;
        if pg.get_hosts().is_empty() {
            return Err(ConfigError::InvalidSecret {
                var: ENV_DATABASE_URL,
                reason: "no host".to_owned(),
            });
        }
        if let Some(path) = get(ENV_DATABASE_PASSWORD_FILE) {
            let password =
                std::fs::read_to_string(path.trim()).map_err(|e| ConfigError::Invalid {
                    var: ENV_DATABASE_PASSWORD_FILE,
                    value: path.clone(),
                    reason: if e.kind() == std::io::ErrorKind::NotFound {
                        "no such file"
                    } else {
                        "cannot read the file"
                    },
                })?;
            pg.password(password.trim_end_matches(['\r', '\n']));
        }
        if pg.get_connect_timeout().is_none() {
            pg.connect_timeout(Duration::from_secs(3));
        }
        pg.application_name("mcp-examples");
        let risk_url = get(ENV_RISK_URL)
            .unwrap_or_else(|| "http://127.0.0.1:8001".to_owned())
            .trim_end_matches('/')
            .to_owned();
        match reqwest::Url::parse(&risk_url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") => {}
            _ => {
                return Err(ConfigError::Invalid {
                    var: ENV_RISK_URL,
                    value: risk_url,
                    reason: "want an http(s) URL",
                });
            }
        }
        let instrument = match get(ENV_INSTRUMENT).as_deref().map(str::trim) {
            None | Some("on") => true,
            Some("off") => false,
            Some(v) => {
                return Err(ConfigError::Invalid {
                    var: ENV_INSTRUMENT,
                    value: v.to_owned(),
                    reason: "want on or off",
                });
            }
        };
        let tick_ms: u64 = match get(ENV_TICK_MS) {
            Some(v) => parse(ENV_TICK_MS, &v, "want milliseconds, at least 1")?,
            None => 500,
        };
        if tick_ms == 0 {
            return Err(ConfigError::Invalid {
                var: ENV_TICK_MS,
                value: "0".to_owned(),
                reason: "want milliseconds, at least 1",
            });
        }
        let ws_client_queue: usize = match get(ENV_WS_CLIENT_QUEUE) {
            Some(v) => parse(ENV_WS_CLIENT_QUEUE, &v, "want a positive count")?,
            None => 256,
        };
        let pg_pool_size: usize = match get(ENV_PG_POOL) {
            Some(v) => parse(ENV_PG_POOL, &v, "want a positive count")?,
            None => 8,
        };
        if ws_client_queue == 0 || pg_pool_size == 0 {
            return Err(ConfigError::Invalid {
                var: if ws_client_queue == 0 {
                    ENV_WS_CLIENT_QUEUE
                } else {
                    ENV_PG_POOL
                },
                value: "0".to_owned(),
                reason: "want a positive count",
            });
        }
        let faults = match get(ENV_FAULTS).as_deref().map(str::trim) {
            None | Some("off") => false,
            Some("on") => true,
            Some(v) => {
                return Err(ConfigError::Invalid {
                    var: ENV_FAULTS,
                    value: v.to_owned(),
                    reason: "want on or off",
                });
            }
        };
        Ok(Self {
            port,
            redis,
            pg,
            pg_pool_size,
            risk_url,
            instrument,
            tick: Duration::from_millis(tick_ms),
            ws_client_queue,
            faults,
        })
    }
}

fn parse<T: std::str::FromStr>(
    var: &'static str,
    value: &str,
    reason: &'static str,
) -> Result<T, ConfigError> {
    value.trim().parse().map_err(|_| ConfigError::Invalid {
        var,
        value: value.to_owned(),
        reason,
    })
}

/// `redis://…` URLs as the redis crate reads them; a bare `host:port` as redis_exporter does.
fn redis_info(addr: &str, password: Option<String>) -> Result<redis::ConnectionInfo, ConfigError> {
    use redis::IntoConnectionInfo as _;
    let addr = addr.trim();
    let url = if addr.contains("://") {
        addr.to_owned()
    } else {
        format!("redis://{addr}")
    };
    let mut info = url
        .as_str()
        .into_connection_info()
        .map_err(|_| ConfigError::InvalidSecret {
            var: ENV_REDIS_ADDR,
            reason: "want redis://host:port or host:port".to_owned(),
        })?;
    if let Some(p) = password {
        info.redis.password = Some(p);
    }
    Ok(info)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn with(pairs: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let map: std::collections::HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Settings::from_lookup(8002, |k| map.get(k).cloned())
    }

    #[test]
    fn defaults_and_host_port_redis_addresses() {
        let s = with(&[("REDIS_ADDR", "10.0.0.1:6380")]).unwrap();
        assert_eq!(s.port, 8002);
        assert_eq!(s.redis.addr.to_string(), "10.0.0.1:6380");
        assert!(s.instrument);
        assert!(!s.faults);
        assert_eq!(s.risk_url, "http://127.0.0.1:8001");
    }

    #[test]
    fn the_database_password_comes_from_a_file() {
        let path = std::env::temp_dir().join(format!("cdb-pg-pass-{}", std::process::id()));
        std::fs::write(&path, "s3cret\n").unwrap();
        let s = with(&[("DATABASE_PASSWORD_FILE", path.to_str().unwrap())]).unwrap();
        assert_eq!(s.pg.get_password(), Some(&b"s3cret"[..]));
        std::fs::remove_file(&path).unwrap();
        let e = with(&[("DATABASE_PASSWORD_FILE", "/nonexistent/pw")])
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            r#"invalid DATABASE_PASSWORD_FILE="/nonexistent/pw": no such file"#
        );
    }

    #[test]
    fn a_bad_dsn_is_named_without_its_value() {
        let e = with(&[("DATABASE_URL", "postgres://u:hunter2@[bad")])
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("invalid DATABASE_URL"), "{e}");
        assert!(!e.contains("hunter2"), "{e}");
        let e = with(&[("PORT", "http")]).unwrap_err().to_string();
        assert_eq!(e, r#"invalid PORT="http": want a port number"#);
    }
}
