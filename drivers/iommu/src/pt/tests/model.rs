//! Random maps and unmaps against a model of what is mapped, page by page.

use alloc::collections::BTreeMap;

use super::Case;
use crate::hw::sim::SimMemory;
use crate::pt::{Error, Format, Table};

/// A tiny deterministic generator.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, bound: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % bound
    }
}

pub fn random_range_calls_agree_with_a_model<F: Format>(c: &Case<F>) {
    agree_with_a_model(c, false);
}

pub fn random_single_leaf_calls_agree_with_a_model<F: Format>(c: &Case<F>) {
    agree_with_a_model(c, true);
}

/// Page input address -> page output address.
type Model = BTreeMap<u64, u64>;

/// Checks every page of `start .. end` against the model, with `query` and
/// with `query_near`.
fn check<F: Format>(c: &Case<F>, m: &SimMemory, t: &Table<F>, model: &Model, start: u64, end: u64) {
    let p = t.geometry().page_size();
    // Ascending lookups that start where the last one ended agree too.
    let mut last = None;
    for va in (start..end).step_by(p as usize) {
        let got = t.query(m, va).map(|q| q.phys);
        assert_eq!(got, model.get(&va).copied(), "{}: {va:#x}", c.name);
        let near = t.query_near(m, va, &mut last).map(|q| q.phys);
        assert_eq!(near, got, "{}: query_near {va:#x}", c.name);
    }
}

/// 200 random calls over a window a little wider than three tables of pages, crossing
/// boundaries of the levels above; each call's range is checked page by page after it,
/// the whole window at the end, and unmapping everything must leave only the root.
/// `single`: each call is one page or one aligned block at height 1 (the in-place paths).
fn agree_with_a_model<F: Format>(c: &Case<F>, single: bool) {
    let (m, mut t) = c.table();
    let g = *t.geometry();
    let p = g.page_size();
    let block = g.span(1);
    let root = m.allocated_pages();
    let window = 3 * g.entries(0) + 100;
    let base = 5 * block - g.entries(0) / 2 * p;
    let limit = base + window * p;
    let mut model = Model::new();
    let mut rng = Lcg(u64::from(g.levels()) * 31 + g.page_size());
    for _ in 0..200 {
        let start = rng.next(window);
        let bound = if rng.next(4) == 0 { 1100 } else { 40 };
        let mut pages = (1 + rng.next(bound)).min(window - start);
        let mut iova = base + start * p;
        if single {
            pages = 1;
            let aligned = iova.next_multiple_of(block);
            if g.leaf_allowed(1) && rng.next(4) == 0 && aligned + block <= limit {
                (iova, pages) = (aligned, block / p);
            }
        }
        let len = pages * p;
        if rng.next(3) == 0 {
            match t.unmap(&m, iova, len) {
                Ok(inv) => {
                    for va in (iova..iova + len).step_by(p as usize) {
                        let removed = model.remove(&va).is_some();
                        let named = inv.ranges().iter().any(|r| r.start <= va && va < r.end());
                        assert!(!removed || named, "{}: {va:#x} invalidated", c.name);
                    }
                    inv.finish(&m);
                }
                Err(Error::PartialBlock { iova: at, size }) => {
                    assert!(!F::SPLITS_BLOCKS, "{}", c.name);
                    let leaf = t.query(&m, at).unwrap();
                    assert_eq!(leaf.size, size, "{}: the block named is a leaf", c.name);
                    assert!(at < iova || at + size > iova + len, "{}: cut", c.name);
                }
                Err(e) => panic!("{}: unmap {iova:#x} {len:#x}: {e}", c.name),
            }
        } else {
            // Output aligned like the input half the time, so blocks occur.
            let phys = if rng.next(2) == 0 {
                iova + 64 * block
            } else {
                (rng.next(1 << 16) + 1) * p
            };
            let clash = (iova..iova + len)
                .step_by(p as usize)
                .find(|va| model.contains_key(va));
            let result = t.map(&m, iova, phys, len, c.rw);
            match clash {
                Some(va) => assert_eq!(
                    result.unwrap_err(),
                    Error::AlreadyMapped { iova: va },
                    "{}",
                    c.name
                ),
                None => {
                    result.unwrap().finish(&m);
                    for i in 0..pages {
                        model.insert(iova + i * p, phys + i * p);
                    }
                }
            }
        }
        check(c, &m, &t, &model, iova, iova + len);
    }
    check(c, &m, &t, &model, base, limit);
    // Whole blocks around the window, so no format has a block to refuse.
    let (from, to) = (base & !(block - 1), limit.next_multiple_of(block));
    t.unmap(&m, from, to - from).unwrap().finish(&m);
    assert_eq!(
        m.allocated_pages(),
        root,
        "{}: only the root remains",
        c.name
    );
}
