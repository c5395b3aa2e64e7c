//! The MSI and MSI-X capabilities (PCI Local Bus 3.0 §6.8.1 and §6.8.2; PCIe
//! Base Specification §7.7.1 and §7.7.2).

use bitflags::bitflags;

use crate::Bdf;
use crate::access::{ConfigAccess, ConfigExt};
use crate::capability::{CapabilityId, find_capability};

/// Offsets within the MSI capability.
pub mod msi_offset {
    /// Message Control (16 bits).
    pub const MESSAGE_CONTROL: u16 = 0x02;
    /// Message Address (lower 32 bits).
    pub const MESSAGE_ADDRESS: u16 = 0x04;
    /// Message Upper Address (64-bit capable functions only).
    pub const MESSAGE_UPPER_ADDRESS: u16 = 0x08;
    /// Message Data of a 32-bit-address capability.
    pub const MESSAGE_DATA_32: u16 = 0x08;
    /// Message Data of a 64-bit-address capability.
    pub const MESSAGE_DATA_64: u16 = 0x0c;
}

bitflags! {
    /// The MSI Message Control register (PCI Local Bus 3.0 §6.8.1.3).
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct MsiControl: u16 {
        /// MSI Enable.
        const MSI_ENABLE = 1 << 0;
        /// Multiple Message Capable, bits 3:1 (log2 of the vectors requested).
        const MULTIPLE_MESSAGE_CAPABLE = 0b111 << 1;
        /// Multiple Message Enable, bits 6:4 (log2 of the vectors granted).
        const MULTIPLE_MESSAGE_ENABLE = 0b111 << 4;
        /// 64 bit address capable.
        const ADDRESS_64 = 1 << 7;
        /// Per-vector masking capable.
        const PER_VECTOR_MASKING = 1 << 8;
        /// Extended Message Data Capable.
        const EXTENDED_MESSAGE_DATA_CAPABLE = 1 << 9;
        /// Extended Message Data Enable.
        const EXTENDED_MESSAGE_DATA_ENABLE = 1 << 10;
    }
}

/// The MSI capability of one function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Msi {
    /// The function.
    pub bdf: Bdf,
    /// Offset of the capability.
    pub offset: u16,
}

impl Msi {
    /// The MSI capability of `bdf`, if it has one.
    pub fn find<A: ConfigAccess + ?Sized>(cfg: &A, bdf: Bdf) -> Option<Self> {
        find_capability(cfg, bdf, CapabilityId::Msi).map(|offset| Self { bdf, offset })
    }

    /// Message Control.
    pub fn control<A: ConfigAccess + ?Sized>(&self, cfg: &A) -> MsiControl {
        MsiControl::from_bits_retain(
            cfg.read16(self.bdf, self.offset + msi_offset::MESSAGE_CONTROL),
        )
    }

    /// Number of vectors the function requests (Multiple Message Capable).
    pub fn vectors_capable<A: ConfigAccess + ?Sized>(&self, cfg: &A) -> u8 {
        let log2 = (self.control(cfg) & MsiControl::MULTIPLE_MESSAGE_CAPABLE).bits() >> 1;
        1 << log2.min(5)
    }

    /// Programs one vector's message address and data, leaving MSI disabled
    /// (the caller enables it with [`Msi::set_enable`]). Returns false, writing
    /// nothing, when `address` does not fit a 32-bit-only capability.
    pub fn configure<A: ConfigAccess + ?Sized>(&self, cfg: &A, address: u64, data: u16) -> bool {
        let control = self.control(cfg);
        let is_64 = control.contains(MsiControl::ADDRESS_64);
        if !is_64 && address > u64::from(u32::MAX) {
            return false;
        }
        let control = control - MsiControl::MSI_ENABLE - MsiControl::MULTIPLE_MESSAGE_ENABLE;
        cfg.write16(
            self.bdf,
            self.offset + msi_offset::MESSAGE_CONTROL,
            control.bits(),
        );
        cfg.write32(
            self.bdf,
            self.offset + msi_offset::MESSAGE_ADDRESS,
            address as u32,
        );
        let data_offset = if is_64 {
            cfg.write32(
                self.bdf,
                self.offset + msi_offset::MESSAGE_UPPER_ADDRESS,
                (address >> 32) as u32,
            );
            msi_offset::MESSAGE_DATA_64
        } else {
            msi_offset::MESSAGE_DATA_32
        };
        cfg.write16(self.bdf, self.offset + data_offset, data);
        true
    }

