//! The argument structs, with their byte layouts.

use bitflags::bitflags;

use super::{DeviceId, Le, SvaStruct, put};

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
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SvaInfo {
    pub size: u32,
    pub device: DeviceId,
    /// [`IommuKind`](super::IommuKind).
    pub iommu: u32,
    /// [`Install`](super::Install).
    pub install: u32,
    /// [`SvaCaps`](super::SvaCaps) bits.
    pub caps: u64,
    /// [`Stage1Formats`](super::Stage1Formats) bits.
    pub formats: u64,
    /// PASIDs usable with this device are below 2^`pasid_bits`: the least of
    /// the device's PASID capability, its IOMMU's and vsva's namespace. 0: no
    /// PASIDs.
    pub pasid_bits: u8,
    /// The largest S1CDMax a bound CD table may have ([`BindCdTable`]); 0
    /// with [`SvaCaps::CD_TABLE`](super::SvaCaps::CD_TABLE) means one CD, no substreams.
    pub cd_max: u8,
    /// The widest stage-1 input address a bound table may translate
    /// (x86: 48 or 57; VMSAv8: 64 - the smallest T0SZ).
    pub input_bits: u8,
    /// Stage-1 outputs are guest-physical addresses below 2^`output_bits`
    /// (the partition's stage-2 input size).
    pub output_bits: u8,
    /// The most entries one [`Invalidate`] call takes.
    pub max_invalidations: u32,
    /// ASIDs a bound CD table's CDs may use are below 2^`asid_bits`.
    pub asid_bits: u8,
}

impl SvaStruct for SvaInfo {
    const SIZE: usize = 48;
    const MIN_SIZE: usize = 48;

    fn decode(b: &[u8]) -> Self {
        let r = Le(b);
        Self {
            size: r.u32(0),
            device: r.u32(4),
            iommu: r.u32(8),
            install: r.u32(12),
            caps: r.u64(16),
            formats: r.u64(24),
            pasid_bits: r.u8(32),
            cd_max: r.u8(33),
            input_bits: r.u8(34),
            output_bits: r.u8(35),
            max_invalidations: r.u32(36),
            asid_bits: r.u8(40),
        }
    }

    fn encode(&self, out: &mut [u8]) {
        put(out, 0, &self.size.to_le_bytes());
        put(out, 4, &self.device.to_le_bytes());
        put(out, 8, &self.iommu.to_le_bytes());
        put(out, 12, &self.install.to_le_bytes());
        put(out, 16, &self.caps.to_le_bytes());
        put(out, 24, &self.formats.to_le_bytes());
        put(
            out,
            32,
            &[
                self.pasid_bits,
                self.cd_max,
                self.input_bits,
                self.output_bits,
            ],
        );
        put(out, 36, &self.max_invalidations.to_le_bytes());
        put(out, 40, &[self.asid_bits, 0, 0, 0, 0, 0, 0, 0]);
    }
}

/// [`Call::PasidAlloc`](crate::Call::PasidAlloc) and
/// [`Call::PasidFree`](crate::Call::PasidFree).
///
/// | offset | field | |
/// |---|---|---|
/// | 0 | `u32 size` | in |
/// | 4 | `u32 flags` | in, zero |
/// | 8 | `u32 pasid` | out (alloc) / in (free) |
/// | 12 | `u32` reserved, zero | |
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pasid {
    pub size: u32,
    /// No flags are defined: zero.
    pub flags: u32,
    pub pasid: u32,
    pub reserved: u32,
}

impl SvaStruct for Pasid {
    const SIZE: usize = 16;
    const MIN_SIZE: usize = 16;

    fn decode(b: &[u8]) -> Self {
        let r = Le(b);
        Self {
            size: r.u32(0),
            flags: r.u32(4),
            pasid: r.u32(8),
            reserved: r.u32(12),
        }
    }

