//! The vSVA calls ([`vsva_abi::sva`]), typed: one function per call, plus
//! typed descriptions of what a guest binds ([`Stage1Table`], [`CdTable`])
//! and constructors for invalidation entries ([`entry`]).
//!
//! # Memory
//!
//! Each call encodes its argument struct into an aligned buffer on the
//! caller's stack, passes that buffer's address and decodes what vsva wrote
//! back. vsva reads and writes the struct by *guest-physical* address, so the
//! caller's stack must be identity mapped (virtual = guest-physical) where
//! the buffer lives, or the MMU off, as for [`console_write`](crate::console_write).
//! [`invalidate`] sends its entries from a 2 KiB stack array under the same
//! rule. The addresses inside the structs (table roots, CD tables) are
//! guest-physical too and must lie in the partition's RAM.
//!
//! # Caching
//!
//! vsva may install a bound table as a shadow ([`Install::Shadow`], reported
//! by [`info`]): a shadow follows only what it is told. The guest must
//! [`invalidate`] after *every* change to a bound table, making an entry
//! present included (VT-d caching-mode semantics); a nested install needs
//! what bare metal needs, and the same invalidations are correct for both.
//!
//! # Portability
//!
//! The calls exist only on aarch64 and x86_64; the descriptions, the entry
//! constructors and [`invalidate_with`] are plain data and build anywhere.

// Call is used by the doc links everywhere, by the calls where they exist.
#[cfg_attr(
    not(any(target_arch = "aarch64", target_arch = "x86_64")),
    allow(unused_imports)
)]
use vsva_abi::Call;
use vsva_abi::HvError;

pub use vsva_abi::sva::{
    BindCdTable, BindFlags, BindStage1, CdTableConfig, CdTableFlags, CdTableFormat,
    DefaultSubstream, DeviceId, EntryFlags, Install, Invalidate, InvalidateEntry, InvalidateKind,
    IommuKind, MAX_INVALIDATIONS, MAX_STRUCT_SIZE, Pasid, Stage1Format, Stage1Formats, SvaCaps,
    SvaInfo, SvaStruct, TABLE_WINDOW_BASE, TABLE_WINDOW_SIZE, UnbindCdTable, UnbindStage1,
};

/// The most entries [`invalidate`] sends in one [`Call::Invalidate`].
pub const INVALIDATE_CHUNK: usize = 64;

/// Bytes of one encoded [`InvalidateEntry`]: the `entry_size` this library sends.
pub const ENTRY_SIZE: usize = InvalidateEntry::SIZE;

/// Bytes of the argument buffer: the largest struct sent.
const ARG_BYTES: usize = 48;

const _: () = {
    assert!(SvaInfo::SIZE <= ARG_BYTES);
    assert!(BindStage1::SIZE <= ARG_BYTES);
    assert!(Pasid::SIZE <= ARG_BYTES);
    assert!(UnbindStage1::SIZE <= ARG_BYTES);
    assert!(BindCdTable::SIZE <= ARG_BYTES);
    assert!(UnbindCdTable::SIZE <= ARG_BYTES);
    assert!(Invalidate::SIZE <= ARG_BYTES);
    assert!(ENTRY_SIZE == 32);
    assert!(INVALIDATE_CHUNK as u32 <= MAX_INVALIDATIONS);
};

/// A byte buffer aligned beyond any field it holds (64 bytes: an argument
/// struct never straddles a page).
#[repr(C, align(64))]
struct Aligned<const N: usize>([u8; N]);

/// `size` of an argument struct: the size this library knows.
const fn struct_size<T: SvaStruct>() -> u32 {
    T::SIZE as u32
}

/// [`BindFlags::PASID`] and the `pasid` field for an optional PASID.
const fn bind_pasid(pasid: Option<u32>) -> (BindFlags, u32) {
    match pasid {
        Some(pasid) => (BindFlags::PASID, pasid),
        None => (BindFlags::empty(), 0),
    }
}

