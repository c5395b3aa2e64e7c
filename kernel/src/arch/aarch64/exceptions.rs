//! The EL2 exception vector table (`VBAR_EL2`, installed by the boot code) and
//! the handler that prints a readable dump and ends the run.
//!
//! Vector layout: Arm ARM D1.3.1 (Table D1-7). ESR_EL2 encoding: Arm ARM D24.2.46;
//! data/instruction abort ISS and fault status codes: D24.2.46 "ISS encoding for
//! an exception from a Data Abort". `BRK #0x7e57` is the one exception that
//! returns (it is counted, for tests); everything else is fatal for now.

use core::arch::global_asm;
use core::fmt::{self, Write};
use core::sync::atomic::{AtomicUsize, Ordering};

use crate::exit::ExitCode;

/// Registers as the vector entry saves them.
#[repr(C)]
#[derive(Debug)]
pub struct TrapFrame {
    pub x: [u64; 31],
    /// SP_EL2 before the exception.
    pub sp: u64,
    pub elr: u64,
    pub spsr: u64,
    pub esr: u64,
    pub far: u64,
}

const FRAME_SIZE: usize = core::mem::size_of::<TrapFrame>();
const _: () = assert!(FRAME_SIZE == 288 && FRAME_SIZE.is_multiple_of(16));
/// q0-q7, q16-q31, FPSR and FPCR, below the frame.
const FP_SAVE_SIZE: usize = 24 * 16 + 16;

