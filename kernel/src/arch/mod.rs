//! Architecture support: the only place, with `mem/heap.rs`, that touches
//! registers, special instructions and raw memory.
//!
//! Each architecture provides the same modules: `console`, `time`, `exceptions`,
//! `paging`, `cpu` and `platform` (what the boot path tells about memory).

#[cfg(target_arch = "aarch64")]
mod aarch64;
#[cfg(target_arch = "aarch64")]
pub use self::aarch64::*;

#[cfg(target_arch = "x86_64")]
mod x86_64;
#[cfg(target_arch = "x86_64")]
pub use self::x86_64::*;

/// Memory type of a kernel mapping.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemType {
    /// Cacheable RAM.
    Normal,
    /// Uncached, strongly ordered device registers.
    Device,
}

/// Access rights of a kernel mapping.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    ReadOnly,
    ReadWrite,
    ReadExecute,
}

/// What a kernel mapping maps to, as [`paging::translate`] reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mapped {
    pub phys: u64,
    pub mem: MemType,
    pub access: Access,
}

/// Why a kernel mapping could not be made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapError {
    /// No frame left for a page table.
    OutOfFrames,
    /// An address or size is not page aligned, or the range wraps.
    Misaligned,
    /// The virtual range is already mapped (to something else).
    AlreadyMapped(u64),
    /// The virtual range is outside what the kernel's tables can map.
    OutOfRange(u64),
    /// Nothing is mapped at the address.
    NotMapped(u64),
}

/// Hands `range` to the kernel heap for good.
pub fn heap_init(range: crate::mem::ranges::Range) {
    // SAFETY: kmain removes `range` from the allocatable set before calling this,
    // so nothing else uses it; it is RAM, identity mapped read-write by the boot
    // map and by the kernel's own tables.
    unsafe { crate::mem::heap::init(range.start, range.len()) }
}
