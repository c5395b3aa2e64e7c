//! The PCI Express Capability (PCIe Base Specification §7.5.3).

use bitflags::bitflags;

use crate::Bdf;
use crate::access::{ConfigAccess, ConfigExt};
use crate::capability::{CapabilityId, find_capability};

/// Offsets within the PCI Express Capability (§7.5.3).
pub mod offset {
    /// PCI Express Capabilities Register (16 bits), §7.5.3.2.
    pub const CAPABILITIES: u16 = 0x02;
    /// Device Capabilities Register, §7.5.3.3.
    pub const DEVICE_CAPABILITIES: u16 = 0x04;
    /// Device Control Register (16 bits), §7.5.3.4.
    pub const DEVICE_CONTROL: u16 = 0x08;
    /// Device Status Register (16 bits, RW1C bits), §7.5.3.5.
    pub const DEVICE_STATUS: u16 = 0x0a;
    /// Link Capabilities Register, §7.5.3.6.
    pub const LINK_CAPABILITIES: u16 = 0x0c;
    /// Link Control Register (16 bits), §7.5.3.7.
    pub const LINK_CONTROL: u16 = 0x10;
    /// Link Status Register (16 bits, RW1C bits), §7.5.3.8.
    pub const LINK_STATUS: u16 = 0x12;
    /// Slot Control Register (16 bits), §7.5.3.10.
    pub const SLOT_CONTROL: u16 = 0x18;
    /// Root Control Register (16 bits), §7.5.3.12.
    pub const ROOT_CONTROL: u16 = 0x1c;
    /// Root Capabilities Register (16 bits), §7.5.3.13.
    pub const ROOT_CAPABILITIES: u16 = 0x1e;
    /// Slot Status Register (16 bits, RW1C bits), §7.5.3.11.
    pub const SLOT_STATUS: u16 = 0x1a;
    /// Device Capabilities 2 Register, §7.5.3.15.
    pub const DEVICE_CAPABILITIES_2: u16 = 0x24;
    /// Device Control 2 Register (16 bits), §7.5.3.16.
    pub const DEVICE_CONTROL_2: u16 = 0x28;
    /// Link Control 2 Register (16 bits), §7.5.3.19.
    pub const LINK_CONTROL_2: u16 = 0x30;
    /// Link Status 2 Register (16 bits, RW1C bits), §7.5.3.20.
    pub const LINK_STATUS_2: u16 = 0x32;
}

/// Device/Port Type, PCI Express Capabilities Register bits 7:4 (§7.5.3.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DevicePortType {
    /// 0b0000 PCI Express Endpoint.
    Endpoint,
    /// 0b0001 Legacy PCI Express Endpoint.
    LegacyEndpoint,
    /// 0b1001 Root Complex Integrated Endpoint.
    RootComplexIntegratedEndpoint,
    /// 0b1010 Root Complex Event Collector.
    RootComplexEventCollector,
    /// 0b0100 Root Port of PCI Express Root Complex.
    RootPort,
    /// 0b0101 Upstream Port of PCI Express Switch.
    SwitchUpstreamPort,
    /// 0b0110 Downstream Port of PCI Express Switch.
    SwitchDownstreamPort,
    /// 0b0111 PCI Express to PCI/PCI-X Bridge.
    PcieToPciBridge,
    /// 0b1000 PCI/PCI-X to PCI Express Bridge.
    PciToPcieBridge,
    /// A reserved encoding.
    Reserved(u8),
}

impl From<u8> for DevicePortType {
    fn from(value: u8) -> Self {
        match value {
            0b0000 => Self::Endpoint,
            0b0001 => Self::LegacyEndpoint,
            0b1001 => Self::RootComplexIntegratedEndpoint,
            0b1010 => Self::RootComplexEventCollector,
            0b0100 => Self::RootPort,
            0b0101 => Self::SwitchUpstreamPort,
            0b0110 => Self::SwitchDownstreamPort,
            0b0111 => Self::PcieToPciBridge,
            0b1000 => Self::PciToPcieBridge,
            other => Self::Reserved(other),
        }
    }
}

