//! CPU control: halting, and leaving QEMU with a status through semihosting.

use crate::exit::ExitCode;

/// Semihosting SYS_EXIT (Arm semihosting spec, §6.5.2).
const SYS_EXIT: u64 = 0x18;
/// ADP_Stopped_ApplicationExit: "the application exited", with a status.
const ADP_STOPPED_APPLICATION_EXIT: u64 = 0x20026;

/// Ends the QEMU run with `code` (QEMU needs `-semihosting`); halts forever where
/// semihosting is off.
pub fn exit_qemu(code: ExitCode) -> ! {
    let block: [u64; 2] = [ADP_STOPPED_APPLICATION_EXIT, u64::from(code.status())];
    // SAFETY: the A64 semihosting trap (HLT #0xF000) with w0 = operation and
    // x1 = pointer to the parameter block, which lives on this stack frame.
    unsafe {
        core::arch::asm!(
            "hlt #0xf000",
            in("x0") SYS_EXIT,
            in("x1") block.as_ptr(),
            options(nostack)
        );
    }
    halt_forever()
}

/// Masks interrupts and waits forever.
pub fn halt_forever() -> ! {
    loop {
        // SAFETY: masks DAIF and waits; no memory is touched.
        unsafe { core::arch::asm!("msr daifset, #0xf", "wfi", options(nomem, nostack)) };
    }
}

/// Immediate of the breakpoint that the trap handler counts and returns from.
pub const TEST_BREAKPOINT: u16 = 0x7e57;

/// Executes `BRK #TEST_BREAKPOINT`, which the trap handler counts and returns from.
pub fn breakpoint() {
    // SAFETY: the EL2 synchronous handler steps over this BRK and returns.
    unsafe { core::arch::asm!("brk #0x7e57", options(nomem, nostack)) };
}

/// Executes a permanently undefined instruction (`UDF`): a fatal exception.
pub fn undefined_instruction() {
    // SAFETY: raises an Unknown-reason exception, which the trap handler reports
    // and which ends the run.
    unsafe { core::arch::asm!("udf #0", options(nomem, nostack)) };
}

/// Masks interrupts and spins: what a hung kernel looks like.
pub fn hang() -> ! {
    // SAFETY: masks DAIF; no memory is touched.
    unsafe { core::arch::asm!("msr daifset, #0xf", options(nomem, nostack)) };
    loop {
        core::hint::spin_loop();
    }
}

/// PSCI SYSTEM_OFF (Arm DEN 0022, §5.1.9), which QEMU turns into a plain exit 0:
/// how a machine that stops without the exit device looks to the harness.
pub fn reset_without_exit() -> ! {
    const PSCI_SYSTEM_OFF: u64 = 0x8400_0008;
    // SAFETY: the SMC conduit of QEMU virt at EL2; SYSTEM_OFF does not return.
    unsafe { core::arch::asm!("smc #0", in("x0") PSCI_SYSTEM_OFF, options(nomem, nostack)) };
    halt_forever()
}

/// Writes to `addr`, which must be unmapped: raises a data abort, which the trap handler
/// reports and which ends the run.
pub fn write_unmapped(addr: u64) {
    // SAFETY: the caller passes an address no mapping covers, so the store faults
    // before touching memory; the fault ends the run.
    unsafe { (addr as *mut u64).write_volatile(0x5a5a) };
}
