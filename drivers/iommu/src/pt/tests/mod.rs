//! The one test suite every format runs: each test below is a generic function over a
//! [`Case`], and [`every_format!`] runs it on x86 paging (4 and 5 levels), VT-d second stage
//! (3 and 4 levels, with and without large pages) and VMSAv8-64 stage 1 and stage 2 with
//! each granule (stage 2 concatenated where the size allows). What a format's bits mean is
//! checked by each driver's own tests against a walker written from its specification;
//! here the engine's contract is checked through `query`, `mappings`, the invalidations and
//! the memory itself.

mod map;
mod model;
mod unmap;

use crate::hw::sim::SimMemory;
use crate::pt::{Error, Format, Table};
use crate::smmuv3::pagetable::{Attributes, Granule, Stage1, Stage1Table, Stage2, Stage2Table};
use crate::vtd::pagetable::{FirstStage, FirstStageTable, SecondStage, SecondStageTable};
use crate::vtd::regs::{Capability, Sagaw, Sllps};

/// One format and shape under test.
pub(super) struct Case<F: Format> {
    /// Named in every failure message.
    pub name: &'static str,
    /// Makes an empty table.
    pub make: fn(&SimMemory) -> Result<Table<F>, Error>,
    /// Read/write attributes.
    pub rw: F::Attributes,
    /// Read-only attributes.
    pub ro: F::Attributes,
}

impl<F: Format> Case<F> {
    /// A fresh memory and an empty table in it.
    pub fn table(&self) -> (SimMemory, Table<F>) {
        let mem = SimMemory::new(0x10_0000, 1 << 44);
        let table = (self.make)(&mem).unwrap_or_else(|e| panic!("{}: {e}", self.name));
        (mem, table)
    }
}

/// The heights below the root at which leaves may sit, largest first.
pub(super) fn leaf_heights<F: Format>(t: &Table<F>) -> impl Iterator<Item = u8> + '_ {
    let g = t.geometry();
    (0..g.root_height()).rev().filter(|&h| g.leaf_allowed(h))
}

/// The largest leaf below the root, in bytes.
pub(super) fn largest_leaf<F: Format>(t: &Table<F>) -> u64 {
    let g = t.geometry();
    leaf_heights(t).next().map_or(g.page_size(), |h| g.span(h))
}

/// The leaves a map of `iova .. iova + len` to `phys` should make, worked out from the
/// geometry alone: at each address the largest allowed leaf that both addresses are
/// aligned to and that fits.
pub(super) fn expected_leaves<F: Format>(
    t: &Table<F>,
    iova: u64,
    phys: u64,
    len: u64,
) -> Vec<(u64, u64)> {
    let g = t.geometry();
    let mut out = Vec::new();
    let mut a = iova;
    while a < iova + len {
        let p = phys + (a - iova);
        let size = leaf_heights(t)
            .map(|h| g.span(h))
            .find(|&s| (a | p).is_multiple_of(s) && a + s <= iova + len)
            .unwrap_or(g.page_size());
        out.push((a, size));
        a += size;
    }
    out
}

const CAP_SS: u64 = 0x00d2_008c_222f_0606;

