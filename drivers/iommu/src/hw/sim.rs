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
///
/// For leak and failure tests it also keeps every block handed out with the
/// owner tag current at allocation ([`set_owner`](Self::set_owner)), refuses
/// to free what it did not hand out, and can make one allocation fail
/// ([`fail_allocation_after`](Self::fail_allocation_after)).
#[derive(Debug)]
pub struct SimMemory {
    pages: RefCell<BTreeMap<u64, Vec<u8>>>,
    next: RefCell<u64>,
    free: RefCell<BTreeMap<usize, Vec<u64>>>,
    limit: u64,
    allocated: RefCell<usize>,
    /// Blocks handed out: address -> (pages, owner tag).
    live: RefCell<BTreeMap<u64, (usize, u32)>>,
    owner: Cell<u32>,
    /// `alloc_pages` calls so far, failed ones included.
    calls: Cell<usize>,
    /// The value of `calls` at which the allocation fails.
    fail_at: Cell<Option<usize>>,
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
            live: RefCell::new(BTreeMap::new()),
            owner: Cell::new(0),
            calls: Cell::new(0),
            fail_at: Cell::new(None),
        }
    }

    /// Pages currently allocated through [`DmaMemory`].
    pub fn allocated_pages(&self) -> usize {
        *self.allocated.borrow()
    }

    /// Tags the blocks allocated from now on with `owner` (0 at creation),
    /// so a test can tell whose pages are still held; the previous tag.
    pub fn set_owner(&self, owner: u32) -> u32 {
        self.owner.replace(owner)
    }

    /// Pages currently allocated under tag `owner`.
    pub fn allocated_pages_of(&self, owner: u32) -> usize {
        self.live
            .borrow()
            .values()
            .filter(|&&(_, tag)| tag == owner)
            .map(|&(pages, _)| pages)
            .sum()
    }

    /// Makes the `n`-th [`alloc_pages`](DmaMemory::alloc_pages) from now
    /// on fail (1: the next one), once, as if memory were exhausted (the
    /// manner of Linux's fail_nth); `None` disarms it.
    pub fn fail_allocation_after(&self, n: Option<usize>) {
        self.fail_at.set(n.map(|n| self.calls.get() + n));
    }

    /// Every page that holds a nonzero byte, with its contents: two snapshots are equal
    /// exactly when memory reads the same everywhere.
    pub fn snapshot(&self) -> BTreeMap<u64, Vec<u8>> {
        self.pages
            .borrow()
            .iter()
            .filter(|(_, bytes)| bytes.iter().any(|&b| b != 0))
            .map(|(&a, bytes)| (a, bytes.clone()))
            .collect()
    }

    /// `alloc_pages` calls made so far, failed ones included.
    pub fn allocation_calls(&self) -> usize {
        self.calls.get()
    }

    /// Reads `buf.len()` bytes at `addr` (untouched memory reads as zero).
    pub fn read(&self, addr: u64, buf: &mut [u8]) {
        let pages = self.pages.borrow();
        for (at, range) in chunks(addr, buf.len()) {
            let out = &mut buf[range];
            match pages.get(&(at & !(PAGE - 1))) {
                Some(page) => {
                    let offset = (at % PAGE) as usize;
                    out.copy_from_slice(&page[offset..offset + out.len()]);
                }
                None => out.fill(0),
            }
        }
    }

    /// Writes `data` at `addr`.
    pub fn write(&self, addr: u64, data: &[u8]) {
        let mut pages = self.pages.borrow_mut();
        for (at, range) in chunks(addr, data.len()) {
            let page = pages
                .entry(at & !(PAGE - 1))
                .or_insert_with(|| vec![0; PAGE as usize]);
            let offset = (at % PAGE) as usize;
            page[offset..offset + range.len()].copy_from_slice(&data[range]);
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

/// `[addr, addr + len)` cut at page boundaries: each piece's address and its
/// range in the caller's buffer.
fn chunks(addr: u64, len: usize) -> impl Iterator<Item = (u64, core::ops::Range<usize>)> {
    let mut done = 0;
    core::iter::from_fn(move || {
        if done == len {
            return None;
        }
        let at = addr.wrapping_add(done as u64);
        let n = ((PAGE - at % PAGE) as usize).min(len - done);
        let piece = (at, done..done + n);
        done += n;
        Some(piece)
    })
}

impl DmaMemory for SimMemory {
    fn alloc_pages(&self, pages: usize) -> Option<u64> {
        assert!(pages.is_power_of_two(), "block sizes are powers of two");
        let call = self.calls.get() + 1;
        self.calls.set(call);
        if self.fail_at.get() == Some(call) {
            self.fail_at.set(None);
            return None;
        }
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
        // Zeroed: untouched memory reads as zero, so drop what was there.
        let end = addr + pages as u64 * PAGE;
        let mut all = self.pages.borrow_mut();
        let touched: Vec<u64> = all.range(addr..end).map(|(&a, _)| a).collect();
        for page in touched {
            all.remove(&page);
        }
        drop(all);
        *self.allocated.borrow_mut() += pages;
        self.live
            .borrow_mut()
            .insert(addr, (pages, self.owner.get()));
        Some(addr)
    }

    fn free_pages(&self, addr: u64, pages: usize) {
        // A double free or a wrong count would hand one frame out twice.
        let block = self.live.borrow_mut().remove(&addr);
        assert_eq!(
            block.map(|(n, _)| n),
            Some(pages),
            "freeing {pages} page(s) at {addr:#x}: not a block allocated with that count"
        );
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

    #[test]
    fn reads_and_writes_cross_pages() {
        let m = SimMemory::new(0x1000, 0x100000);
        let bytes: Vec<u8> = (0..=255).cycle().take(2 * 4096 + 10).collect();
        m.write(0x5ffb, &bytes);
        let mut back = vec![0u8; bytes.len() + 4];
        m.read(0x5ff9, &mut back);
        assert_eq!(&back[..2], &[0, 0], "untouched memory reads as zero");
        assert_eq!(&back[2..2 + bytes.len()], &bytes[..]);
        assert_eq!(&back[2 + bytes.len()..], &[0, 0]);
    }

    #[test]
    fn the_nth_allocation_fails_once() {
        let m = SimMemory::new(0x1000, 0x100000);
        m.alloc_pages(1).unwrap();
        m.fail_allocation_after(Some(2));
        assert!(m.alloc_pages(1).is_some());
        assert!(m.alloc_pages(1).is_none(), "the second from then");
        assert!(m.alloc_pages(1).is_some(), "only once");
        assert_eq!((m.allocated_pages(), m.allocation_calls()), (3, 4));
        m.fail_allocation_after(Some(1));
        m.fail_allocation_after(None);
        assert!(m.alloc_pages(1).is_some(), "disarmed");
    }

    #[test]
    fn blocks_are_counted_per_owner() {
        let m = SimMemory::new(0x1000, 0x100000);
        let a = m.alloc_pages(2).unwrap();
        assert_eq!(m.set_owner(7), 0);
        let b = m.alloc_pages(4).unwrap();
        m.alloc_pages(1).unwrap();
        assert_eq!((m.allocated_pages_of(0), m.allocated_pages_of(7)), (2, 5));
        m.free_pages(b, 4);
        m.free_pages(a, 2);
        assert_eq!((m.allocated_pages_of(0), m.allocated_pages_of(7)), (0, 1));
    }

    #[test]
    #[should_panic(expected = "not a block allocated")]
    fn a_double_free_is_refused() {
        let m = SimMemory::new(0x1000, 0x100000);
        let a = m.alloc_pages(1).unwrap();
        m.free_pages(a, 1);
        m.free_pages(a, 1);
    }
}
