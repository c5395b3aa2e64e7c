//! What both page-table benches share: the flat memory vsva's tables live in, the timing
//! of vsva's engine (the same `pt::Table` in both, with another format) and of the
//! plain-store lower bound, and how figures are printed.

use std::cell::{Cell, RefCell};
use std::hint::black_box;
use std::time::{Duration, Instant};

use vsva_iommu::hw::DmaMemory;
use vsva_iommu::pt::{Format, Table};

/// The most 4 KiB pages a [`FlatMemory`] holds.
const MAX_PAGES: usize = 1024;
const WORDS: usize = MAX_PAGES * 512;

/// Flat physical memory for vsva's tables: one allocation, 4 KiB pages from a free list.
/// A word is found by masking its offset into the buffer, not by a bounds check (the
/// baselines reach their tables through plain pointers): the engine only passes addresses
/// of pages it allocated here, and a stray one would still land inside the buffer.
pub struct FlatMemory {
    base: u64,
    words: Box<[Cell<u64>; WORDS]>,
    free: RefCell<Vec<u64>>,
}

impl FlatMemory {
    pub fn new(base: u64, pages: usize) -> Self {
        assert!(pages <= MAX_PAGES, "at most {MAX_PAGES} pages");
        let words: Box<[Cell<u64>]> = (0..WORDS).map(|_| Cell::new(0)).collect();
        let words = words.try_into().expect("WORDS words");
        let free = (0..pages as u64).rev().map(|i| base + i * 4096).collect();
        Self {
            base,
            words,
            free: RefCell::new(free),
        }
    }

    #[inline(always)]
    fn word(&self, addr: u64) -> &Cell<u64> {
        debug_assert!(
            addr.wrapping_sub(self.base) / 8 < WORDS as u64,
            "{addr:#x} outside"
        );
        &self.words[((addr.wrapping_sub(self.base) / 8) as usize) & (WORDS - 1)]
    }
}

impl DmaMemory for FlatMemory {
    fn alloc_pages(&self, pages: usize) -> Option<u64> {
        if pages != 1 {
            return None;
        }
        let page = self.free.borrow_mut().pop()?;
        // Zeroed as the kernel zeroes a frame: one pass over the page.
        let first = ((page - self.base) / 8) as usize;
        self.words[first..first + 512].iter().for_each(|w| w.set(0));
        Some(page)
    }

    fn free_pages(&self, addr: u64, pages: usize) {
        if pages == 1 {
            self.free.borrow_mut().push(addr);
        }
    }

    #[inline(always)]
    fn read64(&self, addr: u64) -> u64 {
        self.word(addr).get()
    }

    #[inline]
    fn write64(&self, addr: u64, value: u64) {
        self.word(addr).set(value);
    }

    #[inline]
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

/// The best times of vsva's calls over `len` bytes from `iova` to `phys` in `page`-sized
/// leaves: one call per page, then one call for the whole range; each map then unmap.
pub struct VsvaTimes {
    pub map_per_page: Duration,
    pub unmap_per_page: Duration,
    pub map_range: Duration,
    pub unmap_range: Duration,
}

/// Times vsva's engine on `table` (empty, in `mem`) over `reps` repetitions; every call's
/// `Invalidation` is finished at once (no hardware to invalidate). Checks that the range
/// call made leaves of `page` bytes.
#[allow(clippy::too_many_arguments)]
pub fn time_vsva<F: Format>(
    mem: &FlatMemory,
    table: &mut Table<F>,
    (iova, phys, len): (u64, u64, u64),
    page: u64,
    attributes: F::Attributes,
    reps: usize,
) -> VsvaTimes {
    let pages = len / page;
    let mut t = VsvaTimes {
        map_per_page: Duration::MAX,
        unmap_per_page: Duration::MAX,
        map_range: Duration::MAX,
        unmap_range: Duration::MAX,
    };
    for _ in 0..reps {
        let start = Instant::now();
        for i in 0..pages {
            let inv = table
                .map(mem, iova + i * page, phys + i * page, page, attributes)
                .expect("map");
            inv.finish(mem);
        }
        t.map_per_page = t.map_per_page.min(start.elapsed());
        let start = Instant::now();
        for i in 0..pages {
            let inv = table.unmap(mem, iova + i * page, page).expect("unmap");
            inv.finish(mem);
        }
        t.unmap_per_page = t.unmap_per_page.min(start.elapsed());

        let start = Instant::now();
        let inv = table.map(mem, iova, phys, len, attributes).expect("map");
        inv.finish(mem);
        t.map_range = t.map_range.min(start.elapsed());
        assert_eq!(
            table.query(mem, iova).map(|m| m.size),
            Some(page),
            "the range call used the intended page size"
        );
        let start = Instant::now();
        table.unmap(mem, iova, len).expect("unmap").finish(mem);
        t.unmap_range = t.unmap_range.min(start.elapsed());
    }
    t
}

/// The lower bound: the best times of storing `pages` 8-byte entries (`phys` onwards in
/// steps of `page`, with `bits`) into a plain array, then clearing them.
pub fn time_stores(
    pages: u64,
    phys: u64,
    page: u64,
    bits: u64,
    reps: usize,
) -> (Duration, Duration) {
    let (mut map, mut unmap) = (Duration::MAX, Duration::MAX);
    for _ in 0..reps {
        let mut v = vec![0u64; pages as usize];
        let t = Instant::now();
        for (i, e) in v.iter_mut().enumerate() {
            *e = (phys + i as u64 * page) | bits;
        }
        black_box(&v);
        map = map.min(t.elapsed());
        let t = Instant::now();
        for e in v.iter_mut() {
            *e = 0;
        }
        black_box(&v);
        unmap = unmap.min(t.elapsed());
    }
    (map, unmap)
}
