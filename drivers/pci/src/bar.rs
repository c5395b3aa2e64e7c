//! Base Address Registers: decoding and sizing (PCI Local Bus 3.0 §6.2.5.1;
//! PCIe Base Specification §7.5.1.2.1).

use alloc::vec::Vec;

use crate::Bdf;
use crate::access::{ConfigAccess, ConfigExt};
use crate::header::{Command, HeaderType, offset};

/// What a BAR decodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BarKind {
    /// Memory space, 32-bit address (Type 00b).
    Memory32,
    /// Memory space, 64-bit address (Type 10b); occupies this BAR and the next.
    Memory64,
    /// I/O space.
    Io,
}

/// One implemented Base Address Register.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Bar {
    /// BAR number (0..=5); a 64-bit BAR also uses `index + 1`.
    pub index: u8,
    /// Address space and width.
    pub kind: BarKind,
    /// Prefetchable (memory BARs only).
    pub prefetchable: bool,
    /// The PCI bus address programmed; 0 when unassigned.
    pub address: u64,
    /// Size in bytes: a power of two.
    pub size: u64,
}

impl Bar {
    /// Offset of this BAR's (first) register.
    pub const fn register(&self) -> u16 {
        bar_register(self.index)
    }

    /// Whether firmware (or [`crate::assign_resources`]) gave it an address.
    pub const fn is_assigned(&self) -> bool {
        self.address != 0
    }

    /// Whether it is a memory BAR.
    pub const fn is_memory(&self) -> bool {
        !matches!(self.kind, BarKind::Io)
    }
}

/// Offset of BAR `index`.
pub const fn bar_register(index: u8) -> u16 {
    offset::BAR0 + 4 * index as u16
}

/// Bit 0 of a BAR: Memory Space Indicator (0) or I/O Space Indicator (1).
const BAR_IO_SPACE: u32 = 1 << 0;
/// Bits 2:1 of a memory BAR: Type.
const BAR_MEMORY_TYPE_MASK: u32 = 0b110;
/// Type 00b: 32-bit.
const BAR_MEMORY_TYPE_32: u32 = 0b000;
/// Type 01b: reserved (was "below 1 MiB" in PCI 2.x); decoded as 32-bit.
const BAR_MEMORY_TYPE_BELOW_1M: u32 = 0b010;
/// Type 10b: 64-bit.
const BAR_MEMORY_TYPE_64: u32 = 0b100;
/// Bit 3 of a memory BAR: Prefetchable.
const BAR_MEMORY_PREFETCHABLE: u32 = 1 << 3;
/// Address bits of a memory BAR.
const BAR_MEMORY_ADDRESS_MASK: u32 = !0xf;
/// Address bits of an I/O BAR.
const BAR_IO_ADDRESS_MASK: u32 = !0x3;

/// Why a BAR could not be decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BarError {
    /// The memory Type field holds the reserved value 11b.
    ReservedType {
        /// BAR number.
        index: u8,
    },
    /// A 64-bit BAR in the last BAR slot has no upper half.
    Truncated64 {
        /// BAR number.
        index: u8,
    },
}

