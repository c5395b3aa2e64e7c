//! Map and unmap 1 GiB into an SMMUv3 stage-1 table (VMSAv8-64, 4 KiB granule, 48-bit
//! input), as 4 KiB pages and as 2 MiB blocks, three ways in the same run: vsva's
//! `smmuv3::pagetable::Stage1Table` over a flat `DmaMemory`, the `aarch64-paging` crate's
//! `Mapping` (EL1&0 stage-1 regime, same descriptor format) over a host buffer, and a plain
//! loop storing as many 8-byte descriptors (the lower bound).
//! Run with `cargo bench -p vsva-iommu --bench smmu_pagetable`.
//!
//! Both tables start empty and build the same tree (level 0, one level-1 table, one
//! level-2 table, 512 level-3 tables for pages) with the same leaf bits (AttrIndx 0, AP =
//! EL0 read/write, inner shareable, AF, nG, PXN, UXN). vsva's unmap frees the tables it
//! empties (after a no-op "invalidation"); `aarch64-paging` writes invalid descriptors and
//! keeps its tables.

mod common;

use common::{FlatMemory, figure, ms, ns_per};

use std::ptr::NonNull;
use std::time::{Duration, Instant};

use aarch64_paging::Mapping;
use aarch64_paging::descriptor::{El1Attributes, PhysicalAddress};
use aarch64_paging::paging::{Constraints, El1And0, MemoryRegion, PageTable, Translation, VaRange};
use vsva_iommu::smmuv3::pagetable::{Attributes, Granule, Permissions, Stage1Table};

const GIB: u64 = 1 << 30;
/// Where the 1 GiB goes: IOVA / virtual address, and output address.
const IOVA: u64 = 0x40_0000_0000;
const PHYS: u64 = 0x1_0000_0000;
/// Table pages needed: 512 level-3 tables + levels 2, 1, 0, with some room.
const FRAMES: usize = 600;
/// Where the tables of both implementations "are" physically.
const TABLE_BASE: u64 = 0x10_0000;

/// `aarch64-paging`'s view of physical memory: FRAMES page tables in one host buffer,
/// frame `i` at physical address `TABLE_BASE + i * 4096`, handed out from a free list.
struct HostFrames {
    base: NonNull<PageTable<El1Attributes>>,
    free: Vec<usize>,
}

impl HostFrames {
    fn new() -> Self {
        let tables: Box<[PageTable<El1Attributes>]> =
            (0..FRAMES).map(|_| PageTable::EMPTY).collect();
        let base = NonNull::from(Box::leak(tables)).cast();
        Self {
            base,
            free: (0..FRAMES).rev().collect(),
        }
    }
}

impl Drop for HostFrames {
    fn drop(&mut self) {
        let tables = std::ptr::slice_from_raw_parts_mut(self.base.as_ptr(), FRAMES);
        // SAFETY: `base` came from leaking a boxed slice of FRAMES tables in `new`, and the
        // mapping that used the buffer is gone (it owns this translation).
        drop(unsafe { Box::from_raw(tables) });
    }
}

impl Translation<El1Attributes> for HostFrames {
    fn allocate_table(&mut self) -> (NonNull<PageTable<El1Attributes>>, PhysicalAddress) {
        let i = self.free.pop().expect("bench buffer exhausted");
        // SAFETY: `i < FRAMES`, so the pointer stays inside the leaked buffer.
        let table = unsafe { self.base.add(i) };
        // SAFETY: the frame is free, so nothing else refers to it; zeroing it is a valid
        // page table.
        unsafe { table.write(PageTable::EMPTY) };
        (table, PhysicalAddress(TABLE_BASE as usize + i * 4096))
    }

    unsafe fn deallocate_table(&mut self, page_table: NonNull<PageTable<El1Attributes>>) {
        // SAFETY: the caller passes a table from `allocate_table`, inside the buffer.
        let i = unsafe { page_table.offset_from(self.base) } as usize;
        self.free.push(i);
    }

    fn physical_to_virtual(&self, pa: PhysicalAddress) -> NonNull<PageTable<El1Attributes>> {
        let i = (pa.0 - TABLE_BASE as usize) / 4096;
        assert!(i < FRAMES, "physical address outside the bench buffer");
        // SAFETY: `i < FRAMES`: inside the leaked buffer.
        unsafe { self.base.add(i) }
    }
}

#[derive(Clone, Copy)]
struct Row {
    what: &'static str,
    pages: u64,
    vsva: Duration,
    vsva_range: Duration,
    a64: Duration,
    a64_range: Duration,
    store: Duration,
}

/// The leaf attributes of a DMA read/write mapping in `aarch64-paging`'s terms (the
/// crate adds the page bit at level 3).
fn a64_flags() -> El1Attributes {
    El1Attributes::VALID
        | El1Attributes::ATTRIBUTE_INDEX_0
        | El1Attributes::INNER_SHAREABLE
        | El1Attributes::USER
        | El1Attributes::ACCESSED
        | El1Attributes::NON_GLOBAL
        | El1Attributes::PXN
        | El1Attributes::UXN
}

fn region(start: u64, len: u64) -> MemoryRegion {
    MemoryRegion::new(start as usize, (start + len) as usize)
}

