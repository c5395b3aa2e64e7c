//! Configuration-space access: the [`ConfigAccess`] trait the kernel implements,
//! the pure address computations of the two access mechanisms, and the 8/16-bit
//! accessors built on 32-bit accesses ([`ConfigExt`]).
//!
//! # Never write back write-1-to-clear bits
//!
//! Hardware is accessed one aligned dword at a time, so a 16-bit or 8-bit write
//! is a read-modify-write of the dword. Several 16-bit registers share their
//! dword with a *status* register whose error bits are RW1C (write 1 to clear):
//! writing back the value read would clear every error bit that was set. The
//! rule applied by [`ConfigExt::write16`] and [`ConfigExt::write8`]:
//!
//! > In the dword being written, every 16-bit half that is a known status
//! > register and is not the register being written receives 0 (which leaves RW1C
//! > bits untouched and has no effect on read-only bits); all other bytes keep
//! > the value read.
//!
//! The known status registers (see [`status_halves`]) are the Status register
//! (PCIe Base Specification §7.5.1.1.4, partner of Command), the Type 1
//! Secondary Status (§7.5.1.3.7, partner of I/O Base/Limit), the CardBus
//! Secondary Status, the Device, Link, Slot and Link 2 Status registers of the
//! PCI Express Capability (§7.5.3, partners of the matching Control registers)
//! and the Page Request Status register (§10.5.2.3, partner of Page Request
//! Control). Writing a status register itself stores the value given, so
//! `write16(bdf, STATUS, Status::RECEIVED_MASTER_ABORT.bits())` clears exactly
//! that bit and keeps Command unchanged.

use crate::Bdf;
use crate::BusRange;
use crate::capability::{CapabilityId, ExtendedCapabilityId, capabilities, extended_capabilities};
use crate::express::offset as pcie;
use crate::header::{HeaderLayout, HeaderType, offset};
use crate::pri::offset as pri;

/// Access to the configuration space of the functions of one PCI segment.
///
/// The kernel implements it with ECAM (memory-mapped, 4096 bytes per function,
/// PCIe Base Specification §7.2.2; see [`ecam_offset`]) or with the x86 port
/// I/O mechanism (0xCF8/0xCFC, 256 bytes per function, PCI Local Bus 3.0
/// §3.2.2.3.2; see [`port_io_address`]). This crate only calls these methods
/// with a dword-aligned `offset` no greater than `max_offset() - 3`.
pub trait ConfigAccess {
    /// Reads the aligned dword at `offset` of `bdf`. A function that does not
    /// exist (or a bus that is not decoded) reads as all-ones.
    fn read32(&self, bdf: Bdf, offset: u16) -> u32;

    /// Writes the aligned dword at `offset` of `bdf`; ignored when the function
    /// does not exist.
    fn write32(&self, bdf: Bdf, offset: u16, value: u32);

    /// The last valid byte offset of a function's configuration space:
    /// [`ECAM_MAX_OFFSET`] (0xfff) for ECAM, [`PORT_IO_MAX_OFFSET`] (0xff) for
    /// port I/O. Extended capabilities (at 0x100 and above) are only walked
    /// when this is at least 0xfff.
    fn max_offset(&self) -> u16;
}

/// [`ConfigAccess::max_offset`] of ECAM: 4096 bytes per function.
pub const ECAM_MAX_OFFSET: u16 = 0xfff;
/// [`ConfigAccess::max_offset`] of the port I/O mechanism: 256 bytes per function.
pub const PORT_IO_MAX_OFFSET: u16 = 0xff;

/// Size of one function's ECAM region (PCIe Base Specification §7.2.2).
pub const ECAM_FUNCTION_SIZE: usize = 4096;
/// Bit position of the bus number in an ECAM offset (address bits 27:20).
const ECAM_BUS_SHIFT: u32 = 20;
/// Bit position of the device number in an ECAM offset (address bits 19:15).
const ECAM_DEVICE_SHIFT: u32 = 15;
/// Bit position of the function number in an ECAM offset (address bits 14:12).
const ECAM_FUNCTION_SHIFT: u32 = 12;

