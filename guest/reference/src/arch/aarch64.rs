//! aarch64 at EL1: entry (stack, BSS, vectors), an identity map with 1 GiB
//! blocks (device memory below the RAM's gigabyte, normal memory for it), and
//! the GICv3 CPU interface, which at EL1 under vsva is the virtual one
//! (ICV_* registers, fed by vsva's list registers).

use core::arch::global_asm;

use vsva_abi::BootInfo;

/// The virtual timer's PPI (the Arm Base System Architecture's EL1 virtual
/// timer interrupt, INTID 27).
pub const VIRTUAL_TIMER_INTID: u32 = 27;

global_asm!(
    ".pushsection .text.entry, \"ax\"",
    ".global _start",
    "_start:",
    "    msr daifset, #0xf",
    "    mov x19, x0",
    "    adrp x1, __stack_top",
    "    add x1, x1, :lo12:__stack_top",
    "    mov sp, x1",
    "    adrp x1, __bss_start",
    "    add x1, x1, :lo12:__bss_start",
    "    adrp x2, __bss_end",
    "    add x2, x2, :lo12:__bss_end",
    "0:  cmp x1, x2",
    "    b.hs 1f",
    "    str xzr, [x1], #8",
    "    b 0b",
    "1:  adrp x1, guest_vectors",
    "    add x1, x1, :lo12:guest_vectors",
    "    msr vbar_el1, x1",
    "    isb",
    "    mov x0, x19",
    "    bl guest_entry",
    "2:  b 2b",
    // A secondary vCPU (PSCI CPU_ON / VcpuStart): x0 is its stack top.
    ".global guest_secondary_start",
    "guest_secondary_start:",
    "    msr daifset, #0xf",
    "    mov sp, x0",
    "    adrp x1, guest_vectors",
    "    add x1, x1, :lo12:guest_vectors",
    "    msr vbar_el1, x1",
    "    isb",
    "    bl guest_secondary_entry",
    "3:  b 3b",
    ".popsection",
    // The EL1 vector table (Arm ARM D1.3.1): current EL with SP_ELx
    // synchronous and IRQ are the ones this guest expects; everything else is
    // reported as an exception too.
    ".pushsection .text.vectors, \"ax\"",
    ".balign 0x800",
    "guest_vectors:",
    ".rept 16",
    ".balign 0x80",
    "    sub sp, sp, #256",
    "    stp x0, x1, [sp, #0]",
    "    stp x2, x3, [sp, #16]",
    "    stp x4, x5, [sp, #32]",
    "    stp x6, x7, [sp, #48]",
    "    stp x8, x9, [sp, #64]",
    "    stp x10, x11, [sp, #80]",
    "    stp x12, x13, [sp, #96]",
    "    stp x14, x15, [sp, #112]",
    "    stp x16, x17, [sp, #128]",
    "    stp x18, x30, [sp, #144]",
    "    b guest_vector_common",
    ".endr",
    "guest_vector_common:",
    "    mrs x0, esr_el1",
    "    mrs x1, elr_el1",
    "    mrs x2, far_el1",
    "    mrs x3, spsr_el1",
    "    bl guest_trap",
    "    ldp x0, x1, [sp, #0]",
    "    ldp x2, x3, [sp, #16]",
    "    ldp x4, x5, [sp, #32]",
    "    ldp x6, x7, [sp, #48]",
    "    ldp x8, x9, [sp, #64]",
    "    ldp x10, x11, [sp, #80]",
    "    ldp x12, x13, [sp, #96]",
    "    ldp x14, x15, [sp, #112]",
    "    ldp x16, x17, [sp, #128]",
    "    ldp x18, x30, [sp, #144]",
    "    add sp, sp, #256",
    "    eret",
    ".popsection",
);

#[unsafe(no_mangle)]
extern "C" fn guest_entry(info: u64) -> ! {
    // SAFETY: vsva passes the guest-physical address of a BootInfo in RAM,
    // 8-aligned; the MMU is off, so that address is where it is read.
    let info: &'static BootInfo = unsafe { &*(info as *const BootInfo) };
    crate::guest::main(info)
}

/// ESR_EL1.EC values the handler distinguishes (Arm ARM D24.2.46).
const EC_SHIFT: u64 = 26;

