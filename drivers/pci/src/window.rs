//! A partition's view of PCI configuration space: an ECAM-layout window
//! (PCIe Base Specification §7.2.2, bus 0 only) that shows only the
//! functions assigned to it, at the device and function numbers they have on
//! the host, and filters writes.
//!
//! What a guest may change: the Command register's Memory Space, Bus Master
//! and Interrupt Disable bits (§7.5.1.1.3). Everything else it writes is
//! dropped, BARs included: the hypervisor placed them and mapped them into
//! the partition at those addresses, so a guest sizing a BAR reads its address
//! back, not a size mask. Reads of an assigned function come from the
//! hardware; anything else reads as no function (all ones).

use alloc::vec::Vec;

use crate::header::offset;
use crate::{Bdf, Command, ConfigAccess};

/// Bytes one bus takes in an ECAM window.
pub const WINDOW_SIZE: u64 = 1 << 20;

/// Command bits a guest may set or clear.
pub const GUEST_COMMAND_BITS: Command = Command::MEMORY_SPACE
    .union(Command::BUS_MASTER)
    .union(Command::INTERRUPT_DISABLE);

/// What a guest's write did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteOutcome {
    /// Applied (possibly only its permitted bits).
    Applied,
    /// Dropped: a register the guest may not change, or no function there.
    Dropped,
}

/// The functions a partition sees.
#[derive(Clone, Debug, Default)]
pub struct ConfigWindow {
    /// Host addresses; the guest sees each at bus 0, same device.function.
    functions: Vec<Bdf>,
}

impl ConfigWindow {
    /// A window showing `functions` (host addresses). Two functions with the
    /// same device.function on different host buses cannot both be shown.
    pub fn new(functions: &[Bdf]) -> Result<Self, Bdf> {
        let mut seen: Vec<(u8, u8)> = Vec::new();
        for f in functions {
            let slot = (f.device(), f.function());
            if seen.contains(&slot) {
                return Err(*f);
            }
            seen.push(slot);
        }
        Ok(Self {
            functions: functions.to_vec(),
        })
    }

    /// The host function behind window offset `at`, and the register offset.
    fn locate(&self, at: u64) -> Option<(Bdf, u16)> {
        if at >= WINDOW_SIZE {
            return None;
        }
        let (device, function) = (((at >> 15) & 0x1f) as u8, ((at >> 12) & 7) as u8);
        let host = self
            .functions
            .iter()
            .find(|f| f.device() == device && f.function() == function)?;
        Some((*host, (at & 0xfff) as u16))
    }

    /// A guest's read of `size` bytes (1, 2 or 4, naturally aligned) at `at`.
    pub fn read<A: ConfigAccess + ?Sized>(&self, host: &A, at: u64, size: u8) -> u32 {
        let ones = ones(size);
        if !aligned(at, size) {
            return ones;
        }
        let Some((bdf, reg)) = self.locate(at) else {
            return ones;
        };
        if reg > host.max_offset() {
            return ones;
        }
        let dword = host.read32(bdf, reg & !3);
        (dword >> (8 * u32::from(reg & 3))) & ones
    }

    /// A guest's write of `size` bytes at `at`.
    pub fn write<A: ConfigAccess + ?Sized>(
        &self,
        host: &A,
        at: u64,
        size: u8,
        value: u32,
    ) -> WriteOutcome {
        if !aligned(at, size) {
            return WriteOutcome::Dropped;
        }
        let Some((bdf, reg)) = self.locate(at) else {
            return WriteOutcome::Dropped;
        };
        // Only the Command register's low 16 bits, from a write that covers
        // its permitted bits' bytes (a 4-byte write at 0x04 also covers
        // Status, whose RW1C bits are not the guest's to clear).
        let command = match (reg, size) {
            (offset::COMMAND, 2 | 4) => value & 0xffff,
            (offset::COMMAND, 1) => value & 0xff,
            (r, 1) if r == offset::COMMAND + 1 => (value & 0xff) << 8,
            _ => return WriteOutcome::Dropped,
        };
        let written_mask: u32 = match (reg, size) {
            (offset::COMMAND, 1) => 0x00ff,
            (r, 1) if r == offset::COMMAND + 1 => 0xff00,
            _ => 0xffff,
        };
        let allowed = u32::from(GUEST_COMMAND_BITS.bits()) & written_mask;
        let dword = host.read32(bdf, offset::COMMAND);
        let current = dword & 0xffff;
        let next = (current & !allowed) | (command & allowed);
        // Writing Status's RW1C bits as 0 leaves them alone.
        host.write32(bdf, offset::COMMAND, next);
        WriteOutcome::Applied
    }
}

