//! The engine: map, unmap and destroy over any [`Format`] (lookups in `query`).

use super::in_place::{LastWalk, MapInPlace, UnmapInPlace};
use super::path::{Path, Pool, Step};
use super::{Decoded, Error, Format, Geometry, Invalidation};
use crate::hw::DmaMemory;

/// A page table in format `F`. See the [module documentation](super) for the rules.
///
/// The table does not hold its memory: every operation takes the [`DmaMemory`] the table
/// was created with. Mutations need `&mut self`; the caller serialises them.
#[derive(Debug)]
pub struct Table<F: Format> {
    pub(super) root: u64,
    pub(super) geometry: Geometry,
    pub(super) format: F,
    /// Where the last single-leaf call's walk ended ([`LastWalk`]); forgotten by every
    /// change that may unlink or free a table.
    pub(super) last_walk: Option<LastWalk>,
}

/// Whether `x` is a multiple of `size`, a power of two (every page, block and span is):
/// a mask, where `is_multiple_of` with a size known only at run time divides.
#[inline]
pub(super) const fn aligned(x: u64, size: u64) -> bool {
    x & (size - 1) == 0
}

/// The parts of `start .. end` that fall into successive entries of `span` bytes.
pub(super) fn slots(span: u64, start: u64, end: u64) -> impl Iterator<Item = (u64, u64)> {
    let mut a = start;
    core::iter::from_fn(move || {
        if a >= end {
            return None;
        }
        let b = ((a & !(span - 1)) + span).min(end);
        let slot = (a, b);
        a = b;
        Some(slot)
    })
}

/// The most levels a table may have: the path an unmap walks records the table entries
/// above the leaf level ([`Path`]).
const MAX_LEVELS: u8 = 6;

/// The constant parameters of one map operation.
struct MapOp<A> {
    iova: u64,
    phys: u64,
    attributes: A,
}

impl<A> MapOp<A> {
    /// The output address for `iova` (within the operation's range).
    fn phys_of(&self, iova: u64) -> u64 {
        self.phys + (iova - self.iova)
    }
}

/// A leaf being split.
#[derive(Clone, Copy)]
struct Leaf<A> {
    height: u8,
    iova: u64,
    phys: u64,
    attributes: A,
}

impl<F: Format> Table<F> {
    /// A table of `geometry` in `format`, its root allocated (zeroed: every entry invalid).
    /// Refuses ([`Error::UnsupportedInputSize`]) a geometry the engine cannot walk: 1 to 6
    /// levels (the deepest path it records), a shape other than the format's fixed one, or
    /// an input wider than the levels resolve.
    pub fn create<M: DmaMemory + ?Sized>(
        mem: &M,
        format: F,
        geometry: Geometry,
    ) -> Result<Self, Error> {
        let g = &geometry;
        let fixed_ok = F::FIXED_SHAPE.is_none_or(|(page, stride)| {
            g.page_bits == page && g.stride == stride && g.root_bits == stride
        });
        let resolved = u32::from(g.page_bits)
            + u32::from(g.stride) * u32::from(g.levels.saturating_sub(1))
            + u32::from(g.root_bits);
        if !(1..=MAX_LEVELS).contains(&g.levels)
            || !fixed_ok
            || u32::from(g.input_bits) > resolved
            || g.page_bits < 12
            || g.input_bits >= 64
        {
            return Err(Error::UnsupportedInputSize {
                requested: g.input_bits,
            });
        }
        let root = mem
            .alloc_pages(geometry.frames(geometry.root_height()))
            .ok_or(Error::OutOfMemory)?;
        Ok(Self {
            root,
            geometry,
            format,
            last_walk: None,
        })
    }

    /// The physical address of the root table.
    pub const fn root(&self) -> u64 {
        self.root
    }

    /// The table's shape.
    pub const fn geometry(&self) -> &Geometry {
        &self.geometry
    }

    /// The number of levels.
    pub const fn levels(&self) -> u8 {
        self.geometry.levels
    }

    /// Input addresses are below 2^`input_bits`.
    pub const fn input_bits(&self) -> u8 {
        self.geometry.input_bits
    }

