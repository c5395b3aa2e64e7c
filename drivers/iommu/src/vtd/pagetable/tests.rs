//! Host tests over [`SimMemory`]. The walkers here decode entries bit by bit from the spec
//! (§9.7, §9.8) and never call the module's encoders or decoders.

use alloc::vec::Vec;

use super::*;
use crate::hw::DmaMemory;
use crate::hw::sim::SimMemory;
use crate::vtd::regs::{Capability, ExtendedCapability, Sagaw, Sllps};

/// CAP_REG on QEMU 10: SAGAW 39,48, MGAW 48, SLLPS 2M|1G, PSI, MAMV 18.
const QEMU_CAP: u64 = 0x00d2_008c_222f_0606;
/// CAP_REG on QEMU 10 with `x-flts=on` (adds FS1GP).
const QEMU_CAP_FLTS: u64 = 0x01d2_008c_222f_0606;
/// ECAP_REG on QEMU 10, legacy mode (no SC).
const QEMU_ECAP: u64 = 0x00f0_0f4a;

const K4: u64 = 1 << 12;
const M2: u64 = 1 << 21;
const G1: u64 = 1 << 30;
const RW: Permissions = Permissions::READ.union(Permissions::WRITE);

fn mem() -> SimMemory {
    SimMemory::new(0x10_0000, 0x1_0000_0000)
}

fn ss(mem: &SimMemory) -> SecondStageTable {
    SecondStageTable::new(
        mem,
        Capability::new(QEMU_CAP),
        ExtendedCapability::new(QEMU_ECAP),
        48,
    )
    .unwrap()
}

fn fs(mem: &SimMemory) -> FirstStageTable {
    FirstStageTable::new(mem, Capability::new(QEMU_CAP_FLTS), 48).unwrap()
}

/// What a spec walker finds: output address, page size in bytes, readable, writable.
#[derive(Debug, PartialEq, Eq)]
struct Walked {
    phys: u64,
    size: u64,
    read: bool,
    write: bool,
}

/// Bits 51:12 of an entry.
fn addr_bits(e: u64) -> u64 {
    e & ((1u64 << 52) - 1) & !0xfff
}

/// A second-stage walk (§3.7, §9.8): bit 0 R, bit 1 W, bit 7 PS in SS-PDPE / SS-PDE,
/// bit 11 SNP, bits 51:12 address. Checks the rules this table follows: non-leaf entries
/// have R = W = 1 and no SNP/PS, leaves have SNP exactly when `snp`.
fn walk_ss(mem: &SimMemory, root: u64, levels: u32, iova: u64, snp: bool) -> Option<Walked> {
    let mut table = root;
    for level in (1..=levels).rev() {
        let shift = 12 + 9 * (level - 1);
        let index = (iova >> shift) & 0x1ff;
        let e = mem.read64(table + index * 8);
        let r = e & 1 != 0;
        let w = e & 2 != 0;
        if !r && !w {
            return None;
        }
        let ps = e & (1 << 7) != 0;
        if level == 1 || ps {
            assert!(level <= 3, "PS is reserved above the SS-PDPE");
            assert_eq!(e & (1 << 11) != 0, snp, "SNP on leaf {e:#x}");
            let size = 1u64 << shift;
            let base = addr_bits(e);
            assert_eq!(base % size, 0, "leaf address aligned to its page");
            return Some(Walked {
                phys: base + (iova & (size - 1)),
                size,
                read: r,
                write: w,
            });
        }
        assert!(r && w, "non-leaf entries grant R and W: {e:#x}");
        assert_eq!(e & (1 << 11), 0, "no SNP on non-leaf entries");
        table = addr_bits(e);
    }
    None
}

