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
}
