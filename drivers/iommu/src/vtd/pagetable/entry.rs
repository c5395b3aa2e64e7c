//! The two paging-entry formats: second-stage (§9.8) and first-stage (§9.7).
//!
//! Each format is a small configuration value implementing [`pt::Format`], which the
//! page-table engine uses to encode and decode entries; callers never shift bits themselves.

use bitflags::bitflags;

use super::{Error, Permissions};
use crate::pt::{self, Decoded, Geometry};
use crate::vtd::regs::{Capability, ExtendedCapability, Sllps};

/// Bits 51:12: the address of the next table or of the page (both formats; the hardware
/// address width may be narrower, in which case the upper bits must be 0).
const ADDR_MASK: u64 = 0x000F_FFFF_FFFF_F000;
/// Bits 61:52: ignored by hardware in both formats; this crate keeps, in non-leaf entries,
/// the number of present entries of the table pointed to.
const SW_COUNT_SHIFT: u32 = 52;
const SW_COUNT_MASK: u64 = 0x3FF << SW_COUNT_SHIFT;
/// Every VT-d table's shape: 4 KiB pages (12 bits) and 512-entry tables (9 bits a
/// level), root included (§9.7, §9.8).
pub(super) const SHAPE: (u8, u8) = (12, 9);

bitflags! {
    /// Second-stage paging-entry bits, SS-PML5E down to SS-PTE (§9.8). Bits 5:3 are EMT
    /// (extended memory type, leaves only) and bits 51:12 the address; neither is a flag.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct SsFlags: u64 {
        /// Bit 0, R: read access permitted through this entry.
        const R = 1 << 0;
        /// Bit 1, W: write access permitted through this entry.
        const W = 1 << 1;
        /// Bit 2, X: execute requests permitted (honoured only when execute requests are
        /// enabled, ECAP.ERS and the PASID entry's SSEE; ignored otherwise).
        const X = 1 << 2;
        /// Bit 6, IPAT: ignore PAT (leaves only).
        const IPAT = 1 << 6;
        /// Bit 7, PS: in an SS-PDPE / SS-PDE, the entry maps a 1 GiB / 2 MiB page.
        const PS = 1 << 7;
        /// Bit 8, A: accessed (set by hardware when SSADE).
        const A = 1 << 8;
        /// Bit 9, D: dirty (leaves only; set by hardware when SSADE).
        const D = 1 << 9;
        /// Bit 11, SNP: snoop behaviour forced for accesses through this leaf; only when
        /// ECAP.SC, reserved otherwise (QEMU faults on it).
        const SNP = 1 << 11;
    }
}

bitflags! {
    /// First-stage paging-entry bits, the x86 format: FS-PML5E down to FS-PTE (§9.7).
    /// Bits 51:12 are the address. (PAT is bit 7 of a PTE, bit 12 of a large-page entry;
    /// this crate leaves both 0, i.e. write-back with PWT = PCD = 0.)
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct FsFlags: u64 {
        /// Bit 0, P: present.
        const P = 1 << 0;
        /// Bit 1, R/W: writes permitted through this entry.
        const RW = 1 << 1;
        /// Bit 2, U/S: user-mode (non-privileged) requests permitted through this entry.
        const US = 1 << 2;
        /// Bit 3, PWT: page-level write-through.
        const PWT = 1 << 3;
        /// Bit 4, PCD: page-level cache disable.
        const PCD = 1 << 4;
        /// Bit 5, A: accessed (set by hardware).
        const A = 1 << 5;
        /// Bit 6, D: dirty (leaves only; set by hardware).
        const D = 1 << 6;
        /// Bit 7, PS: in an FS-PDPE / FS-PDE, the entry maps a 1 GiB / 2 MiB page.
        const PS = 1 << 7;
        /// Bit 8, G: global (leaves only).
        const G = 1 << 8;
        /// Bit 10, EA: extended accessed (set by hardware when EAFE).
        const EA = 1 << 10;
        /// Bit 63, XD: execute disable.
        const XD = 1 << 63;
    }
}

/// A VT-d paging-entry format: a [`pt::Format`] whose leaves carry [`Permissions`].
/// Implemented by [`SecondStage`] and [`FirstStage`].
pub trait Format: pt::Format<Attributes = Permissions> {}

impl Format for SecondStage {}
impl Format for FirstStage {}

/// The second-stage format (§9.8) as configured for one table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SecondStage {
    /// The large pages leaves may use (CAP.SLLPS).
    pub large_pages: Sllps,
    /// Set SNP on every leaf (only valid when ECAP.SC).
    pub snoop: bool,
    /// Allow [`Permissions::EXECUTE`]; non-leaf entries then carry X too.
    pub execute: bool,
}

