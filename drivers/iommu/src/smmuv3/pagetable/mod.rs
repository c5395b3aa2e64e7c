//! Arm VMSAv8-64 translation tables for SMMUv3 stage 1 and stage 2.
//!
//! The SMMU walks the same long-descriptor tables as the PE (SMMUv3 §3.4; Arm ARM D8 "The
//! AArch64 Virtual Memory System Architecture"): a stage-1 table hangs off a Context
//! Descriptor (CD.TTB0, §5.4), a stage-2 table off a Stream Table Entry (STE.S2TTB, §5.2).
//!
//! - [`Stage1Table`]: stage-1 descriptors (AttrIndx, AP, SH, AF, nG, PXN/UXN). Its
//!   [`cd_fields`](PageTable::cd_fields) are the CD's TTB0, T0SZ, TG0, IR0/OR0/SH0, IPS and
//!   the MAIR value whose indexes the descriptors use ([`MAIR`]).
//! - [`Stage2Table`]: stage-2 descriptors (MemAttr, S2AP, SH, AF, XN). Its
//!   [`ste_fields`](PageTable::ste_fields) are the STE's S2TTB, S2T0SZ, S2SL0, S2TG,
//!   S2IR0/S2OR0/S2SH0, S2PS.
//!
//! # Geometry (Arm ARM D8.2 "Translation table descriptor formats" / D8.3 lookups)
//! Granules of 4 KiB, 16 KiB and 64 KiB ([`Granule`]); a table is one granule of 8-byte
//! descriptors, each level resolving `granule bits − 3` address bits, level 3 holding pages.
//! The starting level is the highest one needed for the input size (T0SZ / S2T0SZ = 64 −
//! input bits; 25 to 48 bits are accepted, the range QEMU and SMMUv3 without 52-bit
//! addressing allow). Stage 2 may instead start one level lower with up to 16 *concatenated*
//! tables at the start level (Arm ARM D8.2.x "concatenated translation tables"): this module
//! does so whenever concatenation avoids a level (e.g. 4 KiB granule, 40-bit IPA: two
//! concatenated level-1 tables, S2SL0 = 1), and never starts where S2SL0 cannot say it
//! (4 KiB: levels 0–2; 16/64 KiB: levels 1–3). Output addresses up to 48 bits (no LPA).
//!
//! Block mappings (Arm ARM D8.2): 4 KiB granule — 1 GiB at level 1, 2 MiB at level 2;
//! 16 KiB — 32 MiB at level 2; 64 KiB — 512 MiB at level 2. A map uses the
//! largest one that the alignment of both addresses allows. The contiguous hint is never
//! set.
//!
//! # Operations
//! The page-table engine all formats share ([`crate::pt`]) does them, with the rules it
//! states (all-or-nothing, holes skipped, emptied tables freed after invalidation). What
//! is VMSA's: `unmap` refuses
//! ([`Error::PartialBlock`]) to cut through a block, rather than splitting it: replacing a
//! live block by a table is a change of block size, which needs break-before-make (Arm ARM
//! D8.16.1) unless SMMU_IDR3.BBML says otherwise. A caller that really wants a hole in a
//! block unmaps the block, invalidates, and maps the remainder.
//!
//! # Invalidation
//! `unmap` returns an [`Invalidation`]: the IOVA (stage 1) / IPA (stage 2)
//! ranges whose TLB entries are stale, whether only leaf descriptors changed (the `Leaf`
//! hint of TLBI_NH_VA / TLBI_S2_IPA, SMMUv3 §4.4), and the table pages unlinked, which
//! [`Invalidation::finish`] frees once the invalidation has completed (CMD_SYNC seen):
//! until then the SMMU may still walk them. [`Invalidation::tlbi_commands`] turns the ranges
//! into range invalidations (SMMU_IDR3.RIL: TG/NUM/SCALE, O(log N) commands for N pages),
//! per-address invalidations, or one whole-ASID / whole-VMID invalidation. A
//! map only replaces invalid descriptors, which no TLB or walk cache holds
//! (Arm ARM D8.16 "Translation Lookaside Buffers"), so it returns an empty `Invalidation`;
//! the caller only needs the table writes to be visible ([`DmaMemory::publish`]).
//!
//! # Software bits
//! A table descriptor records how many valid descriptors the table it points to holds, in
//! bits 9:2 and 58:52, which are IGNORED in table descriptors of both stages (Arm ARM D8.3.1
//! "Table descriptor format"). "Is this table empty now" is then O(1).
//!
//! [`DmaMemory::publish`]: crate::hw::DmaMemory::publish