    /// Sets or clears MSI Enable (single-vector mode).
    pub fn set_enable<A: ConfigAccess + ?Sized>(&self, cfg: &A, enable: bool) {
        let mut control = self.control(cfg);
        control.set(MsiControl::MSI_ENABLE, enable);
        cfg.write16(
            self.bdf,
            self.offset + msi_offset::MESSAGE_CONTROL,
            control.bits(),
        );
    }
}

/// Offsets within the MSI-X capability.
pub mod msix_offset {
    /// Message Control (16 bits).
    pub const MESSAGE_CONTROL: u16 = 0x02;
    /// Table Offset / Table BIR.
    pub const TABLE: u16 = 0x04;
    /// PBA Offset / PBA BIR.
    pub const PBA: u16 = 0x08;
}

bitflags! {
    /// The MSI-X Message Control register (PCI Local Bus 3.0 §6.8.2.3).
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct MsiXControl: u16 {
        /// Table Size, bits 10:0 (N - 1).
        const TABLE_SIZE = 0x7ff;
        /// Function Mask.
        const FUNCTION_MASK = 1 << 14;
        /// MSI-X Enable.
        const MSIX_ENABLE = 1 << 15;
    }
}

/// Where an MSI-X structure lives: a BAR and an offset in it (PCI Local Bus 3.0
/// §6.8.2.4 and §6.8.2.5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MsiXLocation {
    /// BAR Indicator Register: which BAR (0..=5) holds the structure.
    pub bir: u8,
    /// Offset from the BAR's base (8-byte aligned).
    pub offset: u32,
}

impl MsiXLocation {
    /// BIR field, bits 2:0; the offset is the rest.
    const BIR_MASK: u32 = 0b111;

    fn decode(value: u32) -> Self {
        Self {
            bir: (value & Self::BIR_MASK) as u8,
            offset: value & !Self::BIR_MASK,
        }
    }
}

/// Size of one MSI-X table entry (PCI Local Bus 3.0 §6.8.2.6).
pub const MSIX_TABLE_ENTRY_SIZE: u32 = 16;

/// The MSI-X capability of one function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MsiX {
    /// The function.
    pub bdf: Bdf,
    /// Offset of the capability.
    pub offset: u16,
}

impl MsiX {
    /// The MSI-X capability of `bdf`, if it has one.
    pub fn find<A: ConfigAccess + ?Sized>(cfg: &A, bdf: Bdf) -> Option<Self> {
        find_capability(cfg, bdf, CapabilityId::MsiX).map(|offset| Self { bdf, offset })
    }

    /// Message Control.
    pub fn control<A: ConfigAccess + ?Sized>(&self, cfg: &A) -> MsiXControl {
        MsiXControl::from_bits_retain(
            cfg.read16(self.bdf, self.offset + msix_offset::MESSAGE_CONTROL),
        )
    }

    /// Number of table entries (Table Size + 1).
    pub fn table_size<A: ConfigAccess + ?Sized>(&self, cfg: &A) -> u16 {
        (self.control(cfg) & MsiXControl::TABLE_SIZE).bits() + 1
    }

    /// Where the MSI-X table is.
    pub fn table<A: ConfigAccess + ?Sized>(&self, cfg: &A) -> MsiXLocation {
        MsiXLocation::decode(cfg.read32(self.bdf, self.offset + msix_offset::TABLE))
    }

    /// Where the Pending Bit Array is.
    pub fn pba<A: ConfigAccess + ?Sized>(&self, cfg: &A) -> MsiXLocation {
        MsiXLocation::decode(cfg.read32(self.bdf, self.offset + msix_offset::PBA))
    }

    /// Sets MSI-X Enable and Function Mask.
    pub fn set_enable<A: ConfigAccess + ?Sized>(&self, cfg: &A, enable: bool, function_mask: bool) {
        let mut control = self.control(cfg);
        control.set(MsiXControl::MSIX_ENABLE, enable);
        control.set(MsiXControl::FUNCTION_MASK, function_mask);
        cfg.write16(
            self.bdf,
            self.offset + msix_offset::MESSAGE_CONTROL,
            control.bits(),
        );
    }
}
