//! `/proc/net/netstat`, `/proc/net/snmp`, `/proc/net/snmp6`: the fields matching
//! `--collector.netstat.fields`, as untyped `node_netstat_<Proto>_<Field>`.

use mcp_exporter_core::MetricSet;
use mcp_exporter_core::collector::CollectError;

use crate::{Host, parse, read};

/// Writes the selected netstat fields.
pub fn collect(host: &Host, out: &mut MetricSet) -> Result<(), CollectError> {
    let mut fields = parse::netstat(&read(&host.proc("net/netstat"))?);
    fields.extend(parse::netstat(&read(&host.proc("net/snmp"))?));
    // No IPv6 on the host is not an error.
    if let Ok(text) = crate::read_text(host.proc("net/snmp6")) {
        fields.extend(parse::snmp6(&text));
    }
    for (k, v) in fields {
        let made = host.names.get("netstat", &k, |k| {
            let (proto, field) = k.split_once('_').unwrap_or((k, ""));
            host.netstat_fields.is_match(k).then(|| {
                (
                    format!("node_netstat_{k}"),
                    format!("Statistic {proto}{field}."),
                )
            })
        });
        if let Some((name, help)) = made {
            out.untyped(name, help, &[], v);
        }
    }
    Ok(())
}