bitflags! {
    /// The Device Control Register (§7.5.3.4).
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct DeviceControl: u16 {
        /// Correctable Error Reporting Enable.
        const CORRECTABLE_ERROR_REPORTING = 1 << 0;
        /// Non-Fatal Error Reporting Enable.
        const NON_FATAL_ERROR_REPORTING = 1 << 1;
        /// Fatal Error Reporting Enable.
        const FATAL_ERROR_REPORTING = 1 << 2;
        /// Unsupported Request Reporting Enable.
        const UNSUPPORTED_REQUEST_REPORTING = 1 << 3;
        /// Enable Relaxed Ordering.
        const RELAXED_ORDERING = 1 << 4;
        /// Max_Payload_Size, bits 7:5 (128 << value bytes).
        const MAX_PAYLOAD_SIZE = 0b111 << 5;
        /// Extended Tag Field Enable.
        const EXTENDED_TAG = 1 << 8;
        /// Phantom Functions Enable.
        const PHANTOM_FUNCTIONS = 1 << 9;
        /// Aux Power PM Enable.
        const AUX_POWER_PM = 1 << 10;
        /// Enable No Snoop.
        const NO_SNOOP = 1 << 11;
        /// Max_Read_Request_Size, bits 14:12 (128 << value bytes).
        const MAX_READ_REQUEST_SIZE = 0b111 << 12;
        /// Bridge Configuration Retry Enable / Initiate Function Level Reset.
        const INITIATE_FLR = 1 << 15;
    }
}

bitflags! {
    /// The Device Status Register (§7.5.3.5); error bits are RW1C.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct DeviceStatus: u16 {
        /// Correctable Error Detected (RW1C).
        const CORRECTABLE_ERROR_DETECTED = 1 << 0;
        /// Non-Fatal Error Detected (RW1C).
        const NON_FATAL_ERROR_DETECTED = 1 << 1;
        /// Fatal Error Detected (RW1C).
        const FATAL_ERROR_DETECTED = 1 << 2;
        /// Unsupported Request Detected (RW1C).
        const UNSUPPORTED_REQUEST_DETECTED = 1 << 3;
        /// AUX Power Detected.
        const AUX_POWER_DETECTED = 1 << 4;
        /// Transactions Pending.
        const TRANSACTIONS_PENDING = 1 << 5;
        /// Emergency Power Reduction Detected (RW1C).
        const EMERGENCY_POWER_REDUCTION_DETECTED = 1 << 6;
    }
}

/// A payload or read-request size encoding (128 << encoding bytes).
const fn size_from_encoding(encoding: u16) -> u16 {
    128 << if encoding > 5 { 5 } else { encoding }
}

/// The PCI Express Capability of one function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PciExpress {
    /// The function.
    pub bdf: Bdf,
    /// Offset of the capability.
    pub offset: u16,
}

/// Link speed and width from Link Capabilities or Link Status (§7.5.3.6, §7.5.3.8).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Link {
    /// Link speed: an index into the Supported Link Speeds Vector (1 = 2.5 GT/s,
    /// 2 = 5.0 GT/s, 3 = 8.0 GT/s, 4 = 16.0 GT/s, 5 = 32.0 GT/s, 6 = 64.0 GT/s).
    pub speed: u8,
    /// Link width in lanes.
    pub width: u8,
}

impl Link {
    /// Bits 3:0 speed, 9:4 width: the same in both registers.
    fn decode(value: u32) -> Self {
        Self {
            speed: (value & 0xf) as u8,
            width: ((value >> 4) & 0x3f) as u8,
        }
    }
}

impl PciExpress {
    /// Device/Port Type field of the Capabilities Register.
    const DEVICE_PORT_TYPE_SHIFT: u16 = 4;
    /// Capability Version field, bits 3:0.
    const VERSION_MASK: u16 = 0xf;
    /// Max_Payload_Size Supported, Device Capabilities bits 2:0.
    const MAX_PAYLOAD_SIZE_SUPPORTED_MASK: u32 = 0b111;
    /// Port Number, Link Capabilities bits 31:24.
    const PORT_NUMBER_SHIFT: u32 = 24;

    /// The PCI Express Capability of `bdf`, if it has one.
    pub fn find<A: ConfigAccess + ?Sized>(cfg: &A, bdf: Bdf) -> Option<Self> {
        find_capability(cfg, bdf, CapabilityId::PciExpress).map(|offset| Self { bdf, offset })
    }

    /// Capability Version.
    pub fn version<A: ConfigAccess + ?Sized>(&self, cfg: &A) -> u8 {
        (cfg.read16(self.bdf, self.offset + offset::CAPABILITIES) & Self::VERSION_MASK) as u8
    }

    /// Device/Port Type.
    pub fn device_port_type<A: ConfigAccess + ?Sized>(&self, cfg: &A) -> DevicePortType {
        let caps = cfg.read16(self.bdf, self.offset + offset::CAPABILITIES);
        DevicePortType::from(((caps >> Self::DEVICE_PORT_TYPE_SHIFT) & 0xf) as u8)
    }