/// Byte offset, from the ECAM region's base, of `offset` in `bdf`'s
/// configuration space (PCIe Base Specification §7.2.2, Table 7-1:
/// `(bus - start) << 20 | device << 15 | function << 12 | offset`).
///
/// `buses.start` is the first bus the region decodes and the region's base is
/// the configuration space of that bus: true of a devicetree
/// `pci-host-ecam-generic` `reg`. An ACPI MCFG base address is that of bus 0,
/// so with MCFG add `start << 20` to the base (or pass a range starting at 0).
///
/// `None` when the bus is outside `buses` or `offset` >= 4096.
pub const fn ecam_offset(buses: BusRange, bdf: Bdf, offset: u16) -> Option<usize> {
    if !buses.contains(bdf.bus()) || offset as usize >= ECAM_FUNCTION_SIZE {
        return None;
    }
    let bus = (bdf.bus() - buses.start) as usize;
    Some(
        bus << ECAM_BUS_SHIFT
            | (bdf.device() as usize) << ECAM_DEVICE_SHIFT
            | (bdf.function() as usize) << ECAM_FUNCTION_SHIFT
            | offset as usize,
    )
}

/// The CONFIG_ADDRESS I/O port (PCI Local Bus 3.0 §3.2.2.3.2).
pub const CONFIG_ADDRESS_PORT: u16 = 0xcf8;
/// The CONFIG_DATA I/O port; byte `n` of the dword is at `CONFIG_DATA_PORT + n`.
pub const CONFIG_DATA_PORT: u16 = 0xcfc;
/// CONFIG_ADDRESS bit 31: Enable.
const CONFIG_ADDRESS_ENABLE: u32 = 1 << 31;
/// CONFIG_ADDRESS bits 23:16: bus number.
const CONFIG_ADDRESS_BUS_SHIFT: u32 = 16;
/// CONFIG_ADDRESS bits 15:11: device number.
const CONFIG_ADDRESS_DEVICE_SHIFT: u32 = 11;
/// CONFIG_ADDRESS bits 10:8: function number.
const CONFIG_ADDRESS_FUNCTION_SHIFT: u32 = 8;
/// CONFIG_ADDRESS bits 7:2: register (dword) number; bits 1:0 are 0.
const CONFIG_ADDRESS_REGISTER_MASK: u32 = 0xfc;

/// The CONFIG_ADDRESS (0xCF8) value selecting the dword holding `offset` of
/// `bdf` (PCI Local Bus 3.0 §3.2.2.3.2, Configuration Mechanism #1): Enable bit
/// 31 set, bus in 23:16, device in 15:11, function in 10:8, register in 7:2.
/// Bits 30:24 (including the vendor "extended register" bits 27:24) stay 0,
/// so the mechanism reaches only the first 256 bytes; `offset` is a `u8` to
/// say so in the type.
pub const fn port_io_address(bdf: Bdf, offset: u8) -> u32 {
    CONFIG_ADDRESS_ENABLE
        | (bdf.bus() as u32) << CONFIG_ADDRESS_BUS_SHIFT
        | (bdf.device() as u32) << CONFIG_ADDRESS_DEVICE_SHIFT
        | (bdf.function() as u32) << CONFIG_ADDRESS_FUNCTION_SHIFT
        | (offset as u32 & CONFIG_ADDRESS_REGISTER_MASK)
}

/// The dword-aligned offset holding `offset`.
const fn dword_of(offset: u16) -> u16 {
    offset & !3
}

/// Bit position of `offset`'s byte in its dword.
const fn shift_of(offset: u16) -> u32 {
    (offset as u32 & 3) * 8
}

/// Mask of the bits, within the dword at `dword` of `bdf`, that belong to a
/// known status register with RW1C bits (see the module documentation).
///
/// Returns 0xffff0000 when the upper half is such a status register, and so on.
/// Reads the header type and, above the header, walks the capability lists
/// (bounded) to decide.
pub fn status_halves<A: ConfigAccess + ?Sized>(cfg: &A, bdf: Bdf, dword: u16) -> u32 {
    const UPPER: u32 = 0xffff_0000;
    const LOWER: u32 = 0x0000_ffff;
    let half = |status_offset: u16| if status_offset & 2 == 0 { LOWER } else { UPPER };
    let dword = dword_of(dword);

    if dword == dword_of(offset::STATUS) {
        return half(offset::STATUS);
    }
    if dword < 0x40 {
        let header = HeaderType(cfg.read8(bdf, offset::HEADER_TYPE));
        return match header.layout() {
            HeaderLayout::Type1 if dword == dword_of(offset::SECONDARY_STATUS) => {
                half(offset::SECONDARY_STATUS)
            }
            HeaderLayout::CardBus if dword == dword_of(offset::CARDBUS_SECONDARY_STATUS) => {
                half(offset::CARDBUS_SECONDARY_STATUS)
            }
            _ => 0,
        };
    }
    if dword < 0x100 {
        const PCIE_STATUS: [u16; 4] = [
            pcie::DEVICE_STATUS,
            pcie::LINK_STATUS,
            pcie::SLOT_STATUS,
            pcie::LINK_STATUS_2,
        ];
        let mut mask = 0;
        for cap in capabilities(cfg, bdf).filter(|c| c.id == CapabilityId::PciExpress) {
            for status in PCIE_STATUS {
                if dword_of(cap.offset + status) == dword {
                    mask |= half(cap.offset + status);
                }
            }
        }
        return mask;
    }
    let mut mask = 0;
    for cap in extended_capabilities(cfg, bdf).filter(|c| c.id == ExtendedCapabilityId::PageRequest)
    {
        if dword_of(cap.offset + pri::STATUS) == dword {
            mask |= half(cap.offset + pri::STATUS);
        }
    }
    mask
}

