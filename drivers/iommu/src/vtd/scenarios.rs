//! DMA scenarios run by both the QEMU tests (the kernel's test image, with the
//! edu device behind QEMU's intel-iommu) and the host tests (the software
//! model): the same code checks the same effects on both, so where QEMU
//! emulates a feature, QEMU and the model must agree.
//!
//! A scenario takes a brought-up [`Unit`] with translation on and a [`Bench`]:
//! a DMA-capable device with a small internal buffer (edu's, or one the model
//! bench keeps) and access to physical memory to prepare and inspect pages.

use alloc::format;
use alloc::string::String;

use super::pagetable::{FirstStageTable, Permissions, SecondStageTable};
use super::tables::{
    AddressWidth, FirstStageLevels, PasidEntry, PasidTranslation, TranslationType,
};
use super::unit::{Mode, Unit};
use crate::hw::{Clock, DmaMemory, RegisterAccess};

/// Bytes each transfer moves.
pub const LEN: usize = 256;
/// Domain the scenarios use.
pub const DOMAIN: u16 = 7;
/// IOVA windows.
pub const IOVA_SRC: u64 = 0x1000_0000;
pub const IOVA_DST: u64 = 0x2000_0000;

/// A device that does DMA through the unit, and the memory around it.
pub trait Bench {
    /// The device's requester ID.
    fn rid(&self) -> u16;
    /// One transfer of [`LEN`] bytes between the device's buffer and `iova`
    /// (`to_ram`: buffer -> memory). A transfer the IOMMU blocks still
    /// completes from the device's view (the fault is in the unit's records);
    /// `Err` only when the device itself failed.
    fn dma(&mut self, iova: u64, to_ram: bool) -> Result<(), String>;
    /// A fresh page of memory the unit can reach, filled with `fill`.
    fn page(&mut self, fill: u8) -> Result<u64, String>;
    /// Reads physical memory.
    fn read(&self, phys: u64, buf: &mut [u8]);
    /// Gives a page from [`page`](Self::page) back.
    fn free(&mut self, page: u64);
    /// The physical range [`page`](Self::page) and the drivers' tables come
    /// from (granule aligned), for scenarios that must map it whole.
    fn ram(&self) -> core::ops::Range<u64>;
}

/// DMA by one device through a software IOMMU model; `false` when the IOMMU
/// blocked the transfer (it recorded the fault).
#[cfg(test)]
pub(crate) trait ModelDma {
    fn read(&self, iova: u64, buf: &mut [u8]) -> bool;
    fn write(&self, iova: u64, data: &[u8]) -> bool;
}

/// A model as a [`Bench`] (host tests of both drivers): a device with its own
/// [`LEN`]-byte buffer doing DMA through `dma`, like edu through QEMU's IOMMU,
/// over simulated memory whose allocations come from `ram`.
#[cfg(test)]
pub(crate) struct ModelBench<'a, D> {
    pub dma: D,
    pub rid: u16,
    pub mem: &'a crate::hw::sim::SimMemory,
    pub ram: core::ops::Range<u64>,
    pub buffer: [u8; LEN],
}

#[cfg(test)]
impl<D: ModelDma> Bench for ModelBench<'_, D> {
    fn rid(&self) -> u16 {
        self.rid
    }

    fn dma(&mut self, iova: u64, to_ram: bool) -> Result<(), String> {
        // A blocked transfer completes from the device's view; the IOMMU recorded it.
        if to_ram {
            self.dma.write(iova, &self.buffer);
        } else {
            let mut buf = [0u8; LEN];
            if self.dma.read(iova, &mut buf) {
                self.buffer = buf;
            }
        }
        Ok(())
    }

    fn page(&mut self, fill: u8) -> Result<u64, String> {
        let page = self
            .mem
            .alloc_pages(1)
            .ok_or_else(|| String::from("simulated memory exhausted"))?;
        self.mem.write(page, &[fill; 4096]);
        Ok(page)
    }

    fn read(&self, phys: u64, buf: &mut [u8]) {
        self.mem.read(phys, buf);
    }

    fn free(&mut self, page: u64) {
        self.mem.free_pages(page, 1);
    }

    fn ram(&self) -> core::ops::Range<u64> {
        self.ram.clone()
    }
}

