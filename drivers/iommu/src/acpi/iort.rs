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

use core::mem::size_of;

use bitflags::bitflags;
use zerocopy::little_endian::{U16, U32, U64};
use zerocopy::{FromBytes, Immutable, KnownLayout, Unaligned};

use super::AcpiError;
use super::sdt::{self, SdtHeader, read, read_slice};

/// IORT table signature.
pub const IORT_SIGNATURE: [u8; 4] = *b"IORT";

/// Longest chain of ID mappings [`Iort::resolve_id`] follows. A valid chain is at most
/// root complex or named component → SMMU → ITS group.
pub const MAX_MAPPING_HOPS: usize = 8;

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

/// The header every node starts with (IORT §3.1, Table 3).
#[derive(Debug, FromBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
struct NodeHeader {
    ty: u8,
    length: U16,
    revision: u8,
    identifier: U32,
    mapping_count: U32,
    mapping_offset: U32,
}
const _: () = assert!(size_of::<NodeHeader>() == 16);

/// IORT node types (IORT §3.1, Table 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NodeType {
    /// 0: ITS group.
    ItsGroup,
    /// 1: named component.
    NamedComponent,
    /// 2: PCI root complex.
    RootComplex,
    /// 3: SMMUv1 or SMMUv2.
    SmmuV1V2,
    /// 4: SMMUv3.
    SmmuV3,
    /// 5: PMCG (SMMUv3 performance monitor counter group).
    Pmcg,
    /// 6: Reserved memory range (RMR).
    Rmr,
    /// 7: Interrupt wire bridge (IWB, GICv5 systems; DEN 0049E.g).
    Iwb,
    /// A type this parser does not know.
    Unknown(u8),
}

impl From<u8> for NodeType {
    fn from(v: u8) -> Self {
        match v {
            0 => Self::ItsGroup,
            1 => Self::NamedComponent,
            2 => Self::RootComplex,
            3 => Self::SmmuV1V2,
            4 => Self::SmmuV3,
            5 => Self::Pmcg,
            6 => Self::Rmr,
            7 => Self::Iwb,
            other => Self::Unknown(other),
        }
    }
}

impl From<NodeType> for u8 {
    fn from(t: NodeType) -> u8 {
        match t {
            NodeType::ItsGroup => 0,
            NodeType::NamedComponent => 1,
            NodeType::RootComplex => 2,
            NodeType::SmmuV1V2 => 3,
            NodeType::SmmuV3 => 4,
            NodeType::Pmcg => 5,
            NodeType::Rmr => 6,
            NodeType::Iwb => 7,
            NodeType::Unknown(v) => v,
        }
    }
}

/// One ID mapping entry (IORT §3.4, Table 5): maps a range of input IDs of the node that
/// carries it onto output IDs of the node at `output_reference`.
#[derive(Debug, Clone, Copy, FromBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct IdMapping {
    input_base: U32,
    number_of_ids: U32,
    output_base: U32,
    output_reference: U32,
    flags: U32,
}
const _: () = assert!(size_of::<IdMapping>() == 20);

bitflags! {
    /// ID mapping Flags (IORT §3.4, Table 5).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct IdMappingFlags: u32 {
        /// The mapping is a single ID: the output is `output_base` whatever the input. Used for
        /// a node's own ID (an SMMU's or PMCG's MSIs, a device with one ID).
        const SINGLE_MAPPING = 1 << 0;
    }
}

impl IdMapping {
    /// Input base: the lowest input ID of the range.
    pub fn input_base(&self) -> u32 {
        self.input_base.get()
    }
    /// The spec's "Number of IDs" field as stored: the number of IDs in the range **minus one**.
    pub fn number_of_ids_field(&self) -> u32 {
        self.number_of_ids.get()
    }
    /// How many IDs the range covers (the field plus one, so it cannot overflow).
    pub fn id_count(&self) -> u64 {
        u64::from(self.number_of_ids.get()) + 1
    }
    /// The last input ID of the range, inclusive (saturating at `u32::MAX`).
    pub fn input_last(&self) -> u32 {
        self.input_base
            .get()
            .saturating_add(self.number_of_ids.get())
    }
    /// Output base: the output ID for `input_base`.
    pub fn output_base(&self) -> u32 {
        self.output_base.get()
    }
    /// Output reference: table offset of the node the output IDs belong to.
    pub fn output_reference(&self) -> u32 {
        self.output_reference.get()
    }
    /// Flags.
    pub fn flags(&self) -> IdMappingFlags {
        IdMappingFlags::from_bits_retain(self.flags.get())
    }
    /// Whether this is a single mapping.
    pub fn is_single(&self) -> bool {
        self.flags().contains(IdMappingFlags::SINGLE_MAPPING)
    }
    /// Whether the range (not a single mapping) contains `id`.
    pub fn covers(&self, id: u32) -> bool {
        !self.is_single() && id >= self.input_base() && id <= self.input_last()
    }
    /// The output ID for `id`: `output_base + (id - input_base)` for a range that covers it,
    /// `output_base` for a single mapping. `None` if the range does not cover `id` or the
    /// result does not fit in 32 bits.
    pub fn map(&self, id: u32) -> Option<u32> {
        if self.is_single() {
            return Some(self.output_base());
        }
        if !self.covers(id) {
            return None;
        }
        self.output_base().checked_add(id - self.input_base())
    }
}

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

