//! The argument structs, with their byte layouts.

use bitflags::bitflags;

use super::DeviceId;

sva_struct! {
    /// [`Call::SvaInfo`](crate::Call::SvaInfo): what vsva allows for one device.
    ///
    /// | offset | field | |
    /// |---|---|---|
    /// | 0 | `u32 size` | in |
    /// | 4 | `u32 device` | in |
    /// | 8 | `u32 iommu` | out, [`IommuKind`](super::IommuKind) |
    /// | 12 | `u32 install` | out, [`Install`](super::Install) |
    /// | 16 | `u64 caps` | out, [`SvaCaps`](super::SvaCaps) |
    /// | 24 | `u64 formats` | out, [`Stage1Formats`](super::Stage1Formats) |
    /// | 32 | `u8 pasid_bits` | out |
    /// | 33 | `u8 cd_max` | out |
    /// | 34 | `u8 input_bits` | out |
    /// | 35 | `u8 output_bits` | out |
    /// | 36 | `u32 max_invalidations` | out |
    /// | 40 | `u8 asid_bits` | out |
    /// | 41 | 7 bytes reserved, zero | |
    pub struct SvaInfo(48) {
        /// Bytes of the struct as the caller lays it out (module documentation).
        0 => pub size: u32,
        /// The device, as the caller's configuration window names it.
        4 => pub device: DeviceId,
        /// [`IommuKind`](super::IommuKind).
        8 => pub iommu: u32,
        /// [`Install`](super::Install).
        12 => pub install: u32,
        /// [`SvaCaps`](super::SvaCaps) bits.
        16 => pub caps: u64,
        /// [`Stage1Formats`](super::Stage1Formats) bits.
        24 => pub formats: u64,
        /// PASIDs usable with this device are below 2^`pasid_bits`: the least of
        /// the device's PASID capability, its IOMMU's and vsva's namespace. 0: no
        /// PASIDs.
        32 => pub pasid_bits: u8,
        /// The largest S1CDMax a bound CD table may have ([`BindCdTable`]); 0
        /// with [`SvaCaps::CD_TABLE`](super::SvaCaps::CD_TABLE) means one CD, no substreams.
        33 => pub cd_max: u8,
        /// The widest stage-1 input address a bound table may translate
        /// (x86: 48 or 57; VMSAv8: 64 - the smallest T0SZ).
        34 => pub input_bits: u8,
        /// Stage-1 outputs are guest-physical addresses below 2^`output_bits`
        /// (the partition's stage-2 input size).
        35 => pub output_bits: u8,
        /// The most entries one [`Invalidate`] call takes.
        36 => pub max_invalidations: u32,
        /// ASIDs a bound CD table's CDs may use are below 2^`asid_bits`.
        40 => pub asid_bits: u8,
    }
}

sva_struct! {
    /// [`Call::PasidAlloc`](crate::Call::PasidAlloc) and
    /// [`Call::PasidFree`](crate::Call::PasidFree).
    ///
    /// | offset | field | |
    /// |---|---|---|
    /// | 0 | `u32 size` | in |
    /// | 4 | `u32 flags` | in, zero |
    /// | 8 | `u32 pasid` | out (alloc) / in (free) |
    /// | 12 | `u32` reserved, zero | |
    pub struct Pasid(16) {
        /// Bytes of the struct as the caller lays it out (module documentation).
        0 => pub size: u32,
        /// No flags are defined: zero.
        4 => pub flags: u32,
        8 => pub pasid: u32,
        12 => pub reserved: u32,
    }
}