mod descriptor;
mod invalidation;
mod table;
#[cfg(test)]
mod tests;

pub use descriptor::{
    MemAttr, S1Flags, S2Flags, Shareability, Stage, Stage1, Stage1Descriptor, Stage2,
    Stage2Descriptor,
};
pub use invalidation::{TlbiCommand, TlbiConfig, TlbiVa, tlbi_commands};
pub use table::{CdFields, SteFields};

pub use crate::pt::{Error, Invalidation, IovaRange, Permissions};

/// A VMSAv8-64 translation table for one SMMUv3 stage.
pub type PageTable<S> = crate::pt::Table<S>;

/// A stage-1 table (CD.TTB0).
pub type Stage1Table = PageTable<Stage1>;
/// A stage-2 table (STE.S2TTB).
pub type Stage2Table = PageTable<Stage2>;

pub use crate::pt::FRAME_SIZE;
/// The widest output address this module writes: 48 bits (no FEAT_LPA / LPA2).
pub const MAX_OUTPUT_BITS: u8 = 48;
/// The narrowest and widest input sizes accepted (T0SZ / S2T0SZ 39 down to 16).
pub const INPUT_BITS: core::ops::RangeInclusive<u8> = 25..=48;

/// The translation granule (Arm ARM D8.2; CD.TG0, STE.S2TG).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Granule {
    /// 4 KiB pages, 512 descriptors per table.
    Size4K,
    /// 16 KiB pages, 2048 descriptors per table.
    Size16K,
    /// 64 KiB pages, 8192 descriptors per table.
    Size64K,
}

impl Granule {
    /// log2 of the granule size: 12, 14 or 16.
    pub const fn bits(self) -> u32 {
        match self {
            Self::Size4K => 12,
            Self::Size16K => 14,
            Self::Size64K => 16,
        }
    }

    /// The granule (page and table) size in bytes.
    pub const fn bytes(self) -> u64 {
        1 << self.bits()
    }

    /// Address bits each lookup level resolves: granule bits − 3 (8-byte descriptors).
    pub const fn stride(self) -> u32 {
        self.bits() - 3
    }

    /// The 4 KiB frames one table takes.
    pub const fn frames(self) -> usize {
        (self.bytes() / FRAME_SIZE) as usize
    }

    /// The TG0 field of the CD (§5.4) and the S2TG field of the STE (§5.2), which use the
    /// TCR_EL1.TG0 / VTCR_EL2.TG0 encoding: 0b00 4 KiB, 0b01 64 KiB, 0b10 16 KiB.
    pub const fn tg0(self) -> u8 {
        match self {
            Self::Size4K => 0b00,
            Self::Size64K => 0b01,
            Self::Size16K => 0b10,
        }
    }

    /// The TG field of a range TLBI command (SMMUv3 §4.4.1): 0b01 4 KiB, 0b10 16 KiB,
    /// 0b11 64 KiB (0b00 means "not a range").
    pub const fn tlbi_tg(self) -> u8 {
        match self {
            Self::Size4K => 0b01,
            Self::Size16K => 0b10,
            Self::Size64K => 0b11,
        }
    }

    /// Whether a block (or, at level 3, page) descriptor may sit at `level` with 48-bit
    /// output addresses (Arm ARM D8.2): 4 KiB at levels 1–3, 16/64 KiB at levels 2–3.
    pub const fn leaf_level(self, level: u8) -> bool {
        match self {
            Self::Size4K => level >= 1 && level <= 3,
            Self::Size16K | Self::Size64K => level == 2 || level == 3,
        }
    }

