//! YAML config files, read one way everywhere (web config, auth modules, the agent's file).
//!
//! serde-saphyr is pure Rust and does not panic on hostile input. Its errors can render a source
//! snippet, which could quote a secret from the file (a password on the offending line), and
//! would break the one-line error rule; so only the message with its line and column is kept.

/// Parses `text` as `T`; the error is one line (`line L column C: what`), without file content.
pub fn from_str<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, String> {
    serde_saphyr::from_str(text).map_err(|e| {
        let msg = e.without_snippet().to_string();
        let msg = msg.lines().next().unwrap_or("invalid YAML").trim();
        msg.strip_prefix("error: ").unwrap_or(msg).to_owned()
    })
}

#[cfg(test)]
mod tests {
    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Cfg {
        user: String,
    }

    #[test]
    fn errors_are_one_line_without_the_file_content() {
        let err = super::from_str::<Cfg>("user: a\npasword: hunter2\n").unwrap_err();
        assert!(!err.contains('\n'), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
        assert!(err.contains("pasword") && err.contains("line 2"), "{err}");
        assert!(super::from_str::<Cfg>("user: [1\n").is_err());
    }
}