/// Every exception and interrupt: an IRQ (ESR is not set for it) is told
/// apart by ISR_EL1.I, pending at the CPU interface.
#[unsafe(no_mangle)]
extern "C" fn guest_trap(esr: u64, elr: u64, far: u64, _spsr: u64) {
    let isr: u64;
    // SAFETY: reads ISR_EL1 (pending interrupt status); no side effects.
    unsafe { core::arch::asm!("mrs {}, isr_el1", out(reg) isr, options(nomem, nostack)) };
    if isr & (1 << 7) != 0 {
        let intid: u64;
        // SAFETY: ICC_IAR1_EL1 (ICV_IAR1_EL1 under vsva) acknowledges the
        // highest-priority pending Group 1 interrupt; EOIR1 ends it.
        unsafe {
            core::arch::asm!("mrs {}, icc_iar1_el1", out(reg) intid, options(nomem, nostack));
        }
        let intid = (intid & 0xff_ffff) as u32;
        if intid < 1020 {
            if intid == VIRTUAL_TIMER_INTID {
                // Quiet the timer so it does not fire again.
                // SAFETY: CNTV_CTL_EL0 = 0 disables this guest's virtual timer.
                unsafe { core::arch::asm!("msr cntv_ctl_el0, xzr", options(nomem, nostack)) };
            }
            crate::guest::interrupt(intid);
            // SAFETY: ends the interrupt just acknowledged.
            unsafe {
                core::arch::asm!("msr icc_eoir1_el1, {}", in(reg) u64::from(intid), options(nomem, nostack));
            }
        }
        return;
    }
    crate::guest::exception(esr >> EC_SHIFT, esr, elr, far)
}

#[repr(C, align(4096))]
struct Table([u64; 512]);

/// The level-1 table: VA = IPA, 1 GiB blocks.
static mut LEVEL1: Table = Table([0; 512]);

/// Block descriptor bits (Arm ARM D8.3): valid block (0b01), AttrIndx[4:2],
/// inner shareable SH (9:8 = 0b11), AF (10), PXN (53), UXN (54).
const BLOCK: u64 = 0b01;
const AF: u64 = 1 << 10;
const SH_INNER: u64 = 0b11 << 8;
const ATTR_NORMAL: u64 = 0 << 2;
const ATTR_DEVICE: u64 = 1 << 2;
const XN: u64 = (1 << 53) | (1 << 54);
/// MAIR_EL1: Attr0 normal write-back, Attr1 Device-nGnRE.
const MAIR: u64 = 0x04_ff;
/// TCR_EL1: T0SZ 32 (4 GiB, walks start at level 1), IRGN0/ORGN0
/// write-back, SH0 inner, TG0 4 KiB, EPD1 (no upper half), IPS 40 bits.
const TCR: u64 = 32 | (1 << 8) | (1 << 10) | (0b11 << 12) | (1 << 23) | (0b010 << 32);
/// SCTLR_EL1: M (0), C (2), I (12).
const SCTLR_MMU_CACHES: u64 = (1 << 0) | (1 << 2) | (1 << 12);

/// Identity-maps the first 4 GiB (RAM's gigabyte as normal memory, the
/// others as device memory for the configuration window and BARs), turns the
/// MMU and caches on, and lets FP/SIMD run at EL1 and EL0.
pub fn init(info: &BootInfo) {
    let ram_gib = info.ram_base >> 30;
    // SAFETY: LEVEL1 is only written here, before the MMU uses it, on the one CPU.
    let table = unsafe { &mut *core::ptr::addr_of_mut!(LEVEL1) };
    for (i, entry) in table.0.iter_mut().take(4).enumerate() {
        let base = (i as u64) << 30;
        *entry = if i as u64 == ram_gib {
            base | BLOCK | AF | SH_INNER | ATTR_NORMAL
        } else {
            base | BLOCK | AF | ATTR_DEVICE | XN
        };
    }
    enable_mmu();
}

/// Where a secondary vCPU starts.
pub fn secondary_entry() -> u64 {
    unsafe extern "C" {
        fn guest_secondary_start();
    }
    guest_secondary_start as *const () as u64
}

#[unsafe(no_mangle)]
extern "C" fn guest_secondary_entry() -> ! {
    enable_mmu();
    crate::guest::secondary()
}