global_asm!(
    ".pushsection .text.vectors, \"ax\"",
    ".macro vsva_vector kind",
    ".balign 0x80",
    "    sub sp, sp, #{frame}",
    "    stp x0, x1, [sp, #0]",
    "    mov x1, #\\kind",
    "    b vsva_trap_common",
    ".endm",
    ".macro vsva_guest_vector kind",
    ".balign 0x80",
    "    stp x0, x1, [sp, #-16]!",
    "    mov x1, #\\kind",
    "    b vsva_vcpu_exit",
    ".endm",
    ".balign 0x800",
    ".global vsva_el2_vectors",
    "vsva_el2_vectors:",
    "vsva_vector 0", "vsva_vector 1", "vsva_vector 2", "vsva_vector 3",
    "vsva_vector 4", "vsva_vector 5", "vsva_vector 6", "vsva_vector 7",
    // From a guest (lower EL): back into the vCPU run loop (vcpu.rs), with
    // the guest's x0/x1 pushed on the host stack the run loop left.
    "vsva_guest_vector 8", "vsva_guest_vector 9", "vsva_guest_vector 10", "vsva_guest_vector 11",
    "vsva_guest_vector 12", "vsva_guest_vector 13", "vsva_guest_vector 14", "vsva_guest_vector 15",
    "vsva_trap_common:",
    "    stp x2, x3, [sp, #16]",
    "    stp x4, x5, [sp, #32]",
    "    stp x6, x7, [sp, #48]",
    "    stp x8, x9, [sp, #64]",
    "    stp x10, x11, [sp, #80]",
    "    stp x12, x13, [sp, #96]",
    "    stp x14, x15, [sp, #112]",
    "    stp x16, x17, [sp, #128]",
    "    stp x18, x19, [sp, #144]",
    "    stp x20, x21, [sp, #160]",
    "    stp x22, x23, [sp, #176]",
    "    stp x24, x25, [sp, #192]",
    "    stp x26, x27, [sp, #208]",
    "    stp x28, x29, [sp, #224]",
    "    add x2, sp, #{frame}",
    "    stp x30, x2, [sp, #240]",
    "    mrs x2, elr_el2",
    "    mrs x3, spsr_el2",
    "    stp x2, x3, [sp, #256]",
    "    mrs x2, esr_el2",
    "    mrs x3, far_el2",
    "    stp x2, x3, [sp, #272]",
    "    mov x0, sp",
    // Caller-saved FP/SIMD state: an interrupted function may be using it and
    // the Rust handler may too. (d8-d15 are callee-saved.)
    "    sub sp, sp, #{fp}",
    "    stp q0, q1, [sp, #0]",
    "    stp q2, q3, [sp, #32]",
    "    stp q4, q5, [sp, #64]",
    "    stp q6, q7, [sp, #96]",
    "    stp q16, q17, [sp, #128]",
    "    stp q18, q19, [sp, #160]",
    "    stp q20, q21, [sp, #192]",
    "    stp q22, q23, [sp, #224]",
    "    stp q24, q25, [sp, #256]",
    "    stp q26, q27, [sp, #288]",
    "    stp q28, q29, [sp, #320]",
    "    stp q30, q31, [sp, #352]",
    "    mrs x2, fpsr",
    "    mrs x3, fpcr",
    "    stp x2, x3, [sp, #384]",
    "    bl {handler}",
    "    ldp x2, x3, [sp, #384]",
    "    msr fpsr, x2",
    "    msr fpcr, x3",
    "    ldp q0, q1, [sp, #0]",
    "    ldp q2, q3, [sp, #32]",
    "    ldp q4, q5, [sp, #64]",
    "    ldp q6, q7, [sp, #96]",
    "    ldp q16, q17, [sp, #128]",
    "    ldp q18, q19, [sp, #160]",
    "    ldp q20, q21, [sp, #192]",
    "    ldp q22, q23, [sp, #224]",
    "    ldp q24, q25, [sp, #256]",
    "    ldp q26, q27, [sp, #288]",
    "    ldp q28, q29, [sp, #320]",
    "    ldp q30, q31, [sp, #352]",
    "    add sp, sp, #{fp}",
    // The handler may have moved ELR (to step over a BRK).
    "    ldp x2, x3, [sp, #256]",
    "    msr elr_el2, x2",
    "    msr spsr_el2, x3",
    "    ldp x0, x1, [sp, #0]",
    "    ldp x2, x3, [sp, #16]",
    "    ldp x4, x5, [sp, #32]",
    "    ldp x6, x7, [sp, #48]",
    "    ldp x8, x9, [sp, #64]",
    "    ldp x10, x11, [sp, #80]",
    "    ldp x12, x13, [sp, #96]",
    "    ldp x14, x15, [sp, #112]",
    "    ldp x16, x17, [sp, #128]",
    "    ldp x18, x19, [sp, #144]",
    "    ldp x20, x21, [sp, #160]",
    "    ldp x22, x23, [sp, #176]",
    "    ldp x24, x25, [sp, #192]",
    "    ldp x26, x27, [sp, #208]",
    "    ldp x28, x29, [sp, #224]",
    "    ldr x30, [sp, #240]",
    "    add sp, sp, #{frame}",
    "    eret",
    ".popsection",
    frame = const FRAME_SIZE,
    fp = const FP_SAVE_SIZE,
    handler = sym trap_entry,
);

static BREAKPOINTS: AtomicUsize = AtomicUsize::new(0);

/// How many test breakpoints have been taken and returned from.
pub fn breakpoints() -> usize {
    BREAKPOINTS.load(Ordering::SeqCst)
}

/// The boot code installed the vectors already; nothing more to do.
pub fn init() {}

/// Which of the 16 vectors was taken (Arm ARM Table D1-7).
fn vector_name(kind: u64) -> &'static str {
    let (source, kind) = ((kind / 4) % 4, kind % 4);
    match (source, kind) {
        (0, 0) => "synchronous, current EL with SP_EL0",
        (0, 1) => "IRQ, current EL with SP_EL0",
        (0, 2) => "FIQ, current EL with SP_EL0",
        (0, 3) => "SError, current EL with SP_EL0",
        (1, 0) => "synchronous, current EL with SP_EL2",
        (1, 1) => "IRQ, current EL with SP_EL2",
        (1, 2) => "FIQ, current EL with SP_EL2",
        (1, 3) => "SError, current EL with SP_EL2",
        (2, 0) => "synchronous, lower EL (AArch64)",
        (2, 1) => "IRQ, lower EL (AArch64)",
        (2, 2) => "FIQ, lower EL (AArch64)",
        (2, 3) => "SError, lower EL (AArch64)",
        (3, 0) => "synchronous, lower EL (AArch32)",
        (3, 1) => "IRQ, lower EL (AArch32)",
        (3, 2) => "FIQ, lower EL (AArch32)",
        _ => "SError, lower EL (AArch32)",
    }
}

