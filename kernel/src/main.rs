//! vsva: a bare-metal hypervisor whose heart is an IOMMU driver stack.
//!
//! This binary is the kernel. On a bare-metal target (`target_os = "none"`) it is
//! entered from `vsva-boot` with a [`BootInfo`](vsva_boot::BootInfo); on the host
//! it builds as an empty program so that its pure modules (memory-range
//! arithmetic, command-line parsing, log formatting) run as ordinary unit tests.
//!
//! Unsafe code lives in `arch/` (registers, instructions, traps, page tables),
//! `mem/frames.rs` and `mem/heap.rs` (raw memory); the other modules deny it.
#![cfg_attr(target_os = "none", no_std, no_main)]
#![cfg_attr(not(target_os = "none"), allow(dead_code))]

extern crate alloc;

mod cmdline;
mod logger;
mod mem;

#[cfg(target_os = "none")]
mod arch;
#[cfg(target_os = "none")]
mod exit;
#[cfg(target_os = "none")]
mod kmain;
#[cfg(target_os = "none")]
mod panic;
#[cfg(all(target_os = "none", feature = "ktest"))]
mod ktests;
#[cfg(all(target_os = "none", feature = "ktest"))]
mod testing;

#[cfg(not(target_os = "none"))]
fn main() {}
