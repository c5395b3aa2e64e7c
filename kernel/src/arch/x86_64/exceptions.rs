//! Exceptions: a 64-bit GDT with a TSS (a separate stack for double faults), an
//! IDT whose 32 exception gates lead to one assembly entry that saves every
//! general-purpose register, and a handler that prints a readable dump and ends
//! the run. `int3` is the one exception that returns (it is counted, for tests).
//!
//! Vector numbers, names and error-code layouts: Intel SDM Vol. 3A §6.3.1
//! (Table 6-1) and §6.13; the #PF error code: §4.7.

use core::arch::global_asm;
use core::fmt::Write;
use core::sync::atomic::{AtomicUsize, Ordering};

use spin::Once;
use x86_64::VirtAddr;
use x86_64::instructions::segmentation::{CS, DS, ES, SS, Segment};
use x86_64::instructions::tables::{lidt, load_tss};
use x86_64::registers::control::Cr2;
use x86_64::structures::DescriptorTablePointer;
use x86_64::structures::gdt::{Descriptor, GlobalDescriptorTable, SegmentSelector};
use x86_64::structures::tss::TaskStateSegment;

use crate::exit::ExitCode;

/// Exception vectors that push an error code (SDM Vol. 3A Table 6-1).
const HAS_ERROR_CODE: [u8; 10] = [8, 10, 11, 12, 13, 14, 17, 21, 29, 30];
/// IST slot (1-based in the gate) used for #DF.
const DOUBLE_FAULT_IST: u8 = 1;
const DOUBLE_FAULT_STACK_SIZE: usize = 16 * 1024;

/// Registers as `isr_common` leaves them on the stack, lowest address first.
#[repr(C)]
#[derive(Debug)]
pub struct TrapFrame {
    pub r15: u64,
    pub r14: u64,
    pub r13: u64,
    pub r12: u64,
    pub r11: u64,
    pub r10: u64,
    pub r9: u64,
    pub r8: u64,
    pub rbp: u64,
    pub rdi: u64,
    pub rsi: u64,
    pub rdx: u64,
    pub rcx: u64,
    pub rbx: u64,
    pub rax: u64,
    pub vector: u64,
    pub error_code: u64,
    // Pushed by the CPU.
    pub rip: u64,
    pub cs: u64,
    pub rflags: u64,
    pub rsp: u64,
    pub ss: u64,
}