/// A first-stage walk (§3.6, §9.7): bit 0 P, bit 1 R/W, bit 2 U/S, bit 7 PS in FS-PDPE /
/// FS-PDE, bit 63 XD. Checks U/S = 1 at every level (QEMU requires it) and that non-leaf
/// entries are writable.
fn walk_fs(mem: &SimMemory, root: u64, levels: u32, iova: u64) -> Option<Walked> {
    let mut table = root;
    for level in (1..=levels).rev() {
        let shift = 12 + 9 * (level - 1);
        let index = (iova >> shift) & 0x1ff;
        let e = mem.read64(table + index * 8);
        if e & 1 == 0 {
            return None;
        }
        assert!(e & 4 != 0, "U/S = 1 at level {level}: {e:#x}");
        let ps = e & (1 << 7) != 0;
        if level == 1 || ps {
            assert!(level <= 3, "PS is reserved in PML4E/PML5E");
            assert!(e & (1 << 63) != 0, "DMA mappings are execute-disabled");
            let size = 1u64 << shift;
            return Some(Walked {
                phys: addr_bits(e) + (iova & (size - 1)),
                size,
                read: true,
                write: e & 2 != 0,
            });
        }
        assert!(e & 2 != 0, "non-leaf entries are writable");
        assert_eq!(e & (1 << 63), 0, "no XD on non-leaf entries");
        table = addr_bits(e);
    }
    None
}

#[test]
fn second_stage_levels_come_from_sagaw() {
    let m = mem();
    let cap = Capability::new(QEMU_CAP);
    let ecap = ExtendedCapability::new(QEMU_ECAP);
    for (width, levels, aw) in [(32, 3, 1), (39, 3, 1), (40, 4, 2), (48, 4, 2)] {
        let t = SecondStageTable::new(&m, cap, ecap, width).unwrap();
        assert_eq!((t.levels(), t.aw()), (levels, aw), "{width} bits");
        t.destroy(&m).finish(&m);
    }
    assert_eq!(
        SecondStageTable::new(&m, cap, ecap, 49).unwrap_err(),
        Error::UnsupportedInputSize { requested: 49 }
    );
    assert!(SecondStageTable::new(&m, cap, ecap, 0).is_err());
    let fmt = SecondStage::from_capabilities(cap, ecap);
    // Only 48-bit supported: a 39-bit domain gets 4 levels.
    let t = SecondStageTable::with_format(&m, fmt, Sagaw::AGAW48, 57, 39).unwrap();
    assert_eq!(t.levels(), 4);
    t.destroy(&m).finish(&m);
    let t = SecondStageTable::with_format(&m, fmt, Sagaw::all(), 57, 57).unwrap();
    assert_eq!((t.levels(), t.aw()), (5, 3));
    t.destroy(&m).finish(&m);
    assert!(SecondStageTable::with_format(&m, fmt, Sagaw::AGAW39, 57, 48).is_err());
    assert!(SecondStageTable::with_format(&m, fmt, Sagaw::empty(), 57, 39).is_err());
    assert_eq!(m.allocated_pages(), 0);
}

#[test]
fn first_stage_levels_need_fs5lp_beyond_48_bits() {
    let m = mem();
    let t = FirstStageTable::new(&m, Capability::new(QEMU_CAP_FLTS), 48).unwrap();
    assert_eq!((t.levels(), t.flpm()), (4, 0));
    assert!(t.format().pages_1g);
    t.destroy(&m).finish(&m);
    assert_eq!(
        FirstStageTable::new(&m, Capability::new(QEMU_CAP_FLTS), 57).unwrap_err(),
        Error::UnsupportedInputSize { requested: 57 }
    );
    let fl5lp = Capability::new(QEMU_CAP_FLTS | (1 << 60));
    let t = FirstStageTable::new(&m, fl5lp, 57).unwrap();
    assert_eq!((t.levels(), t.flpm()), (5, 1));
    t.destroy(&m).finish(&m);
    assert!(!FirstStage::from_capabilities(Capability::new(QEMU_CAP)).pages_1g);
}

