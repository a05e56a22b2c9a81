//! Golden files: a test's output compared byte for byte with a committed file, with a readable
//! line diff on mismatch and one switch to regenerate.
//!
//! ```no_run
//! let text = "# HELP x X.\n# TYPE x gauge\nx 1\n";
//! mcp_testkit::golden::assert_golden(
//!     mcp_testkit::golden::path(env!("CARGO_MANIFEST_DIR"), "loadavg"),
//!     text,
//! );
//! mcp_testkit::golden::assert_promtool_clean(text, &[("camelCase", "node_exporter's own names")]);
//! ```
//!
//! `MCP_UPDATE_GOLDEN=1 cargo nextest run -p <crate>` rewrites every golden the run compares (and
//! creates missing ones); review the change with `git diff` before committing it. Without the
//! switch a missing golden is a failure that says how to create it, never a silent pass.

use std::path::{Path, PathBuf};

/// The environment variable that makes [`assert_golden`] write instead of compare.
pub const UPDATE_ENV: &str = "MCP_UPDATE_GOLDEN";

/// Whether this run regenerates goldens (`MCP_UPDATE_GOLDEN=1`).
pub fn updating() -> bool {
    std::env::var(UPDATE_ENV).is_ok_and(|v| v == "1" || v.eq_ignore_ascii_case("true"))
}

/// `<manifest_dir>/tests/golden/<name>.prom`, the conventional place of a collector's golden.
pub fn path(manifest_dir: &str, name: &str) -> PathBuf {
    Path::new(manifest_dir)
        .join("tests")
        .join("golden")
        .join(format!("{name}.prom"))
}

/// Compares `actual` with the file at `path` byte for byte; panics with a line diff when they
/// differ. With `MCP_UPDATE_GOLDEN=1` writes `actual` to `path` instead (creating directories).
pub fn assert_golden(path: impl AsRef<Path>, actual: &str) {
    if let Err(report) = compare(path.as_ref(), actual) {
        panic!("{report}");
    }
}

/// [`assert_golden`] without the panic: `Err(report)` names the file, says how to regenerate
/// and shows the diff.
pub fn compare(path: &Path, actual: &str) -> Result<(), String> {
    if updating() {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
        }
        let unchanged = std::fs::read(path).is_ok_and(|old| old == actual.as_bytes());
        if !unchanged {
            std::fs::write(path, actual).map_err(|e| format!("write {}: {e}", path.display()))?;
        }
        return Ok(());
    }
    let expected = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) => {
            return Err(format!(
                "golden {} cannot be read ({e}); create it with {UPDATE_ENV}=1 and review it",
                path.display()
            ));
        }
    };
    if expected == actual {
        return Ok(());
    }
    Err(format!(
        "output differs from golden {} (- golden, + actual); if the change is intended, rerun \
         with {UPDATE_ENV}=1 and review the diff:\n{}",
        path.display(),
        diff(&expected, actual)
    ))
}

/// A unified-style line diff of `expected` and `actual` with three lines of context; lines that
/// differ only in a missing final newline are marked `\ no newline at end`.
pub fn diff(expected: &str, actual: &str) -> String {
    let a: Vec<&str> = expected.split_inclusive('\n').collect();
    let b: Vec<&str> = actual.split_inclusive('\n').collect();
    let ops = line_ops(&a, &b);
    const CONTEXT: usize = 3;
    let mut out = String::new();
    let changed: Vec<usize> = ops
        .iter()
        .enumerate()
        .filter(|(_, op)| !matches!(op, Op::Same(_)))
        .map(|(i, _)| i)
        .collect();
    let mut shown_until = 0usize;
    let mut i = 0;
    while i < changed.len() {
        let start = changed[i].saturating_sub(CONTEXT).max(shown_until);
        let mut end = changed[i] + 1;
        while i + 1 < changed.len() && changed[i + 1] <= end + 2 * CONTEXT {
            i += 1;
            end = changed[i] + 1;
        }
        let end = (end + CONTEXT).min(ops.len());
        if start > shown_until || shown_until == 0 {
            out.push_str(&format!("@@ line {} @@\n", line_of(&ops[..start]) + 1));
        }
        for op in &ops[start..end] {
            let (mark, line) = match op {
                Op::Same(l) => (' ', *l),
                Op::Del(l) => ('-', *l),
                Op::Add(l) => ('+', *l),
            };
            out.push(mark);
            out.push_str(line.strip_suffix('\n').unwrap_or(line));
            out.push('\n');
            if !line.ends_with('\n') {
                out.push_str("\\ no newline at end\n");
            }
        }
        shown_until = end;
        i += 1;
    }
    out
}

