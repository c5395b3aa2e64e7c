//! VMSAv8-64 descriptors (Arm ARM D8.3 "Translation table descriptor formats"), 48-bit
//! output addresses, for stage 1 and stage 2.
//!
//! Bits 1:0 say what a descriptor is: `x0` invalid; `01` a block at levels where the granule
//! allows blocks (reserved, hence invalid, elsewhere and at level 3); `11` a table at
//! levels 0–2 and a page at level 3. Bits 47:granule hold the next table's address or the
//! output address. The attribute bits differ between the stages: [`S1Flags`], [`S2Flags`].

use core::fmt;

use bitflags::bitflags;

use super::{Attributes, Error, MemoryType, Permissions};
use crate::pt::{self, Decoded, Geometry};

/// Bits 47:12; a granule's address field is bits 47:granule-bits of it.
const OA_MASK: u64 = 0x0000_FFFF_FFFF_F000;
/// AttrIndx[2:0], bits 4:2 (stage 1) / MemAttr[3:0], bits 5:2 (stage 2).
const ATTR_SHIFT: u32 = 2;
/// SH[1:0], bits 9:8.
const SH_SHIFT: u32 = 8;

/// The software count in a table descriptor: low 7 bits in bits 58:52, high 8 bits in bits
/// 9:2; both ranges are IGNORED in table descriptors (Arm ARM D8.3.1, without FEAT_LPA2).
/// Bit 51 is not used: it is RES0 there (OA[51:48] with 52-bit addresses), and an SMMU may
/// report a nonzero value as an address-size fault.
const COUNT_LO_SHIFT: u32 = 52;
const COUNT_LO_BITS: u32 = 7;
const COUNT_HI_SHIFT: u32 = 2;
const COUNT_LO_MASK: u64 = (1 << COUNT_LO_BITS) - 1;
const COUNT_MASK: u64 = (COUNT_LO_MASK << COUNT_LO_SHIFT) | (0xFF << COUNT_HI_SHIFT);

/// The valid-descriptor count kept in table descriptor `raw`.
const fn count_of(raw: u64) -> u64 {
    ((raw >> COUNT_LO_SHIFT) & COUNT_LO_MASK) | (((raw >> COUNT_HI_SHIFT) & 0xFF) << COUNT_LO_BITS)
}

/// Table descriptor `raw` with its count replaced by `count` (at most 0x7FFF; a 64 KiB
/// table has 8192 descriptors).
const fn with_count(raw: u64, count: u64) -> u64 {
    (raw & !COUNT_MASK)
        | ((count & COUNT_LO_MASK) << COUNT_LO_SHIFT)
        | (((count >> COUNT_LO_BITS) & 0xFF) << COUNT_HI_SHIFT)
}

/// The shareability field SH[1:0] (Arm ARM D8.6.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Shareability {
    /// 0b00: non-shareable.
    Non,
    /// 0b10: outer shareable.
    Outer,
    /// 0b11: inner shareable.
    Inner,
}

impl Shareability {
    /// The field value.
    pub const fn bits(self) -> u64 {
        match self {
            Self::Non => 0b00,
            Self::Outer => 0b10,
            Self::Inner => 0b11,
        }
    }

    /// Decodes a field value (0b01 is reserved).
    pub const fn from_bits(bits: u64) -> Option<Self> {
        match bits {
            0b00 => Some(Self::Non),
            0b10 => Some(Self::Outer),
            0b11 => Some(Self::Inner),
            _ => None,
        }
    }
}

bitflags! {
    /// Stage-1 descriptor bits (Arm ARM D8.3.1 table descriptors, D8.3.2 block and page
    /// descriptors). AttrIndx (bits 4:2), SH (9:8) and the address are fields, not flags:
    /// see [`Stage1Descriptor`].
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct S1Flags: u64 {
        /// Bit 0: valid.
        const VALID = 1 << 0;
        /// Bit 1: table descriptor at levels 0–2, page descriptor at level 3 (clear: block).
        const TABLE = 1 << 1;
        /// Bit 5, NS: non-secure output (ignored in the non-secure translation regimes).
        const NS = 1 << 5;
        /// Bit 6, AP[1]: unprivileged (EL0) access permitted.
        const AP1 = 1 << 6;
        /// Bit 7, AP[2]: read-only.
        const AP2 = 1 << 7;
        /// Bit 10, AF: access flag; 0 faults unless the hardware updates it (HTTU, CD.HA).
        const AF = 1 << 10;
        /// Bit 11, nG: not global, i.e. tagged with the CD's ASID.
        const NG = 1 << 11;
        /// Bit 51, DBM: dirty bit modifier (with HTTU).
        const DBM = 1 << 51;
        /// Bit 52: contiguous hint.
        const CONTIGUOUS = 1 << 52;
        /// Bit 53, PXN: privileged execute-never.
        const PXN = 1 << 53;
        /// Bit 54, UXN (XN): unprivileged execute-never.
        const UXN = 1 << 54;
        /// Bit 59, PXNTable (table descriptors).
        const PXN_TABLE = 1 << 59;
        /// Bit 60, UXNTable / XNTable (table descriptors).
        const UXN_TABLE = 1 << 60;
        /// Bit 61, APTable[0] (table descriptors): no unprivileged access below.
        const AP_TABLE0 = 1 << 61;
        /// Bit 62, APTable[1] (table descriptors): no write access below.
        const AP_TABLE1 = 1 << 62;
        /// Bit 63, NSTable (table descriptors).
        const NS_TABLE = 1 << 63;
    }
}

