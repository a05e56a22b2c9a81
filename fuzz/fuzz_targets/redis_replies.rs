//! RESP replies of one scrape (as redis-rs reads them) stored by slot, through every Redis collector.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    mcp_redis_exporter::fuzzing::replies(data);
});
