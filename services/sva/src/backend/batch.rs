//! Invalidations carried out in batches, one wait per batch: how both
//! backends turn a run of checked operations into queued commands and
//! report how far they got. Adjacent ranges of one translation are merged
//! first: a guest invalidating N consecutive pages costs one range (one
//! shadow re-sync walk, one set of range commands), not N.

use alloc::vec::Vec;

use super::{BackendError, UnitInvalidation};

/// What a backend queues for each operation, and how it submits a batch.
pub(crate) trait Batch {
    /// One queued command or descriptor.
    type Item;
    /// The most items submitted per wait.
    const PER_WAIT: usize;

    /// The items of `op` (work on the way, such as a shadow re-sync, done
    /// here; on an error, whatever it already changed made safe). What the
    /// work made unreachable waits until [`queued`](Self::queued) says the
    /// items are in the batch.
    fn items(&mut self, op: &UnitInvalidation) -> Result<Vec<Self::Item>, BackendError>;

    /// The items of the last [`items`](Self::items) call are now in the
    /// batch: what they cover may be freed after the next
    /// [`submit`](Self::submit), not before.
    fn queued(&mut self) {}

    /// Submits `items` and waits for them, then frees what the operations
    /// queued before them made unreachable.
    fn submit(&mut self, items: &[Self::Item]) -> Result<(), BackendError>;
}

/// Carries out `ops` in order, batching their items; on an error, the
/// index of the first operation not known to have taken effect (the first
/// of a merged range's operations when the range failed).
pub(crate) fn run<B: Batch>(
    b: &mut B,
    ops: &[UnitInvalidation],
) -> Result<(), (usize, BackendError)> {
    let (merged, firsts) = coalesce(ops);
    run_merged(b, &merged).map_err(|(i, e)| (firsts.get(i).copied().unwrap_or(0), e))
}

/// `ops` with each range that continues the previous one's (same device,
/// PASID and ASID) folded into it, and the index in `ops` where each
/// merged operation starts. The union is invalidated, with the leaf hint
/// only if every part had it.
fn coalesce(ops: &[UnitInvalidation]) -> (Vec<UnitInvalidation>, Vec<usize>) {
    let mut merged: Vec<UnitInvalidation> = Vec::with_capacity(ops.len());
    let mut firsts = Vec::with_capacity(ops.len());
    for (i, op) in ops.iter().enumerate() {
        if let (
            Some(UnitInvalidation::IotlbRange {
                rid,
                pasid,
                asid,
                start,
                len,
                leaf,
            }),
            &UnitInvalidation::IotlbRange {
                rid: r,
                pasid: p,
                asid: a,
                start: s,
                len: l,
                leaf: f,
            },
        ) = (merged.last_mut(), op)
            && (*rid, *pasid, *asid) == (r, p, a)
            && start.checked_add(*len) == Some(s)
            && let Some(total) = len.checked_add(l)
        {
            *len = total;
            *leaf &= f;
            continue;
        }
        merged.push(*op);
        firsts.push(i);
    }
    (merged, firsts)
}

