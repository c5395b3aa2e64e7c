//! Capability lists: the standard list in the first 256 bytes (PCI Local Bus 3.0
//! §6.7; PCIe Base Specification §7.5.1.1.11 / §7.5.2) and the extended list
//! from offset 0x100 (PCIe Base Specification §7.6).
//!
//! Both walks are bounded and detect loops: a malicious or broken function can
//! end the walk early (the reason is kept in [`Capabilities::error`]) but can
//! never make it run forever.

use crate::Bdf;
use crate::access::{ConfigAccess, ConfigExt};
use crate::header::{HeaderType, Status, offset};

/// Most standard capabilities a walk visits: (256 - 64) / 4.
pub const MAX_CAPABILITIES: usize = 48;
/// Most extended capabilities a walk visits: (4096 - 256) / 4.
pub const MAX_EXTENDED_CAPABILITIES: usize = 960;

/// First offset after the header where capabilities may live.
const FIRST_CAPABILITY_OFFSET: u16 = 0x40;
/// Where the extended capability list starts (PCIe Base Specification §7.6).
pub const EXTENDED_CAPABILITIES_OFFSET: u16 = 0x100;

/// A standard Capability ID (PCI Code and ID Assignment Specification §2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CapabilityId {
    /// 0x01 PCI Power Management Interface.
    PowerManagement,
    /// 0x02 AGP.
    Agp,
    /// 0x03 Vital Product Data.
    VitalProductData,
    /// 0x04 Slot Identification.
    SlotIdentification,
    /// 0x05 Message Signaled Interrupts (PCI Local Bus 3.0 §6.8.1).
    Msi,
    /// 0x06 CompactPCI Hot Swap.
    CompactPciHotSwap,
    /// 0x07 PCI-X.
    PciX,
    /// 0x08 HyperTransport.
    HyperTransport,
    /// 0x09 Vendor Specific.
    VendorSpecific,
    /// 0x0A Debug port.
    DebugPort,
    /// 0x0B CompactPCI central resource control.
    CompactPciResourceControl,
    /// 0x0C PCI Hot-Plug.
    PciHotPlug,
    /// 0x0D PCI Bridge Subsystem Vendor ID.
    BridgeSubsystemVendorId,
    /// 0x0E AGP 8x.
    Agp8x,
    /// 0x0F Secure Device.
    SecureDevice,
    /// 0x10 PCI Express (PCIe Base Specification §7.5.3).
    PciExpress,
    /// 0x11 MSI-X (PCI Local Bus 3.0 §6.8.2).
    MsiX,
    /// 0x12 Serial ATA Data/Index Configuration.
    SataDataIndexConfiguration,
    /// 0x13 Advanced Features.
    AdvancedFeatures,
    /// 0x14 Enhanced Allocation.
    EnhancedAllocation,
    /// 0x15 Flattening Portal Bridge.
    FlatteningPortalBridge,
    /// An ID this crate does not name.
    Other(u8),
}

impl From<u8> for CapabilityId {
    fn from(id: u8) -> Self {
        match id {
            0x01 => Self::PowerManagement,
            0x02 => Self::Agp,
            0x03 => Self::VitalProductData,
            0x04 => Self::SlotIdentification,
            0x05 => Self::Msi,
            0x06 => Self::CompactPciHotSwap,
            0x07 => Self::PciX,
            0x08 => Self::HyperTransport,
            0x09 => Self::VendorSpecific,
            0x0a => Self::DebugPort,
            0x0b => Self::CompactPciResourceControl,
            0x0c => Self::PciHotPlug,
            0x0d => Self::BridgeSubsystemVendorId,
            0x0e => Self::Agp8x,
            0x0f => Self::SecureDevice,
            0x10 => Self::PciExpress,
            0x11 => Self::MsiX,
            0x12 => Self::SataDataIndexConfiguration,
            0x13 => Self::AdvancedFeatures,
            0x14 => Self::EnhancedAllocation,
            0x15 => Self::FlatteningPortalBridge,
            other => Self::Other(other),
        }
    }
}