#[derive(Debug, FromBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
struct ItsGroupRaw {
    header: NodeHeader,
    its_count: U32,
}
const _: () = assert!(size_of::<ItsGroupRaw>() == 20);

#[derive(Debug, FromBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
struct NamedComponentRaw {
    header: NodeHeader,
    node_flags: U32,
    memory_access: MemoryAccessProperties,
    device_memory_address_size_limit: u8,
}
const _: () = assert!(size_of::<NamedComponentRaw>() == 29);

#[derive(Debug, FromBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
struct RootComplexRaw {
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

#[derive(Debug, FromBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
struct SmmuV1V2Raw {
    header: NodeHeader,
    base_address: U64,
    span: U64,
    model: U32,
    flags: U32,
    global_interrupt_offset: U32,
    context_interrupt_count: U32,
    context_interrupt_offset: U32,
    pmu_interrupt_count: U32,
    pmu_interrupt_offset: U32,
}
const _: () = assert!(size_of::<SmmuV1V2Raw>() == 60);

/// One SMMUv1/v2 interrupt: GSIV and flags (IORT §3.1.3, Table 20).
#[derive(Debug, Clone, Copy, FromBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct SmmuInterrupt {
    gsiv: U32,
    flags: U32,
}
const _: () = assert!(size_of::<SmmuInterrupt>() == 8);

bitflags! {
    /// SMMUv1/v2 interrupt flags (IORT §3.1.3, Table 20).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct SmmuInterruptFlags: u32 {
        /// Edge-triggered (level-triggered when clear).
        const EDGE_TRIGGERED = 1 << 0;
    }
}

impl SmmuInterrupt {
    /// The interrupt's GSIV.
    pub fn gsiv(&self) -> u32 {
        self.gsiv.get()
    }
    /// Its flags.
    pub fn flags(&self) -> SmmuInterruptFlags {
        SmmuInterruptFlags::from_bits_retain(self.flags.get())
    }
}

#[derive(Debug, FromBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
struct SmmuV3Raw {
    header: NodeHeader,
    base_address: U64,
    flags: U32,
    reserved: U32,
    vatos_address: U64,
    model: U32,
    event_gsiv: U32,
    pri_gsiv: U32,
    gerr_gsiv: U32,
    sync_gsiv: U32,
}
const _: () = assert!(size_of::<SmmuV3Raw>() == 60);

/// SMMUv3 fields after the first layout: proximity domain and DeviceID mapping index.
#[derive(Debug, FromBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
struct SmmuV3Tail {
    proximity_domain: U32,
    device_id_mapping_index: U32,
}
const _: () = assert!(size_of::<SmmuV3Tail>() == 8);

#[derive(Debug, FromBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
struct PmcgRaw {
    header: NodeHeader,
    page0_base_address: U64,
    overflow_interrupt_gsiv: U32,
    node_reference: U32,
}
const _: () = assert!(size_of::<PmcgRaw>() == 32);

#[derive(Debug, FromBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
struct PmcgTail {
    page1_base_address: U64,
}
const _: () = assert!(size_of::<PmcgTail>() == 8);

#[derive(Debug, FromBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
struct RmrRaw {
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

#[derive(Debug, FromBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
struct IwbRaw {
    header: NodeHeader,
    config_frame_base: U64,
    iwb_index: U16,
}
const _: () = assert!(size_of::<IwbRaw>() == 26);

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

bitflags! {
    /// SMMUv1/v2 Flags (IORT §3.1.3, Table 19).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct SmmuV1V2Flags: u32 {
        /// DVM: the SMMU supports broadcast TLB maintenance.
        const DVM_SUPPORTED = 1 << 0;
        /// The page table walker is cache coherent.
        const COHERENT_PAGE_TABLE_WALK = 1 << 1;
    }
}

