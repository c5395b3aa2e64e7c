//! PCI root complex nodes (IORT §3.1.1.3).

use core::mem::size_of;

use bitflags::bitflags;
use zerocopy::little_endian::{U16, U32};
use zerocopy::{FromBytes, Immutable, KnownLayout, Unaligned};

use super::memory_access::MemoryAccessProperties;
use super::node::{Node, NodeHeader};
use crate::acpi::sdt::read;

#[derive(Debug, FromBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub(super) struct RootComplexRaw {
    header: NodeHeader,
    memory_access: MemoryAccessProperties,
    ats_attribute: U32,
    pci_segment_number: U32,
}
const _: () = assert!(size_of::<RootComplexRaw>() == 32);

/// Root complex fields after the E.a layout: memory address size limit (root complex node
/// revision 1), PASID capabilities (revision 4, DEN 0049E.d), then Flags (DEN 0049E.f).
#[derive(Debug, FromBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
struct RootComplexTail {
    memory_address_size_limit: u8,
    pasid_capabilities: U16,
    reserved: u8,
    flags: U32,
}
const _: () = assert!(size_of::<RootComplexTail>() == 8);

bitflags! {
    /// Root complex ATS Attribute (IORT §3.1.1.3, Table 17).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct AtsAttribute: u32 {
        /// The root complex supports ATS.
        const ATS_SUPPORTED = 1 << 0;
        /// The root complex supports PRI (DEN 0049E.b).
        const PRI_SUPPORTED = 1 << 1;
        /// The root complex forwards PASIDs on translated transactions to the SMMU
        /// (DEN 0049E.b).
        const PASID_FORWARDING_SUPPORTED = 1 << 2;
    }
}

bitflags! {
    /// Root complex PASID capabilities (IORT §3.1.1.3, DEN 0049E.d).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct PasidCapabilities: u16 {
        /// Bits 4:0: maximum PASID width supported by the root complex.
        const MAX_PASID_WIDTH = 0x1f;
    }
}

/// PCI root complex node (IORT §3.1.1.3, Table 17).
#[derive(Debug, Clone, Copy)]
pub struct RootComplex<'a> {
    pub(super) node: Node<'a>,
    pub(super) raw: &'a RootComplexRaw,
    /// Bytes after the first-revision fixed part, up to the ID mappings.
    pub(super) tail: &'a [u8],
}

impl<'a> RootComplex<'a> {
    /// The generic node.
    pub fn node(&self) -> Node<'a> {
        self.node
    }
    /// Memory access properties.
    pub fn memory_access_properties(&self) -> &'a MemoryAccessProperties {
        &self.raw.memory_access
    }
    /// ATS Attribute.
    pub fn ats_attribute(&self) -> AtsAttribute {
        AtsAttribute::from_bits_retain(self.raw.ats_attribute.get())
    }
    /// PCI segment number, as in MCFG and `_SEG`.
    pub fn pci_segment_number(&self) -> u32 {
        self.raw.pci_segment_number.get()
    }
    /// Memory address size limit in bits (root complex node revision 1 on).
    pub fn memory_address_size_limit(&self) -> Option<u8> {
        if self.node.revision() >= 1 {
            self.tail.first().copied()
        } else {
            None
        }
    }
    /// PASID capabilities (root complex node revision 4 on, DEN 0049E.d).
    pub fn pasid_capabilities(&self) -> Option<PasidCapabilities> {
        if self.node.revision() < 4 {
            return None;
        }
        let raw = U16::read_from_bytes(self.tail.get(1..3)?).ok()?;
        Some(PasidCapabilities::from_bits_retain(raw.get()))
    }
    /// Maximum PASID width, from the PASID capabilities.
    pub fn max_pasid_width(&self) -> Option<u8> {
        self.pasid_capabilities()
            .map(|c| u8::try_from(c.bits() & 0x1f).unwrap_or(0))
    }
    /// Root complex Flags (DEN 0049E.f), reported raw; present only when the node is long
    /// enough to hold them before its ID mappings.
    pub fn flags(&self) -> Option<u32> {
        if self.node.revision() < 4 {
            return None;
        }
        read::<RootComplexTail>(self.tail, 0, self.tail.len())
            .ok()
            .map(|t| t.flags.get())
    }
}
