//! Unmap: what it names for invalidation, the tables it frees and when, blocks cut
//! through, and teardown.

use super::{Case, largest_leaf};
use crate::pt::{Error, Format, IovaRange, Table};

/// Unmapping the last leaf of fresh tables unlinks them all (the root stays), but their
/// memory comes back only through `finish`, after the caller's invalidation.
pub fn emptied_tables_are_freed_only_through_the_invalidation<F: Format>(c: &Case<F>) {
    let (m, mut t) = c.table();
    let g = *t.geometry();
    let p = g.page_size();
    let root = m.allocated_pages();
    let x = g.span(g.root_height()) + 7 * g.span(1) + 3 * p;
    t.map(&m, x, 0, p, c.rw).unwrap().finish(&m);
    let mapped = m.allocated_pages();
    let tables = (mapped - root) / g.frames(0);
    assert_eq!(
        tables,
        g.levels() as usize - 1,
        "{}: one table per level",
        c.name
    );
    let inv = t.unmap(&m, x, p).unwrap();
    assert_eq!(m.allocated_pages(), mapped, "{}: nothing freed yet", c.name);
    assert_eq!(inv.tables_to_free().len(), tables, "{}", c.name);
    assert!(inv.non_leaf(), "{}: tables were unlinked", c.name);
    assert!(
        inv.ranges()
            .iter()
            .any(|r| r.start <= x && x + p <= r.end()),
        "{}: the page is invalidated",
        c.name
    );
    assert_eq!(t.query(&m, x), None);
    inv.finish(&m);
    assert_eq!(m.allocated_pages(), root, "{}: only the root stays", c.name);
    assert!(
        m.snapshot().is_empty(),
        "{}: the root is empty again",
        c.name
    );
}

/// An unmap over a partly mapped range removes what is there, names exactly the removed
/// leaves (holes left out, neighbours coalesced), and keeps a table that still has leaves.
pub fn unmap_skips_holes_and_names_what_it_removed<F: Format>(c: &Case<F>) {
    let (m, mut t) = c.table();
    let p = t.geometry().page_size();
    let a = 256 * p;
    for at in [a, a + p, a + 3 * p, a + 10 * p] {
        t.map(&m, at, at + p, p, c.rw).unwrap().finish(&m);
    }
    let pages = m.allocated_pages();
    let inv = t.unmap(&m, a, 5 * p).unwrap();
    let expected = [
        IovaRange {
            start: a,
            len: 2 * p,
        },
        IovaRange {
            start: a + 3 * p,
            len: p,
        },
    ];
    assert_eq!(inv.ranges(), expected, "{}", c.name);
    assert!(inv.leaf_only(), "{}: only leaves changed", c.name);
    assert_eq!(inv.tables_to_free().len(), 0, "{}", c.name);
    inv.finish(&m);
    assert_eq!(m.allocated_pages(), pages, "{}", c.name);
    for at in [a, a + p, a + 3 * p] {
        assert_eq!(t.query(&m, at), None, "{}: {at:#x}", c.name);
    }
    assert_eq!(t.query(&m, a + 10 * p).unwrap().phys, a + 11 * p);
    assert!(t.unmap(&m, a, 5 * p).unwrap().is_empty(), "{}", c.name);
}

/// An unmap of one page inside a block: formats that split keep the rest of the block
/// mapped with the same translation; the others refuse with the block and change nothing.
pub fn cutting_a_block_splits_or_refuses_by_format<F: Format>(c: &Case<F>) {
    let (m, mut t) = c.table();
    let g = *t.geometry();
    let (p, b) = (g.page_size(), largest_leaf(&t));
    if b == p {
        return;
    }
    let root = m.allocated_pages();
    let (block, phys) = (2 * b, 6 * b);
    t.map(&m, block, phys, b, c.rw).unwrap().finish(&m);
    let cut = block + b / 2 + 3 * p;
    let before = m.snapshot();
    let result = t.unmap(&m, cut, p);
    if !F::SPLITS_BLOCKS {
        assert_eq!(
            result,
            Err(Error::PartialBlock {
                iova: block,
                size: b
            }),
            "{}",
            c.name
        );
        assert_eq!(m.snapshot(), before, "{}: nothing changed", c.name);
        return;
    }
    let inv = result.unwrap();
    assert_eq!(
        inv.ranges(),
        [IovaRange { start: cut, len: p }],
        "{}",
        c.name
    );
    assert!(inv.non_leaf(), "{}: a block became a table", c.name);
    inv.finish(&m);
    assert_eq!(t.query(&m, cut), None, "{}", c.name);
    let leaves = t.mappings(&m, block, b).unwrap();
    let covered: u64 = leaves.iter().map(|(_, l)| l.size).sum();
    assert_eq!(covered, b - p, "{}: all but the page stays mapped", c.name);
    for (a, leaf) in &leaves {
        assert_eq!(leaf.phys, phys + (a - block), "{}: {a:#x}", c.name);
        assert_eq!(leaf.attributes, c.rw, "{}", c.name);
    }
    t.unmap(&m, block, b).unwrap().finish(&m);
    assert_eq!(m.allocated_pages(), root, "{}: split tables freed", c.name);
}

