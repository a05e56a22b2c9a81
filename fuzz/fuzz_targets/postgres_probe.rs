//! An auth-modules file and a `/probe` request's target and module through the parser and the lookup.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    mcp_postgres_exporter::fuzzing::probe(data);
});
