//! The DMA Remapping Reporting table, DMAR (Intel VT-d Architecture Specification, chapter 8
//! "BIOS Considerations").
//!
//! [`Dmar::parse`] checks the whole table once — every remapping structure and every device
//! scope — and afterwards the iterators walk the table in place without failing or allocating.

use core::mem::size_of;

use bitflags::bitflags;
use zerocopy::little_endian::{U16, U32, U64};
use zerocopy::{FromBytes, Immutable, KnownLayout, Unaligned};

use super::AcpiError;
use super::sdt::{self, SdtHeader, read};

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

/// Remapping structure header common to all types (VT-d spec §8.2).
#[derive(Debug, FromBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
struct RemappingHeader {
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

/// DRHD fixed part (VT-d spec §8.3).
#[derive(Debug, FromBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
struct DrhdRaw {
    header: RemappingHeader,
    flags: u8,
    size: u8,
    segment: U16,
    register_base: U64,
}
const _: () = assert!(size_of::<DrhdRaw>() == 16);

/// RMRR fixed part (VT-d spec §8.4).
#[derive(Debug, FromBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
struct RmrrRaw {
    header: RemappingHeader,
    reserved: [u8; 2],
    segment: U16,
    base: U64,
    limit: U64,
}
const _: () = assert!(size_of::<RmrrRaw>() == 24);

/// ATSR fixed part (VT-d spec §8.5).
#[derive(Debug, FromBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
struct AtsrRaw {
    header: RemappingHeader,
    flags: u8,
    reserved: u8,
    segment: U16,
}
const _: () = assert!(size_of::<AtsrRaw>() == 8);

/// RHSA (VT-d spec §8.6).
#[derive(Debug, FromBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
struct RhsaRaw {
    header: RemappingHeader,
    reserved: [u8; 4],
    register_base: U64,
    proximity_domain: U32,
}
const _: () = assert!(size_of::<RhsaRaw>() == 20);

/// ANDD fixed part (VT-d spec §8.7); the object name follows.
#[derive(Debug, FromBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
struct AnddRaw {
    header: RemappingHeader,
    reserved: [u8; 3],
    acpi_device_number: u8,
}
const _: () = assert!(size_of::<AnddRaw>() == 8);

/// SATC fixed part (VT-d spec §8.8).
#[derive(Debug, FromBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
struct SatcRaw {
    header: RemappingHeader,
    flags: u8,
    reserved: u8,
    segment: U16,
}
const _: () = assert!(size_of::<SatcRaw>() == 8);

/// SIDP fixed part (VT-d spec §8.9).
#[derive(Debug, FromBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
struct SidpRaw {
    header: RemappingHeader,
    reserved: [u8; 2],
    segment: U16,
}
const _: () = assert!(size_of::<SidpRaw>() == 8);

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
    /// DRHD Flags (VT-d spec §8.3).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct DrhdFlags: u8 {
        /// The unit covers every PCI device of its segment not covered by another DRHD; its
        /// device scopes list only the IOAPICs and HPETs.
        const INCLUDE_PCI_ALL = 1 << 0;
    }
}

bitflags! {
    /// ATSR Flags (VT-d spec §8.5).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct AtsrFlags: u8 {
        /// Every root port of the segment supports ATS; the device scopes are empty.
        const ALL_PORTS = 1 << 0;
    }
}

bitflags! {
    /// SATC Flags (VT-d spec §8.8).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct SatcFlags: u8 {
        /// The listed devices need ATS enabled to work correctly.
        const ATC_REQUIRED = 1 << 0;
    }
}

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

/// Iterator over a DMAR's remapping structures; see [`Dmar::structures`].
#[derive(Debug, Clone)]
pub struct RemappingStructures<'a> {
    bytes: &'a [u8],
    pos: usize,
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

/// A DMA Remapping Hardware Unit Definition: one remapping unit and the devices behind it
/// (VT-d spec §8.3).
#[derive(Debug, Clone, Copy)]
pub struct Drhd<'a> {
    offset: usize,
    raw: &'a DrhdRaw,
    scopes: DeviceScopes<'a>,
}

impl<'a> Drhd<'a> {
    /// Table offset of the structure.
    pub fn offset(&self) -> usize {
        self.offset
    }
    /// Flags.
    pub fn flags(&self) -> DrhdFlags {
        DrhdFlags::from_bits_retain(self.raw.flags)
    }
    /// Whether the unit covers all remaining PCI devices of its segment.
    pub fn include_pci_all(&self) -> bool {
        self.flags().contains(DrhdFlags::INCLUDE_PCI_ALL)
    }
    /// The Size field as stored: bits 3:0 give the register set size as a power of two of
    /// 4 KiB pages; zero in tables before VT-d 3.x, meaning "one page" (VT-d spec §8.3).
    pub fn size_raw(&self) -> u8 {
        self.raw.size
    }
    /// Number of 4 KiB pages of the register set, from the Size field (1 if unset).
    pub fn register_set_pages(&self) -> u32 {
        1u32 << (self.raw.size & 0xf)
    }
    /// PCI segment number.
    pub fn segment(&self) -> u16 {
        self.raw.segment.get()
    }
    /// Physical base address of the unit's register set. Some firmware reports 0 for units it
    /// disabled; callers must skip those.
    pub fn register_base(&self) -> u64 {
        self.raw.register_base.get()
    }
    /// The unit's device scopes.
    pub fn device_scopes(&self) -> DeviceScopes<'a> {
        self.scopes
    }
}

