//! `CLIENT LIST` with `--export-client-list`: `connected_clients_details` (the v1.63 shape, one
//! series per connection; cardinality grows with connections, hence off by default).

use mcp_exporter_core::MetricSet;

use super::Scrape;

/// Writes `connected_clients_details`.
pub fn collect(s: &Scrape, out: &mut MetricSet) {
    let Some(list) = &s.snap.client_list else {
        return;
    };
    let now = s.now;
    for line in list.lines() {
        let mut f = std::collections::HashMap::new();
        for part in line.split(' ') {
            if let Some((k, v)) = part.split_once('=') {
                f.insert(k, v);
            }
        }
        let get = |k: &str| f.get(k).copied().unwrap_or("");
        let (host, port) = get("addr").rsplit_once(':').unwrap_or((get("addr"), ""));
        let age: f64 = get("age").parse().unwrap_or(0.0);
        let idle: f64 = get("idle").parse().unwrap_or(0.0);
        let created_at = format!("{}", (now - age).floor());
        let idle_since = format!("{}", (now - idle).floor());
        let mut labels = vec![
            ("name", get("name")),
            ("created_at", created_at.as_str()),
            ("idle_since", idle_since.as_str()),
            ("flags", get("flags")),
            ("db", get("db")),
            ("omem", get("omem")),
            ("cmd", get("cmd")),
            ("host", host),
            ("user", get("user")),
            ("resp", get("resp")),
        ];
        if s.opts.export_client_port {
            labels.push(("port", port));
        }
        out.gauge(
            "redis_connected_clients_details",
            "Details about connected clients",
            &labels,
            1.0,
        );
    }
}
