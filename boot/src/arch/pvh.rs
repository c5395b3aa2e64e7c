//! x86_64 PVH entry.
//!
//! QEMU's `-kernel` loads an ELF that carries a `XEN_ELFNOTE_PHYS32_ENTRY` note and
//! jumps to that address in 32-bit protected mode with paging off and `ebx` holding
//! the physical address of an `hvm_start_info` (Xen public header
//! `arch-x86/hvm/start_info.h`). The trampoline here zeroes `.bss`, identity-maps
//! the first 4 GiB with 2 MiB pages, enables long mode (PAE, EFER.LME, NXE), loads a
//! 64-bit GDT and calls [`pvh_entry`] on the boot stack. Application processors are
//! never started by PVH; they stay in wait-for-SIPI until the kernel wakes them.

use core::arch::global_asm;
use core::mem::size_of;

use crate::{BootProtocol, LoaderData, MemoryRegion, RegionKind};

/// `XEN_ELFNOTE_PHYS32_ENTRY` (Xen public header `elfnote.h`).
const XEN_ELFNOTE_PHYS32_ENTRY: u32 = 18;
/// `hvm_start_info.magic` ("xEn3" with the 0x80 bit set in the 'n').
const HVM_START_MAGIC: u32 = 0x336e_c578;

global_asm!(
    // The note must be 4-byte aligned: QEMU reads the descriptor at a 4-byte
    // aligned offset after the name, so an 8-aligned section shifts it and QEMU
    // reads entry 0.
    ".pushsection .note.Xen, \"a\", @note",
    ".balign 4",
    ".long 4",            // namesz: "Xen\0"
    ".long 4",            // descsz: a 32-bit entry address
    ".long {note_type}",
    ".asciz \"Xen\"",
    ".balign 4",
    ".long pvh_start32",
    ".popsection",

    ".pushsection .text.boot, \"ax\"",
    ".code32",
    ".global pvh_start32",
    "pvh_start32:",
    "    cli",
    "    cld",
    "    mov esi, ebx",                       // keep start_info; rep stos uses edi
    // Zero .bss (the page tables and the stack live there).
    "    mov edi, offset __bss_start",
    "    mov ecx, offset __bss_end",
    "    sub ecx, edi",
    "    xor eax, eax",
    "    rep stosb",
    "    mov esp, offset boot_stack_top",
    // PML4[0] -> PDPT; PDPT[0..4] -> the four page directories.
    "    mov eax, offset boot_pdpt",
    "    or eax, 0x3",                        // present | writable
    "    mov dword ptr [boot_pml4], eax",
    "    mov eax, offset boot_pd",
    "    or eax, 0x3",
    "    mov dword ptr [boot_pdpt], eax",
    "    add eax, 0x1000",
    "    mov dword ptr [boot_pdpt + 8], eax",
    "    add eax, 0x1000",
    "    mov dword ptr [boot_pdpt + 16], eax",
    "    add eax, 0x1000",
    "    mov dword ptr [boot_pdpt + 24], eax",
    // 2048 2 MiB pages: the first 4 GiB, identity.
    "    mov edi, offset boot_pd",
    "    mov eax, 0x83",                      // present | writable | page size
    "    xor edx, edx",
    "    mov ecx, 2048",
    "2:",
    "    mov dword ptr [edi], eax",
    "    mov dword ptr [edi + 4], edx",
    "    add eax, 0x200000",
    "    adc edx, 0",
    "    add edi, 8",
    "    dec ecx",
    "    jnz 2b",
    // Long mode: CR3, CR4.PAE, EFER.LME | EFER.NXE, CR0.PG.
    "    mov eax, offset boot_pml4",
    "    mov cr3, eax",
    "    mov eax, cr4",
    "    or eax, 0x20",
    "    mov cr4, eax",
    "    mov ecx, 0xc0000080",
    "    rdmsr",
    "    or eax, 0x900",
    "    wrmsr",
    "    mov eax, cr0",
    "    or eax, 0x80000001",
    "    mov cr0, eax",
    "    lgdt [boot_gdt_ptr]",
    // jmp far 0x08:pvh_start64 (EA ptr16:32), spelled out so the assembler
    // cannot pick an operand size.
    "    .byte 0xea",
    "    .long pvh_start64",
    "    .word 0x08",

    ".code64",
    "pvh_start64:",
    "    mov ax, 0x10",
    "    mov ds, ax",
    "    mov es, ax",
    "    mov ss, ax",
    "    xor eax, eax",
    "    mov fs, ax",
    "    mov gs, ax",
    "    lea rsp, [rip + boot_stack_top]",
    "    xor ebp, ebp",
    "    mov edi, esi",                       // start_info, zero-extended
    "    call {entry}",
    "3:  hlt",
    "    jmp 3b",
    ".popsection",

    ".pushsection .rodata.boot_gdt, \"a\"",
    ".balign 8",
    ".global boot_gdt",
    "boot_gdt:",
    "    .quad 0",
    "    .quad 0x00af9a000000ffff",           // 0x08: 64-bit code, DPL 0
    "    .quad 0x00cf92000000ffff",           // 0x10: data, DPL 0
    "boot_gdt_end:",
    "boot_gdt_ptr:",
    "    .word boot_gdt_end - boot_gdt - 1",
    "    .long boot_gdt",
    ".popsection",

    ".pushsection .bss.boot_tables, \"aw\", @nobits",
    ".balign 4096",
    // Shared with the UEFI entry (uefi_x86_64.rs).
    ".global boot_pml4",
    ".global boot_pdpt",
    ".global boot_pd",
    "boot_pml4: .skip 4096",
    "boot_pdpt: .skip 4096",
    "boot_pd:   .skip 4096 * 4",
    ".global boot_stack_bottom",
    "boot_stack_bottom:",
    "    .skip 65536",
    ".global boot_stack_top",
    "boot_stack_top:",
    ".popsection",
    note_type = const XEN_ELFNOTE_PHYS32_ENTRY,
    entry = sym pvh_entry,
);

