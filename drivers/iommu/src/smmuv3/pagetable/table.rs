//! The table engine for both stages: a radix tree of granule-sized tables in
//! [`DmaMemory`], from the starting level (0 to 3, possibly with concatenated tables at
//! stage 2) down to level 3 (Arm ARM D8.2, D8.3).

use alloc::vec::Vec;

use super::descriptor::{count_of, decode, with_count};
use super::{
    Attributes, Decoded, Error, Granule, INPUT_BITS, Invalidation, Mapping, Stage, Stage1, Stage2,
    ips,
};
use crate::hw::DmaMemory;
use crate::walk_path::Step;

mod in_place;

/// Table memory allocated before an operation writes anything.
struct Pool {
    tables: Vec<u64>,
    frames: usize,
}

impl Pool {
    fn alloc<M: DmaMemory + ?Sized>(mem: &M, count: usize, frames: usize) -> Result<Self, Error> {
        let mut tables = Vec::new();
        if tables.try_reserve_exact(count).is_err() {
            return Err(Error::OutOfMemory);
        }
        let pool = |tables| Self { tables, frames };
        for _ in 0..count {
            match mem.alloc_pages(frames) {
                Some(t) => tables.push(t),
                None => {
                    pool(tables).release(mem);
                    return Err(Error::OutOfMemory);
                }
            }
        }
        Ok(pool(tables))
    }

    /// Returns the tables the operation did not use (none, when planning was exact).
    fn release<M: DmaMemory + ?Sized>(self, mem: &M) {
        for t in self.tables {
            mem.free_pages(t, self.frames);
        }
    }
}

/// A VMSAv8-64 translation table for one SMMUv3 stage: [`Stage1Table`] or
/// [`Stage2Table`]. See the [module documentation](super) for the rules.
///
/// The table does not hold its memory: every operation takes the [`DmaMemory`] the table
/// was created with. Mutations need `&mut self`; the caller serialises them.
///
/// [`Stage1Table`]: super::Stage1Table
/// [`Stage2Table`]: super::Stage2Table
#[derive(Debug)]
pub struct PageTable<S: Stage> {
    root: u64,
    granule: Granule,
    start_level: u8,
    /// Input-address bits the starting level resolves (more than the granule's stride
    /// when stage-2 tables are concatenated).
    root_bits: u32,
    input_bits: u8,
    output_bits: u8,
    stage: S,
}

/// The table-related fields of a stage-1 Context Descriptor (SMMUv3 §5.4). The CD's other
/// fields (V, AA64 = 1, EPD1 = 1 since TTB1 is unused, ASID, R, A, ...) are the CD
/// code's business.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CdFields {
    /// TTB0: the root table's address.
    pub ttb0: u64,
    /// T0SZ: 64 − input bits.
    pub t0sz: u8,
    /// TG0: the granule ([`Granule::tg0`]).
    pub tg0: u8,
    /// The granule itself (TG1 encodes it differently from TG0).
    pub granule: Granule,
    /// IR0 / OR0: table walk cacheability, 0b01 (write-back, write-allocate) for a
    /// coherent SMMU, 0b00 (non-cacheable) otherwise.
    pub ir0: u8,
    /// See [`ir0`](Self::ir0).
    pub or0: u8,
    /// SH0: table walk shareability, 0b11 inner shareable when coherent, else 0b10.
    pub sh0: u8,
    /// IPS: the output size ([`ips`]).
    pub ips: u8,
    /// MAIR: the memory attributes the descriptors' AttrIndx select ([`MAIR`](super::MAIR)).
    pub mair: u64,
}

