//! The architecture-specific half: entry, page tables, vectors, interrupts.
//! The only place with `unsafe` in the reference guest.
#![allow(unsafe_code)]

#[cfg(target_arch = "aarch64")]
mod aarch64;
#[cfg(target_arch = "aarch64")]
pub use aarch64::*;

#[cfg(target_arch = "x86_64")]
mod x86_64;
#[cfg(target_arch = "x86_64")]
pub use x86_64::*;

/// `len` bytes of RAM at guest-physical `start` (identity mapped on both
/// machines).
pub fn memory(start: u64, len: usize) -> &'static mut [u8] {
    // SAFETY: the caller names a range inside this partition's RAM that
    // nothing else uses (above the image and its stack).
    unsafe { core::slice::from_raw_parts_mut(start as *mut u8, len) }
}

/// A 32-bit device register read (configuration window, BARs).
pub fn read32(addr: u64) -> u32 {
    // SAFETY: device memory the caller found through the configuration
    // window (or the window itself), mapped as device / uncached memory.
    unsafe { (addr as *const u32).read_volatile() }
}

/// A 32-bit device register write.
pub fn write32(addr: u64, value: u32) {
    // SAFETY: as in `read32`.
    unsafe { (addr as *mut u32).write_volatile(value) }
}

/// A 64-bit device register read.
pub fn read64(addr: u64) -> u64 {
    // SAFETY: as in `read32`.
    unsafe { (addr as *const u64).read_volatile() }
}

/// A 64-bit device register write.
pub fn write64(addr: u64, value: u64) {
    // SAFETY: as in `read32`.
    unsafe { (addr as *mut u64).write_volatile(value) }
}

/// A store to any address: how the tests make a guest reach outside.
pub fn write_u64(addr: u64, value: u64) {
    // SAFETY: deliberately unchecked; vsva's stage 2 decides what happens.
    unsafe { (addr as *mut u64).write_volatile(value) };
}
