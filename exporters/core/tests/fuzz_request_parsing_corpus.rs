//! Issue 17, item 2 ("fuzz the request parsing path"): the same entry points as the cargo-fuzz
//! targets in `fuzz/` (`mcp_exporter_core::web::fuzzing`), run here as bounded checks so the
//! suite covers them on stable: a fixed corpus of hostile inputs, then proptest's random and
//! structured ones. Any panic fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use mcp_exporter_core::web::fuzzing;
use proptest::prelude::*;

/// Inputs that broke, or could break, a naive parser.
const CORPUS: &[&[u8]] = &[
    b"1e20",
    b"x-prometheus-scrape-timeout-seconds:1e20",
    b"x-prometheus-scrape-timeout-seconds:inf\nx-prometheus-scrape-timeout-seconds:NaN",
    b"x-prometheus-scrape-timeout-seconds:18446744073709551616",
    b"x-prometheus-scrape-timeout-seconds:-0.0",
    b"x-prometheus-scrape-timeout-seconds:1e-400",
    b"accept-encoding:gzip;q=1e999,gzip;q=-0,gzip;q=NaN,;;;",
    b"authorization:Basic \xff\xfe",
    b"authorization:Basic Og==",
    b"authorization:Basic ",
    b"99999999999999999999999h",
    b"1e308s",
    b"18446744073709551616",
    b".ms",
    b"-web.listen-address=:99999 --web.max-scrape-timeout=99999999999999999999",
    b"--web.max-scrape-timeout 1e20 --log.level nope",
    b":65536",
    b":-1",
    b"basic_auth_users:\n  u: x\ntls_server_config: {cert_file: [1]}",
    b"http_server_config:\n  headers: {\"\\n\": \"\\r\"}",
    b"&a [*a, *a, *a]",
];

const REQUESTS: &[&[u8]] = &[
    b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Prometheus-Scrape-Timeout-Seconds: 1e20\r\n\r\n",
    b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Prometheus-Scrape-Timeout-Seconds: inf\r\nAccept-Encoding: gzip;q=NaN\r\n\r\nGET / HTTP/1.1\r\n\r\n",
    b"GET /metrics?%ff%fe=%zz&&&== HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 18446744073709551616\r\n\r\n",
    b"GET /metrics HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffffff\r\n",
    b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Prometheus-Scrape-Timeout-Seconds: \x80\xff\r\n\r\n",
    b"GET /-/healthy HTTP/1.0\r\n\r\n",
    b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03",
    b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
    b"GET /metrics HTTP/1.1\r\nHost: x\r\nUser-Agent: slow",
    b"",
];

#[test]
fn the_hostile_corpus_never_panics() {
    for input in CORPUS {
        fuzzing::request_headers(input);
        fuzzing::core_parsers(input);
    }
    for input in REQUESTS {
        fuzzing::http_request(input);
    }
}

fn header_line() -> impl Strategy<Value = Vec<u8>> {
    let name = prop_oneof![
        Just(b"x-prometheus-scrape-timeout-seconds".to_vec()),
        Just(b"accept-encoding".to_vec()),
        Just(b"authorization".to_vec()),
        proptest::collection::vec(any::<u8>(), 0..12),
    ];
    let value = prop_oneof![
        any::<f64>().prop_map(|f| f.to_string().into_bytes()),
        "[0-9eE+\\-.]{0,40}".prop_map(String::into_bytes),
        "(gzip|identity|\\*)(;q=[0-9.eE+\\-]{0,8})?(, ?(gzip|br)(;q=[0-9.]{0,5})?){0,3}"
            .prop_map(String::into_bytes),
        "Basic [A-Za-z0-9+/=]{0,40}".prop_map(String::into_bytes),
        proptest::collection::vec(any::<u8>(), 0..40),
    ];
    (name, value).prop_map(|(mut n, v)| {
        n.push(b':');
        n.extend(v);
        n
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn random_headers_never_panic(lines in proptest::collection::vec(header_line(), 0..6)) {
        fuzzing::request_headers(&lines.join(&b'\n'));
    }

    #[test]
    fn random_bytes_never_panic_the_header_or_core_parsers(data in proptest::collection::vec(any::<u8>(), 0..256)) {
        fuzzing::request_headers(&data);
        fuzzing::core_parsers(&data);
    }

    #[test]
    fn random_durations_and_flags_never_panic(text in "(-{0,2}(web|log)\\.[a-z.\\-]{0,20}(=| )?)?[0-9.eE+\\-]{0,30}(ms|s|m|h|d|)") {
        fuzzing::core_parsers(text.as_bytes());
    }
}

proptest! {
    // Each case builds a runtime and serves one connection: fewer cases.
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn random_requests_never_panic_the_connection(
        path in "/[a-z\\-/?=&%0-9\\[\\]]{0,30}",
        lines in proptest::collection::vec(header_line(), 0..5),
        tail in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let mut req = format!("GET {path} HTTP/1.1\r\nHost: x\r\n").into_bytes();
        for l in lines {
            req.extend(l);
            req.extend(b"\r\n");
        }
        req.extend(b"\r\n");
        req.extend(tail);
        fuzzing::http_request(&req);
    }
}
