//! What a page-table change leaves for the caller: the stale input ranges, whether table
//! entries changed, and the tables to free once the invalidation has completed. Each IOMMU
//! turns the ranges into its own commands (VT-d: `psi_chunks`, SMMUv3: `tlbi_commands`).

use alloc::vec::Vec;
use core::slice;

use crate::hw::DmaMemory;

/// A range of input addresses (IOVA, or IPA at a stage 2), `start .. start + len`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
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

/// Coalesced ranges; one inline so that a single-range change does not allocate.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
enum Ranges {
    #[default]
    None,
    One(IovaRange),
    Many(Vec<IovaRange>),
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
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[must_use = "the TLB must be invalidated, then `finish` frees the unlinked tables"]
pub struct Invalidation {
    ranges: Ranges,
    non_leaf: bool,
    /// (address, 4 KiB frames) of each unlinked table.
    tables: Vec<(u64, usize)>,
}

impl Invalidation {
    /// Nothing to invalidate.
    #[inline]
    pub const fn none() -> Self {
        Self {
            ranges: Ranges::None,
            non_leaf: false,
            tables: Vec::new(),
        }
    }

    /// True if nothing changed.
    pub fn is_empty(&self) -> bool {
        matches!(self.ranges, Ranges::None) && self.tables.is_empty()
    }

    /// The changed ranges, ascending within one operation, adjacent ones coalesced.
    pub fn ranges(&self) -> &[IovaRange] {
        match &self.ranges {
            Ranges::None => &[],
            Ranges::One(r) => slice::from_ref(r),
            Ranges::Many(v) => v,
        }
    }

    /// Whether table (non-leaf) entries changed: a table was linked or unlinked, or a block
    /// split. Then the invalidation must reach the walk caches too.
    pub const fn non_leaf(&self) -> bool {
        self.non_leaf
    }

    /// Whether only leaf entries changed (the SMMUv3 TLBI `Leaf` hint, §4.4.1).
    pub const fn leaf_only(&self) -> bool {
        !self.non_leaf
    }

    /// The invalidation hint IH of a VT-d IOTLB invalidation (§6.5.2.3): 1 when only leaf
    /// entries changed, so paging-structure caches may be kept.
    pub const fn ih(&self) -> bool {
        !self.non_leaf
    }

    /// The addresses of the tables unlinked by the change, freed by
    /// [`finish`](Self::finish).
    pub fn tables_to_free(&self) -> impl ExactSizeIterator<Item = u64> + '_ {
        self.tables.iter().map(|&(addr, _)| addr)
    }

    /// Adds `other`'s work to this one.
    pub fn merge(&mut self, mut other: Invalidation) {
        for &r in other.ranges() {
            self.add_range(r.start, r.len);
        }
        self.non_leaf |= other.non_leaf;
        self.tables.append(&mut other.tables);
    }

    /// The same invalidation with `bits` set in every range's start: for a table that
    /// translates the upper half of an address space (the SMMU's TTB1), whose TLB entries
    /// carry the upper-half addresses.
    pub fn with_start_bits(mut self, bits: u64) -> Self {
        let lift = |r: &mut IovaRange| r.start |= bits;
        match &mut self.ranges {
            Ranges::None => {}
            Ranges::One(r) => lift(r),
            Ranges::Many(v) => v.iter_mut().for_each(lift),
        }
        self
    }

    /// Frees the unlinked tables. Call only once the invalidation of
    /// [`ranges`](Self::ranges) has completed (see the type's documentation).
    pub fn finish<M: DmaMemory + ?Sized>(self, mem: &M) {
        for &(addr, frames) in &self.tables {
            mem.free_pages(addr, frames);
        }
    }

    /// One changed leaf range, nothing else: what a single-leaf map or unmap leaves (built
    /// in one piece, not by [`add_range`](Self::add_range)).
    #[inline]
    pub(super) const fn leaf_range(start: u64, len: u64) -> Self {
        Self {
            ranges: Ranges::One(IovaRange { start, len }),
            non_leaf: false,
            tables: Vec::new(),
        }
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
        match &mut self.ranges {
            Ranges::None => self.ranges = Ranges::One(new),
            Ranges::One(last) => {
                if !fold(last) {
                    self.ranges = Ranges::Many(alloc::vec![*last, new]);
                }
            }
            Ranges::Many(v) => {
                if !v.last_mut().is_some_and(fold) {
                    v.push(new);
                }
            }
        }
    }

    pub(super) fn set_non_leaf(&mut self) {
        self.non_leaf = true;
    }

    pub(super) fn push_table(&mut self, table: u64, frames: usize) {
        self.tables.push((table, frames));
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
}
