//! Data source names: the `postgresql://` URI and lib/pq `key=value` forms postgres_exporter accepts,
//! parsed by hand so that the password is held in one place and never printed.
//!
//! Every error and every `Debug`/`Display` of a [`Dsn`] shows the password as `******` (the mask
//! upstream's `DSN.String()` uses). upstream logged key=value passwords in clear (#1042, #643).

use std::fmt;
use std::time::Duration;

use percent_encoding::percent_decode_str;

/// Why a DSN was rejected. Messages never contain the password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DsnError {
    /// Neither a URI nor key=value pairs.
    #[error("invalid data source name: neither a postgresql:// URI nor key=value pairs")]
    Unrecognised,
    /// A structural problem, with a description that names no secret.
    #[error("invalid data source name {redacted}: {reason}")]
    Invalid {
        /// The DSN with its password masked.
        redacted: String,
        /// What is wrong.
        reason: String,
    },
}

/// How to use TLS to the server (libpq's `sslmode`; see `tls.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    /// `sslmode=disable`.
    Disable,
    /// `sslmode=allow` / `prefer` (and no sslmode at all): TLS when the server offers it.
    Prefer,
    /// `sslmode=require`: TLS, certificate not checked.
    Require,
    /// `sslmode=verify-ca`: TLS, chain checked against `sslrootcert`.
    VerifyCa,
    /// `sslmode=verify-full`: TLS, chain and host name checked.
    VerifyFull,
}

/// A parsed data source name.
#[derive(Clone, PartialEq, Eq)]
pub struct Dsn {
    /// Host name, IP address or Unix socket directory.
    pub host: String,
    /// Port.
    pub port: u16,
    /// User.
    pub user: String,
    password: Option<String>,
    /// Database.
    pub dbname: Option<String>,
    /// TLS mode.
    pub sslmode: SslMode,
    /// `sslrootcert`: PEM roots for `verify-ca`/`verify-full`.
    pub sslrootcert: Option<std::path::PathBuf>,
    /// `application_name` from the DSN, if any.
    pub application_name: Option<String>,
    /// `connect_timeout` from the DSN, if any.
    pub connect_timeout: Option<Duration>,
    /// Extra run-time parameters (`-c key=value`), including `options`.
    pub options: Vec<(String, String)>,
}

impl fmt::Debug for Dsn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl fmt::Display for Dsn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// Keys lib/pq understands that have no meaning for a no-TLS tokio-postgres connection; they are
/// accepted and ignored so deployed DSNs keep working.
const IGNORED_KEYS: &[&str] = &[
    "fallback_application_name",
    "sslcert",
    "sslkey",
    "sslsni",
    "sslinline",
    "sslpassword",
    "krbsrvname",
    "krbspn",
    "binary_parameters",
    "disable_prepared_binary_result",
    "target_session_attrs",
    "keepalives",
    "keepalives_idle",
    "keepalives_interval",
    "keepalives_count",
    "passfile",
    "service",
];

impl Dsn {
    /// Parses a URI (`postgresql://` or `postgres://`) or lib/pq `key=value` DSN.
    pub fn parse(input: &str) -> Result<Dsn, DsnError> {
        let s = input.trim();
        let pairs = if let Some(rest) = s
            .strip_prefix("postgresql://")
            .or_else(|| s.strip_prefix("postgres://"))
        {
            parse_uri(rest)?
        } else if looks_like_key_value(s) {
            parse_key_value(s)?
        } else {
            return Err(DsnError::Unrecognised);
        };
        Dsn::from_pairs(pairs)
    }

    /// Parses a `/probe` target: a DSN, or `host:port/db?params` which upstream prefixes with
    /// `postgresql://`.
    pub fn parse_target(input: &str) -> Result<Dsn, DsnError> {
        let s = input.trim();
        if s.starts_with("postgresql://") || s.starts_with("postgres://") || looks_like_key_value(s)
        {
            Dsn::parse(s)
        } else {
            Dsn::parse(&format!("postgresql://{s}"))
        }
    }