    fn encode(&self, out: &mut [u8]) {
        put(out, 0, &self.size.to_le_bytes());
        put(out, 4, &self.flags.to_le_bytes());
        put(out, 8, &self.pasid.to_le_bytes());
        put(out, 12, &self.reserved.to_le_bytes());
    }
}

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
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BindStage1 {
    pub size: u32,
    pub device: DeviceId,
    /// [`BindFlags`](super::BindFlags) bits.
    pub flags: u32,
    pub pasid: u32,
    /// [`Stage1Format`](super::Stage1Format).
    pub format: u32,
    pub input_bits: u32,
    pub root: u64,
    pub mair: u64,
    pub walk: u32,
    pub reserved: u32,
}

impl SvaStruct for BindStage1 {
    const SIZE: usize = 48;
    const MIN_SIZE: usize = 48;

    fn decode(b: &[u8]) -> Self {
        let r = Le(b);
        Self {
            size: r.u32(0),
            device: r.u32(4),
            flags: r.u32(8),
            pasid: r.u32(12),
            format: r.u32(16),
            input_bits: r.u32(20),
            root: r.u64(24),
            mair: r.u64(32),
            walk: r.u32(40),
            reserved: r.u32(44),
        }
    }

    fn encode(&self, out: &mut [u8]) {
        put(out, 0, &self.size.to_le_bytes());
        put(out, 4, &self.device.to_le_bytes());
        put(out, 8, &self.flags.to_le_bytes());
        put(out, 12, &self.pasid.to_le_bytes());
        put(out, 16, &self.format.to_le_bytes());
        put(out, 20, &self.input_bits.to_le_bytes());
        put(out, 24, &self.root.to_le_bytes());
        put(out, 32, &self.mair.to_le_bytes());
        put(out, 40, &self.walk.to_le_bytes());
        put(out, 44, &self.reserved.to_le_bytes());
    }
}

/// [`Call::UnbindStage1`](crate::Call::UnbindStage1).
///
/// | offset | field | |
/// |---|---|---|
/// | 0 | `u32 size` | |
/// | 4 | `u32 device` | |
/// | 8 | `u32 flags` | [`BindFlags::PASID`](super::BindFlags::PASID) only |
/// | 12 | `u32 pasid` | with [`BindFlags::PASID`](super::BindFlags::PASID), else zero |
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UnbindStage1 {
    pub size: u32,
    pub device: DeviceId,
    pub flags: u32,
    pub pasid: u32,
}

impl SvaStruct for UnbindStage1 {
    const SIZE: usize = 16;
    const MIN_SIZE: usize = 16;

    fn decode(b: &[u8]) -> Self {
        let r = Le(b);
        Self {
            size: r.u32(0),
            device: r.u32(4),
            flags: r.u32(8),
            pasid: r.u32(12),
        }
    }

    fn encode(&self, out: &mut [u8]) {
        put(out, 0, &self.size.to_le_bytes());
        put(out, 4, &self.device.to_le_bytes());
        put(out, 8, &self.flags.to_le_bytes());
        put(out, 12, &self.pasid.to_le_bytes());
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
        /// STE.S1STALLD: stalls disabled for the stream.
        const STALL_DISABLE = 1 << 0;
    }
}

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
/// | 16 | `u32 format` | S1Fmt: 0 linear, 1 2-level 4 KiB leaves, 2 2-level 64 KiB leaves |
/// | 20 | `u32 cd_max` | S1CDMax, at most [`SvaInfo::cd_max`] |
/// | 24 | `u32 default_substream` | S1DSS: 0 terminate, 1 bypass, 2 substream 0 |
/// | 28 | `u32 walk` | S1CIR 1:0, S1COR 3:2, S1CSH 5:4 |
/// | 32 | `u64 table` | IPA of the CD table (linear) or its level-1 table |
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BindCdTable {
    pub size: u32,
    pub device: DeviceId,
    /// [`CdTableConfig`].
    pub config: u32,
    /// [`CdTableFlags`] bits.
    pub flags: u32,
    pub format: u32,
    pub cd_max: u32,
    pub default_substream: u32,
    pub walk: u32,
    pub table: u64,
}

