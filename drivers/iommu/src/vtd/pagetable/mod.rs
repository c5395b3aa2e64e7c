//! VT-d I/O page tables: the second-stage format (§9.8, translation §3.7) and the
//! first-stage format (§9.7, translation §3.6): their entry encodings and geometry, for
//! the page-table engine all formats share ([`crate::pt`], which states the rules every
//! operation follows).
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
//! [`crate::pt::Table`] does them. What is VT-d's: a superpage only partly inside an unmap
//! is split (one 64-bit write replaces a leaf by a table, §6.5.2.3), so what stays mapped
//! keeps its translation; and a map returns its range for invalidation too, since a unit
//! with CAP.CM = 1 may cache not-present entries (§6.1).
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
//! [`aw`]: crate::pt::Table::aw
//! [`flpm`]: crate::pt::Table::flpm

mod entry;
mod invalidation;
mod table;
#[cfg(test)]
mod tests;

pub use entry::{FirstStage, FirstStageEntry, Format, FsFlags, SecondStage};
pub use entry::{SecondStageEntry, SsFlags};
pub use invalidation::{PsiChunk, PsiChunks, psi_chunks};

pub use crate::pt::{Error, Invalidation, IovaRange, Permissions};

/// An I/O page table in one of the two VT-d formats.
pub type IoPageTable<F> = crate::pt::Table<F>;
/// A second-stage (§9.8) I/O page table.
pub type SecondStageTable = IoPageTable<SecondStage>;
/// A first-stage (§9.7) I/O page table.
pub type FirstStageTable = IoPageTable<FirstStage>;
/// What a VT-d table's query finds: the leaf's permissions, its size, its level (1 = PTE).
pub type Mapping = crate::pt::Mapping<Permissions>;

/// The size of the smallest page and of every table: 4 KiB.
pub const PAGE_SIZE: u64 = 4096;
/// The widest output (physical) address either format can hold: bits 51:12 of an entry.
pub const MAX_PHYS_BITS: u8 = 52;

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

    /// The page size of `bytes`, if it is one.
    pub const fn from_bytes(bytes: u64) -> Option<Self> {
        match bytes {
            0x1000 => Some(Self::Size4K),
            0x20_0000 => Some(Self::Size2M),
            0x4000_0000 => Some(Self::Size1G),
            _ => None,
        }
    }
}
