//! Device scope entries (VT-d spec §8.3.1): the devices a remapping structure applies to, each
//! named by a start bus and a path of (device, function) hops.

use core::mem::size_of;

use bitflags::bitflags;
use zerocopy::{FromBytes, Immutable, KnownLayout, Unaligned};

use crate::acpi::AcpiError;
use crate::acpi::sdt::read;

/// Device scope fixed part (VT-d spec §8.3.1); the path follows.
#[derive(Debug, FromBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
struct DeviceScopeRaw {
    ty: u8,
    length: u8,
    flags: u8,
    reserved: u8,
    enumeration_id: u8,
    start_bus: u8,
}
const _: () = assert!(size_of::<DeviceScopeRaw>() == 6);

/// One hop of a device scope path: a (device, function) pair on the current bus
/// (VT-d spec §8.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, FromBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct PciPath {
    /// PCI device number.
    pub device: u8,
    /// PCI function number.
    pub function: u8,
}
const _: () = assert!(size_of::<PciPath>() == 2);

bitflags! {
    /// Device scope Flags (VT-d spec §8.3.1; bits defined from VT-d 4.0 on and used by SIDP).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct DeviceScopeFlags: u8 {
        /// Requests without PASID: nested translation for RID_PASID is not recommended.
        const REQ_WO_PASID_NESTED_NOTALLOWED = 1 << 0;
        /// Requests without PASID: page-walk snooping for RID_PASID is not recommended.
        const REQ_WO_PASID_PWSNP_NOTALLOWED = 1 << 1;
        /// Requests without PASID: page snooping for RID_PASID is not recommended.
        const REQ_WO_PASID_PGSNP_NOTALLOWED = 1 << 2;
        /// The device's address translation cache is hardened.
        const ATC_HARDENED = 1 << 3;
        /// The device needs ATS to work correctly.
        const ATC_REQUIRED = 1 << 4;
    }
}

/// Device scope entry types (VT-d spec §8.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeviceScopeType {
    /// 1: a PCI endpoint device.
    PciEndpoint,
    /// 2: a PCI-PCI bridge and every device below it.
    PciSubHierarchy,
    /// 3: an I/O APIC; the enumeration ID is its I/O APIC ID.
    IoApic,
    /// 4: an MSI-capable HPET; the enumeration ID is its HPET number.
    MsiCapableHpet,
    /// 5: an ACPI name-space device; the enumeration ID is the ANDD ACPI device number.
    AcpiNamespaceDevice,
    /// Any other value (0 and 6..=255 are reserved).
    Unknown(u8),
}

impl From<u8> for DeviceScopeType {
    fn from(v: u8) -> Self {
        match v {
            1 => Self::PciEndpoint,
            2 => Self::PciSubHierarchy,
            3 => Self::IoApic,
            4 => Self::MsiCapableHpet,
            5 => Self::AcpiNamespaceDevice,
            other => Self::Unknown(other),
        }
    }
}

impl From<DeviceScopeType> for u8 {
    fn from(t: DeviceScopeType) -> u8 {
        match t {
            DeviceScopeType::PciEndpoint => 1,
            DeviceScopeType::PciSubHierarchy => 2,
            DeviceScopeType::IoApic => 3,
            DeviceScopeType::MsiCapableHpet => 4,
            DeviceScopeType::AcpiNamespaceDevice => 5,
            DeviceScopeType::Unknown(v) => v,
        }
    }
}

/// One device scope entry (VT-d spec §8.3.1).
#[derive(Debug, Clone, Copy)]
pub struct DeviceScope<'a> {
    offset: usize,
    raw: &'a DeviceScopeRaw,
    path: &'a [PciPath],
}

impl<'a> DeviceScope<'a> {
    /// Table offset of the entry.
    pub fn offset(&self) -> usize {
        self.offset
    }
    /// Entry type.
    pub fn scope_type(&self) -> DeviceScopeType {
        DeviceScopeType::from(self.raw.ty)
    }
    /// Flags (meaningful in SIDP).
    pub fn flags(&self) -> DeviceScopeFlags {
        DeviceScopeFlags::from_bits_retain(self.raw.flags)
    }
    /// Enumeration ID: I/O APIC ID, HPET number or ANDD ACPI device number, by type.
    pub fn enumeration_id(&self) -> u8 {
        self.raw.enumeration_id
    }
    /// Start Bus Number: the bus the first path entry is on.
    pub fn start_bus(&self) -> u8 {
        self.raw.start_bus
    }
    /// Path from the start bus to the device, one (device, function) per hop through bridges.
    pub fn path(&self) -> &'a [PciPath] {
        self.path
    }
}

/// Iterator over the device scopes of one structure.
#[derive(Debug, Clone, Copy)]
pub struct DeviceScopes<'a> {
    pub(super) bytes: &'a [u8],
    pub(super) pos: usize,
    pub(super) end: usize,
}

impl DeviceScopes<'_> {
    pub(super) const EMPTY: Self = Self {
        bytes: &[],
        pos: 0,
        end: 0,
    };
}

impl<'a> Iterator for DeviceScopes<'a> {
    type Item = DeviceScope<'a>;

    fn next(&mut self) -> Option<Self::Item> {
        match next_scope(self.bytes, self.pos, self.end) {
            Ok(Some((s, next))) => {
                self.pos = next;
                Some(s)
            }
            // Checked by `Dmar::parse`; stop on anything unexpected.
            Ok(None) | Err(_) => {
                self.pos = self.end;
                None
            }
        }
    }
}

/// Reads the device scope at `pos` of an area ending at `end`; `Ok(None)` at the end.
pub(super) fn next_scope(
    bytes: &[u8],
    pos: usize,
    end: usize,
) -> Result<Option<(DeviceScope<'_>, usize)>, AcpiError> {
    if pos >= end {
        return Ok(None);
    }
    let raw = read::<DeviceScopeRaw>(bytes, pos, end)?;
    let length = usize::from(raw.length);
    if length == 0 {
        return Err(AcpiError::ZeroLength { offset: pos });
    }
    if length < size_of::<DeviceScopeRaw>() {
        return Err(AcpiError::LengthTooSmall {
            offset: pos,
            length,
            minimum: size_of::<DeviceScopeRaw>(),
        });
    }
    let available = end.saturating_sub(pos);
    if length > available {
        return Err(AcpiError::LengthOverrun {
            offset: pos,
            length,
            available,
        });
    }
    let path_len = length - size_of::<DeviceScopeRaw>();
    if !path_len.is_multiple_of(size_of::<PciPath>()) {
        return Err(AcpiError::OddPathLength {
            offset: pos,
            length,
        });
    }
    let path_bytes = bytes
        .get(pos + size_of::<DeviceScopeRaw>()..pos + length)
        .ok_or(AcpiError::Truncated {
            offset: pos,
            needed: length,
            available,
        })?;
    let path = <[PciPath]>::ref_from_bytes(path_bytes).map_err(|_| AcpiError::OddPathLength {
        offset: pos,
        length,
    })?;
    Ok(Some((
        DeviceScope {
            offset: pos,
            raw,
            path,
        },
        pos + length,
    )))
}