global_asm!(
    ".pushsection .text.isr, \"ax\"",
    ".macro isr_noerr vec",
    "isr_\\vec:",
    "    push 0",
    "    push \\vec",
    "    jmp isr_common",
    ".endm",
    ".macro isr_err vec",
    "isr_\\vec:",
    "    push \\vec",
    "    jmp isr_common",
    ".endm",
    "isr_noerr 0", "isr_noerr 1", "isr_noerr 2", "isr_noerr 3",
    "isr_noerr 4", "isr_noerr 5", "isr_noerr 6", "isr_noerr 7",
    "isr_err 8", "isr_noerr 9", "isr_err 10", "isr_err 11",
    "isr_err 12", "isr_err 13", "isr_err 14", "isr_noerr 15",
    "isr_noerr 16", "isr_err 17", "isr_noerr 18", "isr_noerr 19",
    "isr_noerr 20", "isr_err 21", "isr_noerr 22", "isr_noerr 23",
    "isr_noerr 24", "isr_noerr 25", "isr_noerr 26", "isr_noerr 27",
    "isr_noerr 28", "isr_err 29", "isr_err 30", "isr_noerr 31",
    // Every interrupt vector, 32-255, taken through the same frame: a device
    // may send any vector (an MSI written by DMA, where the interrupt
    // remapping hardware lets it through), and none may crash vsva.
    ".irp vec, 32,33,34,35,36,37,38,39,40,41,42,43,44,45,46,47,48,49,50,51,52,53,54,55,56,57,58,59,60,61,62,63,64,65,66,67,68,69,70,71,72,73,74,75,76,77,78,79,80,81,82,83,84,85,86,87,88,89,90,91,92,93,94,95,96,97,98,99,100,101,102,103,104,105,106,107,108,109,110,111,112,113,114,115,116,117,118,119,120,121,122,123,124,125,126,127,128,129,130,131,132,133,134,135,136,137,138,139,140,141,142,143,144,145,146,147,148,149,150,151,152,153,154,155,156,157,158,159,160,161,162,163,164,165,166,167,168,169,170,171,172,173,174,175,176,177,178,179,180,181,182,183,184,185,186,187,188,189,190,191,192,193,194,195,196,197,198,199,200,201,202,203,204,205,206,207,208,209,210,211,212,213,214,215,216,217,218,219,220,221,222,223,224,225,226,227,228,229,230,231,232,233,234,235,236,237,238,239,240,241,242,243,244,245,246,247,248,249,250,251,252,253,254,255",
    "isr_noerr \\vec",
    ".endr",
    "isr_common:",
    "    push rax",
    "    push rbx",
    "    push rcx",
    "    push rdx",
    "    push rsi",
    "    push rdi",
    "    push rbp",
    "    push r8",
    "    push r9",
    "    push r10",
    "    push r11",
    "    push r12",
    "    push r13",
    "    push r14",
    "    push r15",
    "    cld",
    // 22 quadwords from a 16-byte aligned frame base: rsp is 16-byte aligned here.
    "    mov rdi, rsp",
    "    call {handler}",
    "    pop r15",
    "    pop r14",
    "    pop r13",
    "    pop r12",
    "    pop r11",
    "    pop r10",
    "    pop r9",
    "    pop r8",
    "    pop rbp",
    "    pop rdi",
    "    pop rsi",
    "    pop rdx",
    "    pop rcx",
    "    pop rbx",
    "    pop rax",
    "    add rsp, 16",
    "    iretq",
    ".popsection",
    ".pushsection .rodata.isr_table, \"a\"",
    ".balign 8",
    ".global vsva_isr_table",
    "vsva_isr_table:",
    ".irp vec, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31,32,33,34,35,36,37,38,39,40,41,42,43,44,45,46,47,48,49,50,51,52,53,54,55,56,57,58,59,60,61,62,63,64,65,66,67,68,69,70,71,72,73,74,75,76,77,78,79,80,81,82,83,84,85,86,87,88,89,90,91,92,93,94,95,96,97,98,99,100,101,102,103,104,105,106,107,108,109,110,111,112,113,114,115,116,117,118,119,120,121,122,123,124,125,126,127,128,129,130,131,132,133,134,135,136,137,138,139,140,141,142,143,144,145,146,147,148,149,150,151,152,153,154,155,156,157,158,159,160,161,162,163,164,165,166,167,168,169,170,171,172,173,174,175,176,177,178,179,180,181,182,183,184,185,186,187,188,189,190,191,192,193,194,195,196,197,198,199,200,201,202,203,204,205,206,207,208,209,210,211,212,213,214,215,216,217,218,219,220,221,222,223,224,225,226,227,228,229,230,231,232,233,234,235,236,237,238,239,240,241,242,243,244,245,246,247,248,249,250,251,252,253,254,255",
    "    .quad isr_\\vec",
    ".endr",
    ".popsection",
    handler = sym trap_entry,
);

/// An IDT gate descriptor (SDM Vol. 3A §6.14.1, Figure 6-8).
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct Gate {
    offset_low: u16,
    selector: u16,
    ist: u8,
    type_attr: u8,
    offset_mid: u16,
    offset_high: u32,
    reserved: u32,
}

impl Gate {
    /// A present, DPL 0, 64-bit interrupt gate (type 0xE: IF cleared on entry).
    fn interrupt(handler: u64, selector: u16, ist: u8) -> Self {
        Self {
            offset_low: handler as u16,
            selector,
            ist,
            type_attr: 0x8e,
            offset_mid: (handler >> 16) as u16,
            offset_high: (handler >> 32) as u32,
            reserved: 0,
        }
    }
}

#[repr(C, align(16))]
struct Idt([Gate; 256]);

