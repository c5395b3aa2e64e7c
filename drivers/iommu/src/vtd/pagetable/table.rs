//! The table engine shared by both formats: a radix tree of 512-entry tables in
//! [`DmaMemory`], level 1 (PTE) up to level 3, 4 or 5 (root).

use alloc::vec::Vec;

use super::entry::{SW_COUNT_MASK, SW_COUNT_SHIFT};
use super::{
    Decoded, ENTRIES, Error, FirstStage, Format, Invalidation, MAX_PHYS_BITS, Mapping, PAGE_SIZE,
    PageSize, Permissions, SecondStage,
};
use crate::hw::DmaMemory;
use crate::vtd::regs::{Capability, ExtendedCapability, Sagaw};
use crate::walk_path::Step;

mod in_place;

/// Bit position of the lowest IOVA bit a level-`level` entry indexes.
const fn shift(level: u8) -> u32 {
    12 + 9 * (level as u32 - 1)
}

/// Bytes one level-`level` entry covers.
const fn span(level: u8) -> u64 {
    1 << shift(level)
}

/// The physical address of the entry for `iova` in the level-`level` table at `table`.
const fn entry_addr(table: u64, level: u8, iova: u64) -> u64 {
    table + ((iova >> shift(level)) & (ENTRIES as u64 - 1)) * 8
}

/// The present-entry count kept in a non-leaf entry's ignored bits.
const fn count_of(raw: u64) -> u64 {
    (raw & SW_COUNT_MASK) >> SW_COUNT_SHIFT
}

/// `raw` with its present-entry count replaced.
const fn with_count(raw: u64, count: u64) -> u64 {
    (raw & !SW_COUNT_MASK) | ((count << SW_COUNT_SHIFT) & SW_COUNT_MASK)
}

/// The parts of `start .. end` that fall into successive level-`level` entries.
fn slots(level: u8, start: u64, end: u64) -> impl Iterator<Item = (u64, u64)> {
    let size = span(level);
    let mut a = start;
    core::iter::from_fn(move || {
        if a >= end {
            return None;
        }
        let b = ((a & !(size - 1)) + size).min(end);
        let slot = (a, b);
        a = b;
        Some(slot)
    })
}

/// Table pages allocated before an operation writes anything.
struct Pool(Vec<u64>);

impl Pool {
    fn alloc<M: DmaMemory + ?Sized>(mem: &M, count: usize) -> Result<Self, Error> {
        let mut pages = Vec::new();
        if pages.try_reserve_exact(count).is_err() {
            return Err(Error::OutOfMemory);
        }
        for _ in 0..count {
            match mem.alloc_pages(1) {
                Some(page) => pages.push(page),
                None => {
                    for &p in &pages {
                        mem.free_pages(p, 1);
                    }
                    return Err(Error::OutOfMemory);
                }
            }
        }
        Ok(Self(pages))
    }

    /// Returns the pages the operation did not use (none, when planning was exact).
    fn release<M: DmaMemory + ?Sized>(self, mem: &M) {
        for p in self.0 {
            mem.free_pages(p, 1);
        }
    }
}

/// An I/O page table in one of the two VT-d formats: [`SecondStageTable`] or
/// [`FirstStageTable`]. See the [module documentation](super) for the rules.
///
/// The table does not hold its memory: every operation takes the [`DmaMemory`] the table
/// was created with. Mutations need `&mut self`; the caller serialises them.
///
/// [`SecondStageTable`]: super::SecondStageTable
/// [`FirstStageTable`]: super::FirstStageTable
#[derive(Debug)]
pub struct IoPageTable<F: Format> {
    root: u64,
    levels: u8,
    address_width: u8,
    format: F,
}

impl IoPageTable<SecondStage> {
    /// A second-stage table for IOVAs below 2^`address_width`, with the fewest levels that
    /// CAP.SAGAW supports and that cover the width (3: 39 bits, 4: 48, 5: 57; §3.7, §11.4.2),
    /// large pages per CAP.SLLPS and SNP per ECAP.SC ([`SecondStage::from_capabilities`]).
    pub fn new<M: DmaMemory + ?Sized>(
        mem: &M,
        cap: Capability,
        ecap: ExtendedCapability,
        address_width: u8,
    ) -> Result<Self, Error> {
        Self::with_format(
            mem,
            SecondStage::from_capabilities(cap, ecap),
            cap.sagaw(),
            cap.max_guest_address_width(),
            address_width,
        )
    }

