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
}
#[cfg(all(target_arch = "aarch64", target_os = "none"))]
mod arch {
    pub mod image;
}

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

/// Hands the finished [`BootInfo`] to the kernel.
#[cfg(target_os = "none")]
fn enter_kernel(info: &'static BootInfo) -> ! {
    unsafe extern "Rust" {
        // Defined by `entry_point!` in the kernel binary.
        safe fn vsva_boot_main(info: &'static BootInfo) -> !;
    }
    vsva_boot_main(info)
}
