//! Map: leaf choice, read-back, refusals that change nothing, invalidation policy.

use super::{Case, expected_leaves, largest_leaf};
use crate::pt::{Error, Format, IovaRange};

/// A map uses, at each address, the largest leaf both addresses allow; `mappings` and
/// `query` read back every leaf with its output address and attributes, nothing outside.
pub fn maps_with_the_largest_leaves_and_reads_back<F: Format>(c: &Case<F>) {
    let (m, mut t) = c.table();
    let g = *t.geometry();
    let (p, b) = (g.page_size(), largest_leaf(&t));
    let next = super::leaf_heights(&t).nth(1).map_or(p, |h| g.span(h));
    let (iova, len) = (4 * b - 3 * p, 3 * p + b + next + 2 * p);
    let phys = iova + 4 * b;
    let inv = t.map(&m, iova, phys, len, c.rw).unwrap();
    inv.finish(&m);
    let listed: Vec<_> = t
        .mappings(&m, 0, 12 * b)
        .unwrap()
        .into_iter()
        .map(|(a, leaf)| {
            assert_eq!(leaf.phys, phys + (a - iova), "{}: output of {a:#x}", c.name);
            assert_eq!(leaf.attributes, c.rw, "{}", c.name);
            (a, leaf.size)
        })
        .collect();
    assert_eq!(listed, expected_leaves(&t, iova, phys, len), "{}", c.name);
    if b > p {
        assert!(
            listed.contains(&(4 * b, b)),
            "{}: the largest leaf is used",
            c.name
        );
    }
    for a in [iova, iova + p + 5, 4 * b + b / 2 + 3, iova + len - 1] {
        let q = t.query(&m, a).unwrap();
        assert_eq!(q.phys, phys + (a - iova), "{}: query {a:#x}", c.name);
    }
    assert_eq!(t.query(&m, iova - 1), None, "{}", c.name);
    assert_eq!(t.query(&m, iova + len), None, "{}", c.name);

    // Output addresses one page off the input's alignment: pages only.
    let (iova, len) = (16 * b, 2 * g.span(1));
    t.map(&m, iova, iova + p, len, c.ro).unwrap().finish(&m);
    let leaves = t.mappings(&m, iova, len).unwrap();
    assert_eq!(leaves.len() as u64, len / p, "{}", c.name);
    assert!(
        leaves
            .iter()
            .all(|(_, l)| l.size == p && l.attributes == c.ro)
    );
}

/// Mapping over anything present fails with the first such address and changes no byte.
pub fn mapping_over_a_mapping_changes_nothing<F: Format>(c: &Case<F>) {
    let (m, mut t) = c.table();
    let g = *t.geometry();
    let (p, b) = (g.page_size(), largest_leaf(&t));
    let (a, block) = (64 * b, 128 * b);
    for at in [a + 5 * p, a + 9 * p] {
        t.map(&m, at, at, p, c.rw).unwrap().finish(&m);
    }
    t.map(&m, block, 0, b, c.rw).unwrap().finish(&m);
    let (before, pages) = (m.snapshot(), m.allocated_pages());
    let mut refused = vec![
        (a, 16 * p, a + 5 * p),
        (a + 9 * p, p, a + 9 * p),
        (block - p, 2 * p, block),
        (a, 70 * b, a + 5 * p),
    ];
    if b > p {
        refused.push((block + p, p, block + p));
        refused.push((block, p, block));
    }
    for (iova, len, first) in refused {
        assert_eq!(
            t.map(&m, iova, 0x4000_0000, len, c.rw),
            Err(Error::AlreadyMapped { iova: first }),
            "{}: map {iova:#x} + {len:#x}",
            c.name
        );
        assert_eq!(m.snapshot(), before, "{}: memory unchanged", c.name);
        assert_eq!(m.allocated_pages(), pages, "{}", c.name);
    }
}

