//! The operator commands: `check`, `fire-drill`, `log-drill` and `config check`. They run
//! blocking (no Tokio runtime): each is a handful of HTTP calls, each with a timeout.

pub mod check;
pub mod config_check;
pub mod endpoint;
pub mod fire_drill;
pub mod log_drill;
pub mod output;
pub mod promql;

/// Characters a drill id may hold: it goes into a label, a log line and a LogQL filter, and the
/// services' drill endpoint accepts exactly these.
pub fn valid_drill_id(id: &str) -> Result<(), String> {
    if id.is_empty() || id.len() > 128 {
        return Err("a drill id has 1 to 128 characters".to_owned());
    }
    if !id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
    {
        return Err("a drill id may only hold A-Z a-z 0-9 . _ : -".to_owned());
    }
    Ok(())
}