bitflags! {
    /// Stage-2 descriptor bits (Arm ARM D8.3.1, D8.3.2, stage 2 attributes D8.5). MemAttr
    /// (bits 5:2), SH (9:8) and the address are fields: see [`Stage2Descriptor`].
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct S2Flags: u64 {
        /// Bit 0: valid.
        const VALID = 1 << 0;
        /// Bit 1: table descriptor at levels 0–2, page descriptor at level 3 (clear: block).
        const TABLE = 1 << 1;
        /// Bit 6, S2AP[0]: reads permitted.
        const S2AP_R = 1 << 6;
        /// Bit 7, S2AP[1]: writes permitted.
        const S2AP_W = 1 << 7;
        /// Bit 10, AF: access flag.
        const AF = 1 << 10;
        /// Bit 52: contiguous hint.
        const CONTIGUOUS = 1 << 52;
        /// Bit 53, XN[0] (FEAT_XNX; with bit 54 clear, privileged execute-never).
        const XN0 = 1 << 53;
        /// Bit 54, XN[1]: execute-never.
        const XN = 1 << 54;
    }
}

/// The stage-2 MemAttr[3:0] field (Arm ARM D8.6.5, with FWB disabled): bits 3:2 the outer
/// attribute (0b00 = Device), bits 1:0 the inner one (or the Device type).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MemAttr(pub u8);

impl MemAttr {
    /// 0b0001: Device-nGnRE.
    pub const DEVICE_NGNRE: Self = Self(0b0001);
    /// 0b0101: Normal, outer and inner non-cacheable.
    pub const NORMAL_NC: Self = Self(0b0101);
    /// 0b1111: Normal, outer and inner write-back cacheable.
    pub const NORMAL_WB: Self = Self(0b1111);

    /// The MemAttr for a memory type.
    pub const fn of(memory: MemoryType) -> Self {
        match memory {
            MemoryType::Normal => Self::NORMAL_WB,
            MemoryType::NormalNonCacheable => Self::NORMAL_NC,
            MemoryType::Device => Self::DEVICE_NGNRE,
        }
    }

    /// The memory type, if it is one this module writes.
    pub const fn memory_type(self) -> Option<MemoryType> {
        match self.0 {
            0b1111 => Some(MemoryType::Normal),
            0b0101 => Some(MemoryType::NormalNonCacheable),
            0b0001 => Some(MemoryType::Device),
            _ => None,
        }
    }
}

/// A stage-1 descriptor, read and built by its fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(transparent)]
pub struct Stage1Descriptor(u64);

impl Stage1Descriptor {
    /// Wraps a raw descriptor.
    pub const fn from_raw(raw: u64) -> Self {
        Self(raw)
    }
    /// The raw descriptor.
    pub const fn raw(self) -> u64 {
        self.0
    }
    /// The flag bits.
    pub const fn flags(self) -> S1Flags {
        S1Flags::from_bits_truncate(self.0)
    }
    /// AttrIndx[2:0], bits 4:2: the MAIR index.
    pub const fn attr_indx(self) -> u8 {
        ((self.0 >> ATTR_SHIFT) & 0b111) as u8
    }
    /// SH[1:0], bits 9:8.
    pub const fn sh(self) -> Option<Shareability> {
        Shareability::from_bits((self.0 >> SH_SHIFT) & 0b11)
    }
    /// A table descriptor for the table at `table`.
    pub const fn table(table: u64) -> Self {
        Self((table & OA_MASK) | S1Flags::VALID.bits() | S1Flags::TABLE.bits())
    }
    /// A block (`level` < 3) or page (`level` 3) descriptor for `oa` with `flags` (VALID and
    /// TABLE are set as the level requires), `attr_indx` and `sh`.
    pub const fn leaf(oa: u64, level: u8, flags: S1Flags, attr_indx: u8, sh: Shareability) -> Self {
        let kind = if level == 3 {
            S1Flags::VALID.union(S1Flags::TABLE)
        } else {
            S1Flags::VALID
        };
        Self(
            (oa & OA_MASK)
                | flags.difference(S1Flags::TABLE).union(kind).bits()
                | (((attr_indx & 0b111) as u64) << ATTR_SHIFT)
                | (sh.bits() << SH_SHIFT),
        )
    }
}

