//! Shadows of guest first-stage page tables, for VT-d units that cannot nest
//! (ECAP.NEST = 0, as on QEMU).
//!
//! A guest binds an x86 4- or 5-level page table (VT-d §3.6 first-stage
//! translation, §9.7 first-stage paging entries) whose pointers are
//! guest-physical. The device cannot walk it through the partition's stage 2,
//! so vsva walks it itself and builds a host-owned [`IoPageTable`] that maps
//! every guest-virtual page straight to the host-physical page behind the
//! guest-physical address the guest's leaf names ([`GuestRam`] composes the
//! two). The device then walks the shadow.
//!
//! # Guest rules
//! The guest must invalidate after every change to its table (caching-mode
//! semantics, §6.1); [`Shadow::resync`] then re-walks exactly the invalidated
//! range, [`Shadow::rebuild`] everything ("invalidate all"). Between a change
//! and its invalidation the device may use the old or the new translation, as
//! a caching IOMMU may. Accessed/dirty bits the device sets land in the shadow,
//! not in the guest's table; memory types (PWT, PCD, PAT) are not shadowed
//! (RAM is write-back).
//!
//! # The walk
//! - Entries: P (bit 0), R/W (1), U/S (2), PS (7) at the PDPE (1 GiB) and PDE
//!   (2 MiB) levels only, XD (63); addresses in bits 51:12 (tables, PTEs),
//!   51:21 for 2 MiB leaves (bit 12 is PAT, bits 20:13 reserved) and 51:30 for
//!   1 GiB leaves (bits 29:13 reserved). PS in a PML5E or PML4E is reserved.
//!   An entry with a reserved bit set is treated as not present.
//! - Device requests without the privileged flag are user requests (§3.6,
//!   access rights): a translation exists only if U/S = 1 at every level,
//!   allows writes only if R/W = 1 at every level, and execution unless
//!   XD = 1 at some level. Supervisor-only mappings are not shadowed.
//! - Only the partition's RAM is reachable: a table pointer outside it drops
//!   the subtree, a leaf outside it is dropped, and only the in-RAM part of a
//!   leaf straddling its edge is mapped ([`GuestRam::clip`]).
//! - Of each guest table, the entries the walked range reaches are read once
//!   per visit, through [`GuestMemory`], and decoded from that copy: the
//!   guest changing it meanwhile cannot make vsva see two values of one entry. Depth is bounded by the level count;
//!   [`WalkLimit`] bounds the entries one operation examines, so tables that
//!   point at themselves or at an ancestor cost at most that much.
//! - Guest-virtual addresses are taken in the table's index form, bits 47:0
//!   (56:0 for 5 levels): a canonical upper-half address such as
//!   `0xffff_8000_0000_0000` is shadowed at `0x8000_0000_0000`, the slot the
//!   hardware's walk of the canonical address reaches, as the shadow has the
//!   guest's level count.
//! - Contiguous leaves with contiguous host pages and equal permissions are
//!   mapped by one [`IoPageTable::map`], which picks 2 MiB / 1 GiB pages where
//!   alignment and the format allow.
//!
//! # Budget and freeing
//! A partition's shadows may hold at most [`ShadowBudget`] table pages. Pages
//! are charged when the engine allocates them and credited only by
//! [`ShadowInvalidation::finish`], after the IOTLB invalidation completed, when
//! they are really free.

#[cfg(test)]
mod tests;
mod walk;

use core::fmt;

use vsva_iommu::hw::DmaMemory;
use vsva_iommu::vtd::pagetable::{Error, Format, Invalidation, IoPageTable, PAGE_SIZE};

use crate::guest::{GuestMemory, GuestRam};
use walk::{Metered, Walk};

/// A guest's first-stage table as it binds it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GuestTable {
    /// Guest-physical address of the PML4 (4 levels) or PML5 (5 levels), 4 KiB
    /// aligned.
    pub root: u64,
    /// 4 (48-bit input addresses) or 5 (57-bit).
    pub levels: u8,
}

