//! `--collector.textfile.directory`: `*.prom` files in the text format, merged into the scrape,
//! plus `node_textfile_mtime_seconds{file}` and `node_textfile_scrape_error`.

use mcp_exporter_core::MetricSet;
use mcp_exporter_core::collector::CollectError;
use mcp_exporter_core::encoder::{MetricType, Value};

use crate::Host;

/// `(name, labels, value)` of one sample line.
pub type Sample = (String, Vec<(String, String)>, f64);

/// Parses one sample line `name{k="v",...} value [ts]`.
pub fn parse_sample(line: &str) -> Option<Sample> {
    let line = line.trim();
    let name_end = line.find(|c: char| c == '{' || c.is_whitespace())?;
    let name = &line[..name_end];
    let mut rest = &line[name_end..];
    let mut labels = Vec::new();
    if let Some(body) = rest.strip_prefix('{') {
        let mut chars = body.char_indices().peekable();
        let end;
        loop {
            while chars
                .peek()
                .is_some_and(|(_, c)| *c == ',' || c.is_whitespace())
            {
                chars.next();
            }
            match chars.peek() {
                Some((i, '}')) => {
                    end = *i;
                    break;
                }
                None => return None,
                _ => {}
            }
            let mut key = String::new();
            for (_, c) in chars.by_ref() {
                if c == '=' {
                    break;
                }
                key.push(c);
            }
            if chars.next().map(|(_, c)| c) != Some('"') {
                return None;
            }
            let mut val = String::new();
            loop {
                match chars.next()? {
                    (_, '\\') => match chars.next()? {
                        (_, 'n') => val.push('\n'),
                        (_, c) => val.push(c),
                    },
                    (_, '"') => break,
                    (_, c) => val.push(c),
                }
            }
            labels.push((key.trim().to_owned(), val));
        }
        rest = &body[end + 1..];
    }
    let value = rest.split_ascii_whitespace().next()?;
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        "NaN" => f64::NAN,
        v => v.parse().ok()?,
    };
    (!name.is_empty()).then(|| (name.to_owned(), labels, value))
}

/// Writes the textfile families.
pub fn collect(host: &Host, out: &mut MetricSet) -> Result<(), CollectError> {
    let mut error = 0.0;
    if let Some(dir) = &host.textfile_dir {
        match std::fs::read_dir(dir) {
            Ok(entries) => {
                let mut files: Vec<_> = entries
                    .filter_map(Result::ok)
                    .map(|e| e.path())
                    .filter(|p| p.extension().is_some_and(|e| e == "prom"))
                    .collect();
                files.sort();
                for path in files {
                    let Ok(text) = crate::read_uncached(&path) else {
                        error = 1.0;
                        continue;
                    };
                    let mut types = std::collections::HashMap::new();
                    let mut helps = std::collections::HashMap::new();
                    for line in text.lines() {
                        if let Some(rest) = line.strip_prefix("# TYPE ") {
                            let mut it = rest.split_ascii_whitespace();
                            if let (Some(n), Some(t)) = (it.next(), it.next()) {
                                types.insert(n.to_owned(), t.to_owned());
                            }
                        } else if let Some(rest) = line.strip_prefix("# HELP ") {
                            if let Some((n, h)) = rest.split_once(' ') {
                                helps.insert(
                                    n.to_owned(),
                                    h.replace("\\n", "\n").replace("\\\\", "\\"),
                                );
                            }
                        } else if !line.starts_with('#') && !line.trim().is_empty() {
                            let Some((name, labels, v)) = parse_sample(line) else {
                                error = 1.0;
                                continue;
                            };
                            let kind = match types.get(&name).map(String::as_str) {
                                Some("counter") => MetricType::Counter,
                                Some("gauge") => MetricType::Gauge,
                                _ => MetricType::Untyped,
                            };
                            let help = helps
                                .get(&name)
                                .cloned()
                                .unwrap_or_else(|| format!("Metric read from {}", path.display()));
                            let labels = labels.into_iter().map(|(k, v)| (k.into(), v)).collect();
                            out.push(name.into(), help.into(), kind, labels, Value::Single(v));
                        }
                    }
                    if let Ok(mtime) = std::fs::metadata(&path).and_then(|m| m.modified()) {
                        let secs = mtime
                            .duration_since(std::time::UNIX_EPOCH)
                            .map(|d| d.as_secs_f64())
                            .unwrap_or(0.0);
                        let file = path
                            .file_name()
                            .map(|f| f.to_string_lossy().into_owned())
                            .unwrap_or_default();
                        out.gauge(
                            "node_textfile_mtime_seconds",
                            "Unixtime mtime of textfiles successfully read.",
                            &[("file", &file)],
                            secs,
                        );
                    }
                }
            }
            Err(_) => error = 1.0,
        }
    }
    out.gauge(
        "node_textfile_scrape_error",
        "1 if there was an error opening or reading a file, 0 otherwise",
        &[],
        error,
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::parse_sample;

    #[test]
    fn samples_parse_with_escapes() {
        assert_eq!(
            parse_sample(r#"job_last_success{job="backup \"db\"",host="a"} 1.7e9"#),
            Some((
                "job_last_success".into(),
                vec![
                    ("job".into(), "backup \"db\"".into()),
                    ("host".into(), "a".into())
                ],
                1.7e9
            ))
        );
        assert_eq!(parse_sample("plain 3"), Some(("plain".into(), vec![], 3.0)));
        assert_eq!(parse_sample("broken{a=\"x\" 1"), None);
    }

    proptest::proptest! {
        #[test]
        fn garbage_never_panics(s in ".*") {
            let _ = parse_sample(&s);
        }
    }
}
