//! Reserved Memory Region Reporting structures (VT-d spec §8.4).

use core::mem::size_of;

use zerocopy::little_endian::{U16, U64};
use zerocopy::{FromBytes, Immutable, KnownLayout, Unaligned};

use super::device_scope::DeviceScopes;
use super::structure::RemappingHeader;

/// RMRR fixed part (VT-d spec §8.4).
#[derive(Debug, FromBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub(super) struct RmrrRaw {
    header: RemappingHeader,
    reserved: [u8; 2],
    segment: U16,
    base: U64,
    limit: U64,
}
const _: () = assert!(size_of::<RmrrRaw>() == 24);

/// A Reserved Memory Region: memory that the listed devices use for DMA behind the OS's back
/// and that must stay identity-mapped for them (VT-d spec §8.4).
#[derive(Debug, Clone, Copy)]
pub struct Rmrr<'a> {
    pub(super) offset: usize,
    pub(super) raw: &'a RmrrRaw,
    pub(super) scopes: DeviceScopes<'a>,
}

impl<'a> Rmrr<'a> {
    /// Table offset of the structure.
    pub fn offset(&self) -> usize {
        self.offset
    }
    /// PCI segment number.
    pub fn segment(&self) -> u16 {
        self.raw.segment.get()
    }
    /// Reserved Memory Region Base Address (4 KiB aligned).
    pub fn base(&self) -> u64 {
        self.raw.base.get()
    }
    /// Reserved Memory Region Limit Address: the last byte of the region, inclusive. Some
    /// firmware reports an empty 0–0 region.
    pub fn limit(&self) -> u64 {
        self.raw.limit.get()
    }
    /// The devices using the region.
    pub fn device_scopes(&self) -> DeviceScopes<'a> {
        self.scopes
    }
}
