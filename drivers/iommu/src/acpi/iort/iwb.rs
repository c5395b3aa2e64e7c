//! Interrupt wire bridge nodes (DEN 0049E.g §3.1.8).

use core::mem::size_of;

use zerocopy::little_endian::{U16, U64};
use zerocopy::{FromBytes, Immutable, KnownLayout, Unaligned};

use super::node::{Node, NodeHeader};
use crate::acpi::sdt;

#[derive(Debug, FromBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub(super) struct IwbRaw {
    header: NodeHeader,
    config_frame_base: U64,
    iwb_index: U16,
}
const _: () = assert!(size_of::<IwbRaw>() == 26);

/// Interrupt wire bridge node (DEN 0049E.g §3.1.8): converts wired interrupts into MSIs.
#[derive(Debug, Clone, Copy)]
pub struct Iwb<'a> {
    pub(super) node: Node<'a>,
    pub(super) raw: &'a IwbRaw,
    pub(super) name_field: &'a [u8],
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