/// Turns the MMU on with the tables `init` built (each vCPU has its own
/// SCTLR/TCR/TTBR).
fn enable_mmu() {
    let root = core::ptr::addr_of!(LEVEL1) as u64;
    // SAFETY: programs this guest's own EL1 translation: an identity map of
    // the RAM it runs from, so execution continues at the same addresses.
    unsafe {
        core::arch::asm!(
            "msr mair_el1, {mair}",
            "msr tcr_el1, {tcr}",
            "msr ttbr0_el1, {root}",
            "dsb ish",
            "isb",
            "tlbi vmalle1",
            "dsb ish",
            "isb",
            "mrs {t}, sctlr_el1",
            "orr {t}, {t}, {on}",
            "msr sctlr_el1, {t}",
            "isb",
            mair = in(reg) MAIR,
            tcr = in(reg) TCR,
            root = in(reg) root,
            on = in(reg) SCTLR_MMU_CACHES,
            t = out(reg) _,
            options(nostack)
        );
    }
}

/// Spins forever with interrupts masked.
pub fn spin() -> ! {
    // SAFETY: masks this vCPU's interrupts; touches no memory.
    unsafe { core::arch::asm!("msr daifset, #0xf", options(nomem, nostack)) };
    loop {
        core::hint::spin_loop();
    }
}

/// Enables Group 1 at the (virtual) CPU interface with every priority, and
/// unmasks IRQs.
pub fn enable_interrupts() {
    // SAFETY: GIC CPU interface registers (ICV_* under vsva) and PSTATE.I.
    unsafe {
        core::arch::asm!(
            "mrs {t}, icc_sre_el1",
            "orr {t}, {t}, #1",
            "msr icc_sre_el1, {t}",
            "isb",
            "mov {t}, #0xff",
            "msr icc_pmr_el1, {t}",
            "mov {t}, #1",
            "msr icc_igrpen1_el1, {t}",
            "isb",
            "msr daifclr, #2",
            t = out(reg) _,
            options(nomem, nostack)
        );
    }
}

/// Waits for an interrupt (WFI, which vsva traps to run others meanwhile).
pub fn wait() {
    // SAFETY: WFI has no effect on memory.
    unsafe { core::arch::asm!("wfi", options(nomem, nostack)) };
}

/// Waits for an interrupt unless `ready()` holds, with IRQs masked for the
/// check: WFI still wakes on a pending interrupt (Arm ARM D1.6.2), which is
/// then taken when they are unmasked again.
pub fn wait_unless(ready: impl Fn() -> bool) {
    // SAFETY: PSTATE.I only.
    unsafe { core::arch::asm!("msr daifset, #2", options(nomem, nostack)) };
    if !ready() {
        wait();
    }
    // SAFETY: PSTATE.I only; the ISB makes a pending interrupt be taken here.
    unsafe { core::arch::asm!("msr daifclr, #2", "isb", options(nomem, nostack)) };
}

/// Arms the virtual timer `ticks` counter ticks from now.
pub fn arm_virtual_timer(ticks: u64) {
    // SAFETY: CNTV_TVAL_EL0 and CNTV_CTL_EL0 (ENABLE) of this guest's timer.
    unsafe {
        core::arch::asm!(
            "msr cntv_tval_el0, {t}",
            "mov {c}, #1",
            "msr cntv_ctl_el0, {c}",
            "isb",
            t = in(reg) ticks,
            c = out(reg) _,
            options(nomem, nostack)
        );
    }
}

/// Puts `value` in D31, yields (HVC) and returns what D31 holds afterwards,
/// all in one block so that no compiler-generated code touches the register
/// in between.
pub fn yield_holding_fp(value: u64) -> u64 {
    let out: u64;
    // SAFETY: the Yield hypercall (x0 = its function ID); vsva may change
    // x0..x6, which are declared clobbered; D31 is the register under test.
    unsafe {
        core::arch::asm!(
            "fmov d31, {v}",
            "hvc #0",
            "fmov {v}, d31",
            v = inout(reg) value => out,
            inout("x0") u64::from(vsva_abi::Call::Yield.function_id()) => _,
            out("x1") _, out("x2") _, out("x3") _, out("x4") _, out("x5") _, out("x6") _,
            out("v31") _,
            options(nostack)
        )
    };
    out
}

