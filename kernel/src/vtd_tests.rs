//! In-kernel tests of the VT-d driver against QEMU's intel-iommu with the edu
//! device: DMA through second-stage (legacy and scalable mode), first-stage and
//! pass-through translation, faults on unmapped IOVAs, remapping with
//! invalidation. xtask runs the x86_64 test image under three intel-iommu
//! configurations; each test skips where the unit lacks the capability it needs.
//!
//! The tests fill and inspect physical pages through raw pointers (that is the
//! observable effect of a DMA), so this module allows unsafe code.

use ktest::{check, check_eq, fail, ktest, skip};
use vsva_iommu::vtd::pagetable::{FirstStageTable, Permissions, SecondStageTable};
use vsva_iommu::vtd::tables::{
    AddressWidth, FirstStageLevels, PasidEntry, PasidTranslation, TranslationType,
};
use vsva_iommu::vtd::unit::Mode;
use vsva_pci::{Bdf, ConfigAccess};

use crate::arch::dma::{KernelClock, KernelDma};
use crate::iommu::{VTD, VtdUnit};
use crate::{arch, mem, pci};

/// edu's DMA registers (QEMU docs/specs/edu.rst): source, destination, count,
/// command (bit 0 start/busy, bit 1 direction device->RAM).
const EDU_DMA_SRC: u64 = 0x80;
const EDU_DMA_DST: u64 = 0x88;
const EDU_DMA_COUNT: u64 = 0x90;
const EDU_DMA_CMD: u64 = 0x98;
/// edu's internal buffer, in its own DMA address space.
const EDU_BUFFER: u64 = 0x40000;
/// Bytes each transfer moves (inside the 4 KiB buffer).
const LEN: usize = 256;
/// Domain ID the tests use.
const DOMAIN: u16 = 7;
/// IOVAs of the source and destination windows.
const IOVA_SRC: u64 = 0x1000_0000;
const IOVA_DST: u64 = 0x2000_0000;

/// edu: its requester ID and its uncached register window.
struct Edu {
    rid: u16,
    regs: arch::mmio::Mmio,
}

impl Edu {
    fn find() -> Result<Self, ktest::Failure> {
        let (segment, f) = pci::find(0x1234, 0x11e8).ok_or_else(|| fail!("edu not found"))?;
        let bar0 = f
            .function
            .bars
            .iter()
            .find(|b| b.index == 0)
            .ok_or_else(|| fail!("no BAR0"))?;
        let bdf: Bdf = f.function.bdf;
        // Memory decoding and bus mastering: edu's DMA goes through the IOMMU.
        vsva_pci::enable(&segment.access, bdf, true, false, true);
        check!(segment.access.read32(bdf, 0) == 0x11e8_1234);
        let regs = arch::mmio::Mmio::map(bar0.address, 0x1000).map_err(|e| fail!("{e:?}"))?;
        Ok(Self {
            rid: bdf.rid(),
            regs,
        })
    }

    /// One transfer; `to_ram` = device buffer -> `ram_iova`, else the reverse.
    /// Waits for completion (100 ms of virtual time) within 5 s.
    fn dma(&self, ram_iova: u64, to_ram: bool) -> Result<(), ktest::Failure> {
        let (src, dst) = if to_ram {
            (EDU_BUFFER, ram_iova)
        } else {
            (ram_iova, EDU_BUFFER)
        };
        self.regs.write64(EDU_DMA_SRC as usize, src);
        self.regs.write64(EDU_DMA_DST as usize, dst);
        self.regs.write64(EDU_DMA_COUNT as usize, LEN as u64);
        self.regs
            .write64(EDU_DMA_CMD as usize, 1 | (u64::from(to_ram) << 1));
        let start = arch::time::uptime_nanos();
        while self
            .regs
            .read64(EDU_DMA_CMD as usize)
            .is_some_and(|c| c & 1 != 0)
        {
            if arch::time::uptime_nanos() - start > 5_000_000_000 {
                return Err(fail!("edu DMA did not complete in 5 s"));
            }
            core::hint::spin_loop();
        }
        Ok(())
    }
}

/// A zeroed frame, filled with `fill`.
fn frame(fill: u8) -> Result<u64, ktest::Failure> {
    let addr = mem::alloc_frames(1).ok_or_else(|| fail!("out of frames"))?;
    #[allow(unsafe_code)]
    // SAFETY: a frame just allocated to this test, identity mapped.
    unsafe {
        core::ptr::write_bytes(addr as *mut u8, fill, 4096)
    };
    Ok(addr)
}

fn bytes(addr: u64) -> [u8; 4096] {
    let mut out = [0u8; 4096];
    #[allow(unsafe_code)]
    // SAFETY: a frame this test owns, identity mapped; volatile because a device
    // wrote it behind the compiler's back.
    unsafe {
        for (i, b) in out.iter_mut().enumerate() {
            *b = ((addr + i as u64) as *const u8).read_volatile();
        }
    }
    out
}

