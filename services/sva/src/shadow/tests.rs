//! Host tests: guest tables written bit by bit (x86 paging, §9.7) into a
//! [`FlatRam`], shadows in [`SimMemory`], checked through the engine's `query`.

use vsva_iommu::hw::sim::SimMemory;
use vsva_iommu::vtd::pagetable::{
    FirstStage, FirstStageTable, PageSize, Permissions, SecondStageTable,
};
use vsva_iommu::vtd::regs::{Capability, ExtendedCapability};

use super::walk::{ADDR_MASK, shift};
use super::*;
use crate::guest::FlatRam;

/// CAP_REG of QEMU 10 with `x-flts=on` (FS1GP); bit 60 adds FS5LP.
const QEMU_CAP_FLTS: u64 = 0x01d2_008c_222f_0606;
/// CAP_REG / ECAP_REG of QEMU 10 (SAGAW 39,48, SLLPS 2M|1G).
const QEMU_CAP: u64 = 0x00d2_008c_222f_0606;
const QEMU_ECAP: u64 = 0x00f0_0f4a;

const P: u64 = 1 << 0;
const RW: u64 = 1 << 1;
const US: u64 = 1 << 2;
const PS: u64 = 1 << 7;
const XD: u64 = 1 << 63;
/// A table entry or 4 KiB leaf allowing everything.
const ALL: u64 = P | RW | US;

const K4: u64 = 1 << 12;
const M1: u64 = 1 << 20;
const M2: u64 = 1 << 21;
const G1: u64 = 1 << 30;
/// The guest's RAM: guest-physical [1 GiB, 3 GiB - 1 MiB) at host 256 GiB.
const GUEST: u64 = G1;
const HOST: u64 = 256 * G1;
const RAM: GuestRam = GuestRam {
    guest: GUEST,
    host: HOST,
    size: 2 * G1 - M1,
};
const LIMIT: usize = 100_000;

/// A fresh walk limit of [`LIMIT`] entries.
fn limit() -> WalkLimit {
    WalkLimit(LIMIT)
}
const R: Permissions = Permissions::READ;
const RX: Permissions = Permissions::READ.union(Permissions::EXECUTE);
const RWX: Permissions = Permissions::all();

fn host(gpa: u64) -> u64 {
    HOST + (gpa - GUEST)
}

/// The guest-virtual base of PML4 slot `n` (4 levels).
fn slot(n: u64) -> u64 {
    n << 39
}

/// A guest page table in a flat copy of the start of its RAM; one page below
/// the RAM is readable too, for pointers outside it.
struct Guest {
    ram: FlatRam,
    levels: u8,
    root: u64,
    next: u64,
}

impl Guest {
    fn new(levels: u8) -> Self {
        let mut g = Self {
            ram: FlatRam::new(GUEST - K4, 0x41000),
            levels,
            root: 0,
            next: GUEST,
        };
        g.root = g.table();
        g
    }

    fn table(&mut self) -> u64 {
        self.next += K4;
        self.next - K4
    }

    fn read(&self, gpa: u64) -> u64 {
        let at = (gpa - self.ram.base) as usize;
        u64::from_le_bytes(self.ram.bytes[at..at + 8].try_into().unwrap())
    }

    fn write(&mut self, gpa: u64, entry: u64) {
        self.ram.write(gpa, &entry.to_le_bytes()).unwrap();
    }

    /// The guest-physical address of the level-`level` entry for `gva`,
    /// creating the tables above it (entries allowing everything).
    fn entry(&mut self, gva: u64, level: u8) -> u64 {
        let mut table = self.root;
        for l in (level + 1..=self.levels).rev() {
            let at = table + ((gva >> shift(l)) & 511) * 8;
            if self.read(at) & P == 0 {
                let t = self.table();
                self.write(at, t | ALL);
            }
            table = self.read(at) & ADDR_MASK;
        }
        table + ((gva >> shift(level)) & 511) * 8
    }

    fn map(&mut self, gva: u64, level: u8, entry: u64) {
        let at = self.entry(gva, level);
        self.write(at, entry);
    }

    /// Changes the flags of the level-`level` entry for `gva`.
    fn flags(&mut self, gva: u64, level: u8, set: u64, clear: u64) {
        let at = self.entry(gva, level);
        let e = self.read(at);
        self.write(at, (e | set) & !clear);
    }

