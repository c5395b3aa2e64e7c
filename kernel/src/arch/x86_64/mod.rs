//! x86_64: 16550 console, TSC time, IDT, 4-level page tables, QEMU exit device.

pub mod console;
pub mod cpu;
pub mod exceptions;
pub mod interrupts;
pub mod paging;
pub mod pci;
pub mod platform;
pub mod time;
pub mod vcpu;

/// Architecture name for the banner.
pub const NAME: &str = "x86_64";
