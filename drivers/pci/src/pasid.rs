//! The Process Address Space ID Extended Capability (PCIe Base Specification
//! §7.8, "PASID Extended Capability Structure"; Extended Capability ID 0x001B).

use bitflags::bitflags;

use crate::Bdf;
use crate::access::{ConfigAccess, ConfigExt};
use crate::capability::{ExtendedCapabilityId, find_extended_capability};

/// Offsets within the PASID capability.
pub mod offset {
    /// PASID Capability Register (16 bits).
    pub const CAPABILITY: u16 = 0x04;
    /// PASID Control Register (16 bits).
    pub const CONTROL: u16 = 0x06;
}

bitflags! {
    /// The PASID Capability Register.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct PasidCapability: u16 {
        /// Execute Permission Supported.
        const EXECUTE_PERMISSION_SUPPORTED = 1 << 1;
        /// Privileged Mode Supported.
        const PRIVILEGED_MODE_SUPPORTED = 1 << 2;
        /// Translated Requests with PASID Supported.
        const TRANSLATED_REQUESTS_WITH_PASID_SUPPORTED = 1 << 3;
        /// Max PASID Width, bits 12:8 (PASIDs have this many bits, up to 20).
        const MAX_PASID_WIDTH = 0x1f << 8;
    }
}

bitflags! {
    /// The PASID Control Register.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct PasidControl: u16 {
        /// PASID Enable.
        const PASID_ENABLE = 1 << 0;
        /// Execute Permission Enable.
        const EXECUTE_PERMISSION_ENABLE = 1 << 1;
        /// Privileged Mode Enable.
        const PRIVILEGED_MODE_ENABLE = 1 << 2;
        /// Translated Requests with PASID Enable.
        const TRANSLATED_REQUESTS_WITH_PASID_ENABLE = 1 << 3;
    }
}

/// The PASID capability of one function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pasid {
    /// The function.
    pub bdf: Bdf,
    /// Offset of the capability.
    pub offset: u16,
}

impl Pasid {
    /// Bit position of Max PASID Width.
    const MAX_PASID_WIDTH_SHIFT: u16 = 8;

    /// The PASID capability of `bdf`, if it has one.
    pub fn find<A: ConfigAccess + ?Sized>(cfg: &A, bdf: Bdf) -> Option<Self> {
        find_extended_capability(cfg, bdf, ExtendedCapabilityId::ProcessAddressSpaceId)
            .map(|offset| Self { bdf, offset })
    }

    /// PASID Capability Register.
    pub fn capability<A: ConfigAccess + ?Sized>(&self, cfg: &A) -> PasidCapability {
        PasidCapability::from_bits_retain(cfg.read16(self.bdf, self.offset + offset::CAPABILITY))
    }

    /// Max PASID Width in bits (at most 20).
    pub fn max_pasid_width<A: ConfigAccess + ?Sized>(&self, cfg: &A) -> u8 {
        let width = (self.capability(cfg) & PasidCapability::MAX_PASID_WIDTH).bits()
            >> Self::MAX_PASID_WIDTH_SHIFT;
        width as u8
    }

    /// PASID Control Register.
    pub fn control<A: ConfigAccess + ?Sized>(&self, cfg: &A) -> PasidControl {
        PasidControl::from_bits_retain(cfg.read16(self.bdf, self.offset + offset::CONTROL))
    }

    /// Enables PASID, with Execute Permission and Privileged Mode enabled when
    /// asked for and supported. Returns the control value written.
    pub fn enable<A: ConfigAccess + ?Sized>(
        &self,
        cfg: &A,
        execute: bool,
        privileged: bool,
    ) -> PasidControl {
        let caps = self.capability(cfg);
        let mut control = PasidControl::PASID_ENABLE;
        control.set(
            PasidControl::EXECUTE_PERMISSION_ENABLE,
            execute && caps.contains(PasidCapability::EXECUTE_PERMISSION_SUPPORTED),
        );
        control.set(
            PasidControl::PRIVILEGED_MODE_ENABLE,
            privileged && caps.contains(PasidCapability::PRIVILEGED_MODE_SUPPORTED),
        );
        cfg.write16(self.bdf, self.offset + offset::CONTROL, control.bits());
        control
    }

    /// Clears every enable bit.
    pub fn disable<A: ConfigAccess + ?Sized>(&self, cfg: &A) {
        cfg.write16(
            self.bdf,
            self.offset + offset::CONTROL,
            PasidControl::empty().bits(),
        );
    }
}
