//! The configuration-space header: register offsets, the Command and Status
//! registers, the header type and class code (PCI Local Bus 3.0 §6.2; PCIe Base
//! Specification §7.5.1, "PCI-Compatible Configuration Registers").

use bitflags::bitflags;

/// Offsets of the header registers (PCIe Base Specification §7.5.1.1 for the
/// registers common to all headers, §7.5.1.2 for Type 0, §7.5.1.3 for Type 1).
pub mod offset {
    /// Vendor ID (16 bits); 0xffff when no function answers.
    pub const VENDOR_ID: u16 = 0x00;
    /// Device ID (16 bits).
    pub const DEVICE_ID: u16 = 0x02;
    /// Command register (16 bits), §7.5.1.1.3.
    pub const COMMAND: u16 = 0x04;
    /// Status register (16 bits, RW1C error bits), §7.5.1.1.4.
    pub const STATUS: u16 = 0x06;
    /// Revision ID (8 bits).
    pub const REVISION_ID: u16 = 0x08;
    /// Programming interface byte of the Class Code.
    pub const PROG_IF: u16 = 0x09;
    /// Sub-class byte of the Class Code.
    pub const SUB_CLASS: u16 = 0x0a;
    /// Base class byte of the Class Code.
    pub const BASE_CLASS: u16 = 0x0b;
    /// Cache Line Size (8 bits).
    pub const CACHE_LINE_SIZE: u16 = 0x0c;
    /// Latency Timer (8 bits).
    pub const LATENCY_TIMER: u16 = 0x0d;
    /// Header Type (8 bits): layout in bits 6:0, multi-function in bit 7.
    pub const HEADER_TYPE: u16 = 0x0e;
    /// BIST (8 bits).
    pub const BIST: u16 = 0x0f;
    /// Base Address Register 0; BAR n is at `BAR0 + 4 * n`.
    pub const BAR0: u16 = 0x10;
    /// Type 0: Expansion ROM Base Address (§7.5.1.2.4); bit 0 enables decoding.
    pub const EXPANSION_ROM: u16 = 0x30;
    /// Capabilities Pointer of Type 0 and Type 1 headers (8 bits).
    pub const CAPABILITIES_POINTER: u16 = 0x34;
    /// Interrupt Line (8 bits).
    pub const INTERRUPT_LINE: u16 = 0x3c;
    /// Interrupt Pin (8 bits).
    pub const INTERRUPT_PIN: u16 = 0x3d;

    /// Type 1: Primary Bus Number (8 bits).
    pub const PRIMARY_BUS_NUMBER: u16 = 0x18;
    /// Type 1: Secondary Bus Number (8 bits).
    pub const SECONDARY_BUS_NUMBER: u16 = 0x19;
    /// Type 1: Subordinate Bus Number (8 bits).
    pub const SUBORDINATE_BUS_NUMBER: u16 = 0x1a;
    /// Type 1: Secondary Latency Timer (8 bits).
    pub const SECONDARY_LATENCY_TIMER: u16 = 0x1b;
    /// Type 1: I/O Base (8 bits: address[15:12] in bits 7:4, decode width in 3:0).
    pub const IO_BASE: u16 = 0x1c;
    /// Type 1: I/O Limit (8 bits).
    pub const IO_LIMIT: u16 = 0x1d;
    /// Type 1: Secondary Status (16 bits, RW1C error bits), §7.5.1.3.7.
    pub const SECONDARY_STATUS: u16 = 0x1e;
    /// Type 1: Memory Base (16 bits: address[31:20] in bits 15:4).
    pub const MEMORY_BASE: u16 = 0x20;
    /// Type 1: Memory Limit (16 bits).
    pub const MEMORY_LIMIT: u16 = 0x22;
    /// Type 1: Prefetchable Memory Base (16 bits, decode width in 3:0).
    pub const PREFETCHABLE_MEMORY_BASE: u16 = 0x24;
    /// Type 1: Prefetchable Memory Limit (16 bits).
    pub const PREFETCHABLE_MEMORY_LIMIT: u16 = 0x26;
    /// Type 1: Prefetchable Base Upper 32 Bits.
    pub const PREFETCHABLE_BASE_UPPER_32: u16 = 0x28;
    /// Type 1: Prefetchable Limit Upper 32 Bits.
    pub const PREFETCHABLE_LIMIT_UPPER_32: u16 = 0x2c;
    /// Type 1: I/O Base Upper 16 Bits.
    pub const IO_BASE_UPPER_16: u16 = 0x30;
    /// Type 1: I/O Limit Upper 16 Bits.
    pub const IO_LIMIT_UPPER_16: u16 = 0x32;
    /// Type 1: Bridge Control (16 bits).
    pub const BRIDGE_CONTROL: u16 = 0x3e;

