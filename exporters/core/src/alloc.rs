//! The allocator of the static musl builds: dlmalloc's heap behind std's futex mutex.
//!
//! `dlmalloc::GlobalDlmalloc` guards its heap with a `pthread_mutex_t`, locked once per
//! allocator call; callgrind (bench/profile host) counted ≈ 5,700 such calls per host scrape and
//! ≈ 45 instructions per `pthread_mutex_unlock` in musl alone, 6.7 % of the scrape's
//! instructions. std's `Mutex` on Linux is a futex whose uncontended lock and unlock are one atomic
//! operation each, never allocates (so it can guard an allocator) and is const-constructible.
//!
//! What dlmalloc's global lock also did: register `pthread_atfork` handlers, so a child forked
//! while another thread held the lock could still allocate. Nothing in this workspace allocates in
//! a forked child (std's `Command` execs without allocating), so that is not kept.

// The one place allocator calls are forwarded; each `unsafe` block says why it is sound.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout};
use std::sync::{Mutex, MutexGuard, PoisonError};

/// dlmalloc's heap behind a futex mutex; `mcp_exporter_core::musl_allocator!()` installs it.
pub struct LockedDlmalloc(Mutex<Heap>);

struct Heap(dlmalloc::Dlmalloc);

// SAFETY: a `Dlmalloc` holds raw pointers into memory it mapped itself and to nothing a thread
// owns; moving it between threads is sound as long as one thread uses it at a time, which the
// mutex around it guarantees (this is how `dlmalloc::GlobalDlmalloc` shares its static one).
unsafe impl Send for Heap {}

impl LockedDlmalloc {
    /// An empty heap (const: it is a `static`).
    pub const fn new() -> Self {
        Self(Mutex::new(Heap(dlmalloc::Dlmalloc::new())))
    }

    fn heap(&self) -> MutexGuard<'_, Heap> {
        // dlmalloc never panics while the lock is held; if something did, the heap is as it was
        // between two calls, so a poisoned lock is still a usable one.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Default for LockedDlmalloc {
    fn default() -> Self {
        Self::new()
    }
}

// SAFETY: each method forwards the caller's layout unchanged to the `Dlmalloc` method of the same
// contract (dlmalloc's own `GlobalDlmalloc` does exactly this), under the mutex.
unsafe impl GlobalAlloc for LockedDlmalloc {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: see the impl.
        unsafe { self.heap().0.malloc(layout.size(), layout.align()) }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: see the impl; `ptr` came from this heap with this layout (caller's contract).
        unsafe { self.heap().0.free(ptr, layout.size(), layout.align()) }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: see the impl.
        unsafe { self.heap().0.calloc(layout.size(), layout.align()) }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: see the impl; `ptr` came from this heap with this layout (caller's contract).
        unsafe {
            self.heap()
                .0
                .realloc(ptr, layout.size(), layout.align(), new_size)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Not the test binary's global allocator (that is glibc's here): the same code driven
    /// directly, from four threads at once, with every size class and alignments above the
    /// natural one, checking each block's contents survive its neighbours' frees and reallocs.
    #[test]
    fn four_threads_allocate_fill_and_free_without_corruption() {
        static HEAP: LockedDlmalloc = LockedDlmalloc::new();
        let threads: Vec<_> = (0..4u8)
            .map(|t| {
                std::thread::spawn(move || {
                    let mut live: Vec<(usize, Layout)> = Vec::new();
                    for i in 0..4_000usize {
                        let size = 1 + (i * 7919 + usize::from(t) * 131) % 9_000;
                        let align = [1, 8, 16, 64, 4096][i % 5];
                        let layout =
                            Layout::from_size_align(size, align).unwrap_or(Layout::new::<u8>());
                        // SAFETY: a non-zero-size layout; the block is ours until freed below.
                        let p = unsafe {
                            if i % 3 == 0 {
                                HEAP.alloc_zeroed(layout)
                            } else {
                                HEAP.alloc(layout)
                            }
                        };
                        assert!(!p.is_null(), "allocation of {size} bytes");
                        assert_eq!(p as usize % align, 0, "alignment {align}");
                        // SAFETY: `p` points to `size` writable bytes.
                        unsafe { std::ptr::write_bytes(p, t ^ (i as u8), layout.size()) };
                        live.push((p as usize, layout));
                        if i % 4 == 3 {
                            let (q, l) = live.swap_remove((i * 31) % live.len());
                            // SAFETY: `q` was allocated above with `l` and not freed yet.
                            unsafe { check_and_free(q as *mut u8, l) };
                        }
                    }
                    for (q, l) in live {
                        // SAFETY: as above.
                        unsafe { check_and_free(q as *mut u8, l) };
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().expect("no thread panicked");
        }

        /// Every byte of the block equals its first byte (what it was filled with), then frees.
        unsafe fn check_and_free(p: *mut u8, l: Layout) {
            // SAFETY: the caller's block, `l.size()` initialised bytes.
            let bytes = unsafe { std::slice::from_raw_parts(p, l.size()) };
            assert!(
                bytes.iter().all(|&b| b == bytes[0]),
                "block of {} bytes corrupted",
                l.size()
            );
            // SAFETY: the caller's block, allocated from HEAP with `l`.
            unsafe { HEAP.dealloc(p, l) };
        }
    }

    #[test]
    fn realloc_keeps_the_contents_and_the_alignment() {
        let heap = LockedDlmalloc::new();
        let layout = Layout::from_size_align(24, 64).unwrap_or(Layout::new::<u8>());
        // SAFETY: non-zero size; the block is used only within its bounds below.
        unsafe {
            let p = heap.alloc(layout);
            assert!(!p.is_null());
            std::ptr::copy_nonoverlapping(b"0123456789abcdef01234567".as_ptr(), p, 24);
            let q = heap.realloc(p, layout, 100_000);
            assert!(!q.is_null());
            assert_eq!(q as usize % 64, 0);
            assert_eq!(
                std::slice::from_raw_parts(q, 24),
                b"0123456789abcdef01234567"
            );
            heap.dealloc(q, Layout::from_size_align(100_000, 64).unwrap_or(layout));
        }
    }
}
