//! vsva: a bare-metal hypervisor whose heart is an IOMMU driver stack.
//!
//! This library is the kernel; the `vsva` binary (src/main.rs) only links it. On a
//! bare-metal target (`target_os = "none"`) it is entered from `vsva-boot` with a
//! [`BootInfo`](vsva_boot::BootInfo); on the host only its pure modules
//! (memory-range arithmetic, the frame allocator, command-line parsing, log
//! formatting) are built, and run as ordinary unit tests.
//!
//! Unsafe code lives in `arch/` (registers, instructions, traps, page tables),
//! `mem/heap.rs` and the image symbols in `mem` (raw memory), and the in-kernel
//! tests that poke memory on purpose; the other modules deny it.
#![cfg_attr(not(test), no_std)]

extern crate alloc;

pub mod cmdline;
pub mod exit;
#[cfg(target_os = "none")]
pub mod iommu;
pub mod log_budget;
pub mod logger;
#[cfg(target_os = "none")]
pub mod manifest;
pub mod mem;
#[cfg(target_os = "none")]
pub mod partition;
#[cfg(target_os = "none")]
pub mod pci;
pub mod platform;
pub mod port_io;
pub mod psci;
pub mod svm_event;
pub mod x86_insn;

#[cfg(target_os = "none")]
pub mod arch;
#[cfg(all(target_os = "none", feature = "ktest"))]
mod edu;
#[cfg(target_os = "none")]
mod kmain;
#[cfg(all(target_os = "none", feature = "ktest"))]
mod ktests;
#[cfg(target_os = "none")]
mod panic;
#[cfg(all(target_os = "none", target_arch = "aarch64", feature = "ktest"))]
mod smmu_tests;
#[cfg(all(target_os = "none", feature = "ktest"))]
pub mod testing;
#[cfg(all(target_os = "none", target_arch = "x86_64", feature = "ktest"))]
mod vtd_tests;

/// What the boot path handed over, once the kernel has started.
pub static BOOT_INFO: spin::Once<&'static vsva_boot::BootInfo> = spin::Once::new();

/// The boot information, if the kernel has started.
pub fn boot_info() -> Option<&'static vsva_boot::BootInfo> {
    BOOT_INFO.get().copied()
}