/// A map that needs several tables is refused with each allocation in turn failing, and
/// every refusal leaves memory as it was; so does a block split (formats that split).
pub fn every_allocation_failure_leaves_the_table_as_it_was<F: Format>(c: &Case<F>) {
    let (m, mut t) = c.table();
    let g = *t.geometry();
    let (p, b) = (g.page_size(), largest_leaf(&t));
    t.map(&m, 0, 0, p, c.rw).unwrap().finish(&m);
    // Across the boundary between two root entries: tables down both sides.
    let boundary = g.span(g.root_height());
    let mut failures = 0;
    for n in 1.. {
        let (before, pages) = (m.snapshot(), m.allocated_pages());
        m.fail_allocation_after(Some(n));
        match t.map(&m, boundary - 2 * p, 0x20_0000, 4 * p, c.rw) {
            Err(Error::OutOfMemory) => {
                assert_eq!(m.snapshot(), before, "{}: failure {n}", c.name);
                assert_eq!(m.allocated_pages(), pages, "{}: failure {n}", c.name);
                failures += 1;
            }
            Ok(inv) => {
                inv.finish(&m);
                break;
            }
            Err(e) => panic!("{}: {e}", c.name),
        }
    }
    m.fail_allocation_after(None);
    // levels − 2 new tables below the seed's, levels − 1 under the next root entry.
    let tables = 2 * g.levels() as usize - 3;
    assert_eq!(failures, tables, "{}: one per table", c.name);
    assert_eq!(t.query(&m, boundary + p).unwrap().phys, 0x20_0000 + 3 * p);
    if !F::SPLITS_BLOCKS || b == p {
        return;
    }
    t.map(&m, 4 * b, 8 * b, b, c.rw).unwrap().finish(&m);
    let (before, pages) = (m.snapshot(), m.allocated_pages());
    m.fail_allocation_after(Some(1));
    assert_eq!(
        t.unmap(&m, 4 * b + p, p),
        Err(Error::OutOfMemory),
        "{}",
        c.name
    );
    assert_eq!(m.snapshot(), before, "{}: split refused", c.name);
    assert_eq!(m.allocated_pages(), pages, "{}", c.name);
}

/// Unaligned, overflowing and out-of-range calls are refused with their error and change
/// nothing; empty ranges are no-ops.
pub fn bad_input_changes_nothing<F: Format>(c: &Case<F>) {
    let (m, mut t) = c.table();
    let g = *t.geometry();
    let p = g.page_size();
    let a = 64 * p;
    // The second page is mapped through the remembered walk, which the single pages below
    // beside it take too.
    for page in [a, a + p] {
        t.map(&m, page, page, p, c.rw).unwrap().finish(&m);
    }
    let before = m.snapshot();
    let top = 1u64 << g.input_bits();
    let out = 1u64 << g.output_bits();
    let input = Err(Error::InputOutOfRange {
        input_bits: g.input_bits(),
    });
    let maps = [
        ((a + p / 2, 0, p), Err(Error::Unaligned)),
        ((a, p / 2, p), Err(Error::Unaligned)),
        ((a, 0, p / 2), Err(Error::Unaligned)),
        ((0u64.wrapping_sub(p), 0, 2 * p), Err(Error::Overflow)),
        ((top - p, 0, 2 * p), input),
        ((top, 0, p), input),
        (
            (2 * a, out - p, 2 * p),
            Err(Error::OutputOutOfRange {
                output_bits: g.output_bits(),
            }),
        ),
        ((a + 2 * p, p / 2, p), Err(Error::Unaligned)),
        (
            (a + 2 * p, out, p),
            Err(Error::OutputOutOfRange {
                output_bits: g.output_bits(),
            }),
        ),
        ((a + p, 0, p), Err(Error::AlreadyMapped { iova: a + p })),
    ];
    for ((iova, phys, len), expected) in maps {
        let got = t.map(&m, iova, phys, len, c.rw).map(|_| ());
        assert_eq!(
            got, expected,
            "{}: map {iova:#x} {phys:#x} {len:#x}",
            c.name
        );
    }
    let unmaps = [
        ((a + p / 2, p), Err(Error::Unaligned)),
        ((a, p / 2), Err(Error::Unaligned)),
        ((0u64.wrapping_sub(p), 2 * p), Err(Error::Overflow)),
        ((top - p, 2 * p), input),
    ];
    for ((iova, len), expected) in unmaps {
        let got = t.unmap(&m, iova, len).map(|_| ());
        assert_eq!(got, expected, "{}: unmap {iova:#x} {len:#x}", c.name);
    }
    assert_eq!(t.query(&m, top), None);
    assert!(t.map(&m, top - p, 0, 0, c.rw).unwrap().is_empty());
    assert!(t.unmap(&m, a, 0).unwrap().is_empty());
    assert_eq!(m.snapshot(), before, "{}: memory unchanged", c.name);
}

