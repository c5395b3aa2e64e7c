//! SoC Integrated Address Translation Cache structures (VT-d spec §8.8).

use core::mem::size_of;

use bitflags::bitflags;
use zerocopy::little_endian::U16;
use zerocopy::{FromBytes, Immutable, KnownLayout, Unaligned};

use super::device_scope::DeviceScopes;
use super::structure::RemappingHeader;

/// SATC fixed part (VT-d spec §8.8).
#[derive(Debug, FromBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub(super) struct SatcRaw {
    header: RemappingHeader,
    flags: u8,
    reserved: u8,
    segment: U16,
}
const _: () = assert!(size_of::<SatcRaw>() == 8);

bitflags! {
    /// SATC Flags (VT-d spec §8.8).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct SatcFlags: u8 {
        /// The listed devices need ATS enabled to work correctly.
        const ATC_REQUIRED = 1 << 0;
    }
}

/// SoC Integrated Address Translation Cache: SoC-integrated devices with an ATC
/// (VT-d spec §8.8).
#[derive(Debug, Clone, Copy)]
pub struct Satc<'a> {
    pub(super) offset: usize,
    pub(super) raw: &'a SatcRaw,
    pub(super) scopes: DeviceScopes<'a>,
}

impl<'a> Satc<'a> {
    /// Table offset of the structure.
    pub fn offset(&self) -> usize {
        self.offset
    }
    /// Flags.
    pub fn flags(&self) -> SatcFlags {
        SatcFlags::from_bits_retain(self.raw.flags)
    }
    /// PCI segment number.
    pub fn segment(&self) -> u16 {
        self.raw.segment.get()
    }
    /// The devices.
    pub fn device_scopes(&self) -> DeviceScopes<'a> {
        self.scopes
    }
}
