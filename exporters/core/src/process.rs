//! `process_*` families with client_golang's names and HELP, read from `/proc/self`.
//!
//! The sampler is mcp-text-format's (shared with mcp-instrument): clock ticks at the kernel's real
//! rate, unreadable values left out rather than failing the scrape, as client_golang does. On
//! non-Linux systems nothing is written.

use crate::encoder::MetricSet;
use mcp_text_format::process::ProcessSample;

/// Writes the process families for this process.
pub fn collect(out: &mut MetricSet) {
    if let Some(sample) = ProcessSample::of_self() {
        for f in sample.families() {
            out.push(
                f.name.into(),
                f.help.into(),
                f.kind,
                Vec::new(),
                crate::encoder::Value::Single(f.value),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    #[cfg(target_os = "linux")]
    fn process_families_have_client_golang_names() {
        let mut set = super::MetricSet::new();
        super::collect(&mut set);
        let (text, _) = set.encode();
        for name in [
            "process_cpu_seconds_total",
            "process_max_fds",
            "process_open_fds",
            "process_resident_memory_bytes",
            "process_start_time_seconds",
            "process_virtual_memory_bytes",
            "process_virtual_memory_max_bytes",
        ] {
            assert!(text.contains(&format!("# TYPE {name} ")), "{name} missing");
        }
        assert!(
            !text.contains("process_threads"),
            "not a client_golang family"
        );
    }
}