bitflags! {
    /// SMMUv3 Flags (IORT §3.1.4, Table 21).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct SmmuV3Flags: u32 {
        /// COHACC Override: the SMMU's accesses are coherent whatever IDR0.COHACC says.
        const COHACC_OVERRIDE = 1 << 0;
        /// Bits 2:1: HTTU Override (see [`SmmuV3::httu_override`]).
        const HTTU_OVERRIDE = 0b11 << 1;
        /// The Proximity Domain field is valid.
        const PROXIMITY_DOMAIN_VALID = 1 << 3;
        /// The DeviceID mapping index field is valid (DEN 0049E.e).
        const DEVICE_ID_MAPPING_INDEX_VALID = 1 << 4;
    }
}

/// SMMUv3 HTTU Override values (IORT §3.1.4, Table 21, Flags bits 2:1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HttuOverride {
    /// 0: use IDR0.HTTU as reported.
    None,
    /// 1: hardware update of the access flag is supported.
    AccessFlag,
    /// 2: hardware update of the access flag and dirty state is supported.
    AccessFlagAndDirtyState,
    /// 3: reserved.
    Reserved,
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

/// SMMUv1/v2 Model values (IORT §3.1.3, Table 19).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SmmuV1V2Model {
    /// 0: generic SMMUv1.
    GenericV1,
    /// 1: generic SMMUv2.
    GenericV2,
    /// 2: Arm CoreLink MMU-400.
    Mmu400,
    /// 3: Arm CoreLink MMU-500.
    Mmu500,
    /// 4: Arm CoreLink MMU-401.
    Mmu401,
    /// 5: Cavium ThunderX SMMUv2.
    CaviumThunderXV2,
    /// Any other value.
    Unknown(u32),
}

impl From<u32> for SmmuV1V2Model {
    fn from(v: u32) -> Self {
        match v {
            0 => Self::GenericV1,
            1 => Self::GenericV2,
            2 => Self::Mmu400,
            3 => Self::Mmu500,
            4 => Self::Mmu401,
            5 => Self::CaviumThunderXV2,
            other => Self::Unknown(other),
        }
    }
}

/// SMMUv3 Model values (IORT §3.1.4, Table 21).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SmmuV3Model {
    /// 0: generic SMMUv3.
    Generic,
    /// 1: HiSilicon Hi161x SMMUv3.
    HiSiliconHi161x,
    /// 2: Cavium CN99xx SMMUv3.
    CaviumCn99xx,
    /// Any other value.
    Unknown(u32),
}

impl From<u32> for SmmuV3Model {
    fn from(v: u32) -> Self {
        match v {
            0 => Self::Generic,
            1 => Self::HiSiliconHi161x,
            2 => Self::CaviumCn99xx,
            other => Self::Unknown(other),
        }
    }
}

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

    /// Resolves a PCI requester ID of `segment` through the ID mapping chain: root complex →
    /// SMMU (giving the StreamID) → ITS group (giving the DeviceID). IORT §3.4 and §2 "ID
    /// mappings".
    pub fn resolve_rid(&self, segment: u32, rid: u32) -> Result<IdResolution, AcpiError> {
        let rc = self.root_complex(segment)?;
        self.resolve_id(rc.node().offset(), rid)
    }

    /// Resolves `id`, an input ID of the node at table offset `node_offset` (a root complex's
    /// requester ID, a named component's ID, or an SMMU's StreamID), through the chain of ID
    /// mappings. The walk stops at an ITS group or at a node that has no mapping for the ID;
    /// the starting node itself must map it. At most [`MAX_MAPPING_HOPS`] hops are followed
    /// and a node reached twice is [`AcpiError::ReferenceCycle`], so the walk always ends.
    ///
    /// Single mappings match any input at named components and root complexes; at SMMU and
    /// PMCG nodes they describe the node's own MSIs and are not used to translate input IDs.
    pub fn resolve_id(&self, node_offset: usize, id: u32) -> Result<IdResolution, AcpiError> {
        let start = u32::try_from(node_offset).map_err(|_| AcpiError::BadReference {
            offset: node_offset,
            reference: u32::MAX,
        })?;
        let mut node = self.node_at(start, node_offset)?;
        let mut id = id;
        let mut result = IdResolution {
            source_offset: node.offset(),
            input_id: id,
            smmu: None,
            its_group: None,
        };
        let mut visited = [usize::MAX; MAX_MAPPING_HOPS];
        for hop in 0..MAX_MAPPING_HOPS {
            let offset = node.offset();
            if visited.contains(&offset) {
                return Err(AcpiError::ReferenceCycle { offset });
            }
            if let Some(v) = visited.get_mut(hop) {
                *v = offset;
            }
            let first = hop == 0;
            let node_type = u8::from(node.node_type());
            match node.kind() {
                NodeKind::ItsGroup(_) => {
                    result.its_group = Some(ItsHop {
                        node_offset: offset,
                        device_id: id,
                    });
                    return Ok(result);
                }
                NodeKind::SmmuV1V2(smmu) => {
                    if result.smmu.is_some() {
                        return Err(AcpiError::BadReferenceTarget { offset, node_type });
                    }
                    result.smmu = Some(SmmuHop {
                        node_offset: offset,
                        kind: SmmuKind::V1V2,
                        base_address: smmu.base_address(),
                        stream_id: id,
                    });
                }
                NodeKind::SmmuV3(smmu) => {
                    if result.smmu.is_some() {
                        return Err(AcpiError::BadReferenceTarget { offset, node_type });
                    }
                    result.smmu = Some(SmmuHop {
                        node_offset: offset,
                        kind: SmmuKind::V3,
                        base_address: smmu.base_address(),
                        stream_id: id,
                    });
                }
                _ if !first => return Err(AcpiError::BadReferenceTarget { offset, node_type }),
                _ => {}
            }
            match node.translate(id)? {
                Some((out, reference, field)) => {
                    node = self.node_at(reference, field)?;
                    id = out;
                }
                None if first => return Err(AcpiError::NoMapping { offset, id }),
                None => return Ok(result),
            }
        }
        Err(AcpiError::ChainTooLong {
            offset: node.offset(),
        })
    }
}