/// PSCI function IDs (Arm DEN 0022 §5.1).
const PSCI_VERSION: u64 = 0x8400_0000;
const PSCI_FEATURES: u64 = 0x8400_000a;
const PSCI_SYSTEM_OFF: u64 = 0x8400_0008;

fn smc(function: u64, arg: u64) -> u64 {
    let out: u64;
    // SAFETY: an SMC, which vsva traps (HCR_EL2.TSC) and answers as PSCI;
    // it writes x0..x3.
    unsafe {
        core::arch::asm!(
            "smc #0",
            inout("x0") function => out,
            inout("x1") arg => _,
            out("x2") _,
            out("x3") _,
            options(nostack)
        )
    };
    out
}

/// Checks PSCI 1.1 and SYSTEM_OFF's presence, then powers off.
pub fn psci_checks_then_off() -> ! {
    let version = smc(PSCI_VERSION, 0);
    let features = smc(PSCI_FEATURES, PSCI_SYSTEM_OFF);
    let unknown = smc(PSCI_FEATURES, 0x8400_001f);
    if version != 0x1_0001 || features != 0 || unknown != u64::MAX {
        crate::guest::report_psci(version, features, unknown);
    }
    smc(PSCI_SYSTEM_OFF, 0);
    crate::guest::report_psci(version, features, unknown)
}

/// Reads the EL1 physical timer, which vsva does not give guests
/// (CNTHCTL_EL2.EL1PCEN clear traps it to EL2).
pub fn misbehave() -> ! {
    // SAFETY: a register read that traps to vsva; no memory is touched.
    unsafe { core::arch::asm!("mrs {}, cntp_ctl_el0", out(reg) _, options(nomem, nostack)) };
    crate::guest::still_running()
}

/// Stops this vCPU (PSCI CPU_OFF).
pub fn vcpu_off() -> ! {
    smc(0x8400_0002, 0);
    loop {
        wait();
    }
}

/// No protection keys on aarch64.
pub fn enable_protection_keys() -> bool {
    false
}

/// Not reached (no protection keys).
pub fn yield_holding_pkru(value: u32) -> u32 {
    value
}

/// A load pair from `addr`: the abort syndrome has no ISV for it, so vsva
/// cannot emulate it.
pub fn unemulated_read(addr: u64) {
    // SAFETY: deliberately an access vsva must refuse; it stops the partition.
    unsafe {
        core::arch::asm!("ldp {a}, {b}, [{p}]", p = in(reg) addr, a = out(reg) _, b = out(reg) _, options(nostack))
    };
}

/// PSCI CPU_ON (64-bit): vCPU `target` (its MPIDR Aff0) at `entry` with
/// `context` in x0. The PSCI status on failure.
pub fn psci_cpu_on(target: u64, entry: u64, context: u64) -> Result<(), i64> {
    let status: u64;
    // SAFETY: an SMC that vsva answers as PSCI; writes x0..x3.
    unsafe {
        core::arch::asm!(
            "smc #0",
            inout("x0") 0xc400_0003u64 => status,
            inout("x1") target => _,
            inout("x2") entry => _,
            inout("x3") context => _,
            options(nostack)
        )
    };
    match status as i64 {
        0 => Ok(()),
        e => Err(e),
    }
}

/// WBNOINVD is x86's.
pub fn prefixed_cache_writebacks() -> u64 {
    crate::guest::unsupported("WBNOINVD")
}

/// The virtual counter (CNTVCT_EL0) in nanoseconds, at CNTFRQ_EL0.
pub fn counter_ns() -> u64 {
    let (count, hz): (u64, u64);
    // SAFETY: reads of the generic timer's counter and frequency.
    unsafe {
        core::arch::asm!(
            "isb",
            "mrs {c}, cntvct_el0",
            "mrs {f}, cntfrq_el0",
            c = out(reg) count,
            f = out(reg) hz,
            options(nomem, nostack)
        );
    }
    (u128::from(count) * 1_000_000_000 / u128::from(hz.max(1))) as u64
}

/// Port I/O is x86's.
pub fn string_port_input(_buffer: &mut [u8; 4]) {
    crate::guest::unsupported("port I/O");
}