/// Typed accessors of [`SvaInfo`]'s raw fields.
pub trait SvaInfoExt {
    /// What the device allows (bits this library does not know dropped).
    fn caps(&self) -> SvaCaps;
    /// The stage-1 formats its binds accept (unknown bits dropped).
    fn formats(&self) -> Stage1Formats;
    /// The IOMMU translating it; `None` for a kind this library does not know.
    fn iommu(&self) -> Option<IommuKind>;
    /// How vsva installs a bound table; `None` for a way this library does
    /// not know.
    fn install(&self) -> Option<Install>;
    /// Whether a [`BindStage1`] in `format` is accepted.
    fn supports(&self, format: Stage1Format) -> bool;
}

impl SvaInfoExt for SvaInfo {
    fn caps(&self) -> SvaCaps {
        SvaCaps::from_bits_truncate(self.caps)
    }

    fn formats(&self) -> Stage1Formats {
        Stage1Formats::from_bits_truncate(self.formats)
    }

    fn iommu(&self) -> Option<IommuKind> {
        IommuKind::from_raw(self.iommu)
    }

    fn install(&self) -> Option<Install> {
        Install::from_raw(self.install)
    }

    fn supports(&self, format: Stage1Format) -> bool {
        SvaInfoExt::formats(self).contains(format.capability())
    }
}

/// The translation granule of a VMSAv8-64 stage-1 table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Granule {
    /// 4 KiB pages ([`Stage1Format::Vmsa4K`]).
    Size4K,
    /// 16 KiB pages ([`Stage1Format::Vmsa16K`]).
    Size16K,
    /// 64 KiB pages ([`Stage1Format::Vmsa64K`]).
    Size64K,
}

impl Granule {
    /// The [`Stage1Format`] of a table with this granule.
    pub const fn format(self) -> Stage1Format {
        match self {
            Self::Size4K => Stage1Format::Vmsa4K,
            Self::Size16K => Stage1Format::Vmsa16K,
            Self::Size64K => Stage1Format::Vmsa64K,
        }
    }
}

/// The table-walk attributes word of a VMSAv8 [`Stage1Table::walk`] (IRGN0,
/// ORGN0, SH0) or a [`CdTable::walk`] (S1CIR, S1COR, S1CSH): bits 1:0 inner
/// and 3:2 outer cacheability (0 non-cacheable, 1 write-back
/// read/write-allocate, 2 write-through read-allocate, 3 write-back
/// read-allocate), bits 5:4 shareability (0 non-, 2 outer, 3 inner
/// shareable). Each argument is truncated to its two bits.
pub const fn walk_attributes(inner: u8, outer: u8, shareability: u8) -> u32 {
    (inner as u32 & 3) | (outer as u32 & 3) << 2 | (shareability as u32 & 3) << 4
}

/// A guest stage-1 table to bind with [`bind_stage1`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stage1Table {
    /// Its format; the device must accept it ([`SvaInfoExt::supports`]).
    pub format: Stage1Format,
    /// Guest-physical address of the root table (x86: the PML4 / PML5, like
    /// CR3, 4 KiB aligned; VMSAv8: TTB0, aligned to the root table's size).
    pub root: u64,
    /// Input address bits: 48 (x86 4-level), 57 (x86 5-level) or
    /// 64 - T0SZ (VMSAv8, 25..=48), at most [`SvaInfo::input_bits`].
    pub input_bits: u32,
    /// Attribute flags ([`BindFlags::X86_SRE`], `X86_WPE`, `X86_EAFE`,
    /// `VMSA_TBI`). [`BindFlags::PASID`] is not one: [`bind_stage1`] sets it
    /// from its `pasid` argument and ignores it here.
    pub flags: BindFlags,
    /// VMSAv8: the MAIR the table's attribute indexes refer to; 0 for x86.
    pub mair: u64,
    /// VMSAv8: the walk attributes ([`walk_attributes`]); 0 for x86.
    pub walk: u32,
}

impl Stage1Table {
    /// An x86 4-level table (48-bit input) rooted at the PML4 `root`.
    pub const fn x86_four_level(root: u64) -> Self {
        Self {
            format: Stage1Format::X86FourLevel,
            root,
            input_bits: 48,
            flags: BindFlags::empty(),
            mair: 0,
            walk: 0,
        }
    }

