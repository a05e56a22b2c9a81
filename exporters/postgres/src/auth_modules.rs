//! `--config.file`: postgres_exporter's `auth_modules` for `/probe?target=…&auth_module=…`.
//!
//! ```yaml
//! auth_modules:
//!   foo:
//!     type: userpass
//!     userpass: {username: monitor, password: secret}
//!     options: {sslmode: disable}
//! ```
//! Unknown keys are an error, as upstream's `KnownFields(true)`. Parse errors are shown without
//! quoted values so that a misplaced password cannot reach the terminal.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use crate::dsn::Dsn;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    auth_modules: BTreeMap<String, AuthModule>,
}

/// One auth module.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthModule {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    userpass: Option<UserPass>,
    #[serde(default)]
    options: BTreeMap<String, String>,
}

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct UserPass {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
}

impl std::fmt::Debug for AuthModule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthModule")
            .field("type", &self.kind)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

/// The loaded modules.
#[derive(Debug, Clone, Default)]
pub struct AuthModules {
    modules: BTreeMap<String, AuthModule>,
}

/// Why a `/probe` request is refused (HTTP 400, message as upstream's where it has one).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProbeError {
    /// No `target`.
    #[error("target is required")]
    NoTarget,
    /// Unknown module.
    #[error("auth_module {0} not found")]
    UnknownModule(String),
    /// A module without credentials or of another type.
    #[error("auth_module {0} is not a userpass module with username and password")]
    BadModule(String),
    /// The target is not a DSN.
    #[error("invalid target: {0}")]
    Target(String),
}

impl AuthModules {
    /// Loads and checks a file.
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
        Self::parse(&text)
    }

    /// Parses the YAML text.
    pub fn parse(text: &str) -> Result<Self, String> {
        let file: File = if text.trim().is_empty() {
            File::default()
        } else {
            mcp_exporter_core::yaml::from_str(text).map_err(|e| strip_quoted(&e))?
        };
        for (name, module) in &file.auth_modules {
            if module.kind != "userpass" {
                return Err(format!(
                    "auth_modules.{name}: unsupported type {:?} (only userpass)",
                    module.kind
                ));
            }
        }
        Ok(Self {
            modules: file.auth_modules,
        })
    }

    /// Number of modules.
    pub fn len(&self) -> usize {
        self.modules.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.modules.is_empty()
    }

    /// The DSN for `/probe?target=…&auth_module=…`.
    pub fn target_dsn(
        &self,
        target: Option<&str>,
        module: Option<&str>,
    ) -> Result<Dsn, ProbeError> {
        let target = target
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or(ProbeError::NoTarget)?;
        let mut dsn = Dsn::parse_target(target).map_err(|e| ProbeError::Target(e.to_string()))?;
        if let Some(name) = module.filter(|m| !m.is_empty()) {
            let m = self
                .modules
                .get(name)
                .ok_or_else(|| ProbeError::UnknownModule(name.to_owned()))?;
            let up = m
                .userpass
                .as_ref()
                .filter(|u| !u.username.is_empty() && !u.password.is_empty())
                .ok_or_else(|| ProbeError::BadModule(name.to_owned()))?;
            dsn.set_credentials(&up.username, &up.password);
            for (k, v) in &m.options {
                dsn.set_option(k, v)
                    .map_err(|e| ProbeError::Target(e.to_string()))?;
            }
        }
        Ok(dsn)
    }
}

/// Replaces every `"…"` or `'…'` segment of a parser message, which may quote a value.
fn strip_quoted(msg: &str) -> String {
    let mut out = String::with_capacity(msg.len());
    let mut quote: Option<char> = None;
    for c in msg.chars() {
        match quote {
            Some(q) if c == q => {
                out.push('…');
                out.push(c);
                quote = None;
            }
            Some(_) => {}
            None if c == '"' || c == '\'' => {
                out.push(c);
                quote = Some(c);
            }
            None => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "auth_modules:\n  foo:\n    type: userpass\n    userpass:\n      username: mon\n      password: pw1\n    options:\n      sslmode: disable\n  nopass:\n    type: userpass\n    userpass:\n      username: x\n";

    #[test]
    fn probe_targets_get_module_credentials() {
        let m = AuthModules::parse(FILE).unwrap();
        let d = m.target_dsn(Some("db:5432/app"), Some("foo")).unwrap();
        assert_eq!(d.user, "mon");
        assert_eq!(d.password(), Some("pw1"));
        assert_eq!(d.sslmode, crate::dsn::SslMode::Disable);
        assert_eq!(m.target_dsn(None, None), Err(ProbeError::NoTarget));
        assert_eq!(m.target_dsn(Some(""), None), Err(ProbeError::NoTarget));
        assert_eq!(
            m.target_dsn(Some("db"), Some("bar"))
                .unwrap_err()
                .to_string(),
            "auth_module bar not found"
        );
        assert!(matches!(
            m.target_dsn(Some("db"), Some("nopass")),
            Err(ProbeError::BadModule(_))
        ));
    }

    #[test]
    fn bad_files_are_rejected_without_quoting_values() {
        let e =
            AuthModules::parse("auth_modules:\n  foo:\n    type: userpass\n    pasword: hunter2\n")
                .unwrap_err();
        assert!(!e.contains("hunter2"), "{e}");
        let e = AuthModules::parse(
            "auth_modules:\n  foo:\n    type: userpass\n    userpass: hunter2\n",
        )
        .unwrap_err();
        assert!(!e.contains("hunter2"), "{e}");
        assert!(AuthModules::parse("auth_modules:\n  foo:\n    type: tls\n").is_err());
    }
}