sva_struct! {
    /// [`Call::BindStage1`](crate::Call::BindStage1): a guest stage-1 table for
    /// a device's requests with one PASID, or without a PASID.
    ///
    /// | offset | field | |
    /// |---|---|---|
    /// | 0 | `u32 size` | |
    /// | 4 | `u32 device` | |
    /// | 8 | `u32 flags` | [`BindFlags`](super::BindFlags) |
    /// | 12 | `u32 pasid` | with [`BindFlags::PASID`](super::BindFlags::PASID), else zero |
    /// | 16 | `u32 format` | [`Stage1Format`](super::Stage1Format) |
    /// | 20 | `u32 input_bits` | x86: 48 (4-level) or 57 (5-level); VMSAv8: 64 - T0SZ |
    /// | 24 | `u64 root` | guest-physical root table (x86 4 KiB aligned; VMSAv8 TTB0) |
    /// | 32 | `u64 mair` | VMSAv8 MAIR; zero for x86 |
    /// | 40 | `u32 walk` | VMSAv8 IRGN0 1:0, ORGN0 3:2, SH0 5:4; zero for x86 |
    /// | 44 | `u32` reserved, zero | |
    pub struct BindStage1(48) {
        /// Bytes of the struct as the caller lays it out (module documentation).
        0 => pub size: u32,
        /// The device, as the caller's configuration window names it.
        4 => pub device: DeviceId,
        /// [`BindFlags`](super::BindFlags) bits.
        8 => pub flags: u32,
        12 => pub pasid: u32,
        /// [`Stage1Format`](super::Stage1Format).
        16 => pub format: u32,
        20 => pub input_bits: u32,
        24 => pub root: u64,
        32 => pub mair: u64,
        40 => pub walk: u32,
        44 => pub reserved: u32,
    }
}

sva_struct! {
    /// [`Call::UnbindStage1`](crate::Call::UnbindStage1).
    ///
    /// | offset | field | |
    /// |---|---|---|
    /// | 0 | `u32 size` | |
    /// | 4 | `u32 device` | |
    /// | 8 | `u32 flags` | [`BindFlags::PASID`](super::BindFlags::PASID) only |
    /// | 12 | `u32 pasid` | with [`BindFlags::PASID`](super::BindFlags::PASID), else zero |
    pub struct UnbindStage1(16) {
        /// Bytes of the struct as the caller lays it out (module documentation).
        0 => pub size: u32,
        /// The device, as the caller's configuration window names it.
        4 => pub device: DeviceId,
        8 => pub flags: u32,
        12 => pub pasid: u32,
    }
}

/// What a device's stream does under a bound CD table (STE.Config, SMMUv3
/// §5.2; iommufd's vSTE accepts the same three).
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CdTableConfig {
    /// Every transaction is aborted (a vSTE with V = 0 or Config abort).
    Abort = 0,
    /// Stage 1 bypassed: the partition's stage 2 only.
    Bypass = 1,
    /// Stage 1 through the guest's CDs, nested on the partition's stage 2.
    Translate = 2,
}

impl CdTableConfig {
    pub const fn from_raw(raw: u32) -> Option<Self> {
        match raw {
            0 => Some(Self::Abort),
            1 => Some(Self::Bypass),
            2 => Some(Self::Translate),
            _ => None,
        }
    }
}

bitflags! {
    /// [`BindCdTable::flags`].
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
    pub struct CdTableFlags: u32 {
        /// Stalls allowed (STE.S1STALLD clear; needs
        /// [`SvaCaps::STALL`](super::SvaCaps::STALL)):
        /// a fault on a CD with S set stalls the transaction, which the
        /// partition receives as an [`EventKind::Stall`](super::EventKind)
        /// record and answers with
        /// [`Call::PageResponse`](crate::Call::PageResponse). Without it
        /// vsva sets S1STALLD where the field exists, and CD.S stalls
        /// nothing.
        const STALL = 1 << 0;
    }
}

/// The layout of a bound CD table (STE.S1Fmt, SMMUv3 §5.2).
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CdTableFormat {
    /// One linear table of 2^`cd_max` CDs, 64 bytes each.
    Linear = 0,
    /// A level-1 table of descriptors pointing at leaf tables of 4 KiB
    /// (64 CDs each).
    TwoLevel4K = 1,
    /// The same with 64 KiB leaf tables (1024 CDs each).
    TwoLevel64K = 2,
}

