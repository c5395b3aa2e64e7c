//! aarch64 at EL2: PL011 console, generic timer, EL2 vectors, VMSAv8-64 stage-1
//! tables for the EL2 regime, semihosting exit.

pub mod console;
pub mod cpu;
pub mod exceptions;
pub mod gic;
pub mod paging;
pub mod platform;
pub mod time;
pub mod vcpu;

/// Architecture name for the banner.
pub const NAME: &str = "aarch64 (EL2)";
