//! The 16550 UART at COM1 (I/O port 0x3f8), the console on QEMU's `-serial`.

use core::fmt;

use spin::{Mutex, MutexGuard};
use x86_64::instructions::port::Port;

const COM1: u16 = 0x3f8;
/// Line Status Register bit 5: Transmitter Holding Register Empty.
const LSR_THRE: u8 = 1 << 5;
/// A byte takes ~87 µs at 115200 baud; this bound is far above any real wait.
const TX_SPINS: u32 = 1_000_000;

/// A 16550 UART driven through its I/O ports.
#[derive(Debug)]
pub struct Uart16550 {
    base: u16,
}

impl Uart16550 {
    const fn new(base: u16) -> Self {
        Self { base }
    }

    fn out(&self, reg: u16, value: u8) {
        // SAFETY: the registers of the UART this value owns; writing them has no
        // effect on memory.
        unsafe { Port::<u8>::new(self.base + reg).write(value) }
    }

    fn inp(&self, reg: u16) -> u8 {
        // SAFETY: as in `out`; reading LSR has no side effect.
        unsafe { Port::<u8>::new(self.base + reg).read() }
    }

    /// 115200 8N1, FIFOs on, interrupts off.
    fn init(&self) {
        self.out(1, 0x00); // IER: no interrupts
        self.out(3, 0x80); // LCR: DLAB
        self.out(0, 0x01); // DLL: divisor 1 = 115200 baud
        self.out(1, 0x00); // DLM
        self.out(3, 0x03); // LCR: 8 data bits, no parity, 1 stop bit
        self.out(2, 0xc7); // FCR: enable and clear FIFOs
        self.out(4, 0x03); // MCR: DTR, RTS
    }

    fn put(&self, byte: u8) {
        // A dead UART must not hang the kernel: give up on the byte instead.
        for _ in 0..TX_SPINS {
            if self.inp(5) & LSR_THRE != 0 {
                self.out(0, byte);
                return;
            }
            core::hint::spin_loop();
        }
    }
}

impl fmt::Write for Uart16550 {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        crate::arch::write_crlf(s, |b| self.put(b));
        Ok(())
    }
}

static CONSOLE: Mutex<Uart16550> = Mutex::new(Uart16550::new(COM1));

/// Sets the UART up; call once, first thing.
pub fn init() {
    CONSOLE.lock().init();
}

/// The console, locked for one line.
pub fn lock() -> MutexGuard<'static, Uart16550> {
    CONSOLE.lock()
}

/// The console for the panic and trap paths, which may have interrupted a holder
/// of the lock on this (single) CPU: writes without waiting for it.
pub fn emergency() -> Uart16550 {
    Uart16550::new(COM1)
}
