//! x86_64 under vsva's SVM: entered in 64-bit mode on vsva's boot page
//! tables with no GDT or IDT of its own yet. It loads a GDT (so that IRETQ
//! has descriptors to reload), an IDT (exceptions are reported; vector 40 is
//! the test interrupt vsva injects), and its own page tables: the first
//! 4 GiB identity mapped with 2 MiB pages, its RAM's gigabyte write-back and
//! the rest uncached (the configuration window and BARs).

use core::arch::global_asm;

use vsva_abi::BootInfo;

/// No virtual timer on x86 partitions.
pub const VIRTUAL_TIMER_INTID: u32 = 0;

global_asm!(
    ".pushsection .text.entry, \"ax\"",
    ".global _start",
    "_start:",
    "    cli",
    "    mov r12, rdi",
    "    lea rdi, [rip + __bss_start]",
    "    lea rcx, [rip + __bss_end]",
    "    sub rcx, rdi",
    "    xor eax, eax",
    "    cld",
    "    rep stosb",
    "    lea rsp, [rip + __stack_top]",
    "    lgdt [rip + guest_gdt_pointer]",
    "    push 0x08",
    "    lea rax, [rip + 1f]",
    "    push rax",
    "    retfq",
    "1:  mov ax, 0x10",
    "    mov ds, ax",
    "    mov es, ax",
    "    mov ss, ax",
    "    mov fs, ax",
    "    mov gs, ax",
    "    mov rdi, r12",
    "    call guest_entry",
    "2:  hlt",
    "    jmp 2b",
    // A secondary vCPU (VcpuStart): rdi is its stack top.
    ".global guest_secondary_start",
    "guest_secondary_start:",
    "    cli",
    "    mov rsp, rdi",
    "    lgdt [rip + guest_gdt_pointer]",
    "    push 0x08",
    "    lea rax, [rip + 4f]",
    "    push rax",
    "    retfq",
    "4:  mov ax, 0x10",
    "    mov ds, ax",
    "    mov es, ax",
    "    mov ss, ax",
    "    call guest_secondary_entry",
    "5:  hlt",
    "    jmp 5b",
    ".popsection",
    ".pushsection .rodata.gdt, \"a\"",
    ".balign 16",
    "guest_gdt:",
    "    .quad 0",
    "    .quad 0x00af9a000000ffff",
    "    .quad 0x00cf92000000ffff",
    "guest_gdt_pointer:",
    "    .short 23",
    "    .quad guest_gdt",
    ".popsection",
    // Interrupt stubs: the CPU pushes an error code for some exceptions
    // (SDM Vol. 3A Table 6-1); the others push 0 so the frame is the same.
    ".pushsection .text.isr, \"ax\"",
    ".macro stub_noerr vec",
    "guest_isr_\\vec:",
    "    push 0",
    "    push \\vec",
    "    jmp guest_isr_common",
    ".endm",
    ".macro stub_err vec",
    "guest_isr_\\vec:",
    "    push \\vec",
    "    jmp guest_isr_common",
    ".endm",
    "stub_noerr 0",
    "stub_noerr 1",
    "stub_noerr 2",
    "stub_noerr 3",
    "stub_noerr 4",
    "stub_noerr 5",
    "stub_noerr 6",
    "stub_noerr 7",
    "stub_err 8",
    "stub_noerr 9",
    "stub_err 10",
    "stub_err 11",
    "stub_err 12",
    "stub_err 13",
    "stub_err 14",
    "stub_noerr 15",
    "stub_noerr 16",
    "stub_err 17",
    "stub_noerr 18",
    "stub_noerr 19",
    "stub_noerr 20",
    "stub_err 21",
    "stub_noerr 22",
    "stub_noerr 23",
    "stub_noerr 24",
    "stub_noerr 25",
    "stub_noerr 26",
    "stub_noerr 27",
    "stub_noerr 28",
    "stub_err 29",
    "stub_err 30",
    "stub_noerr 31",
    "stub_noerr 40",
    "guest_isr_common:",
    "    push rbp",
    "    push rax",
    "    push rcx",
    "    push rdx",
    "    push rsi",
    "    push rdi",
    "    push r8",
    "    push r9",
    "    push r10",
    "    push r11",
    "    mov rdi, [rsp + 80]",
    "    mov rsi, [rsp + 88]",
    "    mov rdx, [rsp + 96]",
    // The stack's alignment depends on where the interrupt hit: align it.
    "    mov rbp, rsp",
    "    and rsp, -16",
    "    call guest_trap",
    "    mov rsp, rbp",
    "    pop r11",
    "    pop r10",
    "    pop r9",
    "    pop r8",
    "    pop rdi",
    "    pop rsi",
    "    pop rdx",
    "    pop rcx",
    "    pop rax",
    "    pop rbp",
    "    add rsp, 16",
    "    iretq",
    ".popsection",
    ".pushsection .rodata.isr_table, \"a\"",
    ".balign 8",
    "guest_isr_table:",
    ".irp vec, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31,40",
    "    .quad guest_isr_\\vec",
    ".endr",
    ".popsection",
);

