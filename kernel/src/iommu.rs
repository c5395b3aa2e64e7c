//! The IOMMU units at boot: their identification registers read and decoded
//! for the log, then each brought up by its driver and handed to the vSVA
//! service ([`Service`]), which from then on is the one IOMMU-neutral handle
//! partitions (and the tests) reach the units through ([`iommus`]).
#![deny(unsafe_code)]

use alloc::string::String;
use alloc::vec::Vec;

use log::{info, warn};
use spin::Once;
use vsva_iommu::{smmuv3, vtd};
use vsva_sva::Sva;
use vsva_sva::backend::AnyUnit;
use vsva_sva::backend::smmu::SmmuBackend;
use vsva_sva::backend::vtd::VtdBackend;

use crate::arch::dma::{KernelClock, KernelDma};
use crate::arch::mmio::Mmio;
use crate::platform::{IommuKind, IommuUnit, Platform};

/// A VT-d unit driven by vsva.
pub type VtdUnit = vtd::unit::Unit<Mmio, KernelDma, KernelClock>;

/// An SMMUv3 driven by vsva.
pub type SmmuUnit = smmuv3::unit::Smmu<Mmio, KernelDma, KernelClock>;

/// A unit of either kind, as the service drives it.
pub type KernelUnit =
    AnyUnit<VtdBackend<Mmio, KernelDma, KernelClock>, SmmuBackend<Mmio, KernelDma, KernelClock>>;

/// The vSVA service over this machine's units.
pub type Service = Sva<KernelUnit>;

/// The handle on the units: the service behind a lock.
pub type Iommus = spin::Mutex<Service>;

/// PASIDs of the global namespace: the PCIe maximum; each device and unit
/// narrows what it can use (SvaInfo.pasid_bits).
const PASID_BITS: u8 = 20;

static IOMMUS: Once<Iommus> = Once::new();

/// The units and the service (empty until [`init`] ran, or on a machine
/// without IOMMUs).
pub fn iommus() -> &'static Iommus {
    IOMMUS.call_once(|| spin::Mutex::new(Sva::new(Vec::new(), PASID_BITS)))
}

/// Set from `vsva.smmu=linear` on the command line.
pub static SMMU_LINEAR: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);

/// The stream table vsva gives an SMMU at boot: 2-level (level-2 tables only
/// for buses in use) where IDR0.ST_LEVEL allows and `vsva.smmu=linear` was not
/// asked for, else linear over 16-bit StreamIDs.
pub fn boot_stream_table(id: &smmuv3::regs::Identification) -> smmuv3::unit::StreamTableFormat {
    use smmuv3::unit::StreamTableFormat;
    let linear = SMMU_LINEAR.load(core::sync::atomic::Ordering::Relaxed);
    if !linear && matches!(id.idr0.st_level(), smmuv3::regs::StLevel::TwoLevel) {
        StreamTableFormat::TwoLevel {
            sid_bits: id.idr1.sidsize().min(16),
            split: 8,
        }
    } else {
        StreamTableFormat::Linear {
            sid_bits: id.idr1.sidsize().min(16),
        }
    }
}

/// Brings an SMMU up with every STE invalid: all streams abort (C_BAD_STE)
/// until attached.
fn bring_up_smmu(
    registers: Mmio,
    id: &smmuv3::regs::Identification,
) -> Result<SmmuUnit, smmuv3::unit::SmmuError> {
    SmmuUnit::new(registers, KernelDma, KernelClock, boot_stream_table(id))
}

/// The wired interrupts (GIC INTIDs) an SMMU was given, beside [`SMMU`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SmmuInterrupts {
    /// `cmdq-sync`: CMD_SYNC completion is awaited on it.
    pub cmd_sync: Option<u32>,
    /// `eventq`: one per batch of new event records (IRQ_CTRL.EVENTQ_IRQEN).
    pub eventq: Option<u32>,
    /// `gerror`: global errors (IRQ_CTRL.GERROR_IRQEN).
    pub gerror: Option<u32>,
}

/// Per unit, in platform order (default for VT-d units and units not
/// brought up).
pub static SMMU_INTERRUPTS: spin::Mutex<Vec<SmmuInterrupts>> = spin::Mutex::new(Vec::new());

/// Routes an SMMU's wired interrupts to this CPU where a GIC is up and
/// firmware names them: `cmdq-sync`, `eventq` and `gerror` (not `priq`: QEMU's
/// SMMU has no PRI queue, and nothing consumes page requests at interrupt time
/// yet). The lines are edge-triggered: the DT binding's, and IORT GSIVs, which
/// Linux also maps as edge.
#[cfg(target_arch = "aarch64")]
fn route_smmu_interrupts(unit: &IommuUnit) -> SmmuInterrupts {
    use crate::arch::gic::{self, Trigger};
    if !gic::present() {
        return SmmuInterrupts::default();
    }
    let named = |name: &str| {
        unit.interrupts
            .iter()
            .find(|(n, _)| n == name)
            .map(|&(_, intid)| intid)
            .filter(|&intid| match gic::enable(intid, Trigger::Edge) {
                Ok(()) => true,
                Err(e) => {
                    warn!("  SMMU interrupt {name} (INTID {intid}): {e:?}");
                    false
                }
            })
    };
    SmmuInterrupts {
        cmd_sync: named("cmdq-sync"),
        eventq: named("eventq"),
        gerror: named("gerror"),
    }
}

