//! ITS group nodes (IORT §3.1.1.4).

use core::mem::size_of;

use zerocopy::little_endian::U32;
use zerocopy::{FromBytes, Immutable, KnownLayout, Unaligned};

use super::node::{Node, NodeHeader};

#[derive(Debug, FromBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub(super) struct ItsGroupRaw {
    header: NodeHeader,
    pub(super) its_count: U32,
}
const _: () = assert!(size_of::<ItsGroupRaw>() == 20);

/// ITS group node: a group of GIC ITSs that MSIs can target (IORT §3.1.1.4, Table 12).
#[derive(Debug, Clone, Copy)]
pub struct ItsGroup<'a> {
    pub(super) node: Node<'a>,
    pub(super) ids: &'a [U32],
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
