//! A `DATA_SOURCE_NAME` or `/probe?target=` through the PostgreSQL DSN parsers; no password may show.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    mcp_postgres_exporter::fuzzing::dsn(data);
});