    fn from_pairs(pairs: Vec<(String, String)>) -> Result<Dsn, DsnError> {
        let mut dsn = Dsn {
            host: env_or("PGHOST", "localhost"),
            port: 5432,
            user: std::env::var("PGUSER")
                .ok()
                .filter(|u| !u.is_empty())
                .or_else(|| std::env::var("USER").ok().filter(|u| !u.is_empty()))
                .unwrap_or_else(|| "postgres".to_owned()),
            password: std::env::var("PGPASSWORD").ok().filter(|p| !p.is_empty()),
            dbname: std::env::var("PGDATABASE").ok().filter(|d| !d.is_empty()),
            sslmode: SslMode::Prefer,
            sslrootcert: None,
            application_name: None,
            connect_timeout: None,
            options: Vec::new(),
        };
        if let Ok(port) = std::env::var("PGPORT")
            && let Ok(port) = port.parse()
        {
            dsn.port = port;
        }
        let mut port_text: Option<String> = None;
        for (key, value) in pairs {
            match key.as_str() {
                "host" => {
                    if !value.is_empty() {
                        dsn.host = value
                    }
                }
                "hostaddr" => dsn.host = value,
                "port" => port_text = Some(value),
                "user" => dsn.user = value,
                "password" => dsn.password = Some(value),
                "dbname" => dsn.dbname = Some(value).filter(|d| !d.is_empty()),
                "sslmode" => {
                    dsn.sslmode = match value.as_str() {
                        "disable" => SslMode::Disable,
                        "allow" | "prefer" => SslMode::Prefer,
                        "require" => SslMode::Require,
                        "verify-ca" => SslMode::VerifyCa,
                        "verify-full" => SslMode::VerifyFull,
                        other => {
                            return Err(dsn.invalid(format!("unknown sslmode {other:?}")));
                        }
                    }
                }
                "sslrootcert" => {
                    dsn.sslrootcert = Some(value.into())
                        .filter(|p: &std::path::PathBuf| !p.as_os_str().is_empty())
                }
                "application_name" => dsn.application_name = Some(value),
                "connect_timeout" => {
                    let secs: u64 = value.parse().map_err(|_| {
                        dsn.invalid(format!("connect_timeout {value:?} is not a number"))
                    })?;
                    if secs > 0 {
                        dsn.connect_timeout = Some(Duration::from_secs(secs));
                    }
                }
                "options" => dsn.options.push(("options".to_owned(), value)),
                k if IGNORED_KEYS.contains(&k) => {}
                _ => dsn.options.push((key, value)),
            }
        }
        if let Some(p) = port_text.filter(|p| !p.is_empty()) {
            dsn.port = p
                .parse()
                // The DSN is shown with the port as given: with the default in its place the
                // message would contradict itself (issue 17, item 6).
                .map_err(|_| DsnError::Invalid {
                    redacted: dsn.render(&p),
                    reason: format!("port {p:?} is not a number"),
                })?;
        }
        if dsn.host.contains(',') {
            return Err(dsn.invalid("multiple hosts are not supported".to_owned()));
        }
        if matches!(dsn.sslmode, SslMode::VerifyCa | SslMode::VerifyFull)
            && dsn.sslrootcert.is_none()
        {
            return Err(dsn.invalid(format!(
                "sslmode={} needs sslrootcert=<PEM file>",
                dsn.sslmode_name()
            )));
        }
        Ok(dsn)
    }

    fn sslmode_name(&self) -> &'static str {
        match self.sslmode {
            SslMode::Disable => "disable",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }

    /// The TLS connector for this DSN's `sslmode` (reads `sslrootcert`); `None` for `disable`,
    /// so a plaintext target never initialises rustls.
    pub fn tls(&self) -> Result<Option<crate::tls::MakeRustls>, String> {
        use crate::tls::{MakeRustls, Verify};
        match self.sslmode {
            SslMode::Disable => Ok(None),
            SslMode::Prefer | SslMode::Require => MakeRustls::new(Verify::None, None).map(Some),
            SslMode::VerifyCa => MakeRustls::new(Verify::Ca, self.sslrootcert.as_deref()).map(Some),
            SslMode::VerifyFull => {
                MakeRustls::new(Verify::Full, self.sslrootcert.as_deref()).map(Some)
            }
        }
    }

    fn invalid(&self, reason: String) -> DsnError {
        DsnError::Invalid {
            redacted: self.redacted(),
            reason,
        }
    }

    /// The password, if any (tests only: the connection reads the field).
    #[cfg(test)]
    pub(crate) fn password(&self) -> Option<&str> {
        self.password.as_deref()
    }

    /// Sets user and password (auth modules, `DATA_SOURCE_USER`/`PASS`).
    pub fn set_credentials(&mut self, user: &str, password: &str) {
        self.user = user.to_owned();
        self.password = Some(password.to_owned());
    }