impl SecondStage {
    /// The format the unit supports: large pages from CAP.SLLPS, SNP on leaves when ECAP.SC,
    /// no execute permission.
    pub const fn from_capabilities(cap: Capability, ecap: ExtendedCapability) -> Self {
        Self {
            large_pages: cap.sllps(),
            snoop: ecap.sc(),
            execute: false,
        }
    }
}

/// A second-stage paging entry (§9.8), for reading and building entries by their fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(transparent)]
pub struct SecondStageEntry(u64);

impl SecondStageEntry {
    /// Wraps a raw entry.
    pub const fn from_raw(raw: u64) -> Self {
        Self(raw)
    }
    /// The raw entry.
    pub const fn raw(self) -> u64 {
        self.0
    }
    /// The flag bits.
    pub const fn flags(self) -> SsFlags {
        SsFlags::from_bits_truncate(self.0)
    }
    /// ADDR, bits 51:12.
    pub const fn addr(self) -> u64 {
        self.0 & ADDR_MASK
    }
    /// An entry with `addr` (bits 51:12 kept) and `flags`.
    pub const fn new(addr: u64, flags: SsFlags) -> Self {
        Self((addr & ADDR_MASK) | flags.bits())
    }
    /// Present: at least one of R, W, X set (§9.8: an entry with R = W = 0 is not present,
    /// X is never set alone here).
    pub const fn is_present(self) -> bool {
        self.flags()
            .intersects(SsFlags::R.union(SsFlags::W).union(SsFlags::X))
    }
}

impl SecondStage {
    /// The heights (0 = 4 KiB) at which this format may place leaves: 2 MiB and 1 GiB as
    /// CAP.SLLPS allows (§11.4.2).
    pub(super) const fn leaf_heights(&self) -> u8 {
        let mut heights = 1;
        if self.large_pages.contains(Sllps::PAGE_2M) {
            heights |= 1 << 1;
        }
        if self.large_pages.contains(Sllps::PAGE_1G) {
            heights |= 1 << 2;
        }
        heights
    }
}

/// Whether an entry at `height` with PS as `ps` is a leaf: always at the PTE level, with
/// PS = 1 in a PDE or PDPE (§9.7, §9.8; bit 7 of a PTE is PAT in the first-stage format).
const fn is_leaf(height: u8, ps: bool) -> bool {
    height == 0 || ((height == 1 || height == 2) && ps)
}

/// The present-entry count in bits 61:52 of a non-leaf entry (ignored by hardware in both
/// formats, §9.7, §9.8).
const fn count_of(raw: u64) -> u64 {
    (raw & SW_COUNT_MASK) >> SW_COUNT_SHIFT
}

/// `raw` with its present-entry count replaced.
const fn with_count(raw: u64, count: u64) -> u64 {
    (raw & !SW_COUNT_MASK) | ((count << SW_COUNT_SHIFT) & SW_COUNT_MASK)
}

/// What both VT-d formats share as [`pt::Format`]s: 4 KiB pages and 512-entry tables at
/// every level (§9.7, §9.8), levels numbered up from 1 at the PTE, maps invalidated since
/// CAP.CM = 1 (QEMU's caching mode) caches not-present entries (§6.1), blocks split in one
/// 64-bit write that the following IOTLB invalidation with IH = 0 covers (§6.5.2.3), a leaf
/// at the PTE level or with PS, and the software count in bits 61:52. `$entry` is the
/// format's entry type, `$ps` its PS flag.
macro_rules! vtd_format_common {
    ($entry:ident, $ps:expr) => {
        const FIXED_SHAPE: Option<(u8, u8)> = Some(SHAPE);
        const MAP_INVALIDATES: bool = true;
        const SPLITS_BLOCKS: bool = true;

        fn level(height: u8, _levels: u8) -> u8 {
            height + 1
        }

        #[inline(always)]
        fn decode(&self, raw: u64, height: u8, _: &Geometry) -> Decoded {
            let e = $entry(raw);
            if !e.is_present() {
                Decoded::Invalid
            } else if is_leaf(height, e.flags().contains($ps)) {
                Decoded::Leaf(e.addr())
            } else {
                Decoded::Table(e.addr())
            }
        }

        #[inline]
        fn count_of(raw: u64) -> u64 {
            count_of(raw)
        }

        #[inline]
        fn with_count(raw: u64, count: u64) -> u64 {
            with_count(raw, count)
        }

        #[inline]
        fn add_count(raw: u64, delta: i64) -> u64 {
            // One field wide enough for every count (0 ..= 512): no carry leaves it (a
            // borrow below 0 would reach XD, bit 63; the engine never counts below 1).
            debug_assert!((0..=512).contains(&(count_of(raw) as i64 + delta)));
            raw.wrapping_add_signed(delta << SW_COUNT_SHIFT)
        }
    };
}

impl pt::Format for SecondStage {
    type Attributes = Permissions;
    vtd_format_common!(SecondStageEntry, SsFlags::PS);

