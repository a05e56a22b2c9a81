//! `mcp-host-exporter`: the shared exporter main over this crate's descriptor.

mcp_exporter_core::musl_allocator!();

fn main() -> std::process::ExitCode {
    mcp_exporter_core::exporter::main::<mcp_host_exporter::HostExporter>()
}