    fn table_of(&self) -> GuestTable {
        GuestTable {
            root: self.root,
            levels: self.levels,
        }
    }
}

fn mem() -> SimMemory {
    SimMemory::new(0x10_0000, 0x1_0000_0000)
}

fn build(
    g: &Guest,
    mem: &SimMemory,
    budget: &mut ShadowBudget,
    mut limit: WalkLimit,
) -> Result<Shadow<FirstStage>, ShadowError> {
    let table = FirstStageTable::four_level(mem, FirstStage { pages_1g: true }, 48).unwrap();
    Shadow::build(mem, table, g.table_of(), RAM, &g.ram, budget, &mut limit)
}

fn query(
    s: &Shadow<impl Format>,
    mem: &SimMemory,
    gva: u64,
) -> Option<(u64, PageSize, Permissions)> {
    let m = s.table().query(mem, gva)?;
    Some((m.phys, PageSize::from_bytes(m.size)?, m.attributes))
}

/// Destroys `s` and checks that every page and the whole budget came back.
fn teardown<F: Format>(s: Shadow<F>, mem: &SimMemory, budget: &mut ShadowBudget, pages: usize) {
    s.destroy(mem).finish(mem, budget);
    assert_eq!(mem.allocated_pages(), 0, "every table page freed");
    assert_eq!(budget.pages_left(), pages, "budget fully credited");
}

#[test]
fn pages_of_every_size_translate_to_host_ram() {
    let mut g = Guest::new(4);
    g.map(K4, 1, (GUEST + 0x10_0000) | ALL);
    g.map(2 * K4, 1, (GUEST + 0x5_0000) | P | US);
    g.map(M2, 2, (GUEST + 0x20_0000) | ALL | PS);
    // 512 PTEs mapping one contiguous, 2 MiB-aligned range: one shadow page.
    for i in 0..512 {
        g.map(2 * M2 + i * K4, 1, (GUEST + 2 * M2 + i * K4) | ALL);
    }
    g.map(slot(1), 3, GUEST | ALL | PS);
    g.ram.reads.set(0);
    let mem = mem();
    let mut budget = ShadowBudget::new(64);
    let s = build(&g, &mem, &mut budget, limit()).unwrap();
    // PML4, PDPT 0, PD 0, PT 0, PT 2, PDPT 1: each read once.
    assert_eq!(g.ram.reads.get(), 6);
    assert_eq!(s.input_bits(), 48);
    assert_eq!(s.root(), s.table().root());
    let cases = [
        (K4 + 0x123, host(GUEST + 0x10_0123), PageSize::Size4K, RWX),
        (2 * K4, host(GUEST + 0x5_0000), PageSize::Size4K, RX),
        (
            M2 + 0x1f_f000,
            host(GUEST + 0x3f_f000),
            PageSize::Size2M,
            RWX,
        ),
        (
            2 * M2 + 0x1234,
            host(GUEST + 2 * M2 + 0x1234),
            PageSize::Size2M,
            RWX,
        ),
        (
            slot(1) + 0x3fff_f000,
            host(GUEST + 0x3fff_f000),
            PageSize::Size1G,
            RWX,
        ),
    ];
    for (gva, phys, size, perms) in cases {
        assert_eq!(query(&s, &mem, gva), Some((phys, size, perms)), "{gva:#x}");
    }
    assert_eq!(query(&s, &mem, 3 * K4), None);
    assert_eq!(query(&s, &mem, slot(1) + G1), None);
    // Root, PDPT 0, PD 0, PT 0 (PT 2 became a 2 MiB leaf), PDPT 1.
    assert_eq!(budget.pages_left(), 64 - 5);
    teardown(s, &mem, &mut budget, 64);
}