impl SvaStruct for BindCdTable {
    const SIZE: usize = 40;
    const MIN_SIZE: usize = 40;

    fn decode(b: &[u8]) -> Self {
        let r = Le(b);
        Self {
            size: r.u32(0),
            device: r.u32(4),
            config: r.u32(8),
            flags: r.u32(12),
            format: r.u32(16),
            cd_max: r.u32(20),
            default_substream: r.u32(24),
            walk: r.u32(28),
            table: r.u64(32),
        }
    }

    fn encode(&self, out: &mut [u8]) {
        put(out, 0, &self.size.to_le_bytes());
        put(out, 4, &self.device.to_le_bytes());
        put(out, 8, &self.config.to_le_bytes());
        put(out, 12, &self.flags.to_le_bytes());
        put(out, 16, &self.format.to_le_bytes());
        put(out, 20, &self.cd_max.to_le_bytes());
        put(out, 24, &self.default_substream.to_le_bytes());
        put(out, 28, &self.walk.to_le_bytes());
        put(out, 32, &self.table.to_le_bytes());
    }
}

/// [`Call::UnbindCdTable`](crate::Call::UnbindCdTable).
///
/// | offset | field |
/// |---|---|
/// | 0 | `u32 size` |
/// | 4 | `u32 device` |
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UnbindCdTable {
    pub size: u32,
    pub device: DeviceId,
}

impl SvaStruct for UnbindCdTable {
    const SIZE: usize = 8;
    const MIN_SIZE: usize = 8;

    fn decode(b: &[u8]) -> Self {
        let r = Le(b);
        Self {
            size: r.u32(0),
            device: r.u32(4),
        }
    }

    fn encode(&self, out: &mut [u8]) {
        put(out, 0, &self.size.to_le_bytes());
        put(out, 4, &self.device.to_le_bytes());
    }
}

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
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Invalidate {
    pub size: u32,
    pub entry_size: u32,
    pub count: u32,
    pub flags: u32,
    pub entries: u64,
}

impl SvaStruct for Invalidate {
    const SIZE: usize = 24;
    const MIN_SIZE: usize = 24;

    fn decode(b: &[u8]) -> Self {
        let r = Le(b);
        Self {
            size: r.u32(0),
            entry_size: r.u32(4),
            count: r.u32(8),
            flags: r.u32(12),
            entries: r.u64(16),
        }
    }

    fn encode(&self, out: &mut [u8]) {
        put(out, 0, &self.size.to_le_bytes());
        put(out, 4, &self.entry_size.to_le_bytes());
        put(out, 8, &self.count.to_le_bytes());
        put(out, 12, &self.flags.to_le_bytes());
        put(out, 16, &self.entries.to_le_bytes());
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
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct InvalidateEntry {
    /// [`InvalidateKind`].
    pub kind: u8,
    /// [`EntryFlags`] bits.
    pub flags: u8,
    pub asid: u16,
    pub device: DeviceId,
    pub pasid: u32,
    pub reserved: u32,
    pub address: u64,
    pub size: u64,
}

impl SvaStruct for InvalidateEntry {
    const SIZE: usize = 32;
    const MIN_SIZE: usize = 32;

    fn decode(b: &[u8]) -> Self {
        let r = Le(b);
        Self {
            kind: r.u8(0),
            flags: r.u8(1),
            asid: r.u16(2),
            device: r.u32(4),
            pasid: r.u32(8),
            reserved: r.u32(12),
            address: r.u64(16),
            size: r.u64(24),
        }
    }

    fn encode(&self, out: &mut [u8]) {
        put(out, 0, &[self.kind, self.flags]);
        put(out, 2, &self.asid.to_le_bytes());
        put(out, 4, &self.device.to_le_bytes());
        put(out, 8, &self.pasid.to_le_bytes());
        put(out, 12, &self.reserved.to_le_bytes());
        put(out, 16, &self.address.to_le_bytes());
        put(out, 24, &self.size.to_le_bytes());
    }
}
