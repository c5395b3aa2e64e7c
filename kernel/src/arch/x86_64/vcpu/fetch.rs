//! Reading the instruction at a guest's RIP: through its own page tables
//! and stage 2, RAM only (never a device's registers), for the exits whose
//! instruction SVM on QEMU neither decodes nor measures (no decode assists,
//! no NRIP save).

use super::{Stage2, Vcpu, vmcb};
use crate::arch::dma::{KernelDma, phys};

/// Most bytes an instruction may take (SDM Vol. 2 §2.3.11).
const MAX_INSN: usize = 15;

impl Stage2 {
    /// Copies guest-physical `[gpa, +buf.len())` from the RAM stage 2 maps
    /// there; false if any byte is unmapped or not RAM (a BAR, say).
    pub(super) fn read_ram(&self, gpa: u64, buf: &mut [u8]) -> bool {
        let mut done = 0;
        while done < buf.len() {
            let Some(at) = gpa.checked_add(done as u64) else {
                return false;
            };
            let in_page = (4096 - (at & 0xfff)) as usize;
            let n = in_page.min(buf.len() - done);
            let linear = self
                .ram
                .iter()
                .find(|&&(gpa, _, len)| at >= gpa && at - gpa < len)
                .map(|&(gpa, hpa, _)| hpa + (at - gpa));
            let Some(host) = linear.or_else(|| Some(self.table.query(&KernelDma, at)?.phys)) else {
                return false;
            };
            if !phys::read(host, &mut buf[done..done + n]) {
                return false;
            }
            done += n;
        }
        true
    }
}

impl Vcpu {
    /// The guest-physical address of guest-virtual `va` through the guest's
    /// own 4-level tables (CR3), reading them with `read`.
    fn translate(&self, va: u64, read: &mut dyn FnMut(u64, &mut [u8]) -> bool) -> Option<u64> {
        if self.get(vmcb::CR0) & (1 << 31) == 0 {
            return Some(va);
        }
        let mut table = self.get(vmcb::CR3) & 0x000f_ffff_ffff_f000;
        for level in (1..=4u32).rev() {
            let shift = 12 + 9 * (level - 1);
            let index = (va >> shift) & 511;
            let mut raw = [0u8; 8];
            if !read(table + 8 * index, &mut raw) {
                return None;
            }
            let entry = u64::from_le_bytes(raw);
            if entry & 1 == 0 {
                return None;
            }
            let address = entry & 0x000f_ffff_ffff_f000;
            // PS in a PDPTE (1 GiB) or PDE (2 MiB) ends the walk.
            if (level == 3 || level == 2) && entry & (1 << 7) != 0 {
                let page = 1u64 << shift;
                return Some((address & !(page - 1)) | (va & (page - 1)));
            }
            if level == 1 {
                return Some(address | (va & 0xfff));
            }
            table = address;
        }
        None
    }

    /// The bytes at RIP, up to 15, and how many could be read: an
    /// instruction may cross into a next page that is not there, whose bytes
    /// are then missing, never zeros.
    pub(super) fn fetch(
        &self,
        read: &mut dyn FnMut(u64, &mut [u8]) -> bool,
    ) -> Option<([u8; MAX_INSN], usize)> {
        let rip = self.get(vmcb::RIP);
        let mut bytes = [0u8; MAX_INSN];
        let first = (4096 - (rip & 0xfff)).min(MAX_INSN as u64) as usize;
        let gpa = self.translate(rip, read)?;
        if !read(gpa, &mut bytes[..first]) {
            return None;
        }
        let mut fetched = first;
        if first < MAX_INSN
            && let Some(next) = self.translate(rip.wrapping_add(first as u64), read)
            && read(next, &mut bytes[first..])
        {
            fetched = MAX_INSN;
        }
        Some((bytes, fetched))
    }

    /// Steps over the intercepted instruction at RIP, `opcode` after any
    /// prefixes (`x86_insn::prefixed_length`). Where its bytes cannot be read
    /// or are no longer that instruction (another vCPU rewrote them), the
    /// unprefixed length: what the exit itself implies.
    pub(super) fn step_over(&mut self, stage2: &Stage2, opcode: &[u8]) {
        let mut read = |gpa: u64, buf: &mut [u8]| stage2.read_ram(gpa, buf);
        let len = self
            .fetch(&mut read)
            .and_then(|(bytes, n)| crate::x86_insn::prefixed_length(&bytes[..n], opcode))
            .map_or(opcode.len() as u64, u64::from);
        self.advance(len);
    }
}
