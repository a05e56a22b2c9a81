//! Durations, the web config file (YAML) and Go-style flags, as core parses them.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    mcp_exporter_core::web::fuzzing::core_parsers(data);
});