    /// Output addresses are below 2^`output_bits`.
    pub const fn output_bits(&self) -> u8 {
        self.geometry.output_bits
    }

    /// The entry format.
    pub const fn format(&self) -> F {
        self.format
    }

    /// The smallest page, in bytes.
    #[inline]
    fn page(&self) -> u64 {
        match F::FIXED_SHAPE {
            Some((page, _)) => 1 << page,
            None => self.geometry.page_size(),
        }
    }

    /// The lowest input-address bit a table at `height` indexes.
    #[inline]
    pub(super) fn shift(&self, height: u8) -> u32 {
        match F::FIXED_SHAPE {
            Some((page, stride)) => page as u32 + height as u32 * stride as u32,
            None => self.geometry.shift(height),
        }
    }

    /// The bytes one entry at `height` maps.
    #[inline]
    pub(super) fn span(&self, height: u8) -> u64 {
        1 << self.shift(height)
    }

    /// The address of the entry for `iova` in the table at `table` of `height`.
    #[inline]
    pub(super) fn entry_addr(&self, table: u64, height: u8, iova: u64) -> u64 {
        match F::FIXED_SHAPE {
            Some((_, stride)) => table + ((iova >> self.shift(height)) & ((1 << stride) - 1)) * 8,
            None => self.geometry.entry_addr(table, height, iova),
        }
    }

    #[inline]
    pub(super) fn decode(&self, raw: u64, height: u8) -> Decoded {
        self.format.decode(raw, height, &self.geometry)
    }

    /// Checks an input range; `Ok(None)` for an empty one.
    pub(super) fn check_input(&self, iova: u64, len: u64) -> Result<Option<u64>, Error> {
        if !aligned(iova | len, self.page()) {
            return Err(Error::Unaligned);
        }
        let end = iova.checked_add(len).ok_or(Error::Overflow)?;
        if end > 1u64 << self.geometry.input_bits {
            return Err(Error::InputOutOfRange {
                input_bits: self.geometry.input_bits,
            });
        }
        Ok((len != 0).then_some(end))
    }

    /// Maps `iova .. iova + len` to `phys .. phys + len` with `attributes`, using the
    /// largest leaves that the alignment of both addresses and the format allow.
    ///
    /// Fails without changing anything if any part of the range is already mapped
    /// ([`Error::AlreadyMapped`]), on bad input, or if a table cannot be allocated. An
    /// empty range maps nothing. See [`Invalidation`] for what the result asks of the
    /// caller (nothing, for formats whose TLBs hold no invalid entries).
    #[inline(always)]
    pub fn map<M: DmaMemory + ?Sized>(
        &mut self,
        mem: &M,
        iova: u64,
        phys: u64,
        len: u64,
        attributes: F::Attributes,
    ) -> Result<Invalidation, Error> {
        // Only the written leaf returns here; the rest (errors included) is built out of
        // line, so this path writes its result in whole words.
        match self.map_remembered(mem, iova, phys, len, attributes) {
            MapInPlace::Written => Ok(Self::mapped(iova, len)),
            _ => self.map_walked(mem, iova, phys, len, attributes),
        }
    }

    /// What mapping `iova .. iova + len` asks to invalidate: the range where the format's
    /// caches may hold invalid entries ([`Format::MAP_INVALIDATES`]), nothing elsewhere.
    #[inline(always)]
    pub(super) const fn mapped(iova: u64, len: u64) -> Invalidation {
        if F::MAP_INVALIDATES {
            Invalidation::leaf_range(iova, len)
        } else {
            Invalidation::none()
        }
    }