#[cfg(not(target_arch = "aarch64"))]
fn route_smmu_interrupts(_: &IommuUnit) -> SmmuInterrupts {
    SmmuInterrupts::default()
}

/// Makes a (re-)initialised SMMU use its routed lines: CMD_SYNC completion
/// awaited on `cmdq-sync`, IRQ_CTRL enabling the event queue and GERROR
/// interrupts.
pub fn apply_smmu_interrupts(
    smmu: &mut SmmuUnit,
    wired: &SmmuInterrupts,
) -> Result<(), smmuv3::unit::SmmuError> {
    use smmuv3::regs::IrqCtrl;
    #[cfg(target_arch = "aarch64")]
    if let Some(intid) = wired.cmd_sync {
        smmu.use_sync_interrupt(Some(alloc::boxed::Box::new(crate::arch::gic::Line(intid))));
    }
    let mut enables = IrqCtrl::empty();
    enables.set(IrqCtrl::EVENTQ_IRQEN, wired.eventq.is_some());
    enables.set(IrqCtrl::GERROR_IRQEN, wired.gerror.is_some());
    smmu.enable_interrupts(enables)
}

/// Brings a VT-d unit up in scalable mode where it can (legacy otherwise) with
/// translation on and no device attached: all DMA through it is blocked until a
/// domain is attached.
fn bring_up_vtd(registers: Mmio) -> Result<VtdUnit, vtd::unit::VtdError> {
    let mut unit = VtdUnit::new(registers, KernelDma, KernelClock, vtd::unit::Mode::Scalable)?;
    unit.enable_translation()?;
    // DMA remapping does not cover the interrupt address range: without
    // interrupt remapping a device could send vsva any interrupt.
    if unit.id.ecap.ir() {
        unit.block_device_interrupts()?;
    } else {
        warn!("  no interrupt remapping (ECAP.IR): devices must not be assigned to partitions");
    }
    Ok(unit)
}

/// What a unit's identification registers say.
#[derive(Debug, Clone, Copy)]
pub enum Identification {
    Vtd(vtd::regs::Identification),
    SmmuV3(smmuv3::regs::Identification),
}

/// One unit, mapped and identified.
#[derive(Debug)]
pub struct Unit {
    pub registers: Mmio,
    pub id: Identification,
}

/// Every unit discovery found, in the platform's order.
pub static UNITS: Once<Vec<Unit>> = Once::new();

fn identify(unit: &IommuUnit) -> Result<Unit, String> {
    let window = unit.size.max(0x1000);
    let registers = Mmio::map(unit.base, window)
        .map_err(|e| alloc::format!("cannot map its registers: {e:?}"))?;
    let missing = || String::from("registers outside the mapped window");
    let id = match unit.kind {
        IommuKind::Vtd => {
            use vtd::regs::{CAP_REG, Capability, ECAP_REG, ExtendedCapability, VER_REG, Version};
            Identification::Vtd(vtd::regs::Identification::new(
                Version::new(registers.read32(VER_REG).ok_or_else(missing)?),
                Capability::new(registers.read64(CAP_REG).ok_or_else(missing)?),
                ExtendedCapability::new(registers.read64(ECAP_REG).ok_or_else(missing)?),
            ))
        }
        IommuKind::SmmuV3 => {
            // 32-bit accesses: the ID registers are 32 bits wide (SMMUv3 §6.2).
            let mut raw = [0u32; 8];
            for (value, &offset) in raw.iter_mut().zip(&smmuv3::regs::Identification::REGISTERS) {
                *value = registers.read32(offset).ok_or_else(missing)?;
            }
            Identification::SmmuV3(smmuv3::regs::Identification::from_raw(raw))
        }
    };
    Ok(Unit { registers, id })
}