/// Where an ID ends up; see [`Iort::resolve_rid`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdResolution {
    /// The node the walk started at.
    pub source_offset: usize,
    /// The ID the walk started with.
    pub input_id: u32,
    /// The SMMU the ID passes through, if any.
    pub smmu: Option<SmmuHop>,
    /// The ITS group the ID reaches, if any.
    pub its_group: Option<ItsHop>,
}

impl IdResolution {
    /// The StreamID at the SMMU.
    pub fn stream_id(&self) -> Option<u32> {
        self.smmu.map(|s| s.stream_id)
    }
    /// The DeviceID at the ITS group.
    pub fn device_id(&self) -> Option<u32> {
        self.its_group.map(|i| i.device_id)
    }
}

/// Which SMMU architecture a node describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SmmuKind {
    /// SMMUv1 or SMMUv2 node.
    V1V2,
    /// SMMUv3 node.
    V3,
}

/// The SMMU on a resolved chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SmmuHop {
    /// Table offset of the SMMU node.
    pub node_offset: usize,
    /// SMMUv1/v2 or SMMUv3.
    pub kind: SmmuKind,
    /// The SMMU's register base address, which identifies it to the driver.
    pub base_address: u64,
    /// The StreamID the device's transactions carry at this SMMU.
    pub stream_id: u32,
}

/// The ITS group at the end of a resolved chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ItsHop {
    /// Table offset of the ITS group node.
    pub node_offset: usize,
    /// The DeviceID the device's MSIs carry at the ITS.
    pub device_id: u32,
}

/// Iterator over an IORT's nodes; see [`Iort::nodes`].
#[derive(Debug, Clone)]
pub struct Nodes<'a> {
    bytes: &'a [u8],
    pos: usize,
    remaining: u32,
}

impl<'a> Iterator for Nodes<'a> {
    type Item = Node<'a>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.remaining == 0 {
            return None;
        }
        match Node::parse(self.bytes, self.pos) {
            Ok(node) => {
                self.remaining -= 1;
                self.pos = node.end();
                Some(node)
            }
            // `Iort::parse` checked every node, so errors cannot happen here; stop anyway.
            Err(_) => {
                self.remaining = 0;
                None
            }
        }
    }
}

/// One IORT node (IORT §3.1).
#[derive(Debug, Clone, Copy)]
pub struct Node<'a> {
    offset: usize,
    header: &'a NodeHeader,
    /// The node's bytes, `header.length` of them.
    bytes: &'a [u8],
    mappings: &'a [IdMapping],
    /// Where the node's type-specific fixed part may extend to: the ID mapping array, or the
    /// node's end when it has no mappings.
    fixed_end: usize,
}

