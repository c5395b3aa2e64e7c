//! The DMA Remapping Reporting table, DMAR (Intel VT-d Architecture Specification, chapter 8
//! "BIOS Considerations").
//!
//! [`Dmar::parse`] checks the whole table once — every remapping structure and every device
//! scope — and afterwards the iterators walk the table in place without failing or allocating.
//!
//! - this module: the DMAR header and [`Dmar`] itself (checking the table, the iterators by
//!   structure type).
//! - `structure`: the remapping structure header and types, [`RemappingStructure`] and the walk
//!   over the table's structures (VT-d spec §8.2).
//! - `device_scope`: device scope entries and their paths (VT-d spec §8.3.1).
//! - one module per structure type: `drhd`, `rmrr`, `atsr`, `rhsa`, `andd`, `satc`, `sidp`.

mod andd;
mod atsr;
mod device_scope;
mod drhd;
mod rhsa;
mod rmrr;
mod satc;
mod sidp;
mod structure;

use core::mem::size_of;

use bitflags::bitflags;
use zerocopy::{FromBytes, Immutable, KnownLayout, Unaligned};

use super::AcpiError;
use super::sdt::{self, SdtHeader, read};
use device_scope::next_scope;
use structure::{for_each_scope_region, next_structure};

pub use andd::Andd;
pub use atsr::{Atsr, AtsrFlags};
pub use device_scope::{DeviceScope, DeviceScopeFlags, DeviceScopeType, DeviceScopes, PciPath};
pub use drhd::{Drhd, DrhdFlags};
pub use rhsa::Rhsa;
pub use rmrr::Rmrr;
pub use satc::{Satc, SatcFlags};
pub use sidp::Sidp;
pub use structure::{
    RemappingStructure, RemappingStructureType, RemappingStructures, UnknownStructure,
};

/// DMAR table signature.
pub const DMAR_SIGNATURE: [u8; 4] = *b"DMAR";

/// The DMAR header after the ACPI header (VT-d spec §8.1, Table "DMA Remapping Reporting
/// Structure").
#[derive(Debug, FromBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
struct DmarHeader {
    sdt: SdtHeader,
    host_address_width: u8,
    flags: u8,
    reserved: [u8; 10],
}
const _: () = assert!(size_of::<DmarHeader>() == 48);

bitflags! {
    /// DMAR table Flags (VT-d spec §8.1).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct DmarFlags: u8 {
        /// The platform supports interrupt remapping.
        const INTR_REMAP = 1 << 0;
        /// Firmware asks system software not to enable x2APIC mode.
        const X2APIC_OPT_OUT = 1 << 1;
        /// Firmware set up DMA protection before hand-off and asks the OS to keep DMA
        /// remapping on (the "DMA control opt-in" of kernel DMA protection).
        const DMA_CTRL_PLATFORM_OPT_IN = 1 << 2;
    }
}

/// A parsed, fully checked DMAR table borrowed from its bytes.
#[derive(Debug, Clone, Copy)]
pub struct Dmar<'a> {
    bytes: &'a [u8],
    header: &'a DmarHeader,
    checksum_valid: bool,
}

impl<'a> Dmar<'a> {
    /// Parses and checks a whole DMAR table. `bytes` must be exactly the table (header
    /// included), as `/sys/firmware/acpi/tables/DMAR` or `acpixtract` give it.
    ///
    /// Every remapping structure and device scope is checked here, so the iterators on the
    /// result never meet malformed data. A wrong checksum is not an error: see
    /// [`Dmar::checksum_valid`].
    pub fn parse(bytes: &'a [u8]) -> Result<Self, AcpiError> {
        let (_, checksum_valid) = sdt::parse_table(bytes, &DMAR_SIGNATURE)?;
        let header = read::<DmarHeader>(bytes, 0, bytes.len())?;
        let mut pos = size_of::<DmarHeader>();
        while let Some((structure, next)) = next_structure(bytes, pos)? {
            for_each_scope_region(&structure, |start, end| {
                let mut p = start;
                while let Some((_, n)) = next_scope(bytes, p, end)? {
                    p = n;
                }
                Ok(())
            })?;
            pos = next;
        }
        Ok(Self {
            bytes,
            header,
            checksum_valid,
        })
    }

    /// The ACPI header.
    pub fn header(&self) -> &'a SdtHeader {
        &self.header.sdt
    }

    /// Whether the table's bytes sum to zero. Firmware ships tables with wrong checksums and
    /// they are otherwise usable; callers should warn, not refuse.
    pub fn checksum_valid(&self) -> bool {
        self.checksum_valid
    }

    /// Host Address Width: the maximum DMA physical address width the platform supports, in
    /// bits (the table stores this value minus one; VT-d spec §8.1).
    pub fn host_address_width(&self) -> u16 {
        u16::from(self.header.host_address_width) + 1
    }

    /// The Host Address Width field as stored (width minus one).
    pub fn host_address_width_raw(&self) -> u8 {
        self.header.host_address_width
    }

    /// Table Flags (VT-d spec §8.1). Reserved bits are kept.
    pub fn flags(&self) -> DmarFlags {
        DmarFlags::from_bits_retain(self.header.flags)
    }

    /// The whole table.
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// Every remapping structure in table order, unknown types included.
    pub fn structures(&self) -> RemappingStructures<'a> {
        RemappingStructures {
            bytes: self.bytes,
            pos: size_of::<DmarHeader>(),
        }
    }

    /// The DRHD structures in table order.
    pub fn drhds(&self) -> impl Iterator<Item = Drhd<'a>> + 'a {
        self.structures().filter_map(|s| match s {
            RemappingStructure::Drhd(d) => Some(d),
            _ => None,
        })
    }

    /// The RMRR structures in table order.
    pub fn rmrrs(&self) -> impl Iterator<Item = Rmrr<'a>> + 'a {
        self.structures().filter_map(|s| match s {
            RemappingStructure::Rmrr(r) => Some(r),
            _ => None,
        })
    }

    /// The ATSR structures in table order.
    pub fn atsrs(&self) -> impl Iterator<Item = Atsr<'a>> + 'a {
        self.structures().filter_map(|s| match s {
            RemappingStructure::Atsr(a) => Some(a),
            _ => None,
        })
    }

    /// The RHSA structures in table order.
    pub fn rhsas(&self) -> impl Iterator<Item = Rhsa<'a>> + 'a {
        self.structures().filter_map(|s| match s {
            RemappingStructure::Rhsa(r) => Some(r),
            _ => None,
        })
    }

    /// The ANDD structures in table order.
    pub fn andds(&self) -> impl Iterator<Item = Andd<'a>> + 'a {
        self.structures().filter_map(|s| match s {
            RemappingStructure::Andd(a) => Some(a),
            _ => None,
        })
    }

    /// The SATC structures in table order.
    pub fn satcs(&self) -> impl Iterator<Item = Satc<'a>> + 'a {
        self.structures().filter_map(|s| match s {
            RemappingStructure::Satc(s) => Some(s),
            _ => None,
        })
    }

    /// The SIDP structures in table order.
    pub fn sidps(&self) -> impl Iterator<Item = Sidp<'a>> + 'a {
        self.structures().filter_map(|s| match s {
            RemappingStructure::Sidp(s) => Some(s),
            _ => None,
        })
    }
}