fn x86_4(m: &SimMemory) -> Result<FirstStageTable, Error> {
    FirstStageTable::four_level(m, FirstStage { pages_1g: true }, 48)
}
fn x86_5(m: &SimMemory) -> Result<FirstStageTable, Error> {
    // QEMU's CAP with FS1GP (bit 56) and FS5LP (bit 60).
    FirstStageTable::new(m, Capability::new(CAP_SS | (1 << 56) | (1 << 60)), 57)
}
fn x86_no_1g(m: &SimMemory) -> Result<FirstStageTable, Error> {
    FirstStageTable::four_level(m, FirstStage { pages_1g: false }, 40)
}
fn second_stage(large_pages: Sllps) -> SecondStage {
    SecondStage {
        large_pages,
        snoop: false,
        execute: false,
    }
}
fn ss_3(m: &SimMemory) -> Result<SecondStageTable, Error> {
    let f = second_stage(Sllps::PAGE_2M | Sllps::PAGE_1G);
    SecondStageTable::with_format(m, f, Sagaw::AGAW39 | Sagaw::AGAW48, 48, 39)
}
fn ss_4_small(m: &SimMemory) -> Result<SecondStageTable, Error> {
    SecondStageTable::with_format(m, second_stage(Sllps::empty()), Sagaw::AGAW48, 48, 48)
}
fn s1_4k(m: &SimMemory) -> Result<Stage1Table, Error> {
    Stage1Table::new(m, Granule::Size4K, 48, 48)
}
fn s1_16k(m: &SimMemory) -> Result<Stage1Table, Error> {
    Stage1Table::new(m, Granule::Size16K, 47, 44)
}
fn s1_64k(m: &SimMemory) -> Result<Stage1Table, Error> {
    Stage1Table::new(m, Granule::Size64K, 42, 48)
}
fn s2_4k(m: &SimMemory) -> Result<Stage2Table, Error> {
    // 40-bit IPA: two concatenated level-1 tables.
    Stage2Table::new(m, Granule::Size4K, 40, 40)
}
fn s2_16k(m: &SimMemory) -> Result<Stage2Table, Error> {
    Stage2Table::new(m, Granule::Size16K, 36, 42)
}
fn s2_64k(m: &SimMemory) -> Result<Stage2Table, Error> {
    Stage2Table::new(m, Granule::Size64K, 44, 48)
}

use crate::pt::Permissions as P;
const RW: P = P::READ.union(P::WRITE);
const RWX: P = RW.union(P::EXECUTE);

pub(super) fn x86_cases() -> [Case<FirstStage>; 3] {
    let case = |name, make| Case {
        name,
        make,
        rw: RWX,
        ro: P::READ,
    };
    [
        case("x86 4-level", x86_4),
        case("x86 5-level", x86_5),
        case("x86 4-level without 1 GiB pages", x86_no_1g),
    ]
}

pub(super) fn vtd_second_stage_cases() -> [Case<SecondStage>; 2] {
    let case = |name, make| Case {
        name,
        make,
        rw: RW,
        ro: P::READ,
    };
    [
        case("VT-d second stage 3-level", ss_3),
        case("VT-d second stage 4-level, 4 KiB pages only", ss_4_small),
    ]
}

pub(super) fn stage1_cases() -> [Case<Stage1>; 3] {
    let case = |name, make| Case {
        name,
        make,
        rw: Attributes::dma(RW),
        ro: Attributes::dma(P::READ),
    };
    [
        case("VMSA stage 1, 4 KiB", s1_4k),
        case("VMSA stage 1, 16 KiB", s1_16k),
        case("VMSA stage 1, 64 KiB", s1_64k),
    ]
}

pub(super) fn stage2_cases() -> [Case<Stage2>; 3] {
    let case = |name, make| Case {
        name,
        make,
        rw: Attributes::dma(RW),
        ro: Attributes::dma(P::READ),
    };
    [
        case("VMSA stage 2, 4 KiB, concatenated", s2_4k),
        case("VMSA stage 2, 16 KiB", s2_16k),
        case("VMSA stage 2, 64 KiB", s2_64k),
    ]
}

/// A `#[test]` per generic test function, running it on every case of every format.
macro_rules! every_format {
    ($($module:ident :: $test:ident),* $(,)?) => {
        mod each {
            $(
                #[test]
                fn $test() {
                    use super::*;
                    x86_cases().iter().for_each($module::$test);
                    vtd_second_stage_cases().iter().for_each($module::$test);
                    stage1_cases().iter().for_each($module::$test);
                    stage2_cases().iter().for_each($module::$test);
                }
            )*
        }
    };
}

every_format!(
    map::maps_with_the_largest_leaves_and_reads_back,
    map::mapping_over_a_mapping_changes_nothing,
    map::every_allocation_failure_leaves_the_table_as_it_was,
    map::bad_input_changes_nothing,
    map::map_invalidation_follows_the_format,
    map::leaf_entries_are_a_template_and_the_address,
    map::counts_add_in_place_as_they_replace,
    unmap::emptied_tables_are_freed_only_through_the_invalidation,
    unmap::unmap_skips_holes_and_names_what_it_removed,
    unmap::cutting_a_block_splits_or_refuses_by_format,
    unmap::destroy_lists_every_table,
    unmap::page_by_page_calls_move_from_table_to_table,
    unmap::a_walk_into_freed_tables_is_forgotten,
    model::random_range_calls_agree_with_a_model,
    model::random_single_leaf_calls_agree_with_a_model,
);

