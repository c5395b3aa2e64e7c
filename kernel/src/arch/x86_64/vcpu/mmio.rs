//! Emulating a load or store to memory vsva emulates (the configuration
//! window) after a nested page fault: the instruction decoded
//! (`crate::x86_insn`), the registers it names read and written.

use super::*;

impl Vcpu {
    /// Completes an emulated load: the value goes to the destination
    /// register as the instruction's width and extension say.
    pub fn complete_read(&mut self, value: u64) {
        let Some(insn) = self.mmio.take() else {
            return;
        };
        if let crate::x86_insn::Access::Load { reg, .. } = insn.access {
            let old = self.register(reg);
            self.set_register(reg, insn.merge(old, value));
        }
    }

    /// General register `n` in the instruction encoding's numbering.
    fn register(&self, n: u8) -> u64 {
        let g = &self.gprs;
        match n {
            0 => self.get(vmcb::RAX),
            1 => g.rcx,
            2 => g.rdx,
            3 => g.rbx,
            4 => self.get(vmcb::RSP),
            5 => g.rbp,
            6 => g.rsi,
            7 => g.rdi,
            8 => g.r8,
            9 => g.r9,
            10 => g.r10,
            11 => g.r11,
            12 => g.r12,
            13 => g.r13,
            14 => g.r14,
            _ => g.r15,
        }
    }

    fn set_register(&mut self, n: u8, value: u64) {
        let g = &mut self.gprs;
        match n {
            0 => self.set(vmcb::RAX, value),
            1 => g.rcx = value,
            2 => g.rdx = value,
            3 => g.rbx = value,
            4 => self.set(vmcb::RSP, value),
            5 => g.rbp = value,
            6 => g.rsi = value,
            7 => g.rdi = value,
            8 => g.r8 = value,
            9 => g.r9 = value,
            10 => g.r10 = value,
            11 => g.r11 = value,
            12 => g.r12 = value,
            13 => g.r13 = value,
            14 => g.r14 = value,
            _ => g.r15 = value,
        }
    }

    /// After a nested page fault on an address vsva emulates: reads and
    /// decodes the instruction at RIP (no decode assists on QEMU), steps over
    /// it, and returns its access size and, for a store, the value. A load
    /// is completed by [`complete_read`](Self::complete_read). `None` when the
    /// instruction cannot be fetched or is not an emulated move.
    pub fn decode_mmio(
        &mut self,
        read: &mut dyn FnMut(u64, &mut [u8]) -> bool,
    ) -> Option<(u8, Option<u64>)> {
        // A fault during the guest's own page-table walk (EXITINFO1 bit 33,
        // APM Vol. 2 §15.25.6) is not the instruction's data access: its
        // table is in the window, which nothing emulates as a table.
        if self.get(vmcb::EXITINFO1) & (1 << 33) != 0 {
            return None;
        }
        let (bytes, fetched) = self.fetch(read)?;
        let insn = crate::x86_insn::decode(&bytes[..fetched]).ok()?;
        let write = match insn.access {
            crate::x86_insn::Access::Store { reg, .. } => insn.store_value(self.register(reg)),
            crate::x86_insn::Access::StoreImmediate(_) => insn.store_value(0),
            crate::x86_insn::Access::Load { .. } => None,
        };
        self.mmio = write.is_none().then_some(insn);
        self.advance(u64::from(insn.len));
        Some((insn.size, write))
    }
}
