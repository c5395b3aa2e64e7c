//! PCI configuration space access for vsva.
//!
//! Grows with the platform-discovery work; for now it holds the typed
//! bus/device/function address used across the workspace.
#![cfg_attr(not(test), no_std)]
#![deny(unsafe_code)]

use core::fmt;

/// A PCI function address within one segment (PCIe Base Specification §2.2.6.2,
/// the Requester ID: bus[15:8], device[7:3], function[2:0]).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Bdf(u16);

impl Bdf {
    /// Builds an address; `None` when device > 31 or function > 7.
    pub const fn new(bus: u8, device: u8, function: u8) -> Option<Self> {
        if device > 31 || function > 7 {
            return None;
        }
        Some(Self(
            ((bus as u16) << 8) | ((device as u16) << 3) | function as u16,
        ))
    }

    /// The 16-bit Requester ID.
    pub const fn from_rid(rid: u16) -> Self {
        Self(rid)
    }

    /// The 16-bit Requester ID.
    pub const fn rid(self) -> u16 {
        self.0
    }

    pub const fn bus(self) -> u8 {
        (self.0 >> 8) as u8
    }

    pub const fn device(self) -> u8 {
        ((self.0 >> 3) & 0x1f) as u8
    }

    pub const fn function(self) -> u8 {
        (self.0 & 0x7) as u8
    }
}

impl fmt::Display for Bdf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:02x}:{:02x}.{}",
            self.bus(),
            self.device(),
            self.function()
        )
    }
}

impl fmt::Debug for Bdf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bdf_round_trips_through_the_requester_id() {
        let bdf = Bdf::new(0x3a, 0x1f, 7).unwrap();
        assert_eq!(bdf.rid(), 0x3aff);
        assert_eq!(Bdf::from_rid(0x3aff), bdf);
        assert_eq!(bdf.to_string(), "3a:1f.7");
        assert_eq!(Bdf::new(0, 32, 0), None);
        assert_eq!(Bdf::new(0, 0, 8), None);
    }
}