struct Tables {
    gdt: GlobalDescriptorTable,
    code: SegmentSelector,
    data: SegmentSelector,
    tss: SegmentSelector,
}

static TSS: Once<TaskStateSegment> = Once::new();
static TABLES: Once<Tables> = Once::new();
static IDT: Once<Idt> = Once::new();

#[repr(C, align(16))]
struct Stack([u8; DOUBLE_FAULT_STACK_SIZE]);
static mut DOUBLE_FAULT_STACK: Stack = Stack([0; DOUBLE_FAULT_STACK_SIZE]);

/// NMIs taken (and ignored).
static NMIS: AtomicUsize = AtomicUsize::new(0);

static BREAKPOINTS: AtomicUsize = AtomicUsize::new(0);

/// How many `int3` traps have been taken and returned from.
pub fn breakpoints() -> usize {
    BREAKPOINTS.load(Ordering::SeqCst)
}

/// Loads the kernel's GDT, TSS and IDT.
pub fn init() {
    let tss = TSS.call_once(|| {
        let mut tss = TaskStateSegment::new();
        let top =
            VirtAddr::from_ptr(&raw const DOUBLE_FAULT_STACK) + DOUBLE_FAULT_STACK_SIZE as u64;
        tss.interrupt_stack_table[usize::from(DOUBLE_FAULT_IST - 1)] = top;
        tss
    });
    let tables = TABLES.call_once(|| {
        let mut gdt = GlobalDescriptorTable::new();
        let code = gdt.append(Descriptor::kernel_code_segment());
        let data = gdt.append(Descriptor::kernel_data_segment());
        let tss = gdt.append(Descriptor::tss_segment(tss));
        Tables {
            gdt,
            code,
            data,
            tss,
        }
    });
    tables.gdt.load();
    // SAFETY: the selectors index the GDT just loaded, which lives in a static.
    unsafe {
        CS::set_reg(tables.code);
        DS::set_reg(tables.data);
        ES::set_reg(tables.data);
        SS::set_reg(tables.data);
        load_tss(tables.tss);
    }
    let idt = IDT.call_once(|| {
        unsafe extern "C" {
            static vsva_isr_table: [u64; 256];
        }
        let mut idt = Idt([Gate::default(); 256]);
        for vector in 0..32u8 {
            // SAFETY: `vsva_isr_table` is the read-only table of 32 stub addresses
            // defined in the assembly above.
            let handler = unsafe { vsva_isr_table[usize::from(vector)] };
            let ist = if vector == 8 { DOUBLE_FAULT_IST } else { 0 };
            idt.0[usize::from(vector)] = Gate::interrupt(handler, tables.code.0, ist);
        }
        for vector in 32..=255u8 {
            // SAFETY: entries 32-255 of the same table, the interrupt stubs.
            let handler = unsafe { vsva_isr_table[usize::from(vector)] };
            idt.0[usize::from(vector)] = Gate::interrupt(handler, tables.code.0, 0);
        }
        idt
    });
    let pointer = DescriptorTablePointer {
        limit: (core::mem::size_of::<Idt>() - 1) as u16,
        base: VirtAddr::from_ptr(idt),
    };
    // SAFETY: the IDT is a static with valid gates for vectors 0-31 and the
    // interrupt vectors, and not-present gates elsewhere.
    unsafe { lidt(&pointer) };
}

/// Name of an exception vector (SDM Vol. 3A Table 6-1).
pub fn vector_name(vector: u64) -> &'static str {
    match vector {
        0 => "#DE divide error",
        1 => "#DB debug",
        2 => "NMI",
        3 => "#BP breakpoint",
        4 => "#OF overflow",
        5 => "#BR bound range exceeded",
        6 => "#UD invalid opcode",
        7 => "#NM device not available",
        8 => "#DF double fault",
        10 => "#TS invalid TSS",
        11 => "#NP segment not present",
        12 => "#SS stack-segment fault",
        13 => "#GP general protection",
        14 => "#PF page fault",
        16 => "#MF x87 floating-point error",
        17 => "#AC alignment check",
        18 => "#MC machine check",
        19 => "#XM SIMD floating-point",
        20 => "#VE virtualization exception",
        21 => "#CP control protection",
        29 => "#VC VMM communication",
        30 => "#SX security exception",
        _ => "reserved",
    }
}

