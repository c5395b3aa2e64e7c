//! PCI configuration access through ECAM (PCIe Base Spec §7.2.2): the region is
//! identity mapped uncached and read and written with 32-bit volatile accesses.

use vsva_pci::access::{ECAM_MAX_OFFSET, ecam_offset};
use vsva_pci::{Bdf, BusRange, ConfigAccess};

use super::{Access, MapError, MemType};

/// One ECAM region, mapped.
#[derive(Debug, Clone, Copy)]
pub struct Ecam {
    /// Address of bus `buses.start`'s configuration space.
    start: u64,
    buses: BusRange,
}

impl Ecam {
    /// Maps the ECAM region of `buses`, whose bus 0 would be at `bus0_base`
    /// (MCFG's convention, PCI Firmware Spec 3.2 §4.1.2).
    pub fn map(bus0_base: u64, buses: BusRange) -> Result<Self, MapError> {
        let start = bus0_base
            .checked_add(u64::from(buses.start) << 20)
            .ok_or(MapError::Misaligned)?;
        let len = (u64::from(buses.end) - u64::from(buses.start) + 1) << 20;
        // One call maps it with large pages; pages a test mapped before are fine.
        if super::paging::map(start, start, len, MemType::Device, Access::ReadWrite).is_err() {
            super::map_identity(start, len, MemType::Device, Access::ReadWrite)?;
        }
        Ok(Self { start, buses })
    }
}

impl ConfigAccess for Ecam {
    fn read32(&self, bdf: Bdf, offset: u16) -> u32 {
        match ecam_offset(self.buses, bdf, offset & !3) {
            // SAFETY: inside the ECAM region mapped uncached in `map`; configuration
            // reads target only the function's own registers.
            Some(at) => unsafe { ((self.start + at as u64) as *const u32).read_volatile() },
            None => u32::MAX,
        }
    }

    fn write32(&self, bdf: Bdf, offset: u16, value: u32) {
        if let Some(at) = ecam_offset(self.buses, bdf, offset & !3) {
            // SAFETY: as in `read32`; a configuration write changes only the
            // function's own registers, which the caller chose.
            unsafe { ((self.start + at as u64) as *mut u32).write_volatile(value) };
        }
    }

    fn max_offset(&self) -> u16 {
        ECAM_MAX_OFFSET
    }
}
