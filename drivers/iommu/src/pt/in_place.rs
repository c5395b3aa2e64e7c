//! Single-leaf map and unmap done in place: a call that is exactly one page or block
//! where every table on the way exists walks once, writes one entry and its table's count,
//! and its caller builds the `Invalidation` in one piece; the general path (plan, pool,
//! commit) is for the rest. A driver mapping page by page takes the short one almost always.

use super::table::aligned;
use super::{Decoded, Format, Table};
use crate::hw::DmaMemory;

/// What a single-leaf map in place did: a small value, so the caller builds
/// its `Invalidation` straight into its result.
pub(super) enum MapInPlace {
    /// The leaf was written.
    Written,
    /// A leaf is there already.
    AlreadyMapped,
    /// Not a case for the in-place path; the general path decides.
    Declined,
}

/// What a single-leaf unmap in place did.
pub(super) enum UnmapInPlace {
    /// The leaf was cleared.
    Cleared,
    /// Nothing was there.
    NotMapped,
    /// Not a case for the in-place path; the general path decides.
    Declined,
}

impl<F: Format> Table<F> {
    /// The height of the one leaf that maps `iova .. iova + len` to `phys`, if the range is
    /// exactly one leaf the format allows below the root, aligned: the common single-leaf
    /// call, done in place.
    #[inline]
    pub(super) fn single_leaf_height(&self, iova: u64, phys: u64, len: u64) -> Option<u8> {
        let g = &self.geometry;
        // Pages first: the call a driver mapping page by page makes.
        let height = if len == self.span(0) {
            0
        } else {
            (1..g.root_height()).find(|&h| self.span(h) == len)?
        };
        (g.leaf_allowed(height) && aligned(iova | phys, len)).then_some(height)
    }

    /// A single-leaf map where every table down to `height` exists: one walk, one leaf,
    /// the table's count. `Declined` when a table is missing or smaller leaves are in the
    /// way: the general path decides.
    pub(super) fn map_leaf_in_place<M: DmaMemory + ?Sized>(
        &mut self,
        mem: &M,
        height: u8,
        iova: u64,
        phys: u64,
        attributes: F::Attributes,
    ) -> MapInPlace {
        let Some((table, (parent_at, raw))) = self.table_at(mem, height, iova) else {
            return MapInPlace::Declined;
        };
        let at = self.entry_addr(table, height, iova);
        match self.format.decode(mem.read64(at), height, &self.geometry) {
            Decoded::Invalid => {}
            Decoded::Leaf(_) => return MapInPlace::AlreadyMapped,
            // Smaller leaves below: the general path names the first one.
            Decoded::Table(_) => return MapInPlace::Declined,
        }
        mem.write64(at, self.format.leaf_entry(phys, height, attributes));
        mem.write64(parent_at, F::with_count(raw, F::count_of(raw) + 1));
        mem.publish();
        MapInPlace::Written
    }

    /// A single-leaf unmap of a leaf at `height` whose table keeps other entries: one walk,
    /// the leaf cleared, the table's count. `NotMapped` when nothing was there; `Declined` when
    /// the entry is a table or its table would become empty (to be freed): the general path
    /// does those.
    pub(super) fn unmap_leaf_in_place<M: DmaMemory + ?Sized>(
        &mut self,
        mem: &M,
        height: u8,
        iova: u64,
    ) -> UnmapInPlace {
        let Some((table, (parent_at, raw))) = self.table_at(mem, height, iova) else {
            return UnmapInPlace::Declined;
        };
        let at = self.entry_addr(table, height, iova);
        match self.format.decode(mem.read64(at), height, &self.geometry) {
            Decoded::Invalid => UnmapInPlace::NotMapped,
            Decoded::Leaf(_) => match F::count_of(raw).checked_sub(1).filter(|&n| n > 0) {
                Some(left) => {
                    mem.write64(at, 0);
                    mem.write64(parent_at, F::with_count(raw, left));
                    mem.publish();
                    UnmapInPlace::Cleared
                }
                None => UnmapInPlace::Declined,
            },
            Decoded::Table(_) => UnmapInPlace::Declined,
        }
    }

    /// The table at `height` holding `iova`'s entry (below the root) and the entry that
    /// points to it (its address and value), when tables lead all the way down.
    #[inline]
    fn table_at<M: DmaMemory + ?Sized>(
        &self,
        mem: &M,
        height: u8,
        iova: u64,
    ) -> Option<(u64, (u64, u64))> {
        let mut table = self.root;
        let mut parent = None;
        for h in (height + 1..=self.geometry.root_height()).rev() {
            let at = self.entry_addr(table, h, iova);
            let raw = mem.read64(at);
            let Decoded::Table(child) = self.format.decode(raw, h, &self.geometry) else {
                return None;
            };
            parent = Some((at, raw));
            table = child;
        }
        Some((table, parent?))
    }
}