/// `struct hvm_start_info`, versions 0 and 1.
#[repr(C)]
#[derive(Clone, Copy)]
struct HvmStartInfo {
    magic: u32,
    version: u32,
    flags: u32,
    nr_modules: u32,
    modlist_paddr: u64,
    cmdline_paddr: u64,
    rsdp_paddr: u64,
    // Version >= 1.
    memmap_paddr: u64,
    memmap_entries: u32,
    reserved: u32,
}

/// `struct hvm_memmap_table_entry`.
#[repr(C)]
#[derive(Clone, Copy)]
struct HvmMemmapEntry {
    addr: u64,
    size: u64,
    kind: u32,
    reserved: u32,
}

/// Most PVH memory-map entries read.
const MAX_MEMMAP_ENTRIES: usize = 1024;

/// Longest command line read from the loader; [`crate::MAX_CMDLINE`] keeps less.
const CMDLINE_SCAN: usize = 4096;

extern "C" fn pvh_entry(start_info: u32) -> ! {
    // SAFETY: the PVH entry runs once, first, on the boot CPU.
    let info = unsafe { crate::boot_info_mut(BootProtocol::Pvh) };
    let base = u64::from(start_info);
    // SAFETY: the PVH loader passes the physical address of a start_info in ebx,
    // and the boot identity map covers the first 4 GiB. Unaligned reads, since
    // nothing promises alignment.
    let start = unsafe { (base as *const HvmStartInfo).read_unaligned() };
    if start.magic == HVM_START_MAGIC {
        info.push_loader_range(
            LoaderData::StartInfo,
            base,
            base + size_of::<HvmStartInfo>() as u64,
        );
        if start.rsdp_paddr != 0 {
            info.rsdp = Some(start.rsdp_paddr);
        }
        if start.cmdline_paddr != 0 && start.cmdline_paddr < (1 << 32) {
            // SAFETY: the loader gives a NUL-terminated string below 4 GiB, which the
            // boot map covers; the scan is bounded.
            let bytes = unsafe {
                core::slice::from_raw_parts(start.cmdline_paddr as *const u8, CMDLINE_SCAN)
            };
            info.set_cmdline(bytes);
            let len = info.cmdline().len() as u64;
            info.push_loader_range(
                LoaderData::CommandLine,
                start.cmdline_paddr,
                start.cmdline_paddr + len + 1,
            );
        }
        if start.version >= 1 && start.memmap_paddr != 0 && start.memmap_paddr < (1 << 32) {
            // More entries than anyone ships: a corrupt count must not spin for ages.
            let count = (start.memmap_entries as usize).min(MAX_MEMMAP_ENTRIES);
            let table = start.memmap_paddr;
            info.push_loader_range(
                LoaderData::MemoryMap,
                table,
                table + (count * size_of::<HvmMemmapEntry>()) as u64,
            );
            for i in 0..count {
                let at = table + (i * size_of::<HvmMemmapEntry>()) as u64;
                // SAFETY: the loader's memory map table, below 4 GiB (checked above).
                let entry = unsafe { (at as *const HvmMemmapEntry).read_unaligned() };
                info.push_region(MemoryRegion {
                    start: entry.addr,
                    len: entry.size,
                    kind: RegionKind::from_e820(entry.kind),
                });
            }
        }
    }
    // A bad magic leaves the map empty; the kernel reports that with its console up.
    crate::enter_kernel(info)
}
