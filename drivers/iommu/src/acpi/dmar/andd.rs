//! ACPI Name-space Device Declarations (VT-d spec §8.7).

use core::mem::size_of;

use zerocopy::{FromBytes, Immutable, KnownLayout, Unaligned};

use super::structure::RemappingHeader;
use crate::acpi::sdt;

/// ANDD fixed part (VT-d spec §8.7); the object name follows.
#[derive(Debug, FromBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub(super) struct AnddRaw {
    header: RemappingHeader,
    reserved: [u8; 3],
    acpi_device_number: u8,
}
const _: () = assert!(size_of::<AnddRaw>() == 8);

/// ACPI Name-space Device Declaration: names the ACPI device an
/// [`DeviceScopeType::AcpiNamespaceDevice`](super::DeviceScopeType::AcpiNamespaceDevice) scope
/// refers to by number (VT-d spec §8.7).
#[derive(Debug, Clone, Copy)]
pub struct Andd<'a> {
    pub(super) offset: usize,
    pub(super) raw: &'a AnddRaw,
    pub(super) name_field: &'a [u8],
}

impl<'a> Andd<'a> {
    /// Table offset of the structure.
    pub fn offset(&self) -> usize {
        self.offset
    }
    /// ACPI Device Number, matched by a device scope's enumeration ID.
    pub fn acpi_device_number(&self) -> u8 {
        self.raw.acpi_device_number
    }
    /// ACPI Object Name, such as `\_SB.PCI0.I2C0`: the bytes before the terminating NUL.
    /// Firmware pads the structure after the NUL; the padding is not part of the name.
    pub fn object_name(&self) -> &'a [u8] {
        sdt::until_nul(self.name_field)
    }
    /// The object name as text, if it is ASCII.
    pub fn object_name_str(&self) -> Option<&'a str> {
        let name = self.object_name();
        if name.is_ascii() {
            core::str::from_utf8(name).ok()
        } else {
            None
        }
    }
}
