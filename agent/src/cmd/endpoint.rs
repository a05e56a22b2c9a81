//! The stack's endpoints as the operator commands reach them: one URL plus basic auth, bearer
//! token and TLS options per component, the same flags for every subcommand, and a blocking HTTP
//! client with a timeout on every call.
//!
//! Secrets come only from files (`--grafana-credentials-file` holding `user:password`,
//! `--prometheus-bearer-token-file`, ...), never from the command line, and a URL with
//! credentials in it is refused: what is on a command line is visible to every user of the host
//! (`ps`). No secret is ever part of an error or a row: errors name the redacted URL only.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Arg, ArgAction, ArgMatches, Command};

/// The components the commands talk to, with their compose ports on localhost.
pub const COMPONENTS: [(&str, &str, &str); 5] = [
    ("prometheus", "Prometheus", "http://localhost:9090"),
    ("alertmanager", "Alertmanager", "http://localhost:9093"),
    ("grafana", "Grafana", "http://localhost:3000"),
    ("loki", "Loki", "http://localhost:3100"),
    ("promtail", "Promtail", "http://localhost:9080"),
];

/// The agent's own ports (host, Redis, PostgreSQL exporters).
pub const AGENT_DEFAULT_URLS: &str =
    "http://localhost:9100,http://localhost:9121,http://localhost:9187";

/// Errors building an endpoint from its flags (all "could not run").
#[derive(Debug, thiserror::Error)]
pub enum EndpointError {
    /// The URL does not parse or is not http(s).
    #[error("--{flag}: {reason}")]
    Url {
        /// The flag.
        flag: String,
        /// Why.
        reason: String,
    },
    /// A secret or CA file cannot be read or is malformed; the message never holds its content.
    #[error("--{flag} {path}: {reason}")]
    File {
        /// The flag.
        flag: String,
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The HTTP client could not be built.
    #[error("{component}: cannot build the HTTP client: {reason}")]
    Client {
        /// Which endpoint.
        component: String,
        /// Why.
        reason: String,
    },
}

/// How to authenticate to one endpoint.
#[derive(Clone, Default)]
pub enum Auth {
    /// Nothing.
    #[default]
    None,
    /// HTTP basic auth.
    Basic {
        /// The user.
        user: String,
        /// The password (never printed).
        password: String,
    },
    /// `Authorization: Bearer`.
    Bearer(String),
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Auth::None => f.write_str("None"),
            Auth::Basic { user, .. } => write!(f, "Basic({user}, <redacted>)"),
            Auth::Bearer(_) => f.write_str("Bearer(<redacted>)"),
        }
    }
}

/// One component: where it is and how to reach it.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// `prometheus`, `grafana`, ...
    pub name: String,
    /// Base URL without a trailing slash.
    pub url: String,
    /// Credentials.
    pub auth: Auth,
    timeout: Duration,
    client: reqwest::blocking::Client,
}

/// The answer of a GET or POST: status and body (at most [`MAX_BODY`] bytes read).
#[derive(Debug)]
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// Body text (lossy UTF-8).
    pub body: String,
}

/// The most of a body read: a check never needs more, and a garbage endpoint cannot make us
/// buffer without bound.
pub const MAX_BODY: u64 = 16 << 20;

/// Why an HTTP call gave no answer, told apart the way an operator needs it.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// The host name did not resolve.
    #[error("DNS: cannot resolve {host}: {reason}")]
    Dns {
        /// The host.
        host: String,
        /// The resolver's message.
        reason: String,
    },
    /// Nothing listens there.
    #[error("connection refused by {addr}")]
    Refused {
        /// host:port.
        addr: String,
    },
    /// No answer in time.
    #[error("timed out after {secs:.1} s ({url})")]
    Timeout {
        /// The timeout.
        secs: f64,
        /// The redacted URL.
        url: String,
    },
    /// The connection could not be made for another reason (unreachable network, TLS
    /// handshake, ...), told by reqwest's error kind.
    #[error("{reason} ({url})")]
    Connect {
        /// What happened, without the URL.
        reason: String,
        /// The redacted URL.
        url: String,
    },
    /// Anything else (reset mid-answer, a body that cannot be read, ...).
    #[error("{reason} ({url})")]
    Other {
        /// What happened, without the URL.
        reason: String,
        /// The redacted URL.
        url: String,
    },
}

