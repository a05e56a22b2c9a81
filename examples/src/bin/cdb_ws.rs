//! `cdb_ws`: see the crate docs of `mcp_examples`.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match mcp_examples::run(mcp_examples::Service::Ws).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => mcp_examples::fail("cdb_ws", error.as_ref()),
    }
}
