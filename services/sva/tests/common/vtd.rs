//! The VT-d rig: the model, the service over one unit, partitions whose
//! nested page table maps their RAM (the CPU's stage 2, which plain DMA
//! uses too); and the two partitions the hostile tests set against each
//! other.

use std::rc::Rc;

use vsva_iommu::hw::sim::{SimClock, SimMemory};
use vsva_iommu::vtd::model::{self, VtdModel};
use vsva_iommu::vtd::pagetable::{FirstStage, IoPageTable, Permissions};
use vsva_iommu::vtd::unit::{Mode, Unit};
use vsva_sva::backend::vtd::VtdBackend;
use vsva_sva::backend::{Domain, Stage2Desc};
use vsva_sva::{HostDevice, PartitionId, Sva};

use super::{GUEST_BASE, Guest, Layout, Ram, device, pasids};

pub type Backend<'a> = VtdBackend<&'a VtdModel, &'a SimMemory, &'a SimClock>;
pub type Service<'a> = Sva<Backend<'a>>;

/// A full unit (nested installs) and QEMU's `x-flts=on` unit (shadows).
pub const NESTED: (u64, u64) = (model::FULL_CAP, model::FULL_ECAP);
pub const SHADOW: (u64, u64) = (model::QEMU_CAP_FLTS, model::QEMU_ECAP_FLTS);

/// A's device: host requester ID and the ID A's window shows.
pub const RID_A: u32 = 0x08;
pub const DEV_A: u32 = 0x08;
/// B's device, under other IDs on both sides.
pub const RID_B: u32 = 0x18;
pub const DEV_B: u32 = 0x10;
pub const A: PartitionId = PartitionId(1);
pub const B: PartitionId = PartitionId(2);
/// B's RAM, guest-physical: inside a 1 GiB leaf at A's RAM base.
pub const B_BASE: u64 = 0x4010_0000;

#[derive(Debug)]
pub struct Rig {
    pub mem: Rc<SimMemory>,
    pub model: VtdModel,
    pub clock: SimClock,
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
        let mut unit = Unit::new(&self.model, &*self.mem, &self.clock, mode).unwrap();
        unit.enable_translation().unwrap();
        unit.block_device_interrupts().unwrap();
        Sva::new(vec![Some(VtdBackend::new(unit))], 20)
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
        let m = &*self.mem;
        let mut npt = IoPageTable::four_level(m, FirstStage { pages_1g: true }, 48).unwrap();
        let rwx = Permissions::READ | Permissions::WRITE | Permissions::EXECUTE;
        let (guest, host, size) = (ram.ram.guest, ram.ram.host, ram.ram.size);
        npt.map(m, guest, host, size, rwx).unwrap().finish(m);
        let domain = Domain {
            id: at.id.0 as u16,
            ram: ram.ram,
            stage2: Stage2Desc::X86 { root: npt.root() },
        };
        sva.add_partition(at.id, domain, at.quota, at.budget)
            .unwrap();
        if let Some(device) = device {
            sva.assign(at.id, device).unwrap();
        }
        Guest::new(at.id, ram)
    }

    /// A (64 pages, DEV_A) and B (16 pages at B_BASE, DEV_B), 20-bit PASID
    /// devices, quota 4 and budget 256 each.
    pub fn two(&self, sva: &mut Service<'_>) -> (Guest, Guest) {
        let a = Layout::new(A, GUEST_BASE, 64);
        let a = self.partition(sva, a, Some(device(RID_A, DEV_A, pasids(20))));
        let b = Layout::new(B, B_BASE, 16);
        let b = self.partition(sva, b, Some(device(RID_B, DEV_B, pasids(20))));
        (a, b)
    }

    /// A one-byte DMA write by A's device: whether it was taken.
    pub fn dma(&self, pasid: Option<u32>, iova: u64, byte: u8) -> bool {
        let rid = RID_A as u16;
        self.model.dma_write(rid, pasid, iova, &[byte]).is_ok()
    }
}