    /// [`map`](Self::map) from the root: every check, then a single leaf in place or the
    /// general path. Out of line, so that what `map` inlines stays small.
    #[inline(never)]
    fn map_walked<M: DmaMemory + ?Sized>(
        &mut self,
        mem: &M,
        iova: u64,
        phys: u64,
        len: u64,
        attributes: F::Attributes,
    ) -> Result<Invalidation, Error> {
        self.format.check(attributes)?;
        if !aligned(phys, self.page()) {
            return Err(Error::Unaligned);
        }
        if self.check_input(iova, len)?.is_none() {
            return Ok(Invalidation::none());
        }
        let phys_end = phys.checked_add(len).ok_or(Error::Overflow)?;
        if phys_end > 1u64 << self.geometry.output_bits {
            return Err(Error::OutputOutOfRange {
                output_bits: self.geometry.output_bits,
            });
        }
        if let Some(height) = self.single_leaf_height(iova, phys, len) {
            let done = self.map_leaf_in_place(mem, height, iova, phys, attributes);
            if let Some(result) = done.result::<F>(iova, len) {
                return result;
            }
        }
        self.map_planned(mem, iova, phys, len, attributes)
    }

    /// The general [`map`](Self::map) (descend, plan, allocate, commit), kept
    /// out of line so the single-leaf path stays small.
    #[inline(never)]
    fn map_planned<M: DmaMemory + ?Sized>(
        &mut self,
        mem: &M,
        iova: u64,
        phys: u64,
        len: u64,
        attributes: F::Attributes,
    ) -> Result<Invalidation, Error> {
        let end = iova + len;
        let op = MapOp {
            iova,
            phys,
            attributes,
        };
        let (path, table, height) = self.descend(mem, iova, end, false);
        let needed = self.plan_map(mem, &op, Some(table), height, iova, end)?;
        let frames = self.geometry.frames(0);
        let mut pool = Pool::alloc(mem, needed, frames)?;
        // The commit adds no ranges of its own: the whole range changed.
        let mut inv = Self::mapped(iova, len);
        let added = self.commit_map(
            mem,
            &op,
            (table, false),
            height,
            iova,
            end,
            &mut pool,
            &mut inv,
        );
        if let Some(step) = path.last()
            && added != 0
        {
            mem.write64(
                step.at,
                F::with_count(step.raw, F::count_of(step.raw) + added),
            );
        }
        pool.release(mem);
        mem.publish();
        Ok(inv)
    }

    /// Goes down from the root while `start .. end` lies inside one entry that points to a
    /// table (for an unmap, only while it does not cover that entry entirely): a small
    /// operation then works on one table instead of recursing from the root. Returns the
    /// entries passed and the table and height reached.
    fn descend<M: DmaMemory + ?Sized>(
        &self,
        mem: &M,
        start: u64,
        end: u64,
        unmap: bool,
    ) -> (Path<{ MAX_LEVELS as usize - 1 }>, u64, u8) {
        let mut path = Path::default();
        let mut table = self.root;
        let mut height = self.geometry.root_height();
        while height > 0 {
            let size = self.span(height);
            let base = start & !(size - 1);
            if end - base > size || (unmap && start == base && end - base == size) {
                break;
            }
            let at = self.entry_addr(table, height, start);
            let raw = mem.read64(at);
            let Decoded::Table(child) = self.decode(raw, height) else {
                break;
            };
            path.push(Step { at, raw, child });
            table = child;
            height -= 1;
        }
        (path, table, height)
    }

    /// Whether all of `start .. end`, inside one table at `height`, is leaves of that
    /// height: both ends and the output aligned to the leaf size, which is allowed there.
    #[inline]
    fn all_leaves(&self, op: &MapOp<F::Attributes>, height: u8, start: u64, end: u64) -> bool {
        let size = self.span(height);
        self.geometry.leaf_allowed(height) && aligned(start | end | op.phys_of(start), size)
    }

    /// Whether `a .. b`, one slot of a table at `height`, gets a leaf there.
    fn leaf_fits(&self, op: &MapOp<F::Attributes>, height: u8, a: u64, b: u64) -> bool {
        let size = self.span(height);
        self.geometry.leaf_allowed(height) && aligned(a | op.phys_of(a), size) && b - a == size
    }

