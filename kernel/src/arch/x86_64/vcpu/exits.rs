//! What a #VMEXIT means: the exit codes vsva intercepts (APM Vol. 2
//! Appendix C) and the decoding of each into an [`Exit`] for the partition,
//! or its handling inside the vCPU (an injected exception, a step over).

use super::*;

/// #VMEXIT codes (Appendix C).
pub(super) mod exit {
    pub const INTR: u64 = 0x60;
    pub const NMI: u64 = 0x61;
    pub const SMI: u64 = 0x62;
    pub const INIT: u64 = 0x63;
    /// Exception 18 (#MC): 0x40 + vector.
    pub const EXCEPTION_MC: u64 = 0x52;
    pub const HLT: u64 = 0x78;
    pub const IOIO: u64 = 0x7b;
    pub const MSR: u64 = 0x7c;
    pub const SHUTDOWN: u64 = 0x7f;
    pub const VMMCALL: u64 = 0x81;
    pub const XSETBV: u64 = 0x8d;
    pub const RDTSCP: u64 = 0x87;
    pub const WBINVD: u64 = 0x89;
    pub const MONITOR: u64 = 0x8a;
    pub const MWAIT: u64 = 0x8b;
    pub const EXCEPTION_DB: u64 = 0x41;
    pub const EXCEPTION_AC: u64 = 0x51;
    pub const RDPMC: u64 = 0x6f;
    pub const INVD: u64 = 0x76;
    pub const NPF: u64 = 0x400;
    pub const INVALID: u64 = u64::MAX;
}

impl Vcpu {
    pub(super) fn decode(&mut self, stage2: &Stage2) -> Exit {
        let code = self.get(vmcb::EXITCODE);
        let info1 = self.get(vmcb::EXITINFO1);
        let info2 = self.get(vmcb::EXITINFO2);
        match code {
            exit::INTR | exit::NMI => {
                // Let the host take the interrupt now (it counts and EOIs it).
                crate::arch::interrupts::with_interrupts(core::hint::spin_loop);
                Exit::Interrupt
            }
            exit::VMMCALL if self.get_byte(vmcb::CPL) & 3 != 0 => {
                // Hypercalls are the guest kernel's, not its user programs'.
                self.reflect(6, None);
                Exit::Interrupt
            }
            exit::VMMCALL => {
                let g = &self.gprs;
                let args = [g.rdi, g.rsi, g.rdx, g.rcx, g.r8, g.r9];
                let function = self.get(vmcb::RAX);
                // Without NRIP save vsva steps over it (0F 01 D9).
                self.step_over(stage2, &[0x0f, 0x01, 0xd9]);
                Exit::Hypercall { function, args }
            }
            exit::HLT => {
                self.step_over(stage2, &[0xf4]);
                Exit::WaitForInterrupt
            }
            exit::IOIO => {
                // No ports are emulated (crate::port_io); EXITINFO2 is the
                // next RIP.
                match port_io::decode(info1) {
                    PortIo::StringFault => {
                        self.reflect(13, Some(0));
                        return Exit::Interrupt;
                    }
                    PortIo::In { bytes } => {
                        let rax = self.get(vmcb::RAX);
                        self.set(vmcb::RAX, port_io::in_result(rax, bytes));
                    }
                    PortIo::Out => {}
                }
                self.set(vmcb::RIP, info2);
                self.gprs.pc = info2;
                Exit::Interrupt
            }
            exit::RDTSCP => {
                // The time stamp counter (no offset) and TSC_AUX 0: guests
                // have one CPU identity each, which vsva does not number yet.
                // SAFETY: RDTSC reads the counter; no side effects.
                let tsc = unsafe { core::arch::x86_64::_rdtsc() };
                self.set(vmcb::RAX, tsc & 0xffff_ffff);
                self.gprs.rdx = tsc >> 32;
                self.gprs.rcx = 0;
                self.step_over(stage2, &[0x0f, 0x01, 0xf9]);
                Exit::Interrupt
            }
            exit::WBINVD => {
                // Caches are coherent with every DMA vsva allows: nothing to
                // write back on a guest's behalf: WBINVD (0F 09) or, with
                // an F3 prefix, WBNOINVD, which the same intercept takes.
                self.step_over(stage2, &[0x0f, 0x09]);
                Exit::Interrupt
            }
            exit::MONITOR | exit::MWAIT => {
                self.reflect(6, None);
                Exit::Interrupt
            }
            exit::EXCEPTION_DB => {
                self.reflect(1, None);
                Exit::Interrupt
            }
            exit::EXCEPTION_AC => {
                self.reflect(17, Some(0));
                Exit::Interrupt
            }
            exit::INVD => {
                // INVD (0F 08) done as a no-op: nothing may be dropped from
                // caches vsva and other partitions share (WBINVD's effect on
                // coherent memory is none to emulate).
                self.step_over(stage2, &[0x0f, 0x08]);
                Exit::Interrupt
            }
            exit::RDPMC => {
                self.reflect(13, Some(0));
                Exit::Interrupt
            }
            exit::XSETBV => {
                self.reflect(13, Some(0));
                Exit::Interrupt
            }
            exit::MSR => {
                // Every MSR access is refused with #GP(0): the guest owns no
                // MSR vsva would have to switch.
                self.reflect(13, Some(0));
                Exit::Interrupt
            }
            exit::NPF => Exit::StageFault {
                ipa: info2,
                // Without decode assists the guest-virtual address is unknown.
                va: None,
                write: info1 & 2 != 0,
                reason: format!(
                    "{} (nested page fault{}{})",
                    if info1 & 1 != 0 {
                        "permission fault"
                    } else {
                        "translation fault: nothing is mapped at this guest-physical address"
                    },
                    if info1 & (1 << 4) != 0 {
                        " on an instruction fetch"
                    } else {
                        ""
                    },
                    if info1 & (1 << 33) != 0 {
                        ", during the guest's own table walk"
                    } else {
                        ""
                    }
                ),
            },
            // The host's, not the guest's: an intercepted SMI or INIT stays
            // pending while GIF is clear and is taken by the host once vsva
            // sets GIF again after the exit (APM Vol. 2 §15.13.3, §15.13.4).
            exit::SMI | exit::INIT => Exit::Interrupt,
            exit::EXCEPTION_MC => {
                // A machine check while the guest ran is the host's: its
                // handler runs as if the check had hit vsva itself (it
                // reports and stops vsva; the guest is not blamed).
                // SAFETY: raises vector 18 through the host's IDT, whose
                // handler does not return into this frame's state.
                unsafe { core::arch::asm!("int 18") };
                Exit::Interrupt
            }
            exit::SHUTDOWN => Exit::Unhandled("shutdown (triple fault)".into()),
            exit::INVALID => Exit::Unhandled("VMRUN refused the VMCB (VMEXIT_INVALID)".into()),
            other => Exit::Unhandled(format!(
                "#VMEXIT {other:#x} (EXITINFO1 {info1:#x}, EXITINFO2 {info2:#x}) at RIP {:#x}",
                self.get(vmcb::RIP)
            )),
        }
    }
}