unsafe extern "C" {
    static guest_isr_table: [u64; 33];
}

/// The vector of the one device interrupt this guest expects.
const TEST_VECTOR: usize = 40;

#[unsafe(no_mangle)]
extern "C" fn guest_entry(info: u64) -> ! {
    // SAFETY: vsva passes the guest-physical address of a BootInfo in RAM,
    // identity mapped by the boot page tables.
    let info: &'static BootInfo = unsafe { &*(info as *const BootInfo) };
    crate::guest::main(info)
}

/// `vector`, its error code and the faulting RIP, from the stub.
#[unsafe(no_mangle)]
extern "C" fn guest_trap(vector: u64, error_code: u64, rip: u64) {
    if vector >= 32 {
        crate::guest::interrupt(vector as u32);
        return;
    }
    let cr2: u64;
    // SAFETY: reads CR2 (the page-fault address); no side effects.
    unsafe { core::arch::asm!("mov {}, cr2", out(reg) cr2, options(nomem, nostack)) };
    crate::guest::exception(vector, error_code, rip, cr2)
}

/// An interrupt gate (SDM Vol. 3A §6.14.1).
#[repr(C)]
#[derive(Clone, Copy)]
struct Gate([u64; 2]);

#[repr(C, align(16))]
struct Idt([Gate; 256]);

static mut IDT: Idt = Idt([Gate([0, 0]); 256]);

#[repr(C, align(4096))]
struct Table([u64; 512]);

/// PML4, PDPT and four page directories: the first 4 GiB.
static mut PML4: Table = Table([0; 512]);
static mut PDPT: Table = Table([0; 512]);
static mut PD: [Table; 4] = [const { Table([0; 512]) }; 4];

/// Entry bits: P (0), RW (1), PWT (3), PCD (4), PS (7).
const P: u64 = 1;
const RW: u64 = 1 << 1;
const PWT: u64 = 1 << 3;
const PCD: u64 = 1 << 4;
const PS: u64 = 1 << 7;

#[repr(C, packed)]
struct Pointer {
    limit: u16,
    base: u64,
}

pub fn init(info: &BootInfo) {
    // SAFETY: the statics below are touched only here, on the one vCPU,
    // before the tables and the IDT are loaded.
    let (idt, pml4, pdpt, pd) = unsafe {
        (
            &mut *core::ptr::addr_of_mut!(IDT),
            &mut *core::ptr::addr_of_mut!(PML4),
            &mut *core::ptr::addr_of_mut!(PDPT),
            &mut *core::ptr::addr_of_mut!(PD),
        )
    };
    // SAFETY: the table of stub addresses the assembly defines.
    let stubs = unsafe { &*core::ptr::addr_of!(guest_isr_table) };
    for (i, &handler) in stubs.iter().enumerate() {
        let vector = if i < 32 { i } else { TEST_VECTOR };
        // Present, DPL 0, 64-bit interrupt gate (type 0xE), selector 0x08.
        let low =
            (handler & 0xffff) | (0x08 << 16) | (0x8e00 << 32) | ((handler >> 16) & 0xffff) << 48;
        idt.0[vector] = Gate([low, handler >> 32]);
    }
    let ram_gib = info.ram_base >> 30;
    for (g, table) in pd.iter_mut().enumerate() {
        let cache = if g as u64 == ram_gib { 0 } else { PCD | PWT };
        for (i, entry) in table.0.iter_mut().enumerate() {
            *entry = (((g as u64) << 30) + ((i as u64) << 21)) | P | RW | PS | cache;
        }
        pdpt.0[g] = table.0.as_ptr() as u64 | P | RW;
    }
    pml4.0[0] = pdpt.0.as_ptr() as u64 | P | RW;
    load_tables();
}