    /// Like [`new`](Self::new) with an explicit format (e.g. without SNP, or with execute).
    pub fn with_format<M: DmaMemory + ?Sized>(
        mem: &M,
        format: SecondStage,
        sagaw: Sagaw,
        mgaw_bits: u8,
        address_width: u8,
    ) -> Result<Self, Error> {
        let unsupported = Error::UnsupportedAddressWidth {
            requested: address_width,
        };
        if address_width < shift(2) as u8 || address_width > mgaw_bits {
            return Err(unsupported);
        }
        let levels = Sagaw::WIDTHS
            .iter()
            .find(|&&(flag, bits, _)| sagaw.contains(flag) && bits >= address_width)
            .map(|&(_, _, levels)| levels)
            .ok_or(unsupported)?;
        Self::create(mem, format, levels, address_width)
    }

    /// The AW field of the context entry / scalable-mode PASID entry for this table
    /// (§9.3, §9.6): 1 = 3-level, 2 = 4-level, 3 = 5-level.
    pub const fn aw(&self) -> u8 {
        self.levels - 2
    }
}

impl IoPageTable<FirstStage> {
    /// A 4-level table in the first-stage (x86 paging) format for addresses below
    /// 2^`address_width` (at most 48), independent of any unit's capabilities: the
    /// format AMD nested paging walks too (AMD64 APM Vol. 2 §15.25.5), whose walks
    /// count as user accesses, which U/S = 1 on every entry here allows.
    pub fn four_level<M: DmaMemory + ?Sized>(
        mem: &M,
        format: FirstStage,
        address_width: u8,
    ) -> Result<Self, Error> {
        if !(12..=48).contains(&address_width) {
            return Err(Error::UnsupportedAddressWidth {
                requested: address_width,
            });
        }
        Self::create(mem, format, 4, address_width)
    }

    /// A first-stage table for IOVAs below 2^`address_width`: 4-level up to 48 bits,
    /// 5-level up to 57 bits when CAP.FS5LP (§3.6, §11.4.2); 1 GiB pages when CAP.FS1GP.
    pub fn new<M: DmaMemory + ?Sized>(
        mem: &M,
        cap: Capability,
        address_width: u8,
    ) -> Result<Self, Error> {
        let levels = match address_width {
            12..=48 => 4,
            49..=57 if cap.fl5lp() => 5,
            _ => {
                return Err(Error::UnsupportedAddressWidth {
                    requested: address_width,
                });
            }
        };
        Self::create(
            mem,
            FirstStage::from_capabilities(cap),
            levels,
            address_width,
        )
    }

    /// The FLPM field (rev 4.x: FSPM) of the scalable-mode PASID entry for this table
    /// (§9.6): 0 = 4-level, 1 = 5-level paging.
    pub const fn flpm(&self) -> u8 {
        self.levels - 4
    }
}

impl<F: Format> IoPageTable<F> {
    fn create<M: DmaMemory + ?Sized>(
        mem: &M,
        format: F,
        levels: u8,
        address_width: u8,
    ) -> Result<Self, Error> {
        let root = mem.alloc_pages(1).ok_or(Error::OutOfMemory)?;
        Ok(Self {
            root,
            levels,
            address_width,
            format,
        })
    }

    /// The physical address of the root table, for the context entry (SLPTPTR) or the
    /// PASID entry (SSPTPTR / FSPTPTR).
    pub const fn root(&self) -> u64 {
        self.root
    }

    /// The number of levels, 3 to 5.
    pub const fn levels(&self) -> u8 {
        self.levels
    }

    /// IOVAs must be below 2^`address_width`.
    pub const fn address_width(&self) -> u8 {
        self.address_width
    }

    /// The entry format.
    pub const fn format(&self) -> F {
        self.format
    }

    /// Checks an IOVA range; `Ok(None)` for an empty one.
    fn check_iova(&self, iova: u64, len: u64) -> Result<Option<u64>, Error> {
        if !iova.is_multiple_of(PAGE_SIZE) || !len.is_multiple_of(PAGE_SIZE) {
            return Err(Error::Unaligned);
        }
        let end = iova.checked_add(len).ok_or(Error::Overflow)?;
        if end > 1u64 << self.address_width {
            return Err(Error::IovaOutOfRange {
                address_width: self.address_width,
            });
        }
        Ok((len != 0).then_some(end))
    }

