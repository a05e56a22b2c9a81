//! The load driver behind `cdb_load`.

/// Entry point of `cdb_load`.
pub fn main() -> std::process::ExitCode {
    std::process::ExitCode::SUCCESS
}
