//! ACPI DMAR and IORT table parsers.
//!
//! Both parsers read a table from a byte slice in safe code and borrow from it: no copies, no
//! allocation. Each `parse` checks the whole table up front — every length, offset and array
//! against the bounds of what contains it — and refuses malformed input with an [`AcpiError`]
//! that names the byte offset; afterwards the iterators walk the checked table infallibly.
//! A wrong checksum alone is not fatal: the table reports `checksum_valid() == false` and the
//! caller warns, as Linux does.
//!
//! - [`dmar::Dmar`]: Intel VT-d DMA Remapping Reporting table (VT-d spec chapter 8).
//! - [`iort::Iort`]: Arm IO Remapping Table (DEN 0049, revisions 0 to E.f), with
//!   [`iort::Iort::resolve_rid`] mapping a PCI requester ID to its SMMU StreamID and ITS
//!   DeviceID.
//!
//! ```
//! # fn demo(table: &[u8]) -> Result<(), vsva_iommu::acpi::AcpiError> {
//! use vsva_iommu::acpi::{SdtHeader, dmar::Dmar};
//! let length = SdtHeader::peek(table)?.length(); // map this many bytes, then:
//! let dmar = Dmar::parse(table)?;
//! for drhd in dmar.drhds() {
//!     let _ = (drhd.register_base(), drhd.include_pci_all(), length);
//! }
//! # Ok(()) }
//! ```

mod error;
mod sdt;

pub mod dmar;
pub mod iort;

pub use error::AcpiError;
pub use sdt::SdtHeader;
