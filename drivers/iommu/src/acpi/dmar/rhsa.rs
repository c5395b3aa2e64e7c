//! Remapping Hardware Static Affinity structures (VT-d spec §8.6).

use core::mem::size_of;

use zerocopy::little_endian::{U32, U64};
use zerocopy::{FromBytes, Immutable, KnownLayout, Unaligned};

use super::structure::RemappingHeader;

/// RHSA (VT-d spec §8.6).
#[derive(Debug, FromBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub(super) struct RhsaRaw {
    header: RemappingHeader,
    reserved: [u8; 4],
    register_base: U64,
    proximity_domain: U32,
}
const _: () = assert!(size_of::<RhsaRaw>() == 20);

/// Remapping Hardware Static Affinity: the NUMA proximity domain of a remapping unit
/// (VT-d spec §8.6).
#[derive(Debug, Clone, Copy)]
pub struct Rhsa<'a> {
    pub(super) offset: usize,
    pub(super) raw: &'a RhsaRaw,
}

impl Rhsa<'_> {
    /// Table offset of the structure.
    pub fn offset(&self) -> usize {
        self.offset
    }
    /// Register base address of the DRHD this affinity is for.
    pub fn register_base(&self) -> u64 {
        self.raw.register_base.get()
    }
    /// Proximity domain, as in SRAT.
    pub fn proximity_domain(&self) -> u32 {
        self.raw.proximity_domain.get()
    }
}