/// A PCI Express Extended Capability ID (PCI Code and ID Assignment
/// Specification §3; PCIe Base Specification §7.6.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ExtendedCapabilityId {
    /// 0x0001 Advanced Error Reporting.
    AdvancedErrorReporting,
    /// 0x0002 Virtual Channel (without MFVC).
    VirtualChannel,
    /// 0x0003 Device Serial Number.
    DeviceSerialNumber,
    /// 0x0004 Power Budgeting.
    PowerBudgeting,
    /// 0x0005 Root Complex Link Declaration.
    RootComplexLinkDeclaration,
    /// 0x0006 Root Complex Internal Link Control.
    RootComplexInternalLinkControl,
    /// 0x0007 Root Complex Event Collector Endpoint Association.
    RootComplexEventCollectorEndpointAssociation,
    /// 0x0008 Multi-Function Virtual Channel.
    MultiFunctionVirtualChannel,
    /// 0x0009 Virtual Channel (with MFVC).
    VirtualChannelWithMfvc,
    /// 0x000A Root Complex Register Block.
    RootComplexRegisterBlock,
    /// 0x000B Vendor-Specific Extended Capability.
    VendorSpecific,
    /// 0x000C Configuration Access Correlation.
    ConfigurationAccessCorrelation,
    /// 0x000D Access Control Services.
    AccessControlServices,
    /// 0x000E Alternative Routing-ID Interpretation.
    AlternativeRoutingIdInterpretation,
    /// 0x000F Address Translation Services.
    AddressTranslationServices,
    /// 0x0010 Single Root I/O Virtualization.
    SingleRootIoVirtualization,
    /// 0x0011 Multi-Root I/O Virtualization.
    MultiRootIoVirtualization,
    /// 0x0012 Multicast.
    Multicast,
    /// 0x0013 Page Request Interface.
    PageRequest,
    /// 0x0015 Resizable BAR.
    ResizableBar,
    /// 0x0016 Dynamic Power Allocation.
    DynamicPowerAllocation,
    /// 0x0017 TPH Requester.
    TphRequester,
    /// 0x0018 Latency Tolerance Reporting.
    LatencyToleranceReporting,
    /// 0x0019 Secondary PCI Express.
    SecondaryPciExpress,
    /// 0x001A Protocol Multiplexing.
    ProtocolMultiplexing,
    /// 0x001B Process Address Space ID.
    ProcessAddressSpaceId,
    /// 0x001C LN Requester.
    LnRequester,
    /// 0x001D Downstream Port Containment.
    DownstreamPortContainment,
    /// 0x001E L1 PM Substates.
    L1PmSubstates,
    /// 0x001F Precision Time Measurement.
    PrecisionTimeMeasurement,
    /// 0x0023 Designated Vendor-Specific Extended Capability.
    DesignatedVendorSpecific,
    /// 0x0025 Data Link Feature.
    DataLinkFeature,
    /// 0x0026 Physical Layer 16.0 GT/s.
    PhysicalLayer16,
    /// An ID this crate does not name.
    Other(u16),
}

impl From<u16> for ExtendedCapabilityId {
    fn from(id: u16) -> Self {
        match id {
            0x0001 => Self::AdvancedErrorReporting,
            0x0002 => Self::VirtualChannel,
            0x0003 => Self::DeviceSerialNumber,
            0x0004 => Self::PowerBudgeting,
            0x0005 => Self::RootComplexLinkDeclaration,
            0x0006 => Self::RootComplexInternalLinkControl,
            0x0007 => Self::RootComplexEventCollectorEndpointAssociation,
            0x0008 => Self::MultiFunctionVirtualChannel,
            0x0009 => Self::VirtualChannelWithMfvc,
            0x000a => Self::RootComplexRegisterBlock,
            0x000b => Self::VendorSpecific,
            0x000c => Self::ConfigurationAccessCorrelation,
            0x000d => Self::AccessControlServices,
            0x000e => Self::AlternativeRoutingIdInterpretation,
            0x000f => Self::AddressTranslationServices,
            0x0010 => Self::SingleRootIoVirtualization,
            0x0011 => Self::MultiRootIoVirtualization,
            0x0012 => Self::Multicast,
            0x0013 => Self::PageRequest,
            0x0015 => Self::ResizableBar,
            0x0016 => Self::DynamicPowerAllocation,
            0x0017 => Self::TphRequester,
            0x0018 => Self::LatencyToleranceReporting,
            0x0019 => Self::SecondaryPciExpress,
            0x001a => Self::ProtocolMultiplexing,
            0x001b => Self::ProcessAddressSpaceId,
            0x001c => Self::LnRequester,
            0x001d => Self::DownstreamPortContainment,
            0x001e => Self::L1PmSubstates,
            0x001f => Self::PrecisionTimeMeasurement,
            0x0023 => Self::DesignatedVendorSpecific,
            0x0025 => Self::DataLinkFeature,
            0x0026 => Self::PhysicalLayer16,
            other => Self::Other(other),
        }
    }
}

