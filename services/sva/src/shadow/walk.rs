//! One walk of a guest first-stage table into its shadow: the guest's
//! entries decoded (§9.7), runs of pages that map contiguous host memory
//! alike gathered and mapped as one, and, when re-syncing a live shadow,
//! runs the shadow already holds left as they are (no write, nothing to
//! invalidate) and what the guest no longer maps removed.

use alloc::vec::Vec;
use core::cell::Cell;

use vsva_iommu::hw::DmaMemory;
use vsva_iommu::pt::Lookup;
use vsva_iommu::vtd::pagetable::{
    Error, Format, FsFlags, Invalidation, IoPageTable, PAGE_SIZE, Permissions,
};

use super::{ShadowBudget, ShadowError, WalkLimit};
use crate::guest::{GuestMemory, GuestRam};

/// A [`DmaMemory`] that counts the pages an operation allocates net of what it
/// frees, and refuses allocations beyond a limit (the engine then fails with
/// [`Error::OutOfMemory`], having changed nothing).
pub(super) struct Metered<'a, M: ?Sized> {
    mem: &'a M,
    pub(super) limit: usize,
    pub(super) used: Cell<usize>,
    refused: Cell<bool>,
}

impl<'a, M: DmaMemory + ?Sized> Metered<'a, M> {
    pub(super) fn new(mem: &'a M, limit: usize) -> Self {
        Self {
            mem,
            limit,
            used: Cell::new(0),
            refused: Cell::new(false),
        }
    }

    /// The shadow error for an engine error of an operation on this memory.
    pub(super) fn error(&self, e: Error) -> ShadowError {
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
pub(super) struct Rights {
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
pub(super) const ADDR_MASK: u64 = 0x000f_ffff_ffff_f000;

/// The lowest guest-virtual bit a level-`level` entry indexes (1 = PTE).
pub(super) const fn shift(level: u8) -> u32 {
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
pub(super) struct Walk<'a, F: Format, M: DmaMemory + ?Sized> {
    table: &'a mut IoPageTable<F>,
    mem: Metered<'a, M>,
    reader: &'a dyn GuestMemory,
    ram: GuestRam,
    levels: u8,
    visits_left: usize,
    /// The entries read from each guest table on the current path, the
    /// root's first; at most a page per level.
    copies: Vec<u8>,
    run: Option<Run>,
    /// What the walk changed in the shadow.
    changes: Invalidation,
    /// Whether the shadow's format expresses execute permission.
    execute: bool,
    /// Re-syncing a live shadow: compare before writing, remove what the
    /// guest does not map.
    live: bool,
    /// The range walked.
    start: u64,
    end: u64,
    /// Where the shadow agrees with the guest up to (live walks).
    cursor: u64,
    /// Where the last lookup in the shadow ended; dropped whenever the walk
    /// changes the shadow.
    lookup: Option<Lookup>,
}

impl<'a, F: Format, M: DmaMemory + ?Sized> Walk<'a, F, M> {
    /// A walk into `table` of a guest table of `levels` levels.
    pub(super) fn new(
        table: &'a mut IoPageTable<F>,
        mem: &'a M,
        reader: &'a dyn GuestMemory,
        ram: GuestRam,
        levels: u8,
    ) -> Result<Self, ShadowError> {
        let bytes = PAGE_SIZE as usize * usize::from(levels);
        let mut copies = Vec::new();
        if copies.try_reserve_exact(bytes).is_err() {
            return Err(ShadowError::OutOfMemory);
        }
        let execute = table
            .format()
            .check(Permissions::READ | Permissions::EXECUTE)
            .is_ok();
        Ok(Self {
            table,
            mem: Metered::new(mem, 0),
            reader,
            ram,
            levels,
            visits_left: 0,
            copies,
            run: None,
            changes: Invalidation::none(),
            execute,
            live: false,
            start: 0,
            end: 0,
            cursor: 0,
            lookup: None,
        })
    }

    /// Walks the guest table at `root` over `[start, end)`, within `budget`
    /// pages and `limit` entries, both charged with what the walk used.
    pub(super) fn run(
        &mut self,
        root: u64,
        (start, end): (u64, u64),
        live: bool,
        budget: &mut ShadowBudget,
        limit: &mut WalkLimit,
    ) -> Result<(), ShadowError> {
        self.mem.limit = budget.pages_left;
        self.visits_left = limit.0;
        (self.live, self.start, self.end, self.cursor) = (live, start, end, start);
        let rights = Rights {
            write: true,
            execute: true,
        };
        let result = self
            .table_at(root, self.levels, 0, start, end, rights)
            .and_then(|()| self.flush())
            .and_then(|()| self.clear_to(end));
        budget.pages_left -= self.mem.used.get();
        limit.0 = self.visits_left;
        result
    }

    /// What the walk changed, to invalidate.
    pub(super) fn into_changes(self) -> Invalidation {
        self.changes
    }

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
        // capacity (a page per level) `Walk::new` reserved.
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

    /// Makes the shadow map the pending run: in a live shadow, clears what
    /// lies between the last run and this one, and leaves the run alone if
    /// the shadow already maps it so.
    fn flush(&mut self) -> Result<(), ShadowError> {
        let Some(run) = self.run.take() else {
            return Ok(());
        };
        if self.live {
            self.clear_to(run.iova)?;
            self.cursor = run.iova + run.len;
            if self.holds(&run) {
                return Ok(());
            }
            self.unmap(run.iova, run.len)?;
        }
        self.lookup = None;
        let mapped = self
            .table
            .map(&self.mem, run.iova, run.host, run.len, run.permissions);
        match mapped {
            Ok(inv) => {
                self.changes.merge(inv);
                Ok(())
            }
            Err(e) => Err(self.mem.error(e)),
        }
    }

    /// Live walks: unmaps `[cursor, to)`, which no guest leaf maps.
    fn clear_to(&mut self, to: u64) -> Result<(), ShadowError> {
        if self.live && to > self.cursor {
            self.unmap(self.cursor, to - self.cursor)?;
            self.cursor = to;
        }
        Ok(())
    }

    fn unmap(&mut self, iova: u64, len: u64) -> Result<(), ShadowError> {
        self.lookup = None;
        match self.table.unmap(&self.mem, iova, len) {
            Ok(inv) => {
                self.changes.merge(inv);
                Ok(())
            }
            Err(e) => Err(self.mem.error(e)),
        }
    }

    /// Whether the shadow maps `run` as the guest does: every leaf over it
    /// translates to the run's host pages with its permissions, and none
    /// reaches into another part of the walked range.
    fn holds(&mut self, run: &Run) -> bool {
        let end = run.iova + run.len;
        let mut at = run.iova;
        while at < end {
            let Some(leaf) = self.table.query_near(&self.mem, at, &mut self.lookup) else {
                return false;
            };
            let base = at & !(leaf.size - 1);
            let inside =
                base.max(self.start) >= run.iova && (base + leaf.size).min(self.end) <= end;
            if !inside
                || leaf.phys != run.host + (at - run.iova)
                || leaf.attributes != run.permissions
            {
                return false;
            }
            at = base + leaf.size;
        }
        true
    }
}