impl<'a> Node<'a> {
    /// Reads and checks the node at table offset `pos` of `table`.
    fn parse(table: &'a [u8], pos: usize) -> Result<Self, AcpiError> {
        let header = read::<NodeHeader>(table, pos, table.len())?;
        let length = usize::from(header.length.get());
        if length == 0 {
            return Err(AcpiError::ZeroLength { offset: pos });
        }
        let available = table.len().saturating_sub(pos);
        if length > available {
            return Err(AcpiError::LengthOverrun {
                offset: pos,
                length,
                available,
            });
        }
        let node_type = NodeType::from(header.ty);
        let minimum = fixed_size(node_type);
        if length < minimum {
            return Err(AcpiError::LengthTooSmall {
                offset: pos,
                length,
                minimum,
            });
        }
        // `length <= available` makes `pos + length` safe.
        let bytes = table.get(pos..pos + length).unwrap_or(&[]);
        let count = header.mapping_count.get();
        let (mappings, fixed_end) = if count == 0 {
            (&[][..], length)
        } else {
            let map_off = header.mapping_offset.get();
            let start = usize::try_from(map_off).unwrap_or(usize::MAX);
            if start < minimum {
                return Err(AcpiError::OffsetOutOfBounds {
                    offset: pos,
                    value: u64::from(map_off),
                    limit: minimum,
                });
            }
            let table_offset = sdt::add(pos, u64::from(map_off), table.len())?;
            let mappings =
                read_slice::<IdMapping>(bytes, start, count, length).map_err(|e| match e {
                    AcpiError::ArrayOverrun {
                        count,
                        entry_size,
                        available,
                        ..
                    } => AcpiError::ArrayOverrun {
                        offset: table_offset,
                        count,
                        entry_size,
                        available,
                    },
                    other => other,
                })?;
            (mappings, start)
        };
        let node = Self {
            offset: pos,
            header,
            bytes,
            mappings,
            fixed_end,
        };
        node.check_arrays()?;
        Ok(node)
    }

    /// Checks the type-specific arrays fit in the node.
    fn check_arrays(&self) -> Result<(), AcpiError> {
        match self.kind_checked()? {
            NodeKind::SmmuV1V2(s) => {
                s.global_interrupts_checked()?;
                s.context_interrupts_checked()?;
                s.pmu_interrupts_checked()?;
            }
            NodeKind::Rmr(r) => {
                r.memory_ranges_checked()?;
            }
            _ => {}
        }
        Ok(())
    }

    fn end(&self) -> usize {
        self.offset + self.bytes.len()
    }

    /// Table offset of the node.
    pub fn offset(&self) -> usize {
        self.offset
    }
    /// Node type.
    pub fn node_type(&self) -> NodeType {
        NodeType::from(self.header.ty)
    }
    /// Node length in bytes.
    pub fn length(&self) -> u16 {
        self.header.length.get()
    }
    /// Node revision: which version of this node type's layout the node uses.
    pub fn revision(&self) -> u8 {
        self.header.revision
    }
    /// Identifier, unique among the nodes (table revision 3, DEN 0049E.b, on; reserved and
    /// normally zero before).
    pub fn identifier(&self) -> u32 {
        self.header.identifier.get()
    }
    /// The node's ID mappings.
    pub fn id_mappings(&self) -> &'a [IdMapping] {
        self.mappings
    }
    /// Offset of the ID mapping array from the start of the node (as stored; meaningless when
    /// there are no mappings).
    pub fn id_mapping_offset(&self) -> u32 {
        self.header.mapping_offset.get()
    }
    /// All the node's bytes, header included.
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// Table offset of the `index`th ID mapping entry.
    pub fn id_mapping_table_offset(&self, index: usize) -> usize {
        let base = usize::try_from(self.header.mapping_offset.get()).unwrap_or(0);
        self.offset
            .saturating_add(base)
            .saturating_add(index.saturating_mul(size_of::<IdMapping>()))
    }

    /// The type-specific view of the node.
    pub fn kind(&self) -> NodeKind<'a> {
        // `parse` ran `kind_checked` on every node, so this cannot fail.
        self.kind_checked().unwrap_or(NodeKind::Unknown(*self))
    }

    fn kind_checked(&self) -> Result<NodeKind<'a>, AcpiError> {
        let node = *self;
        let b = self.bytes;
        let len = b.len();
        let err_at = |e: AcpiError| relocate(e, self.offset);
        Ok(match self.node_type() {
            NodeType::ItsGroup => {
                let raw = read::<ItsGroupRaw>(b, 0, len).map_err(err_at)?;
                let ids = read_slice::<U32>(b, size_of::<ItsGroupRaw>(), raw.its_count.get(), len)
                    .map_err(err_at)?;
                NodeKind::ItsGroup(ItsGroup { node, ids })
            }
            NodeType::NamedComponent => {
                let raw = read::<NamedComponentRaw>(b, 0, len).map_err(err_at)?;
                let name_end = self.fixed_end.min(len);
                let name_field = b
                    .get(size_of::<NamedComponentRaw>()..name_end)
                    .unwrap_or(&[]);
                NodeKind::NamedComponent(NamedComponent {
                    node,
                    raw,
                    name_field,
                })
            }
            NodeType::RootComplex => {
                let raw = read::<RootComplexRaw>(b, 0, len).map_err(err_at)?;
                let tail = b
                    .get(size_of::<RootComplexRaw>()..self.fixed_end.min(len))
                    .unwrap_or(&[]);
                NodeKind::RootComplex(RootComplex { node, raw, tail })
            }
            NodeType::SmmuV1V2 => NodeKind::SmmuV1V2(SmmuV1V2 {
                node,
                raw: read(b, 0, len).map_err(err_at)?,
            }),
            NodeType::SmmuV3 => NodeKind::SmmuV3(SmmuV3 {
                node,
                raw: read(b, 0, len).map_err(err_at)?,
                tail: read::<SmmuV3Tail>(b, size_of::<SmmuV3Raw>(), self.fixed_end).ok(),
            }),
            NodeType::Pmcg => NodeKind::Pmcg(Pmcg {
                node,
                raw: read(b, 0, len).map_err(err_at)?,
                tail: read::<PmcgTail>(b, size_of::<PmcgRaw>(), self.fixed_end).ok(),
            }),
            NodeType::Rmr => NodeKind::Rmr(Rmr {
                node,
                raw: read(b, 0, len).map_err(err_at)?,
            }),
            NodeType::Iwb => {
                let raw = read::<IwbRaw>(b, 0, len).map_err(err_at)?;
                let name_field = b
                    .get(size_of::<IwbRaw>()..self.fixed_end.min(len))
                    .unwrap_or(&[]);
                NodeKind::Iwb(Iwb {
                    node,
                    raw,
                    name_field,
                })
            }
            NodeType::Unknown(_) => NodeKind::Unknown(node),
        })
    }

    /// Translates an input ID through this node's ID mappings: returns the output ID, the
    /// output reference and the table offset of the mapping used, or `None` when no mapping
    /// covers the ID. See [`Iort::resolve_id`] for which mappings count.
    fn translate(&self, id: u32) -> Result<Option<(u32, u32, usize)>, AcpiError> {
        let singles_match = matches!(
            self.node_type(),
            NodeType::NamedComponent | NodeType::RootComplex
        );
        for (i, m) in self.mappings.iter().enumerate() {
            let field = self.id_mapping_table_offset(i);
            if m.is_single() {
                if singles_match {
                    return Ok(Some((m.output_base(), m.output_reference(), field)));
                }
                continue;
            }
            if m.covers(id) {
                let out = m
                    .map(id)
                    .ok_or(AcpiError::IdOverflow { offset: field, id })?;
                return Ok(Some((out, m.output_reference(), field)));
            }
        }
        Ok(None)
    }
}

