//! The PL011 UART (Arm PrimeCell UART TRM, DDI 0183), the console on QEMU virt.

use core::fmt;

use spin::{Mutex, MutexGuard};

/// QEMU virt's UART0 (`/pl011@9000000`).
pub const PL011_BASE: u64 = 0x0900_0000;
/// UARTDR, data register.
const DR: u64 = 0x00;
/// UARTFR, flag register; bit 5 TXFF: transmit FIFO full.
const FR: u64 = 0x18;
const FR_TXFF: u32 = 1 << 5;
/// Bound on waiting for room in the FIFO before a byte is dropped.
const TX_SPINS: u32 = 1_000_000;

/// A PL011 at a fixed, identity-mapped address.
#[derive(Debug)]
pub struct Pl011 {
    base: u64,
}

impl Pl011 {
    const fn new(base: u64) -> Self {
        Self { base }
    }

    fn put(&self, byte: u8) {
        for _ in 0..TX_SPINS {
            // SAFETY: FR and DR of the UART, mapped as device memory by the boot map
            // and by the kernel's tables (see `platform::early_devices`).
            unsafe {
                if ((self.base + FR) as *const u32).read_volatile() & FR_TXFF == 0 {
                    ((self.base + DR) as *mut u32).write_volatile(u32::from(byte));
                    return;
                }
            }
            core::hint::spin_loop();
        }
    }
}

impl fmt::Write for Pl011 {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        crate::arch::write_crlf(s, |b| self.put(b));
        Ok(())
    }
}

static CONSOLE: Mutex<Pl011> = Mutex::new(Pl011::new(PL011_BASE));

/// QEMU's PL011 needs no set-up to transmit.
pub fn init() {}

/// The console, locked for one line.
pub fn lock() -> MutexGuard<'static, Pl011> {
    CONSOLE.lock()
}

/// The console for the panic and trap paths (see the x86_64 twin).
pub fn emergency() -> Pl011 {
    Pl011::new(PL011_BASE)
}
