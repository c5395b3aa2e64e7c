//! SoC Integrated Device Property structures (VT-d spec §8.9).

use core::mem::size_of;

use zerocopy::little_endian::U16;
use zerocopy::{FromBytes, Immutable, KnownLayout, Unaligned};

use super::device_scope::DeviceScopes;
use super::structure::RemappingHeader;

/// SIDP fixed part (VT-d spec §8.9).
#[derive(Debug, FromBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub(super) struct SidpRaw {
    header: RemappingHeader,
    reserved: [u8; 2],
    segment: U16,
}
const _: () = assert!(size_of::<SidpRaw>() == 8);

/// SoC Integrated Device Property: properties of SoC-integrated devices, carried in the device
/// scope flags (VT-d spec §8.9).
#[derive(Debug, Clone, Copy)]
pub struct Sidp<'a> {
    pub(super) offset: usize,
    pub(super) raw: &'a SidpRaw,
    pub(super) scopes: DeviceScopes<'a>,
}

impl<'a> Sidp<'a> {
    /// Table offset of the structure.
    pub fn offset(&self) -> usize {
        self.offset
    }
    /// PCI segment number.
    pub fn segment(&self) -> u16 {
        self.raw.segment.get()
    }
    /// The devices; see [`DeviceScope::flags`](super::DeviceScope::flags) for their properties.
    pub fn device_scopes(&self) -> DeviceScopes<'a> {
        self.scopes
    }
}
