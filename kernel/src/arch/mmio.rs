//! A mapped window of device registers with bounds-checked volatile access: the
//! seam through which the IOMMU drivers will reach hardware.

use super::MapError;

/// Registers `[base, base + len)`, identity mapped uncached.
#[derive(Debug, Clone, Copy)]
pub struct Mmio {
    base: u64,
    len: u64,
}

impl Mmio {
    /// Maps the window (uncached, read-write).
    pub fn map(base: u64, len: u64) -> Result<Self, MapError> {
        super::map_device(base, len)?;
        Ok(Self { base, len })
    }

    pub fn base(&self) -> u64 {
        self.base
    }

    /// Whether an access of `size` bytes at `offset` is naturally aligned and inside.
    fn fits(&self, offset: usize, size: usize) -> bool {
        offset.is_multiple_of(size) && (offset as u64).saturating_add(size as u64) <= self.len
    }

    /// A 32-bit read; `None` outside the window or unaligned.
    pub fn read32(&self, offset: usize) -> Option<u32> {
        // SAFETY: inside the window mapped in `map`, naturally aligned.
        self.fits(offset, 4)
            .then(|| unsafe { ((self.base + offset as u64) as *const u32).read_volatile() })
    }

    /// A 64-bit read; `None` outside the window or unaligned.
    pub fn read64(&self, offset: usize) -> Option<u64> {
        // SAFETY: as in `read32`.
        self.fits(offset, 8)
            .then(|| unsafe { ((self.base + offset as u64) as *const u64).read_volatile() })
    }

    /// A 32-bit write; ignored outside the window or unaligned.
    pub fn write32(&self, offset: usize, value: u32) {
        if self.fits(offset, 4) {
            // SAFETY: inside the window mapped in `map`, naturally aligned; the
            // caller (a driver) chose the register.
            unsafe { ((self.base + offset as u64) as *mut u32).write_volatile(value) }
        }
    }

    /// A 64-bit write; ignored outside the window or unaligned.
    pub fn write64(&self, offset: usize, value: u64) {
        if self.fits(offset, 8) {
            // SAFETY: as in `write32`.
            unsafe { ((self.base + offset as u64) as *mut u64).write_volatile(value) }
        }
    }
}

/// The drivers' register seam over a mapped window: accesses outside it read
/// all-ones and are dropped, never reaching other memory.
impl vsva_iommu::hw::RegisterAccess for Mmio {
    fn read32(&self, offset: usize) -> u32 {
        Mmio::read32(self, offset).unwrap_or(u32::MAX)
    }
    fn write32(&self, offset: usize, value: u32) {
        Mmio::write32(self, offset, value)
    }
    fn read64(&self, offset: usize) -> u64 {
        Mmio::read64(self, offset).unwrap_or(u64::MAX)
    }
    fn write64(&self, offset: usize, value: u64) {
        Mmio::write64(self, offset, value)
    }
}