    /// Maps `iova .. iova + len` to `phys .. phys + len` with `permissions`, using the
    /// largest pages that the alignment of both addresses and the format allow.
    ///
    /// Fails without changing anything if any part of the range is already mapped
    /// ([`Error::AlreadyMapped`]), on bad input, or if a table cannot be allocated. An
    /// empty range maps nothing. See [`Invalidation`] for what the result asks of the caller.
    pub fn map<M: DmaMemory + ?Sized>(
        &mut self,
        mem: &M,
        iova: u64,
        phys: u64,
        len: u64,
        permissions: Permissions,
    ) -> Result<Invalidation, Error> {
        self.format.check_permissions(permissions)?;
        if !phys.is_multiple_of(PAGE_SIZE) {
            return Err(Error::Unaligned);
        }
        let Some(end) = self.check_iova(iova, len)? else {
            return Ok(Invalidation::none());
        };
        let phys_end = phys.checked_add(len).ok_or(Error::Overflow)?;
        if phys_end > 1u64 << MAX_PHYS_BITS {
            return Err(Error::PhysOutOfRange);
        }
        if let Some(level) = self.single_leaf_level(iova, phys, len)
            && let Some(done) = self.map_leaf_in_place(mem, level, iova, phys, permissions)
        {
            return done;
        }
        let op = MapOp {
            iova,
            phys,
            permissions,
        };
        let (path, table, level) = self.descend(mem, iova, end, false);
        let needed = self.plan_map(mem, &op, Some(table), level, iova, end)?;
        let mut pool = Pool::alloc(mem, needed)?;
        // The commit adds no ranges of its own: the whole range changed.
        let mut inv = Invalidation::leaf_range(iova, len);
        let added = self.commit_map(mem, &op, table, level, iova, end, &mut pool, &mut inv);
        if let Some(step) = path.last()
            && added != 0
        {
            mem.write64(step.at, with_count(step.raw, count_of(step.raw) + added));
        }
        pool.release(mem);
        mem.publish();
        Ok(inv)
    }

    /// Goes down from the root while `start .. end` lies inside one entry that points to a
    /// table (for an unmap, only while it does not cover that entry entirely): the common
    /// small operation then works on one table instead of recursing from the root.
    /// Returns the entries passed and the table and level reached.
    fn descend<M: DmaMemory + ?Sized>(
        &self,
        mem: &M,
        start: u64,
        end: u64,
        unmap: bool,
    ) -> (Path, u64, u8) {
        let mut path = Path::default();
        let mut table = self.root;
        let mut level = self.levels;
        while level > 1 {
            let size = span(level);
            let base = start & !(size - 1);
            if end - base > size || (unmap && start == base && end - base == size) {
                break;
            }
            let at = entry_addr(table, level, start);
            let raw = mem.read64(at);
            let Decoded::Table(child) = self.format.decode(raw, level) else {
                break;
            };
            path.push(Step { at, raw, child });
            table = child;
            level -= 1;
        }
        (path, table, level)
    }

    /// Whether `a .. b`, one slot of a level-`level` table, gets a leaf at that level.
    fn leaf_fits(&self, op: &MapOp, level: u8, a: u64, b: u64) -> bool {
        let size = span(level);
        self.format.leaf_level_supported(level)
            && a.is_multiple_of(size)
            && b - a == size
            && op.phys_of(a).is_multiple_of(size)
    }

