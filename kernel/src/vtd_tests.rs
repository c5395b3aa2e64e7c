//! In-kernel tests of the VT-d driver against QEMU's intel-iommu with the edu
//! device. The scenarios themselves are `vsva_iommu::vtd::scenarios`, the same
//! code the host tests run against the software model; here edu is the device.
//! xtask runs the x86_64 test image under three intel-iommu configurations;
//! each scenario skips where the unit lacks what it needs.
//!

use ktest::{TestResult, fail, ktest, skip};
use vsva_iommu::vtd::scenarios::{self, Bench, Outcome};
use vsva_iommu::vtd::unit::Mode;

use crate::arch;
use crate::arch::dma::{KernelClock, KernelDma};
use crate::arch::mmio::Mmio;
use crate::edu::Edu;
use crate::iommu::{VtdUnit, iommus};

/// Runs the shared scenario `name` with the first VT-d unit re-initialised in
/// the scenario's mode, and restores the boot configuration afterwards.
fn run(name: &str) -> TestResult {
    let (_, mode, scenario) = scenarios::all::<Mmio, KernelDma, KernelClock, Edu>()
        .into_iter()
        .find(|(n, _, _)| *n == name)
        .ok_or_else(|| fail!("no scenario {name}"))?;
    let mut edu = Edu::find()?;
    let mut service = iommus().lock();
    let boot = service
        .unit_mut(edu.unit)
        .and_then(|u| u.vtd())
        .map(|b| b.unit())
        .ok_or_else(|| fail!("edu's VT-d unit was not brought up"))?;
    let registers = *boot.registers();
    let mut unit = VtdUnit::new(registers, KernelDma, KernelClock, mode)
        .map_err(|e| fail!("bring-up in {mode:?}: {e:?}"))?;
    let outcome = if unit.mode() != mode {
        Ok(Outcome::Skipped("the unit has no scalable mode"))
    } else {
        unit.enable_translation().map_err(|e| fail!("TE: {e:?}"))?;
        scenario(&mut unit, &mut edu)
    };
    let _ = unit.take_faults();
    *boot = VtdUnit::new(registers, KernelDma, KernelClock, Mode::Scalable)
        .map_err(|e| fail!("restoring: {e:?}"))?;
    boot.enable_translation()
        .map_err(|e| fail!("restoring TE: {e:?}"))?;
    match outcome {
        Ok(Outcome::Passed) => Ok(()),
        Ok(Outcome::Skipped(why)) => skip!("{why}"),
        Err(e) => Err(fail!("{e}")),
    }
}

ktest! {
    /// Legacy second stage: placement, fault record (address, requester, no
    /// memory change), remap + invalidation.
    fn vtd_legacy_second_stage() {
        run("legacy_second_stage")
    }
}

ktest! {
    /// Pass-through.
    fn vtd_pass_through() {
        run("pass_through")
    }
}

ktest! {
    /// Scalable mode, second stage (needs ECAP.SLTS: QEMU without x-flts).
    fn vtd_scalable_second_stage() {
        run("scalable_second_stage")
    }
}

ktest! {
    /// Scalable mode, first stage (needs ECAP.FLTS: QEMU x-flts=on).
    fn vtd_scalable_first_stage() {
        run("scalable_first_stage")
    }
}

ktest! {
    /// An invalidation wait completes.
    fn vtd_invalidation_wait() {
        run("invalidation_wait")
    }
}

ktest! {
    /// The fault event: with FEDATA/FEADDR aimed at this CPU's APIC and FECTL
    /// unmasked, a blocked DMA arrives as an interrupt on the fault vector, and
    /// the fault record read by the handler's caller names the address.
    fn vtd_fault_event_interrupt_is_delivered() {
        use arch::interrupts::{IOMMU_FAULT_VECTOR, count, init_local_apic, msi_address, with_interrupts};
        init_local_apic().map_err(|e| fail!("local APIC: {e:?}"))?;
        let mut edu = Edu::find()?;
        let mut service = iommus().lock();
        let unit = service
            .unit_mut(edu.unit)
            .and_then(|u| u.vtd())
            .map(|b| b.unit())
            .ok_or_else(|| fail!("edu's VT-d unit was not brought up"))?;
        let _ = unit.take_faults();
        unit.enable_fault_event(msi_address(), u32::from(IOMMU_FAULT_VECTOR));
        let before = count(IOMMU_FAULT_VECTOR);
        // Nothing is attached at boot: every DMA through the unit is blocked.
        let target = edu.page(0x11).map_err(|e| fail!("{e}"))?;
        let arrived = with_interrupts(|| -> Result<bool, ktest::Failure> {
            edu.dma(target, true).map_err(|e| fail!("{e}"))?;
            let start = arch::time::uptime_nanos();
            while count(IOMMU_FAULT_VECTOR) == before {
                if arch::time::uptime_nanos() - start > 1_000_000_000 {
                    return Ok(false);
                }
                core::hint::spin_loop();
            }
            Ok(true)
        })?;
        unit.mask_fault_event();
        let faults = unit.take_faults();
        if !arrived {
            return Err(fail!("no fault event interrupt within 1 s (faults: {})", faults.len()));
        }
        let first = faults.first().ok_or_else(|| fail!("interrupt without a fault record"))?;
        if first.address != target || first.source_id != edu.rid() {
            return Err(fail!("unexpected fault record {first}"));
        }
        let mut buf = [0u8; 4096];
        edu.read(target, &mut buf);
        if buf.iter().any(|&b| b != 0x11) {
            return Err(fail!("the blocked DMA changed memory"));
        }
        edu.free(target);
        Ok(())
    }
}
