//! `mcp-redis-exporter`: the shared exporter main over this crate's descriptor; everything else
//! is in the library, which `mcp-agent` links too.

mcp_exporter_core::musl_allocator!();

fn main() -> std::process::ExitCode {
    mcp_exporter_core::exporter::main::<mcp_redis_exporter::RedisExporter>()
}