/// A stage-2 descriptor, read and built by its fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(transparent)]
pub struct Stage2Descriptor(u64);

impl Stage2Descriptor {
    /// Wraps a raw descriptor.
    pub const fn from_raw(raw: u64) -> Self {
        Self(raw)
    }
    /// The raw descriptor.
    pub const fn raw(self) -> u64 {
        self.0
    }
    /// The flag bits.
    pub const fn flags(self) -> S2Flags {
        S2Flags::from_bits_truncate(self.0)
    }
    /// MemAttr[3:0], bits 5:2.
    pub const fn mem_attr(self) -> MemAttr {
        MemAttr(((self.0 >> ATTR_SHIFT) & 0b1111) as u8)
    }
    /// SH[1:0], bits 9:8.
    pub const fn sh(self) -> Option<Shareability> {
        Shareability::from_bits((self.0 >> SH_SHIFT) & 0b11)
    }
    /// A table descriptor for the table at `table`.
    pub const fn table(table: u64) -> Self {
        Self((table & OA_MASK) | S2Flags::VALID.bits() | S2Flags::TABLE.bits())
    }
    /// A block (`level` < 3) or page (`level` 3) descriptor for `oa` with `flags`,
    /// `mem_attr` and `sh`.
    pub const fn leaf(
        oa: u64,
        level: u8,
        flags: S2Flags,
        mem_attr: MemAttr,
        sh: Shareability,
    ) -> Self {
        let kind = if level == 3 {
            S2Flags::VALID.union(S2Flags::TABLE)
        } else {
            S2Flags::VALID
        };
        Self(
            (oa & OA_MASK)
                | flags.difference(S2Flags::TABLE).union(kind).bits()
                | (((mem_attr.0 & 0b1111) as u64) << ATTR_SHIFT)
                | (sh.bits() << SH_SHIFT),
        )
    }
}

/// Decodes the kind of descriptor `raw` at `height` (level 3 − height) by bits 1:0 (Arm
/// ARM D8.3): `11` a table above level 3 and a page at it; `01` a block where the granule
/// allows one, reserved (treated as invalid) elsewhere; `x0` invalid. Output and table
/// addresses are aligned to what they map.
const fn decode(raw: u64, height: u8, g: &Geometry) -> Decoded {
    if raw & 1 == 0 {
        return Decoded::Invalid;
    }
    let page = OA_MASK & !(g.page_size() - 1);
    if raw & 2 != 0 {
        if height == 0 {
            Decoded::Leaf(raw & page)
        } else {
            Decoded::Table(raw & page)
        }
    } else if height > 0 && g.leaf_allowed(height) {
        Decoded::Leaf(raw & OA_MASK & !(g.span(height) - 1))
    } else {
        Decoded::Invalid
    }
}

mod sealed {
    pub trait Sealed {}
}

/// A translation stage: a VMSAv8-64 [`pt::Format`] whose leaves carry [`Attributes`].
/// Implemented by [`Stage1`] and [`Stage2`] only.
pub trait Stage:
    sealed::Sealed + pt::Format<Attributes = Attributes> + Default + PartialEq + fmt::Debug
{
    /// Stage 2 may concatenate up to 16 tables at the starting level (Arm ARM D8.2).
    const CONCATENATION: bool;
}

/// What both stages share as [`pt::Format`]s: levels numbered down to 3 at the page
/// level, invalid descriptors never cached (Arm ARM D8.16), no block split without
/// break-before-make (D8.16.1), the software count of table descriptors.
macro_rules! vmsa_format_common {
    () => {
        /// TLBs and walk caches never hold invalid descriptors (Arm ARM D8.16).
        const MAP_INVALIDATES: bool = false;
        /// A live block replaced by a table is a change of block size, which needs
        /// break-before-make (Arm ARM D8.16.1).
        const SPLITS_BLOCKS: bool = false;

        fn level(height: u8, _levels: u8) -> u8 {
            3 - height
        }

        #[inline]
        fn decode(&self, raw: u64, height: u8, g: &Geometry) -> Decoded {
            decode(raw, height, g)
        }

        #[inline]
        fn count_of(raw: u64) -> u64 {
            count_of(raw)
        }

        #[inline]
        fn with_count(raw: u64, count: u64) -> u64 {
            with_count(raw, count)
        }
    };
}

