//! `/proc/diskstats`: `node_disk_*{device}` per block device not matching the exclude regexp,
//! and `node_disk_info{device,major,minor,...}` (node_exporter's diskstats collector).

use mcp_exporter_core::MetricSet;
use mcp_exporter_core::collector::CollectError;

use crate::{Host, parse, read};

const SECTOR: f64 = 512.0;

/// `(column, family, HELP, scale, counter?)`.
const COLS: &[(usize, &str, &str, f64, bool)] = &[
    (
        0,
        "node_disk_reads_completed_total",
        "The total number of reads completed successfully.",
        1.0,
        true,
    ),
    (
        1,
        "node_disk_reads_merged_total",
        "The total number of reads merged.",
        1.0,
        true,
    ),
    (
        2,
        "node_disk_read_bytes_total",
        "The total number of bytes read successfully.",
        SECTOR,
        true,
    ),
    (
        3,
        "node_disk_read_time_seconds_total",
        "The total number of seconds spent by all reads.",
        0.001,
        true,
    ),
    (
        4,
        "node_disk_writes_completed_total",
        "The total number of writes completed successfully.",
        1.0,
        true,
    ),
    (
        5,
        "node_disk_writes_merged_total",
        "The number of writes merged.",
        1.0,
        true,
    ),
    (
        6,
        "node_disk_written_bytes_total",
        "The total number of bytes written successfully.",
        SECTOR,
        true,
    ),
    (
        7,
        "node_disk_write_time_seconds_total",
        "This is the total number of seconds spent by all writes.",
        0.001,
        true,
    ),
    (
        8,
        "node_disk_io_now",
        "The number of I/Os currently in progress.",
        1.0,
        false,
    ),
    (
        9,
        "node_disk_io_time_seconds_total",
        "Total seconds spent doing I/Os.",
        0.001,
        true,
    ),
    (
        10,
        "node_disk_io_time_weighted_seconds_total",
        "The weighted # of seconds spent doing I/Os.",
        0.001,
        true,
    ),
    (
        11,
        "node_disk_discards_completed_total",
        "The total number of discards completed successfully.",
        1.0,
        true,
    ),
    (
        12,
        "node_disk_discards_merged_total",
        "The total number of discards merged.",
        1.0,
        true,
    ),
    (
        13,
        "node_disk_discarded_sectors_total",
        "The total number of sectors discarded successfully.",
        1.0,
        true,
    ),
    (
        14,
        "node_disk_discard_time_seconds_total",
        "This is the total number of seconds spent by all discards.",
        0.001,
        true,
    ),
    (
        15,
        "node_disk_flush_requests_total",
        "The total number of flush requests completed successfully",
        1.0,
        true,
    ),
    (
        16,
        "node_disk_flush_requests_time_seconds_total",
        "This is the total number of seconds spent by all flush requests.",
        0.001,
        true,
    ),
];

/// Writes the diskstats families.
pub fn collect(host: &Host, out: &mut MetricSet) -> Result<(), CollectError> {
    for (major, minor, dev, vals) in parse::diskstats(&read(&host.proc("diskstats"))?) {
        let skip = match &host.disk_include {
            Some(include) => !include.is_match(&dev),
            None => host.disk_exclude.is_match(&dev),
        };
        if skip {
            continue;
        }
        let labels = [("device", dev.as_str())];
        out.gauge(
            "node_disk_info",
            "Info of /sys/block/<block_device>.",
            &[
                ("device", dev.as_str()),
                ("major", major.as_str()),
                ("minor", minor.as_str()),
                ("path", ""),
                ("wwn", ""),
                ("model", ""),
                ("serial", ""),
                ("revision", ""),
            ],
            1.0,
        );
        for (col, name, help, scale, counter) in COLS {
            let Some(v) = vals.get(*col) else { continue };
            if *counter {
                out.counter(*name, *help, &labels, v * scale);
            } else {
                out.gauge(*name, *help, &labels, v * scale);
            }
        }
    }
    Ok(())
}