#[test]
fn user_write_and_execute_rights_are_combined_over_all_levels() {
    let mut g = Guest::new(4);
    for n in 0..6 {
        g.map(slot(n), 1, (GUEST + 0x10_0000 + n * K4) | ALL);
    }
    g.flags(slot(1), 3, 0, US); // U/S clear in a PDPTE: supervisor only.
    g.flags(slot(2), 1, 0, US); // U/S clear in the PTE.
    g.flags(slot(3), 4, 0, RW); // R/W clear in the PML4E: read-only.
    g.flags(slot(4), 4, XD, 0); // XD in the PML4E.
    g.flags(slot(5), 1, XD, RW); // XD and no R/W in the PTE.
    let mem = mem();
    let mut budget = ShadowBudget::new(64);
    let s = build(&g, &mem, &mut budget, limit()).unwrap();
    let perms = |n| query(&s, &mem, slot(n)).map(|(_, _, p)| p);
    assert_eq!(perms(0), Some(RWX));
    assert_eq!(perms(1), None);
    assert_eq!(perms(2), None);
    assert_eq!(perms(3), Some(RX));
    assert_eq!(perms(4), Some(Permissions::READ | Permissions::WRITE));
    assert_eq!(perms(5), Some(R));
    teardown(s, &mem, &mut budget, 64);
}

#[test]
fn only_ram_is_reachable_and_straddling_leaves_are_clipped() {
    let mut g = Guest::new(4);
    g.map(slot(0), 1, (GUEST - K4) | ALL); // Below the RAM.
    g.map(slot(0) + K4, 1, RAM.end() | ALL); // Just past its end.
    g.map(slot(0) + 2 * K4, 1, (RAM.end() - K4) | ALL); // Its last page.
    // A 2 MiB leaf of which the first 1 MiB is RAM, a 1 GiB one (1 GiB - 1 MiB).
    g.map(slot(1), 2, (RAM.end() - M1) | ALL | PS);
    g.map(slot(2), 3, (2 * G1) | ALL | PS);
    // A PT just below the RAM, whose PTE names RAM: the subtree is dropped.
    let rogue = GUEST - K4;
    g.write(rogue, GUEST | ALL);
    let pde = g.entry(slot(3), 2);
    g.write(pde, rogue | ALL);
    let mem = mem();
    let mut budget = ShadowBudget::new(64);
    let s = build(&g, &mem, &mut budget, limit()).unwrap();
    let phys = |gva| query(&s, &mem, gva).map(|(p, size, _)| (p, size));
    assert_eq!(phys(slot(0)), None);
    assert_eq!(phys(slot(0) + K4), None);
    let last = host(RAM.end() - K4);
    assert_eq!(phys(slot(0) + 2 * K4), Some((last, PageSize::Size4K)));
    assert_eq!(
        phys(slot(1)),
        Some((host(RAM.end() - M1), PageSize::Size4K))
    );
    assert_eq!(phys(slot(1) + M1 - K4), Some((last, PageSize::Size4K)));
    assert_eq!(phys(slot(1) + M1), None);
    assert_eq!(phys(slot(2)), Some((host(2 * G1), PageSize::Size2M)));
    assert_eq!(phys(slot(2) + G1 - M1 - K4), Some((last, PageSize::Size4K)));
    assert_eq!(phys(slot(2) + G1 - M1), None);
    assert_eq!(phys(slot(3)), None);
    teardown(s, &mem, &mut budget, 64);
}

#[test]
fn entries_with_reserved_bits_are_not_present() {
    let mut g = Guest::new(4);
    g.map(slot(0), 1, (GUEST + 0x10_0000) | ALL);
    g.flags(slot(0), 4, PS, 0); // PS in a PML4E is reserved.
    g.map(slot(1), 2, (GUEST + M2) | ALL | PS | (1 << 13)); // Bits 20:13.
    g.map(slot(1) + M2, 2, (GUEST + 2 * M2) | ALL | PS | (1 << 12)); // PAT: fine.
    g.map(slot(2), 3, (2 * G1) | ALL | PS | (1 << 20)); // Bits 29:13.
    g.map(slot(3), 1, (GUEST + 0x10_0000) | ALL | (1 << 7)); // PTE PAT: fine.
    let mem = mem();
    let mut budget = ShadowBudget::new(64);
    let s = build(&g, &mem, &mut budget, limit()).unwrap();
    let phys = |gva| query(&s, &mem, gva).map(|(p, _, _)| p);
    assert_eq!(phys(slot(0)), None);
    assert_eq!(phys(slot(1)), None);
    assert_eq!(phys(slot(1) + M2), Some(host(GUEST + 2 * M2)));
    assert_eq!(phys(slot(2)), None);
    assert_eq!(phys(slot(3)), Some(host(GUEST + 0x10_0000)));
    teardown(s, &mem, &mut budget, 64);
}

