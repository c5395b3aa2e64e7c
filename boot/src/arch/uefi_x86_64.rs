//! x86_64 entry from vsva's UEFI loader.
//!
//! The loader (boot/uefi) places the kernel's segments at their physical
//! addresses, exits boot services and jumps to the ELF entry point, this
//! `uefi_start64`, in 64-bit mode on the firmware's identity map, with
//! interrupts masked and `rdi` = the physical address of a [`BootInfo`] it
//! filled. The entry zeroes `.bss`, builds the same
//! temporary 4 GiB identity map as the PVH path, loads the boot GDT and calls
//! [`uefi_entry`] on the boot stack.

use core::arch::global_asm;

use crate::BootInfo;

global_asm!(
    ".pushsection .text.boot, \"ax\"",
    ".code64",
    ".global uefi_start64",
    "uefi_start64:",
    "    cli",
    "    cld",
    "    mov r12, rdi",                       // BootInfo; rep stos uses rdi
    "    lea rdi, [rip + __bss_start]",
    "    lea rcx, [rip + __bss_end]",
    "    sub rcx, rdi",
    "    xor eax, eax",
    "    rep stosb",
    "    lea rsp, [rip + boot_stack_top]",
    // PML4[0] -> PDPT; PDPT[0..4] -> the page directories; 2048 2 MiB pages.
    "    lea rax, [rip + boot_pdpt]",
    "    or rax, 0x3",
    "    mov [rip + boot_pml4], rax",
    "    lea rax, [rip + boot_pd]",
    "    or rax, 0x3",
    "    lea rdi, [rip + boot_pdpt]",
    "    mov ecx, 4",
    "2:  mov [rdi], rax",
    "    add rax, 0x1000",
    "    add rdi, 8",
    "    dec ecx",
    "    jnz 2b",
    "    lea rdi, [rip + boot_pd]",
    "    mov eax, 0x83",                      // present | writable | page size
    "    mov ecx, 2048",
    "3:  mov [rdi], rax",
    "    add rax, 0x200000",
    "    add rdi, 8",
    "    dec ecx",
    "    jnz 3b",
    // EFER.NXE for the kernel's NX mappings (LME is already set in long mode).
    "    mov ecx, 0xc0000080",
    "    rdmsr",
    "    or eax, 0x800",
    "    wrmsr",
    "    lea rax, [rip + boot_pml4]",
    "    mov cr3, rax",
    "    lgdt [rip + boot_gdt_ptr64]",
    "    push 0x08",
    "    lea rax, [rip + 4f]",
    "    push rax",
    "    retfq",
    "4:  mov ax, 0x10",
    "    mov ds, ax",
    "    mov es, ax",
    "    mov ss, ax",
    "    xor eax, eax",
    "    mov fs, ax",
    "    mov gs, ax",
    "    xor ebp, ebp",
    "    mov rdi, r12",
    "    call {entry}",
    "5:  hlt",
    "    jmp 5b",
    ".popsection",
    ".pushsection .rodata.boot_gdt64, \"a\"",
    ".balign 8",
    "boot_gdt_ptr64:",
    "    .word 23",                           // three descriptors
    "    .quad boot_gdt",
    ".popsection",
    entry = sym uefi_entry,
);

extern "C" fn uefi_entry(info: *const BootInfo) -> ! {
    // SAFETY: runs once, first, on the boot CPU; the loader passes a BootInfo it
    // filled, in memory below 4 GiB that the boot map covers.
    let info = unsafe { crate::adopt_loader_info(info) };
    crate::enter_kernel(info)
}