/// Decodes an error code for the dump.
struct ErrorCode {
    vector: u64,
    code: u64,
}

impl core::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let c = self.code;
        match self.vector {
            14 => {
                // SDM Vol. 3A §4.7, Figure 4-12.
                let bit = |n: u32| c & (1 << n) != 0;
                write!(
                    f,
                    "{} {} in {} mode{}{}{}{}",
                    if bit(0) {
                        "protection violation"
                    } else {
                        "not-present page"
                    },
                    if bit(4) {
                        "on instruction fetch"
                    } else if bit(1) {
                        "on write"
                    } else {
                        "on read"
                    },
                    if bit(2) { "user" } else { "supervisor" },
                    if bit(3) { ", reserved bit set" } else { "" },
                    if bit(5) { ", protection key" } else { "" },
                    if bit(6) { ", shadow stack" } else { "" },
                    if bit(15) { ", SGX" } else { "" },
                )
            }
            8 | 10 | 11 | 12 | 13 | 17 if c != 0 => {
                // Selector error code, SDM Vol. 3A §6.13, Figure 6-7.
                let table = match (c >> 1) & 3 {
                    0 => "GDT",
                    2 => "LDT",
                    _ => "IDT",
                };
                write!(
                    f,
                    "{} index {}{}",
                    table,
                    (c >> 3) & 0x1fff,
                    if c & 1 != 0 { ", external event" } else { "" }
                )
            }
            _ => write!(f, "-"),
        }
    }
}

extern "C" fn trap_entry(frame: &mut TrapFrame) {
    if frame.vector >= 32 {
        super::interrupts::handle(frame.vector as u8);
        return;
    }
    // An NMI is also what a device can send with an MSI (delivery mode NMI);
    // nothing in vsva uses NMIs, so one is counted and ignored.
    if frame.vector == 2 {
        NMIS.fetch_add(1, Ordering::SeqCst);
        return;
    }
    if frame.vector == 3 {
        // int3 is a trap: RIP already points after it.
        BREAKPOINTS.fetch_add(1, Ordering::SeqCst);
        log::debug!("breakpoint at {:#x}", frame.rip - 1);
        return;
    }
    let mut out = crate::arch::console::emergency();
    let _ = writeln!(
        out,
        "\n*** exception {} ({})",
        frame.vector,
        vector_name(frame.vector)
    );
    if HAS_ERROR_CODE.contains(&(frame.vector as u8)) {
        let decoded = ErrorCode {
            vector: frame.vector,
            code: frame.error_code,
        };
        let _ = writeln!(out, "    error code {:#x}: {}", frame.error_code, decoded);
    }
    if frame.vector == 14 {
        let _ = writeln!(out, "    faulting address (CR2) {:#018x}", Cr2::read_raw());
    }
    let f = &*frame;
    let _ = writeln!(
        out,
        "    rip {:#018x}  cs {:#06x}  rflags {:#010x}",
        f.rip, f.cs, f.rflags
    );
    let _ = writeln!(out, "    rsp {:#018x}  ss {:#06x}", f.rsp, f.ss);
    let regs = [
        ("rax", f.rax),
        ("rbx", f.rbx),
        ("rcx", f.rcx),
        ("rdx", f.rdx),
        ("rsi", f.rsi),
        ("rdi", f.rdi),
        ("rbp", f.rbp),
        ("r8 ", f.r8),
        ("r9 ", f.r9),
        ("r10", f.r10),
        ("r11", f.r11),
        ("r12", f.r12),
        ("r13", f.r13),
        ("r14", f.r14),
        ("r15", f.r15),
    ];
    for row in regs.chunks(4) {
        let _ = write!(out, "   ");
        for (name, value) in row {
            let _ = write!(out, " {name} {value:#018x}");
        }
        let _ = writeln!(out);
    }
    crate::panic::report_running_test(&mut out);
    crate::exit::exit(ExitCode::Crash)
}