/// The stage-2 fields of a Stream Table Entry (SMMUv3 §5.2). The STE's other stage-2 fields
/// (S2VMID, S2AA64 = 1, S2AFFD, S2PTW, S2R, ...) are the STE code's business.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SteFields {
    /// S2TTB: the (first concatenated) root table's address.
    pub s2ttb: u64,
    /// S2T0SZ: 64 − IPA bits.
    pub s2t0sz: u8,
    /// S2SL0: the starting level, as VTCR_EL2.SL0 (4 KiB: 0 = level 2, 1 = level 1,
    /// 2 = level 0; 16/64 KiB: 0 = level 3, 1 = level 2, 2 = level 1).
    pub s2sl0: u8,
    /// S2TG: the granule ([`Granule::tg0`]).
    pub s2tg: u8,
    /// S2PS: the output size ([`ips`]).
    pub s2ps: u8,
    /// S2IR0 / S2OR0: table walk cacheability (as [`CdFields::ir0`]).
    pub s2ir0: u8,
    /// See [`s2ir0`](Self::s2ir0).
    pub s2or0: u8,
    /// S2SH0: table walk shareability (as [`CdFields::sh0`]).
    pub s2sh0: u8,
}

/// Walk cacheability and shareability for [`CdFields`] / [`SteFields`].
const fn walk_attrs(coherent: bool) -> (u8, u8) {
    if coherent { (0b01, 0b11) } else { (0b00, 0b10) }
}

impl PageTable<Stage1> {
    /// A stage-1 table for input addresses below 2^`input_bits` (25..=48) with `granule`,
    /// mapping to output addresses below 2^`output_bits` (an IPS size up to 48, e.g.
    /// SMMU_IDR5.OAS). The starting level is the highest one the size needs.
    pub fn new<M: DmaMemory + ?Sized>(
        mem: &M,
        granule: Granule,
        input_bits: u8,
        output_bits: u8,
    ) -> Result<Self, Error> {
        Self::create(mem, granule, input_bits, output_bits)
    }

    /// The CD fields for this table; `coherent` is SMMU_IDR0.COHACC (table walks snoop).
    pub const fn cd_fields(&self, coherent: bool) -> CdFields {
        let (rgn, sh) = walk_attrs(coherent);
        CdFields {
            ttb0: self.root,
            t0sz: 64 - self.input_bits,
            tg0: self.granule.tg0(),
            granule: self.granule,
            ir0: rgn,
            or0: rgn,
            sh0: sh,
            ips: match ips(self.output_bits) {
                Some(v) => v,
                None => 0,
            },
            mair: super::MAIR,
        }
    }
}

impl PageTable<Stage2> {
    /// A stage-2 table for IPAs below 2^`input_bits` (25..=48, at most `output_bits`) with
    /// `granule`, mapping to PAs below 2^`output_bits` (an S2PS size up to 48). The starting
    /// level is the highest one the size needs, or one lower with 2 to 16 concatenated
    /// tables when that is possible (Arm ARM D8.2), as [`ste_fields`](Self::ste_fields)
    /// reports in S2SL0.
    pub fn new<M: DmaMemory + ?Sized>(
        mem: &M,
        granule: Granule,
        input_bits: u8,
        output_bits: u8,
    ) -> Result<Self, Error> {
        if input_bits > output_bits {
            return Err(Error::UnsupportedInputSize {
                requested: input_bits,
            });
        }
        Self::create(mem, granule, input_bits, output_bits)
    }

    /// The STE fields for this table; `coherent` is SMMU_IDR0.COHACC.
    pub const fn ste_fields(&self, coherent: bool) -> SteFields {
        let (rgn, sh) = walk_attrs(coherent);
        SteFields {
            s2ttb: self.root,
            s2t0sz: 64 - self.input_bits,
            s2sl0: self.sl0(),
            s2tg: self.granule.tg0(),
            s2ps: match ips(self.output_bits) {
                Some(v) => v,
                None => 0,
            },
            s2ir0: rgn,
            s2or0: rgn,
            s2sh0: sh,
        }
    }

    /// S2SL0 for the starting level (VTCR_EL2.SL0 encoding, see [`SteFields::s2sl0`]).
    pub const fn sl0(&self) -> u8 {
        match self.granule {
            Granule::Size4K => 2 - self.start_level,
            Granule::Size16K | Granule::Size64K => 3 - self.start_level,
        }
    }
}

/// Whether S2SL0 can name `level` as the stage-2 starting level without FEAT_TTST / LPA2.
const fn s2_start_allowed(granule: Granule, level: u8) -> bool {
    match granule {
        Granule::Size4K => level <= 2,
        Granule::Size16K | Granule::Size64K => level >= 1 && level <= 3,
    }
}

