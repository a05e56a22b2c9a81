//! Re-reading `/proc`, `/sys` and cgroup files through descriptors kept open.
//!
//! A scrape reads ~130 small kernel files. Opening one costs a path walk (the profile put
//! `openat` at 28 % of the exporter's CPU and `close` at 6 %); reading it is the kernel
//! formatting the values. procfs, sysfs and cgroupfs files regenerate their content when read
//! from offset 0 (seq_file restarts, sysfs calls `show()` again), so a kept descriptor read with
//! `pread(…, 0)` sees fresh values for the price of the read alone.
//!
//! Only files on those three filesystems are kept (checked once with `fstatfs` at open): a regular
//! file replaced by rename would keep its old content behind an open descriptor. A read error
//! (`ENODEV` once an interface or cgroup is gone) drops the descriptor and reopens the path once;
//! descriptors unused for [`IDLE`] are closed, and at most [`MAX_KEPT`] are held. A descriptor is
//! taken out of the map while it is read, so concurrent scrapes never share a file position.

use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt as _;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Descriptors unused this long are closed (a vanished interface's files, say).
pub const IDLE: Duration = Duration::from_secs(300);
/// Upper bound on kept descriptors (a scrape of this machine uses ~130).
pub const MAX_KEPT: usize = 1024;
/// Files larger than this are refused.
const MAX_FILE: usize = 64 << 20;

struct Kept {
    file: File,
    used: Instant,
}

#[derive(Default)]
struct Cache {
    files: HashMap<PathBuf, Kept>,
    last_sweep: Option<Instant>,
}

fn cache() -> &'static Mutex<Cache> {
    static CACHE: OnceLock<Mutex<Cache>> = OnceLock::new();
    CACHE.get_or_init(|| Mutex::new(Cache::default()))
}

/// How many descriptors are kept now.
pub fn kept() -> usize {
    cache().lock().map(|c| c.files.len()).unwrap_or(0)
}

fn take(path: &Path) -> Option<File> {
    let mut c = cache().lock().ok()?;
    c.files.remove(path).map(|k| k.file)
}

fn put(path: &Path, file: File) {
    let Ok(mut c) = cache().lock() else { return };
    let now = Instant::now();
    if c.last_sweep
        .is_none_or(|t| now.duration_since(t) > IDLE / 4)
    {
        c.files.retain(|_, k| now.duration_since(k.used) < IDLE);
        c.last_sweep = Some(now);
    }
    if c.files.len() < MAX_KEPT {
        c.files.insert(path.to_owned(), Kept { file, used: now });
    }
}

/// Whether the file lives on a filesystem whose files regenerate on every read from 0.
fn regenerates(file: &File) -> bool {
    use nix::sys::statfs::{CGROUP2_SUPER_MAGIC, PROC_SUPER_MAGIC, SYSFS_MAGIC, fstatfs};
    match fstatfs(file) {
        Ok(st) => {
            let t = st.filesystem_type();
            t == PROC_SUPER_MAGIC || t == SYSFS_MAGIC || t == CGROUP2_SUPER_MAGIC
        }
        Err(_) => false,
    }
}

/// The whole content, read with `pread` from offset 0 until a read returns nothing (a seq_file
/// read stops at its page-sized buffer, so a short read is not the end). Reads go into a
/// per-thread scratch buffer, zeroed once, and the text is copied out at its exact size.
fn read_from_start(file: &File) -> io::Result<String> {
    thread_local! {
        static SCRATCH: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(vec![0u8; 16 << 10]);
    }
    SCRATCH.with(|scratch| {
        let mut buf = scratch.borrow_mut();
        let mut len = 0;
        loop {
            if len == buf.len() {
                if len >= MAX_FILE {
                    return Err(io::Error::new(io::ErrorKind::InvalidData, "file too large"));
                }
                let grown = len * 2;
                buf.resize(grown, 0);
            }
            let n = file.read_at(&mut buf[len..], len as u64)?;
            if n == 0 {
                break;
            }
            len += n;
        }
        let text = std::str::from_utf8(&buf[..len])
            .map(str::to_owned)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e));
        // A huge file grew the scratch: give the memory back.
        if buf.len() > 1 << 20 {
            buf.truncate(16 << 10);
            buf.shrink_to_fit();
        }
        text
    })
}

/// Reads a file, through a kept descriptor when it is a kernel file.
pub fn read(path: &Path) -> io::Result<String> {
    // A kept descriptor that fails to read is stale (the object behind it is gone): reopen.
    if let Some(file) = take(path)
        && let Ok(text) = read_from_start(&file)
    {
        put(path, file);
        return Ok(text);
    }
    let file = File::open(path)?;
    let text = read_from_start(&file)?;
    if regenerates(&file) {
        put(path, file);
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_descriptors_see_fresh_kernel_values() {
        let uptime = Path::new("/proc/uptime");
        let first = read(uptime).unwrap();
        assert!(take(uptime).is_some(), "procfs file not kept");
        let first_again = read(uptime).unwrap();
        std::thread::sleep(Duration::from_millis(50));
        let later = read(uptime).unwrap();
        assert_eq!(first.lines().count(), 1);
        let secs = |s: &str| -> f64 { s.split_whitespace().next().unwrap().parse().unwrap() };
        assert!(
            secs(&later) > secs(&first_again),
            "{first_again} then {later}"
        );
    }

    #[test]
    fn sysfs_attributes_are_regenerated() {
        let path = Path::new("/sys/class/net/lo/statistics/rx_packets");
        let Ok(before) = read(path) else { return };
        // Loopback traffic: a connection to a listener of our own.
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let _c = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let _a = l.accept().unwrap();
        let after = read(path).unwrap();
        let n = |s: &str| -> u64 { s.trim().parse().unwrap() };
        assert!(n(&after) > n(&before), "{before} then {after}");
    }

    #[test]
    fn regular_files_are_read_fresh_and_not_kept() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, "one").unwrap();
        assert_eq!(read(&p).unwrap(), "one");
        // Replaced by rename, as package managers do.
        let tmp = dir.path().join("g");
        std::fs::write(&tmp, "two").unwrap();
        std::fs::rename(&tmp, &p).unwrap();
        assert_eq!(read(&p).unwrap(), "two");
        assert!(take(&p).is_none());
    }

    #[test]
    fn large_seq_files_are_read_whole() {
        // /proc/self/smaps spans many seq_file pages.
        let path = Path::new("/proc/self/smaps");
        let a = read(path).unwrap();
        let b = std::fs::read_to_string(path).unwrap();
        assert!(a.len() > 8192, "{}", a.len());
        assert_eq!(a.lines().count(), b.lines().count());
    }
}