    /// Adds a `key=value` option the way an auth module's `options` do (`sslmode` is validated).
    pub fn set_option(&mut self, key: &str, value: &str) -> Result<(), DsnError> {
        let mut pairs = vec![("host".to_owned(), self.host.clone())];
        if let Some(root) = &self.sslrootcert {
            pairs.push(("sslrootcert".to_owned(), root.display().to_string()));
        }
        pairs.push((key.to_owned(), value.to_owned()));
        let parsed = Dsn::from_pairs(pairs)?;
        match key {
            "sslmode" => {
                self.sslmode = parsed.sslmode;
                if parsed.sslrootcert.is_some() {
                    self.sslrootcert = parsed.sslrootcert;
                }
            }
            "sslrootcert" => self.sslrootcert = parsed.sslrootcert,
            "application_name" => self.application_name = parsed.application_name,
            "connect_timeout" => self.connect_timeout = parsed.connect_timeout,
            "dbname" => self.dbname = parsed.dbname,
            "port" => self.port = parsed.port,
            k if IGNORED_KEYS.contains(&k) => {}
            _ => self.options.extend(parsed.options),
        }
        Ok(())
    }

    /// The `server` label of the legacy metrics: `host:port`, as upstream's fingerprint.
    pub fn server_label(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    /// Fuzzing invariant: nothing shown of a DSN depends on its password (so no password can
    /// leak through `redacted`, `Display`, `Debug` or the `server` label, whatever the input).
    pub(crate) fn assert_password_not_shown(&self) {
        if self.password.is_none() {
            return;
        }
        let mut other = self.clone();
        other.password = Some("a different password".to_owned());
        assert_eq!(self.redacted(), other.redacted());
        assert_eq!(self.to_string(), other.to_string());
        assert_eq!(format!("{self:?}"), format!("{other:?}"));
        assert_eq!(self.server_label(), other.server_label());
    }

    /// The DSN as a URI with the password masked; safe for logs and errors.
    pub fn redacted(&self) -> String {
        self.render(&self.port.to_string())
    }

    /// [`redacted`](Self::redacted) with `port` written as the port.
    fn render(&self, port: &str) -> String {
        let mut s = String::from("postgresql://");
        s.push_str(&percent_encoding::utf8_percent_encode(&self.user, USERINFO).to_string());
        if self.password.is_some() {
            s.push_str(":******");
        }
        s.push('@');
        if self.host.starts_with('/') {
            s.push_str(&format!(
                ":{}/{}?host={}",
                port,
                self.dbname.as_deref().unwrap_or(""),
                self.host
            ));
        } else {
            s.push_str(&format!(
                "{}:{}/{}",
                self.host,
                port,
                self.dbname.as_deref().unwrap_or("")
            ));
        }
        if self.sslmode != SslMode::Prefer {
            s.push_str(if s.contains('?') { "&" } else { "?" });
            s.push_str("sslmode=");
            s.push_str(self.sslmode_name());
        }
        s
    }

    /// A tokio-postgres configuration. `statement_timeout` is set as a startup option so that the
    /// server bounds every statement of this session without an extra `SET` per scrape.
    pub fn to_pg_config(
        &self,
        default_application_name: &str,
        statement_timeout: Duration,
        connect_timeout: Duration,
    ) -> tokio_postgres::Config {
        let mut c = tokio_postgres::Config::new();
        // A path is a Unix socket directory (tokio-postgres has sockets only on Unix).
        #[cfg(unix)]
        if self.host.starts_with('/') {
            c.host_path(&self.host);
        } else {
            c.host(&self.host);
        }
        #[cfg(not(unix))]
        c.host(&self.host);
        c.port(self.port).user(&self.user);
        if let Some(p) = &self.password {
            c.password(p.as_bytes());
        }
        if let Some(db) = &self.dbname {
            c.dbname(db);
        }
        c.ssl_mode(match self.sslmode {
            SslMode::Disable => tokio_postgres::config::SslMode::Disable,
            SslMode::Prefer => tokio_postgres::config::SslMode::Prefer,
            SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => {
                tokio_postgres::config::SslMode::Require
            }
        });
        c.application_name(
            self.application_name
                .as_deref()
                .unwrap_or(default_application_name),
        );
        c.connect_timeout(self.connect_timeout.unwrap_or(connect_timeout));
        c.keepalives(true);
        c.keepalives_idle(Duration::from_secs(30));
        let mut options = String::new();
        let ms = statement_timeout.as_millis().max(1);
        options.push_str(&format!("-c statement_timeout={ms}"));
        for (key, value) in &self.options {
            options.push(' ');
            if key == "options" {
                options.push_str(value);
            } else {
                options.push_str(&format!("-c {key}={}", value.replace(' ', "\\ ")));
            }
        }
        c.options(options);
        c
    }
}

const USERINFO: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

fn env_or(key: &str, default: &str) -> String {
    std::env::var(key)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.to_owned())
}