/// 8- and 16-bit accessors on top of [`ConfigAccess`]'s dword accesses.
///
/// Implemented for every [`ConfigAccess`]. Writes follow the RW1C rule of the
/// [module documentation](self).
pub trait ConfigExt: ConfigAccess {
    /// Reads the byte at `offset`.
    fn read8(&self, bdf: Bdf, offset: u16) -> u8 {
        (self.read32(bdf, dword_of(offset)) >> shift_of(offset)) as u8
    }

    /// Reads the 16-bit register at `offset` (which must be even).
    fn read16(&self, bdf: Bdf, offset: u16) -> u16 {
        debug_assert!(
            offset & 1 == 0,
            "unaligned 16-bit config read at {offset:#x}"
        );
        (self.read32(bdf, dword_of(offset)) >> shift_of(offset & !1)) as u16
    }

    /// Writes the 16-bit register at `offset` (which must be even), writing 0
    /// into the other half of the dword when that half is a known status
    /// register, so its RW1C bits are never cleared by accident.
    fn write16(&self, bdf: Bdf, offset: u16, value: u16) {
        debug_assert!(
            offset & 1 == 0,
            "unaligned 16-bit config write at {offset:#x}"
        );
        let shift = shift_of(offset & !1);
        self.write_masked(bdf, offset, 0xffff << shift, u32::from(value) << shift);
    }

    /// Writes the byte at `offset`, writing 0 into any known status register
    /// sharing the dword (see [`ConfigExt::write16`]).
    fn write8(&self, bdf: Bdf, offset: u16, value: u8) {
        let shift = shift_of(offset);
        self.write_masked(bdf, offset, 0xff << shift, u32::from(value) << shift);
    }

    /// Read-modify-write of the dword holding `offset`: the bits in `mask` take
    /// `value`, status halves outside `mask` take 0, the rest keep their value.
    #[doc(hidden)]
    fn write_masked(&self, bdf: Bdf, offset: u16, mask: u32, value: u32) {
        let dword = dword_of(offset);
        let status = status_halves(self, bdf, dword) & !mask;
        let old = self.read32(bdf, dword);
        self.write32(bdf, dword, (old & !mask & !status) | (value & mask));
    }
}

impl<T: ConfigAccess + ?Sized> ConfigExt for T {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ecam_offsets_follow_table_7_1() {
        let all = BusRange::ALL;
        assert_eq!(ecam_offset(all, Bdf::new(0, 0, 0).unwrap(), 0), Some(0));
        assert_eq!(
            ecam_offset(all, Bdf::new(1, 2, 3).unwrap(), 0x104),
            Some(0x10_0000 + 0x1_0000 + 0x3000 + 0x104)
        );
        assert_eq!(
            ecam_offset(all, Bdf::new(0xff, 31, 7).unwrap(), 0xffc),
            Some(0x0fff_fffc)
        );
        assert_eq!(ecam_offset(all, Bdf::new(0, 0, 0).unwrap(), 0x1000), None);
        let range = BusRange::new(0x10, 0x1f).unwrap();
        assert_eq!(
            ecam_offset(range, Bdf::new(0x11, 0, 1).unwrap(), 8),
            Some(0x10_0000 + 0x1000 + 8)
        );
        assert_eq!(ecam_offset(range, Bdf::new(0x0f, 0, 0).unwrap(), 0), None);
        assert_eq!(ecam_offset(range, Bdf::new(0x20, 0, 0).unwrap(), 0), None);
    }

    #[test]
    fn port_io_addresses_follow_mechanism_1() {
        assert_eq!(port_io_address(Bdf::new(0, 0, 0).unwrap(), 0), 0x8000_0000);
        assert_eq!(
            port_io_address(Bdf::new(0x12, 0x1f, 7).unwrap(), 0x3e),
            0x8000_0000 | 0x12 << 16 | 0x1f << 11 | 7 << 8 | 0x3c
        );
        // Extended register bits 27:24 are never set.
        assert_eq!(
            port_io_address(Bdf::new(0xff, 31, 7).unwrap(), 0xff) & 0x7f00_0000,
            0
        );
    }
}