impl GuestTable {
    /// The guest-virtual address bits the table translates: 48 or 57 (for
    /// levels 4 and 5; 12 + 9 per level, saturating, otherwise).
    pub const fn input_bits(self) -> u8 {
        self.levels.saturating_mul(9).saturating_add(12)
    }
}

/// The table pages a partition's shadows may still take.
#[derive(Debug, PartialEq, Eq)]
pub struct ShadowBudget {
    pages_left: usize,
}

impl ShadowBudget {
    /// A budget of `pages` table pages.
    pub const fn new(pages: usize) -> Self {
        Self { pages_left: pages }
    }

    /// The pages still available.
    pub const fn pages_left(&self) -> usize {
        self.pages_left
    }
}

/// The guest entries walks may still examine: each operation takes what it
/// examined off, so one limit bounds a whole hypercall, however many
/// operations it makes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WalkLimit(pub usize);

/// Why a shadow operation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShadowError {
    /// The partition's table-page budget is used up.
    Budget,
    /// The walk examined more guest entries than its [`WalkLimit`].
    WalkLimit,
    /// A table page (or the walk's buffer) could not be allocated.
    OutOfMemory,
    /// The guest table is malformed: levels not 4 or 5, or its root not 4 KiB
    /// aligned.
    GuestTable,
    /// The shadow table's shape does not fit the guest's: it must have the
    /// guest's level count and cover `needed` bits (48 or 57).
    Width {
        /// The guest's input width in bits.
        needed: u8,
        /// The shadow table's address width in bits.
        table: u8,
        /// The shadow table's level count.
        levels: u8,
    },
    /// The page-table engine refused an operation (bad range, or a table
    /// handed to [`Shadow::build`] that was not empty).
    Table(Error),
}

impl fmt::Display for ShadowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Budget => f.write_str("shadow table-page budget used up"),
            Self::WalkLimit => f.write_str("guest table walk exceeded its entry limit"),
            Self::OutOfMemory => f.write_str("out of memory for the shadow"),
            Self::GuestTable => f.write_str("guest table root unaligned or levels not 4/5"),
            Self::Width {
                needed,
                table,
                levels,
            } => write!(
                f,
                "shadow table ({levels} levels, {table} bits) cannot hold a {needed}-bit guest table"
            ),
            Self::Table(e) => write!(f, "shadow table: {e}"),
        }
    }
}

/// An [`Invalidation`] of a shadow, which credits the budget when it frees.
///
/// Apply [`invalidation`](Self::invalidation) (PASID-based IOTLB for its
/// ranges), wait for completion, then [`finish`](Self::finish). Dropping it
/// leaks its pages and their budget (safe).
#[derive(Debug, Default, PartialEq, Eq)]
#[must_use = "the IOTLB must be invalidated, then `finish` frees the unlinked tables"]
pub struct ShadowInvalidation {
    inv: Invalidation,
}

impl ShadowInvalidation {
    /// What to invalidate. Ranges are in the shadow's IOVA form: bits at and
    /// above [`Shadow::input_bits`] clear (sign-extend them for a canonical
    /// upper-half address).
    pub fn invalidation(&self) -> &Invalidation {
        &self.inv
    }

    /// Adds `other`'s work to this one.
    pub fn merge(&mut self, other: Self) {
        self.inv.merge(other.inv);
    }

    /// Frees the unlinked table pages and credits them to `budget` (the
    /// budget the shadow was charged to). Call only once the invalidation of
    /// [`invalidation`](Self::invalidation) has completed.
    pub fn finish<M: DmaMemory + ?Sized>(self, mem: &M, budget: &mut ShadowBudget) {
        let pages = self.inv.tables_to_free().len();
        self.inv.finish(mem);
        budget.pages_left += pages;
    }
}

/// A host-owned shadow of one guest first-stage table; see the
/// [module documentation](self).
#[derive(Debug)]
pub struct Shadow<F: Format> {
    table: IoPageTable<F>,
    guest: GuestTable,
    ram: GuestRam,
}

