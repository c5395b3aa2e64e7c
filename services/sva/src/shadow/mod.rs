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
//! - Each guest table is read whole, once per visit, through [`GuestMemory`],
//!   and decoded from that copy: the guest changing it meanwhile cannot make
//!   vsva see two values of one entry. Depth is bounded by the level count;
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

use alloc::vec::Vec;
use core::cell::Cell;
use core::fmt;

use vsva_iommu::hw::DmaMemory;
use vsva_iommu::vtd::pagetable::{
    Error, Format, FsFlags, Invalidation, IoPageTable, PAGE_SIZE, Permissions,
};

use crate::guest::{GuestMemory, GuestRam};

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
        let (maps, result) = shadow.fill(mem, 0, 1 << needed, reader, budget, limit);
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
    /// count): unmaps that range of the shadow, then maps what the guest's
    /// table says there now. Nothing outside the range changes (but see
    /// below); what the guest changed elsewhere waits for its invalidation.
    ///
    /// Returns what the caller must invalidate (and later finish). A bad range
    /// (unaligned, beyond the input width) changes nothing. On any other error
    /// ([`ShadowError::WalkLimit`], [`ShadowError::Budget`], ...) the range is
    /// left unmapped (the device faults there: safe) and the error comes with
    /// the invalidation of what was unmapped. If splitting a shadow large page
    /// at the range's ends needs pages the budget (or memory) does not have,
    /// the whole large pages at the ends are unmapped instead.
    pub fn resync<M: DmaMemory + ?Sized>(
        &mut self,
        mem: &M,
        start: u64,
        len: u64,
        reader: &dyn GuestMemory,
        budget: &mut ShadowBudget,
        limit: &mut WalkLimit,
    ) -> Result<ShadowInvalidation, (ShadowError, ShadowInvalidation)> {
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
        // Unmaps of whole leaves split nothing: they get no pages at all.
        let no_pages = Metered::new(mem, 0);
        let metered = Metered::new(mem, budget.pages_left);
        let unmapped = self.table.unmap(&metered, start, len);
        budget.pages_left -= metered.used.get();
        match unmapped {
            Ok(u) => inv.inv.merge(u),
            Err(e) => {
                let error = metered.error(e);
                if !matches!(e, Error::OutOfMemory) {
                    return Err((error, inv));
                }
                let (wide_start, wide_end) = self.leaf_bounds(mem, start, end);
                match self
                    .table
                    .unmap(&no_pages, wide_start, wide_end - wide_start)
                {
                    Ok(u) => inv.inv.merge(u),
                    Err(e) => log::error!("shadow: unmapping whole leaves failed: {e}"),
                }
                return Err((error, inv));
            }
        }
        let (maps, result) = self.fill(mem, start, end, reader, budget, limit);
        inv.inv.merge(maps);
        match result {
            Ok(()) => Ok(inv),
            Err(error) => {
                // What the walk mapped lies inside the range: whole leaves.
                match self.table.unmap(&no_pages, start, len) {
                    Ok(u) => inv.inv.merge(u),
                    Err(e) => log::error!("shadow: undoing a partial resync failed: {e}"),
                }
                Err((error, inv))
            }
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

    /// Walks the guest table over `[start, end)` (unmapped in the shadow) and
    /// maps what it finds; charges the pages allocated. Returns the maps'
    /// invalidation whether or not the walk completed.
    fn fill<M: DmaMemory + ?Sized>(
        &mut self,
        mem: &M,
        start: u64,
        end: u64,
        reader: &dyn GuestMemory,
        budget: &mut ShadowBudget,
        limit: &mut WalkLimit,
    ) -> (Invalidation, Result<(), ShadowError>) {
        let levels = self.guest.levels;
        let bytes = PAGE_SIZE as usize * usize::from(levels);
        let mut copies = Vec::new();
        if copies.try_reserve_exact(bytes).is_err() {
            return (Invalidation::none(), Err(ShadowError::OutOfMemory));
        }
        let execute = self
            .table
            .format()
            .check(Permissions::READ | Permissions::EXECUTE)
            .is_ok();
        let mut walk = Walk {
            table: &mut self.table,
            mem: Metered::new(mem, budget.pages_left),
            reader,
            ram: self.ram,
            visits_left: limit.0,
            copies,
            run: None,
            maps: Invalidation::none(),
            execute,
        };
        let rights = Rights {
            write: true,
            execute: true,
        };
        let result = walk
            .table_at(self.guest.root, levels, 0, start, end, rights)
            .and_then(|()| walk.flush());
        budget.pages_left -= walk.mem.used.get();
        limit.0 = walk.visits_left;
        (walk.maps, result)
    }
}

/// A [`DmaMemory`] that counts the pages an operation allocates net of what it
/// frees, and refuses allocations beyond a limit (the engine then fails with
/// [`Error::OutOfMemory`], having changed nothing).
struct Metered<'a, M: ?Sized> {
    mem: &'a M,
    limit: usize,
    used: Cell<usize>,
    refused: Cell<bool>,
}

