//! Arm SMMUv3 (Arm System Memory Management Unit Architecture Specification, SMMU
//! architecture version 3, IHI 0070).
//!
//! - [`regs`]: register offsets for pages 0 and 1, and typed, fully decoded views of the
//!   identification registers and the control and error registers (spec chapter 6).
//!
//! The register types are plain values: they decode what was read and compute what to
//! write, and never touch hardware themselves.

pub mod cd_table;
#[cfg(test)]
mod driver_tests;
#[cfg(any(test, feature = "sim"))]
pub mod model;
#[cfg(test)]
mod nested_tests;
pub mod pagetable;
pub mod queue;
pub mod regs;
#[cfg(any(test, feature = "scenarios"))]
pub mod scenarios;
pub mod structs;
pub mod unit;