impl<F: Format> Shadow<F> {
    /// Walks the whole guest table and fills `table`, which must be empty,
    /// have the guest's level count and cover its input width (48 or 57
    /// bits), and is owned from now on. Charges its pages, the root included,
    /// to `budget`. On error nothing is left: `table` is destroyed and freed
    /// (it was never reachable by a device) and the budget is as it was.
    pub fn build<M: DmaMemory + ?Sized>(
        mem: &M,
        table: IoPageTable<F>,
        guest: GuestTable,
        ram: GuestRam,
        reader: &dyn GuestMemory,
        budget: &mut ShadowBudget,
        limit: &mut WalkLimit,
    ) -> Result<Self, ShadowError> {
        let refuse = |table: IoPageTable<F>, error| {
            table.destroy(mem).finish(mem);
            Err(error)
        };
        if !matches!(guest.levels, 4 | 5) || !guest.root.is_multiple_of(PAGE_SIZE) {
            return refuse(table, ShadowError::GuestTable);
        }
        let needed = guest.input_bits();
        if table.levels() != guest.levels || table.input_bits() != needed {
            let error = ShadowError::Width {
                needed,
                table: table.input_bits(),
                levels: table.levels(),
            };
            return refuse(table, error);
        }
        match table.mappings(mem, 0, 1 << needed) {
            Ok(found) if found.is_empty() => {}
            Ok(found) => {
                let iova = found[0].0;
                return refuse(table, ShadowError::Table(Error::AlreadyMapped { iova }));
            }
            Err(e) => return refuse(table, ShadowError::Table(e)),
        }
        if budget.pages_left == 0 {
            return refuse(table, ShadowError::Budget);
        }
        budget.pages_left -= 1;
        let mut shadow = Self { table, guest, ram };
        let whole = (0, 1 << needed);
        let (maps, result) = shadow.fill(mem, whole, false, reader, budget, limit);
        // Not yet reachable by any device: nothing to invalidate.
        drop(maps);
        match result {
            Ok(()) => Ok(shadow),
            Err(error) => {
                shadow.destroy(mem).finish(mem, budget);
                Err(error)
            }
        }
    }

    /// Re-syncs guest-virtual `[start, start + len)` (4 KiB aligned; `start`
    /// canonical or not, only its low [`input_bits`](Self::input_bits)
    /// count): makes that range of the shadow say what the guest's table says
    /// there now. Leaves that already do are not touched (a guest
    /// invalidating what it did not change costs a walk and no IOTLB
    /// invalidation); the others are replaced, and what the guest no longer
    /// maps is unmapped. Nothing outside the range changes (but see below);
    /// what the guest changed elsewhere waits for its invalidation.
    ///
    /// Returns what the caller must invalidate (and later finish). A bad range
    /// (unaligned, beyond the input width) changes nothing. On any other error
    /// ([`ShadowError::WalkLimit`], [`ShadowError::Budget`], ...) the range is
    /// left unmapped (the device faults there: safe) and the error comes with
    /// the invalidation of what was unmapped. If splitting a shadow large page
    /// at the range's ends needs pages the budget (or memory) does not have,
    /// the whole large pages at the ends are unmapped too.
    pub fn resync<M: DmaMemory + ?Sized>(
        &mut self,
        mem: &M,
        start: u64,
        len: u64,
        reader: &dyn GuestMemory,
        budget: &mut ShadowBudget,
        limit: &mut WalkLimit,
    ) -> Result<ShadowInvalidation, (ShadowError, ShadowInvalidation)> {
        if !(start | len).is_multiple_of(PAGE_SIZE) {
            let error = ShadowError::Table(Error::Unaligned);
            return Err((error, ShadowInvalidation::default()));
        }
        let bits = self.input_bits();
        let start = start & ((1 << bits) - 1);
        let Some(end) = start.checked_add(len).filter(|&e| e <= 1 << bits) else {
            let error = Error::InputOutOfRange { input_bits: bits };
            return Err((ShadowError::Table(error), ShadowInvalidation::default()));
        };
        let mut inv = ShadowInvalidation::default();
        if len == 0 {
            return Ok(inv);
        }
        let (changes, result) = self.fill(mem, (start, end), true, reader, budget, limit);
        inv.inv.merge(changes);
        match result {
            Ok(()) => Ok(inv),
            Err(error) => {
                self.clear(mem, start, end, &mut inv);
                Err((error, inv))
            }
        }
    }

