//! `node_uname_info{domainname,machine,nodename,release,sysname,version}` from
//! `/proc/sys/kernel/*` (the host's values when its /proc is mounted into a container).

use mcp_exporter_core::MetricSet;
use mcp_exporter_core::collector::CollectError;

use crate::{Host, read};

/// Writes `node_uname_info`.
pub fn collect(host: &Host, out: &mut MetricSet) -> Result<(), CollectError> {
    let k = |f: &str| read(&host.proc(&format!("sys/kernel/{f}"))).map(|s| s.trim().to_owned());
    let machine = match std::env::consts::ARCH {
        "x86" => "i686",
        a => a,
    };
    out.gauge(
        "node_uname_info",
        "Labeled system information as provided by the uname system call.",
        &[
            ("domainname", &k("domainname")?),
            ("machine", machine),
            ("nodename", &k("hostname")?),
            ("release", &k("osrelease")?),
            ("sysname", &k("ostype")?),
            ("version", &k("version")?),
        ],
        1.0,
    );
    Ok(())
}
