//! Simulated physical memory for host tests: page-table tests and the software
//! IOMMU models share one, so a model walks exactly what a driver wrote.

use alloc::collections::BTreeMap;
use alloc::vec;
use alloc::vec::Vec;
use core::cell::{Cell, RefCell};

use super::{Clock, DmaMemory};

const PAGE: u64 = 4096;

/// A clock that moves `step_ns` each time it is read, so bounded waits on a
/// model end after a known number of polls.
#[derive(Debug)]
pub struct SimClock {
    now: Cell<u64>,
    step_ns: u64,
}

impl SimClock {
    pub const fn new(step_ns: u64) -> Self {
        Self {
            now: Cell::new(0),
            step_ns,
        }
    }
}

impl Clock for SimClock {
    fn now_ns(&self) -> u64 {
        let t = self.now.get();
        self.now.set(t + self.step_ns);
        t
    }
}

/// Sparse physical memory: 4 KiB pages created on first touch, plus a bump
/// allocator (with a free list per block size) for [`DmaMemory::alloc_pages`].
#[derive(Debug)]
pub struct SimMemory {
    pages: RefCell<BTreeMap<u64, Vec<u8>>>,
    next: RefCell<u64>,
    free: RefCell<BTreeMap<usize, Vec<u64>>>,
    limit: u64,
    allocated: RefCell<usize>,
}

impl SimMemory {
    /// Memory whose allocations start at `base` and stop before `limit`.
    pub fn new(base: u64, limit: u64) -> Self {
        Self {
            pages: RefCell::new(BTreeMap::new()),
            next: RefCell::new(base),
            free: RefCell::new(BTreeMap::new()),
            limit,
            allocated: RefCell::new(0),
        }
    }

    /// Pages currently allocated through [`DmaMemory`].
    pub fn allocated_pages(&self) -> usize {
        *self.allocated.borrow()
    }

    /// Reads `buf.len()` bytes at `addr` (untouched memory reads as zero).
    pub fn read(&self, addr: u64, buf: &mut [u8]) {
        let pages = self.pages.borrow();
        for (i, byte) in buf.iter_mut().enumerate() {
            let a = addr + i as u64;
            *byte = pages
                .get(&(a & !(PAGE - 1)))
                .map_or(0, |p| p[(a % PAGE) as usize]);
        }
    }

    /// Writes `data` at `addr`.
    pub fn write(&self, addr: u64, data: &[u8]) {
        let mut pages = self.pages.borrow_mut();
        for (i, byte) in data.iter().enumerate() {
            let a = addr + i as u64;
            let page = pages
                .entry(a & !(PAGE - 1))
                .or_insert_with(|| vec![0; PAGE as usize]);
            page[(a % PAGE) as usize] = *byte;
        }
    }

    pub fn read_u32(&self, addr: u64) -> u32 {
        let mut b = [0; 4];
        self.read(addr, &mut b);
        u32::from_le_bytes(b)
    }

    pub fn write_u32(&self, addr: u64, value: u32) {
        self.write(addr, &value.to_le_bytes());
    }
}

impl DmaMemory for SimMemory {
    fn alloc_pages(&self, pages: usize) -> Option<u64> {
        assert!(pages.is_power_of_two(), "block sizes are powers of two");
        let reused = self.free.borrow_mut().get_mut(&pages).and_then(Vec::pop);
        let addr = match reused {
            Some(addr) => addr,
            None => {
                let size = pages as u64 * PAGE;
                let mut next = self.next.borrow_mut();
                let addr = next.next_multiple_of(size);
                if addr + size > self.limit {
                    return None;
                }
                *next = addr + size;
                addr
            }
        };
        self.write(addr, &vec![0; pages * PAGE as usize]);
        *self.allocated.borrow_mut() += pages;
        Some(addr)
    }

    fn free_pages(&self, addr: u64, pages: usize) {
        *self.allocated.borrow_mut() -= pages;
        self.free.borrow_mut().entry(pages).or_default().push(addr);
    }

    fn read64(&self, addr: u64) -> u64 {
        let mut b = [0; 8];
        self.read(addr, &mut b);
        u64::from_le_bytes(b)
    }

    fn write64(&self, addr: u64, value: u64) {
        self.write(addr, &value.to_le_bytes());
    }

    fn publish(&self) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocations_are_aligned_zeroed_reused_and_bounded() {
        let m = SimMemory::new(0x1000, 0x20000);
        let a = m.alloc_pages(1).unwrap();
        m.write64(a, 0xdead);
        let b = m.alloc_pages(4).unwrap();
        assert_eq!(b % (4 * PAGE), 0);
        assert_eq!(m.allocated_pages(), 5);
        m.free_pages(a, 1);
        let c = m.alloc_pages(1).unwrap();
        assert_eq!(c, a);
        assert_eq!(m.read64(c), 0, "reused pages come back zeroed");
        assert!(m.alloc_pages(32).is_none(), "past the limit");
        assert!(m.alloc_pages(16).is_some(), "exactly up to the limit");
    }
}
