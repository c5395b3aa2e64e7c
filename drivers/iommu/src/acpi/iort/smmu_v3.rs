//! SMMUv3 nodes (IORT §3.1.4).

use core::mem::size_of;

use bitflags::bitflags;
use zerocopy::little_endian::{U32, U64};
use zerocopy::{FromBytes, Immutable, KnownLayout, Unaligned};

use super::node::{Node, NodeHeader};

#[derive(Debug, FromBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub(super) struct SmmuV3Raw {
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
pub(super) struct SmmuV3Tail {
    proximity_domain: U32,
    device_id_mapping_index: U32,
}
const _: () = assert!(size_of::<SmmuV3Tail>() == 8);

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

/// SMMUv3 node (IORT §3.1.4, Table 21).
#[derive(Debug, Clone, Copy)]
pub struct SmmuV3<'a> {
    pub(super) node: Node<'a>,
    pub(super) raw: &'a SmmuV3Raw,
    pub(super) tail: Option<&'a SmmuV3Tail>,
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
