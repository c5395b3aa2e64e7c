//! Time since boot from the TSC, calibrated once against the 8254 PIT.

use core::sync::atomic::{AtomicU64, Ordering};

use x86_64::instructions::port::Port;

/// PIT input clock, Hz.
const PIT_HZ: u64 = 1_193_182;
/// Calibration window: 10 ms of PIT channel 2 counting down in mode 0.
const CALIBRATION_TICKS: u16 = (PIT_HZ / 100) as u16;
/// Bound on polls of the PIT output; 10 ms is far fewer on any machine.
const CALIBRATION_SPINS: u32 = 50_000_000;
/// Used when calibration fails, so timestamps still advance.
const FALLBACK_HZ: u64 = 1_000_000_000;

static TSC_HZ: AtomicU64 = AtomicU64::new(FALLBACK_HZ);
static TSC_AT_BOOT: AtomicU64 = AtomicU64::new(0);

fn rdtsc() -> u64 {
    // SAFETY: RDTSC reads a counter; no memory is touched.
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// Outcome of calibration, for the log once the console is up.
#[derive(Clone, Copy, Debug)]
pub enum Calibration {
    Measured(u64),
    TimedOut,
}

/// Starts the clock; measures the TSC frequency against PIT channel 2.
pub fn init() -> Calibration {
    TSC_AT_BOOT.store(rdtsc(), Ordering::Relaxed);
    // SAFETY: ports 0x42/0x43/0x61 are the PIT and its gate; channel 2 drives only
    // the speaker, which stays off (bit 1 of port 0x61 cleared).
    let result = unsafe {
        let mut gate = Port::<u8>::new(0x61);
        let mut command = Port::<u8>::new(0x43);
        let mut channel2 = Port::<u8>::new(0x42);
        let g = gate.read();
        gate.write((g & !0x02) | 0x01);
        command.write(0b1011_0000); // channel 2, lobyte/hibyte, mode 0, binary
        channel2.write(CALIBRATION_TICKS as u8);
        channel2.write((CALIBRATION_TICKS >> 8) as u8);
        let start = rdtsc();
        let mut done = false;
        for _ in 0..CALIBRATION_SPINS {
            if gate.read() & 0x20 != 0 {
                done = true;
                break;
            }
        }
        let end = rdtsc();
        gate.write(g);
        if done {
            Calibration::Measured((end - start) * 100)
        } else {
            Calibration::TimedOut
        }
    };
    if let Calibration::Measured(hz) = result
        && hz > 0
    {
        TSC_HZ.store(hz, Ordering::Relaxed);
    }
    result
}

/// Nanoseconds since [`init`].
pub fn uptime_nanos() -> u64 {
    let ticks = rdtsc().wrapping_sub(TSC_AT_BOOT.load(Ordering::Relaxed));
    (ticks as u128 * 1_000_000_000 / TSC_HZ.load(Ordering::Relaxed) as u128) as u64
}
