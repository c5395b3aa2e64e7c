//! QEMU's edu device as the DMA engine of the in-kernel IOMMU tests: the
//! shared scenarios (`vsva_iommu::{vtd, smmuv3}::scenarios`) drive it through
//! the [`Bench`] trait, as the host tests drive the software models.
//!
//! Preparing and inspecting physical pages are raw memory accesses, so this
//! module allows unsafe code.

use alloc::format;
use alloc::string::String;

use ktest::fail;
use vsva_iommu::vtd::scenarios::{self, Bench};
use vsva_pci::{Bdf, ConfigAccess};

use crate::arch::mmio::Mmio;
use crate::{arch, mem, pci};

/// edu's DMA registers (QEMU docs/specs/edu.rst): source, destination, count,
/// command (bit 0 start/busy, bit 1 direction device -> RAM).
const EDU_DMA_SRC: usize = 0x80;
const EDU_DMA_DST: usize = 0x88;
const EDU_DMA_COUNT: usize = 0x90;
const EDU_DMA_CMD: usize = 0x98;
/// edu's internal buffer in its own DMA address space.
const EDU_BUFFER: u64 = 0x40000;
/// A transfer completes 100 ms of virtual time after the command.
const EDU_DMA_LIMIT_NS: u64 = 5_000_000_000;

/// edu, with bus mastering on, as the scenarios' device.
pub struct Edu {
    rid: u16,
    regs: Mmio,
    /// The IOMMU unit platform discovery routed edu to (its platform index,
    /// as `iommu::iommus` numbers units).
    pub unit: usize,
}

impl Edu {
    /// Finds edu, turns memory decoding and bus mastering on, maps its registers.
    pub fn find() -> Result<Self, ktest::Failure> {
        let (segment, f) = pci::find(0x1234, 0x11e8).ok_or_else(|| fail!("edu not found"))?;
        let bar0 = f
            .function
            .bars
            .iter()
            .find(|b| b.index == 0)
            .ok_or_else(|| fail!("no BAR0"))?;
        let bdf: Bdf = f.function.bdf;
        vsva_pci::enable(&segment.access, bdf, true, false, true);
        if segment.access.read32(bdf, 0) != 0x11e8_1234 {
            return Err(fail!("edu's configuration space does not read back"));
        }
        let regs = Mmio::map(bar0.address, 0x1000).map_err(|e| fail!("{e:?}"))?;
        let unit = f.iommu.ok_or_else(|| fail!("edu is routed to no IOMMU"))?;
        Ok(Self {
            unit,
            rid: bdf.rid(),
            regs,
        })
    }
}

impl Bench for Edu {
    fn rid(&self) -> u16 {
        self.rid
    }

    fn dma(&mut self, iova: u64, to_ram: bool) -> Result<(), String> {
        let (src, dst) = if to_ram {
            (EDU_BUFFER, iova)
        } else {
            (iova, EDU_BUFFER)
        };
        self.regs.write64(EDU_DMA_SRC, src);
        self.regs.write64(EDU_DMA_DST, dst);
        self.regs.write64(EDU_DMA_COUNT, scenarios::LEN as u64);
        self.regs.write64(EDU_DMA_CMD, 1 | (u64::from(to_ram) << 1));
        let start = arch::time::uptime_nanos();
        while self.regs.read64(EDU_DMA_CMD).is_some_and(|c| c & 1 != 0) {
            if arch::time::uptime_nanos() - start > EDU_DMA_LIMIT_NS {
                return Err(format!("edu DMA to {iova:#x} did not complete in 5 s"));
            }
            core::hint::spin_loop();
        }
        Ok(())
    }

    fn page(&mut self, fill: u8) -> Result<u64, String> {
        let addr = mem::alloc_frames(1).ok_or("out of frames")?;
        #[allow(unsafe_code)]
        // SAFETY: a frame just allocated to this test, identity mapped.
        unsafe {
            core::ptr::write_bytes(addr as *mut u8, fill, 4096)
        };
        Ok(addr)
    }

    fn read(&self, phys: u64, buf: &mut [u8]) {
        for (i, b) in buf.iter_mut().enumerate() {
            #[allow(unsafe_code)]
            // SAFETY: the scenarios read only pages `page` gave them (identity
            // mapped frames); volatile because a device wrote them.
            let byte = unsafe { ((phys + i as u64) as *const u8).read_volatile() };
            *b = byte;
        }
    }

    fn free(&mut self, page: u64) {
        let _ = mem::free_frames(page, 1);
    }

    fn ram(&self) -> core::ops::Range<u64> {
        let frames = mem::FRAMES.lock();
        let managed = frames
            .as_ref()
            .map(|f| f.managed().collect::<alloc::vec::Vec<_>>());
        let ranges = managed.unwrap_or_default();
        let start = ranges.iter().map(|r| r.start).min().unwrap_or(0);
        let end = ranges.iter().map(|r| r.end).max().unwrap_or(0);
        // Whole 2 MiB blocks, so the scenarios can map the range with blocks.
        (start & !0x1f_ffff)..end.next_multiple_of(0x20_0000)
    }
}