/// What a bound CD table does with requests without a PASID when it has
/// substreams (STE.S1DSS; ignored when `cd_max` is 0).
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DefaultSubstream {
    /// They are terminated (aborted, with an event).
    Terminate = 0,
    /// They bypass stage 1: the partition's stage 2 only.
    Bypass = 1,
    /// They use CD 0; a request with SubstreamID 0 is then refused.
    Substream0 = 2,
}

impl CdTableFormat {
    pub const fn from_raw(raw: u32) -> Option<Self> {
        match raw {
            0 => Some(Self::Linear),
            1 => Some(Self::TwoLevel4K),
            2 => Some(Self::TwoLevel64K),
            _ => None,
        }
    }

    /// log2 of the CDs in one leaf table (§5.4); `None` for a linear table.
    pub const fn leaf_bits(self) -> Option<u8> {
        match self {
            Self::Linear => None,
            Self::TwoLevel4K => Some(6),
            Self::TwoLevel64K => Some(10),
        }
    }
}

impl DefaultSubstream {
    pub const fn from_raw(raw: u32) -> Option<Self> {
        match raw {
            0 => Some(Self::Terminate),
            1 => Some(Self::Bypass),
            2 => Some(Self::Substream0),
            _ => None,
        }
    }
}

sva_struct! {
    /// [`Call::BindCdTable`](crate::Call::BindCdTable): the guest's own
    /// context-descriptor table for a device (SMMUv3 only). The guest then
    /// manages its substreams itself, writing its CDs and invalidating them.
    /// The fields are the STE's stage-1 half (SMMUv3 §5.2); vsva supplies the
    /// stage-2 half, the VMID and event merging.
    ///
    /// | offset | field | |
    /// |---|---|---|
    /// | 0 | `u32 size` | |
    /// | 4 | `u32 device` | |
    /// | 8 | `u32 config` | [`CdTableConfig`] |
    /// | 12 | `u32 flags` | [`CdTableFlags`] |
    /// | 16 | `u32 format` | [`CdTableFormat`] (S1Fmt) |
    /// | 20 | `u32 cd_max` | S1CDMax, at most [`SvaInfo::cd_max`] |
    /// | 24 | `u32 default_substream` | [`DefaultSubstream`] (S1DSS) |
    /// | 28 | `u32 walk` | S1CIR 1:0, S1COR 3:2, S1CSH 5:4 |
    /// | 32 | `u64 table` | IPA of the CD table (linear) or its level-1 table |
    pub struct BindCdTable(40) {
        /// Bytes of the struct as the caller lays it out (module documentation).
        0 => pub size: u32,
        /// The device, as the caller's configuration window names it.
        4 => pub device: DeviceId,
        /// [`CdTableConfig`].
        8 => pub config: u32,
        /// [`CdTableFlags`] bits.
        12 => pub flags: u32,
        16 => pub format: u32,
        20 => pub cd_max: u32,
        24 => pub default_substream: u32,
        28 => pub walk: u32,
        32 => pub table: u64,
    }
}

sva_struct! {
    /// [`Call::UnbindCdTable`](crate::Call::UnbindCdTable).
    ///
    /// | offset | field |
    /// |---|---|
    /// | 0 | `u32 size` |
    /// | 4 | `u32 device` |
    pub struct UnbindCdTable(8) {
        /// Bytes of the struct as the caller lays it out (module documentation).
        0 => pub size: u32,
        /// The device, as the caller's configuration window names it.
        4 => pub device: DeviceId,
    }
}