    /// Read-only pass of [`map`](Self::map): checks that nothing in the range is mapped and
    /// counts the tables to allocate. `table` is `None` for a table still to be created.
    fn plan_map<M: DmaMemory + ?Sized>(
        &self,
        mem: &M,
        op: &MapOp,
        table: Option<u64>,
        level: u8,
        start: u64,
        end: u64,
    ) -> Result<usize, Error> {
        if table.is_none() && level == 1 {
            return Ok(0);
        }
        let mut needed = 0;
        for (a, b) in slots(level, start, end) {
            let decoded = match table {
                Some(t) => self
                    .format
                    .decode(mem.read64(entry_addr(t, level, a)), level),
                None => Decoded::NotPresent,
            };
            match decoded {
                Decoded::Leaf { .. } => return Err(Error::AlreadyMapped { iova: a }),
                Decoded::Table(child) if level > 1 => {
                    needed += self.plan_map(mem, op, Some(child), level - 1, a, b)?;
                }
                Decoded::Table(_) => return Err(Error::AlreadyMapped { iova: a }),
                Decoded::NotPresent if self.leaf_fits(op, level, a, b) => {}
                Decoded::NotPresent => {
                    needed += 1 + self.plan_map(mem, op, None, level - 1, a, b)?;
                }
            }
        }
        Ok(needed)
    }

    /// Writing pass of [`map`](Self::map); cannot fail once [`plan_map`](Self::plan_map)
    /// succeeded. Returns how many entries of `table` became present.
    #[allow(clippy::too_many_arguments)]
    fn commit_map<M: DmaMemory + ?Sized>(
        &self,
        mem: &M,
        op: &MapOp,
        table: u64,
        level: u8,
        start: u64,
        end: u64,
        pool: &mut Pool,
        inv: &mut Invalidation,
    ) -> u64 {
        let mut added = 0;
        for (a, b) in slots(level, start, end) {
            let at = entry_addr(table, level, a);
            let raw = mem.read64(at);
            match self.format.decode(raw, level) {
                Decoded::NotPresent if self.leaf_fits(op, level, a, b) => {
                    let leaf = self.format.leaf_entry(op.phys_of(a), level, op.permissions);
                    mem.write64(at, leaf);
                    added += 1;
                }
                Decoded::NotPresent if level > 1 => {
                    let Some(child) = pool.0.pop() else {
                        // Unreachable: planning counted this table.
                        continue;
                    };
                    let n = self.commit_map(mem, op, child, level - 1, a, b, pool, inv);
                    // The new table is complete before the hardware can reach it.
                    mem.publish();
                    mem.write64(at, with_count(self.format.table_entry(child), n));
                    inv.set_non_leaf();
                    added += 1;
                }
                Decoded::Table(child) if level > 1 => {
                    let n = self.commit_map(mem, op, child, level - 1, a, b, pool, inv);
                    if n != 0 {
                        mem.write64(at, with_count(raw, count_of(raw) + n));
                    }
                }
                // Unreachable: planning refused ranges that hold mappings.
                _ => {}
            }
        }
        added
    }

    /// Unmaps everything in `iova .. iova + len`; unmapped holes are skipped. A superpage
    /// that lies only partly in the range is split into smaller pages (which needs table
    /// pages: [`Error::OutOfMemory`] if they cannot be had, with nothing changed), so the
    /// part outside the range stays mapped with the same translation. Tables left empty are
    /// unlinked and listed in the result for freeing after invalidation.
    pub fn unmap<M: DmaMemory + ?Sized>(
        &mut self,
        mem: &M,
        iova: u64,
        len: u64,
    ) -> Result<Invalidation, Error> {
        let Some(end) = self.check_iova(iova, len)? else {
            return Ok(Invalidation::none());
        };
        if let Some(level) = self.single_leaf_level(iova, iova, len)
            && let Some(inv) = self.unmap_leaf_in_place(mem, level, iova)
        {
            return Ok(inv);
        }
        let (path, table, level) = self.descend(mem, iova, end, true);
        let needed = self.plan_unmap(mem, table, level, iova, end);
        let mut pool = Pool::alloc(mem, needed)?;
        let mut inv = Invalidation::none();
        let mut removed = self.commit_unmap(mem, table, level, iova, end, &mut pool, &mut inv);
        // Update the counts on the way up; a table that became empty goes, which removes
        // one entry from its parent.
        for step in path.iter().rev() {
            if removed == 0 {
                break;
            }
            let left = count_of(step.raw).saturating_sub(removed);
            if left == 0 {
                mem.write64(step.at, 0);
                inv.push_table(step.child);
                inv.set_non_leaf();
                removed = 1;
            } else {
                mem.write64(step.at, with_count(step.raw, left));
                removed = 0;
            }
        }
        pool.release(mem);
        mem.publish();
        Ok(inv)
    }