/// Turns an error whose offset is relative to a node into one relative to the table.
fn relocate(e: AcpiError, base: usize) -> AcpiError {
    let at = |o: usize| base.saturating_add(o);
    match e {
        AcpiError::Truncated {
            offset,
            needed,
            available,
        } => AcpiError::Truncated {
            offset: at(offset),
            needed,
            available,
        },
        AcpiError::ArrayOverrun {
            offset,
            count,
            entry_size,
            available,
        } => AcpiError::ArrayOverrun {
            offset: at(offset),
            count,
            entry_size,
            available,
        },
        other => other,
    }
}

/// Smallest length a node of each type can have: its header and first-revision fixed part.
fn fixed_size(t: NodeType) -> usize {
    match t {
        NodeType::ItsGroup => size_of::<ItsGroupRaw>(),
        NodeType::NamedComponent => size_of::<NamedComponentRaw>(),
        NodeType::RootComplex => size_of::<RootComplexRaw>(),
        NodeType::SmmuV1V2 => size_of::<SmmuV1V2Raw>(),
        NodeType::SmmuV3 => size_of::<SmmuV3Raw>(),
        NodeType::Pmcg => size_of::<PmcgRaw>(),
        NodeType::Rmr => size_of::<RmrRaw>(),
        NodeType::Iwb => size_of::<IwbRaw>(),
        NodeType::Unknown(_) => size_of::<NodeHeader>(),
    }
}