impl<'a, M: DmaMemory + ?Sized> Metered<'a, M> {
    fn new(mem: &'a M, limit: usize) -> Self {
        Self {
            mem,
            limit,
            used: Cell::new(0),
            refused: Cell::new(false),
        }
    }

    /// The shadow error for an engine error of an operation on this memory.
    fn error(&self, e: Error) -> ShadowError {
        match e {
            Error::OutOfMemory if self.refused.get() => ShadowError::Budget,
            Error::OutOfMemory => ShadowError::OutOfMemory,
            e => ShadowError::Table(e),
        }
    }
}

impl<M: DmaMemory + ?Sized> DmaMemory for Metered<'_, M> {
    fn alloc_pages(&self, pages: usize) -> Option<u64> {
        if self.used.get() + pages > self.limit {
            self.refused.set(true);
            return None;
        }
        let addr = self.mem.alloc_pages(pages)?;
        self.used.set(self.used.get() + pages);
        Some(addr)
    }

    fn free_pages(&self, addr: u64, pages: usize) {
        self.used.set(self.used.get().saturating_sub(pages));
        self.mem.free_pages(addr, pages);
    }

    fn read64(&self, addr: u64) -> u64 {
        self.mem.read64(addr)
    }

    fn write64(&self, addr: u64, value: u64) {
        self.mem.write64(addr, value);
    }

    fn publish(&self) {
        self.mem.publish();
    }
}

/// What the entries passed so far allow (§3.6 access rights: R/W must be 1 at
/// every level, XD at any level forbids execution; U/S is checked per entry).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Rights {
    write: bool,
    execute: bool,
}

/// A guest first-stage entry, decoded per §9.7.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum GuestEntry {
    /// Not present, not reachable by user requests, or with a reserved bit set.
    Absent,
    /// The next table, at this guest-physical address.
    Table(u64, Rights),
    /// A page at this guest-physical address.
    Leaf(u64, Rights),
}

/// Bits 51:12 of an entry.
const ADDR_MASK: u64 = 0x000f_ffff_ffff_f000;

/// The lowest guest-virtual bit a level-`level` entry indexes (1 = PTE).
const fn shift(level: u8) -> u32 {
    12 + 9 * (level as u32 - 1)
}

/// Decodes entry `raw` of a level-`level` guest table (§9.7; x86 paging).
fn decode(raw: u64, level: u8) -> GuestEntry {
    let flags = FsFlags::from_bits_retain(raw);
    if !flags.contains(FsFlags::P | FsFlags::US) {
        return GuestEntry::Absent;
    }
    let rights = Rights {
        write: flags.contains(FsFlags::RW),
        execute: !flags.contains(FsFlags::XD),
    };
    let ps = flags.contains(FsFlags::PS);
    match level {
        // PS is reserved in a PML5E / PML4E.
        4 | 5 if ps => GuestEntry::Absent,
        // A large leaf: address bits below its page size, bit 12 (PAT) aside,
        // are reserved.
        2 | 3 if ps => {
            let page = 1u64 << shift(level);
            let reserved = (page - 1) & !0x1fff;
            if raw & reserved != 0 {
                GuestEntry::Absent
            } else {
                GuestEntry::Leaf(raw & ADDR_MASK & !(page - 1), rights)
            }
        }
        // Bit 7 of a PTE is PAT.
        1 => GuestEntry::Leaf(raw & ADDR_MASK, rights),
        _ => GuestEntry::Table(raw & ADDR_MASK, rights),
    }
}

/// A run of guest-virtual pages mapping contiguous host pages alike.
#[derive(Clone, Copy, Debug)]
struct Run {
    iova: u64,
    host: u64,
    len: u64,
    permissions: Permissions,
}