#[test]
fn self_references_end_within_the_walk_limit() {
    // PML4[0] -> PML4: read as PDPT, PD and PT, its entry 0 maps GVA 0 to the
    // PML4 page itself (as the hardware would); nothing else is mapped.
    let mut g = Guest::new(4);
    g.write(g.root, g.root | ALL);
    let mem = mem();
    let mut budget = ShadowBudget::new(64);
    let s = build(&g, &mem, &mut budget, limit()).unwrap();
    let found = s.table().mappings(&mem, 0, 1 << 48).unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!((found[0].0, found[0].1.phys), (0, host(g.root)));
    teardown(s, &mem, &mut budget, 64);

    // Every PML4 entry -> PML4: 512^4 leaves, cut off by the limit.
    for i in 0..512 {
        g.write(g.root + i * 8, g.root | ALL);
    }
    g.ram.reads.set(0);
    let mut budget = ShadowBudget::new(1000);
    assert_eq!(
        build(&g, &mem, &mut budget, WalkLimit(20_000)).unwrap_err(),
        ShadowError::WalkLimit
    );
    assert!(g.ram.reads.get() <= 20_000 / 512 + 8);
    assert_eq!(mem.allocated_pages(), 0);
    assert_eq!(budget.pages_left(), 1000);
}

#[test]
fn resync_follows_exactly_the_invalidated_range() {
    let mut g = Guest::new(4);
    let a = GUEST + 0x10_0000;
    g.map(K4, 1, a | ALL);
    g.map(2 * K4, 1, (a + K4) | ALL);
    g.map(3 * K4, 1, (a + 2 * K4) | ALL);
    g.map(slot(256), 1, (a + 3 * K4) | ALL); // The upper half.
    let mem = mem();
    let mut budget = ShadowBudget::new(64);
    let mut s = build(&g, &mem, &mut budget, limit()).unwrap();
    // The guest remaps 0x1000 and 0x2000, unmaps 0x3000, but invalidates
    // 0x1000 and 0x3000 only.
    g.map(K4, 1, (a + 0x50_0000) | P | US);
    g.map(2 * K4, 1, (a + 0x60_0000) | ALL);
    g.map(3 * K4, 1, 0);
    let inv = s
        .resync(&mem, K4, K4, &g.ram, &mut budget, &mut limit())
        .unwrap();
    let ranges = inv.invalidation().ranges();
    assert_eq!((ranges[0].start, ranges[0].len), (K4, K4));
    inv.finish(&mem, &mut budget);
    let inv = s
        .resync(&mem, 3 * K4, K4, &g.ram, &mut budget, &mut limit())
        .unwrap();
    inv.finish(&mem, &mut budget);
    assert_eq!(
        query(&s, &mem, K4),
        Some((host(a + 0x50_0000), PageSize::Size4K, RX))
    );
    assert_eq!(
        query(&s, &mem, 2 * K4).map(|m| m.0),
        Some(host(a + K4)),
        "not invalidated"
    );
    assert_eq!(query(&s, &mem, 3 * K4), None);
    // A canonical upper-half address names its 48-bit slot.
    g.map(slot(256), 1, (a + 0x70_0000) | ALL);
    let canonical = 0xffff_8000_0000_0000;
    let inv = s
        .resync(&mem, canonical, K4, &g.ram, &mut budget, &mut limit())
        .unwrap();
    inv.finish(&mem, &mut budget);
    assert_eq!(
        query(&s, &mem, slot(256)).map(|m| m.0),
        Some(host(a + 0x70_0000))
    );
    // "Invalidate all" picks up the rest.
    let inv = s.rebuild(&mem, &g.ram, &mut budget, &mut limit()).unwrap();
    let ranges = inv.invalidation().ranges();
    assert!(ranges.iter().any(|r| r.start <= 2 * K4 && 2 * K4 < r.end()));
    inv.finish(&mem, &mut budget);
    assert_eq!(
        query(&s, &mem, 2 * K4).map(|m| m.0),
        Some(host(a + 0x60_0000))
    );
    teardown(s, &mem, &mut budget, 64);
}

