//! The Address Translation Services Extended Capability (PCIe Base
//! Specification §10.5.1; Extended Capability ID 0x000F).

use bitflags::bitflags;

use crate::Bdf;
use crate::access::{ConfigAccess, ConfigExt};
use crate::capability::{ExtendedCapabilityId, find_extended_capability};

/// Offsets within the ATS capability.
pub mod offset {
    /// ATS Capability Register (16 bits), §10.5.1.2.
    pub const CAPABILITY: u16 = 0x04;
    /// ATS Control Register (16 bits), §10.5.1.3.
    pub const CONTROL: u16 = 0x06;
}

bitflags! {
    /// The ATS Capability Register (§10.5.1.2).
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct AtsCapability: u16 {
        /// Invalidate Queue Depth, bits 4:0 (0 means 32).
        const INVALIDATE_QUEUE_DEPTH = 0x1f;
        /// Page Aligned Request: untranslated addresses in Translation
        /// Requests are always 4096-byte aligned.
        const PAGE_ALIGNED_REQUEST = 1 << 5;
        /// Global Invalidate Supported.
        const GLOBAL_INVALIDATE_SUPPORTED = 1 << 6;
        /// Relaxed Ordering (of translation requests) supported.
        const RELAXED_ORDERING = 1 << 7;
    }
}

bitflags! {
    /// The ATS Control Register (§10.5.1.3).
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct AtsControl: u16 {
        /// Smallest Translation Unit, bits 4:0: 4096 << STU bytes.
        const SMALLEST_TRANSLATION_UNIT = 0x1f;
        /// Enable.
        const ENABLE = 1 << 15;
    }
}

/// The largest Smallest Translation Unit encoding.
pub const MAX_STU: u8 = 0x1f;

/// The ATS capability of one function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ats {
    /// The function.
    pub bdf: Bdf,
    /// Offset of the capability.
    pub offset: u16,
}

impl Ats {
    /// The ATS capability of `bdf`, if it has one.
    pub fn find<A: ConfigAccess + ?Sized>(cfg: &A, bdf: Bdf) -> Option<Self> {
        find_extended_capability(cfg, bdf, ExtendedCapabilityId::AddressTranslationServices)
            .map(|offset| Self { bdf, offset })
    }

    /// ATS Capability Register.
    pub fn capability<A: ConfigAccess + ?Sized>(&self, cfg: &A) -> AtsCapability {
        AtsCapability::from_bits_retain(cfg.read16(self.bdf, self.offset + offset::CAPABILITY))
    }

    /// Invalidate Queue Depth: invalidate requests the function can queue (1..=32).
    pub fn invalidate_queue_depth<A: ConfigAccess + ?Sized>(&self, cfg: &A) -> u8 {
        match (self.capability(cfg) & AtsCapability::INVALIDATE_QUEUE_DEPTH).bits() {
            0 => 32,
            depth => depth as u8,
        }
    }

    /// ATS Control Register.
    pub fn control<A: ConfigAccess + ?Sized>(&self, cfg: &A) -> AtsControl {
        AtsControl::from_bits_retain(cfg.read16(self.bdf, self.offset + offset::CONTROL))
    }

    /// Enables ATS with Smallest Translation Unit `stu` (4096 << stu bytes);
    /// false, writing nothing, when `stu` > [`MAX_STU`]. The STU must be set
    /// while Enable is clear, so the capability is first disabled.
    pub fn enable<A: ConfigAccess + ?Sized>(&self, cfg: &A, stu: u8) -> bool {
        if stu > MAX_STU {
            return false;
        }
        let stu = AtsControl::from_bits_retain(u16::from(stu));
        cfg.write16(self.bdf, self.offset + offset::CONTROL, stu.bits());
        cfg.write16(
            self.bdf,
            self.offset + offset::CONTROL,
            (stu | AtsControl::ENABLE).bits(),
        );
        true
    }

    /// Clears Enable.
    pub fn disable<A: ConfigAccess + ?Sized>(&self, cfg: &A) {
        let control = self.control(cfg) - AtsControl::ENABLE;
        cfg.write16(self.bdf, self.offset + offset::CONTROL, control.bits());
    }
}