fn run_merged<B: Batch>(b: &mut B, ops: &[UnitInvalidation]) -> Result<(), (usize, BackendError)> {
    let mut pending = Vec::new();
    // Operations whose items are all submitted and waited for.
    let mut done = 0;
    for (i, op) in ops.iter().enumerate() {
        let items = match b.items(op) {
            Ok(items) => items,
            Err(e) => {
                return match b.submit(&pending) {
                    Ok(()) => Err((i, e)),
                    Err(f) => Err((done, f)),
                };
            }
        };
        if pending.len() + items.len() > B::PER_WAIT && !pending.is_empty() {
            // `op`'s items are not in this submission: what they cover is
            // not freed by it.
            b.submit(&pending).map_err(|e| (done, e))?;
            pending.clear();
            done = i;
        }
        pending.extend(items);
        b.queued();
    }
    b.submit(&pending).map_err(|e| (done, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(rid: u32, start: u64, len: u64, leaf: bool) -> UnitInvalidation {
        UnitInvalidation::IotlbRange {
            rid,
            pasid: Some(1),
            asid: None,
            start,
            len,
            leaf,
        }
    }

    /// Records the items it is given; fails the operation starting at `fail_at`.
    struct Recorder {
        seen: Vec<UnitInvalidation>,
        fail_at: Option<u64>,
    }

    impl Batch for Recorder {
        type Item = UnitInvalidation;
        const PER_WAIT: usize = 64;

        fn items(&mut self, op: &UnitInvalidation) -> Result<Vec<Self::Item>, BackendError> {
            if let UnitInvalidation::IotlbRange { start, .. } = *op
                && Some(start) == self.fail_at
            {
                return Err(BackendError::Unsupported("refused"));
            }
            Ok(alloc::vec![*op])
        }

        fn submit(&mut self, items: &[Self::Item]) -> Result<(), BackendError> {
            self.seen.extend_from_slice(items);
            Ok(())
        }
    }

    #[test]
    fn adjacent_ranges_of_one_translation_become_one() {
        let ops = [
            range(1, 0x1000, 0x1000, true),
            range(1, 0x2000, 0x1000, true),
            range(1, 0x3000, 0x2000, false),
            // Another device, a gap, an overflow: each starts anew.
            range(2, 0x5000, 0x1000, true),
            range(2, 0x7000, 0x1000, true),
            range(2, u64::MAX - 0xfff, 0x1000, true),
            range(2, 0, 0x1000, true),
            UnitInvalidation::PasidCache {
                rid: 2,
                pasid: Some(1),
            },
        ];
        let (merged, firsts) = coalesce(&ops);
        let expected = [
            range(1, 0x1000, 0x4000, false),
            range(2, 0x5000, 0x1000, true),
            range(2, 0x7000, 0x1000, true),
            range(2, u64::MAX - 0xfff, 0x1000, true),
            range(2, 0, 0x1000, true),
            ops[7],
        ];
        assert_eq!(merged, expected);
        assert_eq!(firsts, [0, 3, 4, 5, 6, 7]);
    }

    /// Frees each operation's memory on a submit: records that nothing is
    /// freed before its own items were submitted.
    struct Freer {
        submitted: Vec<u64>,
        staged: Option<u64>,
        ready: Vec<u64>,
        freed: Vec<u64>,
    }

    impl Batch for Freer {
        type Item = u64;
        const PER_WAIT: usize = 2;

        fn items(&mut self, op: &UnitInvalidation) -> Result<Vec<u64>, BackendError> {
            let UnitInvalidation::IotlbRange { start, .. } = *op else {
                return Ok(Vec::new());
            };
            self.staged = Some(start);
            Ok(alloc::vec![start, start + 1])
        }

        fn queued(&mut self) {
            self.ready.extend(self.staged.take());
        }

        fn submit(&mut self, items: &[u64]) -> Result<(), BackendError> {
            self.submitted.extend_from_slice(items);
            for op in self.ready.drain(..) {
                assert!(
                    self.submitted.contains(&op),
                    "{op:#x} freed before its items went"
                );
                self.freed.push(op);
            }
            Ok(())
        }
    }

    /// An operation whose items overflow the batch is not freed by the
    /// submission that makes room for them: only after its own.
    #[test]
    fn nothing_is_freed_before_its_items_are_submitted() {
        let ops = [0x1000, 0x5000, 0x9000].map(|s| range(1, s, 0x1000, true));
        let mut f = Freer {
            submitted: Vec::new(),
            staged: None,
            ready: Vec::new(),
            freed: Vec::new(),
        };
        run(&mut f, &ops).unwrap();
        assert_eq!(
            f.freed,
            [0x1000, 0x5000, 0x9000],
            "everything freed in the end"
        );
    }

    #[test]
    fn a_failed_merged_range_reports_its_first_operation() {
        let ops = [
            range(1, 0x1000, 0x1000, true),
            range(3, 0x1000, 0x1000, true),
            range(3, 0x2000, 0x1000, true),
            range(3, 0x3000, 0x1000, true),
        ];
        // The merged range of device 3 starts at 0x1000 on its own: it fails as one.
        let mut r = Recorder {
            seen: Vec::new(),
            fail_at: None,
        };
        run(&mut r, &ops).unwrap();
        assert_eq!(r.seen, [ops[0], range(3, 0x1000, 0x3000, true)]);
        let mut r = Recorder {
            seen: Vec::new(),
            fail_at: Some(0x1000),
        };
        // Device 1's range fails first: nothing completed.
        assert!(matches!(run(&mut r, &ops), Err((0, _))));
        let ops = [ops[3], ops[1], ops[2]];
        let mut r = Recorder {
            seen: Vec::new(),
            fail_at: Some(0x1000),
        };
        // 0x3000 done; the merged 0x1000..0x3000 (entries 1 and 2) failed.
        assert!(matches!(run(&mut r, &ops), Err((1, _))));
        assert_eq!(r.seen, [ops[0]]);
    }
}
