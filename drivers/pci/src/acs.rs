//! The Access Control Services Extended Capability (PCIe Base Specification
//! §7.7, "ACS Extended Capability"; Extended Capability ID 0x000D).

use bitflags::bitflags;

use crate::Bdf;
use crate::access::{ConfigAccess, ConfigExt};
use crate::capability::{ExtendedCapabilityId, find_extended_capability};

/// Offsets within the ACS capability.
pub mod offset {
    /// ACS Capability Register (16 bits).
    pub const CAPABILITY: u16 = 0x04;
    /// ACS Control Register (16 bits).
    pub const CONTROL: u16 = 0x06;
}

bitflags! {
    /// ACS features: the low bits of the ACS Capability Register say which are
    /// implemented, the same bits of the ACS Control Register enable them.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct AcsFlags: u16 {
        /// ACS Source Validation (V).
        const SOURCE_VALIDATION = 1 << 0;
        /// ACS Translation Blocking (B).
        const TRANSLATION_BLOCKING = 1 << 1;
        /// ACS P2P Request Redirect (R).
        const P2P_REQUEST_REDIRECT = 1 << 2;
        /// ACS P2P Completion Redirect (C).
        const P2P_COMPLETION_REDIRECT = 1 << 3;
        /// ACS Upstream Forwarding (U).
        const UPSTREAM_FORWARDING = 1 << 4;
        /// ACS P2P Egress Control (E).
        const P2P_EGRESS_CONTROL = 1 << 5;
        /// ACS Direct Translated P2P (T).
        const DIRECT_TRANSLATED_P2P = 1 << 6;
    }
}

/// The ACS capability of one function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Acs {
    /// The function.
    pub bdf: Bdf,
    /// Offset of the capability.
    pub offset: u16,
}

impl Acs {
    /// Egress Control Vector Size, capability bits 15:8.
    const EGRESS_CONTROL_VECTOR_SIZE_SHIFT: u16 = 8;

    /// The ACS capability of `bdf`, if it has one.
    pub fn find<A: ConfigAccess + ?Sized>(cfg: &A, bdf: Bdf) -> Option<Self> {
        find_extended_capability(cfg, bdf, ExtendedCapabilityId::AccessControlServices)
            .map(|offset| Self { bdf, offset })
    }

    /// Implemented features.
    pub fn capability<A: ConfigAccess + ?Sized>(&self, cfg: &A) -> AcsFlags {
        AcsFlags::from_bits_truncate(cfg.read16(self.bdf, self.offset + offset::CAPABILITY))
    }

    /// Egress Control Vector Size (0 means 256 when P2P Egress Control is implemented).
    pub fn egress_control_vector_size<A: ConfigAccess + ?Sized>(&self, cfg: &A) -> u8 {
        (cfg.read16(self.bdf, self.offset + offset::CAPABILITY)
            >> Self::EGRESS_CONTROL_VECTOR_SIZE_SHIFT) as u8
    }

    /// Enabled features.
    pub fn control<A: ConfigAccess + ?Sized>(&self, cfg: &A) -> AcsFlags {
        AcsFlags::from_bits_truncate(cfg.read16(self.bdf, self.offset + offset::CONTROL))
    }

    /// Enables exactly `flags` that are implemented; returns what the
    /// register reads back (a control hardware keeps at 0 is not enabled).
    pub fn set_control<A: ConfigAccess + ?Sized>(&self, cfg: &A, flags: AcsFlags) -> AcsFlags {
        let flags = flags & self.capability(cfg);
        cfg.write16(self.bdf, self.offset + offset::CONTROL, flags.bits());
        self.control(cfg)
    }
}
