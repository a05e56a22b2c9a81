//! With a config file, a section's `settings` are used as written, except for the connection
//! settings the section leaves out: those still come from the upstream environment variables,
//! as they would without a config file. This is how the systemd unit's `LoadCredential=`
//! secrets (handed over as `REDIS_PASSWORD_FILE` / `DATA_SOURCE_PASS_FILE`) and the non-secret
//! `/etc/mcp/agent.env` reach an agent that also has an `agent.yml` with `redis:` and
//! `postgres:` sections.
//!
//! | section key | environment |
//! |---|---|
//! | `redis.settings.redis_addr` | `REDIS_ADDR` |
//! | `redis.settings.redis_user` | `REDIS_USER` |
//! | `redis.settings.redis_password` | `REDIS_PASSWORD` |
//! | `redis.settings.redis_password_file` | `REDIS_PASSWORD_FILE` (JSON object URI → password) |
//! | `postgres.settings.data_source_names` | `DATA_SOURCE_NAME`, or `DATA_SOURCE_URI` + `DATA_SOURCE_USER[_FILE]` + `DATA_SOURCE_PASS[_FILE]` |
//!
//! A key the section sets wins. When the environment also holds a secret for that key (a
//! non-empty password, a password map with entries, a `DATA_SOURCE_NAME`), the agent does not
//! start: one of the two would be silently unused. Every other setting comes from the file (or
//! the built-in default), never from the environment. Messages name variables, keys and paths,
//! never a value.

use std::collections::BTreeSet;
use std::path::PathBuf;

/// The host exporter has no connection settings: nothing comes from the environment.
pub fn host(_: &mut mcp_host_exporter::Config, _set: &BTreeSet<String>) -> Result<(), String> {
    Ok(())
}

/// Fills the Redis connection settings the section leaves out from `REDIS_*`.
pub fn redis(c: &mut mcp_redis_exporter::Config, set: &BTreeSet<String>) -> Result<(), String> {
    if !set.contains("redis_addr")
        && let Some(v) = var("REDIS_ADDR")?
    {
        c.redis_addr = v;
    }
    if !set.contains("redis_user")
        && let Some(v) = var("REDIS_USER")?
    {
        c.redis_user = v;
    }
    match var("REDIS_PASSWORD")? {
        Some(v) if !set.contains("redis_password") => {
            c.redis_password = mcp_redis_exporter::Secret(v);
        }
        Some(_) => return Err(both("settings.redis_password", "REDIS_PASSWORD")),
        None => {}
    }
    if let Some(path) = var("REDIS_PASSWORD_FILE")?.map(PathBuf::from) {
        if !set.contains("redis_password_file") {
            c.redis_password_file = Some(path);
        } else if c.redis_password_file.as_ref() != Some(&path) && password_map_has_entries(&path)?
        {
            return Err(both("settings.redis_password_file", "REDIS_PASSWORD_FILE"));
        }
    }
    Ok(())
}

/// Fills `data_source_names` from `DATA_SOURCE_*` when the section leaves it out.
pub fn postgres(
    c: &mut mcp_postgres_exporter::Config,
    set: &BTreeSet<String>,
) -> Result<(), String> {
    if !set.contains("data_source_names") {
        let dsns = mcp_postgres_exporter::data_sources_from_env().map_err(|e| e.to_string())?;
        if !dsns.is_empty() {
            c.data_source_names = dsns
                .into_iter()
                .map(mcp_postgres_exporter::SecretDsn)
                .collect();
        }
        return Ok(());
    }
    // The section lists its DSNs: a password in the environment would go nowhere.
    if var("DATA_SOURCE_NAME")?.is_some() {
        return Err(both("settings.data_source_names", "DATA_SOURCE_NAME"));
    }
    for name in ["DATA_SOURCE_PASS_FILE", "DATA_SOURCE_PASS"] {
        if secret_given(name)? {
            return Err(both("settings.data_source_names", name));
        }
    }
    Ok(())
}

fn both(key: &str, env: &str) -> String {
    format!(
        "{key} is set in the config file and {env} in the environment; the environment's \
         secret would be unused: keep one (an unused credential file stays empty, `{{}}` for \
         REDIS_PASSWORD_FILE)"
    )
}

/// A variable's value; `None` when unset or empty (as clap's `env` treats them).
fn var(name: &str) -> Result<Option<String>, String> {
    match std::env::var(name) {
        Ok(v) if v.is_empty() => Ok(None),
        Ok(v) => Ok(Some(v)),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => Err(format!("{name} is not valid UTF-8")),
    }
}

/// Whether `name` holds a secret: a `*_FILE` variable naming a file that is not empty (after
/// trimming, as the exporter reads it), or a plain variable that is set.
fn secret_given(name: &str) -> Result<bool, String> {
    let Some(value) = var(name)? else {
        return Ok(false);
    };
    if !name.ends_with("_FILE") {
        return Ok(true);
    }
    let text =
        std::fs::read_to_string(&value).map_err(|e| format!("cannot read {name} {value}: {e}"))?;
    Ok(!text.trim().is_empty())
}

/// Whether a `REDIS_PASSWORD_FILE` holds any password: `{}` (the unit's "unused") does not;
/// anything that is not an empty JSON object counts as holding one.
fn password_map_has_entries(path: &std::path::Path) -> Result<bool, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read REDIS_PASSWORD_FILE {}: {e}", path.display()))?;
    Ok(
        serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(&text)
            .map(|m| !m.is_empty())
            .unwrap_or(true),
    )
}
