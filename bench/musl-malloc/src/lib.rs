//! `GlobalDlmalloc` that is not dlmalloc: every call goes to `std::alloc::System`, i.e. musl's
//! own malloc in a static musl build. Used only by bench/run's allocator A/B.

use std::alloc::{GlobalAlloc, Layout, System};

/// The name `mcp_exporter_core::musl_allocator!()` installs; here, musl's malloc.
pub struct GlobalDlmalloc;

// SAFETY: every method forwards its arguments unchanged to `System`, which upholds the
// `GlobalAlloc` contract; the callers' obligations are the same ones `System` requires.
unsafe impl GlobalAlloc for GlobalDlmalloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded as is (see the impl).
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded as is (see the impl).
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded as is (see the impl).
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded as is (see the impl).
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// The heap type `mcp_exporter_core::alloc::LockedDlmalloc` wraps; here every call goes to musl's
/// malloc (thread-safe by itself, so the mutex around it is only the cost of the wrapper).
pub struct Dlmalloc;

impl Dlmalloc {
    /// A new (stateless) heap.
    pub const fn new() -> Self {
        Self
    }

    /// # Safety
    /// As `dlmalloc::Dlmalloc::malloc`: `size` non-zero, `align` a power of two.
    pub unsafe fn malloc(&mut self, size: usize, align: usize) -> *mut u8 {
        // SAFETY: the caller's contract is `Layout`'s.
        unsafe { System.alloc(Layout::from_size_align_unchecked(size, align)) }
    }

    /// # Safety
    /// As [`Dlmalloc::malloc`].
    pub unsafe fn calloc(&mut self, size: usize, align: usize) -> *mut u8 {
        // SAFETY: as in `malloc`.
        unsafe { System.alloc_zeroed(Layout::from_size_align_unchecked(size, align)) }
    }

    /// # Safety
    /// `ptr` from this heap with `size` and `align`.
    pub unsafe fn free(&mut self, ptr: *mut u8, size: usize, align: usize) {
        // SAFETY: as in `malloc`; `ptr` is the caller's block.
        unsafe { System.dealloc(ptr, Layout::from_size_align_unchecked(size, align)) }
    }

    /// # Safety
    /// `ptr` from this heap with `old_size` and `old_align`; `new_size` non-zero.
    pub unsafe fn realloc(
        &mut self,
        ptr: *mut u8,
        old_size: usize,
        old_align: usize,
        new_size: usize,
    ) -> *mut u8 {
        // SAFETY: as in `free`.
        unsafe {
            System.realloc(
                ptr,
                Layout::from_size_align_unchecked(old_size, old_align),
                new_size,
            )
        }
    }
}

impl Default for Dlmalloc {
    fn default() -> Self {
        Self::new()
    }
}
