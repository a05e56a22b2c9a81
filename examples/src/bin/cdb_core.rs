//! `cdb_core`: see the crate docs of `mcp_examples`.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match mcp_examples::run(mcp_examples::Service::Core).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => mcp_examples::fail("cdb_core", error.as_ref()),
    }
}