    /// Max_Payload_Size Supported, in bytes.
    pub fn max_payload_size_supported<A: ConfigAccess + ?Sized>(&self, cfg: &A) -> u16 {
        let caps = cfg.read32(self.bdf, self.offset + offset::DEVICE_CAPABILITIES);
        size_from_encoding((caps & Self::MAX_PAYLOAD_SIZE_SUPPORTED_MASK) as u16)
    }

    /// Device Control.
    pub fn device_control<A: ConfigAccess + ?Sized>(&self, cfg: &A) -> DeviceControl {
        DeviceControl::from_bits_retain(cfg.read16(self.bdf, self.offset + offset::DEVICE_CONTROL))
    }

    /// Writes Device Control (Device Status, its dword partner, receives 0).
    pub fn set_device_control<A: ConfigAccess + ?Sized>(&self, cfg: &A, control: DeviceControl) {
        cfg.write16(
            self.bdf,
            self.offset + offset::DEVICE_CONTROL,
            control.bits(),
        );
    }

    /// Programmed Max_Payload_Size, in bytes.
    pub fn max_payload_size<A: ConfigAccess + ?Sized>(&self, cfg: &A) -> u16 {
        let control = self.device_control(cfg) & DeviceControl::MAX_PAYLOAD_SIZE;
        size_from_encoding(control.bits() >> 5)
    }

    /// Device Status.
    pub fn device_status<A: ConfigAccess + ?Sized>(&self, cfg: &A) -> DeviceStatus {
        DeviceStatus::from_bits_retain(cfg.read16(self.bdf, self.offset + offset::DEVICE_STATUS))
    }

    /// Maximum link speed and width (Link Capabilities).
    pub fn link_capabilities<A: ConfigAccess + ?Sized>(&self, cfg: &A) -> Link {
        Link::decode(cfg.read32(self.bdf, self.offset + offset::LINK_CAPABILITIES))
    }

    /// Port Number (Link Capabilities bits 31:24).
    pub fn port_number<A: ConfigAccess + ?Sized>(&self, cfg: &A) -> u8 {
        (cfg.read32(self.bdf, self.offset + offset::LINK_CAPABILITIES) >> Self::PORT_NUMBER_SHIFT)
            as u8
    }

    /// Turns on Configuration RRS (formerly CRS) Software Visibility in a Root
    /// Port that implements it (Root Capabilities bit 0, Root Control bit 4,
    /// §7.5.3.12-13): a function that is not ready after a reset then answers
    /// a Vendor ID read with 0001h instead of the Root Port retrying the
    /// request in hardware, which can stall the CPU. Whether it is on now.
    pub fn enable_rrs_visibility<A: ConfigAccess + ?Sized>(&self, cfg: &A) -> bool {
        const VISIBILITY: u16 = 1 << 0;
        const VISIBILITY_ENABLE: u16 = 1 << 4;
        if self.device_port_type(cfg) != DevicePortType::RootPort {
            return false;
        }
        let caps = cfg.read16(self.bdf, self.offset + offset::ROOT_CAPABILITIES);
        if caps == u16::MAX || caps & VISIBILITY == 0 {
            return false;
        }
        let at = self.offset + offset::ROOT_CONTROL;
        cfg.write16(self.bdf, at, cfg.read16(self.bdf, at) | VISIBILITY_ENABLE);
        cfg.read16(self.bdf, at) & VISIBILITY_ENABLE != 0
    }

    /// Whether the port reports Data Link Layer Link Active (Link
    /// Capabilities bit 20, §7.5.3.6) and, if so, whether the link is active
    /// (Link Status bit 13, §7.5.3.8). `None` without the capability.
    pub fn data_link_active<A: ConfigAccess + ?Sized>(&self, cfg: &A) -> Option<bool> {
        const REPORTING_CAPABLE: u32 = 1 << 20;
        const ACTIVE: u16 = 1 << 13;
        let caps = cfg.read32(self.bdf, self.offset + offset::LINK_CAPABILITIES);
        if caps == u32::MAX || caps & REPORTING_CAPABLE == 0 {
            return None;
        }
        Some(cfg.read16(self.bdf, self.offset + offset::LINK_STATUS) & ACTIVE != 0)
    }

    /// Current link speed and negotiated width (Link Status).
    pub fn link_status<A: ConfigAccess + ?Sized>(&self, cfg: &A) -> Link {
        Link::decode(u32::from(
            cfg.read16(self.bdf, self.offset + offset::LINK_STATUS),
        ))
    }
}
