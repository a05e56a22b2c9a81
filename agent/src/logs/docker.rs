//! Docker's json-file log driver: container discovery from the Docker root, and the decoding of
//! its log records, including the partial records Docker writes for lines over 16 KiB.
//!
//! Discovery reads `<root>/containers/<id>/config.v2.json` (the container's name, image and
//! labels) instead of asking the Docker API: the agent needs only a read-only mount of the
//! root, no socket, which would give it control of every container.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// A container found under the root.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Container {
    /// The container id (its directory name).
    pub id: String,
    /// The name without Docker's leading `/`.
    pub name: String,
    /// The image reference.
    pub image: String,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
    /// `<root>/containers/<id>/<id>-json.log`.
    pub log_path: PathBuf,
}

impl Container {
    /// The stream labels (without `stream`, which each record carries).
    pub fn stream_labels(&self, host: &str) -> Vec<(String, String)> {
        let mut out = vec![("container_name".to_owned(), self.name.clone())];
        if let Some(s) = self.labels.get("com.docker.compose.service") {
            out.push(("compose_service".to_owned(), s.clone()));
        }
        if let Some(p) = self.labels.get("com.docker.compose.project") {
            out.push(("compose_project".to_owned(), p.clone()));
        }
        out.push(("host".to_owned(), host.to_owned()));
        out
    }
}

#[derive(Deserialize)]
struct ConfigV2 {
    #[serde(rename = "Name", default)]
    name: String,
    #[serde(rename = "Config", default)]
    config: Option<InnerConfig>,
}

#[derive(Deserialize, Default)]
struct InnerConfig {
    #[serde(rename = "Image", default)]
    image: String,
    #[serde(rename = "Labels", default)]
    labels: Option<BTreeMap<String, String>>,
}

/// Reads one container's directory; `None` when it is not (or no longer) a container with a
/// json-file log.
pub fn read_container(dir: &Path) -> Option<Container> {
    let id = dir.file_name()?.to_str()?.to_owned();
    let text = std::fs::read(dir.join("config.v2.json")).ok()?;
    let cfg: ConfigV2 = serde_json::from_slice(&text).ok()?;
    let inner = cfg.config.unwrap_or_default();
    let name = cfg.name.trim_start_matches('/').to_owned();
    Some(Container {
        log_path: dir.join(format!("{id}-json.log")),
        name: if name.is_empty() {
            id.chars().take(12).collect()
        } else {
            name
        },
        id,
        image: inner.image,
        labels: inner.labels.unwrap_or_default(),
    })
}

/// Every container under `<root>/containers`, by id.
pub fn discover(root: &Path) -> std::io::Result<BTreeMap<String, Container>> {
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(root.join("containers"))? {
        let Ok(entry) = entry else { continue };
        if let Some(c) = read_container(&entry.path()) {
            out.insert(c.id.clone(), c);
        }
    }
    Ok(out)
}

/// Whether `labels` carry `selector` (`key=value`, or `key` for any value).
pub fn has_label(labels: &BTreeMap<String, String>, selector: &str) -> bool {
    match selector.split_once('=') {
        Some((k, v)) => labels.get(k.trim()).is_some_and(|have| have == v.trim()),
        None => labels.contains_key(selector.trim()),
    }
}

/// One json-file record, borrowing from the line where no JSON escape had to be undone (the
/// stream and the time always; the text when it holds no quote or backslash).
#[derive(Debug, Deserialize)]
pub struct Record<'a> {
    /// The text, with its `\n` when the line ended (without it for a partial record).
    #[serde(borrow)]
    pub log: Cow<'a, str>,
    /// `stdout` or `stderr`.
    #[serde(default, borrow)]
    pub stream: Cow<'a, str>,
    /// RFC 3339 with nanoseconds, UTC.
    #[serde(default, borrow)]
    pub time: Cow<'a, str>,
}

/// Parses a record; `None` for a line that is not one (counted by the caller).
pub fn parse_record(line: &[u8]) -> Option<Record<'_>> {
    docker_layout(line).or_else(|| serde_json::from_slice(line).ok())
}