/// ESR_ELx.EC values (Arm ARM D24.2.46).
pub mod ec {
    pub const UNKNOWN: u64 = 0x00;
    pub const WFX: u64 = 0x01;
    pub const FP_ACCESS: u64 = 0x07;
    pub const ILLEGAL_STATE: u64 = 0x0e;
    pub const SVC64: u64 = 0x15;
    pub const HVC64: u64 = 0x16;
    pub const SMC64: u64 = 0x17;
    pub const SYSREG: u64 = 0x18;
    pub const SVE: u64 = 0x19;
    pub const IABT_LOWER: u64 = 0x20;
    pub const IABT_SAME: u64 = 0x21;
    pub const PC_ALIGNMENT: u64 = 0x22;
    pub const DABT_LOWER: u64 = 0x24;
    pub const DABT_SAME: u64 = 0x25;
    pub const SP_ALIGNMENT: u64 = 0x26;
    pub const SERROR: u64 = 0x2f;
    pub const BREAKPOINT_LOWER: u64 = 0x30;
    pub const BREAKPOINT_SAME: u64 = 0x31;
    pub const SOFTWARE_STEP_LOWER: u64 = 0x32;
    pub const SOFTWARE_STEP_SAME: u64 = 0x33;
    pub const WATCHPOINT_LOWER: u64 = 0x34;
    pub const WATCHPOINT_SAME: u64 = 0x35;
    pub const BRK64: u64 = 0x3c;
}

/// Name of an exception class.
pub fn ec_name(class: u64) -> &'static str {
    match class {
        ec::UNKNOWN => "unknown reason (undefined instruction)",
        ec::WFX => "WFI/WFE trapped",
        ec::FP_ACCESS => "FP/SIMD access trapped",
        ec::ILLEGAL_STATE => "illegal execution state",
        ec::SVC64 => "SVC (AArch64)",
        ec::HVC64 => "HVC (AArch64)",
        ec::SMC64 => "SMC (AArch64)",
        ec::SYSREG => "MSR/MRS/system instruction trapped",
        ec::SVE => "SVE access trapped",
        ec::IABT_LOWER => "instruction abort from a lower EL",
        ec::IABT_SAME => "instruction abort, same EL",
        ec::PC_ALIGNMENT => "PC alignment fault",
        ec::DABT_LOWER => "data abort from a lower EL",
        ec::DABT_SAME => "data abort, same EL",
        ec::SP_ALIGNMENT => "SP alignment fault",
        ec::SERROR => "SError",
        ec::BREAKPOINT_LOWER | ec::BREAKPOINT_SAME => "hardware breakpoint",
        ec::SOFTWARE_STEP_LOWER | ec::SOFTWARE_STEP_SAME => "software step",
        ec::WATCHPOINT_LOWER | ec::WATCHPOINT_SAME => "watchpoint",
        ec::BRK64 => "BRK instruction",
        _ => "other",
    }
}

/// A data or instruction fault status code (DFSC / IFSC).
#[derive(Clone, Copy, Debug)]
pub struct FaultStatus(pub u64);

impl fmt::Display for FaultStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let code = self.0 & 0x3f;
        let level = code & 0b11;
        match code >> 2 {
            0b0000 => write!(f, "address size fault, level {level}"),
            0b0001 => write!(f, "translation fault, level {level}"),
            0b0010 => write!(f, "access flag fault, level {level}"),
            0b0011 => write!(f, "permission fault, level {level}"),
            _ => match code {
                0b010000 => write!(f, "synchronous external abort"),
                0b010001 => write!(f, "synchronous tag check fault"),
                0b100001 => write!(f, "alignment fault"),
                0b110000 => write!(f, "TLB conflict abort"),
                _ => write!(f, "fault status {code:#04x}"),
            },
        }
    }
}

