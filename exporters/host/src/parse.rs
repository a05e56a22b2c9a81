//! Pure parsers of `/proc` files: text in, values out, never a panic (fuzzed below).

/// `/proc/stat`: per-CPU times in clock ticks and the global counters.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Stat {
    /// `(cpu index, [user, nice, system, idle, iowait, irq, softirq, steal, guest, guest_nice])`.
    pub cpus: Vec<(String, [f64; 10])>,
    /// `intr` total.
    pub intr: Option<f64>,
    /// `ctxt`.
    pub ctxt: Option<f64>,
    /// `btime`.
    pub btime: Option<f64>,
    /// `processes` (forks).
    pub processes: Option<f64>,
    /// `procs_running`.
    pub procs_running: Option<f64>,
    /// `procs_blocked`.
    pub procs_blocked: Option<f64>,
}

/// Parses `/proc/stat`.
pub fn stat(text: &str) -> Stat {
    let mut s = Stat::default();
    for line in text.lines() {
        let mut it = line.split_ascii_whitespace();
        let Some(key) = it.next() else { continue };
        let first = || {
            line.split_ascii_whitespace()
                .nth(1)
                .and_then(|v| v.parse::<f64>().ok())
        };
        match key {
            "intr" => s.intr = first(),
            "ctxt" => s.ctxt = first(),
            "btime" => s.btime = first(),
            "processes" => s.processes = first(),
            "procs_running" => s.procs_running = first(),
            "procs_blocked" => s.procs_blocked = first(),
            k if k.starts_with("cpu") && k.len() > 3 => {
                let mut v = [0.0; 10];
                for (i, x) in it.take(10).enumerate() {
                    v[i] = x.parse().unwrap_or(0.0);
                }
                s.cpus.push((k[3..].to_owned(), v));
            }
            _ => {}
        }
    }
    s
}

/// `/proc/meminfo` as `(field, bytes or count, has kB unit)`; `Active(anon)` becomes `Active_anon`.
pub fn meminfo(text: &str) -> Vec<(String, f64, bool)> {
    let mut out = Vec::with_capacity(64);
    for line in text.lines() {
        let Some((key, rest)) = line.split_once(':') else {
            continue;
        };
        let mut parts = rest.split_ascii_whitespace();
        let Some(value) = parts.next().and_then(|v| v.parse::<f64>().ok()) else {
            continue;
        };
        let kb = parts.next() == Some("kB");
        let key = key.replace('(', "_").replace(')', "");
        out.push((key, if kb { value * 1024.0 } else { value }, kb));
    }
    out
}

/// `key value` lines (`/proc/vmstat`).
pub fn key_values(text: &str) -> Vec<(&str, f64)> {
    text.lines()
        .filter_map(|l| {
            let mut it = l.split_ascii_whitespace();
            Some((it.next()?, it.next()?.parse().ok()?))
        })
        .collect()
}

/// `/proc/net/netstat` and `/proc/net/snmp`: pairs of header/value lines → `Proto_Field`.
pub fn netstat(text: &str) -> Vec<(String, f64)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    for pair in lines.chunks_exact(2) {
        let (Some((p1, names)), Some((p2, values))) =
            (pair[0].split_once(':'), pair[1].split_once(':'))
        else {
            continue;
        };
        if p1 != p2 {
            continue;
        }
        for (n, v) in names
            .split_ascii_whitespace()
            .zip(values.split_ascii_whitespace())
        {
            if let Ok(v) = v.parse::<f64>() {
                out.push((format!("{p1}_{n}"), v));
            }
        }
    }
    out
}

/// `/proc/net/snmp6`: `Ip6InOctets 123` → `Ip6_InOctets`.
pub fn snmp6(text: &str) -> Vec<(String, f64)> {
    let mut out = Vec::new();
    for (k, v) in key_values(text) {
        for proto in ["Ip6", "Icmp6", "UdpLite6", "Udp6"] {
            if let Some(rest) = k.strip_prefix(proto) {
                out.push((format!("{proto}_{rest}"), v));
                break;
            }
        }
    }
    out
}

/// `/proc/net/dev`: `(device, [16 counters])` in the file's column order.
pub fn net_dev(text: &str) -> Vec<(String, [f64; 16])> {
    let mut out = Vec::new();
    for line in text.lines().skip(2) {
        let Some((dev, rest)) = line.split_once(':') else {
            continue;
        };
        let mut v = [0.0; 16];
        let mut n = 0;
        for (i, x) in rest.split_ascii_whitespace().take(16).enumerate() {
            v[i] = x.parse().unwrap_or(0.0);
            n += 1;
        }
        if n == 16 {
            out.push((dev.trim().to_owned(), v));
        }
    }
    out
}

/// `/proc/diskstats`: `(major, minor, device, counters)`; 11 to 17 counters depending on kernel.
pub fn diskstats(text: &str) -> Vec<(String, String, String, Vec<f64>)> {
    text.lines()
        .filter_map(|l| {
            let mut it = l.split_ascii_whitespace();
            let major = it.next()?.to_owned();
            let minor = it.next()?.to_owned();
            let dev = it.next()?.to_owned();
            let vals: Vec<f64> = it.filter_map(|x| x.parse().ok()).collect();
            (vals.len() >= 11).then_some((major, minor, dev, vals))
        })
        .collect()
}