    /// An x86 5-level table (57-bit input) rooted at the PML5 `root`.
    pub const fn x86_five_level(root: u64) -> Self {
        Self {
            format: Stage1Format::X86FiveLevel,
            input_bits: 57,
            ..Self::x86_four_level(root)
        }
    }

    /// A VMSAv8-64 stage-1 table with `granule`, TTB0 `root`, `input_bits`
    /// (64 - T0SZ), the MAIR its descriptors index and its walk attributes
    /// ([`walk_attributes`]).
    pub const fn vmsa(granule: Granule, root: u64, input_bits: u32, mair: u64, walk: u32) -> Self {
        Self {
            format: granule.format(),
            root,
            input_bits,
            flags: BindFlags::empty(),
            mair,
            walk,
        }
    }

    /// The same table with `flags` as its attribute flags.
    pub const fn with_flags(self, flags: BindFlags) -> Self {
        Self { flags, ..self }
    }

    /// The [`BindStage1`] struct [`bind_stage1`] sends: `pasid` `Some` sets
    /// [`BindFlags::PASID`] and the `pasid` field, `None` clears both.
    pub const fn to_bind(&self, device: DeviceId, pasid: Option<u32>) -> BindStage1 {
        let (flag, pasid) = bind_pasid(pasid);
        BindStage1 {
            size: struct_size::<BindStage1>(),
            device,
            flags: self.flags.difference(BindFlags::PASID).union(flag).bits(),
            pasid,
            format: self.format as u32,
            input_bits: self.input_bits,
            root: self.root,
            mair: self.mair,
            walk: self.walk,
            reserved: 0,
        }
    }
}

/// The [`UnbindStage1`] struct [`unbind_stage1`] sends.
pub const fn unbind_stage1_args(device: DeviceId, pasid: Option<u32>) -> UnbindStage1 {
    let (flag, pasid) = bind_pasid(pasid);
    UnbindStage1 {
        size: struct_size::<UnbindStage1>(),
        device,
        flags: flag.bits(),
        pasid,
    }
}

/// A guest context-descriptor table to bind with [`bind_cd_table`] (SMMUv3
/// only, [`SvaCaps::CD_TABLE`]): the stage-1 half of an STE.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CdTable {
    /// What the stream does.
    pub config: CdTableConfig,
    /// STE flags.
    pub flags: CdTableFlags,
    /// Linear or 2-level.
    pub format: CdTableFormat,
    /// S1CDMax: the table serves SubstreamIDs below 2^`cd_max`; at most
    /// [`SvaInfo::cd_max`]. 0: one CD, no substreams.
    pub cd_max: u8,
    /// Requests without a PASID, when `cd_max` is not 0.
    pub default_substream: DefaultSubstream,
    /// Walk attributes of the CD table ([`walk_attributes`]).
    pub walk: u32,
    /// Guest-physical address of the CD table (linear, 64-byte aligned) or
    /// of its level-1 table (aligned to its size).
    pub table: u64,
}

impl CdTable {
    /// A translating table in `format` at guest-physical `table` with
    /// 2^`cd_max` CDs: no flags, requests without a PASID through CD 0,
    /// walk attributes 0 (non-cacheable, non-shareable).
    pub const fn new(format: CdTableFormat, table: u64, cd_max: u8) -> Self {
        Self {
            config: CdTableConfig::Translate,
            flags: CdTableFlags::empty(),
            format,
            cd_max,
            default_substream: DefaultSubstream::Substream0,
            walk: 0,
            table,
        }
    }

    /// The [`BindCdTable`] struct [`bind_cd_table`] sends.
    pub const fn to_bind(&self, device: DeviceId) -> BindCdTable {
        BindCdTable {
            size: struct_size::<BindCdTable>(),
            device,
            config: self.config as u32,
            flags: self.flags.bits(),
            format: self.format as u32,
            cd_max: self.cd_max as u32,
            default_substream: self.default_substream as u32,
            walk: self.walk,
            table: self.table,
        }
    }
}