/// One entry of the standard capability list.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Capability {
    /// Capability ID (byte 0 of the entry).
    pub id: CapabilityId,
    /// Offset of the entry in configuration space.
    pub offset: u16,
}

/// One entry of the extended capability list.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ExtendedCapability {
    /// PCI Express Extended Capability ID, header bits 15:0.
    pub id: ExtendedCapabilityId,
    /// Capability Version, header bits 19:16.
    pub version: u8,
    /// Offset of the entry in configuration space.
    pub offset: u16,
}

/// Why a capability walk stopped before the end of the list.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CapabilityError {
    /// An entry points at an entry already visited.
    Loop {
        /// Offset of the entry that was reached twice.
        offset: u16,
    },
    /// A pointer is outside the area where the list may live.
    BadPointer {
        /// The pointer read.
        pointer: u16,
    },
    /// The walk visited the maximum number of entries.
    TooMany,
}

/// A set of dword offsets within configuration space, used to detect loops.
#[derive(Clone, Debug)]
struct Visited([u64; 16]);

impl Visited {
    /// Marks `offset`; false when it was already marked.
    fn insert(&mut self, offset: u16) -> bool {
        let dword = usize::from(offset / 4);
        let (word, bit) = (dword / 64, dword % 64);
        let was = self.0[word] & (1 << bit) != 0;
        self.0[word] |= 1 << bit;
        !was
    }
}

/// Iterator over the standard capability list of one function; see [`capabilities`].
#[derive(Debug)]
pub struct Capabilities<'a, A: ?Sized> {
    cfg: &'a A,
    bdf: Bdf,
    next: u16,
    visited: Visited,
    count: usize,
    error: Option<CapabilityError>,
}

impl<A: ?Sized> Capabilities<'_, A> {
    /// Why the walk stopped early, if it did.
    pub fn error(&self) -> Option<CapabilityError> {
        self.error
    }

    fn stop(&mut self, error: CapabilityError) -> Option<Capability> {
        log::warn!("pci {}: capability list: {:?}", self.bdf, error);
        self.error = Some(error);
        self.next = 0;
        None
    }
}

/// Byte 1 of a standard capability entry: Next Capability Pointer.
const NEXT_POINTER_OFFSET: u16 = 1;
/// The two low bits of capability pointers are reserved (PCI Local Bus 3.0 §6.7).
const POINTER_MASK: u16 = 0xfc;

/// Walks the standard capability list of `bdf` (PCI Local Bus 3.0 §6.7): empty
/// when Status.Capabilities List is clear or the function is absent.
pub fn capabilities<A: ConfigAccess + ?Sized>(cfg: &A, bdf: Bdf) -> Capabilities<'_, A> {
    let status = cfg.read16(bdf, offset::STATUS);
    let header = HeaderType(cfg.read8(bdf, offset::HEADER_TYPE));
    let next = match header.capabilities_pointer() {
        Some(pointer)
            if status != u16::MAX
                && Status::from_bits_retain(status).contains(Status::CAPABILITIES_LIST) =>
        {
            u16::from(cfg.read8(bdf, pointer)) & POINTER_MASK
        }
        _ => 0,
    };
    Capabilities {
        cfg,
        bdf,
        next,
        visited: Visited([0; 16]),
        count: 0,
        error: None,
    }
}

impl<A: ConfigAccess + ?Sized> Iterator for Capabilities<'_, A> {
    type Item = Capability;

    fn next(&mut self) -> Option<Capability> {
        let at = self.next;
        if at == 0 {
            return None;
        }
        if !(FIRST_CAPABILITY_OFFSET..EXTENDED_CAPABILITIES_OFFSET).contains(&at) {
            return self.stop(CapabilityError::BadPointer { pointer: at });
        }
        if self.count >= MAX_CAPABILITIES {
            return self.stop(CapabilityError::TooMany);
        }
        if !self.visited.insert(at) {
            return self.stop(CapabilityError::Loop { offset: at });
        }
        self.count += 1;
        let id = self.cfg.read8(self.bdf, at);
        self.next = u16::from(self.cfg.read8(self.bdf, at + NEXT_POINTER_OFFSET)) & POINTER_MASK;
        Some(Capability {
            id: CapabilityId::from(id),
            offset: at,
        })
    }
}