#[derive(Debug)]
enum Op<'a> {
    Same(&'a str),
    Del(&'a str),
    Add(&'a str),
}

fn line_of(ops: &[Op<'_>]) -> usize {
    ops.iter().filter(|op| !matches!(op, Op::Add(_))).count()
}

/// Longest-common-subsequence edit script over the lines between the common prefix and suffix
/// (goldens are at most a few thousand lines, and differences are usually small).
fn line_ops<'a>(a: &[&'a str], b: &[&'a str]) -> Vec<Op<'a>> {
    let prefix = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    let suffix = a[prefix..]
        .iter()
        .rev()
        .zip(b[prefix..].iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let (am, bm) = (&a[prefix..a.len() - suffix], &b[prefix..b.len() - suffix]);
    let mut ops: Vec<Op<'a>> = a[..prefix].iter().map(|l| Op::Same(l)).collect();
    if am.len().saturating_mul(bm.len()) > 16_000_000 {
        // Too large for the table: show it as a replacement.
        ops.extend(am.iter().map(|l| Op::Del(l)));
        ops.extend(bm.iter().map(|l| Op::Add(l)));
    } else {
        let (n, m) = (am.len(), bm.len());
        let mut lcs = vec![0u32; (n + 1) * (m + 1)];
        let at = |i: usize, j: usize| i * (m + 1) + j;
        for i in (0..n).rev() {
            for j in (0..m).rev() {
                lcs[at(i, j)] = if am[i] == bm[j] {
                    lcs[at(i + 1, j + 1)] + 1
                } else {
                    lcs[at(i + 1, j)].max(lcs[at(i, j + 1)])
                };
            }
        }
        let (mut i, mut j) = (0, 0);
        while i < n || j < m {
            if i < n && j < m && am[i] == bm[j] {
                ops.push(Op::Same(am[i]));
                i += 1;
                j += 1;
            } else if i < n && (j == m || lcs[at(i + 1, j)] >= lcs[at(i, j + 1)]) {
                ops.push(Op::Del(am[i]));
                i += 1;
            } else {
                ops.push(Op::Add(bm[j]));
                j += 1;
            }
        }
    }
    ops.extend(a[a.len() - suffix..].iter().map(|l| Op::Same(l)));
    ops
}

/// Runs `promtool check metrics` over `text` and panics on any problem line that does not
/// contain one of the `allow` substrings. Each allowed entry is `(substring, reason)`: the reason
/// documents why the lint is accepted (e.g. a name upstream has always had) and is printed with
/// the allow-list when anything else fails.
pub fn assert_promtool_clean(text: &str, allow: &[(&str, &str)]) {
    let lines = crate::promtool_lint(text);
    let bad: Vec<&String> = lines
        .iter()
        .filter(|l| !allow.iter().any(|(s, _)| l.contains(s)))
        .collect();
    assert!(
        bad.is_empty(),
        "promtool check metrics complains (allow-list: {allow:?}):\n{}",
        bad.iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// Replaces every sample value in an exposition with `X`, for collectors whose values come from
/// the running machine (the clock, `uname`, `adjtimex`): their golden then pins names, HELP, TYPE
/// and label sets, which is what must not drift.
pub fn mask_values(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        if line.starts_with('#') {
            out.push_str(line);
            continue;
        }
        let body = line.strip_suffix('\n').unwrap_or(line);
        match body.rfind(' ') {
            Some(i) => {
                out.push_str(&body[..i]);
                out.push_str(" X\n");
            }
            None => out.push_str(line),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diff_shows_changed_lines_with_context() {
        let a = "a\nb\nc\nd\ne\nf\ng\nh\n";
        let b = "a\nb\nc\nd\nE\nf\ng\nh\n";
        let d = diff(a, b);
        assert!(d.contains("-e\n+E\n"), "{d}");
        assert!(d.contains(" d\n") && d.contains(" f\n"), "{d}");
        assert!(d.starts_with("@@ line 2 @@\n"), "{d}");
    }

    #[test]
    fn diff_marks_a_missing_final_newline() {
        let d = diff("x 1\n", "x 1");
        assert!(d.contains("\\ no newline at end"), "{d}");
    }

    #[test]
    fn compare_passes_on_equal_and_reports_missing_and_different_files() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("g.prom");
        if updating() {
            return;
        }
        let missing = compare(&p, "x 1\n").unwrap_err();
        assert!(missing.contains(UPDATE_ENV), "{missing}");
        std::fs::write(&p, "x 1\n").unwrap();
        assert!(compare(&p, "x 1\n").is_ok());
        let differs = compare(&p, "x 2\n").unwrap_err();
        assert!(differs.contains("-x 1\n+x 2\n"), "{differs}");
    }

    #[test]
    fn mask_values_keeps_names_and_labels() {
        assert_eq!(
            mask_values("# HELP t T.\nt{a=\"b c\"} 12.5\nu 3\n"),
            "# HELP t T.\nt{a=\"b c\"} X\nu X\n"
        );
    }
}
