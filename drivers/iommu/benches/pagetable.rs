//! Map and unmap 1 GiB into a first-stage (x86-format) table, as 4 KiB and as 2 MiB pages:
//! vsva's `FirstStageTable` over a flat `DmaMemory`, the `x86_64` crate's `OffsetPageTable`
//! over a host buffer used as physical memory, and a plain loop storing as many 8-byte
//! entries (the lower bound). Run with `cargo bench -p vsva-iommu --bench pagetable`.
//!
//! Both tables start empty for every repetition and build the same tree (PML4, one PDPT,
//! one PD, and 512 PTs for 4 KiB pages) with the same entry bits (P, R/W, U/S, XD).
//! vsva's unmap also frees the tables it empties (after a no-op "invalidation");
//! `OffsetPageTable::unmap` leaves them in place.

mod common;

use common::{FlatMemory, figure, ms, ns_per};

use std::time::{Duration, Instant};

use vsva_iommu::vtd::pagetable::{FirstStageTable, Permissions};
use vsva_iommu::vtd::regs::Capability;
use x86_64::structures::paging::mapper::{Mapper, OffsetPageTable};
use x86_64::structures::paging::{
    FrameAllocator, Page, PageTable, PageTableFlags, PhysFrame, Size2MiB, Size4KiB,
};
use x86_64::{PhysAddr, VirtAddr};

const GIB: u64 = 1 << 30;
/// Where the 1 GiB goes: IOVA / virtual address, and output address.
const IOVA: u64 = 0x40_0000_0000;
const PHYS: u64 = 0x1_0000_0000;
/// Table pages needed: 512 PTs + PD + PDPT + PML4, with some room.
const FRAMES: usize = 600;
/// QEMU 10's CAP_REG without FS1GP, so 1 GiB runs use 2 MiB pages.
const CAP: u64 = 0x00d2_008c_222f_0606;

/// Host frames standing in for physical memory for `OffsetPageTable`: frame `i` is at
/// physical address `i * 4096`, so the physical-memory offset is the buffer's address.
struct Frames {
    tables: Vec<PageTable>,
}

/// Hands out frames 1.. of [`Frames`] (frame 0 is the PML4).
struct BumpFrames {
    next: u64,
    limit: u64,
}

// SAFETY: every frame returned is distinct and inside the buffer, and is not used for
// anything else while the mapper owns it.
unsafe impl FrameAllocator<Size4KiB> for BumpFrames {
    fn allocate_frame(&mut self) -> Option<PhysFrame<Size4KiB>> {
        if self.next >= self.limit {
            return None;
        }
        let frame = PhysFrame::containing_address(PhysAddr::new(self.next * 4096));
        self.next += 1;
        Some(frame)
    }
}

impl Frames {
    fn new() -> Self {
        Self {
            tables: vec![PageTable::new(); FRAMES],
        }
    }

    /// Empties every frame and returns a mapper over them plus a fresh frame allocator.
    fn reset(&mut self) -> (OffsetPageTable<'_>, BumpFrames) {
        for t in &mut self.tables {
            t.zero();
        }
        let base = self.tables.as_mut_ptr();
        // SAFETY: `base` points at FRAMES page tables that stay alive and are used only
        // through the returned mapper for its lifetime (it borrows `self` mutably).
        let level_4 = unsafe { &mut *base };
        let offset = VirtAddr::from_ptr(base);
        // SAFETY: physical address p maps to `offset + p` for every frame the allocator
        // hands out (all inside the buffer), and the level-4 table is frame 0.
        let mapper = unsafe { OffsetPageTable::new(level_4, offset) };
        let frames = BumpFrames {
            next: 1,
            limit: FRAMES as u64,
        };
        (mapper, frames)
    }
}

#[derive(Clone, Copy)]
struct Row {
    what: &'static str,
    pages: u64,
    vsva: Duration,
    vsva_range: Duration,
    x86: Duration,
    store: Duration,
}

const PERMS: Permissions = Permissions::READ.union(Permissions::WRITE);

fn x86_flags() -> PageTableFlags {
    PageTableFlags::PRESENT
        | PageTableFlags::WRITABLE
        | PageTableFlags::USER_ACCESSIBLE
        | PageTableFlags::NO_EXECUTE
}