/// A Reserved Memory Region: memory that the listed devices use for DMA behind the OS's back
/// and that must stay identity-mapped for them (VT-d spec §8.4).
#[derive(Debug, Clone, Copy)]
pub struct Rmrr<'a> {
    offset: usize,
    raw: &'a RmrrRaw,
    scopes: DeviceScopes<'a>,
}

impl<'a> Rmrr<'a> {
    /// Table offset of the structure.
    pub fn offset(&self) -> usize {
        self.offset
    }
    /// PCI segment number.
    pub fn segment(&self) -> u16 {
        self.raw.segment.get()
    }
    /// Reserved Memory Region Base Address (4 KiB aligned).
    pub fn base(&self) -> u64 {
        self.raw.base.get()
    }
    /// Reserved Memory Region Limit Address: the last byte of the region, inclusive. Some
    /// firmware reports an empty 0–0 region.
    pub fn limit(&self) -> u64 {
        self.raw.limit.get()
    }
    /// The devices using the region.
    pub fn device_scopes(&self) -> DeviceScopes<'a> {
        self.scopes
    }
}

/// Root Port ATS Capability Reporting: which root ports support ATS (VT-d spec §8.5).
#[derive(Debug, Clone, Copy)]
pub struct Atsr<'a> {
    offset: usize,
    raw: &'a AtsrRaw,
    scopes: DeviceScopes<'a>,
}

impl<'a> Atsr<'a> {
    /// Table offset of the structure.
    pub fn offset(&self) -> usize {
        self.offset
    }
    /// Flags.
    pub fn flags(&self) -> AtsrFlags {
        AtsrFlags::from_bits_retain(self.raw.flags)
    }
    /// PCI segment number.
    pub fn segment(&self) -> u16 {
        self.raw.segment.get()
    }
    /// The root ports (PCI sub-hierarchy scopes) supporting ATS, unless `ALL_PORTS`.
    pub fn device_scopes(&self) -> DeviceScopes<'a> {
        self.scopes
    }
}

/// Remapping Hardware Static Affinity: the NUMA proximity domain of a remapping unit
/// (VT-d spec §8.6).
#[derive(Debug, Clone, Copy)]
pub struct Rhsa<'a> {
    offset: usize,
    raw: &'a RhsaRaw,
}

impl Rhsa<'_> {
    /// Table offset of the structure.
    pub fn offset(&self) -> usize {
        self.offset
    }
    /// Register base address of the DRHD this affinity is for.
    pub fn register_base(&self) -> u64 {
        self.raw.register_base.get()
    }
    /// Proximity domain, as in SRAT.
    pub fn proximity_domain(&self) -> u32 {
        self.raw.proximity_domain.get()
    }
}

/// ACPI Name-space Device Declaration: names the ACPI device an
/// [`DeviceScopeType::AcpiNamespaceDevice`] scope refers to by number (VT-d spec §8.7).
#[derive(Debug, Clone, Copy)]
pub struct Andd<'a> {
    offset: usize,
    raw: &'a AnddRaw,
    name_field: &'a [u8],
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

/// SoC Integrated Address Translation Cache: SoC-integrated devices with an ATC
/// (VT-d spec §8.8).
#[derive(Debug, Clone, Copy)]
pub struct Satc<'a> {
    offset: usize,
    raw: &'a SatcRaw,
    scopes: DeviceScopes<'a>,
}

impl<'a> Satc<'a> {
    /// Table offset of the structure.
    pub fn offset(&self) -> usize {
        self.offset
    }
    /// Flags.
    pub fn flags(&self) -> SatcFlags {
        SatcFlags::from_bits_retain(self.raw.flags)
    }
    /// PCI segment number.
    pub fn segment(&self) -> u16 {
        self.raw.segment.get()
    }
    /// The devices.
    pub fn device_scopes(&self) -> DeviceScopes<'a> {
        self.scopes
    }
}

/// SoC Integrated Device Property: properties of SoC-integrated devices, carried in the device
/// scope flags (VT-d spec §8.9).
#[derive(Debug, Clone, Copy)]
pub struct Sidp<'a> {
    offset: usize,
    raw: &'a SidpRaw,
    scopes: DeviceScopes<'a>,
}

impl<'a> Sidp<'a> {
    /// Table offset of the structure.
    pub fn offset(&self) -> usize {
        self.offset
    }
    /// PCI segment number.
    pub fn segment(&self) -> u16 {
        self.raw.segment.get()
    }
    /// The devices; see [`DeviceScope::flags`] for their properties.
    pub fn device_scopes(&self) -> DeviceScopes<'a> {
        self.scopes
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
    bytes: &'a [u8],
    pos: usize,
    end: usize,
}

impl DeviceScopes<'_> {
    const EMPTY: Self = Self {
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

/// Reads the structure at `pos`; `Ok(None)` at the end of the table. The returned offset is
/// strictly greater than `pos`, so every walk ends.
fn next_structure(
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
fn for_each_scope_region(
    s: &RemappingStructure<'_>,
    mut f: impl FnMut(usize, usize) -> Result<(), AcpiError>,
) -> Result<(), AcpiError> {
    let scopes = s.device_scopes();
    if scopes.end > scopes.pos {
        f(scopes.pos, scopes.end)?;
    }
    Ok(())
}

/// Reads the device scope at `pos` of an area ending at `end`; `Ok(None)` at the end.
fn next_scope(
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