/// The type-specific view of a node.
#[derive(Debug, Clone, Copy)]
pub enum NodeKind<'a> {
    /// ITS group.
    ItsGroup(ItsGroup<'a>),
    /// Named component.
    NamedComponent(NamedComponent<'a>),
    /// PCI root complex.
    RootComplex(RootComplex<'a>),
    /// SMMUv1 or SMMUv2.
    SmmuV1V2(SmmuV1V2<'a>),
    /// SMMUv3.
    SmmuV3(SmmuV3<'a>),
    /// PMCG.
    Pmcg(Pmcg<'a>),
    /// Reserved memory range.
    Rmr(Rmr<'a>),
    /// Interrupt wire bridge.
    Iwb(Iwb<'a>),
    /// A node of a type this parser does not know.
    Unknown(Node<'a>),
}

/// ITS group node: a group of GIC ITSs that MSIs can target (IORT §3.1.1.4, Table 12).
#[derive(Debug, Clone, Copy)]
pub struct ItsGroup<'a> {
    node: Node<'a>,
    ids: &'a [U32],
}

impl<'a> ItsGroup<'a> {
    /// The generic node.
    pub fn node(&self) -> Node<'a> {
        self.node
    }
    /// The GIC ITS identifiers (as in the MADT GIC ITS structures) in the group.
    pub fn its_identifiers(&self) -> impl ExactSizeIterator<Item = u32> + 'a {
        self.ids.iter().map(|v| v.get())
    }
}

/// Named component node: a non-PCI device named by its ACPI object (IORT §3.1.1.1,
/// Table 13).
#[derive(Debug, Clone, Copy)]
pub struct NamedComponent<'a> {
    node: Node<'a>,
    raw: &'a NamedComponentRaw,
    name_field: &'a [u8],
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

/// PCI root complex node (IORT §3.1.1.3, Table 17).
#[derive(Debug, Clone, Copy)]
pub struct RootComplex<'a> {
    node: Node<'a>,
    raw: &'a RootComplexRaw,
    /// Bytes after the first-revision fixed part, up to the ID mappings.
    tail: &'a [u8],
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

/// SMMUv1/SMMUv2 node (IORT §3.1.3, Table 19).
#[derive(Debug, Clone, Copy)]
pub struct SmmuV1V2<'a> {
    node: Node<'a>,
    raw: &'a SmmuV1V2Raw,
}

impl<'a> SmmuV1V2<'a> {
    /// The generic node.
    pub fn node(&self) -> Node<'a> {
        self.node
    }
    /// Physical base address of the SMMU's registers.
    pub fn base_address(&self) -> u64 {
        self.raw.base_address.get()
    }
    /// Length of the register frame.
    pub fn span(&self) -> u64 {
        self.raw.span.get()
    }
    /// Model.
    pub fn model(&self) -> SmmuV1V2Model {
        SmmuV1V2Model::from(self.raw.model.get())
    }
    /// Flags.
    pub fn flags(&self) -> SmmuV1V2Flags {
        SmmuV1V2Flags::from_bits_retain(self.raw.flags.get())
    }
    /// The global interrupts: SMMU_NSgIrpt and SMMU_NSgCfgIrpt. Empty when the table gives no
    /// global interrupt array (offset 0).
    pub fn global_interrupts(&self) -> &'a [SmmuInterrupt] {
        self.global_interrupts_checked().unwrap_or(&[])
    }
    /// Context interrupts.
    pub fn context_interrupts(&self) -> &'a [SmmuInterrupt] {
        self.context_interrupts_checked().unwrap_or(&[])
    }
    /// PMU interrupts.
    pub fn pmu_interrupts(&self) -> &'a [SmmuInterrupt] {
        self.pmu_interrupts_checked().unwrap_or(&[])
    }

    fn array(&self, offset: u32, count: u32) -> Result<&'a [SmmuInterrupt], AcpiError> {
        if count == 0 || offset == 0 {
            return Ok(&[]);
        }
        let b = self.node.bytes;
        let start = usize::try_from(offset).unwrap_or(usize::MAX);
        if start < size_of::<SmmuV1V2Raw>() {
            return Err(AcpiError::OffsetOutOfBounds {
                offset: self.node.offset,
                value: u64::from(offset),
                limit: size_of::<SmmuV1V2Raw>(),
            });
        }
        read_slice(b, start, count, b.len()).map_err(|e| relocate(e, self.node.offset))
    }
    fn global_interrupts_checked(&self) -> Result<&'a [SmmuInterrupt], AcpiError> {
        self.array(self.raw.global_interrupt_offset.get(), 2)
    }
    fn context_interrupts_checked(&self) -> Result<&'a [SmmuInterrupt], AcpiError> {
        self.array(
            self.raw.context_interrupt_offset.get(),
            self.raw.context_interrupt_count.get(),
        )
    }
    fn pmu_interrupts_checked(&self) -> Result<&'a [SmmuInterrupt], AcpiError> {
        self.array(
            self.raw.pmu_interrupt_offset.get(),
            self.raw.pmu_interrupt_count.get(),
        )
    }
}

/// SMMUv3 node (IORT §3.1.4, Table 21).
#[derive(Debug, Clone, Copy)]
pub struct SmmuV3<'a> {
    node: Node<'a>,
    raw: &'a SmmuV3Raw,
    tail: Option<&'a SmmuV3Tail>,
}

