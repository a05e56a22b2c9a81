//! Lifting fields of JSON or logfmt lines to stream labels, with a bound on distinct values per
//! label: a field such as a request id must not create a Loki stream per line, so past the bound
//! the value becomes `__overflow__` and the overflow is counted.

use std::collections::{BTreeMap, BTreeSet};

use super::config::{ParseConfig, ParseFormat};

/// The value that replaces a label value past the bound.
pub const OVERFLOW: &str = "__overflow__";

/// The per-target state of a [`ParseConfig`].
#[derive(Debug)]
pub struct Lifter {
    cfg: ParseConfig,
    seen: BTreeMap<String, BTreeSet<String>>,
    /// Values replaced by [`OVERFLOW`].
    pub overflowed: u64,
}

impl Lifter {
    /// For one target.
    pub fn new(cfg: ParseConfig) -> Self {
        Self {
            cfg,
            seen: BTreeMap::new(),
            overflowed: 0,
        }
    }

    /// The labels this line lifts (absent fields are left out), bounded.
    pub fn lift(&mut self, line: &str) -> Vec<(String, String)> {
        let fields = match self.cfg.format {
            ParseFormat::Json => json_fields(line, &self.cfg.labels),
            ParseFormat::Logfmt => logfmt_fields(line, &self.cfg.labels),
        };
        let mut out = Vec::with_capacity(fields.len());
        for (k, v) in fields {
            let seen = self.seen.entry(k.clone()).or_default();
            let v = if seen.contains(&v) || seen.len() < self.cfg.max_values_per_label {
                seen.insert(v.clone());
                v
            } else {
                self.overflowed += 1;
                OVERFLOW.to_owned()
            };
            out.push((k, v));
        }
        out
    }
}

fn json_fields(line: &str, wanted: &[String]) -> Vec<(String, String)> {
    let Ok(serde_json::Value::Object(map)) = serde_json::from_str::<serde_json::Value>(line) else {
        return Vec::new();
    };
    wanted
        .iter()
        .filter_map(|k| {
            let v = map.get(k)?;
            let v = match v {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Number(n) => n.to_string(),
                serde_json::Value::Bool(b) => b.to_string(),
                _ => return None,
            };
            Some((k.clone(), v))
        })
        .collect()
}

fn logfmt_fields(line: &str, wanted: &[String]) -> Vec<(String, String)> {
    let mut found = BTreeMap::new();
    let mut rest = line.trim_start();
    while !rest.is_empty() {
        let key_end = rest
            .find(|c: char| c == '=' || c.is_whitespace())
            .unwrap_or(rest.len());
        let key = &rest[..key_end];
        rest = &rest[key_end..];
        let value = if let Some(r) = rest.strip_prefix('=') {
            if let Some(q) = r.strip_prefix('"') {
                let mut v = String::new();
                let mut chars = q.char_indices();
                let mut end = q.len();
                while let Some((i, c)) = chars.next() {
                    match c {
                        '\\' => {
                            if let Some((_, n)) = chars.next() {
                                v.push(n);
                            }
                        }
                        '"' => {
                            end = i + 1;
                            break;
                        }
                        c => v.push(c),
                    }
                }
                rest = &q[end.min(q.len())..];
                v
            } else {
                let end = r.find(char::is_whitespace).unwrap_or(r.len());
                rest = &r[end..];
                r[..end].to_owned()
            }
        } else {
            String::new()
        };
        if !key.is_empty() && wanted.iter().any(|w| w == key) {
            found.entry(key.to_owned()).or_insert(value);
        }
        rest = rest.trim_start();
    }
    wanted
        .iter()
        .filter_map(|k| found.remove(k).map(|v| (k.clone(), v)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(format: ParseFormat, max: usize) -> ParseConfig {
        ParseConfig {
            format,
            labels: vec!["level".into(), "code".into()],
            max_values_per_label: max,
        }
    }

    #[test]
    fn json_and_logfmt_fields_become_labels() {
        let mut j = Lifter::new(cfg(ParseFormat::Json, 10));
        assert_eq!(
            j.lift(r#"{"level":"warn","code":503,"msg":"x"}"#),
            vec![
                ("level".into(), "warn".into()),
                ("code".into(), "503".into())
            ]
        );
        assert!(j.lift("not json").is_empty());
        let mut l = Lifter::new(cfg(ParseFormat::Logfmt, 10));
        assert_eq!(
            l.lift(r#"ts=1 level="very bad" msg="a \"q\"" code=7"#),
            vec![
                ("level".into(), "very bad".into()),
                ("code".into(), "7".into())
            ]
        );
    }

    #[test]
    fn values_past_the_bound_overflow_and_are_counted() {
        let mut j = Lifter::new(cfg(ParseFormat::Json, 2));
        for code in ["1", "2", "1", "3", "4"] {
            j.lift(&format!(r#"{{"code":"{code}"}}"#));
        }
        assert_eq!(j.overflowed, 2);
        assert_eq!(
            j.lift(r#"{"code":"9"}"#),
            vec![("code".into(), OVERFLOW.into())]
        );
    }
}
