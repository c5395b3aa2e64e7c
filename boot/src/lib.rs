//! vsva's entry code.
//!
//! Each boot path (the x86_64 PVH trampoline, the aarch64 EL2 Image entry) brings
//! the CPU to a known 64-bit state with a temporary identity map and a stack, turns
//! what the loader handed over into one [`BootInfo`], and calls the kernel's entry
//! point, declared with [`entry_point!`]. The kernel never looks at a boot
//! protocol's own structures.
//!
//! The linker scripts in `boot/link/` place the kernel at its fixed physical
//! address and define the symbols this crate and the kernel use (`__kernel_start`,
//! `__kernel_end`, `__bss_start`, `__bss_end`, `__text_end`, `__rodata_end`, and the
//! `.ktests` bounds).
#![cfg_attr(not(test), no_std)]

#[cfg(all(target_arch = "x86_64", target_os = "none"))]
mod arch {
    pub mod pvh;
    pub mod uefi_x86_64;
}
#[cfg(all(target_arch = "aarch64", target_os = "none"))]
mod arch {
    pub mod image;
}

pub mod elf;
mod info;
pub use info::*;

/// Declares the kernel's entry point: `fn(&'static BootInfo) -> !`.
///
/// The boot code calls it once, on the boot CPU, with interrupts masked, the
/// temporary identity map active and a 64 KiB stack.
#[macro_export]
macro_rules! entry_point {
    ($path:path) => {
        #[allow(unsafe_code)]
        #[unsafe(export_name = "vsva_boot_main")]
        fn __vsva_boot_main(info: &'static $crate::BootInfo) -> ! {
            let entry: fn(&'static $crate::BootInfo) -> ! = $path;
            entry(info)
        }
    };
}

/// The boot information, written once by the boot CPU before the kernel runs.
#[cfg(target_os = "none")]
struct InfoCell(core::cell::UnsafeCell<BootInfo>);
// SAFETY: written only by the entry code, on the one CPU that runs before the
// kernel starts anything else; shared read-only afterwards.
#[cfg(target_os = "none")]
unsafe impl Sync for InfoCell {}
#[cfg(target_os = "none")]
static BOOT_INFO: InfoCell = InfoCell(core::cell::UnsafeCell::new(BootInfo::new(
    BootProtocol::Pvh,
)));

/// The kernel's own BootInfo, to be filled by the entry code.
///
/// # Safety
/// Call once, from the boot CPU's entry path, before [`enter_kernel`].
#[cfg(target_os = "none")]
unsafe fn boot_info_mut(protocol: BootProtocol) -> &'static mut BootInfo {
    // SAFETY: the caller is the single, first user (see `InfoCell`).
    let info = unsafe { &mut *BOOT_INFO.0.get() };
    info.protocol = protocol;
    info
}

/// Copies a BootInfo the UEFI loader built into the kernel's own (the loader's
/// memory is ordinary RAM to the kernel). A record without the magic leaves an
/// empty one, which the kernel reports as "no memory map".
///
/// # Safety
/// Call once, from the entry path; `from` must be readable for a `BootInfo`.
#[cfg(target_os = "none")]
unsafe fn adopt_loader_info(from: *const BootInfo) -> &'static BootInfo {
    // SAFETY: see the function's contract.
    let info = unsafe { boot_info_mut(BootProtocol::Uefi) };
    // SAFETY: `from` is readable; the magic is read on its own before the rest.
    let magic = unsafe { core::ptr::addr_of!((*from).magic).read_unaligned() };
    if magic == BOOT_INFO_MAGIC {
        // SAFETY: a loader-built record of this very type (same build).
        unsafe { core::ptr::copy_nonoverlapping(from, info, 1) };
        info.protocol = BootProtocol::Uefi;
    }
    info
}

/// Hands the finished [`BootInfo`] to the kernel.
#[cfg(target_os = "none")]
fn enter_kernel(info: &'static BootInfo) -> ! {
    unsafe extern "Rust" {
        // Defined by `entry_point!` in the kernel binary.
        safe fn vsva_boot_main(info: &'static BootInfo) -> !;
    }
    vsva_boot_main(info)
}