    /// Type 2 (CardBus): Capabilities Pointer.
    pub const CARDBUS_CAPABILITIES_POINTER: u16 = 0x14;
    /// Type 2 (CardBus): Secondary Status (16 bits, RW1C error bits).
    pub const CARDBUS_SECONDARY_STATUS: u16 = 0x16;
}

/// The value every register of an absent function reads as.
pub const ABSENT_VENDOR_ID: u16 = 0xffff;

bitflags! {
    /// The Command register (PCIe Base Specification §7.5.1.1.3; PCI Local Bus 3.0 §6.2.2).
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct Command: u16 {
        /// I/O Space Enable: the function decodes its I/O BARs.
        const IO_SPACE = 1 << 0;
        /// Memory Space Enable: the function decodes its memory BARs.
        const MEMORY_SPACE = 1 << 1;
        /// Bus Master Enable: the function may issue memory requests (DMA, MSI).
        const BUS_MASTER = 1 << 2;
        /// Special Cycle Enable (conventional PCI only).
        const SPECIAL_CYCLES = 1 << 3;
        /// Memory Write and Invalidate (conventional PCI only).
        const MEMORY_WRITE_AND_INVALIDATE = 1 << 4;
        /// VGA Palette Snoop (conventional PCI only).
        const VGA_PALETTE_SNOOP = 1 << 5;
        /// Parity Error Response.
        const PARITY_ERROR_RESPONSE = 1 << 6;
        /// IDSEL Stepping / Wait Cycle Control (hardwired 0 on PCIe).
        const IDSEL_STEPPING = 1 << 7;
        /// SERR# Enable.
        const SERR_ENABLE = 1 << 8;
        /// Fast Back-to-Back Transactions Enable (conventional PCI only).
        const FAST_BACK_TO_BACK = 1 << 9;
        /// Interrupt Disable: the function may not assert INTx.
        const INTERRUPT_DISABLE = 1 << 10;
    }
}

bitflags! {
    /// The Status register (PCIe Base Specification §7.5.1.1.4; PCI Local Bus 3.0 §6.2.3).
    ///
    /// The error bits ([`Status::RW1C`]) are write-1-to-clear: writing back a
    /// value read from this register clears them. See [`crate::ConfigExt::write16`].
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct Status: u16 {
        /// Immediate Readiness.
        const IMMEDIATE_READINESS = 1 << 0;
        /// Interrupt Status: INTx is pending.
        const INTERRUPT_STATUS = 1 << 3;
        /// Capabilities List: the Capabilities Pointer is valid.
        const CAPABILITIES_LIST = 1 << 4;
        /// 66 MHz Capable (conventional PCI only).
        const MHZ_66_CAPABLE = 1 << 5;
        /// Fast Back-to-Back Transactions Capable (conventional PCI only).
        const FAST_BACK_TO_BACK_CAPABLE = 1 << 7;
        /// Master Data Parity Error (RW1C).
        const MASTER_DATA_PARITY_ERROR = 1 << 8;
        /// DEVSEL timing, bits 10:9 (conventional PCI only).
        const DEVSEL_TIMING = 0b11 << 9;
        /// Signaled Target Abort (RW1C).
        const SIGNALED_TARGET_ABORT = 1 << 11;
        /// Received Target Abort (RW1C).
        const RECEIVED_TARGET_ABORT = 1 << 12;
        /// Received Master Abort (RW1C).
        const RECEIVED_MASTER_ABORT = 1 << 13;
        /// Signaled System Error (RW1C).
        const SIGNALED_SYSTEM_ERROR = 1 << 14;
        /// Detected Parity Error (RW1C).
        const DETECTED_PARITY_ERROR = 1 << 15;
    }
}

