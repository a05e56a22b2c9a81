//! A `/metrics` body that is compressed at most once, however many responses carry it.
//!
//! Prometheus always asks for gzip, and compression is most of a gzip scrape's work (callgrind,
//! bench/PROFILE-NOTES.md: 68–81 % of a concurrent gzip scrape). Concurrent scrapes already share
//! one collection through [`Coalescer`](crate::coalesce::Coalescer); with a [`MetricsBody`] as
//! the coalescer's value they share its gzip body too, so k responses to one collection cost one
//! compression instead of k.
//!
//! The deflate state (≈ 200 KiB with miniz_oxide) is reused between compressions: made fresh
//! for every response, glibc's malloc hands it back to the kernel and faults it in again each
//! time (bench/gzip-study: ≈ 140 µs of system time per redis response on the glibc build that
//! `cargo run --release` makes). One spare state is kept, not one per thread, so a process that
//! compresses rarely holds one state, not one per worker.

use std::sync::{Arc, Mutex, OnceLock};

use bytes::Bytes;
use flate2::{Compress, Compression, Crc, FlushCompress, Status};

/// The text of one collection, with its gzip form made on first demand and then shared.
///
/// Cloning is cheap (one `Arc`); every clone sees the same compressed body.
#[derive(Clone, Debug)]
pub struct MetricsBody(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    text: Bytes,
    gzip: OnceLock<Option<Bytes>>,
}

impl MetricsBody {
    /// A body holding `text` (the exposition format), not yet compressed.
    pub fn new(text: impl Into<Bytes>) -> Self {
        Self(Arc::new(Inner {
            text: text.into(),
            gzip: OnceLock::new(),
        }))
    }

    /// The plain text.
    pub fn text(&self) -> &Bytes {
        &self.0.text
    }

    /// The gzip member for the text, compressed by the first caller and shared by the rest.
    /// `None` only if the compressor failed (then the response goes out plain).
    pub fn gzip(&self) -> Option<Bytes> {
        self.0
            .gzip
            .get_or_init(|| gzip(&self.0.text).map(Bytes::from))
            .clone()
    }
}

impl From<String> for MetricsBody {
    fn from(text: String) -> Self {
        Self::new(text)
    }
}

impl From<Bytes> for MetricsBody {
    fn from(text: Bytes) -> Self {
        Self::new(text)
    }
}

impl From<&'static str> for MetricsBody {
    fn from(text: &'static str) -> Self {
        Self::new(Bytes::from_static(text.as_bytes()))
    }
}

/// The one spare deflate state (see the module comment).
static SPARE: Mutex<Option<Compress>> = Mutex::new(None);

/// The gzip header of RFC 1952: deflate, no name, no mtime, XFL 4 ("fastest algorithm"), OS
/// "unknown": the bytes flate2's `GzEncoder` writes at level 1.
const GZIP_HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 4, 0xff];

/// `data` as one gzip member at level 1 (the fastest; bench/gzip-study shows each higher level
/// costing 70–100 % more instructions for 8–16 % fewer bytes).
pub fn gzip(data: &[u8]) -> Option<Vec<u8>> {
    let spare = SPARE.lock().ok().and_then(|mut s| s.take());
    let mut deflate = match spare {
        Some(mut d) => {
            d.reset();
            d
        }
        None => Compress::new(Compression::fast(), false),
    };
    let mut out = Vec::with_capacity(GZIP_HEADER.len() + data.len() / 4 + 64);
    out.extend_from_slice(&GZIP_HEADER);
    let done = deflate_all(&mut deflate, data, &mut out);
    if let Ok(mut s) = SPARE.lock() {
        *s = Some(deflate);
    }
    if !done {
        return None;
    }
    let mut crc = Crc::new();
    crc.update(data);
    out.extend_from_slice(&crc.sum().to_le_bytes());
    // ISIZE is the input length modulo 2^32 (RFC 1952).
    out.extend_from_slice(&((data.len() & 0xffff_ffff) as u32).to_le_bytes());
    Some(out)
}

/// Deflates all of `data` into the spare capacity of `out`, growing it as needed.
fn deflate_all(deflate: &mut Compress, data: &[u8], out: &mut Vec<u8>) -> bool {
    let start_in = deflate.total_in();
    loop {
        if out.capacity() - out.len() < 64 {
            out.reserve(out.capacity().max(1024));
        }
        let consumed = usize::try_from(deflate.total_in() - start_in).unwrap_or(usize::MAX);
        let rest = data.get(consumed..).unwrap_or_default();
        match deflate.compress_vec(rest, out, FlushCompress::Finish) {
            Ok(Status::StreamEnd) => return true,
            Ok(Status::Ok | Status::BufError) => {}
            Err(_) => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read as _;

    fn gunzip(gz: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(gz)
            .read_to_end(&mut out)
            .expect("a valid gzip member");
        out
    }

    #[test]
    fn gzip_round_trips_with_the_state_reused() {
        let big: String = (0..20_000)
            .map(|i| format!("node_cpu_seconds_total{{cpu=\"{i}\",mode=\"idle\"}} {i}.5\n"))
            .collect();
        // Empty, small, and larger than any first guess of the output size, each twice with
        // something else compressed in between: the second compression of each runs on the
        // reset spare state and must give the same bytes as the first.
        let texts = ["", "up 1\n", big.as_str()];
        let first: Vec<Vec<u8>> = texts
            .iter()
            .map(|t| gzip(t.as_bytes()).expect("compresses"))
            .collect();
        for (text, gz) in texts.iter().zip(&first).rev() {
            assert!(
                gunzip(gz) == text.as_bytes(),
                "round trip of {} bytes",
                text.len()
            );
            assert!(
                gzip(text.as_bytes()).as_ref() == Some(gz),
                "reset state differs"
            );
        }
        // As small as flate2's own GzEncoder at the same level (within 1 %).
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), Compression::fast());
        std::io::Write::write_all(&mut enc, big.as_bytes()).expect("writes");
        let theirs = enc.finish().expect("finishes").len();
        let ours = first[2].len();
        assert!(
            ours * 100 <= theirs * 101,
            "ours {ours} bytes, GzEncoder {theirs}"
        );
        assert_eq!(first[2][..10], GZIP_HEADER);
    }

    #[test]
    fn clones_of_a_body_share_one_compression() {
        let body = MetricsBody::from(String::from("up 1\nfoo 2\n"));
        let other = body.clone();
        let a = body.gzip().expect("compresses");
        let b = other.gzip().expect("compresses");
        assert_eq!(
            a.as_ptr(),
            b.as_ptr(),
            "the second response reuses the first's body"
        );
        assert_eq!(gunzip(&a), b"up 1\nfoo 2\n");
        assert_eq!(body.text().as_ref(), b"up 1\nfoo 2\n");
    }
}
