//! Unmapping: emptied tables are freed only through the invalidation, blocks are never cut.

use super::*;

#[test]
fn empty_tables_are_freed_only_through_the_invalidation() {
    let m = mem();
    let mut t = s1(&m, Granule::Size4K, 48);
    let dma = Attributes::dma(RW);
    // Two level-3 tables (the range crosses a 2 MiB boundary), one level-2, one level-1.
    let _ = t.map(&m, M2 - 2 * K4, 0x1000_0000, 4 * K4, dma).unwrap();
    assert_eq!(m.allocated_pages(), 1 + 4);
    // Removing one page of four: leaves only.
    let inv = t.unmap(&m, M2 - K4, K4).unwrap();
    assert!(inv.leaf_only());
    assert_eq!(inv.tables_to_free().count(), 0);
    assert_eq!(
        inv.ranges(),
        &[IovaRange {
            start: M2 - K4,
            len: K4
        }]
    );
    inv.finish(&m);
    // Holes are skipped; the first level-3 table empties and goes. The range covers that
    // table's whole span, so it is unlinked as a whole and the whole span listed.
    let inv = t.unmap(&m, 0, M2).unwrap();
    assert!(!inv.leaf_only());
    assert_eq!(inv.tables_to_free().count(), 1);
    assert_eq!(inv.ranges(), &[IovaRange { start: 0, len: M2 }]);
    assert_eq!(m.allocated_pages(), 5, "not freed before finish");
    inv.finish(&m);
    assert_eq!(m.allocated_pages(), 4);
    // The last pages: the level-3, level-2 and level-1 tables all go.
    let inv = t.unmap(&m, M2, 2 * K4).unwrap();
    let mut freed: Vec<u64> = inv.tables_to_free().collect();
    freed.sort_unstable();
    freed.dedup();
    assert_eq!(freed.len(), 3);
    inv.finish(&m);
    assert_eq!(m.allocated_pages(), 1);
    for i in 0..512 {
        assert_eq!(m.read64(t.root() + i * 8), 0, "root empty again");
    }
    // Unmapping nothing changes nothing.
    let inv = t.unmap(&m, 0, G1).unwrap();
    assert!(inv.is_empty());
    // Merging batches.
    let _ = t.map(&m, 0, 0, K4, dma).unwrap();
    let _ = t.map(&m, 2 * K4, 0, K4, dma).unwrap();
    let mut inv = t.unmap(&m, 0, K4).unwrap();
    inv.merge(t.unmap(&m, 2 * K4, K4).unwrap());
    assert_eq!(inv.ranges().len(), 2);
    assert!(!inv.leaf_only());
    inv.finish(&m);
    assert_eq!(m.allocated_pages(), 1);
}

#[test]
fn unmap_refuses_to_cut_blocks_and_changes_nothing() {
    let m = mem();
    let mut t = s2(&m, Granule::Size4K, 40);
    let dma = Attributes::dma(RW);
    let _ = t.map(&m, 4 * M2, 0, M2, dma).unwrap();
    let _ = t.map(&m, 4 * M2 - K4, 0x10_0000, K4, dma).unwrap();
    let before = m.allocated_pages();
    // The page before the block would go first, but the cut through the block is refused
    // up front.
    assert_eq!(
        t.unmap(&m, 4 * M2 - K4, 2 * K4).unwrap_err(),
        Error::PartialBlock {
            iova: 4 * M2,
            size: M2
        }
    );
    assert_eq!(
        t.unmap(&m, 5 * M2 - K4, K4).unwrap_err(),
        Error::PartialBlock {
            iova: 4 * M2,
            size: M2
        }
    );
    assert_eq!(m.allocated_pages(), before);
    assert_eq!(t.query(&m, 4 * M2 - K4).unwrap().phys, 0x10_0000);
    assert_eq!(t.query(&m, 4 * M2).unwrap().size, M2);
    // Covering the whole block (plus holes) works: the block is a leaf change.
    let inv = t.unmap(&m, 4 * M2, 4 * M2).unwrap();
    assert!(inv.leaf_only());
    assert_eq!(
        inv.ranges(),
        &[IovaRange {
            start: 4 * M2,
            len: M2
        }]
    );
    inv.finish(&m);
    assert_eq!(t.query(&m, 4 * M2), None);
}