impl<'a> SmmuV3<'a> {
    /// The generic node.
    pub fn node(&self) -> Node<'a> {
        self.node
    }
    /// Physical base address of the SMMU's register page 0; this identifies the SMMU.
    pub fn base_address(&self) -> u64 {
        self.raw.base_address.get()
    }
    /// Flags.
    pub fn flags(&self) -> SmmuV3Flags {
        SmmuV3Flags::from_bits_retain(self.raw.flags.get())
    }
    /// HTTU Override, from the flags.
    pub fn httu_override(&self) -> HttuOverride {
        match (self.raw.flags.get() >> 1) & 0b11 {
            0 => HttuOverride::None,
            1 => HttuOverride::AccessFlag,
            2 => HttuOverride::AccessFlagAndDirtyState,
            _ => HttuOverride::Reserved,
        }
    }
    /// VATOS address (0 if the SMMU has no VATOS interface).
    pub fn vatos_address(&self) -> u64 {
        self.raw.vatos_address.get()
    }
    /// Model.
    pub fn model(&self) -> SmmuV3Model {
        SmmuV3Model::from(self.raw.model.get())
    }
    /// GSIV of the event queue interrupt (0: none or MSI).
    pub fn event_gsiv(&self) -> u32 {
        self.raw.event_gsiv.get()
    }
    /// GSIV of the PRI queue interrupt.
    pub fn pri_gsiv(&self) -> u32 {
        self.raw.pri_gsiv.get()
    }
    /// GSIV of the global error interrupt.
    pub fn gerr_gsiv(&self) -> u32 {
        self.raw.gerr_gsiv.get()
    }
    /// GSIV of the CMD_SYNC completion interrupt.
    pub fn sync_gsiv(&self) -> u32 {
        self.raw.sync_gsiv.get()
    }
    /// Proximity domain, when the node holds the field (valid only with
    /// [`SmmuV3Flags::PROXIMITY_DOMAIN_VALID`]).
    pub fn proximity_domain(&self) -> Option<u32> {
        self.tail.map(|t| t.proximity_domain.get())
    }
    /// DeviceID mapping index: which ID mapping gives the SMMU's own MSIs' DeviceID, when the
    /// node holds the field (valid with [`SmmuV3Flags::DEVICE_ID_MAPPING_INDEX_VALID`], or in
    /// older tables whenever the SMMU uses MSIs).
    pub fn device_id_mapping_index(&self) -> Option<u32> {
        self.tail.map(|t| t.device_id_mapping_index.get())
    }
}

/// PMCG node: an SMMUv3 performance monitor counter group (IORT §3.1.6, Table 24).
#[derive(Debug, Clone, Copy)]
pub struct Pmcg<'a> {
    node: Node<'a>,
    raw: &'a PmcgRaw,
    tail: Option<&'a PmcgTail>,
}

impl<'a> Pmcg<'a> {
    /// The generic node.
    pub fn node(&self) -> Node<'a> {
        self.node
    }
    /// Page 0 base address.
    pub fn page0_base_address(&self) -> u64 {
        self.raw.page0_base_address.get()
    }
    /// Overflow interrupt GSIV (0 when MSIs are used).
    pub fn overflow_interrupt_gsiv(&self) -> u32 {
        self.raw.overflow_interrupt_gsiv.get()
    }
    /// Node reference: table offset of the SMMU or named component whose traffic it counts.
    pub fn node_reference(&self) -> u32 {
        self.raw.node_reference.get()
    }
    /// Page 1 base address (PMCG node revision 1 on), when the node holds the field.
    pub fn page1_base_address(&self) -> Option<u64> {
        self.tail.map(|t| t.page1_base_address.get())
    }
}

/// Reserved memory range node: memory that devices behind an SMMU use before the OS takes
/// over and that needs identity mappings (IORT §3.1.7, Table 25).
#[derive(Debug, Clone, Copy)]
pub struct Rmr<'a> {
    node: Node<'a>,
    raw: &'a RmrRaw,
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

    fn memory_ranges_checked(&self) -> Result<&'a [MemoryRangeDescriptor], AcpiError> {
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

/// Interrupt wire bridge node (DEN 0049E.g §3.1.8): converts wired interrupts into MSIs.
#[derive(Debug, Clone, Copy)]
pub struct Iwb<'a> {
    node: Node<'a>,
    raw: &'a IwbRaw,
    name_field: &'a [u8],
}

impl<'a> Iwb<'a> {
    /// The generic node.
    pub fn node(&self) -> Node<'a> {
        self.node
    }
    /// Base address of the IWB's configuration frame.
    pub fn config_frame_base(&self) -> u64 {
        self.raw.config_frame_base.get()
    }
    /// IWB index.
    pub fn iwb_index(&self) -> u16 {
        self.raw.iwb_index.get()
    }
    /// ACPI device object name, without NUL and padding.
    pub fn device_object_name(&self) -> &'a [u8] {
        sdt::until_nul(self.name_field)
    }
}

fn ascii(name: &[u8]) -> Option<&str> {
    if name.is_ascii() {
        core::str::from_utf8(name).ok()
    } else {
        None
    }
}
