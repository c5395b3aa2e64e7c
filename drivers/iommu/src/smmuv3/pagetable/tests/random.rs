//! Random maps and unmaps checked against a model of the mapped pages.

use alloc::collections::BTreeMap;

use super::*;

/// A tiny deterministic generator for the randomised test.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
}

/// Random maps and unmaps (aligned, unaligned, overlapping, out of range) against a model
/// of which pages are mapped where: every success must agree with the model, every error
/// must leave the table as it was, nothing may panic, and at the end only the root is left.
#[test]
fn random_operations_agree_with_a_model() {
    for (g, ia) in [
        (Granule::Size4K, 32),
        (Granule::Size16K, 36),
        (Granule::Size64K, 40),
    ] {
        let m = mem();
        let mut t = s2(&m, g, ia);
        let page = g.bytes();
        let window = 2 * g.span(2);
        let pages = window / page;
        let mut model: BTreeMap<u64, u64> = BTreeMap::new();
        let mut rng = Lcg(0x5eed ^ page);
        for step in 0..200 {
            let junk = rng.next().is_multiple_of(16);
            let a = (rng.next() % pages) * page + if junk { rng.next() % page } else { 0 };
            let n = match rng.next() % 4 {
                0 => 1,
                1 => rng.next() % 8 + 1,
                2 => g.span(2) / page,
                _ => rng.next() % pages + 1,
            };
            let len = n * page;
            let blockish = rng.next().is_multiple_of(3);
            let phys = if blockish {
                a
            } else {
                0x10_0000_0000 + (rng.next() % 64) * page
            };
            // Every page for 4 KiB; a sample (which still sees every block) for the others.
            let checked: Vec<u64> = (0..pages)
                .step_by((pages / 1024).max(1) as usize)
                .chain([a / page, (a / page + n - 1).min(pages - 1)])
                .collect();
            let snapshot: Vec<Option<Mapping>> =
                checked.iter().map(|&p| t.query(&m, p * page)).collect();
            let allocated = m.allocated_pages();
            let res = if rng.next().is_multiple_of(2) {
                t.map(&m, a, phys, len, Attributes::dma(RW)).map(|inv| {
                    assert!(inv.is_empty());
                    for p in 0..n {
                        assert!(model.insert(a + p * page, phys + p * page).is_none());
                    }
                })
            } else {
                t.unmap(&m, a, len).map(|inv| {
                    for p in 0..n {
                        let was = model.remove(&(a + p * page)).is_some();
                        let listed = inv
                            .ranges()
                            .iter()
                            .any(|r| (r.start..r.end()).contains(&(a + p * page)));
                        assert!(
                            !was || listed,
                            "step {step}: ranges cover what was unmapped"
                        );
                    }
                    inv.finish(&m);
                })
            };
            if let Err(e) = res {
                assert_eq!(m.allocated_pages(), allocated, "step {step}: {e}");
                for (&p, before) in checked.iter().zip(&snapshot) {
                    assert_eq!(t.query(&m, p * page), *before, "step {step}: {e}");
                }
            }
            for &p in &checked {
                let va = p * page;
                let want = model.get(&va).copied();
                assert_eq!(
                    t.query(&m, va).map(|q| q.phys),
                    want,
                    "step {step} {g:?} {va:#x}"
                );
                assert_eq!(walk2(&m, &t, va).map(|w| w.phys), want);
            }
        }
        // Ranges may run past the window (up to twice its size).
        let inv = t.unmap(&m, 0, 2 * window).unwrap();
        inv.finish(&m);
        assert_eq!(
            m.allocated_pages(),
            t.concatenated_tables() as usize * g.frames()
        );
        t.destroy(&m).finish(&m);
        assert_eq!(m.allocated_pages(), 0);
    }
}