/// Iterator over the extended capability list of one function; see
/// [`extended_capabilities`].
#[derive(Debug)]
pub struct ExtendedCapabilities<'a, A: ?Sized> {
    cfg: &'a A,
    bdf: Bdf,
    next: u16,
    visited: Visited,
    count: usize,
    error: Option<CapabilityError>,
}

impl<A: ?Sized> ExtendedCapabilities<'_, A> {
    /// Why the walk stopped early, if it did.
    pub fn error(&self) -> Option<CapabilityError> {
        self.error
    }

    fn stop(&mut self, error: CapabilityError) -> Option<ExtendedCapability> {
        log::warn!("pci {}: extended capability list: {:?}", self.bdf, error);
        self.error = Some(error);
        self.next = 0;
        None
    }
}

/// Decoded PCI Express Extended Capability Header (PCIe Base Specification §7.6.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct ExtendedHeader(u32);

impl ExtendedHeader {
    fn id(self) -> u16 {
        self.0 as u16
    }
    fn version(self) -> u8 {
        ((self.0 >> 16) & 0xf) as u8
    }
    /// Next Capability Offset, bits 31:20 (low two bits reserved).
    fn next(self) -> u16 {
        ((self.0 >> 20) as u16) & !3
    }
}

/// Walks the extended capability list of `bdf` from offset 0x100 (PCIe Base
/// Specification §7.6): empty when the access mechanism reaches only 256 bytes,
/// or the header at 0x100 is 0 or all-ones.
pub fn extended_capabilities<A: ConfigAccess + ?Sized>(
    cfg: &A,
    bdf: Bdf,
) -> ExtendedCapabilities<'_, A> {
    let next = if cfg.max_offset() >= crate::access::ECAM_MAX_OFFSET {
        EXTENDED_CAPABILITIES_OFFSET
    } else {
        0
    };
    ExtendedCapabilities {
        cfg,
        bdf,
        next,
        visited: Visited([0; 16]),
        count: 0,
        error: None,
    }
}

impl<A: ConfigAccess + ?Sized> Iterator for ExtendedCapabilities<'_, A> {
    type Item = ExtendedCapability;

    fn next(&mut self) -> Option<ExtendedCapability> {
        let at = self.next;
        if at == 0 {
            return None;
        }
        if !(EXTENDED_CAPABILITIES_OFFSET..=crate::access::ECAM_MAX_OFFSET - 3).contains(&at) {
            return self.stop(CapabilityError::BadPointer { pointer: at });
        }
        if self.count >= MAX_EXTENDED_CAPABILITIES {
            return self.stop(CapabilityError::TooMany);
        }
        if !self.visited.insert(at) {
            return self.stop(CapabilityError::Loop { offset: at });
        }
        let header = ExtendedHeader(self.cfg.read32(self.bdf, at));
        // An empty list has a zero header at 0x100; all-ones means absent.
        if header.0 == 0 || header.0 == u32::MAX {
            self.next = 0;
            return None;
        }
        self.count += 1;
        self.next = header.next();
        Some(ExtendedCapability {
            id: ExtendedCapabilityId::from(header.id()),
            version: header.version(),
            offset: at,
        })
    }
}

/// Offset of the first standard capability of `bdf` with `id`.
pub fn find_capability<A: ConfigAccess + ?Sized>(
    cfg: &A,
    bdf: Bdf,
    id: CapabilityId,
) -> Option<u16> {
    capabilities(cfg, bdf)
        .find(|c| c.id == id)
        .map(|c| c.offset)
}

/// Offset of the first extended capability of `bdf` with `id`.
pub fn find_extended_capability<A: ConfigAccess + ?Sized>(
    cfg: &A,
    bdf: Bdf,
    id: ExtendedCapabilityId,
) -> Option<u16> {
    extended_capabilities(cfg, bdf)
        .find(|c| c.id == id)
        .map(|c| c.offset)
}
