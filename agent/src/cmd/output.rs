//! Rows and how they are shown: an aligned table (colour and a progress line only on a
//! terminal), or one JSON document with `--output json`.

use std::io::{IsTerminal as _, Write as _};
use std::time::{Duration, Instant};

/// Exit code when every row passed (or was skipped with a reason).
pub const EXIT_OK: u8 = 0;
/// Exit code when at least one check failed.
pub const EXIT_FAILED: u8 = 1;
/// Exit code when the command could not run (bad flags, the endpoint asked for unreachable).
pub const EXIT_CANNOT_RUN: u8 = 2;

/// The verdict of one row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Checked and fine.
    Pass,
    /// Checked and wrong, or could not be checked.
    Fail,
    /// Not checked, with the reason in the detail (`--skip`, no Docker).
    Skip,
}

impl Status {
    /// `PASS`, `FAIL`, `SKIP`.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "PASS",
            Status::Fail => "FAIL",
            Status::Skip => "SKIP",
        }
    }
}

/// One checked thing.
#[derive(Debug, Clone)]
pub struct Row {
    /// The verdict.
    pub status: Status,
    /// The group (`components`, `targets`, ...).
    pub category: String,
    /// What was checked.
    pub check: String,
    /// The finding; on failure, the reason.
    pub detail: String,
    /// How long the check took.
    pub elapsed: Duration,
}

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Aligned table for people.
    Table,
    /// One JSON document for machines.
    Json,
}

/// Collects rows and shows progress while they are made.
#[derive(Debug)]
pub struct Report {
    /// The command (`check`, `fire-drill`, `log-drill`).
    pub command: &'static str,
    /// Rows so far.
    pub rows: Vec<Row>,
    /// Extra top-level JSON fields (drill id, propagation time, ...).
    pub extra: serde_json::Map<String, serde_json::Value>,
    format: Format,
    tty: bool,
    progress_shown: bool,
}

impl Report {
    /// A report printing in `format`; colour and progress only when stdout and stderr are
    /// terminals and `NO_COLOR` is unset.
    pub fn new(command: &'static str, format: Format) -> Self {
        let tty = std::io::stdout().is_terminal()
            && std::io::stderr().is_terminal()
            && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
        Self {
            command,
            rows: Vec::new(),
            extra: serde_json::Map::new(),
            format,
            tty,
            progress_shown: false,
        }
    }

    /// Shows `what` as the progress line (terminal only; overwritten by the next one).
    pub fn progress(&mut self, what: &str) {
        if self.tty && self.format == Format::Table {
            let mut err = std::io::stderr();
            let _ = write!(err, "\r\x1b[2K\x1b[2m… {what}\x1b[0m");
            let _ = err.flush();
            self.progress_shown = true;
        }
    }

    fn clear_progress(&mut self) {
        if self.progress_shown {
            let mut err = std::io::stderr();
            let _ = write!(err, "\r\x1b[2K");
            let _ = err.flush();
            self.progress_shown = false;
        }
    }

    /// Runs `f` as one row of `category`, timing it and showing progress meanwhile.
    pub fn run(
        &mut self,
        category: &str,
        check: &str,
        f: impl FnOnce() -> (Status, String),
    ) -> Status {
        self.progress(&format!("{category}: {check}"));
        let start = Instant::now();
        let (status, detail) = f();
        self.push(category, check, status, detail, start.elapsed());
        status
    }

    /// Adds a finished row.
    pub fn push(
        &mut self,
        category: &str,
        check: &str,
        status: Status,
        detail: String,
        elapsed: Duration,
    ) {
        self.rows.push(Row {
            status,
            category: category.to_owned(),
            check: check.to_owned(),
            detail,
            elapsed,
        });
    }

    /// A row with the outcome of `result`: `Ok(detail)` is PASS, `Err(reason)` FAIL.
    pub fn result(
        &mut self,
        category: &str,
        check: &str,
        start: Instant,
        result: Result<String, String>,
    ) {
        let (status, detail) = match result {
            Ok(d) => (Status::Pass, d),
            Err(d) => (Status::Fail, d),
        };
        self.push(category, check, status, detail, start.elapsed());
    }

    /// The output format.
    pub fn format(&self) -> Format {
        self.format
    }

    /// True when some row failed.
    pub fn failed(&self) -> bool {
        self.rows.iter().any(|r| r.status == Status::Fail)
    }

    /// The exit code the rows call for.
    pub fn exit_code(&self) -> u8 {
        if self.failed() { EXIT_FAILED } else { EXIT_OK }
    }