#[test]
fn every_case_builds_the_geometry_it_names() {
    let levels = |f: fn(&SimMemory) -> Result<_, _>| -> u8 {
        let m = SimMemory::new(0x10_0000, 1 << 40);
        let t: FirstStageTable = f(&m).unwrap();
        t.levels()
    };
    assert_eq!((levels(x86_4), levels(x86_5)), (4, 5));
    let m = SimMemory::new(0x10_0000, 1 << 40);
    assert_eq!(ss_3(&m).unwrap().levels(), 3);
    assert!(!ss_4_small(&m).unwrap().geometry().leaf_allowed(1));
    let s2 = s2_4k(&m).unwrap();
    assert_eq!((s2.start_level(), s2.concatenated_tables()), (1, 2));
    assert_eq!(s1_64k(&m).unwrap().start_level(), 2);
}

#[test]
fn geometries_the_engine_cannot_walk_are_refused() {
    use crate::pt::Geometry;
    let m = SimMemory::new(0x10_0000, 1 << 40);
    let fs = FirstStage { pages_1g: true };
    let refused = |g: Geometry| Table::create(&m, fs, g).map(|_| ()).unwrap_err();
    // Not the x86 shape, too many levels, wider than the levels resolve.
    let wrong_shape = Geometry::new(14, 11, 3, 11, 0, 47, 48);
    let too_deep = Geometry::new(12, 9, 7, 9, 0, 48, 52);
    let too_wide = Geometry::new(12, 9, 4, 9, 0, 49, 52);
    for g in [wrong_shape, too_deep, too_wide] {
        assert_eq!(
            refused(g),
            Error::UnsupportedInputSize {
                requested: g.input_bits()
            }
        );
    }
    assert_eq!(m.allocated_pages(), 0, "nothing allocated");
    assert!(Table::create(&m, fs, Geometry::new(12, 9, 4, 9, 0, 48, 52)).is_ok());
}

/// An accessed bit the hardware sets in the entry above the remembered table (x86 paging
/// sets A in every entry it walks through) sends the next call the long way, which walks
/// again and keeps the bit; the count stays right, so the table goes with its last page.
#[test]
fn a_bit_set_above_the_remembered_table_is_kept() {
    use crate::hw::DmaMemory;
    use crate::pt::Decoded;
    use crate::vtd::pagetable::FsFlags;
    let m = SimMemory::new(0x10_0000, 1 << 40);
    let mut t = x86_4(&m).unwrap();
    let g = *t.geometry();
    let (p, a) = (g.page_size(), 5 * g.span(1));
    // Keeps the tables above the page table.
    t.map(&m, a + g.span(1), 0, p, P::READ).unwrap().finish(&m);
    for i in 0..2 {
        t.map(&m, a + i * p, 0x4000_0000 + i * p, p, P::READ)
            .unwrap()
            .finish(&m);
    }
    // The entry in the table at height 1 that points to the page table.
    let mut table = t.root();
    for h in (2..g.levels()).rev() {
        let Decoded::Table(next) = t
            .format()
            .decode(m.read64(g.entry_addr(table, h, a)), h, &g)
        else {
            panic!("a table at height {h}");
        };
        table = next;
    }
    let above = g.entry_addr(table, 1, a);
    m.write64(above, m.read64(above) | FsFlags::A.bits());
    for i in 2..4 {
        t.map(&m, a + i * p, 0x4000_0000 + i * p, p, P::READ)
            .unwrap()
            .finish(&m);
    }
    assert_ne!(m.read64(above) & FsFlags::A.bits(), 0, "A kept");
    assert_eq!(t.query(&m, a + 3 * p).unwrap().phys, 0x4000_0000 + 3 * p);
    let pages = m.allocated_pages();
    for i in 0..4 {
        t.unmap(&m, a + i * p, p).unwrap().finish(&m);
    }
    assert_eq!(
        m.allocated_pages(),
        pages - 1,
        "the page table went with its last page"
    );
    assert_eq!(m.read64(above), 0, "and was unlinked");
}