/// Decoded ESR_EL2 for the dump.
#[derive(Clone, Copy, Debug)]
pub struct Syndrome(pub u64);

impl fmt::Display for Syndrome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let esr = self.0;
        let class = esr >> 26;
        let iss = esr & 0x1ff_ffff;
        write!(
            f,
            "EC {class:#04x} {}, IL {}",
            ec_name(class),
            (esr >> 25) & 1
        )?;
        match class {
            ec::DABT_LOWER | ec::DABT_SAME => {
                write!(
                    f,
                    ", {} on {}",
                    FaultStatus(iss),
                    if iss & (1 << 6) != 0 { "write" } else { "read" }
                )?;
                if iss & (1 << 24) != 0 {
                    // ISV: the access is described.
                    write!(
                        f,
                        ", {} bytes via x{}",
                        1 << ((iss >> 22) & 3),
                        (iss >> 16) & 0x1f
                    )?;
                }
                if iss & (1 << 10) != 0 {
                    write!(f, ", FAR not valid")?;
                }
                if iss & (1 << 7) != 0 {
                    write!(f, ", during a stage-1 table walk")?;
                }
                Ok(())
            }
            ec::IABT_LOWER | ec::IABT_SAME => write!(f, ", {}", FaultStatus(iss)),
            ec::BRK64 | ec::HVC64 | ec::SMC64 | ec::SVC64 => {
                write!(f, ", imm {:#06x}", iss & 0xffff)
            }
            _ => write!(f, ", ISS {iss:#x}"),
        }
    }
}

/// Open while vsva takes, right after a guest exit, any SError that guest
/// left pending (see `vcpu::Vcpu::run`); such SErrors are counted, not fatal.
pub static SERROR_WINDOW: core::sync::atomic::AtomicBool =
    core::sync::atomic::AtomicBool::new(false);
/// SErrors taken in that window.
pub static SERRORS_IN_WINDOW: AtomicUsize = AtomicUsize::new(0);

extern "C" fn trap_entry(frame: &mut TrapFrame, kind: u64) {
    // IRQ from EL2 itself (either stack pointer): a device interrupt.
    if kind == 1 || kind == 5 {
        super::gic::handle();
        return;
    }
    if kind == 7 && SERROR_WINDOW.load(Ordering::SeqCst) {
        SERRORS_IN_WINDOW.fetch_add(1, Ordering::SeqCst);
        return;
    }
    let class = frame.esr >> 26;
    if kind == 4
        && class == ec::BRK64
        && frame.esr & 0xffff == u64::from(super::cpu::TEST_BREAKPOINT)
    {
        BREAKPOINTS.fetch_add(1, Ordering::SeqCst);
        // BRK leaves ELR at itself: step over it.
        frame.elr += 4;
        return;
    }
    let mut out = crate::arch::console::emergency();
    let _ = writeln!(out, "\n*** exception: {}", vector_name(kind));
    let _ = writeln!(
        out,
        "    ESR_EL2 {:#010x}: {}",
        frame.esr,
        Syndrome(frame.esr)
    );
    if matches!(
        class,
        ec::DABT_LOWER
            | ec::DABT_SAME
            | ec::IABT_LOWER
            | ec::IABT_SAME
            | ec::PC_ALIGNMENT
            | ec::WATCHPOINT_SAME
            | ec::WATCHPOINT_LOWER
    ) {
        let _ = writeln!(out, "    faulting address (FAR_EL2) {:#018x}", frame.far);
    }
    let _ = writeln!(
        out,
        "    ELR_EL2 {:#018x}  SPSR_EL2 {:#010x}  SP {:#018x}",
        frame.elr, frame.spsr, frame.sp
    );
    for row in 0..8 {
        let _ = write!(out, "   ");
        for col in 0..4 {
            let i = row * 4 + col;
            if i < 31 {
                let _ = write!(out, " x{i:<2} {:#018x}", frame.x[i]);
            }
        }
        let _ = writeln!(out);
    }
    crate::panic::report_running_test(&mut out);
    crate::exit::exit(ExitCode::Crash)
}
