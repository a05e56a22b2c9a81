//! What the kernel says a process costs: CPU ticks from `/proc/PID/stat`, memory and threads from
//! `/proc/PID/status`. The same numbers the anchor scripts read with awk, so figures compare.

use std::process::Command;

/// Clock ticks per second (`getconf CLK_TCK`; 100 on every Linux we run on).
pub fn clk_tck() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .trim()
                .parse::<f64>()
                .ok()
        })
        .filter(|v| *v > 0.0)
        .unwrap_or(100.0)
}

/// The fields of `/proc/PID/stat` after the command name: index 0 is field 3 (state).
fn stat_fields(pid: u32) -> Option<Vec<u64>> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may itself contain spaces or ')'.
    let rest = &text[text.rfind(')')? + 1..];
    Some(
        rest.split_whitespace()
            .map(|f| f.parse::<u64>().unwrap_or(0))
            .collect(),
    )
}

/// utime + stime of one process, in ticks.
pub fn cpu_ticks(pid: u32) -> Option<u64> {
    let f = stat_fields(pid)?;
    Some(f.get(11)? + f.get(12)?)
}

/// utime + stime + cutime + cstime of `pid`, plus the same of its live children: the CPU of a
/// server that forks a process per connection (PostgreSQL), including connections that ended
/// (their time moves into the parent's cutime when they are reaped).
pub fn tree_cpu_ticks(pid: u32) -> Option<u64> {
    let own = stat_fields(pid)?;
    let mut total = own.get(11)? + own.get(12)? + own.get(13)? + own.get(14)?;
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for e in entries.flatten() {
            let Some(child) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
                continue;
            };
            if let Some(f) = stat_fields(child)
                && f.get(1) == Some(&u64::from(pid))
            {
                total += f.iter().skip(11).take(4).sum::<u64>();
            }
        }
    }
    Some(total)
}

/// Memory and threads from `/proc/PID/status`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Status {
    /// VmRSS, kB.
    pub rss_kb: u64,
    /// VmHWM (peak RSS), kB.
    pub hwm_kb: u64,
    /// RssAnon (heap, stacks), kB.
    pub anon_kb: u64,
    /// RssFile (mapped binary and libraries), kB.
    pub file_kb: u64,
    /// Threads.
    pub threads: u64,
}

/// Reads `/proc/PID/status`; `None` when the process is gone.
pub fn status(pid: u32) -> Option<Status> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let mut s = Status::default();
    for line in text.lines() {
        let mut it = line.split_whitespace();
        let (Some(key), Some(val)) = (it.next(), it.next()) else {
            continue;
        };
        let val = val.parse::<u64>().unwrap_or(0);
        match key {
            "VmRSS:" => s.rss_kb = val,
            "VmHWM:" => s.hwm_kb = val,
            "RssAnon:" => s.anon_kb = val,
            "RssFile:" => s.file_kb = val,
            "Threads:" => s.threads = val,
            _ => {}
        }
    }
    Some(s)
}

/// `/proc/loadavg`'s first three fields.
pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}
