//! Remapping structures (VT-d spec §8.2): the header every structure starts with, the structure
//! types, [`RemappingStructure`] and the checked walk from one structure to the next.

use core::mem::size_of;

use zerocopy::little_endian::U16;
use zerocopy::{FromBytes, Immutable, KnownLayout, Unaligned};

use super::andd::{Andd, AnddRaw};
use super::atsr::{Atsr, AtsrRaw};
use super::device_scope::DeviceScopes;
use super::drhd::{Drhd, DrhdRaw};
use super::rhsa::{Rhsa, RhsaRaw};
use super::rmrr::{Rmrr, RmrrRaw};
use super::satc::{Satc, SatcRaw};
use super::sidp::{Sidp, SidpRaw};
use crate::acpi::AcpiError;
use crate::acpi::sdt::read;

/// Remapping structure header common to all types (VT-d spec §8.2).
#[derive(Debug, FromBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub(super) struct RemappingHeader {
    ty: U16,
    length: U16,
}
const _: () = assert!(size_of::<RemappingHeader>() == 4);

/// Remapping structure types (VT-d spec §8.2, Table "DMA Remapping Structure Types").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RemappingStructureType {
    /// 0: DMA Remapping Hardware Unit Definition.
    Drhd,
    /// 1: Reserved Memory Region Reporting.
    Rmrr,
    /// 2: Root Port ATS Capability Reporting.
    Atsr,
    /// 3: Remapping Hardware Static Affinity.
    Rhsa,
    /// 4: ACPI Name-space Device Declaration.
    Andd,
    /// 5: SoC Integrated Address Translation Cache.
    Satc,
    /// 6: SoC Integrated Device Property.
    Sidp,
    /// A type this parser does not know; skipped by its length.
    Unknown(u16),
}

impl From<u16> for RemappingStructureType {
    fn from(v: u16) -> Self {
        match v {
            0 => Self::Drhd,
            1 => Self::Rmrr,
            2 => Self::Atsr,
            3 => Self::Rhsa,
            4 => Self::Andd,
            5 => Self::Satc,
            6 => Self::Sidp,
            other => Self::Unknown(other),
        }
    }
}

impl From<RemappingStructureType> for u16 {
    fn from(t: RemappingStructureType) -> u16 {
        match t {
            RemappingStructureType::Drhd => 0,
            RemappingStructureType::Rmrr => 1,
            RemappingStructureType::Atsr => 2,
            RemappingStructureType::Rhsa => 3,
            RemappingStructureType::Andd => 4,
            RemappingStructureType::Satc => 5,
            RemappingStructureType::Sidp => 6,
            RemappingStructureType::Unknown(v) => v,
        }
    }
}