/// Stage 1 (CD.TTB0): AttrIndx from [`MAIR`](super::MAIR), AP[1] = 1 unless
/// `privileged_only`, AP[2] = !WRITE, SH per memory type, AF = 1 (QEMU and SMMUs without
/// HTTU fault on AF = 0), nG = 1 (entries belong to the CD's ASID, so TLBI_NH_ASID and
/// TLBI_NH_VA with that ASID reach them), PXN = UXN = !EXECUTE.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Stage1;

impl sealed::Sealed for Stage1 {}

impl Stage for Stage1 {
    const CONCATENATION: bool = false;
}

impl pt::Format for Stage1 {
    type Attributes = Attributes;
    vmsa_format_common!();

    #[inline]
    fn table_entry(&self, table: u64) -> u64 {
        Stage1Descriptor::table(table).raw()
    }

    #[inline]
    fn leaf_entry(&self, oa: u64, height: u8, a: Attributes) -> u64 {
        let mut flags = S1Flags::AF | S1Flags::NG;
        flags.set(S1Flags::AP1, !a.privileged_only);
        flags.set(S1Flags::AP2, !a.permissions.contains(Permissions::WRITE));
        let nx = !a.permissions.contains(Permissions::EXECUTE);
        flags.set(S1Flags::PXN, nx);
        flags.set(S1Flags::UXN, nx);
        let sh = a.memory.shareability();
        Stage1Descriptor::leaf(oa, 3 - height, flags, a.memory.attr_indx(), sh).raw()
    }

    fn attributes(&self, raw: u64) -> Attributes {
        let d = Stage1Descriptor(raw);
        let flags = d.flags();
        let mut permissions = Permissions::READ;
        permissions.set(Permissions::WRITE, !flags.contains(S1Flags::AP2));
        permissions.set(Permissions::EXECUTE, !flags.contains(S1Flags::UXN));
        Attributes {
            permissions,
            memory: MemoryType::from_attr_indx(d.attr_indx()).unwrap_or(MemoryType::Normal),
            privileged_only: !flags.contains(S1Flags::AP1),
        }
    }

    /// Refuses no READ (AArch64 has no write-only stage-1 mapping) and EXECUTE on Device
    /// memory.
    #[inline]
    fn check(&self, a: Attributes) -> Result<(), Error> {
        let p = a.permissions;
        if !p.contains(Permissions::READ)
            || (p.contains(Permissions::EXECUTE) && a.memory == MemoryType::Device)
        {
            return Err(Error::UnsupportedAttributes);
        }
        Ok(())
    }
}

/// Stage 2 (STE.S2TTB): MemAttr per memory type (FWB off), S2AP from READ/WRITE, SH per
/// memory type, AF = 1, XN[1] = !EXECUTE.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Stage2;

impl sealed::Sealed for Stage2 {}

impl Stage for Stage2 {
    const CONCATENATION: bool = true;
}

impl pt::Format for Stage2 {
    type Attributes = Attributes;
    vmsa_format_common!();

    #[inline]
    fn table_entry(&self, table: u64) -> u64 {
        Stage2Descriptor::table(table).raw()
    }

    #[inline]
    fn leaf_entry(&self, oa: u64, height: u8, a: Attributes) -> u64 {
        let mut flags = S2Flags::AF;
        flags.set(S2Flags::S2AP_R, a.permissions.contains(Permissions::READ));
        flags.set(S2Flags::S2AP_W, a.permissions.contains(Permissions::WRITE));
        flags.set(S2Flags::XN, !a.permissions.contains(Permissions::EXECUTE));
        let sh = a.memory.shareability();
        Stage2Descriptor::leaf(oa, 3 - height, flags, MemAttr::of(a.memory), sh).raw()
    }

    fn attributes(&self, raw: u64) -> Attributes {
        let d = Stage2Descriptor(raw);
        let flags = d.flags();
        let mut permissions = Permissions::empty();
        permissions.set(Permissions::READ, flags.contains(S2Flags::S2AP_R));
        permissions.set(Permissions::WRITE, flags.contains(S2Flags::S2AP_W));
        permissions.set(Permissions::EXECUTE, !flags.contains(S2Flags::XN));
        Attributes {
            permissions,
            memory: d.mem_attr().memory_type().unwrap_or(MemoryType::Normal),
            privileged_only: false,
        }
    }

    /// Refuses neither READ nor WRITE, `privileged_only` (stage 2 has no privilege
    /// check) and EXECUTE on Device memory.
    #[inline]
    fn check(&self, a: Attributes) -> Result<(), Error> {
        let p = a.permissions;
        if !p.intersects(Permissions::READ | Permissions::WRITE)
            || a.privileged_only
            || (p.contains(Permissions::EXECUTE) && a.memory == MemoryType::Device)
        {
            return Err(Error::UnsupportedAttributes);
        }
        Ok(())
    }
}
