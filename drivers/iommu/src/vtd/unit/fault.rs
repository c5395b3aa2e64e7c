//! Fault reporting (§7.2, §7.4): the fault event interrupt and the primary fault
//! recording registers.

use alloc::vec::Vec;

use super::Unit;
use crate::hw::{Clock, DmaMemory, RegisterAccess};
use crate::vtd::fault::FaultRecord;
use crate::vtd::regs::{FEADDR_REG, FECTL_REG, FEDATA_REG, FEUADDR_REG, FSTS_REG, Fectl, Fsts};

impl<R: RegisterAccess, M: DmaMemory, C: Clock> Unit<R, M, C> {
    /// Programs the fault event interrupt (§7.4.1, §11.4.7): the MSI address and
    /// data the unit sends when a fault is recorded, then unmasks it (FECTL.IM
    /// clear). Whoever handles the interrupt calls [`take_faults`](Self::take_faults);
    /// polling works without it.
    pub fn enable_fault_event(&mut self, msi_address: u64, msi_data: u32) {
        self.regs.write32(FEDATA_REG, msi_data);
        self.regs.write32(FEADDR_REG, msi_address as u32);
        self.regs.write32(FEUADDR_REG, (msi_address >> 32) as u32);
        self.regs.write32(FECTL_REG, 0);
    }

    /// Masks the fault event interrupt (FECTL.IM): faults are still recorded.
    pub fn mask_fault_event(&mut self) {
        self.regs.write32(FECTL_REG, Fectl::IM.bits());
    }

    /// Reads and clears every recorded primary fault (§7.2.1): fault recording
    /// registers from FSTS.FRI on, each cleared by writing F back; PFO cleared.
    pub fn take_faults(&mut self) -> Vec<FaultRecord> {
        let mut out = Vec::new();
        let count = self.id.cap.fault_recording_count();
        let fsts = Fsts::from_bits_truncate(self.regs.read32(FSTS_REG));
        let start = usize::from(fsts.fri());
        for i in 0..count {
            let Some(offset) = self.id.cap.frcd_reg_offset((start + i) % count) else {
                continue;
            };
            // F (bit 127) first: hardware sets it after writing the rest of
            // the record (§7.2.1, primary fault logging), so the low word read
            // after seeing F is the complete one. Read the other way round,
            // a record being written meanwhile decodes with a stale address.
            let high = self.regs.read64(offset + 8);
            if high >> 63 == 0 {
                continue;
            }
            let low = self.regs.read64(offset);
            if let Some(record) = FaultRecord::decode(low, high) {
                out.push(record);
                // F (bit 127) is RW1C: write 1 to the top dword only.
                self.regs.write32(offset + 12, 1 << 31);
            }
        }
        let overflow = Fsts::from_bits_truncate(self.regs.read32(FSTS_REG)) & Fsts::PFO;
        if !overflow.is_empty() {
            self.regs.write32(FSTS_REG, overflow.bits());
        }
        out
    }
}
