//! Time since boot from the generic timer's physical count (CNTPCT_EL0).

use core::sync::atomic::{AtomicU64, Ordering};

static START: AtomicU64 = AtomicU64::new(0);
static FREQUENCY: AtomicU64 = AtomicU64::new(1);

fn counter() -> u64 {
    let value: u64;
    // SAFETY: reads the physical count; ISB orders it after earlier instructions.
    unsafe {
        core::arch::asm!("isb", "mrs {}, cntpct_el0", out(reg) value, options(nomem, nostack))
    };
    value
}

/// Frequency reported by CNTFRQ_EL0, for the log.
#[derive(Clone, Copy, Debug)]
pub struct Calibration {
    pub counter_hz: u64,
}

/// Starts the clock.
pub fn init() -> Calibration {
    let hz: u64;
    // SAFETY: reads the timer frequency register set by firmware (QEMU).
    unsafe { core::arch::asm!("mrs {}, cntfrq_el0", out(reg) hz, options(nomem, nostack)) };
    FREQUENCY.store(hz.max(1), Ordering::Relaxed);
    START.store(counter(), Ordering::Relaxed);
    Calibration { counter_hz: hz }
}

/// Nanoseconds since [`init`].
pub fn uptime_nanos() -> u64 {
    let ticks = counter().wrapping_sub(START.load(Ordering::Relaxed));
    (ticks as u128 * 1_000_000_000 / FREQUENCY.load(Ordering::Relaxed) as u128) as u64
}
