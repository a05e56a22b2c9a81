//! The text of an `INFO ALL` reply through the INFO parser and every Redis collector.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    mcp_redis_exporter::fuzzing::info(data);
});