/// Constructors of [`InvalidateEntry`]s for [`invalidate`]. `pasid` `None`
/// names the device's requests without a PASID; `Some` sets
/// [`EntryFlags::PASID`]. Ranges are 4 KiB aligned, their size a non-zero
/// multiple of 4 KiB.
pub mod entry {
    use super::{DeviceId, EntryFlags, InvalidateEntry, InvalidateKind};

    const fn base(kind: InvalidateKind, device: DeviceId, pasid: Option<u32>) -> InvalidateEntry {
        let (flags, pasid) = match pasid {
            Some(pasid) => (EntryFlags::PASID.bits(), pasid),
            None => (0, 0),
        };
        InvalidateEntry {
            kind: kind as u8,
            flags,
            asid: 0,
            device,
            pasid,
            reserved: 0,
            address: 0,
            size: 0,
        }
    }

    /// IOTLB entries of `[address, address + size)`; `leaf` when only leaf
    /// entries changed ([`EntryFlags::LEAF`]).
    pub const fn iotlb_range(
        device: DeviceId,
        pasid: Option<u32>,
        address: u64,
        size: u64,
        leaf: bool,
    ) -> InvalidateEntry {
        let mut entry = base(InvalidateKind::IotlbRange, device, pasid);
        if leaf {
            entry.flags |= EntryFlags::LEAF.bits();
        }
        entry.address = address;
        entry.size = size;
        entry
    }

    /// Every IOTLB entry of the PASID (a shadow is rebuilt whole).
    pub const fn iotlb_all(device: DeviceId, pasid: Option<u32>) -> InvalidateEntry {
        base(InvalidateKind::IotlbAll, device, pasid)
    }

    /// The cached PASID-table entry (VT-d) or CD (SMMUv3) of the PASID.
    pub const fn pasid_cache(device: DeviceId, pasid: Option<u32>) -> InvalidateEntry {
        base(InvalidateKind::PasidCache, device, pasid)
    }

    /// Every cached CD of the device's bound CD table (every PASID-table
    /// entry of the device on VT-d).
    pub const fn pasid_cache_all(device: DeviceId) -> InvalidateEntry {
        base(InvalidateKind::PasidCacheAll, device, None)
    }

    /// The device's own TLB (ATS) for `[address, address + size)`; vsva
    /// enables ATS on no device, so this is checked and completes without
    /// effect.
    pub const fn device_tlb(
        device: DeviceId,
        pasid: Option<u32>,
        address: u64,
        size: u64,
    ) -> InvalidateEntry {
        let mut entry = base(InvalidateKind::DeviceTlb, device, pasid);
        entry.address = address;
        entry.size = size;
        entry
    }
}

/// Builder methods on [`InvalidateEntry`].
pub trait InvalidateEntryExt {
    /// The same entry for the guest CD's ASID `asid` ([`EntryFlags::ASID`]):
    /// only for a device with a bound CD table.
    fn with_asid(self, asid: u16) -> Self;
}

impl InvalidateEntryExt for InvalidateEntry {
    fn with_asid(mut self, asid: u16) -> Self {
        self.flags |= EntryFlags::ASID.bits();
        self.asid = asid;
        self
    }
}

/// Why [`invalidate`] stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InvalidateError {
    /// The entries that took effect (and were waited for) are
    /// `entries[..completed]`; the one at `completed` was refused, or began
    /// a call that vsva refused as a whole.
    pub completed: usize,
    /// Why.
    pub error: HvError,
}

impl core::fmt::Display for InvalidateError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "invalidation {} refused: {}", self.completed, self.error)
    }
}

impl From<InvalidateError> for HvError {
    fn from(e: InvalidateError) -> Self {
        e.error
    }
}

/// Entries completed by a failed [`Call::Invalidate`]
/// that sent `sent`, from the `count` vsva wrote back: an entry refused
/// leaves `count` below `sent`; a refusal of the call itself (its struct,
/// before any entry) may leave `count` as sent, and nothing took effect.
const fn completed_on_error(written: u32, sent: u32) -> u32 {
    if written < sent { written } else { 0 }
}