impl<S: Stage> PageTable<S> {
    fn create<M: DmaMemory + ?Sized>(
        mem: &M,
        granule: Granule,
        input_bits: u8,
        output_bits: u8,
    ) -> Result<Self, Error> {
        if !INPUT_BITS.contains(&input_bits) {
            return Err(Error::UnsupportedInputSize {
                requested: input_bits,
            });
        }
        if ips(output_bits).is_none() {
            return Err(Error::UnsupportedOutputSize {
                requested: output_bits,
            });
        }
        let g = granule.bits();
        let stride = granule.stride();
        let ia = u32::from(input_bits);
        // The levels needed: each resolves `stride` bits above the page offset.
        let levels = (ia - g).div_ceil(stride);
        let mut start = (4 - levels) as u8;
        let shift = |level: u8| g + (3 - u32::from(level)) * stride;
        if S::CONCATENATION {
            let lower = start + 1;
            // Up to 16 = 2^4 concatenated tables at the next level down.
            if lower <= 3 && s2_start_allowed(granule, lower) && ia - shift(lower) <= stride + 4 {
                start = lower;
            }
            if !s2_start_allowed(granule, start) {
                return Err(Error::UnsupportedInputSize {
                    requested: input_bits,
                });
            }
        }
        let root_bits = ia - shift(start);
        let mut table = Self {
            root: 0,
            granule,
            start_level: start,
            root_bits,
            input_bits,
            output_bits,
            stage: S::default(),
        };
        table.root = mem
            .alloc_pages(table.frames(start))
            .ok_or(Error::OutOfMemory)?;
        Ok(table)
    }

    /// The root table's address (CD.TTB0 / STE.S2TTB).
    pub const fn root(&self) -> u64 {
        self.root
    }

    /// The granule.
    pub const fn granule(&self) -> Granule {
        self.granule
    }

    /// The starting lookup level, 0 to 3.
    pub const fn start_level(&self) -> u8 {
        self.start_level
    }

    /// How many tables are concatenated at the starting level (1 unless stage 2 concatenates).
    pub const fn concatenated_tables(&self) -> u64 {
        let extra = self.root_bits.saturating_sub(self.granule.stride());
        1 << extra
    }

    /// Input addresses are below 2^`input_bits` (T0SZ / S2T0SZ = 64 − input bits).
    pub const fn input_bits(&self) -> u8 {
        self.input_bits
    }

    /// Output addresses are below 2^`output_bits` (IPS / S2PS).
    pub const fn output_bits(&self) -> u8 {
        self.output_bits
    }

    /// The stage.
    pub const fn stage(&self) -> S {
        self.stage
    }

    /// Bit position of the lowest input-address bit a level-`level` descriptor indexes.
    const fn shift(&self, level: u8) -> u32 {
        self.granule.bits() + (3 - level as u32) * self.granule.stride()
    }

    /// Bytes one level-`level` descriptor covers.
    const fn span(&self, level: u8) -> u64 {
        1 << self.shift(level)
    }

    /// The 4 KiB frames a level-`level` table takes.
    fn frames(&self, level: u8) -> usize {
        if level == self.start_level {
            let bytes = (8u64 << self.root_bits).max(self.granule.bytes());
            (bytes / super::FRAME_SIZE) as usize
        } else {
            self.granule.frames()
        }
    }

    /// The address of the descriptor for `iova` in the level-`level` table at `table`.
    fn entry_addr(&self, table: u64, level: u8, iova: u64) -> u64 {
        let bits = if level == self.start_level {
            self.root_bits
        } else {
            self.granule.stride()
        };
        table + ((iova >> self.shift(level)) & ((1 << bits) - 1)) * 8
    }

    fn decode(&self, raw: u64, level: u8) -> Decoded {
        decode(raw, level, self.granule)
    }

