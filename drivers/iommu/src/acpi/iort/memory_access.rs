//! Memory access properties of named components and root complexes (IORT §3.1.1.2).

use core::mem::size_of;

use bitflags::bitflags;
use zerocopy::little_endian::U32;
use zerocopy::{FromBytes, Immutable, KnownLayout, Unaligned};

/// Memory access properties of a device or root complex (IORT §3.1.1.2, Tables 14–16).
#[derive(Debug, Clone, Copy, FromBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct MemoryAccessProperties {
    cache_coherency: U32,
    allocation_hints: u8,
    reserved: [u8; 2],
    memory_access_flags: u8,
}
const _: () = assert!(size_of::<MemoryAccessProperties>() == 8);

bitflags! {
    /// Allocation hints (IORT §3.1.1.2, Table 15).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct AllocationHints: u8 {
        /// TR: transient.
        const TRANSIENT = 1 << 0;
        /// WA: write-allocate.
        const WRITE_ALLOCATE = 1 << 1;
        /// RA: read-allocate.
        const READ_ALLOCATE = 1 << 2;
        /// AHO: the hints override the device's own.
        const OVERRIDE = 1 << 3;
    }
}

bitflags! {
    /// Memory access flags (IORT §3.1.1.2, Table 16).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct MemoryAccessFlags: u8 {
        /// CPM: the device has a coherent path to memory.
        const COHERENT_PATH_TO_MEMORY = 1 << 0;
        /// DACS: device attributes are cacheable and inner shareable.
        const DEVICE_ATTRIBUTES_CACHEABLE_SHAREABLE = 1 << 1;
        /// CANWBS: the device's accesses are ensured coherent with normal write-back
        /// shareable memory (DEN 0049E.e).
        const ENSURED_COHERENCY = 1 << 2;
    }
}

impl MemoryAccessProperties {
    /// Cache coherent attribute (CCA): 1 when the device is fully coherent.
    pub fn cache_coherency(&self) -> u32 {
        self.cache_coherency.get()
    }
    /// Allocation hints.
    pub fn allocation_hints(&self) -> AllocationHints {
        AllocationHints::from_bits_retain(self.allocation_hints)
    }
    /// Memory access flags.
    pub fn memory_access_flags(&self) -> MemoryAccessFlags {
        MemoryAccessFlags::from_bits_retain(self.memory_access_flags)
    }
}