    /// Unmaps `[start, end)` after a failed re-sync, allocating nothing: if
    /// that would split a large page at an end, the whole large pages at the
    /// ends go too (the device faults there: safe).
    fn clear<M: DmaMemory + ?Sized>(
        &mut self,
        mem: &M,
        start: u64,
        end: u64,
        inv: &mut ShadowInvalidation,
    ) {
        let no_pages = Metered::new(mem, 0);
        let unmapped = match self.table.unmap(&no_pages, start, end - start) {
            Err(Error::OutOfMemory) => {
                let (wide_start, wide_end) = self.leaf_bounds(mem, start, end);
                self.table
                    .unmap(&no_pages, wide_start, wide_end - wide_start)
            }
            other => other,
        };
        match unmapped {
            Ok(u) => inv.inv.merge(u),
            Err(e) => log::error!("shadow: unmapping a failed re-sync's range failed: {e}"),
        }
    }

    /// Re-syncs the whole input range, as a guest's "invalidate all" asks.
    pub fn rebuild<M: DmaMemory + ?Sized>(
        &mut self,
        mem: &M,
        reader: &dyn GuestMemory,
        budget: &mut ShadowBudget,
        limit: &mut WalkLimit,
    ) -> Result<ShadowInvalidation, (ShadowError, ShadowInvalidation)> {
        let len = 1 << self.input_bits();
        self.resync(mem, 0, len, reader, budget, limit)
    }

    /// The physical address of the shadow's root table, for the PASID entry.
    pub fn root(&self) -> u64 {
        self.table.root()
    }

    /// The input width in bits: 48 (4 levels) or 57 (5 levels).
    pub fn input_bits(&self) -> u8 {
        self.guest.input_bits()
    }

    /// The shadow table, e.g. for `flpm()` or queries.
    pub fn table(&self) -> &IoPageTable<F> {
        &self.table
    }

    /// The guest table shadowed.
    pub fn guest(&self) -> GuestTable {
        self.guest
    }

    /// Tears the shadow down (already detached from every PASID entry): the
    /// returned invalidation's [`finish`](ShadowInvalidation::finish) frees
    /// every table page and credits the budget with them.
    pub fn destroy<M: DmaMemory + ?Sized>(self, mem: &M) -> ShadowInvalidation {
        ShadowInvalidation {
            inv: self.table.destroy(mem),
        }
    }

    /// `[start, end)` widened to the whole shadow leaves its ends fall in.
    fn leaf_bounds<M: DmaMemory + ?Sized>(&self, mem: &M, start: u64, end: u64) -> (u64, u64) {
        let size = |iova| self.table.query(mem, iova).map_or(PAGE_SIZE, |m| m.size);
        let last = end - PAGE_SIZE;
        (
            start & !(size(start) - 1),
            (last & !(size(last) - 1)) + size(last),
        )
    }

    /// Walks the guest table over `[start, end)` and maps what it finds;
    /// `live`: the shadow may hold mappings there (a re-sync), which are kept
    /// where they match the guest and removed where the guest maps nothing.
    /// Charges the pages allocated. Returns the changes' invalidation
    /// whether or not the walk completed.
    #[allow(clippy::too_many_arguments)]
    fn fill<M: DmaMemory + ?Sized>(
        &mut self,
        mem: &M,
        (start, end): (u64, u64),
        live: bool,
        reader: &dyn GuestMemory,
        budget: &mut ShadowBudget,
        limit: &mut WalkLimit,
    ) -> (Invalidation, Result<(), ShadowError>) {
        let levels = self.guest.levels;
        let mut walk = match Walk::new(&mut self.table, mem, reader, self.ram, levels) {
            Ok(w) => w,
            Err(e) => return (Invalidation::none(), Err(e)),
        };
        let result = walk.run(self.guest.root, (start, end), live, budget, limit);
        (walk.into_changes(), result)
    }
}
