//! Process metrics with client_golang's names and HELP, plus `process_threads`, sampled from
//! `/proc/self` at scrape time by mcp-text-format's sampler (shared with the exporters): CPU
//! seconds and the start time keep their fractions and use the kernel's real clock-tick rate.

use mcp_text_format::process::ProcessSample;

use super::Builtin;

/// Appends the process families; none where `/proc` is not available (non-Linux).
pub(crate) fn families(out: &mut Vec<Builtin<'_>>) {
    if let Some(s) = ProcessSample::of_self() {
        out.extend(
            s.families_with_threads()
                .into_iter()
                .map(|f| Builtin::one(f.name, f.help, f.kind, None, f.value)),
        );
    }
}
