//! Function addresses: [`Bdf`] (bus/device/function) and [`BusRange`].

use core::fmt;

/// A PCI function address within one segment (PCIe Base Specification §2.2.6.2,
/// the Requester ID: bus[15:8], device[7:3], function[2:0]).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Bdf(u16);

impl Bdf {
    /// Number of device numbers on a bus.
    pub const DEVICES_PER_BUS: u8 = 32;
    /// Number of function numbers of a (non-ARI) device.
    pub const FUNCTIONS_PER_DEVICE: u8 = 8;

    /// Builds an address; `None` when device > 31 or function > 7.
    pub const fn new(bus: u8, device: u8, function: u8) -> Option<Self> {
        if device >= Self::DEVICES_PER_BUS || function >= Self::FUNCTIONS_PER_DEVICE {
            return None;
        }
        Some(Self(
            ((bus as u16) << 8) | ((device as u16) << 3) | function as u16,
        ))
    }

    /// The address whose 16-bit Requester ID is `rid`.
    pub const fn from_rid(rid: u16) -> Self {
        Self(rid)
    }

    /// The 16-bit Requester ID.
    pub const fn rid(self) -> u16 {
        self.0
    }

    /// Bus number, RID[15:8].
    pub const fn bus(self) -> u8 {
        (self.0 >> 8) as u8
    }

    /// Device number, RID[7:3].
    pub const fn device(self) -> u8 {
        ((self.0 >> 3) & 0x1f) as u8
    }

    /// Function number, RID[2:0].
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

/// An inclusive range of bus numbers, as in the ACPI MCFG entry (start/end bus
/// number) or the devicetree `bus-range` property of a host bridge.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct BusRange {
    /// First bus number decoded.
    pub start: u8,
    /// Last bus number decoded (inclusive).
    pub end: u8,
}

impl BusRange {
    /// All 256 bus numbers.
    pub const ALL: Self = Self { start: 0, end: 255 };

    /// A range; `None` when `end < start`.
    pub const fn new(start: u8, end: u8) -> Option<Self> {
        if end < start {
            None
        } else {
            Some(Self { start, end })
        }
    }

    /// Whether `bus` lies in the range.
    pub const fn contains(self, bus: u8) -> bool {
        self.start <= bus && bus <= self.end
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

    #[test]
    fn bus_range_is_inclusive() {
        let r = BusRange::new(2, 4).unwrap();
        assert!(!r.contains(1) && r.contains(2) && r.contains(4) && !r.contains(5));
        assert_eq!(BusRange::new(3, 2), None);
    }
}
