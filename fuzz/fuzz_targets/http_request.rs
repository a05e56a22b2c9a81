//! One client connection's bytes through hyper (with core's limits) into a router like an exporter's.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    mcp_exporter_core::web::fuzzing::http_request(data);
});