/// A map asks for invalidation exactly when the format's caches may hold invalid entries
/// (VT-d caching mode), naming the whole range, non-leaf when it linked tables.
pub fn map_invalidation_follows_the_format<F: Format>(c: &Case<F>) {
    let (m, mut t) = c.table();
    let p = t.geometry().page_size();
    let range = |start, len| [IovaRange { start, len }];
    let fresh = t.map(&m, 32 * p, 0, 3 * p, c.rw).unwrap();
    let single = t.map(&m, 40 * p, 0, p, c.rw).unwrap();
    if F::MAP_INVALIDATES {
        assert_eq!(fresh.ranges(), range(32 * p, 3 * p), "{}", c.name);
        assert!(fresh.non_leaf(), "{}: tables were linked", c.name);
        assert_eq!(single.ranges(), range(40 * p, p), "{}", c.name);
        assert!(single.leaf_only(), "{}", c.name);
    } else {
        assert!(fresh.is_empty() && single.is_empty(), "{}", c.name);
    }
    assert_eq!(
        fresh.tables_to_free().len() + single.tables_to_free().len(),
        0
    );
}

/// Leaves are a template and the address (what lets the engine write a run of leaves from
/// one template): `leaf_entry(phys) == leaf_entry(0) | phys` at every leaf height.
pub fn leaf_entries_are_a_template_and_the_address<F: Format>(c: &Case<F>) {
    let (_m, t) = c.table();
    let g = *t.geometry();
    let f = t.format();
    for height in (0..g.root_height()).filter(|&h| g.leaf_allowed(h)) {
        let size = g.span(height);
        let top = (1u64 << g.output_bits()) - size;
        for phys in [size, 3 * size, top, top & !(0x5555 * size)] {
            for attributes in [c.rw, c.ro] {
                let template = f.leaf_entry(0, height, attributes);
                let entry = f.leaf_entry(phys, height, attributes);
                assert_eq!(
                    entry,
                    template | phys,
                    "{}: height {height}, {phys:#x}",
                    c.name
                );
            }
        }
    }
}

/// `add_count` is `with_count(count_of + delta)` for every count a table below the root
/// can hold (the root's count is kept nowhere), and leaves the rest of the entry alone (a
/// format may add in place).
pub fn counts_add_in_place_as_they_replace<F: Format>(c: &Case<F>) {
    let (_m, t) = c.table();
    let g = *t.geometry();
    let most = (0..g.root_height())
        .map(|h| g.entries(h))
        .max()
        .unwrap_or(0);
    let entry = t.format().table_entry(0x7654_3000);
    for count in 0..=most {
        let raw = F::with_count(entry, count);
        assert_eq!(F::count_of(raw), count, "{}: count {count}", c.name);
        if count < most {
            assert_eq!(
                F::add_count(raw, 1),
                F::with_count(entry, count + 1),
                "{}",
                c.name
            );
        }
        if count > 0 {
            assert_eq!(
                F::add_count(raw, -1),
                F::with_count(entry, count - 1),
                "{}",
                c.name
            );
        }
    }
}
