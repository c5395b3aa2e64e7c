//! The Page Request Extended Capability (PCIe Base Specification §10.5.2;
//! Extended Capability ID 0x0013).
//!
//! Page Request Status holds RW1C bits and shares a dword with Page Request
//! Control: control writes go through [`crate::ConfigExt::write16`], which
//! writes 0 into the status half.

use bitflags::bitflags;

use crate::Bdf;
use crate::access::{ConfigAccess, ConfigExt};
use crate::capability::{ExtendedCapabilityId, find_extended_capability};

/// Offsets within the Page Request capability.
pub mod offset {
    /// Page Request Control Register (16 bits), §10.5.2.2.
    pub const CONTROL: u16 = 0x04;
    /// Page Request Status Register (16 bits, RW1C bits), §10.5.2.3.
    pub const STATUS: u16 = 0x06;
    /// Outstanding Page Request Capacity (32 bits), §10.5.2.4.
    pub const OUTSTANDING_PAGE_REQUEST_CAPACITY: u16 = 0x08;
    /// Outstanding Page Request Allocation (32 bits), §10.5.2.5.
    pub const OUTSTANDING_PAGE_REQUEST_ALLOCATION: u16 = 0x0c;
}

bitflags! {
    /// The Page Request Control Register (§10.5.2.2).
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct PriControl: u16 {
        /// Enable.
        const ENABLE = 1 << 0;
        /// Reset: clears the outstanding request credit (write while Enable is clear).
        const RESET = 1 << 1;
    }
}

bitflags! {
    /// The Page Request Status Register (§10.5.2.3).
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct PriStatus: u16 {
        /// Response Failure (RW1C).
        const RESPONSE_FAILURE = 1 << 0;
        /// Unexpected Page Request Group Index (RW1C).
        const UNEXPECTED_PAGE_REQUEST_GROUP_INDEX = 1 << 1;
        /// Stopped: no page request is outstanding.
        const STOPPED = 1 << 8;
        /// PRG Response PASID Required.
        const PRG_RESPONSE_PASID_REQUIRED = 1 << 15;
    }
}

impl PriStatus {
    /// Every write-1-to-clear bit.
    pub const RW1C: Self = Self::RESPONSE_FAILURE.union(Self::UNEXPECTED_PAGE_REQUEST_GROUP_INDEX);
}

/// The Page Request capability of one function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pri {
    /// The function.
    pub bdf: Bdf,
    /// Offset of the capability.
    pub offset: u16,
}

impl Pri {
    /// The Page Request capability of `bdf`, if it has one.
    pub fn find<A: ConfigAccess + ?Sized>(cfg: &A, bdf: Bdf) -> Option<Self> {
        find_extended_capability(cfg, bdf, ExtendedCapabilityId::PageRequest)
            .map(|offset| Self { bdf, offset })
    }

    /// Page Request Control.
    pub fn control<A: ConfigAccess + ?Sized>(&self, cfg: &A) -> PriControl {
        PriControl::from_bits_retain(cfg.read16(self.bdf, self.offset + offset::CONTROL))
    }

    /// Page Request Status.
    pub fn status<A: ConfigAccess + ?Sized>(&self, cfg: &A) -> PriStatus {
        PriStatus::from_bits_retain(cfg.read16(self.bdf, self.offset + offset::STATUS))
    }

    /// Clears the RW1C bits of `bits` in Page Request Status (Control kept).
    pub fn clear_status<A: ConfigAccess + ?Sized>(&self, cfg: &A, bits: PriStatus) {
        cfg.write16(
            self.bdf,
            self.offset + offset::STATUS,
            (bits & PriStatus::RW1C).bits(),
        );
    }

    /// Outstanding Page Request Capacity: requests the function may need.
    pub fn capacity<A: ConfigAccess + ?Sized>(&self, cfg: &A) -> u32 {
        cfg.read32(
            self.bdf,
            self.offset + offset::OUTSTANDING_PAGE_REQUEST_CAPACITY,
        )
    }

    /// Outstanding Page Request Allocation.
    pub fn allocation<A: ConfigAccess + ?Sized>(&self, cfg: &A) -> u32 {
        cfg.read32(
            self.bdf,
            self.offset + offset::OUTSTANDING_PAGE_REQUEST_ALLOCATION,
        )
    }

    /// Disables the interface, resets it, grants `allocation` outstanding
    /// requests (capped at the capacity) and enables it. Returns the
    /// allocation written.
    pub fn enable<A: ConfigAccess + ?Sized>(&self, cfg: &A, allocation: u32) -> u32 {
        let allocation = allocation.min(self.capacity(cfg));
        cfg.write16(
            self.bdf,
            self.offset + offset::CONTROL,
            PriControl::empty().bits(),
        );
        cfg.write16(
            self.bdf,
            self.offset + offset::CONTROL,
            PriControl::RESET.bits(),
        );
        cfg.write32(
            self.bdf,
            self.offset + offset::OUTSTANDING_PAGE_REQUEST_ALLOCATION,
            allocation,
        );
        cfg.write16(
            self.bdf,
            self.offset + offset::CONTROL,
            PriControl::ENABLE.bits(),
        );
        allocation
    }

    /// Clears Enable. The function stops issuing requests; [`PriStatus::STOPPED`]
    /// tells when the outstanding ones have completed.
    pub fn disable<A: ConfigAccess + ?Sized>(&self, cfg: &A) {
        cfg.write16(
            self.bdf,
            self.offset + offset::CONTROL,
            PriControl::empty().bits(),
        );
    }
}
