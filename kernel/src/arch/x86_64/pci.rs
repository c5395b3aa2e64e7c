//! PCI configuration access through I/O ports 0xCF8/0xCFC (PCI Local Bus 3.0
//! §3.2.2.3.2): 256 bytes per function, no extended capabilities.

use spin::Mutex;
use vsva_pci::access::{
    CONFIG_ADDRESS_PORT, CONFIG_DATA_PORT, PORT_IO_MAX_OFFSET, port_io_address,
};
use vsva_pci::{Bdf, ConfigAccess};
use x86_64::instructions::port::Port;

/// The address/data pair is one shared resource: each access holds the lock.
static PORTS: Mutex<()> = Mutex::new(());

/// Configuration mechanism #1.
#[derive(Debug, Clone, Copy, Default)]
pub struct PortIo;

impl ConfigAccess for PortIo {
    fn read32(&self, bdf: Bdf, offset: u16) -> u32 {
        let Ok(offset) = u8::try_from(offset & !3) else {
            return u32::MAX;
        };
        let _guard = PORTS.lock();
        // SAFETY: CONFIG_ADDRESS/CONFIG_DATA select and read one dword of the
        // chosen function's configuration space; nothing else uses these ports.
        unsafe {
            Port::<u32>::new(CONFIG_ADDRESS_PORT).write(port_io_address(bdf, offset));
            Port::<u32>::new(CONFIG_DATA_PORT).read()
        }
    }

    fn write32(&self, bdf: Bdf, offset: u16, value: u32) {
        let Ok(offset) = u8::try_from(offset & !3) else {
            return;
        };
        let _guard = PORTS.lock();
        // SAFETY: as in `read32`, writing the dword the caller chose.
        unsafe {
            Port::<u32>::new(CONFIG_ADDRESS_PORT).write(port_io_address(bdf, offset));
            Port::<u32>::new(CONFIG_DATA_PORT).write(value);
        }
    }

    fn max_offset(&self) -> u16 {
        PORT_IO_MAX_OFFSET
    }
}
