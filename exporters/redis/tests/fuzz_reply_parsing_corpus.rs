//! Issue 17, item 2 ("the fuzz targets cover ... the parsers"): the entry points of the
//! `redis_replies` and `redis_info` cargo-fuzz targets in `fuzz/`
//! (`mcp_redis_exporter::fuzzing`), run here as bounded checks so the suite covers them on
//! stable: the captured replies of a real Redis, a corpus of hostile ones, then proptest's random
//! and structured inputs. Any panic fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use mcp_redis_exporter::fuzzing;
use proptest::prelude::*;

const REPLIES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/replies");

/// Replies that broke, or could break, a naive reader.
const CORPUS: &[&[u8]] = &[
    b"$2147483647\r\nxx",
    b"$-1\r\n",
    b"$-2\r\n",
    b"*-1\r\n",
    b"*2147483647\r\n",
    b"*3\r\n$5\r\nhello\r\n:1\r\n-ERR nope\r\n",
    b"*7\r\n$0\r\n\r\n*0\r\n:9223372036854775807\r\n*1\r\n*4\r\n:1\r\n:1e400\r\n*0\r\n$0\r\n\r\n*0\r\n*0\r\n%0\r\n",
    b"-NOAUTH Authentication required.\r\n",
    b"-WRONGPASS invalid\r\n",
    b"+OK\r\n",
    b",inf\r\n",
    b",nan\r\n",
    b"=15\r\ntxt:# Server\r\n\r\n",
    b"%2\r\n+maxmemory\r\n+1e400\r\n+databases\r\n+-1\r\n",
    b"$40\r\n# Keyspace\r\ndb0:keys=1e400,expires=-1,,==\r\n",
];

/// INFO texts that broke, or could break, a naive parser.
const INFO: &[&[u8]] = &[
    b"",
    b"#",
    b":",
    b"# Keyspace\r\ndb0:keys=,expires=,avg_ttl=\r\ndbX:keys=1\r\ndb99999999999999999999:keys=1\r\n",
    b"# Commandstats\r\ncmdstat_:calls=1e400,usec=-1,usec_per_call=nan\r\ncmdstat_get\r\n",
    b"# Replication\r\nrole:slave\r\nslave0:ip=,port=99999999,state=online,offset=-1,lag=inf\r\nmaster_link_down_since_seconds:-1\r\n",
    b"# Errorstats\r\nerrorstat_:count=\r\nerrorstat_ERR:count=18446744073709551616\r\n",
    b"redis_version:99999999999999999999.1\r\nredis_version:\xff\xfe\r\n",
    b"# Server\r\nuptime_in_seconds:1e400\r\nprocess_id:-0\r\n# Memory\r\nused_memory:nan\r\n",
    b"# Latencystats\r\nlatency_percentiles_usec_get:p50=,p99=1e400,p99.9\r\n",
];

#[test]
fn the_captured_and_hostile_replies_never_panic() {
    for entry in std::fs::read_dir(REPLIES).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "resp") {
            let bytes = std::fs::read(&path).unwrap();
            fuzzing::replies(&bytes);
            // And the whole pipeline's answer as one array of this reply in every slot.
            let mut all = b"*8\r\n".to_vec();
            for _ in 0..8 {
                all.extend_from_slice(&bytes);
            }
            fuzzing::replies(&all);
        }
    }
    for input in CORPUS {
        fuzzing::replies(input);
        fuzzing::info(input);
    }
    for input in INFO {
        fuzzing::info(input);
    }
    let info = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/info_all_redis7.txt"
    ))
    .unwrap();
    fuzzing::info(&info);
}

/// One RESP value, nested up to a few levels, with hostile scalars.
fn resp() -> impl Strategy<Value = Vec<u8>> {
    let scalar = prop_oneof![
        "[ -~]{0,20}".prop_map(|s| format!("+{s}\r\n").into_bytes()),
        "[ -~]{0,20}".prop_map(|s| format!("-{s}\r\n").into_bytes()),
        any::<i64>().prop_map(|n| format!(":{n}\r\n").into_bytes()),
        any::<f64>().prop_map(|f| format!(",{f}\r\n").into_bytes()),
        "[a-z_0-9:=,.#\\r\\n -]{0,60}"
            .prop_map(|s| format!("${}\r\n{s}\r\n", s.len()).into_bytes()),
        Just(b"$-1\r\n".to_vec()),
        proptest::collection::vec(any::<u8>(), 0..16),
    ];
    scalar.prop_recursive(3, 32, 6, |inner| {
        proptest::collection::vec(inner, 0..6).prop_map(|items| {
            let mut out = format!("*{}\r\n", items.len()).into_bytes();
            for i in items {
                out.extend(i);
            }
            out
        })
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 500, ..ProptestConfig::default() })]

    #[test]
    fn random_replies_never_panic(value in resp()) {
        fuzzing::replies(&value);
    }

    #[test]
    fn random_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..256)) {
        fuzzing::replies(&data);
        fuzzing::info(&data);
    }

    #[test]
    fn random_info_lines_never_panic(
        lines in proptest::collection::vec(
            "(# [A-Za-z]{0,12}|[a-z_0-9]{0,20}:([a-z_]{0,8}=[0-9eE+.\\-]{0,12},?){0,4}|[a-z_]{0,20}:[0-9eE+.\\-a-z]{0,20})",
            0..24,
        )
    ) {
        fuzzing::info(lines.join("\r\n").as_bytes());
    }
}
