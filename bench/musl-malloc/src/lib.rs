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
