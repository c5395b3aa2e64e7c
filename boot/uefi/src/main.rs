//! vsva's UEFI loader (`BOOTX64.EFI` / `BOOTAA64.EFI`).
//!
//! It carries the kernel ELF inside itself (xtask builds the kernel first and
//! points `VSVA_KERNEL_ELF` at it), and:
//! 1. places every loadable segment at its physical link address (pages
//!    allocated at that address as LoaderData, `.bss` zeroed);
//! 2. records the ACPI 2.0 RSDP and the device tree from the configuration table,
//!    and the kernel command line from `\vsva\cmdline.txt` on its own volume;
//! 3. exits boot services and turns the final UEFI memory map into the kernel's
//!    region kinds (UEFI 2.10 §7.2, Table 7.10 "Memory Type Usage after
//!    ExitBootServices()");
//! 4. enters the kernel with the physical address of one [`BootInfo`], the same
//!    structure the direct boot paths fill: on x86_64 at the ELF entry
//!    (`uefi_start64`, 64-bit, rdi = BootInfo); on aarch64 at the arm64 Image
//!    entry with the MMU and caches off, x0 = BootInfo, as the Image protocol
//!    expects (the kernel tells a BootInfo from a device tree by its magic).
#![cfg_attr(target_os = "uefi", no_std, no_main)]

#[cfg(target_os = "uefi")]
mod loader;

/// On the host this is an empty program: the loader only runs under UEFI.
#[cfg(not(target_os = "uefi"))]
fn main() {}