    /// The granules the SMMU supports according to SMMU_IDR5 (§6.3.6).
    pub const fn supported(self, idr5: crate::smmuv3::regs::Idr5) -> bool {
        match self {
            Self::Size4K => idr5.gran4k(),
            Self::Size16K => idr5.gran16k(),
            Self::Size64K => idr5.gran64k(),
        }
    }
}

/// The memory type of a mapping: a MAIR index at stage 1 ([`MAIR`]), MemAttr at stage 2.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MemoryType {
    /// Normal memory, inner and outer write-back read/write-allocate, inner shareable.
    Normal,
    /// Normal memory, inner and outer non-cacheable (outer shareable).
    NormalNonCacheable,
    /// Device-nGnRE (device registers, e.g. an MSI doorbell).
    Device,
}

/// The MAIR value for CD.MAIR0/MAIR1 (§5.4) that the stage-1 AttrIndx values use
/// (Arm ARM D19 MAIR_EL1): Attr0 = 0xFF (Normal WB RW-allocate), Attr1 = 0x04
/// (Device-nGnRE), Attr2 = 0x44 (Normal non-cacheable).
pub const MAIR: u64 = 0x44_04_FF;

impl MemoryType {
    /// The stage-1 AttrIndx (index into [`MAIR`]).
    pub const fn attr_indx(self) -> u8 {
        match self {
            Self::Normal => 0,
            Self::Device => 1,
            Self::NormalNonCacheable => 2,
        }
    }

    /// The type with stage-1 AttrIndx `index` in [`MAIR`].
    pub const fn from_attr_indx(index: u8) -> Option<Self> {
        match index {
            0 => Some(Self::Normal),
            1 => Some(Self::Device),
            2 => Some(Self::NormalNonCacheable),
            _ => None,
        }
    }

    /// The shareability this module gives the type: inner for write-back Normal memory,
    /// outer for the others (for which hardware treats SH as outer shareable anyway).
    pub const fn shareability(self) -> Shareability {
        match self {
            Self::Normal => Shareability::Inner,
            Self::Device | Self::NormalNonCacheable => Shareability::Outer,
        }
    }
}

/// Everything a leaf descriptor says about a mapping.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Attributes {
    /// What accesses are permitted.
    pub permissions: Permissions,
    /// The memory type.
    pub memory: MemoryType,
    /// Stage 1 only: deny unprivileged transactions (AP[1] = 0). By default DMA mappings
    /// allow them (AP[1] = 1), since a device's transactions are unprivileged unless the
    /// STE/CD or the device says otherwise (SMMUv3 §5.2 STE.PRIVCFG, §13.7).
    pub privileged_only: bool,
}

impl Attributes {
    /// Normal write-back memory with `permissions`, usable by unprivileged transactions.
    pub const fn dma(permissions: Permissions) -> Self {
        Self {
            permissions,
            memory: MemoryType::Normal,
            privileged_only: false,
        }
    }

    /// Device-nGnRE memory with `permissions` (never executable).
    pub const fn device(permissions: Permissions) -> Self {
        Self {
            permissions,
            memory: MemoryType::Device,
            privileged_only: false,
        }
    }
}

/// What a query finds: the leaf's output address, level (3 = page), size and attributes.
pub type Mapping = crate::pt::Mapping<Attributes>;

/// The IPS (CD, §5.4) / S2PS (STE, §5.2) encoding of an output size, as in TCR_EL1.IPS:
/// 32 → 0b000, 36 → 0b001, 40 → 0b010, 42 → 0b011, 44 → 0b100, 48 → 0b101.
pub const fn ips(output_bits: u8) -> Option<u8> {
    match output_bits {
        32 => Some(0b000),
        36 => Some(0b001),
        40 => Some(0b010),
        42 => Some(0b011),
        44 => Some(0b100),
        48 => Some(0b101),
        _ => None,
    }
}
