//! Single-leaf map and unmap done in place: a call that is exactly one page
//! or block where every table on the way exists walks once, writes one
//! descriptor and its table's count, and builds its [`Invalidation`] in one
//! piece; the general path (plan, pool, commit) is for the rest. A driver
//! mapping page by page takes the short one almost always.

use super::PageTable;
use crate::hw::DmaMemory;
use crate::smmuv3::pagetable::descriptor::{count_of, with_count};
use crate::smmuv3::pagetable::{Attributes, Decoded, Error, Invalidation, Stage};

impl<S: Stage> PageTable<S> {
    /// The level of the one leaf that maps `iova .. iova + len` to `phys`, if
    /// the range is exactly one page or one aligned block the granule allows,
    /// below the root level: the common single-leaf call, done in place.
    pub(super) fn single_leaf_level(&self, iova: u64, phys: u64, len: u64) -> Option<u8> {
        let level = (self.start_level + 1..=3).find(|&l| self.span(l) == len)?;
        (self.granule.leaf_level(level) && (iova | phys).is_multiple_of(len)).then_some(level)
    }

    /// A single-leaf map where every table down to `level` exists: one walk,
    /// one descriptor, the table's count. `None` when a table is missing or
    /// smaller pages are in the way: the general path decides.
    pub(super) fn map_leaf_in_place<M: DmaMemory + ?Sized>(
        &mut self,
        mem: &M,
        level: u8,
        iova: u64,
        phys: u64,
        attributes: Attributes,
    ) -> Option<Result<Invalidation, Error>> {
        let (table, (parent_at, raw)) = self.table_at(mem, level, iova)?;
        let at = self.entry_addr(table, level, iova);
        match self.decode(mem.read64(at), level) {
            Decoded::Invalid => {}
            Decoded::Leaf(_) => return Some(Err(Error::AlreadyMapped { iova })),
            // Smaller pages below: the general path names the first one.
            Decoded::Table(_) => return None,
        }
        mem.write64(at, S::leaf_descriptor(phys, level, attributes));
        mem.write64(parent_at, with_count(raw, count_of(raw) + 1));
        mem.publish();
        Some(Ok(Invalidation::none()))
    }

    /// A single-leaf unmap of a leaf of `level` whose table keeps other
    /// descriptors: one walk, the leaf cleared, the table's count. `None`
    /// when the descriptor is a table or its table would become empty (to be
    /// freed): the general path does those.
    pub(super) fn unmap_leaf_in_place<M: DmaMemory + ?Sized>(
        &mut self,
        mem: &M,
        level: u8,
        iova: u64,
    ) -> Option<Invalidation> {
        let (table, (parent_at, raw)) = self.table_at(mem, level, iova)?;
        let at = self.entry_addr(table, level, iova);
        match self.decode(mem.read64(at), level) {
            Decoded::Invalid => Some(Invalidation::none()),
            Decoded::Leaf(_) => {
                let left = count_of(raw).checked_sub(1).filter(|&n| n > 0)?;
                mem.write64(at, 0);
                mem.write64(parent_at, with_count(raw, left));
                mem.publish();
                Some(Invalidation::leaf_range(iova, self.span(level)))
            }
            Decoded::Table(_) => None,
        }
    }

    /// The level-`level` table holding `iova`'s descriptor (below the root)
    /// and the descriptor that points to it (its address and value), when
    /// tables lead all the way down.
    fn table_at<M: DmaMemory + ?Sized>(
        &self,
        mem: &M,
        level: u8,
        iova: u64,
    ) -> Option<(u64, (u64, u64))> {
        let mut table = self.root;
        let mut parent = None;
        for l in self.start_level..level {
            let at = self.entry_addr(table, l, iova);
            let raw = mem.read64(at);
            let Decoded::Table(child) = self.decode(raw, l) else {
                return None;
            };
            parent = Some((at, raw));
            table = child;
        }
        Some((table, parent?))
    }
}