/// A re-sync leaves alone what the shadow already maps as the guest does:
/// nothing is written and nothing asks for invalidation; among unchanged
/// pages, only the changed ones (address, rights, a large page now small)
/// are replaced and invalidated.
#[test]
fn resync_touches_only_what_the_guest_changed() {
    let mut g = Guest::new(4);
    let a = GUEST + 0x10_0000;
    for i in 0..8 {
        g.map(i * K4, 1, (a + i * K4 * 2) | ALL);
    }
    g.map(M2, 2, (GUEST + M2) | ALL | PS);
    let mem = mem();
    let mut budget = ShadowBudget::new(64);
    let mut s = build(&g, &mem, &mut budget, limit()).unwrap();
    let before = mem.snapshot();
    let inv = s
        .resync(&mem, 0, 2 * M2, &g.ram, &mut budget, &mut limit())
        .unwrap();
    assert!(inv.invalidation().is_empty(), "nothing changed");
    inv.finish(&mem, &mut budget);
    assert_eq!(mem.snapshot(), before, "no entry was written");
    // Page 3 moves, page 5 loses write, page 6 goes; the 2 MiB page becomes
    // 4 KiB pages, of which the first maps elsewhere.
    g.map(3 * K4, 1, (a + 0x40_0000) | ALL);
    g.flags(5 * K4, 1, 0, RW);
    g.map(6 * K4, 1, 0);
    g.map(M2, 2, 0);
    g.map(M2, 1, (a + 0x80_0000) | ALL);
    g.map(M2 + K4, 1, (GUEST + M2 + K4) | ALL);
    let inv = s
        .resync(&mem, 0, 2 * M2, &g.ram, &mut budget, &mut limit())
        .unwrap();
    let touched: Vec<(u64, u64)> = inv
        .invalidation()
        .ranges()
        .iter()
        .map(|r| (r.start, r.len))
        .collect();
    inv.finish(&mem, &mut budget);
    // The 2 MiB page was split: M2 + 4 KiB, unchanged, is not invalidated.
    let rest = (M2 + 2 * K4, M2 - 2 * K4);
    assert_eq!(touched, [(3 * K4, K4), (5 * K4, 2 * K4), (M2, K4), rest]);
    let page = |gva| query(&s, &mem, gva);
    assert_eq!(page(3 * K4).map(|m| m.0), Some(host(a + 0x40_0000)));
    assert_eq!(page(5 * K4).map(|m| m.2), Some(RX));
    assert_eq!(page(6 * K4), None);
    assert_eq!(page(7 * K4).map(|m| m.0), Some(host(a + 14 * K4)));
    assert_eq!(page(M2), Some((host(a + 0x80_0000), PageSize::Size4K, RWX)));
    assert_eq!(page(M2 + K4).map(|m| m.0), Some(host(GUEST + M2 + K4)));
    assert_eq!(page(M2 + 2 * K4), None);
    teardown(s, &mem, &mut budget, 64);
}

#[test]
fn resync_inside_a_coalesced_large_page_splits_it() {
    let mut g = Guest::new(4);
    for i in 0..512 {
        g.map(M2 + i * K4, 1, (GUEST + M2 + i * K4) | ALL);
    }
    let mem = mem();
    let mut budget = ShadowBudget::new(64);
    let mut s = build(&g, &mem, &mut budget, limit()).unwrap();
    assert_eq!(query(&s, &mem, M2).map(|m| m.1), Some(PageSize::Size2M));
    g.map(M2 + 5 * K4, 1, (GUEST + 0x40_0000) | ALL);
    let inv = s
        .resync(&mem, M2 + 5 * K4, K4, &g.ram, &mut budget, &mut limit())
        .unwrap();
    assert!(inv.invalidation().non_leaf());
    inv.finish(&mem, &mut budget);
    let phys = |i| query(&s, &mem, M2 + i * K4).map(|m| m.0);
    assert_eq!(phys(5), Some(host(GUEST + 0x40_0000)));
    assert_eq!(phys(4), Some(host(GUEST + M2 + 4 * K4)));
    assert_eq!(phys(6), Some(host(GUEST + M2 + 6 * K4)));
    assert_eq!(phys(511), Some(host(GUEST + M2 + 511 * K4)));
    teardown(s, &mem, &mut budget, 64);
}