/// One page size: map then unmap 1 GiB, per page and as one range call, both ways.
fn run(page: u64, reps: usize) -> (Row, Row) {
    let pages = GIB / page;
    let small = page == 4096;
    // The output base is one page past a 1 GiB boundary, so range calls also produce
    // pages of this size (not 2 MiB or 1 GiB blocks).
    let phys = PHYS + page;
    let attrs = Attributes::dma(Permissions::READ | Permissions::WRITE);

    // vsva.
    let mem = FlatMemory::new(TABLE_BASE, FRAMES);
    let mut table = Stage1Table::new(&mem, Granule::Size4K, 48, 48).expect("root table");
    let span = (IOVA, phys, GIB);
    let times = common::time_vsva(&mem, &mut table, span, page, attrs, reps);
    table.destroy(&mem).finish(&mem);

    // aarch64-paging: a fresh table each repetition (dropped outside the timed parts).
    let constraints = if small {
        Constraints::NO_BLOCK_MAPPINGS | Constraints::NO_CONTIGUOUS_HINT
    } else {
        Constraints::NO_CONTIGUOUS_HINT
    };
    let unmapped = El1Attributes::empty();
    let (mut a_map, mut a_unmap) = (Duration::MAX, Duration::MAX);
    let (mut a_map_r, mut a_unmap_r) = (Duration::MAX, Duration::MAX);
    for _ in 0..reps {
        let mut m =
            Mapping::with_asid_and_va_range(HostFrames::new(), 1, 0, El1And0, VaRange::Lower);
        let t = Instant::now();
        for i in 0..pages {
            let pa = PhysicalAddress((phys + i * page) as usize);
            m.map_range(&region(IOVA + i * page, page), pa, a64_flags(), constraints)
                .expect("map_range");
        }
        a_map = a_map.min(t.elapsed());
        let t = Instant::now();
        for i in 0..pages {
            m.map_range(
                &region(IOVA + i * page, page),
                PhysicalAddress(0),
                unmapped,
                constraints,
            )
            .expect("unmap");
        }
        a_unmap = a_unmap.min(t.elapsed());
        drop(m);

        let mut m =
            Mapping::with_asid_and_va_range(HostFrames::new(), 1, 0, El1And0, VaRange::Lower);
        let t = Instant::now();
        m.map_range(
            &region(IOVA, GIB),
            PhysicalAddress(phys as usize),
            a64_flags(),
            constraints,
        )
        .expect("map_range");
        a_map_r = a_map_r.min(t.elapsed());
        let t = Instant::now();
        m.map_range(
            &region(IOVA, GIB),
            PhysicalAddress(0),
            unmapped,
            constraints,
        )
        .expect("unmap");
        a_unmap_r = a_unmap_r.min(t.elapsed());
    }

    // Lower bound: store as many descriptors in a plain array, then clear them.
    let bits = 0x0060_0000_0000_0F43u64;
    let (s_map, s_unmap) = common::time_stores(pages, phys, page, bits, reps);

    (
        Row {
            what: if small { "map 4 KiB" } else { "map 2 MiB" },
            pages,
            vsva: times.map_per_page,
            vsva_range: times.map_range,
            a64: a_map,
            a64_range: a_map_r,
            store: s_map,
        },
        Row {
            what: if small { "unmap 4 KiB" } else { "unmap 2 MiB" },
            pages,
            vsva: times.unmap_per_page,
            vsva_range: times.unmap_range,
            a64: a_unmap,
            a64_range: a_unmap_r,
            store: s_unmap,
        },
    )
}

fn main() {
    // `cargo test --benches` runs this binary without `--bench`: do nothing then.
    if !std::env::args().any(|a| a == "--bench") {
        println!(
            "smmu_pagetable benchmark: run with `cargo bench -p vsva-iommu --bench smmu_pagetable`"
        );
        return;
    }
    let start = Instant::now();
    let (m4, u4) = run(4096, 7);
    let (m2, u2) = run(2 << 20, 301);
    println!(
        "1 GiB into an SMMUv3 stage-1 table (4 KiB granule, 48-bit input); best of 7 (4 KiB) / 301 (2 MiB) runs"
    );
    println!(
        "{:<12} {:>7} | {:>21} | {:>21} | {:>21} | {:>21} | {:>21} | {:>8} {:>9}",
        "operation",
        "pages",
        "vsva per-page calls",
        "vsva one range call",
        "aarch64-paging per-pg",
        "aarch64-paging range",
        "plain 8-byte stores",
        "vsva/a64",
        "vsva/store"
    );
    for r in [m4, u4, m2, u2] {
        let cell = |d: Duration| format!("{:6.1} ns {:8.3} ms", ns_per(d, r.pages), ms(d));
        println!(
            "{:<12} {:>7} | {} | {} | {} | {} | {} | {:>7.2}x {:>8.1}x",
            r.what,
            r.pages,
            cell(r.vsva),
            cell(r.vsva_range),
            cell(r.a64),
            cell(r.a64_range),
            cell(r.store),
            r.vsva.as_secs_f64() / r.a64.as_secs_f64(),
            r.vsva.as_secs_f64() / r.store.as_secs_f64().max(1e-12),
        );
    }
    println!(
        "(ratios compare per-page calls; total run time {:.1} s)",
        start.elapsed().as_secs_f64()
    );
    let how = "host, release, best of 7 (4 KiB) / 301 (2 MiB) runs over 1 GiB";
    for r in [m4, u4, m2, u2] {
        let per_page = format!("SMMU stage 1: {}, per-page calls", r.what);
        let base = ("aarch64-paging per-page", r.a64);
        figure("smmu_pagetable", &per_page, r.vsva, base, r.pages, how);
        let range = format!("SMMU stage 1: {}, one range call", r.what);
        let base = ("aarch64-paging range", r.a64_range);
        figure("smmu_pagetable", &range, r.vsva_range, base, r.pages, how);
    }
}