    fn attributes(&self, raw: u64) -> Permissions {
        let flags = SecondStageEntry(raw).flags();
        let mut permissions = Permissions::empty();
        permissions.set(Permissions::READ, flags.contains(SsFlags::R));
        permissions.set(Permissions::WRITE, flags.contains(SsFlags::W));
        permissions.set(Permissions::EXECUTE, flags.contains(SsFlags::X));
        permissions
    }

    #[inline]
    fn table_entry(&self, table: u64) -> u64 {
        let mut flags = SsFlags::R | SsFlags::W;
        flags.set(SsFlags::X, self.execute);
        SecondStageEntry::new(table, flags).raw()
    }

    #[inline]
    fn leaf_entry(&self, phys: u64, height: u8, permissions: Permissions) -> u64 {
        let mut flags = SsFlags::empty();
        flags.set(SsFlags::R, permissions.contains(Permissions::READ));
        flags.set(SsFlags::W, permissions.contains(Permissions::WRITE));
        flags.set(SsFlags::X, permissions.contains(Permissions::EXECUTE));
        flags.set(SsFlags::PS, height > 0);
        flags.set(SsFlags::SNP, self.snoop);
        SecondStageEntry::new(phys, flags).raw()
    }

    /// Refuses no R/W at all, and X without R or on a table created without execute.
    #[inline]
    fn check(&self, permissions: Permissions) -> Result<(), Error> {
        let rw = Permissions::READ | Permissions::WRITE;
        let exec = permissions.contains(Permissions::EXECUTE);
        if !permissions.intersects(rw)
            || (exec && (!self.execute || !permissions.contains(Permissions::READ)))
        {
            return Err(Error::UnsupportedAttributes);
        }
        Ok(())
    }
}

/// The first-stage format (§9.7) as configured for one table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FirstStage {
    /// 1 GiB leaves allowed (CAP.FS1GP, named FL1GP in the register). 2 MiB leaves are
    /// always allowed in first-stage tables.
    pub pages_1g: bool,
}

impl FirstStage {
    /// The format the unit supports: 1 GiB pages when CAP.FS1GP.
    pub const fn from_capabilities(cap: Capability) -> Self {
        Self {
            pages_1g: cap.fl1gp(),
        }
    }
}

/// A first-stage paging entry (§9.7), for reading and building entries by their fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(transparent)]
pub struct FirstStageEntry(u64);

impl FirstStageEntry {
    /// Wraps a raw entry.
    pub const fn from_raw(raw: u64) -> Self {
        Self(raw)
    }
    /// The raw entry.
    pub const fn raw(self) -> u64 {
        self.0
    }
    /// The flag bits.
    pub const fn flags(self) -> FsFlags {
        FsFlags::from_bits_truncate(self.0)
    }
    /// ADDR, bits 51:12.
    pub const fn addr(self) -> u64 {
        self.0 & ADDR_MASK
    }
    /// An entry with `addr` (bits 51:12 kept) and `flags`.
    pub const fn new(addr: u64, flags: FsFlags) -> Self {
        Self((addr & ADDR_MASK) | flags.bits())
    }
    /// P, bit 0.
    pub const fn is_present(self) -> bool {
        self.flags().contains(FsFlags::P)
    }
}

impl FirstStage {
    /// The heights (0 = 4 KiB) at which this format may place leaves: 2 MiB always, 1 GiB
    /// with CAP.FS1GP (§3.6).
    pub(super) const fn leaf_heights(&self) -> u8 {
        if self.pages_1g { 0b111 } else { 0b011 }
    }
}

impl pt::Format for FirstStage {
    type Attributes = Permissions;
    vtd_format_common!(FirstStageEntry, FsFlags::PS);

    fn attributes(&self, raw: u64) -> Permissions {
        let flags = FirstStageEntry(raw).flags();
        let mut permissions = Permissions::READ;
        permissions.set(Permissions::WRITE, flags.contains(FsFlags::RW));
        permissions.set(Permissions::EXECUTE, !flags.contains(FsFlags::XD));
        permissions
    }

    #[inline]
    fn table_entry(&self, table: u64) -> u64 {
        FirstStageEntry::new(table, FsFlags::P | FsFlags::RW | FsFlags::US).raw()
    }

    #[inline]
    fn leaf_entry(&self, phys: u64, height: u8, permissions: Permissions) -> u64 {
        let mut flags = FsFlags::P | FsFlags::US;
        flags.set(FsFlags::RW, permissions.contains(Permissions::WRITE));
        flags.set(FsFlags::XD, !permissions.contains(Permissions::EXECUTE));
        flags.set(FsFlags::PS, height > 0);
        FirstStageEntry::new(phys, flags).raw()
    }

    /// Present implies readable in the x86 format: READ is required.
    #[inline]
    fn check(&self, permissions: Permissions) -> Result<(), Error> {
        if permissions.contains(Permissions::READ) {
            Ok(())
        } else {
            Err(Error::UnsupportedAttributes)
        }
    }
}