/// The chunking of [`invalidate`], over any transport: encodes `entries` in
/// pieces of at most [`INVALIDATE_CHUNK`] into a stack array ([`ENTRY_SIZE`]
/// bytes each) and calls `send(bytes, count)` for each piece, in order.
/// `send` returns `Ok(())` when every entry of the piece completed, or, on
/// an error, the `count` vsva wrote back and the error: a `count` below the
/// piece's is the index of the refused entry, any other means the call was
/// refused before any entry took effect. Stops at the first error and
/// reports the entries completed over all pieces. An empty slice sends
/// nothing.
pub fn invalidate_with<F>(entries: &[InvalidateEntry], mut send: F) -> Result<(), InvalidateError>
where
    F: FnMut(&[u8], u32) -> Result<(), (u32, HvError)>,
{
    let mut buf = Aligned([0u8; INVALIDATE_CHUNK * ENTRY_SIZE]);
    let mut completed = 0;
    for chunk in entries.chunks(INVALIDATE_CHUNK) {
        let bytes = &mut buf.0[..chunk.len() * ENTRY_SIZE];
        for (out, entry) in bytes.chunks_exact_mut(ENTRY_SIZE).zip(chunk) {
            entry.encode(out);
        }
        // A chunk holds at most 64 entries.
        let count = chunk.len() as u32;
        match send(bytes, count) {
            Ok(()) => completed += chunk.len(),
            Err((done, error)) => {
                return Err(InvalidateError {
                    completed: completed + completed_on_error(done, count) as usize,
                    error,
                });
            }
        }
    }
    Ok(())
}

/// Sends `args` to `call` from an aligned stack buffer; the call's result and
/// the struct as vsva left it.
#[cfg(any(target_arch = "aarch64", target_arch = "x86_64"))]
fn exchange<T: SvaStruct>(call: Call, args: &T) -> (Result<u64, HvError>, T) {
    let mut buf = Aligned([0u8; ARG_BYTES]);
    let bytes = &mut buf.0[..T::SIZE];
    args.encode(bytes);
    // vsva reads and writes the struct through this (exposed) address.
    let result = crate::call(call, [bytes.as_mut_ptr() as u64, 0, 0, 0, 0, 0]);
    (result, T::decode(bytes))
}

/// What vsva allows for `device` ([`Call::SvaInfo`]):
/// read it with [`SvaInfoExt`]. A device that allows nothing has caps 0.
///
/// Errors: [`HvError::NotFound`] when `device` is not in this partition's
/// configuration window.
#[cfg(any(target_arch = "aarch64", target_arch = "x86_64"))]
pub fn info(device: DeviceId) -> Result<SvaInfo, HvError> {
    let args = SvaInfo {
        size: struct_size::<SvaInfo>(),
        device,
        ..SvaInfo::default()
    };
    let (result, info) = exchange(Call::SvaInfo, &args);
    result.map(|_| info)
}

/// Allocates a PASID (the lowest free one, from 1) within this partition's
/// quota.
///
/// Errors: [`HvError::NoResources`] when the quota is 0 or used up, or the
/// namespace is exhausted.
#[cfg(any(target_arch = "aarch64", target_arch = "x86_64"))]
pub fn pasid_alloc() -> Result<u32, HvError> {
    let args = Pasid {
        size: struct_size::<Pasid>(),
        ..Pasid::default()
    };
    let (result, back) = exchange(Call::PasidAlloc, &args);
    result.map(|_| back.pasid)
}

/// Frees `pasid`.
///
/// Errors: [`HvError::NotFound`] when this partition does not hold it,
/// [`HvError::Busy`] while it is bound on a device (unbind first).
#[cfg(any(target_arch = "aarch64", target_arch = "x86_64"))]
pub fn pasid_free(pasid: u32) -> Result<(), HvError> {
    let args = Pasid {
        size: struct_size::<Pasid>(),
        pasid,
        ..Pasid::default()
    };
    exchange(Call::PasidFree, &args).0.map(|_| ())
}

