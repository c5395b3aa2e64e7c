//! Named component nodes (IORT §3.1.1.1).

use core::mem::size_of;

use bitflags::bitflags;
use zerocopy::little_endian::U32;
use zerocopy::{FromBytes, Immutable, KnownLayout, Unaligned};

use super::memory_access::MemoryAccessProperties;
use super::node::{Node, NodeHeader};
use crate::acpi::sdt;

#[derive(Debug, FromBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub(super) struct NamedComponentRaw {
    header: NodeHeader,
    node_flags: U32,
    memory_access: MemoryAccessProperties,
    device_memory_address_size_limit: u8,
}
const _: () = assert!(size_of::<NamedComponentRaw>() == 29);

bitflags! {
    /// Named component Node Flags (IORT §3.1.1.1, Table 13).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct NamedComponentFlags: u32 {
        /// The device supports stall (SMMUv3 stall model for faults).
        const STALL_SUPPORTED = 1 << 0;
        /// Bits 5:1: the number of PASID (SubstreamID) bits the device supports.
        const PASID_BITS = 0x1f << 1;
    }
}

/// Named component node: a non-PCI device named by its ACPI object (IORT §3.1.1.1,
/// Table 13).
#[derive(Debug, Clone, Copy)]
pub struct NamedComponent<'a> {
    pub(super) node: Node<'a>,
    pub(super) raw: &'a NamedComponentRaw,
    pub(super) name_field: &'a [u8],
}

impl<'a> NamedComponent<'a> {
    /// The generic node.
    pub fn node(&self) -> Node<'a> {
        self.node
    }
    /// Node Flags.
    pub fn flags(&self) -> NamedComponentFlags {
        NamedComponentFlags::from_bits_retain(self.raw.node_flags.get())
    }
    /// Number of PASID (SubstreamID) bits, from the flags.
    pub fn pasid_bits(&self) -> u8 {
        // Masked to five bits, so the conversion cannot fail.
        u8::try_from((self.raw.node_flags.get() >> 1) & 0x1f).unwrap_or(0)
    }
    /// Memory access properties.
    pub fn memory_access_properties(&self) -> &'a MemoryAccessProperties {
        &self.raw.memory_access
    }
    /// Device memory address size limit, in bits.
    pub fn device_memory_address_size_limit(&self) -> u8 {
        self.raw.device_memory_address_size_limit
    }
    /// Device object name: the full ACPI path, such as `\_SB.PCI0.DEV0`, without the
    /// terminating NUL and padding.
    pub fn device_object_name(&self) -> &'a [u8] {
        sdt::until_nul(self.name_field)
    }
    /// The object name as text, if it is ASCII.
    pub fn device_object_name_str(&self) -> Option<&'a str> {
        ascii(self.device_object_name())
    }
}

fn ascii(name: &[u8]) -> Option<&str> {
    if name.is_ascii() {
        core::str::from_utf8(name).ok()
    } else {
        None
    }
}