#[test]
fn second_stage_mappings_read_back_and_match_the_spec_walk() {
    let m = mem();
    let mut t = ss(&m);
    let _ = t.map(&m, 0x1000, 0x8000_0000, 3 * K4, RW).unwrap();
    let _ = t
        .map(&m, 0x7f_0000_0000, 0x1234_5000, K4, Permissions::READ)
        .unwrap();
    let q = t.query(&m, 0x2abc).unwrap();
    assert_eq!(q.phys, 0x8000_1abc);
    assert_eq!(q.size, PageSize::Size4K.bytes());
    assert_eq!(q.attributes, RW);
    assert_eq!(t.query(&m, 0x4000), None);
    assert_eq!(t.query(&m, 0x0), None);
    let ro = t.query(&m, 0x7f_0000_0010).unwrap();
    assert_eq!((ro.phys, ro.attributes), (0x1234_5010, Permissions::READ));
    assert_eq!(
        walk_ss(&m, t.root(), 4, 0x3008, false),
        Some(Walked {
            phys: 0x8000_2008,
            size: K4,
            read: true,
            write: true
        })
    );
    assert_eq!(
        walk_ss(&m, t.root(), 4, 0x7f_0000_0010, false),
        Some(Walked {
            phys: 0x1234_5010,
            size: K4,
            read: true,
            write: false
        })
    );
    assert_eq!(walk_ss(&m, t.root(), 4, 0x4000, false), None);
    // Beyond the width: no translation, no panic.
    assert_eq!(t.query(&m, 1 << 48), None);
    assert_eq!(t.query(&m, u64::MAX), None);
}

#[test]
fn snoop_control_sets_snp_on_leaves_only() {
    let m = mem();
    let ecap_sc = ExtendedCapability::new(QEMU_ECAP | (1 << 7));
    let mut t = SecondStageTable::new(&m, Capability::new(QEMU_CAP), ecap_sc, 39).unwrap();
    assert!(t.format().snoop);
    let _ = t.map(&m, 0, 0, M2 + K4, RW).unwrap();
    assert_eq!(walk_ss(&m, t.root(), 3, 0x1000, true).unwrap().size, M2);
    assert_eq!(walk_ss(&m, t.root(), 3, M2, true).unwrap().size, K4);
}

#[test]
fn largest_pages_that_alignment_and_capabilities_allow() {
    let m = mem();
    let mut t = ss(&m);
    // 4K up to the 1G boundary, then 1G, 2M, 4K.
    let iova = G1 - K4;
    let len = K4 + G1 + M2 + K4;
    let _ = t.map(&m, iova, 0x40_0000_0000 + iova, len, RW).unwrap();
    let sizes: Vec<_> = t
        .mappings(&m, iova, len)
        .unwrap()
        .into_iter()
        .map(|(va, map)| (va, PageSize::from_bytes(map.size).unwrap()))
        .collect();
    assert_eq!(
        sizes,
        [
            (G1 - K4, PageSize::Size4K),
            (G1, PageSize::Size1G),
            (2 * G1, PageSize::Size2M),
            (2 * G1 + M2, PageSize::Size4K),
        ]
    );
    let w = walk_ss(&m, t.root(), 4, G1 + 0x1234_5678, false).unwrap();
    assert_eq!((w.phys, w.size), (0x40_0000_0000 + G1 + 0x1234_5678, G1));
    let w = walk_ss(&m, t.root(), 4, 2 * G1 + 0x1_2345, false).unwrap();
    assert_eq!((w.phys, w.size), (0x40_0000_0000 + 2 * G1 + 0x1_2345, M2));

    // Output not aligned like the input: 4K pages only.
    let _ = t.map(&m, 4 * G1, 0x20_0000_1000, M2, RW).unwrap();
    assert_eq!(t.query(&m, 4 * G1).unwrap().size, PageSize::Size4K.bytes());
    assert_eq!(t.mappings(&m, 4 * G1, M2).unwrap().len(), 512);

    // No 1G support: 2M pages; no large pages at all: 4K pages.
    let cap = Capability::new(QEMU_CAP);
    let ecap = ExtendedCapability::new(QEMU_ECAP);
    let mut fmt = SecondStage::from_capabilities(cap, ecap);
    fmt.large_pages = Sllps::PAGE_2M;
    let mut t2 = SecondStageTable::with_format(&m, fmt, cap.sagaw(), 48, 48).unwrap();
    let _ = t2.map(&m, G1, G1, G1, RW).unwrap();
    assert_eq!(t2.query(&m, G1).unwrap().size, PageSize::Size2M.bytes());
    assert_eq!(t2.mappings(&m, G1, G1).unwrap().len(), 512);
    fmt.large_pages = Sllps::empty();
    let mut t3 = SecondStageTable::with_format(&m, fmt, cap.sagaw(), 48, 48).unwrap();
    let _ = t3.map(&m, 0, 0, M2, RW).unwrap();
    assert_eq!(t3.query(&m, 0).unwrap().size, PageSize::Size4K.bytes());

    // First stage: 1G only with FS1GP, 2M always.
    let mut f = fs(&m);
    let _ = f.map(&m, G1, G1, G1 + M2, RW).unwrap();
    assert_eq!(walk_fs(&m, f.root(), 4, G1 + 5).unwrap().size, G1);
    assert_eq!(walk_fs(&m, f.root(), 4, 2 * G1 + 5).unwrap().size, M2);
    let mut f2 = FirstStageTable::new(&m, Capability::new(QEMU_CAP), 48).unwrap();
    let _ = f2.map(&m, G1, G1, G1, RW).unwrap();
    assert_eq!(walk_fs(&m, f2.root(), 4, G1 + 5).unwrap().size, M2);
}

