//! The IO Remapping Table, IORT (Arm DEN 0049, "IO Remapping Table Platform Design Document",
//! table revisions 0 through E.f).
//!
//! [`Iort::parse`] checks the whole table once: every node's length, its fixed part, and every
//! array a node carries (ID mappings, ITS identifiers, SMMU interrupts, RMR memory ranges)
//! against the node's bounds. Afterwards [`Iort::nodes`] walks the table in place. Fields that
//! later revisions appended to a node are returned as `Option`: present when the node is long
//! enough to hold them before its ID mapping array (this is how `iasl` decodes them as well).
//!
//! References between nodes (ID mapping output references, PMCG node references) are checked
//! when followed — [`Iort::node_at`], [`Iort::resolve_rid`] — because real tables carry dangling
//! placeholder references in nodes nobody follows.
//!
//! - this module: the IORT header and [`Iort`] itself (checking the table, walking its nodes).
//! - `node`: the node header, [`Node`], [`NodeKind`] and the per-node checks every kind shares.
//! - `mapping`: ID mapping entries (IORT §3.4).
//! - `resolve`: following ID mappings from a requester ID to its SMMU and ITS group.
//! - `memory_access`: memory access properties of named components and root complexes.
//! - one module per node kind: `its_group`, `named_component`, `root_complex`, `smmu_v1v2`,
//!   `smmu_v3`, `pmcg`, `rmr`, `iwb`.

mod its_group;
mod iwb;
mod mapping;
mod memory_access;
mod named_component;
mod node;
mod pmcg;
mod resolve;
mod rmr;
mod root_complex;
mod smmu_v1v2;
mod smmu_v3;

use core::mem::size_of;

use zerocopy::little_endian::U32;
use zerocopy::{FromBytes, Immutable, KnownLayout, Unaligned};

use super::AcpiError;
use super::sdt::{self, SdtHeader, read};

pub use its_group::ItsGroup;
pub use iwb::Iwb;
pub use mapping::{IdMapping, IdMappingFlags};
pub use memory_access::{AllocationHints, MemoryAccessFlags, MemoryAccessProperties};
pub use named_component::{NamedComponent, NamedComponentFlags};
pub use node::{Node, NodeKind, NodeType, Nodes};
pub use pmcg::Pmcg;
pub use resolve::{IdResolution, ItsHop, MAX_MAPPING_HOPS, SmmuHop, SmmuKind};
pub use rmr::{MemoryRangeDescriptor, Rmr, RmrFlags};
pub use root_complex::{AtsAttribute, PasidCapabilities, RootComplex};
pub use smmu_v1v2::{SmmuInterrupt, SmmuInterruptFlags, SmmuV1V2, SmmuV1V2Flags, SmmuV1V2Model};
pub use smmu_v3::{HttuOverride, SmmuV3, SmmuV3Flags, SmmuV3Model};

/// IORT table signature.
pub const IORT_SIGNATURE: [u8; 4] = *b"IORT";

/// The IORT header after the ACPI header (IORT §3, Table 2).
#[derive(Debug, FromBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
struct IortHeader {
    sdt: SdtHeader,
    node_count: U32,
    node_offset: U32,
    reserved: U32,
}
const _: () = assert!(size_of::<IortHeader>() == 48);

/// A parsed, fully checked IORT borrowed from its bytes.
#[derive(Debug, Clone, Copy)]
pub struct Iort<'a> {
    bytes: &'a [u8],
    header: &'a IortHeader,
    checksum_valid: bool,
}

impl<'a> Iort<'a> {
    /// Parses and checks a whole IORT. `bytes` must be exactly the table (header included).
    ///
    /// Every node and every array inside a node is checked here, so [`Iort::nodes`] never
    /// meets malformed data. A wrong checksum is not an error: see [`Iort::checksum_valid`].
    pub fn parse(bytes: &'a [u8]) -> Result<Self, AcpiError> {
        let (_, checksum_valid) = sdt::parse_table(bytes, &IORT_SIGNATURE)?;
        let header = read::<IortHeader>(bytes, 0, bytes.len())?;
        let node_offset = header.node_offset.get();
        let count = header.node_count.get();
        if count > 0 {
            let start = usize::try_from(node_offset).unwrap_or(usize::MAX);
            if start < size_of::<IortHeader>() {
                return Err(AcpiError::OffsetOutOfBounds {
                    offset: 0,
                    value: u64::from(node_offset),
                    limit: size_of::<IortHeader>(),
                });
            }
            if start >= bytes.len() {
                return Err(AcpiError::OffsetOutOfBounds {
                    offset: 0,
                    value: u64::from(node_offset),
                    limit: bytes.len(),
                });
            }
        }
        let iort = Self {
            bytes,
            header,
            checksum_valid,
        };
        let mut pos = iort.first_node();
        for _ in 0..count {
            let node = Node::parse(bytes, pos)?;
            pos = node.end();
        }
        Ok(iort)
    }

    /// The ACPI header.
    pub fn header(&self) -> &'a SdtHeader {
        &self.header.sdt
    }

    /// Table revision (0 for DEN 0049 C/D, 3 for E.b, 4 for E.c, 5 for E.d, 6 for E.e, 7 for
    /// E.f).
    pub fn revision(&self) -> u8 {
        self.header.sdt.revision()
    }

    /// Whether the table's bytes sum to zero. Firmware ships tables with wrong checksums and
    /// they are otherwise usable; callers should warn, not refuse.
    pub fn checksum_valid(&self) -> bool {
        self.checksum_valid
    }

    /// Number of nodes.
    pub fn node_count(&self) -> u32 {
        self.header.node_count.get()
    }

    /// Offset of the first node (tables may pad after the header).
    pub fn node_array_offset(&self) -> u32 {
        self.header.node_offset.get()
    }

    /// The whole table.
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    fn first_node(&self) -> usize {
        usize::try_from(self.header.node_offset.get()).unwrap_or(usize::MAX)
    }

    /// Every node in table order.
    pub fn nodes(&self) -> Nodes<'a> {
        Nodes {
            bytes: self.bytes,
            pos: self.first_node(),
            remaining: self.node_count(),
        }
    }

    /// The node starting at table offset `reference`, as ID mappings and PMCG node references
    /// name nodes. Anything that is not the start of a node is [`AcpiError::BadReference`]
    /// (reported at `from`, the offset of the field holding the reference).
    pub fn node_at(&self, reference: u32, from: usize) -> Result<Node<'a>, AcpiError> {
        let target = usize::try_from(reference).ok();
        self.nodes()
            .find(|n| Some(n.offset()) == target)
            .ok_or(AcpiError::BadReference {
                offset: from,
                reference,
            })
    }

    /// The root complex node of a PCI segment.
    pub fn root_complex(&self, segment: u32) -> Result<RootComplex<'a>, AcpiError> {
        self.nodes()
            .find_map(|n| match n.kind() {
                NodeKind::RootComplex(rc) if rc.pci_segment_number() == segment => Some(rc),
                _ => None,
            })
            .ok_or(AcpiError::NoRootComplex { segment })
    }
}