/// Binds `table` for `device`'s requests with `pasid` (a PASID this
/// partition holds), or without a PASID for `None`. Every change to the table
/// afterwards must be followed by an [`invalidate`] (see the module
/// documentation).
///
/// Errors (`abi/README.md` has them all): [`HvError::NotFound`] (device,
/// PASID), [`HvError::Unsupported`] (format, width, flag, or PASID binds the
/// device cannot do), [`HvError::BadArgument`] (malformed table
/// description), [`HvError::Busy`] (something already bound there, or a CD
/// table on the device), [`HvError::NoResources`] (shadow budget),
/// [`HvError::IommuError`] (nothing left bound).
#[cfg(any(target_arch = "aarch64", target_arch = "x86_64"))]
pub fn bind_stage1(
    device: DeviceId,
    pasid: Option<u32>,
    table: &Stage1Table,
) -> Result<(), HvError> {
    exchange(Call::BindStage1, &table.to_bind(device, pasid))
        .0
        .map(|_| ())
}

/// Undoes [`bind_stage1`] for `device` and `pasid`; every cache is
/// invalidated before it returns.
///
/// Errors: [`HvError::NotFound`] (device, PASID, or nothing bound there),
/// [`HvError::IommuError`] (the device is left blocked for that PASID).
#[cfg(any(target_arch = "aarch64", target_arch = "x86_64"))]
pub fn unbind_stage1(device: DeviceId, pasid: Option<u32>) -> Result<(), HvError> {
    exchange(Call::UnbindStage1, &unbind_stage1_args(device, pasid))
        .0
        .map(|_| ())
}

/// Binds `table` as `device`'s whole CD table (SMMUv3): the guest then
/// writes its CDs itself and invalidates them with [`entry::pasid_cache`] /
/// [`entry::pasid_cache_all`].
///
/// Errors: [`HvError::NotFound`] (device), [`HvError::Unsupported`] (VT-d,
/// 2-level format or `cd_max` beyond the SMMU), [`HvError::BadArgument`]
/// (alignment, placement), [`HvError::Busy`] (stage-1 binds or a CD table
/// already on the device), [`HvError::IommuError`].
#[cfg(any(target_arch = "aarch64", target_arch = "x86_64"))]
pub fn bind_cd_table(device: DeviceId, table: &CdTable) -> Result<(), HvError> {
    exchange(Call::BindCdTable, &table.to_bind(device))
        .0
        .map(|_| ())
}

/// Undoes [`bind_cd_table`].
///
/// Errors: [`HvError::NotFound`] when the device is not found or has no CD
/// table bound.
#[cfg(any(target_arch = "aarch64", target_arch = "x86_64"))]
pub fn unbind_cd_table(device: DeviceId) -> Result<(), HvError> {
    let args = UnbindCdTable {
        size: struct_size::<UnbindCdTable>(),
        device,
    };
    exchange(Call::UnbindCdTable, &args).0.map(|_| ())
}

/// Sends `entries` ([`entry`]) to vsva in order, [`INVALIDATE_CHUNK`] per
/// [`Call::Invalidate`], each completed (and
/// waited for) before the next. On an error the entries before
/// [`InvalidateError::completed`] took effect and none after it was sent.
///
/// Errors per entry: [`HvError::BadArgument`] (malformed entry, range not
/// 4 KiB granular or beyond the bound table, ASID without a CD table),
/// [`HvError::NotFound`] (device, PASID, nothing bound),
/// [`HvError::IommuError`].
#[cfg(any(target_arch = "aarch64", target_arch = "x86_64"))]
pub fn invalidate(entries: &[InvalidateEntry]) -> Result<(), InvalidateError> {
    invalidate_with(entries, |bytes, count| {
        let args = Invalidate {
            size: struct_size::<Invalidate>(),
            entry_size: ENTRY_SIZE as u32,
            count,
            flags: 0,
            entries: bytes.as_ptr() as u64,
        };
        match exchange(Call::Invalidate, &args) {
            (Ok(_), _) => Ok(()),
            (Err(error), back) => Err((back.count, error)),
        }
    })
}

pub mod events;
#[cfg(test)]
mod tests;