/// One remapping structure (VT-d spec §8.2).
#[derive(Debug, Clone, Copy)]
pub enum RemappingStructure<'a> {
    /// DMA Remapping Hardware Unit Definition.
    Drhd(Drhd<'a>),
    /// Reserved Memory Region Reporting.
    Rmrr(Rmrr<'a>),
    /// Root Port ATS Capability Reporting.
    Atsr(Atsr<'a>),
    /// Remapping Hardware Static Affinity.
    Rhsa(Rhsa<'a>),
    /// ACPI Name-space Device Declaration.
    Andd(Andd<'a>),
    /// SoC Integrated Address Translation Cache.
    Satc(Satc<'a>),
    /// SoC Integrated Device Property.
    Sidp(Sidp<'a>),
    /// A structure of a type this parser does not know, skipped by its length.
    Unknown(UnknownStructure<'a>),
}

impl<'a> RemappingStructure<'a> {
    /// The structure's type.
    pub fn structure_type(&self) -> RemappingStructureType {
        match self {
            Self::Drhd(_) => RemappingStructureType::Drhd,
            Self::Rmrr(_) => RemappingStructureType::Rmrr,
            Self::Atsr(_) => RemappingStructureType::Atsr,
            Self::Rhsa(_) => RemappingStructureType::Rhsa,
            Self::Andd(_) => RemappingStructureType::Andd,
            Self::Satc(_) => RemappingStructureType::Satc,
            Self::Sidp(_) => RemappingStructureType::Sidp,
            Self::Unknown(u) => RemappingStructureType::Unknown(u.ty),
        }
    }

    /// Table offset of the structure.
    pub fn offset(&self) -> usize {
        match self {
            Self::Drhd(s) => s.offset,
            Self::Rmrr(s) => s.offset,
            Self::Atsr(s) => s.offset,
            Self::Rhsa(s) => s.offset,
            Self::Andd(s) => s.offset,
            Self::Satc(s) => s.offset,
            Self::Sidp(s) => s.offset,
            Self::Unknown(s) => s.offset,
        }
    }

    /// The structure's device scopes; empty for types that have none.
    pub fn device_scopes(&self) -> DeviceScopes<'a> {
        match self {
            Self::Drhd(s) => s.scopes,
            Self::Rmrr(s) => s.scopes,
            Self::Atsr(s) => s.scopes,
            Self::Satc(s) => s.scopes,
            Self::Sidp(s) => s.scopes,
            Self::Rhsa(_) | Self::Andd(_) | Self::Unknown(_) => DeviceScopes::EMPTY,
        }
    }
}

/// Iterator over a DMAR's remapping structures; see [`Dmar::structures`](super::Dmar::structures).
#[derive(Debug, Clone)]
pub struct RemappingStructures<'a> {
    pub(super) bytes: &'a [u8],
    pub(super) pos: usize,
}

impl<'a> Iterator for RemappingStructures<'a> {
    type Item = RemappingStructure<'a>;

    fn next(&mut self) -> Option<Self::Item> {
        match next_structure(self.bytes, self.pos) {
            Ok(Some((s, next))) => {
                self.pos = next;
                Some(s)
            }
            // `Dmar::parse` checked every structure, so errors cannot happen here; stop anyway.
            Ok(None) | Err(_) => {
                self.pos = self.bytes.len();
                None
            }
        }
    }
}

/// A remapping structure of a reserved type, kept as bytes.
#[derive(Debug, Clone, Copy)]
pub struct UnknownStructure<'a> {
    offset: usize,
    ty: u16,
    bytes: &'a [u8],
}

impl<'a> UnknownStructure<'a> {
    /// Table offset of the structure.
    pub fn offset(&self) -> usize {
        self.offset
    }
    /// Its type field.
    pub fn structure_type(&self) -> u16 {
        self.ty
    }
    /// All its bytes, header included.
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }
}

/// Reads the structure at `pos`; `Ok(None)` at the end of the table. The returned offset is
/// strictly greater than `pos`, so every walk ends.
pub(super) fn next_structure(
    bytes: &[u8],
    pos: usize,
) -> Result<Option<(RemappingStructure<'_>, usize)>, AcpiError> {
    if pos >= bytes.len() {
        return Ok(None);
    }
    let header = read::<RemappingHeader>(bytes, pos, bytes.len())?;
    let length = usize::from(header.length.get());
    if length == 0 {
        return Err(AcpiError::ZeroLength { offset: pos });
    }
    let available = bytes.len().saturating_sub(pos);
    if length > available {
        return Err(AcpiError::LengthOverrun {
            offset: pos,
            length,
            available,
        });
    }
    if length < size_of::<RemappingHeader>() {
        return Err(AcpiError::LengthTooSmall {
            offset: pos,
            length,
            minimum: size_of::<RemappingHeader>(),
        });
    }
    // `length <= available` makes this addition safe.
    let end = pos + length;
    let fixed = |minimum: usize| -> Result<(), AcpiError> {
        if length < minimum {
            Err(AcpiError::LengthTooSmall {
                offset: pos,
                length,
                minimum,
            })
        } else {
            Ok(())
        }
    };
    let scopes = |fixed_len: usize| DeviceScopes {
        bytes,
        pos: pos + fixed_len,
        end,
    };
    let ty = header.ty.get();
    let structure = match RemappingStructureType::from(ty) {
        RemappingStructureType::Drhd => {
            fixed(size_of::<DrhdRaw>())?;
            RemappingStructure::Drhd(Drhd {
                offset: pos,
                raw: read(bytes, pos, end)?,
                scopes: scopes(size_of::<DrhdRaw>()),
            })
        }
        RemappingStructureType::Rmrr => {
            fixed(size_of::<RmrrRaw>())?;
            RemappingStructure::Rmrr(Rmrr {
                offset: pos,
                raw: read(bytes, pos, end)?,
                scopes: scopes(size_of::<RmrrRaw>()),
            })
        }
        RemappingStructureType::Atsr => {
            fixed(size_of::<AtsrRaw>())?;
            RemappingStructure::Atsr(Atsr {
                offset: pos,
                raw: read(bytes, pos, end)?,
                scopes: scopes(size_of::<AtsrRaw>()),
            })
        }
        RemappingStructureType::Rhsa => {
            fixed(size_of::<RhsaRaw>())?;
            RemappingStructure::Rhsa(Rhsa {
                offset: pos,
                raw: read(bytes, pos, end)?,
            })
        }
        RemappingStructureType::Andd => {
            fixed(size_of::<AnddRaw>())?;
            RemappingStructure::Andd(Andd {
                offset: pos,
                raw: read(bytes, pos, end)?,
                name_field: bytes.get(pos + size_of::<AnddRaw>()..end).unwrap_or(&[]),
            })
        }
        RemappingStructureType::Satc => {
            fixed(size_of::<SatcRaw>())?;
            RemappingStructure::Satc(Satc {
                offset: pos,
                raw: read(bytes, pos, end)?,
                scopes: scopes(size_of::<SatcRaw>()),
            })
        }
        RemappingStructureType::Sidp => {
            fixed(size_of::<SidpRaw>())?;
            RemappingStructure::Sidp(Sidp {
                offset: pos,
                raw: read(bytes, pos, end)?,
                scopes: scopes(size_of::<SidpRaw>()),
            })
        }
        RemappingStructureType::Unknown(ty) => RemappingStructure::Unknown(UnknownStructure {
            offset: pos,
            ty,
            bytes: bytes.get(pos..end).unwrap_or(&[]),
        }),
    };
    Ok(Some((structure, end)))
}

/// Calls `f(start, end)` for the device-scope area of a structure that has one.
pub(super) fn for_each_scope_region(
    s: &RemappingStructure<'_>,
    mut f: impl FnMut(usize, usize) -> Result<(), AcpiError>,
) -> Result<(), AcpiError> {
    let scopes = s.device_scopes();
    if scopes.end > scopes.pos {
        f(scopes.pos, scopes.end)?;
    }
    Ok(())
}
