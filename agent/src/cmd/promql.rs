//! The metric names a PromQL expression reads, for the "every metric an alert rule uses has a
//! series" check.
//!
//! A tokenizer, not a parser: it knows enough of PromQL's grammar to tell a metric name from
//! everything else that looks like an identifier: function and aggregation names (followed by
//! `(`, or by `by`/`without` for aggregations), keywords (`and`, `or`, `unless`, `bool`,
//! `offset`, `on`, `ignoring`, `group_left`, `group_right`, `by`, `without`, case-insensitive)
//! with their label lists, label matchers inside `{…}` (but `{__name__="x"}` and PromQL 3's
//! quoted `{"x"}` are names), strings with escapes, numbers, durations and ranges `[5m:1m]`,
//! `@ start()`, and `#` comments.

/// Keywords that are never metric names (compared lower-case).
const KEYWORDS: [&str; 8] = [
    "and", "or", "unless", "bool", "offset", "atan2", "inf", "nan",
];

/// Keywords followed by a parenthesised label list (compared lower-case).
const LABEL_LIST: [&str; 6] = [
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
];

/// Aggregation operators: `sum by (x) (…)` puts `by` between the name and its `(`.
const AGGREGATIONS: [&str; 14] = [
    "sum",
    "avg",
    "count",
    "min",
    "max",
    "stddev",
    "stdvar",
    "topk",
    "bottomk",
    "quantile",
    "count_values",
    "group",
    "limitk",
    "limit_ratio",
];

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    Number,
    Open(char),
    Close(char),
    /// Label-matcher operators `=`, `!=`, `=~`, `!~` and every other operator.
    Op(String),
    Comma,
}

fn is_ident_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_' || c == ':'
}

fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == ':'
}

fn tokenize(expr: &str) -> Vec<Tok> {
    let chars: Vec<char> = expr.chars().collect();
    let mut toks = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            c if c.is_whitespace() => i += 1,
            '#' => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            '"' | '\'' | '`' => {
                let quote = c;
                i += 1;
                let mut s = String::new();
                while i < chars.len() && chars[i] != quote {
                    if chars[i] == '\\' && quote != '`' && i + 1 < chars.len() {
                        i += 1;
                    }
                    s.push(chars[i]);
                    i += 1;
                }
                i += 1;
                toks.push(Tok::Str(s));
            }
            c if c.is_ascii_digit()
                || (c == '.' && chars.get(i + 1).is_some_and(char::is_ascii_digit)) =>
            {
                // Numbers, hex, exponents and durations (`5m`, `1h30m`) alike.
                while i < chars.len()
                    && (chars[i].is_ascii_alphanumeric() || chars[i] == '.' || chars[i] == '_')
                {
                    // `1e-3`: a sign right after an exponent belongs to the number.
                    if (chars[i] == 'e' || chars[i] == 'E')
                        && matches!(chars.get(i + 1), Some('+' | '-'))
                    {
                        i += 1;
                    }
                    i += 1;
                }
                toks.push(Tok::Number);
            }
            c if is_ident_start(c) => {
                let start = i;
                while i < chars.len() && is_ident_char(chars[i]) {
                    i += 1;
                }
                toks.push(Tok::Ident(chars[start..i].iter().collect()));
            }
            '(' | '{' | '[' => {
                toks.push(Tok::Open(c));
                i += 1;
            }
            ')' | '}' | ']' => {
                toks.push(Tok::Close(c));
                i += 1;
            }
            ',' => {
                toks.push(Tok::Comma);
                i += 1;
            }
            _ => {
                let start = i;
                i += 1;
                if i < chars.len()
                    && matches!(chars[i], '=' | '~')
                    && matches!(c, '=' | '!' | '<' | '>')
                {
                    i += 1;
                }
                toks.push(Tok::Op(chars[start..i].iter().collect()));
            }
        }
    }
    toks
}

/// Index just past the bracket that closes the one opened at `open` (or the end).
fn skip_group(toks: &[Tok], open: usize) -> usize {
    let mut depth = 0usize;
    let mut i = open;
    while i < toks.len() {
        match toks[i] {
            Tok::Open(_) => depth += 1,
            Tok::Close(_) => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return i + 1;
                }
            }
            _ => {}
        }
        i += 1;
    }
    toks.len()
}

