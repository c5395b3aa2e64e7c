//! The seams between the drivers and the machine.
//!
//! Drivers never touch memory or registers directly: they go through these
//! traits. The kernel implements them over MMIO windows, its frame allocator
//! and its clock; host tests implement them over a software model of the IOMMU
//! ([`RegisterAccess`] with side effects) and a simulated physical memory
//! ([`sim::SimMemory`]) that the model reads too.

#[cfg(any(test, feature = "sim"))]
pub mod sim;

/// A window of device registers. Offsets are from the window's base and
/// naturally aligned; an access outside the window is a driver bug that the
/// implementation may ignore (reads return all-ones).
pub trait RegisterAccess {
    fn read32(&self, offset: usize) -> u32;
    fn write32(&self, offset: usize, value: u32);
    /// A 64-bit register read as one access (VT-d §10.2 allows it for 64-bit
    /// registers; SMMUv3 only for the base registers, §6.2).
    fn read64(&self, offset: usize) -> u64;
    fn write64(&self, offset: usize, value: u64);
}

/// Memory the IOMMU reads and writes by physical address: tables and queues.
pub trait DmaMemory {
    /// `pages` (a power of two) zeroed 4 KiB frames aligned to their total size;
    /// their physical address, or `None` when memory is exhausted.
    fn alloc_pages(&self, pages: usize) -> Option<u64>;
    /// Returns frames from [`alloc_pages`](Self::alloc_pages) with the same count.
    fn free_pages(&self, addr: u64, pages: usize);
    /// Reads the 64-bit word at `addr` (8-aligned) of memory this trait allocated.
    fn read64(&self, addr: u64) -> u64;
    /// Writes the 64-bit word at `addr` (8-aligned) as one single-copy-atomic
    /// store, so the IOMMU never sees half of it.
    fn write64(&self, addr: u64, value: u64);
    /// Makes every earlier write visible to the IOMMU before any later write or
    /// register access (a store barrier; a cache clean where the IOMMU is not
    /// coherent).
    fn publish(&self);
}

/// Time, for bounded waits on hardware.
pub trait Clock {
    /// Nanoseconds since an arbitrary origin; never goes backwards.
    fn now_ns(&self) -> u64;
}

impl<T: RegisterAccess + ?Sized> RegisterAccess for &T {
    fn read32(&self, offset: usize) -> u32 {
        (**self).read32(offset)
    }
    fn write32(&self, offset: usize, value: u32) {
        (**self).write32(offset, value)
    }
    fn read64(&self, offset: usize) -> u64 {
        (**self).read64(offset)
    }
    fn write64(&self, offset: usize, value: u64) {
        (**self).write64(offset, value)
    }
}

impl<T: DmaMemory + ?Sized> DmaMemory for &T {
    fn alloc_pages(&self, pages: usize) -> Option<u64> {
        (**self).alloc_pages(pages)
    }
    fn free_pages(&self, addr: u64, pages: usize) {
        (**self).free_pages(addr, pages)
    }
    fn read64(&self, addr: u64) -> u64 {
        (**self).read64(addr)
    }
    fn write64(&self, addr: u64, value: u64) {
        (**self).write64(addr, value)
    }
    fn publish(&self) {
        (**self).publish()
    }
}

impl<T: Clock + ?Sized> Clock for &T {
    fn now_ns(&self) -> u64 {
        (**self).now_ns()
    }
}

/// Why a wait on hardware gave up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimedOut {
    /// What was being waited for, for the error message.
    pub waiting_for: &'static str,
    /// How long the wait lasted, in nanoseconds.
    pub after_ns: u64,
}

/// Polls `done` until it returns true or `limit_ns` passes on `clock`. Polls at
/// least once, and once more after the limit, so a slow clock never fails a
/// condition that is already met.
pub fn poll_until(
    clock: &dyn Clock,
    limit_ns: u64,
    waiting_for: &'static str,
    mut done: impl FnMut() -> bool,
) -> Result<(), TimedOut> {
    let start = clock.now_ns();
    loop {
        if done() {
            return Ok(());
        }
        let elapsed = clock.now_ns().saturating_sub(start);
        if elapsed >= limit_ns {
            return if done() {
                Ok(())
            } else {
                Err(TimedOut {
                    waiting_for,
                    after_ns: elapsed,
                })
            };
        }
        core::hint::spin_loop();
    }
}

/// A wired interrupt line a driver can wait on: the kernel counts the
/// interrupts its controller delivered; a model counts the ones it raised.
/// Drivers only compare counts, so an interrupt taken before the wait began
/// is never mistaken for the one awaited.
pub trait InterruptLine: core::fmt::Debug + Send {
    /// Interrupts delivered on this line so far.
    fn count(&self) -> u64;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn polls_stop_when_done_or_time_out_with_what_was_awaited() {
        let clock = sim::SimClock::new(10);
        let mut n = 0;
        assert_eq!(
            poll_until(&clock, 1_000, "ready", || {
                n += 1;
                n == 3
            }),
            Ok(())
        );
        let err = poll_until(&clock, 100, "GSTS.TES", || false).unwrap_err();
        assert_eq!(err.waiting_for, "GSTS.TES");
        assert!(err.after_ns >= 100);
    }
}