#[test]
fn an_exhausted_budget_fails_and_leaves_nothing_allocated() {
    let mut g = Guest::new(4);
    for i in 0..512 {
        g.map(M2 + i * K4, 1, (GUEST + M2 + i * K4) | ALL);
    }
    g.map(slot(1), 1, GUEST | ALL);
    let mem = mem();
    // Root; PDPT and PD for slot 0 (a 2 MiB leaf); PDPT, PD, PT for slot 1.
    let mut budget = ShadowBudget::new(5);
    assert_eq!(
        build(&g, &mem, &mut budget, limit()).unwrap_err(),
        ShadowError::Budget
    );
    assert_eq!(mem.allocated_pages(), 0, "the table was freed too");
    assert_eq!(budget.pages_left(), 5);
    let mut budget = ShadowBudget::new(0);
    assert_eq!(
        build(&g, &mem, &mut budget, limit()).unwrap_err(),
        ShadowError::Budget
    );
    assert_eq!(mem.allocated_pages(), 0);

    let mut budget = ShadowBudget::new(6);
    let mut s = build(&g, &mem, &mut budget, limit()).unwrap();
    assert_eq!(budget.pages_left(), 0);
    // Splitting the 2 MiB page needs a page: the whole page goes instead.
    g.map(M2 + 5 * K4, 1, (GUEST + 0x40_0000) | ALL);
    let (error, inv) = s
        .resync(&mem, M2 + 5 * K4, K4, &g.ram, &mut budget, &mut limit())
        .unwrap_err();
    assert_eq!(error, ShadowError::Budget);
    let ranges = inv.invalidation().ranges();
    assert_eq!((ranges[0].start, ranges[0].len), (M2, M2));
    assert_eq!(query(&s, &mem, M2 + 4 * K4), None);
    assert_eq!(query(&s, &mem, M2 + 5 * K4), None);
    assert_eq!(budget.pages_left(), 0, "unlinked pages count until finish");
    inv.finish(&mem, &mut budget);
    assert_eq!(budget.pages_left(), 2, "PD and PDPT of slot 0 credited");
    assert_eq!(query(&s, &mem, slot(1)).map(|m| m.0), Some(host(GUEST)));
    teardown(s, &mem, &mut budget, 6);
}

#[test]
fn a_resync_over_the_walk_limit_leaves_its_range_unmapped() {
    let mut g = Guest::new(4);
    for i in 1..5 {
        g.map(i * K4, 1, (GUEST + i * M1) | ALL);
    }
    let mem = mem();
    let mut budget = ShadowBudget::new(64);
    let mut s = build(&g, &mem, &mut budget, limit()).unwrap();
    // Three PTEs after one entry per upper level: the fifth entry examined
    // maps the first page, the sixth is one too many.
    let (error, inv) = s
        .resync(&mem, K4, 3 * K4, &g.ram, &mut budget, &mut WalkLimit(5))
        .unwrap_err();
    assert_eq!(error, ShadowError::WalkLimit);
    let ranges = inv.invalidation().ranges();
    assert!(ranges.iter().all(|r| r.start >= K4 && r.end() <= 4 * K4));
    assert!(ranges.iter().any(|r| r.start == K4));
    inv.finish(&mem, &mut budget);
    for i in 1..4 {
        assert_eq!(query(&s, &mem, i * K4), None, "page {i} unmapped");
    }
    assert!(query(&s, &mem, 4 * K4).is_some(), "outside the range");
    let inv = s
        .resync(&mem, K4, 3 * K4, &g.ram, &mut budget, &mut WalkLimit(6))
        .unwrap();
    inv.finish(&mem, &mut budget);
    for i in 1..4 {
        assert_eq!(
            query(&s, &mem, i * K4).map(|m| m.0),
            Some(host(GUEST + i * M1))
        );
    }
    teardown(s, &mem, &mut budget, 64);
}

