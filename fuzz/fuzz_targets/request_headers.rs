//! Header lines through every header parser of the request path (scrape timeout, Accept-Encoding, basic auth).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    mcp_exporter_core::web::fuzzing::request_headers(data);
});
