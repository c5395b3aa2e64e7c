//! Reserved memory range nodes and their memory range descriptors (IORT §3.1.7).

use core::mem::size_of;

use bitflags::bitflags;
use zerocopy::little_endian::{U32, U64};
use zerocopy::{FromBytes, Immutable, KnownLayout, Unaligned};

use super::node::{Node, NodeHeader, relocate};
use crate::acpi::AcpiError;
use crate::acpi::sdt::read_slice;

#[derive(Debug, FromBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub(super) struct RmrRaw {
    header: NodeHeader,
    flags: U32,
    memory_range_count: U32,
    memory_range_offset: U32,
}
const _: () = assert!(size_of::<RmrRaw>() == 28);

/// One RMR memory range descriptor (IORT §3.1.7, Table 26).
#[derive(Debug, Clone, Copy, FromBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct MemoryRangeDescriptor {
    base_address: U64,
    length: U64,
    reserved: U32,
}
const _: () = assert!(size_of::<MemoryRangeDescriptor>() == 20);

impl MemoryRangeDescriptor {
    /// Physical base address of the range (64 KiB aligned).
    pub fn base_address(&self) -> u64 {
        self.base_address.get()
    }
    /// Length of the range in bytes (a multiple of 64 KiB).
    pub fn length(&self) -> u64 {
        self.length.get()
    }
}

bitflags! {
    /// RMR Flags (IORT §3.1.7, Table 25; access bits from DEN 0049E.d).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct RmrFlags: u32 {
        /// The OS may remap the ranges once it has taken over the devices.
        const REMAPPING_PERMITTED = 1 << 0;
        /// Accesses to the ranges are privileged.
        const ACCESS_PRIVILEGED = 1 << 1;
        /// Bits 9:2: memory access attributes (see [`Rmr::access_attributes`]).
        const ACCESS_ATTRIBUTES = 0xff << 2;
    }
}

/// Reserved memory range node: memory that devices behind an SMMU use before the OS takes
/// over and that needs identity mappings (IORT §3.1.7, Table 25).
#[derive(Debug, Clone, Copy)]
pub struct Rmr<'a> {
    pub(super) node: Node<'a>,
    pub(super) raw: &'a RmrRaw,
}

impl<'a> Rmr<'a> {
    /// The generic node.
    pub fn node(&self) -> Node<'a> {
        self.node
    }
    /// RMR Flags.
    pub fn flags(&self) -> RmrFlags {
        RmrFlags::from_bits_retain(self.raw.flags.get())
    }
    /// Memory access attributes from the flags (bits 9:2): 0–3 device nGnRnE, nGnRE, nGRE,
    /// GRE; 4 normal non-cacheable; 5 normal write-back inner shareable (DEN 0049E.d).
    pub fn access_attributes(&self) -> u8 {
        u8::try_from((self.raw.flags.get() >> 2) & 0xff).unwrap_or(0)
    }
    /// The memory range descriptors.
    pub fn memory_ranges(&self) -> &'a [MemoryRangeDescriptor] {
        self.memory_ranges_checked().unwrap_or(&[])
    }

    pub(super) fn memory_ranges_checked(&self) -> Result<&'a [MemoryRangeDescriptor], AcpiError> {
        let count = self.raw.memory_range_count.get();
        if count == 0 {
            return Ok(&[]);
        }
        let off = self.raw.memory_range_offset.get();
        let start = usize::try_from(off).unwrap_or(usize::MAX);
        if start < size_of::<RmrRaw>() {
            return Err(AcpiError::OffsetOutOfBounds {
                offset: self.node.offset,
                value: u64::from(off),
                limit: size_of::<RmrRaw>(),
            });
        }
        let b = self.node.bytes;
        read_slice(b, start, count, b.len()).map_err(|e| relocate(e, self.node.offset))
    }
}