#[test]
fn first_stage_entries_follow_the_x86_format() {
    let m = mem();
    let mut f = fs(&m);
    let _ = f
        .map(&m, 0x40_0000, 0x9_0000_0000, 2 * K4, Permissions::READ)
        .unwrap();
    let _ = f.map(&m, 0x60_0000, 0x9_1000_0000, M2, RW).unwrap();
    let w = walk_fs(&m, f.root(), 4, 0x40_1010).unwrap();
    assert_eq!(
        w,
        Walked {
            phys: 0x9_0000_1010,
            size: K4,
            read: true,
            write: false
        }
    );
    let w = walk_fs(&m, f.root(), 4, 0x60_0010).unwrap();
    assert_eq!((w.phys, w.size, w.write), (0x9_1000_0010, M2, true));
    let q = f.query(&m, 0x60_0010).unwrap();
    assert_eq!((q.size, q.attributes), (PageSize::Size2M.bytes(), RW));
    assert_eq!(walk_fs(&m, f.root(), 4, 0x80_0000), None);
}

/// What each format can express (the engine's other refusals are the suite's, `pt::tests`).
#[test]
fn permissions_each_format_can_express() {
    let m = mem();
    let mut t = ss(&m);
    let mut f = fs(&m);
    let perms = Err(Error::UnsupportedAttributes);
    assert_eq!(t.map(&m, 0, 0, K4, Permissions::empty()), perms);
    assert_eq!(t.map(&m, 0, 0, K4, RW | Permissions::EXECUTE), perms);
    assert_eq!(f.map(&m, 0, 0, K4, Permissions::WRITE), perms);
    // Write-only is fine in the second-stage format.
    let _ = t.map(&m, 0, 0, K4, Permissions::WRITE).unwrap();
    assert_eq!(t.query(&m, 0).unwrap().attributes, Permissions::WRITE);
    // The top of the address space is usable.
    let _ = t.map(&m, (1 << 48) - K4, 0x5000, K4, RW).unwrap();
    assert_eq!(t.query(&m, (1 << 48) - 1).unwrap().phys, 0x5fff);
}

#[test]
fn execute_permission_needs_a_table_that_allows_it() {
    let m = mem();
    let cap = Capability::new(QEMU_CAP);
    let mut fmt = SecondStage::from_capabilities(cap, ExtendedCapability::new(QEMU_ECAP));
    fmt.execute = true;
    let mut t = SecondStageTable::with_format(&m, fmt, cap.sagaw(), 48, 48).unwrap();
    let rx = Permissions::READ | Permissions::EXECUTE;
    let _ = t.map(&m, 0, 0, K4, rx).unwrap();
    assert_eq!(t.query(&m, 0).unwrap().attributes, rx);
    let e = m.read64(t.root());
    assert_eq!(e & 0b111, 0b111, "non-leaf R, W and X");
    assert_eq!(
        t.map(&m, K4, 0, K4, Permissions::EXECUTE),
        Err(Error::UnsupportedAttributes)
    );
}

