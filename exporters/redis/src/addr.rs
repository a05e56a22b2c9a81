//! Target addresses: what `--redis.addr` and `/scrape?target=` accept, checked at start, and the
//! forms that may be shown (no password ever; the offending value is never echoed either).

/// `host:port` → `redis://host:port`, as upstream accepts bare addresses.
pub fn normalize_addr(addr: &str) -> String {
    if addr.contains("://") {
        addr.to_owned()
    } else {
        format!("redis://{addr}")
    }
}

/// Parses a target URI without ever echoing it (it may hold a password).
pub fn parse_target(addr: &str) -> Result<redis::ConnectionInfo, String> {
    use redis::IntoConnectionInfo;
    const EXPECTED: &str = "expected redis://host:port, rediss://, unix:// or host:port";
    let info = addr
        .into_connection_info()
        .map_err(|e| format!("{:?} ({EXPECTED})", e.kind()))?;
    // The URL parser takes `%%%garbage` as a host name; it would only fail at scrape time.
    let host_ok = |h: &str| {
        !h.is_empty()
            && h.chars().all(|c| {
                c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | ':' | '[' | ']')
            })
    };
    match &info.addr {
        redis::ConnectionAddr::Tcp(host, _) | redis::ConnectionAddr::TcpTls { host, .. }
            if !host_ok(host) =>
        {
            Err(format!("not a host name or IP address ({EXPECTED})"))
        }
        redis::ConnectionAddr::Unix(path) if path.as_os_str().is_empty() => {
            Err(format!("empty socket path ({EXPECTED})"))
        }
        _ => Ok(info),
    }
}

/// The address with any `user:password@` removed: what logs and errors may show.
pub fn redact_addr(addr: &str) -> String {
    match (addr.find("://"), addr.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}{}", &addr[..scheme + 3], &addr[at + 1..])
        }
        _ => addr.to_owned(),
    }
}

/// The address with the password removed and the user kept: what `/scrape` connects to, with
/// the password from the flags or the file (upstream v1.69: "so users don't send them in plain
/// text via http").
pub fn strip_password(addr: &str) -> String {
    match (addr.find("://"), addr.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let creds = &addr[scheme + 3..at];
            let user = creds.split(':').next().unwrap_or("");
            if user.is_empty() {
                format!("{}{}", &addr[..scheme + 3], &addr[at + 1..])
            } else {
                format!("{}{user}@{}", &addr[..scheme + 3], &addr[at + 1..])
            }
        }
        _ => addr.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_redacted_and_stripped() {
        assert_eq!(redact_addr("redis://u:secret@h:1"), "redis://h:1");
        assert_eq!(redact_addr("redis://h:1"), "redis://h:1");
        assert_eq!(strip_password("redis://u:secret@h:1"), "redis://u@h:1");
        assert_eq!(strip_password("redis://:secret@h:1"), "redis://h:1");
        assert_eq!(normalize_addr("h:6379"), "redis://h:6379");
    }
}
