//! What a page-table change leaves for the caller: the stale input ranges, whether table
//! entries changed, and the tables to free once the invalidation has completed. Each IOMMU
//! turns the ranges into its own commands (VT-d: `psi_chunks`, SMMUv3: `tlbi_commands`).

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::slice;

use crate::hw::DmaMemory;

/// A range of input addresses (IOVA, or IPA at a stage 2), `start .. start + len`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct IovaRange {
    /// The first address.
    pub start: u64,
    /// The length in bytes.
    pub len: u64,
}

impl IovaRange {
    /// One past the last address.
    pub const fn end(self) -> u64 {
        self.start.wrapping_add(self.len)
    }
}

/// What a change did besides leaves: nothing, or table entries too. A whole word, so that
/// an [`Invalidation`] is stored and copied in whole words: a byte beside them makes the
/// caller's wider loads of a just-returned value wait for the stores to reach the cache.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(u64)]
enum Entries {
    #[default]
    Leaves = 0,
    Tables = 1,
}

/// What only larger changes have: every range once there are two or more, and the
/// tables to free.
#[derive(Debug, Default)]
struct More {
    ranges: Vec<IovaRange>,
    /// (address, 4 KiB frames) of each unlinked table.
    tables: Vec<(u64, usize)>,
}

/// What the caller must do after a page-table change:
///
/// 1. invalidate the TLB / IOTLB entries of [`ranges`](Self::ranges) (VT-d: IOTLB or
///    PASID-based IOTLB invalidation with IH = [`ih`](Self::ih), §6.5.2; SMMUv3: TLBI_NH_VA
///    or TLBI_S2_IPA with `Leaf` = [`leaf_only`](Self::leaf_only), §4.4), then wait for it
///    to complete (invalidation wait descriptor §6.5.2.8; CMD_SYNC §4.7.3);
/// 2. only then call [`finish`](Self::finish), which frees the tables the change unlinked
///    ([`tables_to_free`](Self::tables_to_free)). The hardware may walk them through its
///    paging-structure / walk caches until step 1 is done: freeing them earlier lets it
///    read reused memory as page tables.
///
/// Values can be [`merge`](Self::merge)d to batch several operations into one round.
/// Dropping one without [`finish`](Self::finish) leaks its tables (safe).
///
/// Most changes are one range and no table (a page mapped or unmapped): that is four
/// words and no allocation; the rest lives behind one pointer. Not `Clone`: two copies
/// would free the same tables twice.
#[derive(Debug, Default)]
#[must_use = "the TLB must be invalidated, then `finish` frees the unlinked tables"]
pub struct Invalidation {
    /// The only range (`len` 0: none) while `more` holds no ranges.
    first: IovaRange,
    more: Option<Box<More>>,
    entries: Entries,
}

impl PartialEq for Invalidation {
    fn eq(&self, other: &Self) -> bool {
        self.ranges() == other.ranges()
            && self.entries == other.entries
            && self.tables() == other.tables()
    }
}

impl Eq for Invalidation {}

impl Invalidation {
    /// Nothing to invalidate.
    #[inline]
    pub const fn none() -> Self {
        Self {
            first: IovaRange { start: 0, len: 0 },
            more: None,
            entries: Entries::Leaves,
        }
    }

    /// True if nothing changed.
    pub fn is_empty(&self) -> bool {
        self.ranges().is_empty() && self.tables().is_empty()
    }

    /// The changed ranges, ascending within one operation, adjacent ones coalesced.
    pub fn ranges(&self) -> &[IovaRange] {
        match &self.more {
            Some(more) if !more.ranges.is_empty() => &more.ranges,
            _ if self.first.len == 0 => &[],
            _ => slice::from_ref(&self.first),
        }
    }

    /// Whether table (non-leaf) entries changed: a table was linked or unlinked, or a block
    /// split. Then the invalidation must reach the walk caches too.
    pub const fn non_leaf(&self) -> bool {
        matches!(self.entries, Entries::Tables)
    }

    /// Whether only leaf entries changed (the SMMUv3 TLBI `Leaf` hint, §4.4.1).
    pub const fn leaf_only(&self) -> bool {
        !self.non_leaf()
    }

    /// The invalidation hint IH of a VT-d IOTLB invalidation (§6.5.2.3): 1 when only leaf
    /// entries changed, so paging-structure caches may be kept.
    pub const fn ih(&self) -> bool {
        !self.non_leaf()
    }