/// How a scenario ended when it did not fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Passed,
    /// The unit lacks what the scenario needs.
    Skipped(&'static str),
}

pub type ScenarioResult = Result<Outcome, String>;

macro_rules! ensure {
    ($cond:expr, $($arg:tt)+) => {
        if !$cond {
            return Err(format!($($arg)+));
        }
    };
}

pub(crate) fn page_is(
    bench: &impl Bench,
    phys: u64,
    range: core::ops::Range<usize>,
    byte: u8,
) -> bool {
    let mut buf = [0u8; 4096];
    bench.read(phys, &mut buf);
    buf[range].iter().all(|&b| b == byte)
}

/// RAM -> device -> RAM through IOVA_SRC / IOVA_DST: the data must land in
/// `dst` only, and no fault may be recorded.
fn round_trip<R: RegisterAccess, M: DmaMemory, C: Clock, B: Bench>(
    unit: &mut Unit<R, M, C>,
    bench: &mut B,
    src: u64,
    dst: u64,
) -> Result<(), String> {
    bench.dma(IOVA_SRC, false)?;
    bench.dma(IOVA_DST, true)?;
    if let Some(fault) = unit.take_faults().first() {
        return Err(format!("DMA faulted: {fault}"));
    }
    transfer_landed(bench, src, dst)
}

/// After a faultless RAM -> device -> RAM transfer from `src` (filled with
/// 0xa5) to `dst` (zeroed): the data is in `dst`, nothing past it changed,
/// and `src` is intact. Shared with the SMMUv3 scenarios.
pub(crate) fn transfer_landed(bench: &impl Bench, src: u64, dst: u64) -> Result<(), String> {
    ensure!(
        page_is(bench, dst, 0..LEN, 0xa5),
        "the data did not land in the mapped page"
    );
    ensure!(
        page_is(bench, dst, LEN..4096, 0),
        "bytes past the transfer changed"
    );
    ensure!(
        page_is(bench, src, 0..4096, 0xa5),
        "the source page changed"
    );
    Ok(())
}

const RW: Permissions = Permissions::READ.union(Permissions::WRITE);

/// Legacy mode, second stage: exact placement; a DMA to an unmapped IOVA is a
/// fault record with that address and the device's requester ID and changes no
/// memory; a remap followed by its invalidation redirects the next DMA.
pub fn legacy_second_stage<R: RegisterAccess, M: DmaMemory, C: Clock, B: Bench>(
    unit: &mut Unit<R, M, C>,
    bench: &mut B,
) -> ScenarioResult {
    if unit.mode() != Mode::Legacy {
        return Ok(Outcome::Skipped("the unit is not in legacy mode"));
    }
    let err = |e| format!("{e:?}");
    let rid = bench.rid();
    let (cap, ecap) = (unit.id.cap, unit.id.ecap);
    let mut table = SecondStageTable::new(unit.memory(), cap, ecap, 39).map_err(err)?;
    let (src, dst, other, guard) = (
        bench.page(0xa5)?,
        bench.page(0)?,
        bench.page(0)?,
        bench.page(0x3c)?,
    );
    let mut change = table
        .map(unit.memory(), IOVA_SRC, src, 4096, Permissions::READ)
        .map_err(err)?;
    change.merge(
        table
            .map(unit.memory(), IOVA_DST, dst, 4096, RW)
            .map_err(err)?,
    );
    unit.apply(DOMAIN, None, change)
        .map_err(|e| format!("{e:?}"))?;
    let width = AddressWidth::from_levels(table.levels()).ok_or("table levels")?;
    unit.attach_legacy(
        rid,
        DOMAIN,
        TranslationType::Untranslated,
        table.root(),
        width,
    )
    .map_err(|e| format!("attach: {e:?}"))?;
    round_trip(unit, bench, src, dst)?;

    // The unmapped IOVA equals the guard page's physical address: a DMA that
    // bypassed translation would show there.
    bench.dma(guard, true)?;
    let faults = unit.take_faults();
    ensure!(!faults.is_empty(), "no fault recorded for an unmapped IOVA");
    ensure!(
        faults[0].address == guard,
        "fault address {:#x}, expected {guard:#x}",
        faults[0].address
    );
    ensure!(
        faults[0].source_id == rid,
        "fault requester {:#x}, expected {rid:#x}",
        faults[0].source_id
    );
    ensure!(
        faults[0].write,
        "the fault is recorded as a read: {}",
        faults[0]
    );
    ensure!(
        page_is(bench, guard, 0..4096, 0x3c),
        "a faulting DMA changed memory"
    );

    let mut change = table.unmap(unit.memory(), IOVA_DST, 4096).map_err(err)?;
    change.merge(
        table
            .map(unit.memory(), IOVA_DST, other, 4096, RW)
            .map_err(err)?,
    );
    unit.apply(DOMAIN, None, change)
        .map_err(|e| format!("{e:?}"))?;
    bench.dma(IOVA_DST, true)?;
    ensure!(
        page_is(bench, other, 0..LEN, 0xa5),
        "after remap + invalidation the DMA missed the new page"
    );
    unit.detach(rid, DOMAIN).map_err(|e| format!("{e:?}"))?;
    table.destroy(unit.memory()).finish(unit.memory());
    for p in [src, dst, other, guard] {
        bench.free(p);
    }
    Ok(Outcome::Passed)
}

