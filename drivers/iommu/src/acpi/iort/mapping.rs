//! ID mapping entries (IORT §3.4, Table 5).

use core::mem::size_of;

use bitflags::bitflags;
use zerocopy::little_endian::U32;
use zerocopy::{FromBytes, Immutable, KnownLayout, Unaligned};

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
