//! What both page-table benches share: the flat memory vsva's tables live in,
//! and how figures are printed.

use std::cell::{Cell, RefCell};
use std::time::Duration;

use vsva_iommu::hw::DmaMemory;

/// Flat physical memory for vsva's tables: one allocation, 4 KiB pages from a free list.
pub struct FlatMemory {
    base: u64,
    words: Box<[Cell<u64>]>,
    free: RefCell<Vec<u64>>,
}

impl FlatMemory {
    pub fn new(base: u64, pages: usize) -> Self {
        let words = (0..pages * 512).map(|_| Cell::new(0)).collect();
        let free = (0..pages as u64).rev().map(|i| base + i * 4096).collect();
        Self {
            base,
            words,
            free: RefCell::new(free),
        }
    }

    fn word(&self, addr: u64) -> &Cell<u64> {
        &self.words[((addr - self.base) / 8) as usize]
    }
}

impl DmaMemory for FlatMemory {
    fn alloc_pages(&self, pages: usize) -> Option<u64> {
        if pages != 1 {
            return None;
        }
        let page = self.free.borrow_mut().pop()?;
        for i in 0..512 {
            self.word(page + i * 8).set(0);
        }
        Some(page)
    }

    fn free_pages(&self, addr: u64, pages: usize) {
        if pages == 1 {
            self.free.borrow_mut().push(addr);
        }
    }

    fn read64(&self, addr: u64) -> u64 {
        self.word(addr).get()
    }

    fn write64(&self, addr: u64, value: u64) {
        self.word(addr).set(value);
    }

    fn publish(&self) {
        std::sync::atomic::fence(std::sync::atomic::Ordering::Release);
    }
}

/// Nanoseconds per page.
pub fn ns_per(d: Duration, pages: u64) -> f64 {
    d.as_nanos() as f64 / pages as f64
}

/// Milliseconds.
pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Prints one figure for `cargo xtask bench`, which collects these lines
/// from every bench into one table: tab-separated `figure`, the bench, what
/// was measured, ns per page, the baseline's name and its ns per page in
/// the same run, and how it was measured.
pub fn figure(
    bench: &str,
    what: &str,
    value: Duration,
    baseline: (&str, Duration),
    pages: u64,
    how: &str,
) {
    println!(
        "figure\t{bench}\t{what}\t{:.2}\tns/page\t{}\t{:.2}\t{how}",
        ns_per(value, pages),
        baseline.0,
        ns_per(baseline.1, pages),
    );
}