/// One walk of a guest table into a shadow.
struct Walk<'a, F: Format, M: DmaMemory + ?Sized> {
    table: &'a mut IoPageTable<F>,
    mem: Metered<'a, M>,
    reader: &'a dyn GuestMemory,
    ram: GuestRam,
    visits_left: usize,
    /// The entries read from each guest table on the current path, the
    /// root's first; at most a page per level.
    copies: Vec<u8>,
    run: Option<Run>,
    maps: Invalidation,
    /// Whether the shadow's format expresses execute permission.
    execute: bool,
}

impl<F: Format, M: DmaMemory + ?Sized> Walk<'_, F, M> {
    /// Walks the level-`level` guest table at `gpa`, which translates
    /// guest-virtual `[base, base + 512 entries)`, over `[start, end)`.
    fn table_at(
        &mut self,
        gpa: u64,
        level: u8,
        base: u64,
        start: u64,
        end: u64,
        rights: Rights,
    ) -> Result<(), ShadowError> {
        if !self.ram.contains(gpa, PAGE_SIZE) {
            return Ok(());
        }
        let (first, last) = (
            (start - base) >> shift(level),
            (end - 1 - base) >> shift(level),
        );
        // Only the entries the range reaches are read (once; the copy is what
        // is decoded): a page's re-sync reads one entry per level, not 4 KiB.
        // Each level's copy sits above its parent's in `copies`, whose
        // capacity (a page per level) `fill` reserved.
        let (from, to) = (first * 8, (last + 1) * 8);
        let at = self.copies.len();
        let need = at + (to - from) as usize;
        if need > self.copies.capacity() {
            return Err(ShadowError::OutOfMemory);
        }
        self.copies.resize(need, 0);
        let result = match self.reader.read(gpa + from, &mut self.copies[at..]) {
            Ok(()) => self.entries(level, base, start, end, rights, at),
            Err(_) => Ok(()),
        };
        self.copies.truncate(at);
        result
    }

    /// Visits the entries of a level-`level` guest table (copied at `at` in
    /// `copies`, from the first entry `[start, end)` reaches) over `[start, end)`.
    fn entries(
        &mut self,
        level: u8,
        base: u64,
        start: u64,
        end: u64,
        rights: Rights,
        at: usize,
    ) -> Result<(), ShadowError> {
        let size = 1u64 << shift(level);
        let first = (start - base) >> shift(level);
        for i in first..=(end - 1 - base) >> shift(level) {
            if self.visits_left == 0 {
                return Err(ShadowError::WalkLimit);
            }
            self.visits_left -= 1;
            let offset = at + (i - first) as usize * 8;
            let mut raw = [0; 8];
            raw.copy_from_slice(&self.copies[offset..offset + 8]);
            let entry_base = base + i * size;
            let (a, b) = (entry_base.max(start), (entry_base + size).min(end));
            match decode(u64::from_le_bytes(raw), level) {
                GuestEntry::Absent => {}
                GuestEntry::Table(child, r) => {
                    let rights = Rights {
                        write: rights.write && r.write,
                        execute: rights.execute && r.execute,
                    };
                    self.table_at(child, level - 1, entry_base, a, b, rights)?;
                }
                GuestEntry::Leaf(page, r) => {
                    let mut permissions = Permissions::READ;
                    permissions.set(Permissions::WRITE, rights.write && r.write);
                    let execute = rights.execute && r.execute && self.execute;
                    permissions.set(Permissions::EXECUTE, execute);
                    let gpa = page + (a - entry_base);
                    if let Some((g, host, len)) = self.ram.clip(gpa, b - a) {
                        self.push(Run {
                            iova: a + (g - gpa),
                            host,
                            len,
                            permissions,
                        })?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Adds `run` to the pending run if it continues it, else maps that one.
    fn push(&mut self, run: Run) -> Result<(), ShadowError> {
        if let Some(last) = &mut self.run
            && last.iova + last.len == run.iova
            && last.host + last.len == run.host
            && last.permissions == run.permissions
        {
            last.len += run.len;
            return Ok(());
        }
        self.flush()?;
        self.run = Some(run);
        Ok(())
    }

    /// Maps the pending run.
    fn flush(&mut self) -> Result<(), ShadowError> {
        let Some(run) = self.run.take() else {
            return Ok(());
        };
        let mapped = self
            .table
            .map(&self.mem, run.iova, run.host, run.len, run.permissions);
        match mapped {
            Ok(inv) => {
                self.maps.merge(inv);
                Ok(())
            }
            Err(e) => Err(self.mem.error(e)),
        }
    }
}