/// Runs `body` with the first VT-d unit re-initialised in `mode` (translation
/// on, nothing attached), and puts the boot configuration back afterwards.
fn with_unit(
    mode: Mode,
    body: impl FnOnce(&mut VtdUnit, &Edu) -> ktest::TestResult,
) -> ktest::TestResult {
    let edu = Edu::find()?;
    let mut units = VTD.lock();
    let boot = units
        .first_mut()
        .ok_or_else(|| fail!("no VT-d unit was brought up"))?;
    let registers = *boot.registers();
    let mut unit = VtdUnit::new(registers, KernelDma, KernelClock, mode)
        .map_err(|e| fail!("bring-up in {mode:?}: {e:?}"))?;
    if unit.mode() != mode {
        skip!("the unit does not support {mode:?} mode");
    }
    unit.enable_translation().map_err(|e| fail!("TE: {e:?}"))?;
    let result = body(&mut unit, &edu);
    let _ = unit.take_faults();
    // The boot unit's configuration comes back: a fresh root table in its mode.
    *boot = VtdUnit::new(registers, KernelDma, KernelClock, Mode::Scalable)
        .map_err(|e| fail!("restoring: {e:?}"))?;
    boot.enable_translation()
        .map_err(|e| fail!("restoring TE: {e:?}"))?;
    result
}

/// The common scenario for a translated attachment: a source page readable at
/// IOVA_SRC and a destination page writable at IOVA_DST; data goes RAM -> edu
/// -> RAM and must land in the destination page only.
fn round_trip(unit: &mut VtdUnit, edu: &Edu, src: u64, dst: u64) -> ktest::TestResult {
    edu.dma(IOVA_SRC, false)?;
    edu.dma(IOVA_DST, true)?;
    let got = bytes(dst);
    if let Some(fault) = unit.take_faults().first() {
        return Err(fail!("DMA faulted: {fault}"));
    }
    check!(
        got[..LEN].iter().all(|&b| b == 0xa5),
        "destination got {:x?}",
        &got[..8]
    );
    check!(
        got[LEN..].iter().all(|&b| b == 0),
        "bytes past the transfer changed"
    );
    check!(bytes(src).iter().all(|&b| b == 0xa5), "source page changed");
    Ok(())
}

ktest! {
    /// Legacy mode, second stage: DMA reaches exactly the mapped pages; a DMA to
    /// an unmapped IOVA is recorded as a fault with that address and edu's
    /// requester ID, and changes no memory; after remap + invalidation the next
    /// DMA lands in the new page.
    fn vtd_legacy_second_stage_dma_faults_and_remap() {
        with_unit(Mode::Legacy, |unit, edu| {
            let m = KernelDma;
            let mut table = SecondStageTable::new(&m, unit.id.cap, unit.id.ecap, 39)
                .map_err(|e| fail!("{e:?}"))?;
            let (src, dst, other, guard) = (frame(0xa5)?, frame(0)?, frame(0)?, frame(0x3c)?);
            let rw = Permissions::READ | Permissions::WRITE;
            let change = table.map(&m, IOVA_SRC, src, 4096, Permissions::READ).map_err(|e| fail!("{e:?}"))?;
            unit.apply(DOMAIN, None, change).map_err(|e| fail!("{e:?}"))?;
            let change = table.map(&m, IOVA_DST, dst, 4096, rw).map_err(|e| fail!("{e:?}"))?;
            unit.apply(DOMAIN, None, change).map_err(|e| fail!("{e:?}"))?;
            let width = AddressWidth::from_levels(table.levels()).ok_or_else(|| fail!("levels"))?;
            unit.attach_legacy(edu.rid, DOMAIN, TranslationType::Untranslated, table.root(), width)
                .map_err(|e| fail!("attach: {e:?}"))?;
            round_trip(unit, edu, src, dst)?;

            // Unmapped IOVA: equal to the guard frame's physical address, so a
            // DMA that bypassed translation would show in the guard frame.
            check!(unit.take_faults().is_empty(), "faults before the bad DMA");
            edu.dma(guard, true)?;
            let faults = unit.take_faults();
            check!(!faults.is_empty(), "no fault recorded");
            check_eq!(faults[0].address, guard);
            check_eq!(faults[0].source_id, edu.rid);
            check!(faults[0].write, "recorded as a read: {}", faults[0]);
            check!(bytes(guard).iter().all(|&b| b == 0x3c), "memory changed by a faulting DMA");

            // Remap IOVA_DST to another page; after the invalidation the DMA
            // lands there and the old page keeps what it had.
            let change = table.unmap(&m, IOVA_DST, 4096).map_err(|e| fail!("{e:?}"))?;
            unit.apply(DOMAIN, None, change).map_err(|e| fail!("{e:?}"))?;
            let change = table.map(&m, IOVA_DST, other, 4096, rw).map_err(|e| fail!("{e:?}"))?;
            unit.apply(DOMAIN, None, change).map_err(|e| fail!("{e:?}"))?;
            edu.dma(IOVA_DST, true)?;
            check!(bytes(other)[..LEN].iter().all(|&b| b == 0xa5), "remapped DMA missed the new page");
            unit.detach(edu.rid, DOMAIN).map_err(|e| fail!("{e:?}"))?;
            for f in [src, dst, other, guard] {
                let _ = mem::free_frames(f, 1);
            }
            table.destroy(&m).finish(&m);
            Ok(())
        })
    }
}

