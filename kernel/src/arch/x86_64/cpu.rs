//! CPU control: halting, and leaving QEMU with a status.

use x86_64::instructions::{hlt, interrupts, port::Port};

use crate::exit::ExitCode;

/// I/O port of QEMU's `isa-debug-exit` device (`iobase=0xf4`). Writing `v` makes
/// QEMU exit with status `(v << 1) | 1`.
const DEBUG_EXIT_PORT: u16 = 0xf4;

/// Ends the QEMU run with `code`; halts forever where the exit device is absent.
pub fn exit_qemu(code: ExitCode) -> ! {
    // SAFETY: the port belongs to the exit device, which only stops the machine.
    unsafe { Port::<u32>::new(DEBUG_EXIT_PORT).write(code.device_value()) };
    halt_forever()
}

/// Masks interrupts and halts.
pub fn halt_forever() -> ! {
    interrupts::disable();
    loop {
        hlt();
    }
}

/// Executes a breakpoint instruction (`int3`), which the trap handler counts and
/// returns from.
pub fn breakpoint() {
    x86_64::instructions::interrupts::int3();
}

/// Executes an undefined instruction (`ud2`): a fatal exception.
pub fn undefined_instruction() {
    // SAFETY: raises #UD, which the trap handler reports and which ends the run.
    unsafe { core::arch::asm!("ud2", options(nomem, nostack)) };
}

/// Masks interrupts and spins: what a hung kernel looks like.
pub fn hang() -> ! {
    interrupts::disable();
    loop {
        core::hint::spin_loop();
    }
}

/// Triple-faults the CPU: an empty IDT turns the next exception into a shutdown,
/// which QEMU (with `-no-reboot`) reports as a plain exit 0.
pub fn reset_without_exit() -> ! {
    let empty = x86_64::structures::DescriptorTablePointer {
        limit: 0,
        base: x86_64::VirtAddr::new(0),
    };
    // SAFETY: deliberately loads an IDT with no gates and raises #BP; the CPU shuts
    // down (triple fault), which is the point.
    unsafe {
        x86_64::instructions::tables::lidt(&empty);
        core::arch::asm!("int3", options(nomem, nostack));
    }
    halt_forever()
}

/// Writes to `addr`, which must be unmapped: raises #PF, which the trap handler
/// reports and which ends the run.
pub fn write_unmapped(addr: u64) {
    // SAFETY: the caller passes an address no mapping covers, so the store faults
    // before touching memory; the fault ends the run.
    unsafe { (addr as *mut u64).write_volatile(0x5a5a) };
}
