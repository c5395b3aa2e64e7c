//! Invalidations carried out in batches, one wait per batch: how both
//! backends turn a run of checked operations into queued commands and
//! report how far they got.

use alloc::vec::Vec;

use super::{BackendError, UnitInvalidation};

/// What a backend queues for each operation, and how it submits a batch.
pub(crate) trait Batch {
    /// One queued command or descriptor.
    type Item;
    /// The most items submitted per wait.
    const PER_WAIT: usize;

    /// The items of `op` (work on the way, such as a shadow re-sync, done
    /// here; on an error, whatever it already changed made safe).
    fn items(&mut self, op: &UnitInvalidation) -> Result<Vec<Self::Item>, BackendError>;

    /// Submits `items` and waits for them (then frees what they made
    /// unreachable).
    fn submit(&mut self, items: &[Self::Item]) -> Result<(), BackendError>;
}

/// Carries out `ops` in order, batching their items; on an error, the
/// index of the first operation not known to have taken effect.
pub(crate) fn run<B: Batch>(
    b: &mut B,
    ops: &[UnitInvalidation],
) -> Result<(), (usize, BackendError)> {
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
            b.submit(&pending).map_err(|e| (done, e))?;
            pending.clear();
            done = i;
        }
        pending.extend(items);
    }
    b.submit(&pending).map_err(|e| (done, e))
}
