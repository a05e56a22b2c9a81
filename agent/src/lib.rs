//! mcp-agent: one sidecar process per host that serves every mcp exporter on its classic port.
//!
//! The agent links the exporters' libraries, so the collectors it runs are the very same code as
//! the standalone binaries (`mcp-host-exporter`, `mcp-redis-exporter`, `mcp-postgres-exporter`).
//! Without a config file each exporter is configured exactly as its standalone binary would be
//! with no flags: built-in defaults, overridden by the upstream environment variables
//! (`REDIS_ADDR`, `DATA_SOURCE_NAME`, ...), so a unit that ran the Go exporters keeps its
//! environment. With `--config`, one YAML file holds a section per exporter.

#![forbid(unsafe_code)]

pub mod cmd;
pub mod config;
pub mod env_defaults;
pub mod logs;
pub mod run;
pub mod telemetry;
