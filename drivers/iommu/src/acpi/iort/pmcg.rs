//! PMCG nodes: SMMUv3 performance monitor counter groups (IORT §3.1.6).

use core::mem::size_of;

use zerocopy::little_endian::{U32, U64};
use zerocopy::{FromBytes, Immutable, KnownLayout, Unaligned};

use super::node::{Node, NodeHeader};

#[derive(Debug, FromBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub(super) struct PmcgRaw {
    header: NodeHeader,
    page0_base_address: U64,
    overflow_interrupt_gsiv: U32,
    node_reference: U32,
}
const _: () = assert!(size_of::<PmcgRaw>() == 32);

#[derive(Debug, FromBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub(super) struct PmcgTail {
    page1_base_address: U64,
}
const _: () = assert!(size_of::<PmcgTail>() == 8);

/// PMCG node: an SMMUv3 performance monitor counter group (IORT §3.1.6, Table 24).
#[derive(Debug, Clone, Copy)]
pub struct Pmcg<'a> {
    pub(super) node: Node<'a>,
    pub(super) raw: &'a PmcgRaw,
    pub(super) tail: Option<&'a PmcgTail>,
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
