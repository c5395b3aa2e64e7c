//! The physical frame allocator: a buddy allocator over the allocatable set.
//!
//! Blocks are powers of two frames, aligned to their size, which is what IOMMU
//! tables and queues need (a VT-d invalidation queue or an SMMU stream table must
//! be naturally aligned). The buddy allocator keeps its free lists on the heap, so
//! the heap is carved out of free memory first.
#![deny(unsafe_code)]

use buddy_system_allocator::FrameAllocator;

use super::PAGE_SIZE;
use super::ranges::{Range, RangeSet};

/// Largest block: 2^(ORDER-1) frames.
const ORDER: usize = 32;

/// Why a free was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameError {
    /// The address is not page aligned.
    Misaligned(u64),
    /// The block is not inside memory this allocator manages.
    NotManaged(u64),
    /// More frames freed than are allocated: a double free.
    NotAllocated(u64),
}

/// Physical frames, handed out in naturally aligned power-of-two blocks.
pub struct Frames {
    buddy: FrameAllocator<ORDER>,
    managed: RangeSet<{ super::MAX_FREE_RANGES }>,
    total: u64,
    allocated: u64,
}

impl core::fmt::Debug for Frames {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Frames")
            .field("managed", &self.managed)
            .field("total", &self.total)
            .field("allocated", &self.allocated)
            .finish()
    }
}

impl Frames {
    /// An allocator over `free` (page-aligned ranges).
    pub fn new(free: &RangeSet<{ super::MAX_FREE_RANGES }>) -> Self {
        let mut buddy = FrameAllocator::new();
        let mut total = 0;
        for r in free.iter() {
            let (start, end) = ((r.start / PAGE_SIZE) as usize, (r.end / PAGE_SIZE) as usize);
            buddy.add_frame(start, end);
            total += (end - start) as u64;
        }
        Self {
            buddy,
            managed: free.clone(),
            total,
            allocated: 0,
        }
    }

    /// Allocates `count` frames (rounded up to a power of two), aligned to the
    /// block size; returns the physical address of the first. Not zeroed.
    pub fn alloc(&mut self, count: usize) -> Option<u64> {
        let frame = self.buddy.alloc(count.max(1))?;
        self.allocated += count.max(1).next_power_of_two() as u64;
        Some(frame as u64 * PAGE_SIZE)
    }

    /// Returns a block from [`alloc`](Self::alloc) with the same `count`.
    pub fn free(&mut self, addr: u64, count: usize) -> Result<(), FrameError> {
        let count = count.max(1);
        if !addr.is_multiple_of(PAGE_SIZE) {
            return Err(FrameError::Misaligned(addr));
        }
        let size = count.next_power_of_two() as u64;
        let end = addr.saturating_add(size * PAGE_SIZE);
        let inside = self.managed.iter().any(|r| r.start <= addr && end <= r.end);
        if !inside {
            return Err(FrameError::NotManaged(addr));
        }
        if size > self.allocated {
            return Err(FrameError::NotAllocated(addr));
        }
        self.buddy.dealloc((addr / PAGE_SIZE) as usize, count);
        self.allocated -= size;
        Ok(())
    }

    /// Frames managed in all.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// Frames currently allocated (block sizes, after rounding).
    pub fn allocated(&self) -> u64 {
        self.allocated
    }

    /// Whether `addr` lies in memory this allocator manages.
    pub fn manages(&self, addr: u64) -> bool {
        self.managed.contains(addr)
    }

    /// The ranges this allocator manages.
    pub fn managed(&self) -> impl Iterator<Item = Range> + '_ {
        self.managed.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(ranges: &[(u64, u64)]) -> Frames {
        let mut set = RangeSet::new();
        for &(s, e) in ranges {
            set.insert(Range::new(s, e)).unwrap();
        }
        Frames::new(&set)
    }

    #[test]
    fn blocks_are_aligned_inside_managed_memory_and_come_back() {
        let mut f = frames(&[(0x100000, 0x200000), (0x254000, 0x1000000)]);
        assert_eq!(f.total(), (0x100000 + 0x1000000 - 0x254000) / PAGE_SIZE);
        let mut got = Vec::new();
        for count in [1, 2, 3, 8, 16, 512] {
            let addr = f.alloc(count).unwrap();
            let size = count.next_power_of_two() as u64 * PAGE_SIZE;
            assert_eq!(addr % size, 0, "{count} frames at {addr:#x}");
            assert!(f.manages(addr) && f.manages(addr + size - 1));
            got.push((addr, count, size));
        }
        // Blocks never overlap.
        for (i, a) in got.iter().enumerate() {
            for b in &got[i + 1..] {
                assert!(
                    a.0 + a.2 <= b.0 || b.0 + b.2 <= a.0,
                    "{a:x?} overlaps {b:x?}"
                );
            }
        }
        let before = f.allocated();
        assert_eq!(before, 1 + 2 + 4 + 8 + 16 + 512);
        for (addr, count, _) in got {
            f.free(addr, count).unwrap();
        }
        assert_eq!(f.allocated(), 0);
        // Everything merged back: the largest block is available again.
        assert!(f.alloc(1024).is_some());
    }

    #[test]
    fn exhaustion_gives_none_and_every_frame_is_distinct() {
        let mut f = frames(&[(0x10000, 0x20000)]);
        let mut seen = std::collections::BTreeSet::new();
        while let Some(addr) = f.alloc(1) {
            assert!(seen.insert(addr), "{addr:#x} handed out twice");
        }
        assert_eq!(seen.len() as u64, f.total());
        assert_eq!(f.alloc(1), None);
    }

    #[test]
    fn bad_frees_are_refused() {
        let mut f = frames(&[(0x10000, 0x20000)]);
        let a = f.alloc(1).unwrap();
        assert_eq!(f.free(a + 8, 1), Err(FrameError::Misaligned(a + 8)));
        assert_eq!(f.free(0x40000, 1), Err(FrameError::NotManaged(0x40000)));
        f.free(a, 1).unwrap();
        assert_eq!(f.free(a, 1), Err(FrameError::NotAllocated(a)));
    }
}