#[test]
fn psi_chunks_are_aligned_exact_and_logarithmic() {
    let log2_ceil = |n: u64| 64 - (n - 1).leading_zeros() as usize;
    for start in [0u64, 1, 3, 7, 100, 511, 512, 513, 4095] {
        for pages in [1u64, 2, 3, 7, 100, 512, 1000, 1023, 1024, 4097, 100_000] {
            let chunks: Vec<_> = psi_chunks(start * K4, pages * K4, 18).collect();
            let mut next = start * K4;
            for c in &chunks {
                assert_eq!(c.addr, next, "contiguous and in order");
                assert_eq!(c.addr % c.len(), 0, "naturally aligned");
                next += c.len();
            }
            assert_eq!(next, (start + pages) * K4, "exact cover");
            assert!(
                chunks.len() <= 2 * log2_ceil(pages.max(2)),
                "{start}+{pages}: {} chunks",
                chunks.len()
            );
        }
    }
    assert_eq!(
        psi_chunks(0, 512 * K4, 18).collect::<Vec<_>>(),
        [PsiChunk { addr: 0, am: 9 }]
    );
    // 1000 = 512 + 256 + 128 + 64 + 32 + 8.
    assert_eq!(psi_chunks(0, 1000 * K4, 18).count(), 6);
    // Capped by MAMV: 2^20 pages with MAMV 18 are four 2^18 blocks.
    let capped: Vec<_> = psi_chunks(G1, (1 << 20) * K4, 18).collect();
    assert_eq!(capped.len(), 4);
    assert!(capped.iter().all(|c| c.am == 18));
    // MAMV 0: one descriptor per page.
    assert_eq!(psi_chunks(0, 16 * K4, 0).count(), 16);
    assert_eq!(psi_chunks(0, 0, 18).count(), 0);
}

#[test]
fn unmapping_contiguous_pages_costs_logarithmic_invalidations() {
    let m = mem();
    let mut f = fs(&m);
    // Misaligned output so every page is 4K.
    let _ = f.map(&m, 0x7000, 0x1000, 4000 * K4, RW).unwrap();
    for (start, pages) in [(0x8000u64, 512u64), (0x8000 + 512 * K4, 1000)] {
        let inv = f.unmap(&m, start, pages * K4).unwrap();
        assert_eq!(
            inv.ranges(),
            [IovaRange {
                start,
                len: pages * K4
            }]
        );
        let n = inv.psi_chunks(18).count();
        assert!(n <= 2 * 10, "{pages} pages: {n} chunks");
        inv.finish(&m);
    }
    // Aligned 512 pages are one descriptor.
    let inv = f.unmap(&m, M2 * 4, 512 * K4).unwrap();
    assert_eq!(inv.psi_chunks(18).count(), 1);
    inv.finish(&m);
}

#[test]
fn invalidations_merge_and_coalesce() {
    let m = mem();
    let mut t = ss(&m);
    let _ = t.map(&m, 0, 0x10_0000, 16 * K4, RW).unwrap();
    let mut inv = t.unmap(&m, 0, 2 * K4).unwrap();
    inv.merge(t.unmap(&m, 2 * K4, 2 * K4).unwrap());
    inv.merge(t.unmap(&m, 8 * K4, K4).unwrap());
    assert_eq!(
        inv.ranges(),
        [
            IovaRange {
                start: 0,
                len: 4 * K4
            },
            IovaRange {
                start: 8 * K4,
                len: K4
            }
        ]
    );
    assert!(inv.ih());
    inv.merge(t.unmap(&m, 0, G1).unwrap());
    assert!(!inv.ih());
    assert_eq!(inv.tables_to_free().len(), 3);
    inv.finish(&m);
    assert_eq!(m.allocated_pages(), 1);
}
