//! The drivers' memory and time seams over the kernel: DMA tables and queues
//! come from the frame allocator and are reached through the identity map.

use vsva_iommu::hw::{Clock, DmaMemory};

use crate::mem::{self, PAGE_SIZE};

/// Frames for IOMMU tables and queues.
#[derive(Debug, Clone, Copy, Default)]
pub struct KernelDma;

impl KernelDma {
    /// Whether `[addr, addr + len)` lies in memory the frame allocator manages:
    /// the only memory this seam reads or writes.
    fn owns(addr: u64, len: u64) -> bool {
        // The managed ranges never change once set: no allocator lock on
        // every table entry the drivers read or write.
        mem::MANAGED
            .get()
            .is_some_and(|m| m.contains(addr) && m.contains(addr + len - 1))
    }
}

impl DmaMemory for KernelDma {
    fn alloc_pages(&self, pages: usize) -> Option<u64> {
        let addr = mem::alloc_frames(pages)?;
        // SAFETY: freshly allocated frames, identity mapped read-write; zeroed
        // before anything (the IOMMU included) sees them.
        unsafe { core::ptr::write_bytes(addr as *mut u8, 0, pages * PAGE_SIZE as usize) };
        Some(addr)
    }

    fn free_pages(&self, addr: u64, pages: usize) {
        // A bad free is a driver bug; the allocator refuses it rather than corrupt.
        if let Err(e) = mem::free_frames(addr, pages) {
            log::error!("IOMMU driver freed {addr:#x} ({pages} pages) wrongly: {e:?}");
        }
    }

    fn read64(&self, addr: u64) -> u64 {
        if !addr.is_multiple_of(8) || !Self::owns(addr, 8) {
            return u64::MAX;
        }
        // SAFETY: an aligned word of allocator-managed RAM, identity mapped.
        unsafe { (addr as *const u64).read_volatile() }
    }

    fn write64(&self, addr: u64, value: u64) {
        if !addr.is_multiple_of(8) || !Self::owns(addr, 8) {
            log::error!("IOMMU driver wrote outside its memory at {addr:#x}");
            return;
        }
        // SAFETY: as in `read64`; a single aligned 64-bit store is single-copy atomic.
        unsafe { (addr as *mut u64).write_volatile(value) }
    }

    fn publish(&self) {
        // The IOMMUs here are cache coherent (QEMU's VT-d; SMMU IDR0.COHACC):
        // ordering the stores before later stores and MMIO writes is enough.
        core::sync::atomic::fence(core::sync::atomic::Ordering::SeqCst);
        #[cfg(target_arch = "aarch64")]
        // SAFETY: a data synchronization barrier; no memory is changed.
        unsafe {
            core::arch::asm!("dsb ishst", options(nostack, preserves_flags))
        };
    }
}

/// The boot clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct KernelClock;

impl Clock for KernelClock {
    fn now_ns(&self) -> u64 {
        super::time::uptime_nanos()
    }
}

/// Byte copies to and from RAM the frame allocator manages or the manifest
/// pins for a partition (partition memory, tables): each checks the whole
/// range first and does nothing outside it, so a wrong address can never
/// reach the kernel's own image.
pub mod phys {
    use super::KernelDma;

    /// Whether all of `[addr, addr + len)` (no wrap-around) is RAM this
    /// module may touch: allocator-managed or pinned for a partition.
    fn reachable(addr: u64, len: u64) -> bool {
        addr.checked_add(len).is_some()
            && (KernelDma::owns(addr, len) || crate::mem::pinned_contains(addr, len))
    }

    /// Copies `bytes` to physical `addr`; false (and nothing written) outside
    /// allocator-managed RAM.
    pub fn write(addr: u64, bytes: &[u8]) -> bool {
        if bytes.is_empty() {
            return true;
        }
        if !reachable(addr, bytes.len() as u64) {
            return false;
        }
        // SAFETY: managed RAM, identity mapped, checked above; the frames belong
        // to whoever asked (a partition's RAM), which no Rust reference aliases.
        unsafe { core::ptr::copy_nonoverlapping(bytes.as_ptr(), addr as *mut u8, bytes.len()) };
        true
    }

    /// Copies from physical `addr` into `buf`; false (and `buf` untouched)
    /// outside allocator-managed RAM.
    pub fn read(addr: u64, buf: &mut [u8]) -> bool {
        if buf.is_empty() {
            return true;
        }
        if !reachable(addr, buf.len() as u64) {
            return false;
        }
        // SAFETY: as in `write`; volatile-free copy is fine, since the guest
        // that owns these frames is not running while vsva reads them.
        unsafe { core::ptr::copy_nonoverlapping(addr as *const u8, buf.as_mut_ptr(), buf.len()) };
        true
    }

    /// Fills `len` bytes at physical `addr` with `byte`.
    pub fn fill(addr: u64, len: u64, byte: u8) -> bool {
        if len == 0 {
            return true;
        }
        if !reachable(addr, len) {
            return false;
        }
        // SAFETY: as in `write`.
        unsafe { core::ptr::write_bytes(addr as *mut u8, byte, len as usize) };
        true
    }
}

/// Makes `[addr, addr + len)` as written through the kernel's cacheable map
/// visible to an observer that does not look in the caches: a guest running
/// with its MMU off (aarch64: every access Non-cacheable, Arm ARM D8.2.10).
/// Cleans and invalidates the data cache to the point of coherency and
/// drops stale instructions. x86 caches are coherent: nothing to do.
pub fn clean_to_point_of_coherency(addr: u64, len: u64) {
    #[cfg(target_arch = "aarch64")]
    {
        let ctr: u64;
        // SAFETY: reads CTR_EL0 (cache type); no side effects.
        unsafe { core::arch::asm!("mrs {}, ctr_el0", out(reg) ctr, options(nomem, nostack)) };
        // DminLine (19:16): log2 of the smallest data cache line in words.
        let line = 4u64 << ((ctr >> 16) & 0xf);
        let mut at = addr & !(line - 1);
        let end = addr.saturating_add(len);
        while at < end {
            // SAFETY: a cache maintenance operation by address on memory the
            // kernel maps; it changes no data.
            unsafe { core::arch::asm!("dc civac, {}", in(reg) at, options(nostack)) };
            at += line;
        }
        // SAFETY: barriers and an instruction cache invalidation; no data changes.
        unsafe { core::arch::asm!("dsb ish", "ic ialluis", "dsb ish", "isb", options(nostack)) };
    }
    #[cfg(not(target_arch = "aarch64"))]
    let _ = (addr, len);
}
