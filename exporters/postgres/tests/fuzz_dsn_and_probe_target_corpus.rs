//! Issue 17, item 2 ("the fuzz targets cover ... the parsers"): the entry points of the
//! `postgres_dsn` and `postgres_probe` cargo-fuzz targets in `fuzz/`
//! (`mcp_postgres_exporter::fuzzing`), run here as bounded checks so the suite covers them on
//! stable: a corpus of hostile DSNs, `/probe` targets and auth-modules files, then proptest's
//! random and structured inputs. Any panic fails the test, and so does a password that shows in
//! any rendering of a DSN.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use mcp_postgres_exporter::fuzzing;
use proptest::prelude::*;

const DSNS: &[&str] = &[
    "",
    "postgresql://",
    "postgresql://u:p@h:99999/db",
    "postgresql://u:p@h:-1/db",
    "postgresql://u:p@[::1/db",
    "postgresql://%zz:%ff@h/db?sslmode=nope&connect_timeout=1e400",
    "postgresql://u:secret@h/db?connect_timeout=18446744073709551616",
    "postgres://u@/db?host=/run/postgresql&port=notaport",
    "host=db.internal port=notaport",
    "host=h password='unterminated",
    "host=h password=\\",
    "host='' port='' user='' password='x' dbname=''",
    "host=h options='-c statement_timeout=1e400' application_name=\u{0}",
    "%%%garbage",
    "=\u{0}=",
    "host=h port=5432 sslmode=verify-full sslrootcert=/nonexistent",
];

const PROBES: &[&[u8]] = &[
    b"auth_modules:\n  foo:\n    type: userpass\n    userpass: {username: u, password: p}\n    options: {sslmode: disable}\n\0h:5432/db\0foo",
    b"auth_modules:\n  foo:\n    type: nope\n\0h\0foo",
    b"auth_modules: {foo: {type: userpass, userpass: {username: \"\\u0000\", password: \"\"}, options: {port: x}}}\0postgresql://h:1/db\0foo",
    b"&a [*a, *a]\0h\0foo",
    b"\0\0",
    b"\0host=db.internal port=notaport\0",
];

#[test]
fn the_hostile_corpus_never_panics_nor_shows_a_password() {
    for dsn in DSNS {
        fuzzing::dsn(dsn.as_bytes());
    }
    for probe in PROBES {
        fuzzing::probe(probe);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..200)) {
        fuzzing::dsn(&data);
        fuzzing::probe(&data);
    }

    #[test]
    fn random_uris_never_panic(
        user in "[a-z%:@0-9]{0,8}",
        password in "[a-z%:@/?#0-9]{0,8}",
        host in "[a-z.:\\[\\]/%0-9]{0,12}",
        port in "[0-9a-z\\-]{0,7}",
        query in "([a-z_]{1,16}=[a-z0-9.%\\-/]{0,10}&?){0,4}",
    ) {
        let uri = format!("postgresql://{user}:{password}@{host}:{port}/db?{query}");
        fuzzing::dsn(uri.as_bytes());
    }

    #[test]
    fn random_key_value_dsns_never_panic(
        pairs in proptest::collection::vec(
            "(host|port|user|password|dbname|sslmode|sslrootcert|connect_timeout|options|application_name|x)=('[^']{0,10}'?|[a-z0-9.\\\\/\\-]{0,10})",
            0..6,
        )
    ) {
        fuzzing::dsn(pairs.join(" ").as_bytes());
    }
}
