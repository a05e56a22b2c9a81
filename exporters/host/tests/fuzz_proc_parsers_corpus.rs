//! Issue 17, item 2 ("the fuzz targets cover ... the parsers"): the entry point of the
//! `host_proc` cargo-fuzz target in `fuzz/` (`mcp_host_exporter::fuzzing`), run here as bounded
//! checks so the suite covers it on stable: every captured `/proc` and `/sys` fixture, truncated
//! at every line, a corpus of hostile lines, then proptest's random and structured inputs. Any
//! panic fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use mcp_host_exporter::fuzzing;
use proptest::prelude::*;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

const CORPUS: &[&str] = &[
    "",
    "cpu",
    "cpu0 1e400 -1 nan inf x",
    "cpu99999999999999999999 1 2 3",
    "intr\nctxt 18446744073709551616\nbtime -1",
    "MemTotal: 1e400 kB\nSwapFree:\n: kB\nHugePages_Total: x",
    "TcpExt: a b c\nTcpExt: 1\nIpExt:\nIpExt: 1 2 3 4",
    "Inter-|\n face |bytes\n  lo: 1 2\neth0:1e400 x",
    "   8       0 sda 1 2 3\n 259 0 nvme0n1",
    "36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue",
    "36 35 98:0 /mnt1 /mnt\\040with\\\\ rw -",
    "some avg10=x total=\nfull total=1e400",
    "/dev/sda1 / ext4 rw 0 0\n/dev/sda1 /a\\011b ext4",
    "NAME=\"unterminated\nID='x'\n=\nVERSION_ID",
    "{\"Config\":{\"Image\":1},\"Name\":[]}",
    "{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{",
    "metric{a=\"\\\"\",b=\"\\\\\"} 1e400\nmetric{a=\"unterminated} 1\nm{=\"\"} nan\nm{a=b} 1",
    "docker-0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef.scope",
    "\u{0}\u{ffff}\r\n\r\n",
];

fn each_file(dir: &Path, f: &mut dyn FnMut(&[u8])) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            each_file(&path, f);
        } else if let Ok(bytes) = std::fs::read(&path) {
            f(&bytes);
        }
    }
}

#[test]
fn the_fixtures_truncated_anywhere_and_the_corpus_never_panic() {
    each_file(Path::new(FIXTURES), &mut |bytes| {
        fuzzing::proc_files(bytes);
        // A file read while the kernel rewrites it, or cut short: every line prefix (the file
        // cut after each of its lines, the newline kept).
        if bytes.len() <= 64 * 1024 {
            for (i, b) in bytes.iter().enumerate() {
                if *b == b'\n' {
                    fuzzing::proc_files(&bytes[..=i]);
                }
            }
        }
    });
    for input in CORPUS {
        fuzzing::proc_files(input.as_bytes());
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 500, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..256)) {
        fuzzing::proc_files(&data);
    }

    #[test]
    fn random_proc_like_lines_never_panic(
        lines in proptest::collection::vec(
            "([a-zA-Z_()0-9]{0,12}:?( +[0-9eE+.\\-a-z]{0,12}){0,12}|[a-z_]{0,10}\\{([a-z]{0,4}=\"[^\"]{0,6}\"?,?){0,3}\\}? [0-9eE+.\\-naif]{0,8})",
            0..16,
        )
    ) {
        fuzzing::proc_files(lines.join("\n").as_bytes());
    }
}
