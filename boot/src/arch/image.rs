//! aarch64 entry through the Linux arm64 Image protocol.
//!
//! The file QEMU loads is a flat binary starting with the 64-byte arm64 Image
//! header (Linux `Documentation/arch/arm64/booting.rst`), so QEMU treats it as a
//! kernel Image: it loads it 2 MiB above the start of RAM, enters at the first
//! instruction at EL2 (with `virtualization=on`) with the MMU off, and passes the
//! physical address of the device tree in x0.
//!
//! The entry parks every CPU but the boot CPU, checks it runs at EL2 and at its
//! link address, sets the stack, zeroes `.bss`, installs the EL2 vector table the
//! kernel provides (`vsva_el2_vectors`), stops trapping FP/SIMD at EL2, and turns
//! the MMU on with a temporary identity map of 1 GiB blocks (Normal memory for the
//! RAM window, Device-nGnRE elsewhere) so that Rust code runs with caches on and
//! unaligned accesses allowed. The kernel replaces that map with its own.

use core::arch::global_asm;

use crate::{BootInfo, BootProtocol};

/// MAIR_EL2: Attr0 = Device-nGnRE, Attr1 = Normal inner/outer write-back
/// non-transient read/write-allocate (Arm ARM D19.2.97).
pub const MAIR_EL2: u64 = 0x04 | (0xff << 8);
/// TCR_EL2 (E2H = 0 layout, Arm ARM D19.2.150): T0SZ = 16 (48-bit VA),
/// IRGN0 = ORGN0 = write-back, SH0 = inner shareable, TG0 = 4 KiB, PS = 40 bits,
/// RES1 bits 31 and 23.
pub const TCR_EL2: u64 = 16 | (1 << 8) | (1 << 10) | (3 << 12) | (2 << 16) | (1 << 23) | (1 << 31);
/// SCTLR_EL2: M, C, SA, I, and the RES1 bits of the E2H = 0 layout.
const SCTLR_EL2_MMU_ON: u64 = 0x30c5_0830 | 1 | (1 << 2) | (1 << 3) | (1 << 12);

global_asm!(
    ".pushsection .text.head, \"ax\"",
    ".global _head",
    "_head:",
    "    b primary_entry",                    // code0
    "    .long 0",                            // code1
    "    .quad 0x200000",                     // text_offset from a 2 MiB aligned base
    "    .quad __image_size",                 // image_size, including .bss
    "    .quad 0x2",                          // flags: little-endian, 4 KiB pages
    "    .quad 0",
    "    .quad 0",
    "    .quad 0",
    "    .ascii \"ARM\\x64\"",                // magic
    "    .long 0",                            // no PE header

    "primary_entry:",
    "    mov x19, x0",                        // DTB
    "    mrs x1, mpidr_el1",
    "    ubfx x2, x1, #32, #8",               // Aff3
    "    and x1, x1, #0xffffff",              // Aff2..Aff0
    "    orr x1, x1, x2",
    "    cbnz x1, park",
    "    mrs x1, CurrentEL",
    "    cmp x1, #(2 << 2)",
    "    b.ne park",
    // Linked at a fixed address: refuse to run anywhere else.
    "    adr x1, _head",
    "    ldr x2, =_head",
    "    cmp x1, x2",
    "    b.ne park",
    "    ldr x1, =boot_stack_top",
    "    mov sp, x1",
    "    ldr x1, =__bss_start",
    "    ldr x2, =__bss_end",
    "1:  cmp x1, x2",
    "    b.hs 2f",
    "    str xzr, [x1], #8",
    "    b 1b",
    "2:  ldr x1, =vsva_el2_vectors",
    "    msr vbar_el2, x1",
    // CPTR_EL2: TFP = 0 (FP/SIMD not trapped), TZ = 1, RES1 bits.
    "    mov x1, #0x33ff",
    "    msr cptr_el2, x1",
    "    isb",
    // Temporary identity map: L0[0] -> L1; L1[i] = 1 GiB block at i GiB.
    "    ldr x1, =boot_l0",
    "    ldr x2, =boot_l1",
    "    orr x3, x2, #0x3",                   // table descriptor
    "    str x3, [x1]",
    "    mov x4, #0",                         // block index
    "3:  lsl x5, x4, #30",
    "    cmp x4, #1",
    "    b.lo 4f",
    "    cmp x4, #64",
    "    b.hs 4f",
    // Normal WB (AttrIndx 1), inner shareable, AF, AP = 0b01 (EL2 RW; AP[1] RES1).
    "    ldr x6, =0x745",
    "    b 5f",
    // Device-nGnRE (AttrIndx 0), AF, AP = 0b01, XN.
    "4:  ldr x6, =0x40000000000441",
    "5:  orr x5, x5, x6",
    "    str x5, [x2, x4, lsl #3]",
    "    add x4, x4, #1",
    "    cmp x4, #512",
    "    b.lo 3b",
    "    dsb sy",
    "    ldr x1, ={mair}",
    "    msr mair_el2, x1",
    "    ldr x1, ={tcr}",
    "    mrs x2, id_aa64mmfr0_el1",           // PS from PARange, capped at 48 bits
    "    and x2, x2, #0xf",
    "    cmp x2, #5",
    "    b.ls 6f",
    "    mov x2, #5",
    "6:  bic x1, x1, #(0x7 << 16)",
    "    orr x1, x1, x2, lsl #16",
    "    msr tcr_el2, x1",
    "    ldr x1, =boot_l0",
    "    msr ttbr0_el2, x1",
    "    isb",
    "    tlbi alle2",
    "    dsb sy",
    "    isb",
    "    ldr x1, ={sctlr}",
    "    msr sctlr_el2, x1",
    "    isb",
    "    mov x0, x19",
    "    bl {entry}",
    "park:",
    "    wfe",
    "    b park",
    ".ltorg",
    ".popsection",

    ".pushsection .bss.boot_tables, \"aw\", @nobits",
    ".balign 4096",
    "boot_l0: .skip 4096",
    "boot_l1: .skip 4096",
    ".global boot_stack_bottom",
    "boot_stack_bottom:",
    "    .skip 65536",
    ".global boot_stack_top",
    "boot_stack_top:",
    ".popsection",
    mair = const MAIR_EL2,
    tcr = const TCR_EL2,
    sctlr = const SCTLR_EL2_MMU_ON,
    entry = sym image_entry,
);

/// Flattened device tree magic (Devicetree Specification v0.4 §5.2), big-endian.
const FDT_MAGIC: u32 = 0xd00d_feed;

/// x0 is a device tree (Image protocol) or a BootInfo (vsva's UEFI loader).
extern "C" fn image_entry(x0: u64) -> ! {
    if x0 != 0 {
        // SAFETY: QEMU or the loader passes the address of a device tree or a
        // BootInfo in RAM, which the boot map covers as normal memory.
        let first = unsafe { (x0 as *const u32).read_unaligned() };
        if u32::from_be(first) != FDT_MAGIC {
            // SAFETY: runs once, first, on the boot CPU; not a device tree, so the
            // loader's BootInfo (checked by its magic).
            let info = unsafe { crate::adopt_loader_info(x0 as *const BootInfo) };
            crate::enter_kernel(info)
        }
    }
    // SAFETY: runs once, first, on the boot CPU.
    let info = unsafe { crate::boot_info_mut(BootProtocol::ArmImage) };
    if x0 != 0 {
        info.dtb = Some(x0);
    }
    // Memory and the command line come from the device tree, which the kernel parses.
    crate::enter_kernel(info)
}
