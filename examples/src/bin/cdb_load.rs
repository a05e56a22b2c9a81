//! `cdb_load`: drives the CDB services with a realistic mix; see `mcp_examples::load`.

fn main() -> std::process::ExitCode {
    mcp_examples::load::main()
}