sva_struct! {
    /// [`Call::Invalidate`](crate::Call::Invalidate): a batch of
    /// [`InvalidateEntry`]s at `entries`, handled in order. On return `count`
    /// holds how many were completed (iommufd's `entry_num`): all of them on
    /// success; on an error, entry `count` is the one refused and entries before
    /// it took effect (and were waited for). `count` 0 is a probe: the value is
    /// the entry size vsva knows.
    ///
    /// | offset | field | |
    /// |---|---|---|
    /// | 0 | `u32 size` | |
    /// | 4 | `u32 entry_size` | bytes per entry in the caller's array |
    /// | 8 | `u32 count` | in: entries (at most [`MAX_INVALIDATIONS`](super::MAX_INVALIDATIONS)); out: completed |
    /// | 12 | `u32 flags` | zero |
    /// | 16 | `u64 entries` | guest-physical address of the array |
    ///
    /// Each entry follows the struct rules with `entry_size` as its size (no
    /// size field of its own): smaller than the first version's 32 bytes is
    /// refused, a shorter one reads as zero-extended, a longer one must have a
    /// zero tail.
    pub struct Invalidate(24) {
        /// Bytes of the struct as the caller lays it out (module documentation).
        0 => pub size: u32,
        4 => pub entry_size: u32,
        8 => pub count: u32,
        12 => pub flags: u32,
        16 => pub entries: u64,
    }
}

/// What an [`InvalidateEntry`] invalidates. One set for both IOMMUs.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum InvalidateKind {
    /// IOTLB entries of `[address, address + size)` for the device's PASID
    /// (or its requests without one); [`EntryFlags::LEAF`] when only leaf
    /// entries changed. A shadow is re-synced for exactly this range.
    IotlbRange = 1,
    /// Every IOTLB entry of the PASID (or of requests without one); a
    /// shadow is rebuilt whole. `address` and `size` are zero.
    IotlbAll = 2,
    /// The cached PASID-table entry (VT-d) or CD (SMMUv3) of the PASID /
    /// SubstreamID: what a guest owning a CD table sends after changing a CD.
    PasidCache = 3,
    /// Every cached CD of the device's bound CD table (SMMUv3 CFGI_CD_ALL;
    /// on VT-d every PASID-table entry of the device).
    PasidCacheAll = 4,
    /// The device's TLB (ATS) for `[address, address + size)` of the PASID.
    DeviceTlb = 5,
}

impl InvalidateKind {
    pub const fn from_raw(raw: u8) -> Option<Self> {
        match raw {
            1 => Some(Self::IotlbRange),
            2 => Some(Self::IotlbAll),
            3 => Some(Self::PasidCache),
            4 => Some(Self::PasidCacheAll),
            5 => Some(Self::DeviceTlb),
            _ => None,
        }
    }
}

bitflags! {
    /// [`InvalidateEntry::flags`].
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
    pub struct EntryFlags: u8 {
        /// `pasid` is valid (else: requests without a PASID).
        const PASID = 1 << 0;
        /// Only leaf entries changed (VT-d IH, SMMUv3 Leaf).
        const LEAF = 1 << 1;
        /// `asid` is valid: with a bound CD table, the ASID of the guest's CD
        /// (SMMUv3 TLBI_NH_VA / NH_ASID); without it, every ASID of the
        /// partition is invalidated for the range.
        const ASID = 1 << 2;
    }
}

sva_struct! {
    /// One entry of an [`Invalidate`] batch (32 bytes).
    ///
    /// | offset | field | |
    /// |---|---|---|
    /// | 0 | `u8 kind` | [`InvalidateKind`] |
    /// | 1 | `u8 flags` | [`EntryFlags`] |
    /// | 2 | `u16 asid` | with [`EntryFlags::ASID`], else zero |
    /// | 4 | `u32 device` | |
    /// | 8 | `u32 pasid` | with [`EntryFlags::PASID`], else zero |
    /// | 12 | `u32` reserved, zero | |
    /// | 16 | `u64 address` | 4 KiB aligned; ranges only, else zero |
    /// | 24 | `u64 size` | bytes, a non-zero multiple of 4 KiB; ranges only, else zero |
    pub struct InvalidateEntry(32) {
        /// [`InvalidateKind`].
        0 => pub kind: u8,
        /// [`EntryFlags`] bits.
        1 => pub flags: u8,
        2 => pub asid: u16,
        /// The device, as the caller's configuration window names it.
        4 => pub device: DeviceId,
        8 => pub pasid: u32,
        12 => pub reserved: u32,
        16 => pub address: u64,
        24 => pub size: u64,
    }
}
