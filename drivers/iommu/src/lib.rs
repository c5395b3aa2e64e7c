//! IOMMU drivers for vsva.
//!
//! Firmware table parsers (ACPI DMAR for Intel VT-d, IORT for Arm SMMUv3) live in
//! [`acpi`]. The crate is `no_std` and contains no unsafe code: hardware access goes
//! through traits the kernel implements, so every part runs in host tests.
//!
//! - [`hw`]: the traits through which drivers reach registers, DMA memory and time.
//! - [`vtd`]: Intel VT-d register offsets and decoded identification/capability registers.
//! - [`smmuv3`]: Arm SMMUv3 register offsets and decoded identification registers.
#![cfg_attr(not(test), no_std)]
#![deny(unsafe_code)]

extern crate alloc;

pub mod acpi;
pub mod hw;
pub mod pt;
pub mod smmuv3;
pub mod vtd;
