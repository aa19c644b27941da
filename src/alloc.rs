//! The broker's global allocator: the system allocator, except that allocations of a
//! gigabyte or more reserve address space without committing memory.
//!
//! Why: kafka-protocol's decoder sizes a `Vec` from an array length read off the wire
//! before it reads a single element, so a request claiming 2^31 topics asks for
//! hundreds of gigabytes at once. The system allocator refuses, and Rust aborts the
//! process on a failed allocation: one hostile frame would kill the broker. Mapped with
//! `MAP_NORESERVE`, such a buffer costs no memory until it is written; the decoder
//! fails at the first element the frame does not hold, and the mapping is released.
//! Real allocations this large do not occur (frames are bounded by
//! `socket.request.max.bytes`), so the system allocator serves everything else.
//!
//! `keep_large_buffers` tunes that system allocator for a broker's traffic: see there.

use std::alloc::{GlobalAlloc, Layout, System};

/// From this size on, allocations are reserved mappings.
const RESERVE_FROM_BYTES: usize = 1 << 30;
const PAGE_BYTES: usize = 4096;

pub struct Allocator;

/// Below this size glibc serves allocations from its heaps instead of fresh mappings
/// (its own upper bound for the threshold it otherwise adjusts by itself).
const HEAP_UP_TO_BYTES: i32 = 32 << 20;
/// Free memory a heap keeps before glibc returns its top to the kernel.
const KEEP_FREE_BYTES: i32 = 128 << 20;

/// Makes request-sized buffers (a produce request is a few hundred KiB to a few MiB)
/// reuse warm heap memory. glibc's defaults serve them from new mappings and return
/// freed heap tops to the kernel, so every request faulted its pages in again and had
/// the kernel zero them: measured with `shoal bench produce`, 45 page faults per MB
/// produced before, under 1 after. Call once, first thing in `main`.
pub fn keep_large_buffers() {
    #[cfg(target_env = "gnu")]
    // SAFETY: mallopt only changes allocator parameters; called before any thread starts.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, HEAP_UP_TO_BYTES);
        libc::mallopt(libc::M_TRIM_THRESHOLD, KEEP_FREE_BYTES);
    }
}

fn reserved(layout: Layout) -> bool {
    layout.size() >= RESERVE_FROM_BYTES && layout.align() <= PAGE_BYTES
}

// SAFETY: every block comes either from `System` or from an anonymous private mapping of
// exactly `layout.size()` bytes (page aligned, zero filled); `reserved(layout)` tells the
// two apart identically at allocation and release, since Rust passes the same layout.
unsafe impl GlobalAlloc for Allocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if !reserved(layout) {
            // SAFETY: forwarded unchanged to the system allocator.
            return unsafe { System.alloc(layout) };
        }
        // SAFETY: a fresh anonymous mapping; no existing memory is affected.
        let mapped = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                layout.size(),
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if mapped == libc::MAP_FAILED {
            std::ptr::null_mut()
        } else {
            mapped.cast()
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if reserved(layout) {
            // SAFETY: anonymous mappings are zero filled.
            unsafe { self.alloc(layout) }
        } else {
            // SAFETY: forwarded unchanged to the system allocator.
            unsafe { System.alloc_zeroed(layout) }
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if reserved(layout) {
            // SAFETY: `ptr` is the start of a mapping of `layout.size()` bytes made by `alloc`.
            unsafe { libc::munmap(ptr.cast(), layout.size()) };
        } else {
            // SAFETY: `ptr` came from `System` with this layout.
            unsafe { System.dealloc(ptr, layout) }
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller guarantees `new_size` with `layout.align()` is a valid layout.
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        if !reserved(layout) && !reserved(new_layout) {
            // SAFETY: both the old and the new block belong to `System`.
            return unsafe { System.realloc(ptr, layout, new_size) };
        }
        // SAFETY: a new block, a copy of the bytes both blocks hold, then the old block
        // released with its own layout.
        unsafe {
            let moved = self.alloc(new_layout);
            if !moved.is_null() {
                std::ptr::copy_nonoverlapping(ptr, moved, layout.size().min(new_size));
                self.dealloc(ptr, layout);
            }
            moved
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_huge_reservation_costs_nothing_until_used() {
        let small = Layout::from_size_align(16, 8).expect("layout");
        let huge = Layout::from_size_align(64 << 30, 8).expect("layout");
        // SAFETY: each block is written within its size, read back, and released with
        // the layout it was allocated (or reallocated) with.
        unsafe {
            let block = Allocator.alloc(huge);
            assert!(!block.is_null());
            *block.add(huge.size() - 1) = 9;
            assert_eq!(*block.add(huge.size() - 1), 9);
            Allocator.dealloc(block, huge);

            let block = Allocator.alloc(small);
            *block = 7;
            let grown = Allocator.realloc(block, small, huge.size());
            assert_eq!(*grown, 7, "growing into a reservation keeps the bytes");
            Allocator.dealloc(grown, huge);
        }
    }
}
