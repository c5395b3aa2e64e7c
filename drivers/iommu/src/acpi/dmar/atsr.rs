//! Root Port ATS Capability Reporting structures (VT-d spec §8.5).

use core::mem::size_of;

use bitflags::bitflags;
use zerocopy::little_endian::U16;
use zerocopy::{FromBytes, Immutable, KnownLayout, Unaligned};

use super::device_scope::DeviceScopes;
use super::structure::RemappingHeader;

/// ATSR fixed part (VT-d spec §8.5).
#[derive(Debug, FromBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub(super) struct AtsrRaw {
    header: RemappingHeader,
    flags: u8,
    reserved: u8,
    segment: U16,
}
const _: () = assert!(size_of::<AtsrRaw>() == 8);

bitflags! {
    /// ATSR Flags (VT-d spec §8.5).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct AtsrFlags: u8 {
        /// Every root port of the segment supports ATS; the device scopes are empty.
        const ALL_PORTS = 1 << 0;
    }
}

/// Root Port ATS Capability Reporting: which root ports support ATS (VT-d spec §8.5).
#[derive(Debug, Clone, Copy)]
pub struct Atsr<'a> {
    pub(super) offset: usize,
    pub(super) raw: &'a AtsrRaw,
    pub(super) scopes: DeviceScopes<'a>,
}

impl<'a> Atsr<'a> {
    /// Table offset of the structure.
    pub fn offset(&self) -> usize {
        self.offset
    }
    /// Flags.
    pub fn flags(&self) -> AtsrFlags {
        AtsrFlags::from_bits_retain(self.raw.flags)
    }
    /// PCI segment number.
    pub fn segment(&self) -> u16 {
        self.raw.segment.get()
    }
    /// The root ports (PCI sub-hierarchy scopes) supporting ATS, unless `ALL_PORTS`.
    pub fn device_scopes(&self) -> DeviceScopes<'a> {
        self.scopes
    }
}