impl CallError {
    /// The endpoint could not be reached at all (DNS, refused, timeout, any other connect
    /// failure): for the endpoint a command is about, that is "could not run" (exit 2), decided
    /// by the error's kind, never by its text.
    pub fn is_unreachable(&self) -> bool {
        matches!(
            self,
            CallError::Dns { .. }
                | CallError::Refused { .. }
                | CallError::Timeout { .. }
                | CallError::Connect { .. }
        )
    }
}

/// Why a JSON GET gave no usable document: no answer at all, or an answer that is not one.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// No answer (see [`CallError::is_unreachable`]).
    #[error(transparent)]
    Call(#[from] CallError),
    /// A non-2xx status or a body that is not JSON; the message names the path and the status.
    #[error("{0}")]
    Answer(String),
}

impl FetchError {
    /// The endpoint could not be reached at all (not: it answered garbage).
    pub fn is_unreachable(&self) -> bool {
        matches!(self, FetchError::Call(c) if c.is_unreachable())
    }
}

impl Endpoint {
    /// Builds an endpoint; the client has `timeout` on every call (connect included).
    pub fn new(
        name: &str,
        url: &str,
        auth: Auth,
        tls: &Tls,
        timeout: Duration,
    ) -> Result<Self, EndpointError> {
        let url_flag = format!("{name}-url");
        let parsed = url::Url::parse(url).map_err(|e| EndpointError::Url {
            flag: url_flag.clone(),
            reason: format!("{e}"),
        })?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(EndpointError::Url {
                flag: url_flag,
                reason: format!("scheme {:?} is not http or https", parsed.scheme()),
            });
        }
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(EndpointError::Url {
                flag: url_flag,
                reason: format!(
                    "credentials in the URL are refused; use --{name}-credentials-file"
                ),
            });
        }
        if parsed.host_str().is_none() {
            return Err(EndpointError::Url {
                flag: url_flag,
                reason: "no host".to_owned(),
            });
        }
        let mut builder = reqwest::blocking::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::limited(3))
            .user_agent(concat!("mcp-agent/", env!("CARGO_PKG_VERSION")));
        if let Some(path) = &tls.ca_file {
            let pem = std::fs::read(path).map_err(|e| EndpointError::File {
                flag: format!("{name}-ca-file"),
                path: path.clone(),
                reason: e.to_string(),
            })?;
            let certs =
                reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| EndpointError::File {
                    flag: format!("{name}-ca-file"),
                    path: path.clone(),
                    reason: format!("not a PEM certificate bundle: {}", e.without_url()),
                })?;
            if certs.is_empty() {
                return Err(EndpointError::File {
                    flag: format!("{name}-ca-file"),
                    path: path.clone(),
                    reason: "no certificate in the file".to_owned(),
                });
            }
            for cert in certs {
                builder = builder.add_root_certificate(cert);
            }
        }
        if tls.insecure_skip_verify {
            builder = builder.danger_accept_invalid_certs(true);
        }
        let client = builder.build().map_err(|e| EndpointError::Client {
            component: name.to_owned(),
            reason: e.without_url().to_string(),
        })?;
        Ok(Self {
            name: name.to_owned(),
            url: url.trim_end_matches('/').to_owned(),
            auth,
            timeout,
            client,
        })
    }

    /// `GET base+path`.
    pub fn get(&self, path: &str) -> Result<Answer, CallError> {
        self.send(self.client.get(format!("{}{path}", self.url)), path)
    }

    /// `GET base+path` with query parameters.
    pub fn get_query(&self, path: &str, query: &[(&str, &str)]) -> Result<Answer, CallError> {
        self.send(
            self.client.get(format!("{}{path}", self.url)).query(query),
            path,
        )
    }

    /// `POST base+path` with a JSON body.
    pub fn post_json(&self, path: &str, body: &serde_json::Value) -> Result<Answer, CallError> {
        self.send(
            self.client
                .post(format!("{}{path}", self.url))
                .header("content-type", "application/json")
                .body(body.to_string()),
            path,
        )
    }

    /// A GET with extra headers.
    pub fn get_with_headers(
        &self,
        path: &str,
        headers: &[(&str, &str)],
    ) -> Result<Answer, CallError> {
        let mut req = self.client.get(format!("{}{path}", self.url));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        self.send(req, path)
    }

    fn send(
        &self,
        req: reqwest::blocking::RequestBuilder,
        path: &str,
    ) -> Result<Answer, CallError> {
        let req = match &self.auth {
            Auth::None => req,
            Auth::Basic { user, password } => req.basic_auth(user, Some(password)),
            Auth::Bearer(token) => req.bearer_auth(token),
        };
        let shown = format!("{}{}", self.url, path.split('?').next().unwrap_or(path));
        let res = req.send().map_err(|e| classify(&e, &shown, self.timeout))?;
        let status = res.status().as_u16();
        let mut body = Vec::new();
        use std::io::Read as _;
        res.take(MAX_BODY)
            .read_to_end(&mut body)
            .map_err(|e| CallError::Other {
                reason: format!("reading the body: {e}"),
                url: shown.clone(),
            })?;
        Ok(Answer {
            status,
            body: String::from_utf8_lossy(&body).into_owned(),
        })
    }

    /// GET and parse JSON; a non-2xx status or garbage is an error string fit for a row.
    pub fn get_json(
        &self,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<serde_json::Value, String> {
        self.fetch_json(path, query).map_err(|e| e.to_string())
    }

    /// [`get_json`](Self::get_json) with the error kept typed, for callers that tell "could not
    /// reach it" from "it answered garbage".
    pub fn fetch_json(
        &self,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<serde_json::Value, FetchError> {
        let answer = self.get_query(path, query)?;
        answer.json(path).map_err(FetchError::Answer)
    }
}

impl Answer {
    /// The body as JSON when the status is 2xx; otherwise an error naming the status and the
    /// start of the body.
    pub fn json(&self, path: &str) -> Result<serde_json::Value, String> {
        if !(200..300).contains(&self.status) {
            return Err(format!(
                "{path} answered HTTP {}: {}",
                self.status,
                snippet(&self.body)
            ));
        }
        serde_json::from_str(&self.body).map_err(|e| {
            format!(
                "{path} answered invalid JSON ({e}): {}",
                snippet(&self.body)
            )
        })
    }
}

/// The first line of a body, at most 120 characters, for an error message.
pub fn snippet(body: &str) -> String {
    let line = body
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("");
    let mut out: String = line.chars().take(120).collect();
    if line.chars().count() > 120 {
        out.push('…');
    }
    if out.is_empty() {
        out.push_str("(empty body)");
    }
    out
}

/// Sorts a reqwest error into DNS / refused / timeout / connect / other. The kind comes from
/// reqwest (`is_timeout`, `is_connect`) and the io errors in the source chain; only DNS is told
/// apart from other connect failures by the resolver's message, which has no typed kind (and is
/// a connect error either way, so [`CallError::is_unreachable`] does not depend on that text).
fn classify(error: &reqwest::Error, url: &str, timeout: Duration) -> CallError {
    let host_port = url::Url::parse(url)
        .ok()
        .map(|u| {
            format!(
                "{}:{}",
                u.host_str().unwrap_or(""),
                u.port_or_known_default().unwrap_or(0)
            )
        })
        .unwrap_or_default();
    if error.is_timeout() {
        return CallError::Timeout {
            secs: timeout.as_secs_f64(),
            url: url.to_owned(),
        };
    }
    let mut chain = Vec::new();
    let mut source: Option<&dyn std::error::Error> = Some(error);
    while let Some(e) = source {
        chain.push(e.to_string());
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            match io.kind() {
                std::io::ErrorKind::ConnectionRefused => {
                    return CallError::Refused { addr: host_port };
                }
                std::io::ErrorKind::TimedOut => {
                    return CallError::Timeout {
                        secs: timeout.as_secs_f64(),
                        url: url.to_owned(),
                    };
                }
                _ => {}
            }
        }
        source = e.source();
    }
    let all = chain.join(": ");
    if all.contains("dns error") || all.contains("failed to lookup address") {
        let reason = chain.last().cloned().unwrap_or_default();
        return CallError::Dns {
            host: host_port
                .rsplit_once(':')
                .map(|(h, _)| h.to_owned())
                .unwrap_or(host_port),
            reason,
        };
    }
    let reason = chain.iter().skip(1).cloned().collect::<Vec<_>>().join(": ");
    let reason = if reason.is_empty() {
        error.without_url_string()
    } else {
        reason
    };
    if error.is_connect() {
        return CallError::Connect {
            reason,
            url: url.to_owned(),
        };
    }
    CallError::Other {
        reason,
        url: url.to_owned(),
    }
}