    /// Counts the tables that splitting superpages for an unmap of `start .. end` needs.
    fn plan_unmap<M: DmaMemory + ?Sized>(
        &self,
        mem: &M,
        table: u64,
        level: u8,
        start: u64,
        end: u64,
    ) -> usize {
        let mut needed = 0;
        for (a, b) in slots(level, start, end) {
            let full = b - a == span(level);
            match self
                .format
                .decode(mem.read64(entry_addr(table, level, a)), level)
            {
                Decoded::Leaf { .. } if !full => needed += split_cost(level, a, b),
                Decoded::Table(child) if !full && level > 1 => {
                    needed += self.plan_unmap(mem, child, level - 1, a, b);
                }
                _ => {}
            }
        }
        needed
    }

    /// Writing pass of [`unmap`](Self::unmap). Returns how many entries of `table` stopped
    /// being present.
    #[allow(clippy::too_many_arguments)]
    fn commit_unmap<M: DmaMemory + ?Sized>(
        &self,
        mem: &M,
        table: u64,
        level: u8,
        start: u64,
        end: u64,
        pool: &mut Pool,
        inv: &mut Invalidation,
    ) -> u64 {
        let mut removed = 0;
        for (a, b) in slots(level, start, end) {
            let at = entry_addr(table, level, a);
            let raw = mem.read64(at);
            let full = b - a == span(level);
            match self.format.decode(raw, level) {
                Decoded::NotPresent => {}
                Decoded::Leaf { .. } if full => {
                    mem.write64(at, 0);
                    inv.add_range(a, b - a);
                    removed += 1;
                }
                Decoded::Leaf { phys, permissions } => {
                    let base = a & !(span(level) - 1);
                    let leaf = Leaf {
                        level,
                        iova: base,
                        phys,
                        permissions,
                    };
                    if let Some((child, n)) = self.split(mem, leaf, a, b, pool) {
                        mem.publish();
                        mem.write64(at, with_count(self.format.table_entry(child), n));
                        inv.add_range(a, b - a);
                        inv.set_non_leaf();
                    }
                }
                Decoded::Table(child) if full => {
                    mem.write64(at, 0);
                    self.collect_tables(mem, child, level - 1, inv);
                    inv.add_range(a, b - a);
                    inv.set_non_leaf();
                    removed += 1;
                }
                Decoded::Table(child) => {
                    let n = self.commit_unmap(mem, child, level - 1, a, b, pool, inv);
                    let left = count_of(raw).saturating_sub(n);
                    if left == 0 {
                        mem.write64(at, 0);
                        inv.push_table(child);
                        inv.set_non_leaf();
                        removed += 1;
                    } else if n != 0 {
                        mem.write64(at, with_count(raw, left));
                    }
                }
            }
        }
        removed
    }

    /// Builds, off-line, the table that replaces superpage `leaf` with pages one level
    /// down, leaving out `cut_start .. cut_end` (splitting further where the cut's ends fall
    /// inside those pages). Returns the table and its present-entry count.
    fn split<M: DmaMemory + ?Sized>(
        &self,
        mem: &M,
        leaf: Leaf,
        cut_start: u64,
        cut_end: u64,
        pool: &mut Pool,
    ) -> Option<(u64, u64)> {
        let level = leaf.level - 1;
        let table = pool.0.pop()?;
        let size = span(level);
        let mut count = 0;
        for i in 0..ENTRIES as u64 {
            let x = leaf.iova + i * size;
            let y = x + size;
            let phys = leaf.phys + i * size;
            let at = table + i * 8;
            if y <= cut_start || x >= cut_end {
                mem.write64(at, self.format.leaf_entry(phys, level, leaf.permissions));
                count += 1;
            } else if x < cut_start || y > cut_end {
                let part = Leaf {
                    level,
                    iova: x,
                    phys,
                    permissions: leaf.permissions,
                };
                if let Some((sub, n)) = self.split(mem, part, cut_start, cut_end, pool) {
                    mem.write64(at, with_count(self.format.table_entry(sub), n));
                    count += 1;
                }
            }
        }
        Some((table, count))
    }