fn ones(size: u8) -> u32 {
    match size {
        1 => 0xff,
        2 => 0xffff,
        _ => 0xffff_ffff,
    }
}

fn aligned(at: u64, size: u8) -> bool {
    matches!(size, 1 | 2 | 4) && at.is_multiple_of(u64::from(size))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{FunctionModel, Model};

    fn machine() -> (Model, ConfigWindow) {
        let model = Model::new(0);
        model.add(
            Model::ROOT,
            1,
            0,
            FunctionModel::endpoint(0x1234, 0x11e8, 0x00ff00)
                .bar32(0, 0x10_0000, false)
                .set32(0x10, 0x1000_0000)
                .set16(0x06, 0x2000)
                .rw(0x04, &[0x07, 0x04])
                .rw1c(0x06, &[0x00, 0xf9]),
        );
        model.add(
            Model::ROOT,
            2,
            0,
            FunctionModel::endpoint(0x8086, 0x10d3, 0x020000),
        );
        let window = ConfigWindow::new(&[Bdf::new(0, 1, 0).unwrap()]).unwrap();
        (model, window)
    }

    fn at(device: u64, function: u64, reg: u64) -> u64 {
        (device << 15) | (function << 12) | reg
    }

    #[test]
    fn only_assigned_functions_are_visible() {
        let (host, window) = machine();
        assert_eq!(window.read(&host, at(1, 0, 0), 4), 0x11e8_1234);
        assert_eq!(window.read(&host, at(1, 0, 2), 2), 0x11e8);
        assert_eq!(window.read(&host, at(1, 0, 0x10), 4), 0x1000_0000);
        // The other function on the same host bus is not the guest's.
        assert_eq!(window.read(&host, at(2, 0, 0), 4), 0xffff_ffff);
        assert_eq!(window.read(&host, at(1, 1, 0), 2), 0xffff);
        // Misaligned or beyond the window: nothing.
        assert_eq!(window.read(&host, at(1, 0, 1), 2), 0xffff);
        assert_eq!(window.read(&host, WINDOW_SIZE, 4), 0xffff_ffff);
    }

    #[test]
    fn bars_are_fixed_and_other_registers_read_only() {
        let (host, window) = machine();
        let bdf = Bdf::new(0, 1, 0).unwrap();
        assert_eq!(
            window.write(&host, at(1, 0, 0x10), 4, 0xffff_ffff),
            WriteOutcome::Dropped
        );
        assert_eq!(
            host.read32(bdf, 0x10),
            0x1000_0000,
            "the BAR kept its address"
        );
        assert_eq!(window.read(&host, at(1, 0, 0x10), 4), 0x1000_0000);
        assert_eq!(
            window.write(&host, at(1, 0, 0x3c), 1, 9),
            WriteOutcome::Dropped
        );
        assert_eq!(
            window.write(&host, at(2, 0, 4), 2, 0x6),
            WriteOutcome::Dropped,
            "not the guest's function"
        );
        assert_eq!(host.read32(Bdf::new(0, 2, 0).unwrap(), 4) & 0xffff, 0);
    }

    #[test]
    fn memory_and_bus_master_enables_pass_io_does_not() {
        let (host, window) = machine();
        let bdf = Bdf::new(0, 1, 0).unwrap();
        // Memory space + bus master + I/O space requested: I/O is filtered out.
        assert_eq!(
            window.write(&host, at(1, 0, 4), 2, 0x7),
            WriteOutcome::Applied
        );
        assert_eq!(host.read32(bdf, 4) & 0xffff, 0x6);
        // Interrupt Disable through the upper byte alone.
        window.write(&host, at(1, 0, 5), 1, 0x04);
        assert_eq!(host.read32(bdf, 4) & 0xffff, 0x406);
        // Clearing bus master leaves memory space and interrupt disable.
        window.write(&host, at(1, 0, 4), 1, 0x2);
        assert_eq!(host.read32(bdf, 4) & 0xffff, 0x402);
    }

    #[test]
    fn a_dword_write_at_command_leaves_status_alone() {
        let (host, window) = machine();
        let bdf = Bdf::new(0, 1, 0).unwrap();
        // All ones in the Status half would clear its RW1C error bits.
        window.write(&host, at(1, 0, 4), 4, 0xffff_0002);
        let dword = host.read32(bdf, 4);
        assert_eq!(dword & 0xffff, 0x2);
        assert_eq!(dword >> 16, 0x2000, "the device's error bit survived");
    }

    #[test]
    fn two_functions_with_the_same_slot_are_refused() {
        let a = Bdf::new(0, 1, 0).unwrap();
        let b = Bdf::new(3, 1, 0).unwrap();
        assert_eq!(ConfigWindow::new(&[a, b]).unwrap_err(), b);
    }
}