trait WithoutUrl {
    fn without_url_string(&self) -> String;
}

impl WithoutUrl for reqwest::Error {
    fn without_url_string(&self) -> String {
        let mut s = self.to_string();
        if let Some(u) = self.url() {
            s = s.replace(u.as_str(), "");
        }
        s.trim().trim_end_matches(" ()").to_owned()
    }
}

/// TLS options of one endpoint.
#[derive(Debug, Clone, Default)]
pub struct Tls {
    /// Extra CA bundle (PEM).
    pub ca_file: Option<PathBuf>,
    /// Accept any certificate.
    pub insecure_skip_verify: bool,
}

/// Every endpoint, from the shared flags.
#[derive(Debug, Clone)]
pub struct Endpoints {
    /// Prometheus.
    pub prometheus: Endpoint,
    /// Alertmanager.
    pub alertmanager: Endpoint,
    /// Grafana.
    pub grafana: Endpoint,
    /// Loki.
    pub loki: Endpoint,
    /// Promtail.
    pub promtail: Endpoint,
    /// `--promtail-url` was given: Promtail is the fallback log collector (the agent collects
    /// logs by default), so it is checked only when asked for.
    pub promtail_asked: bool,
    /// The agent's ports.
    pub agent: Vec<Endpoint>,
    /// The per-call timeout.
    pub timeout: Duration,
}