/// Maps and identifies every unit, logs one line each, brings each up and
/// gives them (indexed as the platform numbers them) to the service.
pub fn init(platform: &Platform) -> &'static [Unit] {
    let mut units = Vec::new();
    let mut driven: Vec<Option<KernelUnit>> = Vec::new();
    for unit in &platform.iommus {
        let mut brought_up = None;
        match identify(unit) {
            Ok(u) => {
                match &u.id {
                    Identification::Vtd(id) => info!("IOMMU at {:#x}: {id}", unit.base),
                    Identification::SmmuV3(id) => info!("IOMMU at {:#x}: {id}", unit.base),
                }
                brought_up = match u.id {
                    Identification::Vtd(_) => bring_up_vtd(u.registers)
                        .map_err(|e| {
                            warn!("  VT-d bring-up failed: {e:?}; left as firmware set it up")
                        })
                        .ok()
                        .map(|vtd| {
                            report_vtd(&vtd);
                            AnyUnit::Vtd(VtdBackend::new(vtd))
                        }),
                    Identification::SmmuV3(id) => bring_up_smmu(u.registers, &id)
                        .map_err(|e| {
                            warn!("  SMMUv3 bring-up failed: {e:?}; left as firmware set it up")
                        })
                        .ok()
                        .map(|smmu| AnyUnit::Smmu(SmmuBackend::new(with_interrupts(smmu, unit)))),
                };
                units.push(u);
            }
            Err(e) => warn!("IOMMU at {:#x}: {e}", unit.base),
        }
        driven.push(brought_up);
        if SMMU_INTERRUPTS.lock().len() < driven.len() {
            SMMU_INTERRUPTS.lock().push(SmmuInterrupts::default());
        }
    }
    *iommus().lock() = Sva::new(driven, PASID_BITS);
    UNITS.call_once(|| units)
}

fn report_vtd(vtd: &VtdUnit) {
    info!(
        "  {:?} mode, queued invalidation {}, translation on: DMA blocked until a domain is attached; device interrupts {}",
        vtd.mode(),
        if vtd.id.ecap.qi() {
            "on"
        } else {
            "absent (register-based)"
        },
        if vtd.interrupts_remapped() {
            "blocked (interrupt remapping, empty table)"
        } else {
            "not remapped"
        }
    );
}

/// Routes an SMMU's wired interrupts (polling without them) and records
/// them in [`SMMU_INTERRUPTS`] at the unit's index.
fn with_interrupts(mut smmu: SmmuUnit, unit: &IommuUnit) -> SmmuUnit {
    let mut wired = route_smmu_interrupts(unit);
    if let Err(e) = apply_smmu_interrupts(&mut smmu, &wired) {
        warn!("  SMMU interrupts not enabled: {e:?}; polling");
        smmu.use_sync_interrupt(None);
        wired = SmmuInterrupts::default();
    }
    info!(
        "  {:?} stream table, queues on, SMMUEN on: every stream aborts until attached",
        smmu.format()
    );
    info!(
        "  CMD_SYNC completion: {:?}; interrupts: cmdq-sync {:?}, eventq {:?}, gerror {:?}",
        smmu.sync_completion(),
        wired.cmd_sync,
        wired.eventq,
        wired.gerror
    );
    SMMU_INTERRUPTS.lock().push(wired);
    smmu
}

#[cfg(feature = "ktest")]
mod ktests {
    use ktest::{check, check_eq, fail, ktest};

    use super::{Identification, UNITS};

    fn first() -> Result<Identification, ktest::Failure> {
        let units = UNITS
            .get()
            .ok_or_else(|| fail!("IOMMU identification did not run"))?;
        check_eq!(units.len(), 1);
        Ok(units[0].id)
    }

    ktest! {
        /// The unit's identification registers, read through its mapped window,
        /// decode to what QEMU's IOMMU with vsva's options reports
        /// (../shared/docs/qemu-iommu.md).
        fn the_iommu_identifies_as_qemu_configures_it() {
            match first()? {
                #[cfg(target_arch = "x86_64")]
                Identification::Vtd(id) => {
                    // The three intel-iommu configurations xtask runs (qemu-iommu.md).
                    check_eq!((id.version.major(), id.version.minor()), (1, 0));
                    check!(id.ecap.qi() && !id.ecap.nest() && !id.ecap.prs());
                    match (id.ecap.smts(), id.ecap.flts()) {
                        // x-scalable-mode=on,x-flts=on,x-pasid-mode=on
                        (true, true) => {
                            check!(id.ecap.pasid() && !id.ecap.slts() && id.cap.fl1gp())
                        }
                        // x-scalable-mode=on,x-pasid-mode=on
                        (true, false) => check!(id.ecap.pasid() && id.ecap.slts()),
                        // legacy
                        (false, _) => check!(!id.ecap.pasid() && !id.ecap.slts()),
                    }
                    check_eq!(id.cap.fault_recording_count(), 1);
                    check_eq!(id.cap.fault_recording_offset(), 0x220);
                    check_eq!(id.cap.max_guest_address_width(), 48);
                }
                #[cfg(target_arch = "aarch64")]
                Identification::SmmuV3(id) => {
                    check_eq!(id.aidr.smmuv3_minor(), Some(1));
                    check!(id.idr0.s1p() && id.idr0.s2p() && id.idr0.nested());
                    check!(!id.idr0.ats() && !id.idr0.pri() && !id.idr0.msi());
                    check_eq!(id.idr1.sidsize(), 16);
                    check_eq!(id.idr1.ssidsize(), 0);
                    check!(id.idr3.ril());
                    check_eq!(id.idr5.oas_bits(), Some(44));
                }
                #[allow(unreachable_patterns)]
                other => return Err(fail!("unexpected IOMMU kind {other:?}")),
            }
            Ok(())
        }
    }
}
