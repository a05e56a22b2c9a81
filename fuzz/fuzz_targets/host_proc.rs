//! The text of a `/proc` or `/sys` file (or os-release, a textfile line) through every host parser.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    mcp_host_exporter::fuzzing::proc_files(data);
});