    /// The parts of `start .. end` that fall into successive level-`level` descriptors.
    fn slots(&self, level: u8, start: u64, end: u64) -> impl Iterator<Item = (u64, u64)> {
        let size = self.span(level);
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

    /// Checks an input range; `Ok(None)` for an empty one.
    fn check_input(&self, iova: u64, len: u64) -> Result<Option<u64>, Error> {
        let g = self.granule.bytes();
        if !iova.is_multiple_of(g) || !len.is_multiple_of(g) {
            return Err(Error::Unaligned);
        }
        let end = iova.checked_add(len).ok_or(Error::Overflow)?;
        if end > 1u64 << self.input_bits {
            return Err(Error::InputOutOfRange {
                input_bits: self.input_bits,
            });
        }
        Ok((len != 0).then_some(end))
    }

    /// Maps `iova .. iova + len` to `phys .. phys + len` with `attributes`, using the
    /// largest blocks that the alignment of both addresses and the granule allow.
    ///
    /// Fails without changing anything if any part of the range is already mapped
    /// ([`Error::AlreadyMapped`]), on bad input, or if a table cannot be allocated. An
    /// empty range maps nothing. Only invalid descriptors are replaced, so the returned
    /// [`Invalidation`] is empty: nothing needs invalidating.
    pub fn map<M: DmaMemory + ?Sized>(
        &mut self,
        mem: &M,
        iova: u64,
        phys: u64,
        len: u64,
        attributes: Attributes,
    ) -> Result<Invalidation, Error> {
        S::check(attributes)?;
        if !phys.is_multiple_of(self.granule.bytes()) {
            return Err(Error::Unaligned);
        }
        let Some(end) = self.check_input(iova, len)? else {
            return Ok(Invalidation::none());
        };
        let phys_end = phys.checked_add(len).ok_or(Error::Overflow)?;
        if phys_end > 1u64 << self.output_bits {
            return Err(Error::OutputOutOfRange {
                output_bits: self.output_bits,
            });
        }
        if let Some(level) = self.single_leaf_level(iova, phys, len)
            && let Some(done) = self.map_leaf_in_place(mem, level, iova, phys, attributes)
        {
            return done;
        }
        let op = MapOp {
            iova,
            phys,
            attributes,
        };
        let (path, table, level) = self.descend(mem, iova, end, false);
        let needed = self.plan_map(mem, &op, Some(table), level, iova, end)?;
        let mut pool = Pool::alloc(mem, needed, self.granule.frames())?;
        let added = self.commit_map(mem, &op, table, level, iova, end, &mut pool);
        if let Some(step) = path.last()
            && added != 0
        {
            mem.write64(step.at, with_count(step.raw, count_of(step.raw) + added));
        }
        pool.release(mem);
        mem.publish();
        Ok(Invalidation::none())
    }

    /// Goes down from the root while `start .. end` lies inside one descriptor that points
    /// to a table (for an unmap, only while it does not cover that descriptor entirely):
    /// a small operation then works on one table instead of recursing from the root.
    fn descend<M: DmaMemory + ?Sized>(
        &self,
        mem: &M,
        start: u64,
        end: u64,
        unmap: bool,
    ) -> (Path, u64, u8) {
        let mut path = Path::default();
        let mut table = self.root;
        let mut level = self.start_level;
        while level < 3 {
            let size = self.span(level);
            let base = start & !(size - 1);
            if end - base > size || (unmap && start == base && end - base == size) {
                break;
            }
            let at = self.entry_addr(table, level, start);
            let raw = mem.read64(at);
            let Decoded::Table(child) = self.decode(raw, level) else {
                break;
            };
            path.push(Step { at, raw, child });
            table = child;
            level += 1;
        }
        (path, table, level)
    }

    /// Whether `a .. b`, one slot of a level-`level` table, gets a leaf at that level.
    fn leaf_fits(&self, op: &MapOp, level: u8, a: u64, b: u64) -> bool {
        let size = self.span(level);
        self.granule.leaf_level(level)
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
        if table.is_none() && level == 3 {
            return Ok(0);
        }
        let mut needed = 0;
        for (a, b) in self.slots(level, start, end) {
            let decoded = match table {
                Some(t) => self.decode(mem.read64(self.entry_addr(t, level, a)), level),
                None => Decoded::Invalid,
            };
            match decoded {
                Decoded::Leaf(_) => return Err(Error::AlreadyMapped { iova: a }),
                Decoded::Table(child) if level < 3 => {
                    needed += self.plan_map(mem, op, Some(child), level + 1, a, b)?;
                }
                Decoded::Table(_) => return Err(Error::AlreadyMapped { iova: a }),
                Decoded::Invalid if level == 3 || self.leaf_fits(op, level, a, b) => {}
                Decoded::Invalid => {
                    needed += 1 + self.plan_map(mem, op, None, level + 1, a, b)?;
                }
            }
        }
        Ok(needed)
    }

    /// Writing pass of [`map`](Self::map); cannot fail once [`plan_map`](Self::plan_map)
    /// succeeded. Returns how many descriptors of `table` became valid.
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
    ) -> u64 {
        let mut added = 0;
        for (a, b) in self.slots(level, start, end) {
            let at = self.entry_addr(table, level, a);
            let raw = mem.read64(at);
            match self.decode(raw, level) {
                Decoded::Invalid if level == 3 || self.leaf_fits(op, level, a, b) => {
                    mem.write64(at, S::leaf_descriptor(op.phys_of(a), level, op.attributes));
                    added += 1;
                }
                Decoded::Invalid => {
                    let Some(child) = pool.tables.pop() else {
                        // Unreachable: planning counted this table.
                        continue;
                    };
                    let n = self.commit_map(mem, op, child, level + 1, a, b, pool);
                    // The new table is complete before the SMMU can reach it.
                    mem.publish();
                    mem.write64(at, with_count(S::table_descriptor(child), n));
                    added += 1;
                }
                Decoded::Table(child) if level < 3 => {
                    let n = self.commit_map(mem, op, child, level + 1, a, b, pool);
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

    /// Unmaps everything in `iova .. iova + len`; holes are skipped. Fails with
    /// [`Error::PartialBlock`], changing nothing, if the range covers only part of a block.
    /// Tables left empty are unlinked and listed in the result for freeing after the
    /// invalidation. Never allocates.
    pub fn unmap<M: DmaMemory + ?Sized>(
        &mut self,
        mem: &M,
        iova: u64,
        len: u64,
    ) -> Result<Invalidation, Error> {
        let Some(end) = self.check_input(iova, len)? else {
            return Ok(Invalidation::none());
        };
        if let Some(level) = self.single_leaf_level(iova, iova, len)
            && let Some(inv) = self.unmap_leaf_in_place(mem, level, iova)
        {
            return Ok(inv);
        }
        let (path, table, level) = self.descend(mem, iova, end, true);
        self.plan_unmap(mem, table, level, iova, end)?;
        let mut inv = Invalidation::none();
        let mut removed = self.commit_unmap(mem, table, level, iova, end, &mut inv);
        // Update the counts on the way up; a table that became empty goes, which removes
        // one descriptor from its parent.
        for step in path.iter().rev() {
            if removed == 0 {
                break;
            }
            let left = count_of(step.raw).saturating_sub(removed);
            if left == 0 {
                mem.write64(step.at, 0);
                inv.push_table(step.child, self.granule.frames());
                inv.set_non_leaf();
                removed = 1;
            } else {
                mem.write64(step.at, with_count(step.raw, left));
                removed = 0;
            }
        }
        mem.publish();
        Ok(inv)
    }

    /// Read-only pass of [`unmap`](Self::unmap): refuses to cut through a block.
    fn plan_unmap<M: DmaMemory + ?Sized>(
        &self,
        mem: &M,
        table: u64,
        level: u8,
        start: u64,
        end: u64,
    ) -> Result<(), Error> {
        for (a, b) in self.slots(level, start, end) {
            if b - a == self.span(level) {
                continue;
            }
            match self.decode(mem.read64(self.entry_addr(table, level, a)), level) {
                Decoded::Leaf(_) => {
                    let size = self.span(level);
                    return Err(Error::PartialBlock {
                        iova: a & !(size - 1),
                        size,
                    });
                }
                Decoded::Table(child) if level < 3 => {
                    self.plan_unmap(mem, child, level + 1, a, b)?;
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Writing pass of [`unmap`](Self::unmap). Returns how many descriptors of `table`
    /// stopped being valid.
    fn commit_unmap<M: DmaMemory + ?Sized>(
        &self,
        mem: &M,
        table: u64,
        level: u8,
        start: u64,
        end: u64,
        inv: &mut Invalidation,
    ) -> u64 {
        let mut removed = 0;
        for (a, b) in self.slots(level, start, end) {
            let at = self.entry_addr(table, level, a);
            let raw = mem.read64(at);
            let full = b - a == self.span(level);
            match self.decode(raw, level) {
                Decoded::Invalid => {}
                Decoded::Leaf(_) => {
                    // Planning made sure the range covers the whole leaf.
                    mem.write64(at, 0);
                    inv.add_range(a, b - a);
                    removed += 1;
                }
                Decoded::Table(child) if full => {
                    mem.write64(at, 0);
                    self.collect_tables(mem, child, level + 1, inv);
                    inv.add_range(a, b - a);
                    inv.set_non_leaf();
                    removed += 1;
                }
                Decoded::Table(child) => {
                    let n = self.commit_unmap(mem, child, level + 1, a, b, inv);
                    let left = count_of(raw).saturating_sub(n);
                    if left == 0 {
                        mem.write64(at, 0);
                        inv.push_table(child, self.granule.frames());
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

    /// Lists `table` (at `level`) and every table below it for freeing.
    fn collect_tables<M: DmaMemory + ?Sized>(
        &self,
        mem: &M,
        table: u64,
        level: u8,
        inv: &mut Invalidation,
    ) {
        if level < 3 {
            let entries = if level == self.start_level {
                1u64 << self.root_bits
            } else {
                1u64 << self.granule.stride()
            };
            for i in 0..entries {
                if let Decoded::Table(child) = self.decode(mem.read64(table + i * 8), level) {
                    self.collect_tables(mem, child, level + 1, inv);
                }
            }
        }
        inv.push_table(table, self.frames(level));
    }

    /// The translation of `iova`, if it is mapped.
    pub fn query<M: DmaMemory + ?Sized>(&self, mem: &M, iova: u64) -> Option<Mapping> {
        if iova >> self.input_bits != 0 {
            return None;
        }
        let mut table = self.root;
        let mut level = self.start_level;
        loop {
            let raw = mem.read64(self.entry_addr(table, level, iova));
            match self.decode(raw, level) {
                Decoded::Invalid => return None,
                Decoded::Table(child) if level < 3 => {
                    table = child;
                    level += 1;
                }
                Decoded::Table(_) => return None,
                Decoded::Leaf(oa) => {
                    let size = self.span(level);
                    return Some(Mapping {
                        phys: oa + (iova & (size - 1)),
                        level,
                        size,
                        attributes: S::attributes(raw),
                    });
                }
            }
        }
    }

    /// Tears the table down: the caller has already detached it from every CD / STE. Every
    /// table, the root included, is listed in the returned [`Invalidation`] (the whole
    /// input range, non-leaf), to be freed with [`Invalidation::finish`] after the ASID's /
    /// VMID's TLB entries are invalidated.
    pub fn destroy<M: DmaMemory + ?Sized>(self, mem: &M) -> Invalidation {
        let mut inv = Invalidation::none();
        self.collect_tables(mem, self.root, self.start_level, &mut inv);
        inv.add_range(0, 1u64 << self.input_bits);
        inv.set_non_leaf();
        inv
    }
}

/// The table descriptors passed from the root down (at most 3: levels 0, 1, 2).
type Path = crate::walk_path::Path<3>;

/// The constant parameters of one map operation.
struct MapOp {
    iova: u64,
    phys: u64,
    attributes: Attributes,
}

impl MapOp {
    /// The output address for `iova` (within the operation's range).
    fn phys_of(&self, iova: u64) -> u64 {
        self.phys + (iova - self.iova)
    }
}
