//! The VT-d rig: the model, the service over one unit, partitions whose
//! nested page table maps their RAM (the CPU's stage 2, which plain DMA
//! uses too).

use alloc::rc::Rc;
use alloc::vec;

use vsva_iommu::hw::sim::{SimClock, SimMemory};
use vsva_iommu::vtd::model::{self, VtdModel};
use vsva_iommu::vtd::pagetable::{FirstStage, IoPageTable, Permissions};
use vsva_iommu::vtd::unit::{Mode, Unit};

use super::{Guest, Layout, Ram};
use crate::backend::vtd::VtdBackend;
use crate::backend::{Domain, Stage2Desc};
use crate::guest::GuestRam;
use crate::{HostDevice, Sva};

pub type Backend<'a> = VtdBackend<&'a VtdModel, &'a SimMemory, &'a SimClock>;
pub type Service<'a> = Sva<Backend<'a>>;

/// A full unit (nested installs) and QEMU's `x-flts=on` unit (shadows).
pub const NESTED: (u64, u64) = (model::FULL_CAP, model::FULL_ECAP);
pub const SHADOW: (u64, u64) = (model::QEMU_CAP_FLTS, model::QEMU_ECAP_FLTS);

/// A partition's nested page table: the CPU's stage 2, in the x86 format
/// VT-d's first stage walks too.
pub type NestedTable = IoPageTable<FirstStage>;

#[derive(Debug)]
pub struct Rig {
    pub mem: Rc<SimMemory>,
    pub model: VtdModel,
    pub clock: SimClock,
}

/// Brings `model`'s unit up in `mode` as the kernel does (translation on,
/// device interrupts blocked by remapping) under a backend.
pub fn backend<'a>(
    model: &'a VtdModel,
    mem: &'a SimMemory,
    clock: &'a SimClock,
    mode: Mode,
) -> Backend<'a> {
    let mut unit = Unit::new(model, mem, clock, mode).unwrap();
    unit.enable_translation().unwrap();
    unit.block_device_interrupts().unwrap();
    VtdBackend::new(unit)
}

/// The domain of a partition with RAM `ram` and domain ID `id`, and its
/// nested page table mapping that RAM (`None`: no memory for it).
pub fn domain(mem: &SimMemory, id: u16, ram: &GuestRam) -> Option<(Domain, NestedTable)> {
    let mut npt = IoPageTable::four_level(mem, FirstStage { pages_1g: true }, 48).ok()?;
    let rwx = Permissions::READ | Permissions::WRITE | Permissions::EXECUTE;
    match npt.map(mem, ram.guest, ram.host, ram.size, rwx) {
        Ok(change) => change.finish(mem),
        Err(_) => {
            npt.destroy(mem).finish(mem);
            return None;
        }
    }
    let domain = Domain {
        id,
        ram: *ram,
        stage2: Stage2Desc::X86 { root: npt.root() },
    };
    Some((domain, npt))
}

impl Rig {
    pub fn new((cap, ecap): (u64, u64)) -> Self {
        let mem = super::memory();
        let model = VtdModel::new(Rc::clone(&mem), cap, ecap);
        Self {
            mem,
            model,
            clock: super::clock(),
        }
    }

    /// The service over the unit in scalable mode.
    pub fn service(&self) -> Service<'_> {
        self.service_in(Mode::Scalable)
    }

    pub fn service_in(&self, mode: Mode) -> Service<'_> {
        let unit = backend(&self.model, &self.mem, &self.clock, mode);
        Sva::new(vec![Some(unit)], 20)
    }

    /// A partition laid out as `at`, its domain ID its partition ID, with
    /// `device` assigned.
    pub fn partition(
        &self,
        sva: &mut Service<'_>,
        at: Layout,
        device: Option<HostDevice>,
    ) -> Guest {
        let ram = Ram::new(&self.mem, at.pages, at.base);
        let (domain, _npt) = domain(&self.mem, at.id.0 as u16, &ram.ram).unwrap();
        sva.add_partition(at.id, domain, at.quota, at.budget)
            .unwrap();
        if let Some(device) = device {
            sva.assign(at.id, device).unwrap();
        }
        Guest::new(at.id, ram)
    }
}