    /// Prints everything to stdout and returns the exit code.
    pub fn finish(mut self) -> u8 {
        self.clear_progress();
        let code = self.exit_code();
        let text = match self.format {
            Format::Table => render_table(&self.rows, self.tty),
            Format::Json => render_json(&self),
        };
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(text.as_bytes());
        let _ = out.flush();
        code
    }
}

/// The table: STATUS  CATEGORY  CHECK  DETAIL  TIME, columns padded to their widest cell, and a
/// summary line.
pub fn render_table(rows: &[Row], colour: bool) -> String {
    let cat_w = rows
        .iter()
        .map(|r| r.category.chars().count())
        .max()
        .unwrap_or(0)
        .max(8);
    let check_w = rows
        .iter()
        .map(|r| r.check.chars().count())
        .max()
        .unwrap_or(0)
        .clamp(5, 48);
    let detail_w = rows
        .iter()
        .map(|r| one_line(&r.detail).chars().count())
        .max()
        .unwrap_or(0)
        .clamp(6, 100);
    let mut out = String::new();
    out.push_str(&format!(
        "{:<6}{:<cat_w$}  {:<check_w$}  {:<detail_w$}  {:>7}\n",
        "", "CATEGORY", "CHECK", "DETAIL", "TIME"
    ));
    for r in rows {
        let status = r.status.as_str();
        let status = if colour {
            let c = match r.status {
                Status::Pass => "32",
                Status::Fail => "31;1",
                Status::Skip => "33",
            };
            format!("\x1b[{c}m{status}\x1b[0m  ")
        } else {
            format!("{status}  ")
        };
        out.push_str(&format!(
            "{status}{:<cat_w$}  {:<check_w$}  {:<detail_w$}  {:>7}\n",
            r.category,
            r.check,
            one_line(&r.detail),
            fmt_elapsed(r.elapsed),
        ));
    }
    let count = |s: Status| rows.iter().filter(|r| r.status == s).count();
    out.push_str(&format!(
        "{} passed, {} failed, {} skipped\n",
        count(Status::Pass),
        count(Status::Fail),
        count(Status::Skip)
    ));
    out
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `12ms`, `1.4s`.
pub fn fmt_elapsed(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{}ms", d.as_millis())
    } else {
        format!("{:.1}s", d.as_secs_f64())
    }
}

fn render_json(report: &Report) -> String {
    let count = |s: Status| report.rows.iter().filter(|r| r.status == s).count();
    let rows: Vec<serde_json::Value> = report
        .rows
        .iter()
        .map(|r| {
            serde_json::json!({
                "status": r.status.as_str(),
                "category": r.category,
                "check": r.check,
                "detail": r.detail,
                "seconds": r.elapsed.as_secs_f64(),
            })
        })
        .collect();
    let mut doc = serde_json::Map::new();
    doc.insert("command".into(), report.command.into());
    doc.insert("passed".into(), (!report.failed()).into());
    doc.insert(
        "summary".into(),
        serde_json::json!({
            "pass": count(Status::Pass),
            "fail": count(Status::Fail),
            "skip": count(Status::Skip),
        }),
    );
    doc.insert("rows".into(), rows.into());
    for (k, v) in &report.extra {
        doc.insert(k.clone(), v.clone());
    }
    let mut s = serde_json::Value::Object(doc).to_string();
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_columns_line_up_and_colour_is_optional() {
        let rows = vec![
            Row {
                status: Status::Pass,
                category: "components".into(),
                check: "Prometheus ready".into(),
                detail: "HTTP 200".into(),
                elapsed: Duration::from_millis(3),
            },
            Row {
                status: Status::Fail,
                category: "loki".into(),
                check: "ready".into(),
                detail: "connection refused\nby 127.0.0.1:1".into(),
                elapsed: Duration::from_millis(1500),
            },
        ];
        let plain = render_table(&rows, false);
        assert!(!plain.contains('\x1b'));
        let lines: Vec<&str> = plain.lines().collect();
        assert_eq!(lines.len(), 4);
        let col = |l: &str| l.find("HTTP 200").or_else(|| l.find("connection"));
        assert_eq!(col(lines[1]), col(lines[2]));
        assert!(lines[2].starts_with("FAIL  loki"));
        assert!(lines[2].ends_with("1.5s"));
        assert_eq!(lines[3], "1 passed, 1 failed, 0 skipped");
        assert!(render_table(&rows, true).contains("\x1b[31;1mFAIL"));
    }
}