/// Adds the shared endpoint flags to a subcommand.
pub fn add_flags(mut cmd: Command) -> Command {
    for (name, title, default) in COMPONENTS {
        cmd = add_component(cmd, name, title, Some(default), false);
    }
    cmd = add_component(cmd, "agent", "the mcp-agent", None, true);
    cmd.arg(
        Arg::new("http-timeout")
            .long("http-timeout")
            .value_name("DURATION")
            .default_value("5s")
            .value_parser(mcp_exporter_core::web::parse_duration)
            .help("Timeout of every HTTP call and TCP connect")
            .help_heading("Endpoints"),
    )
}

fn add_component(
    cmd: Command,
    name: &'static str,
    title: &str,
    default: Option<&'static str>,
    many: bool,
) -> Command {
    let url = Arg::new(format!("{name}-url"))
        .long(format!("{name}-url"))
        .value_name("URL")
        .help_heading("Endpoints");
    let url = if many {
        url.default_value(AGENT_DEFAULT_URLS)
            .value_delimiter(',')
            .action(ArgAction::Append)
            .help(format!("Base URLs of {title}'s ports (comma-separated)"))
    } else {
        url.default_value(default.unwrap_or(""))
            .help(format!("Base URL of {title}"))
    };
    cmd.arg(url)
        .arg(
            Arg::new(format!("{name}-credentials-file"))
                .long(format!("{name}-credentials-file"))
                .value_name("FILE")
                .value_parser(clap::value_parser!(PathBuf))
                .conflicts_with(format!("{name}-bearer-token-file"))
                .help(format!(
                    "File holding user:password for basic auth to {title}"
                ))
                .help_heading("Endpoints"),
        )
        .arg(
            Arg::new(format!("{name}-bearer-token-file"))
                .long(format!("{name}-bearer-token-file"))
                .value_name("FILE")
                .value_parser(clap::value_parser!(PathBuf))
                .help(format!("File holding a bearer token for {title}"))
                .help_heading("Endpoints"),
        )
        .arg(
            Arg::new(format!("{name}-ca-file"))
                .long(format!("{name}-ca-file"))
                .value_name("FILE")
                .value_parser(clap::value_parser!(PathBuf))
                .help(format!("PEM CA bundle to verify {title}'s certificate"))
                .help_heading("Endpoints"),
        )
        .arg(
            Arg::new(format!("{name}-insecure-skip-verify"))
                .long(format!("{name}-insecure-skip-verify"))
                .action(ArgAction::SetTrue)
                .help(format!("Do not verify {title}'s TLS certificate"))
                .help_heading("Endpoints"),
        )
}

