//! The `vsva` kernel binary: everything is in the `vsva_kernel` library, entered
//! from the boot code through `vsva_boot::entry_point!`; this file only links it.
#![cfg_attr(target_os = "none", no_std, no_main)]

// Linking the library brings in the entry point, panic handler and allocator.
use vsva_kernel as _;

/// On the host the binary is an empty program (the library's tests run there).
#[cfg(not(target_os = "none"))]
fn main() {}
