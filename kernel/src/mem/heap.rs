//! The kernel heap: a buddy heap over one block of physical memory, reached
//! through the identity map.

#![allow(unsafe_code)]

use buddy_system_allocator::LockedHeap;

#[global_allocator]
static HEAP: LockedHeap<32> = LockedHeap::empty();

/// Gives the heap the physical block `[start, start + size)`.
///
/// # Safety
/// The block must be RAM mapped read-write at the same virtual address, used by
/// nothing else, for the life of the kernel.
pub unsafe fn init(start: u64, size: u64) {
    // SAFETY: the caller hands over an unused, mapped block for good.
    unsafe { HEAP.lock().init(start as usize, size as usize) };
}

/// Bytes (requested, total) of the heap, for the log and tests.
pub fn stats() -> (usize, usize) {
    let heap = HEAP.lock();
    (heap.stats_alloc_user(), heap.stats_total_bytes())
}