/// `key=value …`: the text before the first `=` is a plain keyword.
fn looks_like_key_value(s: &str) -> bool {
    match s.split_once('=') {
        Some((key, _)) => {
            let key = key.trim();
            !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        }
        None => false,
    }
}

fn decode(s: &str) -> Result<String, DsnError> {
    percent_decode_str(s)
        .decode_utf8()
        .map(|c| c.into_owned())
        .map_err(|_| DsnError::Invalid {
            redacted: "postgresql://…".to_owned(),
            reason: "invalid percent-encoding".to_owned(),
        })
}

fn masked_uri(rest: &str) -> String {
    // Mask whatever sits between ':' and '@' in the userinfo, and any password= parameter.
    let mut out = String::from("postgresql://");
    let (authority_and_path, query) = match rest.split_once('?') {
        Some((a, q)) => (a, Some(q)),
        None => (rest, None),
    };
    match authority_and_path.rsplit_once('@') {
        Some((userinfo, hostpart)) => {
            let user = userinfo.split(':').next().unwrap_or("");
            out.push_str(user);
            if userinfo.contains(':') {
                out.push_str(":******");
            }
            out.push('@');
            out.push_str(hostpart);
        }
        None => out.push_str(authority_and_path),
    }
    if let Some(q) = query {
        out.push('?');
        let masked: Vec<String> = q
            .split('&')
            .map(|kv| match kv.split_once('=') {
                Some(("password", _)) => "password=******".to_owned(),
                _ => kv.to_owned(),
            })
            .collect();
        out.push_str(&masked.join("&"));
    }
    out
}

fn parse_uri(rest: &str) -> Result<Vec<(String, String)>, DsnError> {
    let invalid = |reason: &str| DsnError::Invalid {
        redacted: masked_uri(rest),
        reason: reason.to_owned(),
    };
    let (main, query) = match rest.split_once('?') {
        Some((m, q)) => (m, Some(q)),
        None => (rest, None),
    };
    let (authority, path) = match main.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (main, None),
    };
    let mut pairs = Vec::new();
    let hostport = match authority.rsplit_once('@') {
        Some((userinfo, hostport)) => {
            let (user, password) = match userinfo.split_once(':') {
                Some((u, p)) => (u, Some(p)),
                None => (userinfo, None),
            };
            if !user.is_empty() {
                pairs.push((
                    "user".to_owned(),
                    decode(user).map_err(|_| invalid("bad user encoding"))?,
                ));
            }
            if let Some(p) = password {
                pairs.push((
                    "password".to_owned(),
                    decode(p).map_err(|_| invalid("bad password encoding"))?,
                ));
            }
            hostport
        }
        None => authority,
    };
    if !hostport.is_empty() {
        let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
            match v6.split_once(']') {
                Some((h, rest)) => (h.to_owned(), rest.strip_prefix(':').map(str::to_owned)),
                None => return Err(invalid("unterminated IPv6 address")),
            }
        } else {
            match hostport.rsplit_once(':') {
                Some((h, p)) => (h.to_owned(), Some(p.to_owned())),
                None => (hostport.to_owned(), None),
            }
        };
        if host.contains(['/', ' ']) {
            return Err(invalid("invalid host"));
        }
        pairs.push((
            "host".to_owned(),
            decode(&host).map_err(|_| invalid("bad host"))?,
        ));
        if let Some(p) = port {
            if p.is_empty() || p.parse::<u16>().is_err() {
                return Err(invalid(&format!("port {p:?} is not a number")));
            }
            pairs.push(("port".to_owned(), p));
        }
    }
    if let Some(path) = path
        && !path.is_empty()
    {
        pairs.push((
            "dbname".to_owned(),
            decode(path).map_err(|_| invalid("bad dbname"))?,
        ));
    }
    if let Some(q) = query {
        for kv in q.split('&').filter(|kv| !kv.is_empty()) {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            let k = decode(k).map_err(|_| invalid("bad parameter encoding"))?;
            let v = decode(&v.replace('+', " ")).map_err(|_| invalid("bad parameter encoding"))?;
            pairs.push((k, v));
        }
    }
    Ok(pairs)
}