    /// Lists `table` (at `level`) and every table below it for freeing.
    fn collect_tables<M: DmaMemory + ?Sized>(
        &self,
        mem: &M,
        table: u64,
        level: u8,
        inv: &mut Invalidation,
    ) {
        if level > 1 {
            for i in 0..ENTRIES as u64 {
                if let Decoded::Table(child) = self.format.decode(mem.read64(table + i * 8), level)
                {
                    self.collect_tables(mem, child, level - 1, inv);
                }
            }
        }
        inv.push_table(table);
    }

    /// The translation of `iova`, if it is mapped.
    pub fn query<M: DmaMemory + ?Sized>(&self, mem: &M, iova: u64) -> Option<Mapping> {
        if self.address_width < 64 && iova >> self.address_width != 0 {
            return None;
        }
        let mut table = self.root;
        let mut level = self.levels;
        loop {
            match self
                .format
                .decode(mem.read64(entry_addr(table, level, iova)), level)
            {
                Decoded::NotPresent => return None,
                Decoded::Table(child) if level > 1 => {
                    table = child;
                    level -= 1;
                }
                Decoded::Table(_) => return None,
                Decoded::Leaf { phys, permissions } => {
                    return Some(Mapping {
                        phys: phys + (iova & (span(level) - 1)),
                        page_size: PageSize::at_level(level)?,
                        permissions,
                    });
                }
            }
        }
    }

    /// Every leaf that overlaps `iova .. iova + len`, ascending: `(page IOVA, mapping of
    /// that page)`. For a range check, a dump or a teardown plan.
    pub fn mappings<M: DmaMemory + ?Sized>(
        &self,
        mem: &M,
        iova: u64,
        len: u64,
    ) -> Result<Vec<(u64, Mapping)>, Error> {
        let mut out = Vec::new();
        if let Some(end) = self.check_iova(iova, len)? {
            self.walk_leaves(mem, self.root, self.levels, iova, end, &mut out);
        }
        Ok(out)
    }

    fn walk_leaves<M: DmaMemory + ?Sized>(
        &self,
        mem: &M,
        table: u64,
        level: u8,
        start: u64,
        end: u64,
        out: &mut Vec<(u64, Mapping)>,
    ) {
        for (a, b) in slots(level, start, end) {
            match self
                .format
                .decode(mem.read64(entry_addr(table, level, a)), level)
            {
                Decoded::Leaf { phys, permissions } => {
                    if let Some(page_size) = PageSize::at_level(level) {
                        let mapping = Mapping {
                            phys,
                            page_size,
                            permissions,
                        };
                        out.push((a & !(span(level) - 1), mapping));
                    }
                }
                Decoded::Table(child) if level > 1 => {
                    self.walk_leaves(mem, child, level - 1, a, b, out);
                }
                _ => {}
            }
        }
    }

    /// Tears the table down: unlinks nothing (the caller has already detached it from
    /// every context / PASID entry) and lists every table page, the root included, in the
    /// returned [`Invalidation`] (the whole address space, non-leaf), to be freed with
    /// [`Invalidation::finish`] after the domain's caches are invalidated.
    pub fn destroy<M: DmaMemory + ?Sized>(self, mem: &M) -> Invalidation {
        let mut inv = Invalidation::none();
        self.collect_tables(mem, self.root, self.levels, &mut inv);
        inv.add_range(0, 1u64 << self.address_width);
        inv.set_non_leaf();
        inv
    }
}

/// The table descriptors passed from the root down (at most 4 for 5 levels).
type Path = crate::walk_path::Path<5>;

/// The constant parameters of one map operation.
struct MapOp {
    iova: u64,
    phys: u64,
    permissions: Permissions,
}

impl MapOp {
    /// The output address for `iova` (within the operation's range).
    fn phys_of(&self, iova: u64) -> u64 {
        self.phys + (iova - self.iova)
    }
}

/// A leaf being split.
#[derive(Clone, Copy)]
struct Leaf {
    level: u8,
    iova: u64,
    phys: u64,
    permissions: Permissions,
}

/// Tables needed to split a level-`level` leaf of which only `a .. b` is unmapped: one for
/// the leaf, plus those for the pages one level down that the cut's ends fall inside.
fn split_cost(level: u8, a: u64, b: u64) -> usize {
    let child = level - 1;
    let mut needed = 1;
    if child > 1 {
        for (x, y) in slots(child, a, b) {
            if y - x != span(child) {
                needed += split_cost(child, x, y);
            }
        }
    }
    needed
}
