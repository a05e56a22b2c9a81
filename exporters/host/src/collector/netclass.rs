//! `/sys/class/net/<iface>/*`: `node_network_info`, `node_network_up`, and the numeric device
//! properties as `node_network_<property>` (node_exporter's netclass collector).

use mcp_exporter_core::MetricSet;
use mcp_exporter_core::collector::CollectError;

use crate::Host;

/// `(sysfs file, family, HELP, counter?)`: node_exporter's names, literal.
const PROPS: &[(&str, &str, &str, bool)] = &[
    (
        "addr_assign_type",
        "node_network_address_assign_type",
        "Network device property: address_assign_type",
        false,
    ),
    (
        "carrier",
        "node_network_carrier",
        "Network device property: carrier",
        false,
    ),
    (
        "carrier_changes",
        "node_network_carrier_changes_total",
        "Network device property: carrier_changes_total",
        true,
    ),
    (
        "carrier_up_count",
        "node_network_carrier_up_changes_total",
        "Network device property: carrier_up_changes_total",
        true,
    ),
    (
        "carrier_down_count",
        "node_network_carrier_down_changes_total",
        "Network device property: carrier_down_changes_total",
        true,
    ),
    (
        "dev_id",
        "node_network_device_id",
        "Network device property: device_id",
        false,
    ),
    (
        "dormant",
        "node_network_dormant",
        "Network device property: dormant",
        false,
    ),
    (
        "flags",
        "node_network_flags",
        "Network device property: flags",
        false,
    ),
    (
        "ifindex",
        "node_network_iface_id",
        "Network device property: iface_id",
        false,
    ),
    (
        "iflink",
        "node_network_iface_link",
        "Network device property: iface_link",
        false,
    ),
    (
        "link_mode",
        "node_network_iface_link_mode",
        "Network device property: iface_link_mode",
        false,
    ),
    (
        "mtu",
        "node_network_mtu_bytes",
        "Network device property: mtu_bytes",
        false,
    ),
    (
        "name_assign_type",
        "node_network_name_assign_type",
        "Network device property: name_assign_type",
        false,
    ),
    (
        "netdev_group",
        "node_network_net_dev_group",
        "Network device property: net_dev_group",
        false,
    ),
    (
        "type",
        "node_network_protocol_type",
        "Network device property: protocol_type",
        false,
    ),
    (
        "tx_queue_len",
        "node_network_transmit_queue_length",
        "Network device property: transmit_queue_length",
        false,
    ),
];

fn value(text: &str) -> Option<f64> {
    let t = text.trim();
    t.strip_prefix("0x")
        .map(|h| i64::from_str_radix(h, 16).ok().map(|v| v as f64))
        .unwrap_or_else(|| t.parse::<f64>().ok())
}

/// Writes the netclass families.
pub fn collect(host: &Host, out: &mut MetricSet) -> Result<(), CollectError> {
    let dir = host.sys("class/net");
    let mut names: Vec<String> = std::fs::read_dir(&dir)?
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    for dev in names {
        if host
            .net_exclude
            .as_ref()
            .is_some_and(|re| re.is_match(&dev))
        {
            continue;
        }
        let base = dir.join(&dev);
        // Reading some attributes of a down device fails with EINVAL: that property is absent.
        let read = |f: &str| crate::read_text(base.join(f)).ok();
        let text = |f: &str| read(f).map(|s| s.trim().to_owned()).unwrap_or_default();
        let operstate = text("operstate");
        out.gauge(
            "node_network_info",
            "Non-numeric data from /sys/class/net/<iface>, value is always 1.",
            &[
                ("address", &text("address")),
                ("broadcast", &text("broadcast")),
                ("device", &dev),
                ("duplex", &text("duplex")),
                ("ifalias", &text("ifalias")),
                ("operstate", &operstate),
            ],
            1.0,
        );
        out.gauge(
            "node_network_up",
            "Value is 1 if operstate is 'up', 0 otherwise.",
            &[("device", &dev)],
            if operstate == "up" { 1.0 } else { 0.0 },
        );
        for (file, name, help, counter) in PROPS {
            if let Some(v) = read(file).as_deref().and_then(value) {
                if *counter {
                    out.counter(*name, *help, &[("device", &dev)], v);
                } else {
                    out.gauge(*name, *help, &[("device", &dev)], v);
                }
            }
        }
        // Mbit/s → bytes/s; node_exporter 1.5 reports an unknown speed (-1) as -125000 too.
        if let Some(speed) = read("speed").as_deref().and_then(value) {
            out.gauge(
                "node_network_speed_bytes",
                "Network device property: speed_bytes",
                &[("device", &dev)],
                speed * 125_000.0,
            );
        }
    }
    Ok(())
}