#[test]
fn a_five_level_guest_needs_a_57_bit_shadow() {
    let mut g = Guest::new(5);
    let gva = (1 << 48) + K4;
    g.map(gva, 1, (GUEST + 0x10_0000) | ALL);
    let mem = mem();
    let mut budget = ShadowBudget::new(64);
    let cap = Capability::new(QEMU_CAP_FLTS | (1 << 60));
    let table = FirstStageTable::new(&mem, cap, 57).unwrap();
    let s = Shadow::build(
        &mem,
        table,
        g.table_of(),
        RAM,
        &g.ram,
        &mut budget,
        &mut limit(),
    )
    .unwrap();
    assert_eq!((s.input_bits(), s.table().levels()), (57, 5));
    assert_eq!(
        query(&s, &mem, gva).map(|m| m.0),
        Some(host(GUEST + 0x10_0000))
    );
    assert_eq!(query(&s, &mem, K4), None);
    teardown(s, &mem, &mut budget, 64);

    let narrow = FirstStageTable::new(&mem, cap, 48).unwrap();
    let error = Shadow::build(
        &mem,
        narrow,
        g.table_of(),
        RAM,
        &g.ram,
        &mut budget,
        &mut limit(),
    );
    let expected = ShadowError::Width {
        needed: 57,
        table: 48,
        levels: 4,
    };
    assert_eq!(error.unwrap_err(), expected);
    let four = Guest::new(4);
    let wide = FirstStageTable::new(&mem, cap, 57).unwrap();
    let error = Shadow::build(
        &mem,
        wide,
        four.table_of(),
        RAM,
        &four.ram,
        &mut budget,
        &mut limit(),
    );
    assert!(matches!(error, Err(ShadowError::Width { needed: 48, .. })));
    assert_eq!(mem.allocated_pages(), 0, "refused tables are freed");
}

#[test]
fn a_second_stage_shadow_drops_execute() {
    let mut g = Guest::new(4);
    g.map(K4, 1, (GUEST + 0x10_0000) | ALL);
    g.map(2 * K4, 1, (GUEST + 0x20_0000) | P | US);
    let mem = mem();
    let mut budget = ShadowBudget::new(64);
    let cap = Capability::new(QEMU_CAP);
    let table = SecondStageTable::new(&mem, cap, ExtendedCapability::new(QEMU_ECAP), 48).unwrap();
    let s = Shadow::build(
        &mem,
        table,
        g.table_of(),
        RAM,
        &g.ram,
        &mut budget,
        &mut limit(),
    )
    .unwrap();
    let perms = |gva| query(&s, &mem, gva).map(|m| m.2);
    assert_eq!(perms(K4), Some(Permissions::READ | Permissions::WRITE));
    assert_eq!(perms(2 * K4), Some(R));
    teardown(s, &mem, &mut budget, 64);
}

#[test]
fn malformed_guest_tables_and_used_shadow_tables_are_refused() {
    let mem = mem();
    let mut budget = ShadowBudget::new(64);
    let g = Guest::new(4);
    for guest in [
        GuestTable {
            root: g.root + 8,
            levels: 4,
        },
        GuestTable {
            root: g.root,
            levels: 3,
        },
    ] {
        let table = FirstStageTable::four_level(&mem, FirstStage { pages_1g: true }, 48).unwrap();
        let error = Shadow::build(&mem, table, guest, RAM, &g.ram, &mut budget, &mut limit());
        assert_eq!(error.unwrap_err(), ShadowError::GuestTable);
    }
    let mut table = FirstStageTable::four_level(&mem, FirstStage { pages_1g: true }, 48).unwrap();
    table.map(&mem, M2, HOST, K4, R).unwrap().finish(&mem);
    let error = Shadow::build(
        &mem,
        table,
        g.table_of(),
        RAM,
        &g.ram,
        &mut budget,
        &mut limit(),
    );
    let expected = ShadowError::Table(Error::AlreadyMapped { iova: M2 });
    assert_eq!(error.unwrap_err(), expected);
    assert_eq!(mem.allocated_pages(), 0);
    assert_eq!(budget.pages_left(), 64);
}

/// An unaligned re-sync range is refused before anything changes.
#[test]
fn an_unaligned_resync_changes_nothing() {
    let mut g = Guest::new(4);
    g.map(K4, 1, (GUEST + 0x10_0000) | ALL);
    let mem = mem();
    let mut budget = ShadowBudget::new(64);
    let mut s = build(&g, &mem, &mut budget, limit()).unwrap();
    g.map(K4, 1, (GUEST + 0x20_0000) | ALL);
    let before = mem.snapshot();
    for (start, len) in [(K4, K4 + 8), (K4 + 8, K4)] {
        let (error, inv) = s
            .resync(&mem, start, len, &g.ram, &mut budget, &mut limit())
            .unwrap_err();
        assert_eq!(error, ShadowError::Table(Error::Unaligned));
        assert!(inv.invalidation().is_empty());
    }
    assert_eq!(mem.snapshot(), before, "the shadow is as it was");
    teardown(s, &mem, &mut budget, 64);
}
