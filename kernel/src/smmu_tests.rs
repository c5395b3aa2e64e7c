//! In-kernel tests of the SMMUv3 driver against QEMU's smmuv3 with the edu
//! device, linear and 2-level stream tables: stage 1 (with F_TRANSLATION events
//! and remap + range invalidation), stage 2, nested, each with the stream-table
//! format this boot gave the SMMU (`vsva.smmu=linear` or 2-level). The scenarios are
//! `vsva_iommu::smmuv3::scenarios`, the same code the host tests run against
//! the software model.

use ktest::{TestResult, fail, ktest, skip};
use vsva_iommu::smmuv3::scenarios::{self, Outcome};

use crate::arch::dma::{KernelClock, KernelDma};
use crate::arch::mmio::Mmio;
use crate::edu::Edu;
use crate::iommu::{SMMU, SmmuUnit, boot_stream_table};

/// Runs scenario `name` on edu's SMMU re-initialised with the scenario's
/// stream table, and restores the boot configuration afterwards.
fn run(name: &str) -> TestResult {
    let (_, format, scenario) = scenarios::all::<Mmio, KernelDma, KernelClock, Edu>()
        .into_iter()
        .find(|(n, _, _)| *n == name)
        .ok_or_else(|| fail!("no scenario {name}"))?;
    let mut edu = Edu::find()?;
    let mut smmus = SMMU.lock();
    let boot = smmus
        .get_mut(edu.unit)
        .ok_or_else(|| fail!("edu's SMMU was not brought up"))?;
    let registers = *boot.registers();
    let id = boot.id;
    // QEMU keeps interpreting the stream table as 2-level once 2-level was
    // configured (its STRTAB_BASE_CFG handler only ever sets that feature), so
    // a scenario runs only with the format the SMMU was brought up with; xtask
    // boots the aarch64 test image once with each.
    let booted = boot_stream_table(&id);
    if core::mem::discriminant(&booted) != core::mem::discriminant(&format) {
        skip!(
            "this boot's SMMU has a {booted:?} stream table; the other format runs in its own boot"
        );
    }
    let mut smmu = SmmuUnit::new(registers, KernelDma, KernelClock, format)
        .map_err(|e| fail!("bring-up with {format:?}: {e:?}"))?;
    let outcome = scenario(&mut smmu, &mut edu);
    let _ = smmu.take_events();
    *boot = SmmuUnit::new(registers, KernelDma, KernelClock, boot_stream_table(&id))
        .map_err(|e| fail!("restoring: {e:?}"))?;
    match outcome {
        Ok(Outcome::Passed) => Ok(()),
        Ok(Outcome::Skipped(why)) => skip!("{why}"),
        Err(e) => Err(fail!("{e}")),
    }
}

ktest! {
    /// Stage 1, linear stream table.
    fn smmu_stage1_linear() {
        run("stage1_linear")
    }
}

ktest! {
    /// Stage 1, 2-level stream table.
    fn smmu_stage1_two_level() {
        run("stage1_two_level")
    }
}

ktest! {
    /// Stage 2, linear stream table.
    fn smmu_stage2_linear() {
        run("stage2_linear")
    }
}

ktest! {
    /// Stage 2, 2-level stream table.
    fn smmu_stage2_two_level() {
        run("stage2_two_level")
    }
}

ktest! {
    /// Nested (CD and stage-1 tables at IPAs), linear stream table.
    fn smmu_nested_linear() {
        run("nested_linear")
    }
}

ktest! {
    /// Nested, 2-level stream table.
    fn smmu_nested_two_level() {
        run("nested_two_level")
    }
}
