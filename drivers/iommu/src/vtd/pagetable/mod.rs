//! VT-d I/O page tables: the second-stage format (§9.8, translation §3.7) and the
//! first-stage format (§9.7, translation §3.6), with one engine for both.
//!
//! - [`SecondStageTable`]: 3/4/5 levels chosen from CAP.SAGAW (§11.4.2) for the requested
//!   address width; R/W/X permissions, SNP on leaves when ECAP.SC; 2 MiB / 1 GiB pages as
//!   CAP.SLLPS allows. Its root goes into the context entry (SLPTPTR, AW = [`aw`]) or the
//!   scalable-mode PASID entry (SSPTPTR, AW).
//! - [`FirstStageTable`]: the x86 4-level (or, with CAP.FS5LP, 5-level) format, with 2 MiB
//!   pages always and 1 GiB pages when CAP.FS1GP. Every entry has U/S = 1: QEMU's
//!   first-stage walk requires it at every level, and DMA requests are user requests unless
//!   they carry the privileged flag. Its root goes into the PASID entry (FSPTPTR, FLPM =
//!   [`flpm`]).
//!
//! # Operations
//! [`IoPageTable::map`] maps a range with the largest pages alignment allows,
//! [`IoPageTable::unmap`] removes a range (holes are skipped; a superpage only partly inside
//! the range is split, so what stays mapped keeps its translation), [`IoPageTable::query`]
//! translates one address, [`IoPageTable::mappings`] lists the leaves of a range.
//! Intermediate tables are freed once they become empty. Every operation is all-or-nothing:
//! it validates the whole range and allocates every table it needs *before* it writes
//! anything, so an error (bad input, [`Error::AlreadyMapped`], [`Error::OutOfMemory`])
//! leaves the table exactly as it was.
//!
//! # Invalidation and the freeing rule
//! Mutating operations return an [`Invalidation`]: the coalesced IOVA ranges whose cached
//! translations are stale, whether paging-structure entries changed (then the IOTLB
//! invalidation must have IH = 0, §6.5.2.3), and the table pages that became unreachable.
//! Those pages must not be reused until the IOTLB / PASID-cache invalidation covering the
//! ranges has *completed* (an invalidation wait descriptor has been seen, §6.5.2.8): until
//! then the remapping hardware may still walk them through its paging-structure caches
//! (§6.2.4, §6.5), and freeing earlier is a use-after-free by the IOMMU. Hence the pages are
//! handed back only by [`Invalidation::finish`], which the caller calls after that wait.
//! [`psi_chunks`] turns a range into page-selective IOTLB invalidations (ADDR, AM), each a
//! naturally aligned power-of-two block of at most 2^CAP.MAMV pages.
//!
//! # Software bits
//! Non-leaf entries record how many entries of the table they point to are present, in
//! bits 61:52, which both formats define as ignored by hardware (§9.7, §9.8). That makes
//! "is this table now empty" O(1) instead of a scan of 512 entries.
//!
//! [`aw`]: IoPageTable::aw
//! [`flpm`]: IoPageTable::flpm

mod entry;
mod invalidation;
mod table;
#[cfg(test)]
mod tests;

use core::fmt;

use bitflags::bitflags;

pub use entry::{Decoded, FirstStage, FirstStageEntry, Format, FsFlags, SecondStage};
pub use entry::{SecondStageEntry, SsFlags};
pub use invalidation::{Invalidation, IovaRange, PsiChunk, PsiChunks, psi_chunks};
pub use table::IoPageTable;

/// A second-stage (§9.8) I/O page table.
pub type SecondStageTable = IoPageTable<SecondStage>;
/// A first-stage (§9.7) I/O page table.
pub type FirstStageTable = IoPageTable<FirstStage>;

/// The size of the smallest page and of every table: 4 KiB.
pub const PAGE_SIZE: u64 = 4096;
/// Entries per table (§9.7, §9.8): 512 × 8 bytes.
pub const ENTRIES: usize = 512;
/// The widest output (physical) address either format can hold: bits 51:12 of an entry.
pub const MAX_PHYS_BITS: u8 = 52;

bitflags! {
    /// What a device may do through a mapping.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct Permissions: u8 {
        /// Reads (second-stage R; first-stage P).
        const READ = 1 << 0;
        /// Writes (second-stage W; first-stage R/W).
        const WRITE = 1 << 1;
        /// Execute requests (second-stage X; first-stage XD clear). Needs READ.
        const EXECUTE = 1 << 2;
    }
}

/// The page sizes of both formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PageSize {
    /// 4 KiB, mapped by a level-1 entry (PTE).
    Size4K,
    /// 2 MiB, mapped by a level-2 entry with PS = 1 (PDE).
    Size2M,
    /// 1 GiB, mapped by a level-3 entry with PS = 1 (PDPE).
    Size1G,
}

impl PageSize {
    /// The size in bytes.
    pub const fn bytes(self) -> u64 {
        match self {
            Self::Size4K => 1 << 12,
            Self::Size2M => 1 << 21,
            Self::Size1G => 1 << 30,
        }
    }

    /// The page size a leaf at `level` maps (1 = PTE), if `level` can hold leaves.
    pub const fn at_level(level: u8) -> Option<Self> {
        match level {
            1 => Some(Self::Size4K),
            2 => Some(Self::Size2M),
            3 => Some(Self::Size1G),
            _ => None,
        }
    }
}

/// What [`IoPageTable::query`] finds for an address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Mapping {
    /// The output address of the queried IOVA (page base plus the offset in the page).
    pub phys: u64,
    /// The size of the page that maps it.
    pub page_size: PageSize,
    /// What the leaf entry permits.
    pub permissions: Permissions,
}

/// Why a page-table operation was refused. The table is unchanged after any of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Error {
    /// An IOVA, physical address or length is not a multiple of 4 KiB.
    Unaligned,
    /// `address + length` overflows 64 bits.
    Overflow,
    /// The IOVA range reaches beyond the table's address width.
    IovaOutOfRange {
        /// The table's address width in bits.
        address_width: u8,
    },
    /// The physical range reaches beyond bit 51, the widest address an entry holds.
    PhysOutOfRange,
    /// Part of the range is already mapped; `iova` is the first such address.
    AlreadyMapped {
        /// The first IOVA of the range that is already mapped.
        iova: u64,
    },
    /// A table page could not be allocated.
    OutOfMemory,
    /// The permissions cannot be expressed in this format or table: none of READ/WRITE,
    /// EXECUTE without READ, EXECUTE on a table created without it, or (first-stage) WRITE
    /// without READ.
    UnsupportedPermissions,
    /// No page-table depth the hardware supports covers the requested address width
    /// (second-stage: CAP.SAGAW and MGAW; first-stage: 48 bits, or 57 with CAP.FS5LP).
    UnsupportedAddressWidth {
        /// The width that was asked for, in bits.
        requested: u8,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::Unaligned => f.write_str("address or length not 4 KiB aligned"),
            Self::Overflow => f.write_str("address + length overflows"),
            Self::IovaOutOfRange { address_width } => {
                write!(f, "IOVA range beyond the table's {address_width}-bit width")
            }
            Self::PhysOutOfRange => f.write_str("physical range beyond 52 bits"),
            Self::AlreadyMapped { iova } => write!(f, "IOVA {iova:#x} already mapped"),
            Self::OutOfMemory => f.write_str("out of memory for page tables"),
            Self::UnsupportedPermissions => f.write_str("permissions not expressible"),
            Self::UnsupportedAddressWidth { requested } => {
                write!(
                    f,
                    "no supported page-table depth for {requested}-bit addresses"
                )
            }
        }
    }
}
