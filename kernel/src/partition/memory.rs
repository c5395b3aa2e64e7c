//! A partition's memory as the vSVA service reaches it: its RAM by
//! guest-physical address (bounds-checked copies, never outside it), and
//! its stage 2 for the structures an SMMU reads through it.

use vsva_abi::sva::{TABLE_WINDOW_BASE, TABLE_WINDOW_SIZE};
use vsva_sva::backend::Stage2Tables;
use vsva_sva::guest::{GuestMemory, GuestRam, OutsideRam};

use crate::arch::dma::phys;
use crate::arch::vcpu::{MapKind, Stage2};

/// A partition's RAM, reached by guest-physical address. `Copy`, so a
/// closure can use it while the partition is borrowed elsewhere.
#[derive(Clone, Copy, Debug)]
pub struct RamAccess(pub GuestRam);

impl RamAccess {
    /// Reads guest-physical `gpa` (false when any byte is outside the RAM).
    pub fn read(self, gpa: u64, buf: &mut [u8]) -> bool {
        self.0
            .host_address(gpa, buf.len() as u64)
            .is_some_and(|h| phys::read(h, buf))
    }

    /// Writes guest-physical `gpa` (false when any byte is outside the RAM).
    pub fn write(self, gpa: u64, bytes: &[u8]) -> bool {
        self.0
            .host_address(gpa, bytes.len() as u64)
            .is_some_and(|h| phys::write(h, bytes))
    }
}

impl GuestMemory for RamAccess {
    fn read(&self, gpa: u64, buf: &mut [u8]) -> Result<(), OutsideRam> {
        RamAccess::read(*self, gpa, buf)
            .then_some(())
            .ok_or(OutsideRam {
                gpa,
                len: buf.len() as u64,
            })
    }

    fn write(&mut self, gpa: u64, bytes: &[u8]) -> Result<(), OutsideRam> {
        RamAccess::write(*self, gpa, bytes)
            .then_some(())
            .ok_or(OutsideRam {
                gpa,
                len: bytes.len() as u64,
            })
    }
}

/// The partition's stage 2 for the table window: host pages vsva owns,
/// mapped read-only at IPAs of `TABLE_WINDOW_BASE` (the CPU's stage 2 and
/// the SMMU's are one table, so the guest may read them, never write).
pub struct WindowTables<'a>(pub &'a mut Stage2);

impl Stage2Tables for WindowTables<'_> {
    fn map_read_only(&mut self, ipa: u64, pa: u64, len: u64) -> bool {
        let inside = ipa >= TABLE_WINDOW_BASE
            && ipa
                .checked_add(len)
                .is_some_and(|end| end <= TABLE_WINDOW_BASE + TABLE_WINDOW_SIZE);
        inside && self.0.map(ipa, pa, len, MapKind::ReadOnly).is_ok()
    }
}