fn parse_key_value(s: &str) -> Result<Vec<(String, String)>, DsnError> {
    let invalid = |reason: &str| DsnError::Invalid {
        redacted: "key=value DSN (password hidden)".to_owned(),
        reason: reason.to_owned(),
    };
    let mut pairs = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.peek().is_none() {
            break;
        }
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c.is_whitespace() {
                break;
            }
            key.push(c);
            chars.next();
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.next() != Some('=') {
            return Err(invalid(&format!("missing '=' after {key:?}")));
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let mut value = String::new();
        if chars.peek() == Some(&'\'') {
            chars.next();
            let mut closed = false;
            while let Some(c) = chars.next() {
                match c {
                    '\\' => {
                        if let Some(n) = chars.next() {
                            value.push(n);
                        }
                    }
                    '\'' => {
                        closed = true;
                        break;
                    }
                    c => value.push(c),
                }
            }
            if !closed {
                return Err(invalid("unterminated quoted value"));
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                chars.next();
                if c == '\\' {
                    if let Some(n) = chars.next() {
                        value.push(n);
                    }
                } else {
                    value.push(c);
                }
            }
        }
        if key.is_empty() {
            return Err(invalid("empty key"));
        }
        pairs.push((key, value));
    }
    Ok(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_port_is_shown_as_given_not_as_the_default() {
        let e = Dsn::parse("host=db.internal port=notaport user=u password=hunter2")
            .unwrap_err()
            .to_string();
        assert!(e.contains("db.internal:notaport/"), "{e}");
        assert!(!e.contains(":5432"), "{e}");
        assert!(!e.contains("hunter2"), "{e}");
    }

    #[test]
    fn uri_and_key_value_forms_parse_alike() {
        let a =
            Dsn::parse("postgresql://bob:s3cr%40t@db.example:6543/app?sslmode=disable").unwrap();
        let b = Dsn::parse(
            "host=db.example port=6543 user=bob password='s3cr@t' dbname=app sslmode=disable",
        )
        .unwrap();
        assert_eq!(a, b);
        assert_eq!(a.password(), Some("s3cr@t"));
        assert_eq!(a.server_label(), "db.example:6543");
        assert_eq!(a.sslmode, SslMode::Disable);
    }

    #[test]
    fn the_password_never_appears_in_display_or_errors() {
        for input in [
            "postgresql://bob:hunter2@h:5432/db",
            "postgresql://bob@h:5432/db?password=hunter2",
            "host=h user=bob password=hunter2",
            "host=h user=bob password='hunter2 x'",
        ] {
            let d = Dsn::parse(input).unwrap();
            assert!(!format!("{d} {d:?}").contains("hunter2"), "{input}");
        }
        for input in [
            "postgresql://bob:hunter2@h:port/db",
            "postgresql://bob:hunter2@h:5432/db?sslmode=verify-full",
            "host=h password='hunter2",
            "host=h password=hunter2 port=x",
            "host=h password=hunter2 sslmode=verify-ca",
        ] {
            let e = Dsn::parse(input).unwrap_err().to_string();
            assert!(!e.contains("hunter2"), "{input}: {e}");
        }
    }

    #[test]
    fn malformed_dsns_are_rejected() {
        assert_eq!(Dsn::parse("garbage"), Err(DsnError::Unrecognised));
        assert!(Dsn::parse("postgresql://h:99999/db").is_err());
        assert!(Dsn::parse("host=h port").is_err());
    }

    #[test]
    fn probe_targets_may_omit_the_scheme() {
        let d = Dsn::parse_target("db:5433/app?sslmode=disable").unwrap();
        assert_eq!(d.server_label(), "db:5433");
        assert_eq!(d.dbname.as_deref(), Some("app"));
    }

    #[test]
    fn unix_socket_hosts_work() {
        let d = Dsn::parse("host=/run/postgresql port=5433 user=postgres").unwrap();
        assert_eq!(d.server_label(), "/run/postgresql:5433");
        let u = Dsn::parse("postgresql://postgres@/db?host=/tmp/x").unwrap();
        assert_eq!(u.host, "/tmp/x");
    }
}
