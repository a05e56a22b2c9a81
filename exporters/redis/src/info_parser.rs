//! The `INFO` reply, parsed once per scrape into `(section, field, value)` spans of its text.
//!
//! The parser is a pure function over the text Redis sent: any input, however garbled, yields
//! some (possibly empty) list of fields and never panics (fuzzed in the tests below). Collectors
//! decide what a field means; unknown fields are simply not looked at, so a new Redis version
//! with new fields never breaks a scrape.

/// One `field:value` line and the `# Section` it sits in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field<'a> {
    /// The section header without `# `, e.g. `Server`, `Keyspace`.
    pub section: &'a str,
    /// The field name, e.g. `used_memory`, `db0`, `cmdstat_get`.
    pub key: &'a str,
    /// Everything after the first `:`.
    pub value: &'a str,
}

type Span = std::ops::Range<usize>;

/// A parsed `INFO` reply: the text and where each field sits in it. It owns the text, so a
/// scrape's data can be handed to core's collectors without a borrow (their backend type has no
/// lifetime), and it is parsed once per scrape however many collectors read it.
#[derive(Debug, Clone, Default)]
pub struct Info {
    text: String,
    spans: Vec<(Span, Span, Span)>,
}

impl Info {
    /// Parses an `INFO` reply. Lines without a `:` and comment lines other than section headers
    /// are skipped.
    pub fn parse(text: String) -> Self {
        let mut section = 0..0;
        let mut spans = Vec::with_capacity(256);
        let base = text.as_ptr() as usize;
        let offset = |s: &str| s.as_ptr() as usize - base;
        for line in text.lines() {
            let line = line.trim_end_matches('\r');
            if let Some(header) = line.strip_prefix('#') {
                let header = header.trim();
                section = offset(header)..offset(header) + header.len();
                continue;
            }
            if let Some((key, value)) = line.split_once(':')
                && !key.is_empty()
            {
                spans.push((
                    section.clone(),
                    offset(key)..offset(key) + key.len(),
                    offset(value)..offset(value) + value.len(),
                ));
            }
        }
        Info { text, spans }
    }

    /// The raw reply.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Fields in reply order.
    pub fn fields(&self) -> impl Iterator<Item = Field<'_>> {
        self.spans.iter().map(|(s, k, v)| Field {
            section: self.text.get(s.clone()).unwrap_or(""),
            key: self.text.get(k.clone()).unwrap_or(""),
            value: self.text.get(v.clone()).unwrap_or(""),
        })
    }

    /// The value of the first field named `key`. Compares bytes before making any `&str`:
    /// collectors look up some 30 fields per scrape among ~200.
    pub fn get(&self, key: &str) -> Option<&str> {
        let bytes = self.text.as_bytes();
        self.spans
            .iter()
            .find(|(_, k, _)| bytes.get(k.clone()) == Some(key.as_bytes()))
            .and_then(|(_, _, v)| self.text.get(v.clone()))
    }

    /// Whether the reply has a section of this name (case-insensitive), e.g. `Sentinel`.
    pub fn has_section(&self, name: &str) -> bool {
        self.fields().any(|f| f.section.eq_ignore_ascii_case(name))
    }
}

/// Parses a field value as a number the way redis_exporter does: plain numbers, `ok`/`up` as 1,
/// `err`/`down`/`fail` as 0. `None` for anything else (the field is skipped).
pub fn parse_value(value: &str) -> Option<f64> {
    match value {
        "ok" | "up" | "true" => Some(1.0),
        "err" | "down" | "fail" | "false" => Some(0.0),
        v => v.trim().parse::<f64>().ok(),
    }
}

/// Parses `k1=v1,k2=v2` (the value of `db0`, `cmdstat_*`, `slaveN`, `errorstat_*`, ...).
pub fn parse_kv(value: &str) -> impl Iterator<Item = (&str, &str)> {
    value.split(',').filter_map(|kv| kv.split_once('='))
}

/// The major version from `redis_version:7.0.15`.
pub fn major_version(info: &Info) -> Option<u32> {
    info.get("redis_version")?.split('.').next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sections_fields_and_values() {
        let text = "# Server\r\nredis_version:7.0.15\r\nos:Linux 6.1 x86_64\r\n\r\n# Keyspace\r\ndb0:keys=5,expires=1,avg_ttl=300\r\n";
        let info = Info::parse(text.into());
        let fields: Vec<_> = info.fields().collect();
        assert_eq!(fields.len(), 3);
        assert_eq!(info.get("os"), Some("Linux 6.1 x86_64"));
        assert_eq!(fields[2].section, "Keyspace");
        assert_eq!(major_version(&info), Some(7));
        let kv: Vec<_> = parse_kv(info.get("db0").unwrap()).collect();
        assert_eq!(
            kv,
            vec![("keys", "5"), ("expires", "1"), ("avg_ttl", "300")]
        );
        assert!(info.has_section("keyspace"));
    }

    #[test]
    fn values_map_like_redis_exporter() {
        assert_eq!(parse_value("ok"), Some(1.0));
        assert_eq!(parse_value("err"), Some(0.0));
        assert_eq!(parse_value("1.5"), Some(1.5));
        assert_eq!(parse_value("-1"), Some(-1.0));
        assert_eq!(parse_value("jemalloc-5.3.0"), None);
    }

    #[test]
    fn parses_captured_redis_7_info_all() {
        let text = include_str!("../tests/fixtures/info_all_redis7.txt");
        let info = Info::parse(text.into());
        assert!(info.fields().count() > 100);
        assert_eq!(major_version(&info), Some(7));
        assert!(info.fields().any(|f| f.key.starts_with("cmdstat_")));
        assert!(
            info.fields()
                .any(|f| f.key.starts_with("latency_percentiles_usec_"))
        );
    }

    proptest::proptest! {
        #[test]
        fn garbage_never_panics(text in ".*") {
            let info = Info::parse(text.clone());
            for f in info.fields() {
                let _ = parse_value(f.value);
                let _ = parse_kv(f.value).count();
            }
            let _ = major_version(&info);
        }

        #[test]
        fn info_like_garbage_never_panics(lines in proptest::collection::vec("(# )?[a-z_0-9]{0,8}(:[a-z=,0-9.]{0,20})?", 0..50)) {
            let text = lines.join("\r\n");
            let info = Info::parse(text.clone());
            for f in info.fields() {
                let _ = parse_value(f.value);
            }
        }
    }
}
