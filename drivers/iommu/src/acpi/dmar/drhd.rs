//! DMA Remapping Hardware Unit Definitions (VT-d spec §8.3).

use core::mem::size_of;

use bitflags::bitflags;
use zerocopy::little_endian::{U16, U64};
use zerocopy::{FromBytes, Immutable, KnownLayout, Unaligned};

use super::device_scope::DeviceScopes;
use super::structure::RemappingHeader;

/// DRHD fixed part (VT-d spec §8.3).
#[derive(Debug, FromBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub(super) struct DrhdRaw {
    header: RemappingHeader,
    flags: u8,
    size: u8,
    segment: U16,
    register_base: U64,
}
const _: () = assert!(size_of::<DrhdRaw>() == 16);

bitflags! {
    /// DRHD Flags (VT-d spec §8.3).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct DrhdFlags: u8 {
        /// The unit covers every PCI device of its segment not covered by another DRHD; its
        /// device scopes list only the IOAPICs and HPETs.
        const INCLUDE_PCI_ALL = 1 << 0;
    }
}

/// A DMA Remapping Hardware Unit Definition: one remapping unit and the devices behind it
/// (VT-d spec §8.3).
#[derive(Debug, Clone, Copy)]
pub struct Drhd<'a> {
    pub(super) offset: usize,
    pub(super) raw: &'a DrhdRaw,
    pub(super) scopes: DeviceScopes<'a>,
}

impl<'a> Drhd<'a> {
    /// Table offset of the structure.
    pub fn offset(&self) -> usize {
        self.offset
    }
    /// Flags.
    pub fn flags(&self) -> DrhdFlags {
        DrhdFlags::from_bits_retain(self.raw.flags)
    }
    /// Whether the unit covers all remaining PCI devices of its segment.
    pub fn include_pci_all(&self) -> bool {
        self.flags().contains(DrhdFlags::INCLUDE_PCI_ALL)
    }
    /// The Size field as stored: bits 3:0 give the register set size as a power of two of
    /// 4 KiB pages; zero in tables before VT-d 3.x, meaning "one page" (VT-d spec §8.3).
    pub fn size_raw(&self) -> u8 {
        self.raw.size
    }
    /// Number of 4 KiB pages of the register set, from the Size field (1 if unset).
    pub fn register_set_pages(&self) -> u32 {
        1u32 << (self.raw.size & 0xf)
    }
    /// PCI segment number.
    pub fn segment(&self) -> u16 {
        self.raw.segment.get()
    }
    /// Physical base address of the unit's register set. Some firmware reports 0 for units it
    /// disabled; callers must skip those.
    pub fn register_base(&self) -> u64 {
        self.raw.register_base.get()
    }
    /// The unit's device scopes.
    pub fn device_scopes(&self) -> DeviceScopes<'a> {
        self.scopes
    }
}
