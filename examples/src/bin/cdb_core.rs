//! `cdb_core`: see the crate docs of `mcp_examples`.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    mcp_examples::run(mcp_examples::Service::Core)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))
}