/// Pass-through (legacy TT = 10b, ECAP.PT): DMA addresses are physical.
pub fn pass_through<R: RegisterAccess, M: DmaMemory, C: Clock, B: Bench>(
    unit: &mut Unit<R, M, C>,
    bench: &mut B,
) -> ScenarioResult {
    if unit.mode() != Mode::Legacy {
        return Ok(Outcome::Skipped("the unit is not in legacy mode"));
    }
    if !unit.id.ecap.pt() {
        return Ok(Outcome::Skipped("ECAP.PT is clear"));
    }
    let rid = bench.rid();
    let (src, dst) = (bench.page(0xa5)?, bench.page(0)?);
    unit.attach_legacy(
        rid,
        DOMAIN,
        TranslationType::PassThrough,
        0,
        AddressWidth::Bits48,
    )
    .map_err(|e| format!("{e:?}"))?;
    bench.dma(src, false)?;
    bench.dma(dst, true)?;
    ensure!(unit.take_faults().is_empty(), "pass-through DMA faulted");
    ensure!(
        page_is(bench, dst, 0..LEN, 0xa5),
        "pass-through DMA missed the physical page"
    );
    unit.detach(rid, DOMAIN).map_err(|e| format!("{e:?}"))?;
    bench.free(src);
    bench.free(dst);
    Ok(Outcome::Passed)
}

fn attach_pasid0<R: RegisterAccess, M: DmaMemory, C: Clock>(
    unit: &mut Unit<R, M, C>,
    rid: u16,
    translation: PasidTranslation,
) -> Result<(), String> {
    let entry = PasidEntry {
        fault_processing_disable: false,
        translation,
        domain_id: DOMAIN,
        page_snoop: false,
        walk_snoop: false,
    };
    unit.set_pasid_entry(rid, 0, entry)
        .map_err(|e| format!("{e:?}"))
}

/// Scalable mode, second stage only (PGTT 010b) on the RID_PASID entry.
pub fn scalable_second_stage<R: RegisterAccess, M: DmaMemory, C: Clock, B: Bench>(
    unit: &mut Unit<R, M, C>,
    bench: &mut B,
) -> ScenarioResult {
    if unit.mode() != Mode::Scalable {
        return Ok(Outcome::Skipped("the unit is not in scalable mode"));
    }
    if !unit.id.ecap.slts() {
        return Ok(Outcome::Skipped("ECAP.SLTS is clear"));
    }
    let err = |e| format!("{e:?}");
    let rid = bench.rid();
    let mut table =
        SecondStageTable::new(unit.memory(), unit.id.cap, unit.id.ecap, 48).map_err(err)?;
    let (src, dst) = (bench.page(0xa5)?, bench.page(0)?);
    let mut change = table
        .map(unit.memory(), IOVA_SRC, src, 4096, Permissions::READ)
        .map_err(err)?;
    change.merge(
        table
            .map(unit.memory(), IOVA_DST, dst, 4096, RW)
            .map_err(err)?,
    );
    unit.apply(DOMAIN, None, change)
        .map_err(|e| format!("{e:?}"))?;
    let width = AddressWidth::from_levels(table.levels()).ok_or("table levels")?;
    attach_pasid0(
        unit,
        rid,
        PasidTranslation::SecondStage {
            root: table.root(),
            width,
        },
    )?;
    round_trip(unit, bench, src, dst)?;
    unit.detach(rid, DOMAIN).map_err(|e| format!("{e:?}"))?;
    table.destroy(unit.memory()).finish(unit.memory());
    bench.free(src);
    bench.free(dst);
    Ok(Outcome::Passed)
}