ktest! {
    /// Legacy mode pass-through (ECAP.PT): DMA addresses are physical.
    fn vtd_pass_through_dma_reaches_physical_addresses() {
        with_unit(Mode::Legacy, |unit, edu| {
            if !unit.id.ecap.pt() {
                skip!("ECAP.PT is clear");
            }
            let (src, dst) = (frame(0xa5)?, frame(0)?);
            unit.attach_legacy(edu.rid, DOMAIN, TranslationType::PassThrough, 0, AddressWidth::Bits48)
                .map_err(|e| fail!("{e:?}"))?;
            edu.dma(src, false)?;
            edu.dma(dst, true)?;
            check!(bytes(dst)[..LEN].iter().all(|&b| b == 0xa5), "pass-through DMA missed");
            unit.detach(edu.rid, DOMAIN).map_err(|e| fail!("{e:?}"))?;
            let _ = (mem::free_frames(src, 1), mem::free_frames(dst, 1));
            Ok(())
        })
    }
}

ktest! {
    /// Scalable mode, second stage (PGTT 010b on the RID_PASID entry).
    fn vtd_scalable_second_stage_dma() {
        with_unit(Mode::Scalable, |unit, edu| {
            if !unit.id.ecap.slts() {
                skip!("ECAP.SLTS is clear (QEMU x-flts=on)");
            }
            let m = KernelDma;
            let mut table = SecondStageTable::new(&m, unit.id.cap, unit.id.ecap, 48)
                .map_err(|e| fail!("{e:?}"))?;
            let (src, dst) = (frame(0xa5)?, frame(0)?);
            let mut change = table.map(&m, IOVA_SRC, src, 4096, Permissions::READ).map_err(|e| fail!("{e:?}"))?;
            change.merge(
                table.map(&m, IOVA_DST, dst, 4096, Permissions::READ | Permissions::WRITE)
                    .map_err(|e| fail!("{e:?}"))?,
            );
            unit.apply(DOMAIN, None, change).map_err(|e| fail!("{e:?}"))?;
            let width = AddressWidth::from_levels(table.levels()).ok_or_else(|| fail!("levels"))?;
            let entry = PasidEntry {
                fault_processing_disable: false,
                translation: PasidTranslation::SecondStage { root: table.root(), width },
                domain_id: DOMAIN,
                page_snoop: false,
                walk_snoop: false,
            };
            unit.set_pasid_entry(edu.rid, 0, entry).map_err(|e| fail!("{e:?}"))?;
            round_trip(unit, edu, src, dst)?;
            unit.detach(edu.rid, DOMAIN).map_err(|e| fail!("{e:?}"))?;
            let _ = (mem::free_frames(src, 1), mem::free_frames(dst, 1));
            table.destroy(&m).finish(&m);
            Ok(())
        })
    }
}

ktest! {
    /// Scalable mode, first stage (PGTT 001b, x86 4-level format, QEMU x-flts).
    fn vtd_scalable_first_stage_dma() {
        with_unit(Mode::Scalable, |unit, edu| {
            if !unit.id.ecap.flts() {
                skip!("ECAP.FLTS is clear");
            }
            let m = KernelDma;
            let mut table = FirstStageTable::new(&m, unit.id.cap, 48).map_err(|e| fail!("{e:?}"))?;
            let (src, dst) = (frame(0xa5)?, frame(0)?);
            let mut change = table.map(&m, IOVA_SRC, src, 4096, Permissions::READ).map_err(|e| fail!("{e:?}"))?;
            change.merge(
                table.map(&m, IOVA_DST, dst, 4096, Permissions::READ | Permissions::WRITE)
                    .map_err(|e| fail!("{e:?}"))?,
            );
            unit.apply(DOMAIN, Some(0), change).map_err(|e| fail!("{e:?}"))?;
            let entry = PasidEntry {
                fault_processing_disable: false,
                translation: PasidTranslation::FirstStage {
                    root: table.root(),
                    levels: FirstStageLevels::Four,
                    supervisor: false,
                    write_protect: false,
                },
                domain_id: DOMAIN,
                page_snoop: false,
                walk_snoop: false,
            };
            unit.set_pasid_entry(edu.rid, 0, entry).map_err(|e| fail!("{e:?}"))?;
            round_trip(unit, edu, src, dst)?;
            unit.detach(edu.rid, DOMAIN).map_err(|e| fail!("{e:?}"))?;
            let _ = (mem::free_frames(src, 1), mem::free_frames(dst, 1));
            table.destroy(&m).finish(&m);
            Ok(())
        })
    }
}

ktest! {
    /// An empty invalidation batch still ends with a wait descriptor whose status
    /// write the driver sees (QI), or completes at once (register-based).
    fn vtd_invalidation_wait_completes() {
        with_unit(Mode::Legacy, |unit, _| {
            unit.invalidate(&[]).map_err(|e| fail!("{e:?}"))?;
            unit.invalidate_all().map_err(|e| fail!("{e:?}"))?;
            Ok(())
        })
    }
}