impl Status {
    /// Every write-1-to-clear bit of the register.
    pub const RW1C: Self = Self::MASTER_DATA_PARITY_ERROR
        .union(Self::SIGNALED_TARGET_ABORT)
        .union(Self::RECEIVED_TARGET_ABORT)
        .union(Self::RECEIVED_MASTER_ABORT)
        .union(Self::SIGNALED_SYSTEM_ERROR)
        .union(Self::DETECTED_PARITY_ERROR);
}

/// The layout field of the Header Type register, bits 6:0 (PCIe Base
/// Specification §7.5.1.1.9).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HeaderLayout {
    /// Type 0: an endpoint (six BARs).
    Type0,
    /// Type 1: a PCI-to-PCI bridge, switch port or root port (two BARs).
    Type1,
    /// Type 2: a CardBus bridge (conventional PCI only).
    CardBus,
    /// A reserved encoding; the function is reported but not configured.
    Reserved(u8),
}

/// The Header Type register.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct HeaderType(pub u8);

impl HeaderType {
    /// Bit 7: Multi-Function Device (meaningful in function 0).
    pub const MULTI_FUNCTION: u8 = 1 << 7;
    /// Bits 6:0: the header layout.
    const LAYOUT_MASK: u8 = 0x7f;

    /// The header layout.
    pub const fn layout(self) -> HeaderLayout {
        match self.0 & Self::LAYOUT_MASK {
            0 => HeaderLayout::Type0,
            1 => HeaderLayout::Type1,
            2 => HeaderLayout::CardBus,
            other => HeaderLayout::Reserved(other),
        }
    }

    /// Whether function 0 declares functions 1..=7 may exist.
    pub const fn multi_function(self) -> bool {
        self.0 & Self::MULTI_FUNCTION != 0
    }

    /// Number of Base Address Registers the layout has (6 for Type 0, 2 for
    /// Type 1, none otherwise).
    pub const fn bar_count(self) -> u8 {
        match self.layout() {
            HeaderLayout::Type0 => 6,
            HeaderLayout::Type1 => 2,
            _ => 0,
        }
    }

    /// Offset of the Capabilities Pointer for this layout, if it has one.
    pub const fn capabilities_pointer(self) -> Option<u16> {
        match self.layout() {
            HeaderLayout::Type0 | HeaderLayout::Type1 => Some(offset::CAPABILITIES_POINTER),
            HeaderLayout::CardBus => Some(offset::CARDBUS_CAPABILITIES_POINTER),
            HeaderLayout::Reserved(_) => None,
        }
    }
}

/// The Class Code register (PCIe Base Specification §7.5.1.1.6; values in the
/// PCI Code and ID Assignment Specification).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ClassCode {
    /// Base class (offset 0x0b).
    pub base: u8,
    /// Sub-class (offset 0x0a).
    pub sub: u8,
    /// Programming interface (offset 0x09).
    pub prog_if: u8,
}

impl ClassCode {
    /// Base class 0x06, sub-class 0x04: PCI-to-PCI bridge.
    pub const fn is_pci_bridge(self) -> bool {
        self.base == 0x06 && self.sub == 0x04
    }

    /// The 24-bit value, base class in bits 23:16.
    pub const fn value(self) -> u32 {
        (self.base as u32) << 16 | (self.sub as u32) << 8 | self.prog_if as u32
    }
}