/// One `/proc/self/mountinfo` line: device, mount point, fs type, options (rw/ro).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// Source device.
    pub device: String,
    /// Mount point (octal escapes decoded).
    pub mount_point: String,
    /// Filesystem type.
    pub fs_type: String,
    /// Read-only.
    pub read_only: bool,
}

/// Parses `/proc/self/mountinfo`.
pub fn mountinfo(text: &str) -> Vec<Mount> {
    let mut out = Vec::new();
    for line in text.lines() {
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let l: Vec<&str> = left.split(' ').collect();
        let r: Vec<&str> = right.split(' ').collect();
        if l.len() < 6 || r.len() < 2 {
            continue;
        }
        let ro = l[5].split(',').any(|o| o == "ro");
        out.push(Mount {
            device: unescape(r[1]),
            mount_point: unescape(l[4]),
            fs_type: r[0].to_owned(),
            read_only: ro,
        });
    }
    out
}

/// Decodes mountinfo's `\040`-style octal escapes.
fn unescape(s: &str) -> String {
    if !s.contains('\\') {
        return s.to_owned();
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 4 <= b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = (b[i + 1] - b'0') as u32 * 64
                + (b[i + 2] - b'0') as u32 * 8
                + (b[i + 3] - b'0') as u32;
            out.push(v as u8);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `/proc/pressure/<resource>`: `(some total µs, full total µs)`.
pub fn pressure(text: &str) -> (Option<f64>, Option<f64>) {
    let mut some = None;
    let mut full = None;
    for line in text.lines() {
        let total = line
            .split_ascii_whitespace()
            .find_map(|kv| kv.strip_prefix("total="))
            .and_then(|v| v.parse::<f64>().ok());
        if line.starts_with("some") {
            some = total;
        } else if line.starts_with("full") {
            full = total;
        }
    }
    (some, full)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIX: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/proc");

    fn fixture(rel: &str) -> String {
        std::fs::read_to_string(format!("{FIX}/{rel}")).unwrap()
    }

    #[test]
    fn stat_parses_the_captured_file() {
        let s = stat(&fixture("stat"));
        assert_eq!(s.cpus.len(), 2);
        assert!(s.ctxt.unwrap() > 0.0 && s.btime.unwrap() > 1.6e9);
    }

    #[test]
    fn meminfo_has_bytes_and_renamed_fields() {
        let m = meminfo(&fixture("meminfo"));
        assert!(
            m.iter()
                .any(|(k, v, kb)| k == "MemTotal" && *v > 1e9 && *kb)
        );
        assert!(m.iter().any(|(k, _, _)| k == "Active_anon"));
        assert!(m.iter().any(|(k, _, kb)| k == "HugePages_Total" && !kb));
    }

    #[test]
    fn netstat_snmp_and_dev_parse() {
        let n = netstat(&fixture("net/netstat"));
        assert!(n.iter().any(|(k, _)| k == "TcpExt_ListenDrops"));
        let s = netstat(&fixture("net/snmp"));
        assert!(s.iter().any(|(k, _)| k == "Tcp_CurrEstab"));
        let d = net_dev(&fixture("net/dev"));
        assert!(d.iter().any(|(dev, _)| dev == "lo"));
    }

    #[test]
    fn mountinfo_and_diskstats_parse() {
        let m = mountinfo(&fixture("self/mountinfo"));
        assert!(m.iter().any(|m| m.mount_point == "/"));
        assert_eq!(unescape("/mnt/with\\040space"), "/mnt/with space");
        let d = diskstats(&fixture("diskstats"));
        assert!(!d.is_empty());
    }

    #[test]
    fn pressure_totals() {
        assert_eq!(
            pressure(
                "some avg10=0.00 avg60=0.00 avg300=0.00 total=15\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=7\n"
            ),
            (Some(15.0), Some(7.0))
        );
    }

    #[test]
    fn edge_cases_no_swap_many_cpus_truncated() {
        let many: String = (0..128)
            .map(|i| format!("cpu{i} 1 2 3 4 5 6 7 8 0 0\n"))
            .collect();
        assert_eq!(
            stat(&format!("cpu 1 2 3 4 5 6 7 8 0 0\n{many}")).cpus.len(),
            128
        );
        let no_swap = "MemTotal: 100 kB\nSwapTotal: 0 kB\nSwapFree: 0 kB\n";
        assert_eq!(meminfo(no_swap).len(), 3);
        let truncated = &fixture("net/dev")[..60];
        let _ = net_dev(truncated);
        let _ = diskstats("8 0 sda 1 2");
        assert!(diskstats("8 0 sda 1 2").is_empty());
    }

    proptest::proptest! {
        #[test]
        fn garbage_never_panics(text in ".*") {
            let _ = stat(&text);
            let _ = meminfo(&text);
            let _ = key_values(&text);
            let _ = netstat(&text);
            let _ = snmp6(&text);
            let _ = net_dev(&text);
            let _ = diskstats(&text);
            let _ = mountinfo(&text);
            let _ = pressure(&text);
            let _ = unescape(&text);
        }
    }
}
