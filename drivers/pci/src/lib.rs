//! PCI configuration space access, enumeration, BARs and capabilities for vsva.
//!
//! The crate touches no hardware: the kernel implements [`ConfigAccess`]
//! (ECAM or x86 port I/O, see [`ecam_offset`] and [`port_io_address`]) and
//! calls the pure logic here. Every walk is bounded, so a broken or
//! malicious device can end a scan early but never hang it.
//!
//! - [`access`]: the access trait and the RW1C-safe 8/16-bit accessors ([`ConfigExt`]).
//! - [`header`]: header registers, [`Command`], [`Status`].
//! - [`enumerate()`]: every function of a segment, bridges followed or numbered.
//! - [`bar`]: BAR decoding and sizing; [`assign`]: BAR addresses from host windows, [`enable()`].
//! - [`capability`]: capability walks; typed views in [`msi`], [`express`],
//!   [`ats`], [`pasid`], [`pri`], [`acs`].
//! - [`reset`]: function resets between owners (FLR, AF FLR, D3hot, bus reset).
#![cfg_attr(not(test), no_std)]
#![deny(unsafe_code)]

extern crate alloc;

pub mod access;
pub mod acs;
pub mod assign;
pub mod ats;
pub mod bar;
mod bdf;
pub mod capability;
pub mod enumerate;
pub mod express;
pub mod group;
pub mod header;
pub mod msi;
pub mod pasid;
pub mod placement;
pub mod pri;
pub mod reset;
pub mod window;

#[cfg(test)]
mod model;
#[cfg(test)]
mod reset_tests;
#[cfg(test)]
mod tests;

pub use access::{
    ConfigAccess, ConfigExt, ECAM_MAX_OFFSET, PORT_IO_MAX_OFFSET, ecam_offset, port_io_address,
};
pub use acs::{Acs, AcsFlags};
pub use assign::{AssignReport, Placed, Resource, Window, WindowKind, assign_resources, enable};
pub use ats::Ats;
pub use bar::{Bar, BarKind};
pub use bdf::{Bdf, BusRange};
pub use capability::{
    Capability, CapabilityId, ExtendedCapability, ExtendedCapabilityId, capabilities,
    extended_capabilities,
};
pub use enumerate::{Enumeration, EnumerationOptions, Function, enumerate};
pub use express::PciExpress;
pub use header::{ClassCode, Command, HeaderType, Status};
pub use msi::{Msi, MsiX};
pub use pasid::Pasid;
pub use pri::Pri;
pub use window::{ConfigWindow, WriteOutcome};
