//! Single-leaf map and unmap done in place: a call that is exactly one page or block
//! where every table on the way exists walks once, writes one entry and its table's count,
//! and its caller builds the `Invalidation` in one piece; the general path (plan, pool,
//! commit) is for the rest. A driver mapping page by page takes the short one almost always.
//!
//! Such a driver also reaches the same table again and again (512 pages to a table), so a
//! walk remembers where it ended ([`LastWalk`]), as a paging-structure cache does: the next
//! call for a leaf of that table reads the entry pointing to it, checks that it still does,
//! and goes straight to its own entry. That path is small and inlined into the caller; a
//! call it does not fit goes out of line to the checks and the walk.

use super::table::aligned;
use super::{Decoded, Error, Format, Invalidation, Table};
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

impl MapInPlace {
    /// The result of the map of `iova .. iova + len` this was, or `None` when the general
    /// path decides.
    #[inline]
    pub(super) fn result<F: Format>(
        self,
        iova: u64,
        len: u64,
    ) -> Option<Result<Invalidation, Error>> {
        match self {
            Self::Written => Some(Ok(Table::<F>::mapped(iova, len))),
            Self::AlreadyMapped => Some(Err(Error::AlreadyMapped { iova })),
            Self::Declined => None,
        }
    }
}

impl UnmapInPlace {
    /// The result of the unmap of `iova .. iova + len` this was, or `None` when the general
    /// path decides.
    #[inline]
    pub(super) fn result(self, iova: u64, len: u64) -> Option<Result<Invalidation, Error>> {
        match self {
            Self::Cleared => Some(Ok(Invalidation::leaf_range(iova, len))),
            Self::NotMapped => Some(Ok(Invalidation::none())),
            Self::Declined => None,
        }
    }
}

/// Where a single-leaf walk ended: the table at `height` holding the leaves of `size`
/// bytes for the input addresses `a` with `a & mask == base` (what one entry above spans,
/// all inside the input range), and the address and value (its count aside) of the entry
/// above that points to it. Every use checks that the entry above still holds that value,
/// but that alone does not make it safe: freed tables come back as other tables, and the
/// entry at that address may then point to the same frame for another region. So every
/// path that unlinks tables must forget it: the general unmap, the only one (`destroy`
/// consumes the table).
#[derive(Clone, Copy, Debug)]
pub(super) struct LastWalk {
    base: u64,
    mask: u64,
    size: u64,
    table: u64,
    parent_at: u64,
    above: u64,
    height: u8,
}