/// Decodes and sizes the BARs of `bdf` (6 for a Type 0 header, 2 for Type 1,
/// none otherwise). Unimplemented BARs (reading back 0 after all-ones) are left
/// out; a BAR with a reserved encoding is reported in the second list and
/// ends the walk (its width is unknown).
///
/// Sizing writes all-ones to each BAR and reads back the size mask (PCI Local
/// Bus 3.0 §6.2.5.1). Memory and I/O decoding are disabled in the Command
/// register for the duration, so the transient all-ones address never decodes,
/// and the Command register and every BAR are restored afterwards.
pub fn read_bars<A: ConfigAccess + ?Sized>(
    cfg: &A,
    bdf: Bdf,
    header: HeaderType,
) -> (Vec<Bar>, Vec<BarError>) {
    let mut bars = Vec::new();
    let mut errors = Vec::new();
    let count = header.bar_count();
    if count == 0 {
        return (bars, errors);
    }
    let command = Command::from_bits_retain(cfg.read16(bdf, offset::COMMAND));
    let decoding = Command::MEMORY_SPACE | Command::IO_SPACE;
    if command.intersects(decoding) {
        cfg.write16(bdf, offset::COMMAND, (command - decoding).bits());
    }

    let mut index = 0;
    while index < count {
        let register = bar_register(index);
        let original = cfg.read32(bdf, register);
        if original & BAR_IO_SPACE != 0 {
            let mask = size_mask(cfg, bdf, register, original) & BAR_IO_ADDRESS_MASK;
            if let Some(size) = size_from_mask(u64::from(mask)) {
                bars.push(Bar {
                    index,
                    kind: BarKind::Io,
                    prefetchable: false,
                    address: u64::from(original & BAR_IO_ADDRESS_MASK),
                    size,
                });
            }
            index += 1;
            continue;
        }
        let prefetchable = original & BAR_MEMORY_PREFETCHABLE != 0;
        match original & BAR_MEMORY_TYPE_MASK {
            BAR_MEMORY_TYPE_32 | BAR_MEMORY_TYPE_BELOW_1M => {
                let mask = size_mask(cfg, bdf, register, original) & BAR_MEMORY_ADDRESS_MASK;
                if let Some(size) = size_from_mask(u64::from(mask)) {
                    bars.push(Bar {
                        index,
                        kind: BarKind::Memory32,
                        prefetchable,
                        address: u64::from(original & BAR_MEMORY_ADDRESS_MASK),
                        size,
                    });
                }
                index += 1;
            }
            BAR_MEMORY_TYPE_64 if index + 1 < count => {
                let upper_register = bar_register(index + 1);
                let original_upper = cfg.read32(bdf, upper_register);
                let low = size_mask(cfg, bdf, register, original) & BAR_MEMORY_ADDRESS_MASK;
                let high = size_mask(cfg, bdf, upper_register, original_upper);
                let mask = u64::from(high) << 32 | u64::from(low);
                if let Some(size) = size_from_mask(mask) {
                    bars.push(Bar {
                        index,
                        kind: BarKind::Memory64,
                        prefetchable,
                        address: u64::from(original_upper) << 32
                            | u64::from(original & BAR_MEMORY_ADDRESS_MASK),
                        size,
                    });
                }
                index += 2;
            }
            BAR_MEMORY_TYPE_64 => {
                log::warn!("pci {bdf}: 64-bit BAR{index} in the last slot");
                errors.push(BarError::Truncated64 { index });
                break;
            }
            _ => {
                log::warn!("pci {bdf}: BAR{index} has a reserved memory type");
                errors.push(BarError::ReservedType { index });
                break;
            }
        }
    }

    if command.intersects(decoding) {
        cfg.write16(bdf, offset::COMMAND, command.bits());
    }
    (bars, errors)
}

/// Writes all-ones to the BAR register, reads the mask back and restores it.
fn size_mask<A: ConfigAccess + ?Sized>(cfg: &A, bdf: Bdf, register: u16, original: u32) -> u32 {
    cfg.write32(bdf, register, u32::MAX);
    let mask = cfg.read32(bdf, register);
    cfg.write32(bdf, register, original);
    mask
}

/// Size of a BAR from the address bits read back after writing all-ones: the
/// lowest writable address bit. `None` for an unimplemented BAR (reads 0).
fn size_from_mask(mask: u64) -> Option<u64> {
    let lowest = mask & mask.wrapping_neg();
    (lowest != 0).then_some(lowest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_come_from_the_lowest_writable_bit() {
        assert_eq!(size_from_mask(0xfff0_0000), Some(0x10_0000));
        assert_eq!(size_from_mask(0xff00), Some(0x100));
        assert_eq!(size_from_mask(0xffff_fff0_0000_0000), Some(0x10_0000_0000));
        assert_eq!(size_from_mask(0xffff_ffff_0000_0000), Some(0x1_0000_0000));
        assert_eq!(size_from_mask(0), None);
    }
}