/// The record as dockerd writes every one of them, `{"log":"…","stream":"…","time":"…"}` (Go's
/// encoding/json, these fields in this order, no spaces), decoded in one pass over the line;
/// `None` for anything else (an `attrs` field, another order, an escape this does not take),
/// which [`parse_record`] hands to serde_json. serde_json's general path cost the collector
/// about a third of its CPU on JSON application lines, whose every `"` Docker escapes again.
fn docker_layout(line: &[u8]) -> Option<Record<'_>> {
    let rest = line.strip_prefix(br#"{"log":""#)?;
    let (log, rest) = json_string(rest)?;
    let rest = rest.strip_prefix(br#","stream":""#)?;
    let (stream, rest) = plain_string(rest)?;
    let rest = rest.strip_prefix(br#","time":""#)?;
    let (time, rest) = plain_string(rest)?;
    if rest != b"}" {
        return None;
    }
    Some(Record {
        log,
        stream: Cow::Borrowed(stream),
        time: Cow::Borrowed(time),
    })
}

/// A JSON string without escapes up to its closing quote, and what follows the quote.
fn plain_string(b: &[u8]) -> Option<(&str, &[u8])> {
    let end = b
        .iter()
        .position(|&c| c == b'"' || c == b'\\' || c < 0x20)?;
    if b[end] != b'"' {
        return None;
    }
    Some((std::str::from_utf8(&b[..end]).ok()?, &b[end + 1..]))
}

/// A JSON string's contents up to its closing quote, unescaped (borrowed when it holds no
/// escape), and what follows the quote. `None` on anything serde_json should judge instead.
fn json_string(b: &[u8]) -> Option<(Cow<'_, str>, &[u8])> {
    let special = |c: u8| c == b'"' || c == b'\\' || c < 0x20;
    let first = b.iter().position(|&c| special(c))?;
    if b[first] == b'"' {
        return Some((
            Cow::Borrowed(std::str::from_utf8(&b[..first]).ok()?),
            &b[first + 1..],
        ));
    }
    let mut out: Vec<u8> = Vec::with_capacity(b.len());
    let mut i = 0;
    loop {
        let at = i + b[i..].iter().position(|&c| special(c))?;
        out.extend_from_slice(&b[i..at]);
        match b[at] {
            b'"' => {
                let text = String::from_utf8(out).ok()?;
                return Some((Cow::Owned(text), &b[at + 1..]));
            }
            b'\\' => {
                let esc = *b.get(at + 1)?;
                i = at + 2;
                let c = match esc {
                    b'"' => b'"',
                    b'\\' => b'\\',
                    b'/' => b'/',
                    b'n' => b'\n',
                    b't' => b'\t',
                    b'r' => b'\r',
                    b'b' => 0x08,
                    b'f' => 0x0c,
                    b'u' => {
                        let hex = |j: usize| -> Option<u32> {
                            let h = std::str::from_utf8(b.get(j..j + 4)?).ok()?;
                            u32::from_str_radix(h, 16).ok()
                        };
                        let mut cp = hex(at + 2)?;
                        i = at + 6;
                        if (0xD800..0xDC00).contains(&cp) {
                            // A surrogate pair: the low half must follow as \uDC00–\uDFFF.
                            if b.get(i..i + 2)? != b"\\u" {
                                return None;
                            }
                            let low = hex(i + 2)?;
                            if !(0xDC00..0xE000).contains(&low) {
                                return None;
                            }
                            cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
                            i += 6;
                        }
                        let ch = char::from_u32(cp)?;
                        let mut buf = [0u8; 4];
                        out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                        continue;
                    }
                    _ => return None,
                };
                out.push(c);
            }
            // A raw control character: not JSON.
            _ => return None,
        }
    }
}

/// `2024-05-01T10:00:00.123456789Z` (or with an offset) → (seconds, nanos) since the epoch.
pub fn parse_rfc3339(s: &str) -> Option<(i64, i32)> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || (b[10] != b'T' && b[10] != b' ') {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> { s.get(r)?.parse().ok() };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, se) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    let mut i = 19;
    let mut nanos: i64 = 0;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        let digits = &s[start..i];
        if digits.is_empty() {
            return None;
        }
        let kept = &digits[..digits.len().min(9)];
        nanos = kept.parse::<i64>().ok()? * 10_i64.pow(9 - kept.len() as u32);
    }
    let offset = match b.get(i) {
        Some(b'Z' | b'z') if i + 1 == b.len() => 0,
        Some(sign @ (b'+' | b'-')) if b.len() == i + 6 && b[i + 3] == b':' => {
            let oh = num(i + 1..i + 3)?;
            let om = num(i + 4..i + 6)?;
            let off = oh * 3600 + om * 60;
            if *sign == b'+' { off } else { -off }
        }
        _ => return None,
    };
    let days = days_from_civil(y, mo, d);
    let secs = days * 86_400 + h * 3600 + mi * 60 + se - offset;
    Some((secs, nanos as i32))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_timestamps_parse_with_nanoseconds_and_offsets() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some((0, 0)));
        assert_eq!(
            parse_rfc3339("2024-05-01T10:00:00.123456789Z"),
            Some((1_714_557_600, 123_456_789))
        );
        assert_eq!(
            parse_rfc3339("2024-05-01T12:00:00.5+02:00"),
            Some((1_714_557_600, 500_000_000))
        );
        assert_eq!(
            parse_rfc3339("2000-02-29T00:00:00Z"),
            Some((951_782_400, 0))
        );
        for bad in [
            "",
            "2024-13-01T00:00:00Z",
            "2024-05-01T10:00:00",
            "garbage-garbage-x",
            "2024-05-01T10:00:00.Z",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }

    #[test]
    fn docker_layout_decodes_like_serde_json() {
        // Every escape Docker's Go encoder writes (`<`, `>`, `&` as \u00XX, control characters,
        // U+2028, invalid UTF-8 as \ufffd) and a surrogate pair, then arbitrary strings.
        let mut texts: Vec<String> = vec![
            String::new(),
            "plain line\n".into(),
            "{\"level\":\"info\",\"msg\":\"order <filled> & \\\"done\\\"\"}\n".into(),
            "tab\tcr\r bell\u{7} nul\u{0} del\u{7f} \u{2028} é 😀 /slash\n".into(),
            "no newline: a partial record".into(),
        ];
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        for _ in 0..2_000 {
            let len = (seed % 40) as usize;
            let mut t = String::new();
            for _ in 0..len {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                t.push(char::from_u32((seed % 0x1_2000) as u32).unwrap_or('\u{fffd}'));
            }
            texts.push(t);
        }
        for text in &texts {
            for stream in ["stdout", "stderr"] {
                let line = serde_json::json!({"log": text, "stream": stream, "time": "2024-05-01T10:00:00.123456789Z"})
                    .to_string();
                let fast = docker_layout(line.as_bytes()).expect("Docker's layout");
                let slow: Record<'_> = serde_json::from_str(&line).expect("valid JSON");
                assert_eq!(
                    (&*fast.log, &*fast.stream, &*fast.time),
                    (&*slow.log, &*slow.stream, &*slow.time)
                );
            }
        }
        // Go's `\u003c` style and a surrogate pair, as Docker writes them.
        let line = br#"{"log":"\u003cb\u003e \u0026 \ud83d\ude00\n","stream":"stdout","time":"2024-05-01T10:00:00Z"}"#;
        assert_eq!(docker_layout(line).expect("decodes").log, "<b> & 😀\n");
        // Not the layout: left to serde_json, which still decodes what is JSON.
        for other in [
            &br#"{"log":"x\n","stream":"stdout","attrs":{"tag":"a"},"time":"2024-05-01T10:00:00Z"}"#[..],
            br#"{"stream":"stdout","log":"x\n","time":"2024-05-01T10:00:00Z"}"#,
            br#"{"log":"bad \x escape","stream":"stdout","time":"t"}"#,
            br#"{"log":"lone \ud83d surrogate","stream":"stdout","time":"t"}"#,
            br#"{"log":"unterminated"#,
        ] {
            assert!(docker_layout(other).is_none(), "{}", String::from_utf8_lossy(other));
        }
        assert_eq!(
            parse_record(br#"{"stream":"stdout","log":"x\n","time":"t"}"#)
                .map(|r| r.log.into_owned()),
            Some("x\n".to_owned())
        );
    }

    #[test]
    fn records_and_labels_decode() {
        let r = parse_record(br#"{"log":"hi\n","stream":"stderr","time":"2024-05-01T10:00:00Z"}"#)
            .unwrap();
        assert_eq!((&*r.log, &*r.stream), ("hi\n", "stderr"));
        assert!(parse_record(b"{not json").is_none());
        let labels = BTreeMap::from([("logging".to_owned(), "mcp-instrument".to_owned())]);
        assert!(has_label(&labels, "logging=mcp-instrument"));
        assert!(has_label(&labels, "logging"));
        assert!(!has_label(&labels, "logging=promtail"));
    }

    #[test]
    fn containers_read_from_config_v2() {
        let dir = tempfile::tempdir().unwrap();
        let c = dir.path().join("containers").join("abc123");
        std::fs::create_dir_all(&c).unwrap();
        std::fs::write(
            c.join("config.v2.json"),
            r#"{"Name":"/cdb_ws","Config":{"Image":"mcp/cdb:0.1.0","Labels":{"com.docker.compose.service":"cdb_ws","com.docker.compose.project":"cdb"}}}"#,
        )
        .unwrap();
        std::fs::create_dir_all(dir.path().join("containers").join("broken")).unwrap();
        let found = discover(dir.path()).unwrap();
        assert_eq!(found.len(), 1);
        let ws = &found["abc123"];
        assert_eq!(ws.name, "cdb_ws");
        assert_eq!(
            ws.stream_labels("h1"),
            vec![
                ("container_name".to_owned(), "cdb_ws".to_owned()),
                ("compose_service".to_owned(), "cdb_ws".to_owned()),
                ("compose_project".to_owned(), "cdb".to_owned()),
                ("host".to_owned(), "h1".to_owned()),
            ]
        );
        assert!(ws.log_path.ends_with("abc123/abc123-json.log"));
    }
}