/// The table holding a leaf's entry and the entry pointing to that table (address, value).
type Found = (u64, (u64, u64));

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

    /// A single-leaf map of `iova .. iova + len` in the table the last walk ended in, with
    /// every check the general path makes; `Declined` when the call is not for a leaf of
    /// that table (or smaller leaves are in the way).
    #[inline(always)]
    pub(super) fn map_remembered<M: DmaMemory + ?Sized>(
        &mut self,
        mem: &M,
        iova: u64,
        phys: u64,
        len: u64,
        attributes: F::Attributes,
    ) -> MapInPlace {
        let Some((found, height)) = self.remembered(mem, iova, len) else {
            return MapInPlace::Declined;
        };
        // `phys` is aligned to the leaf: its last byte is `phys | (len - 1)`.
        if !aligned(phys, len)
            || (phys | (len - 1)) >> self.geometry.output_bits != 0
            || self.format.check(attributes).is_err()
        {
            return MapInPlace::Declined;
        }
        self.map_leaf_at(mem, found, height, iova, phys, attributes)
    }

    /// A single-leaf unmap of `iova .. iova + len` in the table the last walk ended in;
    /// `Declined` as for [`unmap_leaf_in_place`](Self::unmap_leaf_in_place), or when the
    /// call is not for a leaf of that table.
    #[inline(always)]
    pub(super) fn unmap_remembered<M: DmaMemory + ?Sized>(
        &mut self,
        mem: &M,
        iova: u64,
        len: u64,
    ) -> UnmapInPlace {
        match self.remembered(mem, iova, len) {
            Some((found, height)) => self.unmap_leaf_at(mem, found, height, iova),
            None => UnmapInPlace::Declined,
        }
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
        match self.table_at(mem, height, iova) {
            Some(found) => self.map_leaf_at(mem, found, height, iova, phys, attributes),
            None => MapInPlace::Declined,
        }
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
        match self.table_at(mem, height, iova) {
            Some(found) => self.unmap_leaf_at(mem, found, height, iova),
            None => UnmapInPlace::Declined,
        }
    }

    /// Writes the leaf for `iova` at `height` into `table`, found with the entry pointing
    /// to it, and counts it there.
    #[inline(always)]
    fn map_leaf_at<M: DmaMemory + ?Sized>(
        &self,
        mem: &M,
        (table, (parent_at, raw)): Found,
        height: u8,
        iova: u64,
        phys: u64,
        attributes: F::Attributes,
    ) -> MapInPlace {
        let at = self.entry_addr(table, height, iova);
        match self.format.decode(mem.read64(at), height, &self.geometry) {
            Decoded::Invalid => {}
            Decoded::Leaf(_) => return MapInPlace::AlreadyMapped,
            // Smaller leaves below: the general path names the first one.
            Decoded::Table(_) => return MapInPlace::Declined,
        }
        mem.write64(at, self.format.leaf_entry(phys, height, attributes));
        // An accessed bit the IOMMU sets above between the read and this write is lost;
        // vsva reads none in table entries.
        mem.write64(parent_at, F::add_count(raw, 1));
        mem.publish();
        MapInPlace::Written
    }

    /// Clears the leaf for `iova` at `height` in `table`, found with the entry pointing to
    /// it, unless that leaves the table empty.
    #[inline(always)]
    fn unmap_leaf_at<M: DmaMemory + ?Sized>(
        &self,
        mem: &M,
        (table, (parent_at, raw)): Found,
        height: u8,
        iova: u64,
    ) -> UnmapInPlace {
        let at = self.entry_addr(table, height, iova);
        match self.format.decode(mem.read64(at), height, &self.geometry) {
            Decoded::Invalid => UnmapInPlace::NotMapped,
            // The last leaf goes with its table: the general path unlinks it.
            Decoded::Leaf(_) if F::count_of(raw) > 1 => {
                mem.write64(at, 0);
                mem.write64(parent_at, F::add_count(raw, -1));
                mem.publish();
                UnmapInPlace::Cleared
            }
            Decoded::Leaf(_) => UnmapInPlace::Declined,
            Decoded::Table(_) => UnmapInPlace::Declined,
        }
    }

    /// The table the last walk ended in, its height and the entry pointing to it, if
    /// `iova .. iova + len` is exactly one leaf of that table and the entry still points
    /// there.
    #[inline(always)]
    fn remembered<M: DmaMemory + ?Sized>(
        &self,
        mem: &M,
        iova: u64,
        len: u64,
    ) -> Option<(Found, u8)> {
        let w = self.last_walk?;
        // Aligned to its size inside a part of the input range: the leaf lies inside too.
        if len != w.size || !aligned(iova, len) || iova & w.mask != w.base {
            return None;
        }
        // The entry above as the walk found it, but for the count: still a table entry
        // pointing to `table` (anything else, even a bit the hardware set, sends the call
        // the long way, which walks again).
        let raw = mem.read64(w.parent_at);
        (F::with_count(raw, 0) == w.above).then_some(((w.table, (w.parent_at, raw)), w.height))
    }

    /// The table at `height` holding `iova`'s entry (below the root) and the entry that
    /// points to it (its address and value), when tables lead all the way down; remembered
    /// for the next call.
    fn table_at<M: DmaMemory + ?Sized>(&mut self, mem: &M, height: u8, iova: u64) -> Option<Found> {
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
        let (parent_at, raw) = parent?;
        let mask = !(self.span(height + 1) - 1);
        // Remembered only when every address it covers is inside the input range, which
        // spares the remembered path that check.
        self.last_walk = ((iova | !mask) >> self.geometry.input_bits() == 0).then_some(LastWalk {
            base: iova & mask,
            mask,
            size: self.span(height),
            table,
            parent_at,
            above: F::with_count(raw, 0),
            height,
        });
        Some((table, (parent_at, raw)))
    }
}