/// Reads the endpoints from the flags added by [`add_flags`].
pub fn from_matches(m: &ArgMatches) -> Result<Endpoints, EndpointError> {
    let timeout = m
        .get_one::<Duration>("http-timeout")
        .copied()
        .unwrap_or(Duration::from_secs(5));
    let one = |name: &str| -> Result<Endpoint, EndpointError> {
        let url = m
            .get_one::<String>(&format!("{name}-url"))
            .cloned()
            .unwrap_or_default();
        let (auth, tls) = auth_tls(m, name)?;
        Endpoint::new(name, &url, auth, &tls, timeout)
    };
    let (agent_auth, agent_tls) = auth_tls(m, "agent")?;
    let agent = m
        .get_many::<String>("agent-url")
        .into_iter()
        .flatten()
        .filter(|u| !u.trim().is_empty())
        .map(|u| Endpoint::new("agent", u.trim(), agent_auth.clone(), &agent_tls, timeout))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Endpoints {
        prometheus: one("prometheus")?,
        alertmanager: one("alertmanager")?,
        grafana: one("grafana")?,
        loki: one("loki")?,
        promtail: one("promtail")?,
        promtail_asked: m.value_source("promtail-url")
            == Some(clap::parser::ValueSource::CommandLine),
        agent,
        timeout,
    })
}

fn auth_tls(m: &ArgMatches, name: &str) -> Result<(Auth, Tls), EndpointError> {
    let auth = if let Some(path) = m.get_one::<PathBuf>(&format!("{name}-credentials-file")) {
        let flag = format!("{name}-credentials-file");
        let text = read_secret(&flag, path)?;
        let (user, password) = text.split_once(':').ok_or_else(|| EndpointError::File {
            flag: flag.clone(),
            path: path.clone(),
            reason: "expected one line user:password".to_owned(),
        })?;
        if user.is_empty() {
            return Err(EndpointError::File {
                flag,
                path: path.clone(),
                reason: "empty user name".to_owned(),
            });
        }
        Auth::Basic {
            user: user.to_owned(),
            password: password.to_owned(),
        }
    } else if let Some(path) = m.get_one::<PathBuf>(&format!("{name}-bearer-token-file")) {
        Auth::Bearer(read_secret(&format!("{name}-bearer-token-file"), path)?)
    } else {
        Auth::None
    };
    let tls = Tls {
        ca_file: m.get_one::<PathBuf>(&format!("{name}-ca-file")).cloned(),
        insecure_skip_verify: m.get_flag(&format!("{name}-insecure-skip-verify")),
    };
    Ok((auth, tls))
}

/// A secret file's content without the trailing newline; the error never quotes the content.
fn read_secret(flag: &str, path: &std::path::Path) -> Result<String, EndpointError> {
    let text = std::fs::read_to_string(path).map_err(|e| EndpointError::File {
        flag: flag.to_owned(),
        path: path.to_owned(),
        reason: e.to_string(),
    })?;
    let text = text.trim_end_matches(['\r', '\n']);
    if text.is_empty() || text.contains('\n') {
        return Err(EndpointError::File {
            flag: flag.to_owned(),
            path: path.to_owned(),
            reason: "expected exactly one non-empty line".to_owned(),
        });
    }
    Ok(text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(args: &[&str]) -> Result<Endpoints, EndpointError> {
        let cmd = add_flags(Command::new("t"));
        let mut all = vec!["t"];
        all.extend_from_slice(args);
        from_matches(&cmd.try_get_matches_from(all).unwrap())
    }

    #[test]
    fn defaults_are_the_compose_ports_and_secrets_come_from_files() {
        let e = m(&[]).unwrap();
        assert_eq!(e.prometheus.url, "http://localhost:9090");
        assert_eq!(e.promtail.url, "http://localhost:9080");
        assert_eq!(e.agent.len(), 3);
        assert!(
            m(&["--grafana-url", "http://admin:pw@localhost:3000"])
                .unwrap_err()
                .to_string()
                .contains("credentials-file")
        );
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("c");
        std::fs::write(&f, "admin:s3cret\n").unwrap();
        let e = m(&["--grafana-credentials-file", f.to_str().unwrap()]).unwrap();
        assert!(
            matches!(&e.grafana.auth, Auth::Basic { user, password } if user == "admin" && password == "s3cret")
        );
        assert!(!format!("{e:?}").contains("s3cret"));
        std::fs::write(&f, "nocolon\n").unwrap();
        let err = m(&["--grafana-credentials-file", f.to_str().unwrap()]).unwrap_err();
        assert!(!err.to_string().contains("nocolon"), "{err}");
        assert!(m(&["--loki-url", "ftp://x"]).is_err());
    }
}