/// Loads the IDT and page tables `init` built (each vCPU has its own IDTR
/// and CR3).
fn load_tables() {
    let idt_pointer = Pointer {
        limit: (core::mem::size_of::<Idt>() - 1) as u16,
        base: core::ptr::addr_of!(IDT) as u64,
    };
    let pml4 = core::ptr::addr_of!(PML4) as u64;
    // SAFETY: loads this guest's IDT and its own page tables (an identity
    // map of where it runs, so execution continues).
    unsafe {
        core::arch::asm!("lidt [{}]", in(reg) &idt_pointer, options(nostack));
        core::arch::asm!("mov cr3, {}", in(reg) pml4, options(nostack));
    }
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
    load_tables();
    crate::guest::secondary()
}

/// Parks this vCPU for good.
pub fn vcpu_off() -> ! {
    // SAFETY: masks interrupts; HLT then waits forever (vsva runs the others).
    unsafe { core::arch::asm!("cli", options(nomem, nostack)) };
    loop {
        wait();
    }
}

/// Spins forever with interrupts masked.
pub fn spin() -> ! {
    // SAFETY: masks this vCPU's interrupts; touches no memory.
    unsafe { core::arch::asm!("cli", options(nomem, nostack)) };
    loop {
        core::hint::spin_loop();
    }
}

/// Unmasks interrupts.
pub fn enable_interrupts() {
    // SAFETY: sets RFLAGS.IF; the IDT is loaded.
    unsafe { core::arch::asm!("sti", options(nomem, nostack)) };
}

/// Waits for an interrupt (HLT, which vsva intercepts).
pub fn wait() {
    // SAFETY: HLT has no effect on memory.
    unsafe { core::arch::asm!("hlt", options(nomem, nostack)) };
}

/// Waits for an interrupt unless `ready()` holds, with interrupts masked for
/// the check: STI's one-instruction shadow keeps them off until HLT has begun
/// (SDM Vol. 2B, STI), so none slips in between.
pub fn wait_unless(ready: impl Fn() -> bool) {
    // SAFETY: RFLAGS.IF only.
    unsafe { core::arch::asm!("cli", options(nomem, nostack)) };
    if ready() {
        // SAFETY: RFLAGS.IF only.
        unsafe { core::arch::asm!("sti", options(nomem, nostack)) };
    } else {
        // SAFETY: RFLAGS.IF, then HLT in STI's shadow.
        unsafe { core::arch::asm!("sti", "hlt", options(nomem, nostack)) };
    }
}

/// No virtual timer on x86 partitions: refuses.
pub fn arm_virtual_timer(_ticks: u64) {
    crate::guest::unsupported("the virtual timer (x86 partitions have none)");
}

/// Puts `value` in XMM15, yields (VMMCALL) and returns what XMM15 holds
/// afterwards, all in one block so that no compiler-generated code touches
/// the register in between.
pub fn yield_holding_fp(value: u64) -> u64 {
    let out: u64;
    // SAFETY: the Yield hypercall (rax = its function ID); vsva writes rax
    // and rdx, declared clobbered; XMM15 is the register under test.
    unsafe {
        core::arch::asm!(
            "movq xmm15, {v}",
            "vmmcall",
            "movq {v}, xmm15",
            v = inout(reg) value => out,
            inout("rax") u64::from(vsva_abi::Call::Yield.function_id()) => _,
            out("rdx") _,
            out("xmm15") _,
            options(nostack)
        )
    };
    out
}

