//! Intel VT-d remapping hardware (Intel Virtualization Technology for Directed I/O
//! Architecture Specification, rev 4.x).
//!
//! - [`tables`]: root, context, PASID-directory and PASID-table entries.
//! - [`invalidation`]: queued-invalidation descriptors and the ring.
//! - [`fault`]: fault records with named reasons.
//! - [`unit`]: one remapping unit: bring-up, attachment, invalidation, faults, page requests.
//! - [`regs`]: register offsets and typed, fully decoded views of the identification,
//!   capability, command and status registers (spec chapter 11).
//!
//! The register types are plain values: they decode what was read and compute what to
//! write, and never touch hardware themselves.

#[cfg(test)]
mod driver_tests;
pub mod fault;
pub mod invalidation;
#[cfg(any(test, feature = "sim"))]
pub mod model;
pub mod pagetable;
pub mod regs;
#[cfg(any(test, feature = "scenarios"))]
pub mod scenarios;
pub mod tables;
pub mod unit;