    /// Read-only pass of [`map`](Self::map): checks that nothing in the range is mapped and
    /// counts the tables to allocate. `table` is `None` for a table still to be created.
    fn plan_map<M: DmaMemory + ?Sized>(
        &self,
        mem: &M,
        op: &MapOp<F::Attributes>,
        table: Option<u64>,
        height: u8,
        start: u64,
        end: u64,
    ) -> Result<usize, Error> {
        if table.is_none() && (height == 0 || self.all_leaves(op, height, start, end)) {
            return Ok(0);
        }
        let mut needed = 0;
        for (a, b) in slots(self.span(height), start, end) {
            let decoded = match table {
                Some(t) => self.decode(mem.read64(self.entry_addr(t, height, a)), height),
                None => Decoded::Invalid,
            };
            match decoded {
                Decoded::Leaf(_) => return Err(Error::AlreadyMapped { iova: a }),
                Decoded::Table(child) if height > 0 => {
                    needed += self.plan_map(mem, op, Some(child), height - 1, a, b)?;
                }
                Decoded::Table(_) => return Err(Error::AlreadyMapped { iova: a }),
                Decoded::Invalid if self.leaf_fits(op, height, a, b) => {}
                Decoded::Invalid => {
                    needed += 1 + self.plan_map(mem, op, None, height - 1, a, b)?;
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
        op: &MapOp<F::Attributes>,
        (table, fresh): (u64, bool),
        height: u8,
        start: u64,
        end: u64,
        pool: &mut Pool,
        inv: &mut Invalidation,
    ) -> u64 {
        // Every leaf of this table is the same bits with its own address.
        let template = self.format.leaf_entry(0, height, op.attributes);
        if fresh && self.all_leaves(op, height, start, end) {
            // A new table of leaves only: consecutive entries, nothing to read.
            let size = self.span(height);
            let (mut at, mut phys) = (self.entry_addr(table, height, start), op.phys_of(start));
            let count = (end - start) / size;
            for _ in 0..count {
                mem.write64(at, template | phys);
                at += 8;
                phys += size;
            }
            return count;
        }
        let mut added = 0;
        for (a, b) in slots(self.span(height), start, end) {
            let at = self.entry_addr(table, height, a);
            // A table just taken from the pool is zeroed: nothing to read.
            let raw = if fresh { 0 } else { mem.read64(at) };
            match self.decode(raw, height) {
                Decoded::Invalid if self.leaf_fits(op, height, a, b) => {
                    mem.write64(at, template | op.phys_of(a));
                    added += 1;
                }
                Decoded::Invalid if height > 0 => {
                    let Some(child) = pool.take() else {
                        // Unreachable: planning counted this table.
                        continue;
                    };
                    let n = self.commit_map(mem, op, (child, true), height - 1, a, b, pool, inv);
                    // The new table is complete before the hardware can reach it.
                    mem.publish();
                    mem.write64(at, F::with_count(self.format.table_entry(child), n));
                    if F::MAP_INVALIDATES {
                        inv.set_non_leaf();
                    }
                    added += 1;
                }
                Decoded::Table(child) if height > 0 => {
                    let n = self.commit_map(mem, op, (child, false), height - 1, a, b, pool, inv);
                    if n != 0 {
                        mem.write64(at, F::with_count(raw, F::count_of(raw) + n));
                    }
                }
                // Unreachable: planning refused ranges that hold mappings.
                _ => {}
            }
        }
        added
    }

    /// Unmaps everything in `iova .. iova + len`; holes are skipped. A block only partly in
    /// the range is split when the format splits blocks (which needs tables:
    /// [`Error::OutOfMemory`] if they cannot be had, with nothing changed), so what stays
    /// mapped keeps its translation; otherwise the call fails with [`Error::PartialBlock`],
    /// changing nothing. Tables left empty are unlinked and listed in the result for
    /// freeing after the invalidation.
    #[inline(always)]
    pub fn unmap<M: DmaMemory + ?Sized>(
        &mut self,
        mem: &M,
        iova: u64,
        len: u64,
    ) -> Result<Invalidation, Error> {
        // As in `map`: only the cleared leaf returns here.
        match self.unmap_remembered(mem, iova, len) {
            UnmapInPlace::Cleared => Ok(Invalidation::leaf_range(iova, len)),
            _ => self.unmap_walked(mem, iova, len),
        }
    }

    /// [`unmap`](Self::unmap) from the root: the checks, then a single leaf in place or
    /// the general path. Out of line, so that what `unmap` inlines stays small.
    #[inline(never)]
    fn unmap_walked<M: DmaMemory + ?Sized>(
        &mut self,
        mem: &M,
        iova: u64,
        len: u64,
    ) -> Result<Invalidation, Error> {
        let Some(end) = self.check_input(iova, len)? else {
            return Ok(Invalidation::none());
        };
        if let Some(height) = self.single_leaf_height(iova, iova, len) {
            let done = self.unmap_leaf_in_place(mem, height, iova);
            if let Some(result) = done.result(iova, len) {
                return result;
            }
        }
        self.unmap_planned(mem, iova, end)
    }

    /// The general [`unmap`](Self::unmap), kept out of line so the
    /// single-leaf path stays small.
    #[inline(never)]
    fn unmap_planned<M: DmaMemory + ?Sized>(
        &mut self,
        mem: &M,
        iova: u64,
        end: u64,
    ) -> Result<Invalidation, Error> {
        // This path unlinks emptied tables and splits blocks: a remembered walk may end in
        // a table about to be freed.
        self.last_walk = None;
        let (path, table, height) = self.descend(mem, iova, end, true);
        let needed = self.plan_unmap(mem, table, height, iova, end)?;
        let frames = self.geometry.frames(0);
        let mut pool = Pool::alloc(mem, needed, frames)?;
        let mut inv = Invalidation::none();
        let mut removed = self.commit_unmap(mem, table, height, iova, end, &mut pool, &mut inv);
        // Update the counts on the way up; a table that became empty goes, which removes
        // one entry from its parent.
        for step in path.iter().rev() {
            if removed == 0 {
                break;
            }
            let left = F::count_of(step.raw).saturating_sub(removed);
            if left == 0 {
                mem.write64(step.at, 0);
                inv.push_table(step.child, frames);
                inv.set_non_leaf();
                removed = 1;
            } else {
                mem.write64(step.at, F::with_count(step.raw, left));
                removed = 0;
            }
        }
        pool.release(mem);
        mem.publish();
        Ok(inv)
    }

    /// Read-only pass of [`unmap`](Self::unmap): counts the tables that splitting blocks
    /// needs, or refuses to cut a block when the format does not split.
    fn plan_unmap<M: DmaMemory + ?Sized>(
        &self,
        mem: &M,
        table: u64,
        height: u8,
        start: u64,
        end: u64,
    ) -> Result<usize, Error> {
        let size = self.span(height);
        let mut needed = 0;
        for (a, b) in slots(size, start, end) {
            if b - a == size {
                continue;
            }
            match self.decode(mem.read64(self.entry_addr(table, height, a)), height) {
                Decoded::Leaf(_) if F::SPLITS_BLOCKS => needed += self.split_cost(height, a, b),
                Decoded::Leaf(_) => {
                    return Err(Error::PartialBlock {
                        iova: a & !(size - 1),
                        size,
                    });
                }
                Decoded::Table(child) if height > 0 => {
                    needed += self.plan_unmap(mem, child, height - 1, a, b)?;
                }
                _ => {}
            }
        }
        Ok(needed)
    }

    /// Tables needed to split a leaf at `height` of which only `a .. b` is unmapped: one for
    /// the leaf, plus those for the leaves one level down that the cut's ends fall inside.
    fn split_cost(&self, height: u8, a: u64, b: u64) -> usize {
        let child = height - 1;
        let size = self.span(child);
        let mut needed = 1;
        if child > 0 {
            for (x, y) in slots(size, a, b) {
                if y - x != size {
                    needed += self.split_cost(child, x, y);
                }
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
        height: u8,
        start: u64,
        end: u64,
        pool: &mut Pool,
        inv: &mut Invalidation,
    ) -> u64 {
        let size = self.span(height);
        let frames = self.geometry.frames(0);
        let mut removed = 0;
        for (a, b) in slots(size, start, end) {
            let at = self.entry_addr(table, height, a);
            let raw = mem.read64(at);
            let full = b - a == size;
            match self.decode(raw, height) {
                Decoded::Invalid => {}
                Decoded::Leaf(_) if full => {
                    mem.write64(at, 0);
                    inv.add_range(a, b - a);
                    removed += 1;
                }
                Decoded::Leaf(phys) => {
                    // Planning allowed this only for formats that split blocks.
                    let leaf = Leaf {
                        height,
                        iova: a & !(size - 1),
                        phys,
                        attributes: self.format.attributes(raw),
                    };
                    if let Some((child, n)) = self.split(mem, leaf, a, b, pool) {
                        mem.publish();
                        mem.write64(at, F::with_count(self.format.table_entry(child), n));
                        inv.add_range(a, b - a);
                        inv.set_non_leaf();
                    }
                }
                Decoded::Table(child) if full => {
                    mem.write64(at, 0);
                    self.collect_tables(mem, child, height - 1, inv);
                    inv.add_range(a, b - a);
                    inv.set_non_leaf();
                    removed += 1;
                }
                Decoded::Table(child) => {
                    let n = self.commit_unmap(mem, child, height - 1, a, b, pool, inv);
                    let left = F::count_of(raw).saturating_sub(n);
                    if left == 0 {
                        mem.write64(at, 0);
                        inv.push_table(child, frames);
                        inv.set_non_leaf();
                        removed += 1;
                    } else if n != 0 {
                        mem.write64(at, F::with_count(raw, left));
                    }
                }
            }
        }
        removed
    }

    /// Builds, off-line, the table that replaces block `leaf` with leaves one level down,
    /// leaving out `cut_start .. cut_end` (splitting further where the cut's ends fall
    /// inside those leaves). Returns the table and its present-entry count.
    fn split<M: DmaMemory + ?Sized>(
        &self,
        mem: &M,
        leaf: Leaf<F::Attributes>,
        cut_start: u64,
        cut_end: u64,
        pool: &mut Pool,
    ) -> Option<(u64, u64)> {
        let height = leaf.height - 1;
        let table = pool.take()?;
        let size = self.span(height);
        let mut count = 0;
        for i in 0..self.geometry.entries(height) {
            let x = leaf.iova + i * size;
            let y = x + size;
            let phys = leaf.phys + i * size;
            let at = table + i * 8;
            if y <= cut_start || x >= cut_end {
                let entry = self.format.leaf_entry(phys, height, leaf.attributes);
                mem.write64(at, entry);
                count += 1;
            } else if x < cut_start || y > cut_end {
                let part = Leaf {
                    height,
                    iova: x,
                    phys,
                    attributes: leaf.attributes,
                };
                if let Some((sub, n)) = self.split(mem, part, cut_start, cut_end, pool) {
                    mem.write64(at, F::with_count(self.format.table_entry(sub), n));
                    count += 1;
                }
            }
        }
        Some((table, count))
    }

    /// Lists `table` (at `height`) and every table below it for freeing.
    fn collect_tables<M: DmaMemory + ?Sized>(
        &self,
        mem: &M,
        table: u64,
        height: u8,
        inv: &mut Invalidation,
    ) {
        if height > 0 {
            for i in 0..self.geometry.entries(height) {
                if let Decoded::Table(child) = self.decode(mem.read64(table + i * 8), height) {
                    self.collect_tables(mem, child, height - 1, inv);
                }
            }
        }
        inv.push_table(table, self.geometry.frames(height));
    }

    /// Tears the table down: the caller has already detached it from every context /
    /// PASID entry, CD or STE. Every table, the root included, is listed in the returned
    /// [`Invalidation`] (the whole input range, non-leaf), to be freed with
    /// [`Invalidation::finish`] after the caches are invalidated.
    pub fn destroy<M: DmaMemory + ?Sized>(self, mem: &M) -> Invalidation {
        let mut inv = Invalidation::none();
        self.collect_tables(mem, self.root, self.geometry.root_height(), &mut inv);
        inv.add_range(0, 1u64 << self.geometry.input_bits);
        inv.set_non_leaf();
        inv
    }
}
