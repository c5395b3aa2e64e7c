//! Single-leaf map and unmap done in place: a call that is exactly one leaf
//! where every table on the way exists walks once, writes one entry and the
//! leaf table's count, and builds its [`Invalidation`] in one piece; the
//! general path (plan, pool, commit) is for the rest. A driver mapping page
//! by page takes the short one almost always.

use super::{IoPageTable, count_of, entry_addr, span, with_count};
use crate::hw::DmaMemory;
use crate::vtd::pagetable::{Decoded, Error, Format, Invalidation, PAGE_SIZE, Permissions};

impl<F: Format> IoPageTable<F> {
    /// The level of the one leaf that maps `iova .. iova + len` to `phys`, if
    /// the range is exactly one leaf the format allows (4 KiB, or an aligned
    /// 2 MiB / 1 GiB page): the common single-leaf call, done in place.
    pub(super) fn single_leaf_level(&self, iova: u64, phys: u64, len: u64) -> Option<u8> {
        let level = match len {
            PAGE_SIZE => 1,
            l if l == span(2) => 2,
            l if l == span(3) => 3,
            _ => return None,
        };
        (level < self.levels
            && self.format.leaf_level_supported(level)
            && (iova | phys).is_multiple_of(len))
        .then_some(level)
    }

    /// A single-leaf map where every table down to `level` exists: one walk,
    /// one leaf, the table's count. `None` when a table is missing or a larger
    /// leaf is in the way: the general path decides.
    pub(super) fn map_leaf_in_place<M: DmaMemory + ?Sized>(
        &mut self,
        mem: &M,
        level: u8,
        iova: u64,
        phys: u64,
        permissions: Permissions,
    ) -> Option<Result<Invalidation, Error>> {
        let (table, (parent_at, raw)) = self.table_at(mem, level, iova)?;
        let at = entry_addr(table, level, iova);
        match self.format.decode(mem.read64(at), level) {
            Decoded::NotPresent => {}
            Decoded::Leaf { .. } => return Some(Err(Error::AlreadyMapped { iova })),
            // Smaller pages below: the general path names the first one.
            Decoded::Table(_) => return None,
        }
        mem.write64(at, self.format.leaf_entry(phys, level, permissions));
        mem.write64(parent_at, with_count(raw, count_of(raw) + 1));
        mem.publish();
        Some(Ok(Invalidation::leaf_range(iova, span(level))))
    }

    /// A single-leaf unmap of a leaf of `level` whose table keeps other
    /// entries: one walk, the leaf cleared, the table's count. `None` when
    /// the entry is something else or the table would become empty (to be
    /// freed): the general path does those.
    pub(super) fn unmap_leaf_in_place<M: DmaMemory + ?Sized>(
        &mut self,
        mem: &M,
        level: u8,
        iova: u64,
    ) -> Option<Invalidation> {
        let (table, (parent_at, raw)) = self.table_at(mem, level, iova)?;
        let at = entry_addr(table, level, iova);
        match self.format.decode(mem.read64(at), level) {
            Decoded::NotPresent => Some(Invalidation::none()),
            Decoded::Leaf { .. } => {
                let left = count_of(raw).checked_sub(1).filter(|&n| n > 0)?;
                mem.write64(at, 0);
                mem.write64(parent_at, with_count(raw, left));
                mem.publish();
                Some(Invalidation::leaf_range(iova, span(level)))
            }
            Decoded::Table(_) => None,
        }
    }

    /// The level-`level` table holding `iova`'s entry (below the root) and
    /// the entry that points to it (its address and value), when tables lead
    /// all the way down.
    fn table_at<M: DmaMemory + ?Sized>(
        &self,
        mem: &M,
        level: u8,
        iova: u64,
    ) -> Option<(u64, (u64, u64))> {
        let mut table = self.root;
        let mut parent = None;
        for l in (level + 1..=self.levels).rev() {
            let at = entry_addr(table, l, iova);
            let raw = mem.read64(at);
            let Decoded::Table(child) = self.format.decode(raw, l) else {
                return None;
            };
            parent = Some((at, raw));
            table = child;
        }
        Some((table, parent?))
    }
}