/// `destroy` lists every table, the root included, for freeing after an invalidation of
/// the whole input range.
pub fn destroy_lists_every_table<F: Format>(c: &Case<F>) {
    let (m, mut t) = c.table();
    let g = *t.geometry();
    let (p, b) = (g.page_size(), largest_leaf(&t));
    t.map(&m, 0, 0x10_0000, 10 * p, c.rw).unwrap().finish(&m);
    t.map(&m, 64 * b, 0, 2 * b, c.ro).unwrap().finish(&m);
    let far = g.span(g.root_height()) * 2 - p;
    t.map(&m, far, 0, p, c.rw).unwrap().finish(&m);
    let inv = t.destroy(&m);
    assert!(inv.non_leaf());
    let whole = IovaRange {
        start: 0,
        len: 1 << g.input_bits(),
    };
    assert_eq!(inv.ranges(), [whole], "{}", c.name);
    assert!(m.allocated_pages() > 0);
    inv.finish(&m);
    assert_eq!(m.allocated_pages(), 0, "{}: every table freed", c.name);
}

/// Page-by-page calls through several tables in a row, the calls the remembered walk
/// serves: every page reads back; a range unmap frees the tables the walk went through
/// (the one it remembers included), after which single pages land in new tables; and
/// unmapping page by page, last first, frees every table again.
pub fn page_by_page_calls_move_from_table_to_table<F: Format>(c: &Case<F>) {
    let (m, mut t) = c.table();
    let g = *t.geometry();
    let p = g.page_size();
    let root = m.allocated_pages();
    let per_table = g.entries(0);
    let pages = 2 * per_table + 3;
    let base = 3 * g.span(1);
    let page = |i: u64| base + i * p;
    for i in 0..pages {
        t.map(&m, page(i), 0x4000_0000 + i * p, p, c.rw)
            .unwrap()
            .finish(&m);
    }
    let phys = |t: &Table<F>, i: u64| t.query(&m, page(i)).map(|q| q.phys);
    for i in (0..pages).step_by(5) {
        assert_eq!(
            phys(&t, i),
            Some(0x4000_0000 + i * p),
            "{}: page {i}",
            c.name
        );
    }
    // Frees the second and third tables; the walk ended in the third.
    let inv = t.unmap(&m, page(per_table), (per_table + 3) * p).unwrap();
    assert_eq!(inv.tables_to_free().len(), 2, "{}", c.name);
    inv.finish(&m);
    for i in (per_table..pages).rev() {
        t.map(&m, page(i), 0x8000_0000 + i * p, p, c.rw)
            .unwrap()
            .finish(&m);
    }
    for i in (0..pages).step_by(3) {
        let from = if i < per_table {
            0x4000_0000
        } else {
            0x8000_0000
        };
        assert_eq!(
            phys(&t, i),
            Some(from + i * p),
            "{}: page {i} again",
            c.name
        );
    }
    for i in (0..pages).rev() {
        t.unmap(&m, page(i), p).unwrap().finish(&m);
        assert_eq!(phys(&t, i), None, "{}: page {i} unmapped", c.name);
    }
    assert_eq!(m.allocated_pages(), root, "{}: only the root stays", c.name);
}

/// The walk a single-page call remembers goes when an unmap frees its tables. Checking the
/// entry above is not enough: here the freed frames come back (last freed first) as
/// another region's tables, with the entry the walk checks at the same address pointing to
/// the same frame. A page mapped in the old region again must get tables of its own.
pub fn a_walk_into_freed_tables_is_forgotten<F: Format>(c: &Case<F>) {
    let (m, mut t) = c.table();
    let g = *t.geometry();
    let p = g.page_size();
    let (s1, s2) = (g.span(1), g.span(2));
    if !g.leaf_allowed(1) || g.levels() < 3 || 3 * s2 > 1 << g.input_bits() {
        return;
    }
    // x's leaf table and the one above it; z keeps the table above those.
    let (x, z) = (3 * s1 + 7 * p, s2);
    t.map(&m, z, 0x10_0000, p, c.rw).unwrap().finish(&m);
    for a in [x, x + p] {
        t.map(&m, a, 0x20_0000, p, c.rw).unwrap().finish(&m);
    }
    // The second page goes through the remembered walk, the first frees both tables.
    for a in [x + p, x] {
        t.unmap(&m, a, p).unwrap().finish(&m);
    }
    // A block needs one table (x's upper one comes back); a page in it at x's index
    // needs one more (x's leaf table comes back), linked where x's was.
    let (w, y) = (2 * s2, 2 * s2 + 3 * s1 + 8 * p);
    t.map(&m, w, 0, s1, c.rw).unwrap().finish(&m);
    t.map(&m, y, 0x30_0000, p, c.rw).unwrap().finish(&m);
    t.map(&m, x, 0x40_0000, p, c.rw).unwrap().finish(&m);
    let phys = |a| t.query(&m, a).map(|q| q.phys);
    assert_eq!(phys(x), Some(0x40_0000), "{}: x mapped again", c.name);
    assert_eq!(phys(y - p), None, "{}: nothing beside y", c.name);
    assert_eq!(phys(y), Some(0x30_0000), "{}: y's page", c.name);
}
