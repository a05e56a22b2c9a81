//! `gzip-study FILE LEVEL N [fresh|reuse]`: compresses FILE N times at LEVEL, prints the
//! compressed size.
//!
//! - `fresh` (default): as mcp_exporter_core::web::metrics_response does today, a new
//!   `GzEncoder` into a `Vec` with a quarter of the input reserved, per response;
//! - `reuse`: one raw-deflate `flate2::Compress` kept and `reset()` between responses, with the
//!   gzip header and trailer (CRC-32, size) written by hand: no compressor state allocated (and
//!   zeroed) per response.
//!
//! Under `callgrind --toggle-collect=*study_*` only the compression is counted.

use std::io::Write as _;

#[cfg(feature = "dlmalloc")]
#[global_allocator]
static GLOBAL: dlmalloc::GlobalDlmalloc = dlmalloc::GlobalDlmalloc;

#[inline(never)]
fn study_fresh(text: &[u8], level: u32) -> usize {
    let mut enc = flate2::write::GzEncoder::new(
        Vec::with_capacity(text.len() / 4),
        flate2::Compression::new(level),
    );
    if enc.write_all(text).is_err() {
        return 0;
    }
    enc.finish().map_or(0, |v| v.len())
}

/// RFC 1952 member header: no name, no mtime, OS unknown (what flate2's GzEncoder writes but
/// with OS 255).
const GZIP_HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255];

#[inline(never)]
fn study_reuse(c: &mut flate2::Compress, text: &[u8]) -> Vec<u8> {
    c.reset();
    let mut out = Vec::with_capacity(text.len() / 4 + 64);
    out.extend_from_slice(&GZIP_HEADER);
    loop {
        let before = c.total_in() as usize;
        match c.compress_vec(
            &text[before.min(text.len())..],
            &mut out,
            flate2::FlushCompress::Finish,
        ) {
            Ok(flate2::Status::StreamEnd) => break,
            Ok(_) => out.reserve(out.capacity().max(4096)),
            Err(_) => return Vec::new(),
        }
    }
    let mut crc = flate2::Crc::new();
    crc.update(text);
    out.extend_from_slice(&crc.sum().to_le_bytes());
    out.extend_from_slice(&(text.len() as u32).to_le_bytes());
    out
}

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let (Some(file), Some(level), Some(n)) = (args.get(1), args.get(2), args.get(3)) else {
        eprintln!("usage: gzip-study FILE LEVEL N [fresh|reuse]");
        return std::process::ExitCode::from(2);
    };
    let (Ok(text), Ok(level), Ok(n)) = (std::fs::read(file), level.parse(), n.parse::<u32>())
    else {
        eprintln!("gzip-study: cannot read {file} or parse LEVEL/N");
        return std::process::ExitCode::from(2);
    };
    let reuse = args.get(4).map(String::as_str) == Some("reuse");
    let mut c = flate2::Compress::new(flate2::Compression::new(level), false);
    let mut size = 0;
    for _ in 0..n {
        size = if reuse {
            std::hint::black_box(study_reuse(&mut c, std::hint::black_box(&text))).len()
        } else {
            std::hint::black_box(study_fresh(std::hint::black_box(&text), level))
        };
    }
    // The reused compressor's output must be a gzip member of the input.
    if reuse {
        let gz = study_reuse(&mut c, &text);
        let mut back = Vec::new();
        let ok =
            std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(gz.as_slice()), &mut back)
                .is_ok()
                && back == text;
        if !ok {
            eprintln!(
                "gzip-study: the reused compressor's output does not decompress to the input"
            );
            return std::process::ExitCode::FAILURE;
        }
    }
    println!("{size}");
    std::process::ExitCode::SUCCESS
}