/// Scalable mode, first stage only (PGTT 001b, 4-level x86 format).
pub fn scalable_first_stage<R: RegisterAccess, M: DmaMemory, C: Clock, B: Bench>(
    unit: &mut Unit<R, M, C>,
    bench: &mut B,
) -> ScenarioResult {
    if unit.mode() != Mode::Scalable {
        return Ok(Outcome::Skipped("the unit is not in scalable mode"));
    }
    if !unit.id.ecap.flts() {
        return Ok(Outcome::Skipped("ECAP.FLTS is clear"));
    }
    let err = |e| format!("{e:?}");
    let rid = bench.rid();
    let mut table = FirstStageTable::new(unit.memory(), unit.id.cap, 48).map_err(err)?;
    let (src, dst) = (bench.page(0xa5)?, bench.page(0)?);
    let mut change = table
        .map(unit.memory(), IOVA_SRC, src, 4096, Permissions::READ)
        .map_err(err)?;
    change.merge(
        table
            .map(unit.memory(), IOVA_DST, dst, 4096, RW)
            .map_err(err)?,
    );
    unit.apply(DOMAIN, Some(0), change)
        .map_err(|e| format!("{e:?}"))?;
    let translation = PasidTranslation::FirstStage {
        root: table.root(),
        levels: FirstStageLevels::Four,
        supervisor: false,
        write_protect: false,
    };
    attach_pasid0(unit, rid, translation)?;
    round_trip(unit, bench, src, dst)?;
    unit.detach(rid, DOMAIN).map_err(|e| format!("{e:?}"))?;
    table.destroy(unit.memory()).finish(unit.memory());
    bench.free(src);
    bench.free(dst);
    Ok(Outcome::Passed)
}

/// An (empty) invalidation batch completes: its wait descriptor's status write
/// is seen (QI), or the register-based interface returns.
pub fn invalidation_wait<R: RegisterAccess, M: DmaMemory, C: Clock, B: Bench>(
    unit: &mut Unit<R, M, C>,
    _bench: &mut B,
) -> ScenarioResult {
    unit.invalidate(&[]).map_err(|e| format!("{e:?}"))?;
    unit.invalidate_all().map_err(|e| format!("{e:?}"))?;
    Ok(Outcome::Passed)
}

/// A scenario function.
pub type Scenario<R, M, C, B> = fn(&mut Unit<R, M, C>, &mut B) -> ScenarioResult;

/// A scenario's name, the mode its unit is brought up in, and the function.
pub type NamedScenario<R, M, C, B> = (&'static str, Mode, Scenario<R, M, C, B>);

/// Every scenario, by name, with the mode its unit must be brought up in: the
/// list both the QEMU and the model tests walk.
pub fn all<R: RegisterAccess, M: DmaMemory, C: Clock, B: Bench>() -> [NamedScenario<R, M, C, B>; 5]
{
    [
        (
            "legacy_second_stage",
            Mode::Legacy,
            legacy_second_stage::<R, M, C, B>,
        ),
        ("pass_through", Mode::Legacy, pass_through::<R, M, C, B>),
        (
            "scalable_second_stage",
            Mode::Scalable,
            scalable_second_stage::<R, M, C, B>,
        ),
        (
            "scalable_first_stage",
            Mode::Scalable,
            scalable_first_stage::<R, M, C, B>,
        ),
        (
            "invalidation_wait",
            Mode::Legacy,
            invalidation_wait::<R, M, C, B>,
        ),
    ]
}