/// The metric names `expr` selects, in order of first appearance, without duplicates.
pub fn metric_names(expr: &str) -> Vec<String> {
    let toks = tokenize(expr);
    let mut names: Vec<String> = Vec::new();
    let add = |n: &str, names: &mut Vec<String>| {
        if !n.is_empty() && !names.iter().any(|x| x == n) {
            names.push(n.to_owned());
        }
    };
    let mut i = 0;
    while i < toks.len() {
        match &toks[i] {
            Tok::Ident(name) => {
                let lower = name.to_ascii_lowercase();
                let next = toks.get(i + 1);
                if LABEL_LIST.contains(&lower.as_str()) {
                    i += 1;
                    if matches!(toks.get(i), Some(Tok::Open('('))) {
                        i = skip_group(&toks, i);
                    }
                    continue;
                }
                if KEYWORDS.contains(&lower.as_str()) {
                    i += 1;
                    continue;
                }
                let is_call = matches!(next, Some(Tok::Open('(')));
                let is_aggregation = AGGREGATIONS.contains(&lower.as_str())
                    && matches!(next, Some(Tok::Ident(k)) if matches!(k.to_ascii_lowercase().as_str(), "by" | "without"));
                if !is_call && !is_aggregation {
                    add(name, &mut names);
                }
                i += 1;
            }
            Tok::Open('{') => {
                let end = skip_group(&toks, i);
                let inner = &toks[i + 1..end.saturating_sub(1).max(i + 1)];
                let mut j = 0;
                while j < inner.len() {
                    match (&inner[j], inner.get(j + 1), inner.get(j + 2)) {
                        (Tok::Ident(l), Some(Tok::Op(op)), Some(Tok::Str(v)))
                            if l == "__name__" && op == "=" =>
                        {
                            add(v, &mut names);
                            j += 3;
                        }
                        (Tok::Ident(_), Some(Tok::Op(_)), Some(_)) => j += 3,
                        // PromQL 3: `{"metric.name", label="x"}`.
                        (Tok::Str(v), None | Some(Tok::Comma), _) => {
                            add(v, &mut names);
                            j += 1;
                        }
                        _ => j += 1,
                    }
                }
                i = end;
            }
            Tok::Open('[') => i = skip_group(&toks, i),
            _ => i += 1,
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::metric_names;

    #[test]
    fn the_committed_rule_expressions() {
        // Expressions as committed in docker/mcp/prometheus/alert.rules.yml (snapshot, so the
        // expectations stay fixed while the file evolves; the file itself is checked below).
        let cases: [(&str, &[&str]); 10] = [
            (r#"up{job="cdb"} == 0"#, &["up"]),
            (
                "sum by (service) (rate(http_server_requests_total{status=~\"5..\"}[5m]))\n  / sum by (service) (rate(http_server_requests_total[5m])) > 0.05",
                &["http_server_requests_total"],
            ),
            (
                "histogram_quantile(0.99, sum by (service, le) (rate(http_server_request_duration_seconds_bucket[5m]))) > 0.5",
                &["http_server_request_duration_seconds_bucket"],
            ),
            (
                r#"100 * (1 - avg by (instance) (rate(node_cpu_seconds_total{mode="idle"}[5m]))) > 85"#,
                &["node_cpu_seconds_total"],
            ),
            (
                "(1 - node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes) * 100 > 90",
                &[
                    "node_memory_MemAvailable_bytes",
                    "node_memory_MemTotal_bytes",
                ],
            ),
            (
                "(node_filesystem_avail_bytes{fstype!~\"tmpfs|overlay\"} / node_filesystem_size_bytes{fstype!~\"tmpfs|overlay\"}) * 100 < 10\nand node_filesystem_readonly{fstype!~\"tmpfs|overlay\"} == 0",
                &[
                    "node_filesystem_avail_bytes",
                    "node_filesystem_size_bytes",
                    "node_filesystem_readonly",
                ],
            ),
            (
                r#"redis_up == 0 or up{job="redis"} == 0"#,
                &["redis_up", "up"],
            ),
            (
                "increase(redis_evicted_keys_total[5m]) > 100\nor\n(redis_memory_used_bytes / redis_memory_max_bytes > 0.80 and redis_memory_max_bytes > 0)",
                &[
                    "redis_evicted_keys_total",
                    "redis_memory_used_bytes",
                    "redis_memory_max_bytes",
                ],
            ),
            (
                "sum by (instance) (pg_stat_activity_count)\n  > 0.9 * max by (instance) (pg_settings_max_connections)",
                &["pg_stat_activity_count", "pg_settings_max_connections"],
            ),
            (
                r#"increase(pg_stat_database_deadlocks{datname!~"template.*"}[5m]) > 0"#,
                &["pg_stat_database_deadlocks"],
            ),
        ];
        for (expr, want) in cases {
            assert_eq!(metric_names(expr), want, "{expr}");
        }
    }

    #[test]
    fn tricky_cases() {
        let cases: [(&str, &[&str]); 16] = [
            // Aggregation with the clause after the argument, and keywords in capitals.
            ("SUM(rate(a_total[1m])) BY (job)", &["a_total"]),
            // Label names in on()/group_left() are not metrics.
            (
                "a * on (instance) group_left (nodename) node_uname_info",
                &["a", "node_uname_info"],
            ),
            ("a / ignoring(code) group_right b", &["a", "b"]),
            // Strings holding identifiers, escapes and braces.
            (
                r#"label_replace(up, "dst", "$1 \"x{y}\" by", "src", "(.*)")"#,
                &["up"],
            ),
            ("count_values(`ver`, build_info)", &["build_info"]),
            // Durations, offsets, subqueries, @ modifiers, numbers.
            (
                "max_over_time(rate(x_total[5m])[1h:30s] offset 1h30m @ end())",
                &["x_total"],
            ),
            (
                "avg_over_time(g[5m] offset -1w) > 1e-3 and h > 0x1F",
                &["g", "h"],
            ),
            ("topk(5, c) > bool .5", &["c"]),
            // Names in braces.
            (r#"{__name__="only_by_name", job="x"}"#, &["only_by_name"]),
            (r#"{"dotted.name", a="b"}"#, &["dotted.name"]),
            (r#"{__name__=~"re.*"}"#, &[]),
            // Colons (recording rules) and a metric named like a function without parentheses.
            ("job:rate5m:sum > rate", &["job:rate5m:sum", "rate"]),
            // Comments.
            ("a # b is a comment\n + c", &["a", "c"]),
            // Aggregation-named metric: only a keyword when a clause or '(' follows.
            ("count > 3", &["count"]),
            ("absent(nothing_here) or vector(0)", &["nothing_here"]),
            (
                "time() - process_start_time_seconds",
                &["process_start_time_seconds"],
            ),
        ];
        for (expr, want) in cases {
            assert_eq!(metric_names(expr), want, "{expr}");
        }
    }

    #[derive(serde::Deserialize)]
    struct Rules {
        groups: Vec<Group>,
    }
    #[derive(serde::Deserialize)]
    struct Group {
        rules: Vec<Rule>,
    }
    #[derive(serde::Deserialize)]
    struct Rule {
        alert: Option<String>,
        expr: String,
    }

    #[test]
    fn every_committed_alert_rule_reads_plausible_metric_names() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../docker/mcp/prometheus/alert.rules.yml");
        let text = std::fs::read_to_string(&path).unwrap();
        let rules: Rules = mcp_exporter_core::yaml::from_str(&text).unwrap();
        let words = [
            "by", "without", "on", "and", "or", "unless", "rate", "increase", "sum", "avg",
            "instance", "service", "job", "le", "mode", "fstype",
        ];
        let mut n = 0;
        for rule in rules.groups.iter().flat_map(|g| &g.rules) {
            let names = metric_names(&rule.expr);
            // Only a constant (the Watchdog's `vector(1)`) reads no metric.
            assert!(
                !names.is_empty() || rule.expr.trim().starts_with("vector("),
                "{:?}: {}",
                rule.alert,
                rule.expr
            );
            for name in names {
                assert!(
                    !words.contains(&name.as_str()),
                    "{:?}: {name} is not a metric ({})",
                    rule.alert,
                    rule.expr
                );
                assert!(
                    name.chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
                    "{name}"
                );
                n += 1;
            }
        }
        assert!(n > 10);
    }
}