/// One page size: map then unmap 1 GiB, per page and (vsva) as one range call.
fn run(page: u64, reps: usize) -> (Row, Row) {
    let pages = GIB / page;
    let mem = FlatMemory::new(0x10_0000, FRAMES);
    let cap = Capability::new(CAP);
    let mut table = FirstStageTable::new(&mem, cap, 48).expect("root table");
    // 4 KiB runs use an output base that is not 2 MiB aligned, so the range call also
    // produces 4 KiB pages.
    let phys = if page == 4096 { PHYS + 4096 } else { PHYS };

    let span = (IOVA, phys, GIB);
    let times = common::time_vsva(&mem, &mut table, span, page, PERMS, reps);
    table.destroy(&mem).finish(&mem);

    // x86_64 crate.
    let mut frames = Frames::new();
    let mut x_map = Duration::MAX;
    let mut x_unmap = Duration::MAX;
    for _ in 0..reps {
        let (mut mapper, mut alloc) = frames.reset();
        let t = Instant::now();
        for i in 0..pages {
            if page == 4096 {
                let p = Page::<Size4KiB>::containing_address(VirtAddr::new(IOVA + i * page));
                let f = PhysFrame::<Size4KiB>::containing_address(PhysAddr::new(phys + i * page));
                // SAFETY: the mapping is only written into the table, never used.
                unsafe { mapper.map_to(p, f, x86_flags(), &mut alloc) }
                    .expect("map_to")
                    .ignore();
            } else {
                let p = Page::<Size2MiB>::containing_address(VirtAddr::new(IOVA + i * page));
                let f = PhysFrame::<Size2MiB>::containing_address(PhysAddr::new(phys + i * page));
                // SAFETY: the mapping is only written into the table, never used.
                unsafe { mapper.map_to(p, f, x86_flags(), &mut alloc) }
                    .expect("map_to")
                    .ignore();
            }
        }
        x_map = x_map.min(t.elapsed());
        let t = Instant::now();
        for i in 0..pages {
            if page == 4096 {
                let p = Page::<Size4KiB>::containing_address(VirtAddr::new(IOVA + i * page));
                mapper.unmap(p).expect("unmap").1.ignore();
            } else {
                let p = Page::<Size2MiB>::containing_address(VirtAddr::new(IOVA + i * page));
                mapper.unmap(p).expect("unmap").1.ignore();
            }
        }
        x_unmap = x_unmap.min(t.elapsed());
    }

    // Lower bound: store as many entries in a plain array, then clear them.
    let flags = 0x8000_0000_0000_0007u64;
    let (store_map, store_unmap) = common::time_stores(pages, phys, page, flags, reps);

    let small = page == 4096;
    (
        Row {
            what: if page == 4096 {
                "map 4 KiB"
            } else {
                "map 2 MiB"
            },
            pages,
            vsva: times.map_per_page,
            vsva_range: times.map_range,
            x86: x_map,
            store: store_map,
        },
        Row {
            what: if small { "unmap 4 KiB" } else { "unmap 2 MiB" },
            pages,
            vsva: times.unmap_per_page,
            vsva_range: times.unmap_range,
            x86: x_unmap,
            store: store_unmap,
        },
    )
}

fn main() {
    // `cargo test --benches` runs this binary without `--bench`: do nothing then.
    if !std::env::args().any(|a| a == "--bench") {
        println!("pagetable benchmark: run with `cargo bench -p vsva-iommu --bench pagetable`");
        return;
    }
    let start = Instant::now();
    let (m4, u4) = run(4096, 7);
    let (m2, u2) = run(2 << 20, 301);
    println!("1 GiB into a first-stage (x86 4-level) table; best of 7 (4 KiB) / 301 (2 MiB) runs");
    println!(
        "{:<12} {:>7} | {:>22} | {:>22} | {:>22} | {:>22} | {:>9} {:>9}",
        "operation",
        "pages",
        "vsva per-page calls",
        "vsva one range call",
        "x86_64 OffsetPageTable",
        "plain 8-byte stores",
        "vsva/x86",
        "vsva/store"
    );
    for r in [m4, u4, m2, u2] {
        let cell = |d: Duration| format!("{:7.1} ns {:9.3} ms", ns_per(d, r.pages), ms(d));
        println!(
            "{:<12} {:>7} | {} | {} | {} | {} | {:>8.2}x {:>8.1}x",
            r.what,
            r.pages,
            cell(r.vsva),
            cell(r.vsva_range),
            cell(r.x86),
            cell(r.store),
            r.vsva.as_secs_f64() / r.x86.as_secs_f64(),
            r.vsva.as_secs_f64() / r.store.as_secs_f64().max(1e-12),
        );
    }
    println!(
        "(ratios compare per-page calls; total run time {:.1} s)",
        start.elapsed().as_secs_f64()
    );
    let how = "host, release, best of 7 (4 KiB) / 301 (2 MiB) runs over 1 GiB";
    for r in [m4, u4, m2, u2] {
        let base = ("x86_64 OffsetPageTable", r.x86);
        let per_page = format!("first stage: {}, per-page calls", r.what);
        figure("pagetable", &per_page, r.vsva, base, r.pages, how);
        let range = format!("first stage: {}, one range call", r.what);
        figure("pagetable", &range, r.vsva_range, base, r.pages, how);
    }
}