    /// The addresses of the tables unlinked by the change, freed by
    /// [`finish`](Self::finish).
    pub fn tables_to_free(&self) -> impl ExactSizeIterator<Item = u64> + '_ {
        self.tables().iter().map(|&(addr, _)| addr)
    }

    fn tables(&self) -> &[(u64, usize)] {
        self.more.as_ref().map_or(&[], |more| &more.tables)
    }

    /// Adds `other`'s work to this one.
    pub fn merge(&mut self, other: Invalidation) {
        for &r in other.ranges() {
            self.add_range(r.start, r.len);
        }
        if other.non_leaf() {
            self.set_non_leaf();
        }
        if let Some(theirs) = other.more
            && !theirs.tables.is_empty()
        {
            self.more().tables.extend_from_slice(&theirs.tables);
        }
    }

    /// The same invalidation with `bits` set in every range's start: for a table that
    /// translates the upper half of an address space (the SMMU's TTB1), whose TLB entries
    /// carry the upper-half addresses.
    pub fn with_start_bits(mut self, bits: u64) -> Self {
        let lift = |r: &mut IovaRange| r.start |= bits;
        match &mut self.more {
            Some(more) if !more.ranges.is_empty() => more.ranges.iter_mut().for_each(lift),
            _ if self.first.len == 0 => {}
            _ => lift(&mut self.first),
        }
        self
    }

    /// Frees the unlinked tables. Call only once the invalidation of
    /// [`ranges`](Self::ranges) has completed (see the type's documentation).
    #[inline]
    pub fn finish<M: DmaMemory + ?Sized>(self, mem: &M) {
        if let Some(more) = self.more {
            for &(addr, frames) in &more.tables {
                mem.free_pages(addr, frames);
            }
        }
    }

    /// One changed leaf range, nothing else: what a single-leaf map or unmap leaves (built
    /// in one piece, not by [`add_range`](Self::add_range)).
    #[inline]
    pub(super) const fn leaf_range(start: u64, len: u64) -> Self {
        Self {
            first: IovaRange { start, len },
            more: None,
            entries: Entries::Leaves,
        }
    }

    /// The larger part, made on first use.
    fn more(&mut self) -> &mut More {
        self.more.get_or_insert_with(Box::default)
    }

    /// Records `start .. start + len` as changed, folded into the last range
    /// when it starts inside it or where it ends (an unmap and the map that
    /// replaces the same pages name them once).
    pub(super) fn add_range(&mut self, start: u64, len: u64) {
        if len == 0 {
            return;
        }
        let new = IovaRange { start, len };
        let fold = |last: &mut IovaRange| {
            let joins = last.start <= start && start <= last.end();
            if joins {
                last.len = last.len.max(new.end().wrapping_sub(last.start));
            }
            joins
        };
        if let Some(more) = &mut self.more
            && let Some(last) = more.ranges.last_mut()
        {
            if !fold(last) {
                more.ranges.push(new);
            }
        } else if self.first.len == 0 {
            self.first = new;
        } else if !fold(&mut self.first) {
            let first = core::mem::take(&mut self.first);
            self.more().ranges.extend([first, new]);
        }
    }

    pub(super) fn set_non_leaf(&mut self) {
        self.entries = Entries::Tables;
    }

    pub(super) fn push_table(&mut self, table: u64, frames: usize) {
        self.more().tables.push((table, frames));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_fold_when_they_join_or_overlap_the_last() {
        let r = |start, len| IovaRange { start, len };
        let mut inv = Invalidation::none();
        inv.add_range(0x1000, 0x1000);
        inv.add_range(0x1000, 0x1000); // the same pages again
        inv.add_range(0x2000, 0x1000); // adjacent
        inv.add_range(0x1800, 0x100); // inside
        assert_eq!(inv.ranges(), [r(0x1000, 0x2000)]);
        inv.add_range(0x5000, 0x1000); // a gap
        inv.add_range(0x4000, 0x1000); // before the last: kept apart
        inv.add_range(0x4800, 0x2000); // overlaps the last's end
        assert_eq!(
            inv.ranges(),
            [r(0x1000, 0x2000), r(0x5000, 0x1000), r(0x4000, 0x2800)]
        );
    }

    #[test]
    fn merging_keeps_every_range_table_and_flag() {
        let r = |start, len| IovaRange { start, len };
        let mut inv = Invalidation::leaf_range(0x1000, 0x1000);
        assert_eq!(inv.ranges(), [r(0x1000, 0x1000)]);
        assert!(inv.leaf_only() && inv.tables_to_free().len() == 0);
        let mut freed = Invalidation::none();
        freed.add_range(0x9000, 0x1000);
        freed.push_table(0x7_0000, 1);
        freed.set_non_leaf();
        inv.merge(freed);
        inv.merge(Invalidation::leaf_range(0x2000, 0x1000));
        assert_eq!(
            inv.ranges(),
            [
                r(0x1000, 0x1000),
                r(0x9000, 0x2000 - 0x1000),
                r(0x2000, 0x1000)
            ]
        );
        assert!(inv.non_leaf() && !inv.ih());
        assert_eq!(inv.tables_to_free().collect::<Vec<_>>(), [0x7_0000]);
        let lifted = inv.with_start_bits(1 << 48);
        assert_eq!(lifted.ranges()[1], r((1 << 48) | 0x9000, 0x1000));
        assert_eq!(lifted.tables_to_free().collect::<Vec<_>>(), [0x7_0000]);
        // The same work compares equal however it was gathered.
        let mut one = Invalidation::none();
        one.add_range(0x1000, 0x1000);
        assert_eq!(one, Invalidation::leaf_range(0x1000, 0x1000));
        assert!(Invalidation::none().is_empty() && !one.is_empty());
    }
}