/// The time stamp counter, taken as nanoseconds: under QEMU `-icount` it
/// follows the virtual clock (the only use, `bench`).
pub fn counter_ns() -> u64 {
    // SAFETY: RDTSC reads the counter; vsva does not intercept it.
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// No PSCI on x86.
pub fn psci_checks_then_off() -> ! {
    crate::guest::unsupported("PSCI (aarch64 only)")
}

/// A triple fault: no IDT, then a breakpoint. vsva intercepts SHUTDOWN.
pub fn misbehave() -> ! {
    let empty = Pointer { limit: 0, base: 0 };
    // SAFETY: deliberately breaks this vCPU; vsva must stop the partition.
    unsafe {
        core::arch::asm!("lidt [{}]", "int3", in(reg) &empty, options(nostack));
    }
    crate::guest::still_running()
}

/// Turns on protection keys (CR4.PKE) where CPUID says the CPU has them.
pub fn enable_protection_keys() -> bool {
    if core::arch::x86_64::__cpuid_count(7, 0).ecx & (1 << 3) == 0 {
        return false;
    }
    // SAFETY: sets CR4.PKE (bit 22) of this guest; its pages are all
    // supervisor pages, so no access changes.
    unsafe {
        core::arch::asm!(
            "mov {t}, cr4",
            "bts {t}, 22",
            "mov cr4, {t}",
            t = out(reg) _,
            options(nomem, nostack)
        )
    };
    true
}

/// Puts `value` in PKRU, yields (VMMCALL) and returns PKRU afterwards.
pub fn yield_holding_pkru(value: u32) -> u32 {
    let out: u32;
    // SAFETY: WRPKRU/RDPKRU with CR4.PKE set (ECX = EDX = 0 for both) around
    // the Yield hypercall, which writes RAX and RDX.
    unsafe {
        core::arch::asm!(
            "xor ecx, ecx",
            "xor edx, edx",
            "mov eax, {v:e}",
            "wrpkru",
            "mov rax, {id}",
            "vmmcall",
            "xor ecx, ecx",
            "rdpkru",
            v = in(reg) value,
            id = in(reg) u64::from(vsva_abi::Call::Yield.function_id()),
            out("rax") out,
            out("rcx") _,
            out("rdx") _,
            options(nomem, nostack)
        )
    };
    out
}

/// An ADD with a memory source at `addr`: not a move, so vsva cannot
/// emulate it.
pub fn unemulated_read(addr: u64) {
    // SAFETY: deliberately an access vsva must refuse; it stops the partition.
    unsafe {
        core::arch::asm!("add {v:e}, dword ptr [{p}]", p = in(reg) addr, v = inout(reg) 0u32 => _, options(nostack))
    };
}

/// No PSCI on x86.
pub fn psci_cpu_on(_target: u64, _entry: u64, _context: u64) -> Result<(), i64> {
    Err(-1)
}

/// Intercepted instructions with prefixes: WBNOINVD (`F3 0F 09`) and WBINVD
/// with a CS override (`2E 0F 09`), then moves a marker into RAX. Stepped
/// over by their unprefixed length, RIP would land inside them and run
/// `09 2E` (`or [rsi], ebp`), which RSI's non-canonical address turns into
/// a #GP; the marker says the guest went on where it should. Returns RAX.
pub fn prefixed_cache_writebacks() -> u64 {
    let marker: u64;
    // SAFETY: cache write-backs (no memory changes) and a register move.
    unsafe {
        core::arch::asm!(
            ".byte 0xf3, 0x0f, 0x09",
            ".byte 0x2e, 0x0f, 0x09",
            "mov eax, 0x600d",
            out("rax") marker,
            in("rsi") 0x8000_0000_0000_0000u64,
            options(nostack)
        );
    }
    marker
}

/// `rep insb` from port 0x80 into `buffer` (4 bytes): vsva emulates no
/// string port I/O and must raise #GP(0) (the exception handler exits).
pub fn string_port_input(buffer: &mut [u8; 4]) {
    // SAFETY: writes at most the 4 bytes of `buffer` (RCX = 4, DF clear),
    // or faults before writing anything.
    unsafe {
        core::arch::asm!(
            "cld",
            "rep insb",
            inout("rdi") buffer.as_mut_ptr() => _,
            inout("rcx") 4u64 => _,
            in("dx") 0x80u16,
            options(nostack)
        );
    }
}
