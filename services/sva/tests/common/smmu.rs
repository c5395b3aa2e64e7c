//! The SMMUv3 rig: the model, the service over one SMMU with a linear
//! stream table, partitions each with its VMSAv8 stage 2.

use std::rc::Rc;

use vsva_abi::sva::BindStage1;
use vsva_iommu::hw::sim::{SimClock, SimMemory};
use vsva_iommu::smmuv3::model::{SmmuConfig, SmmuModel};
use vsva_iommu::smmuv3::pagetable::Granule;
use vsva_iommu::smmuv3::structs::{ContextDescriptor, TableHalf};
use vsva_iommu::smmuv3::unit::{Smmu, StreamTableFormat};
use vsva_sva::backend::smmu::SmmuBackend;
use vsva_sva::backend::{Domain, Stage2Tables};
use vsva_sva::{HostDevice, Sva};

use super::calls::{Caller, vmsa_args};
use super::{ArmStage2, Guest, Layout, Ram, vmsa};

pub type Backend<'a> = SmmuBackend<&'a SmmuModel, &'a SimMemory, &'a SimClock>;
pub type Service<'a> = Sva<Backend<'a>>;

#[derive(Debug)]
pub struct Rig {
    pub mem: Rc<SimMemory>,
    pub model: SmmuModel,
    pub clock: SimClock,
}

/// A partition: the guest and its stage 2.
#[derive(Debug)]
pub struct Part {
    pub g: Guest,
    pub s2: ArmStage2,
}

/// VMSAv8 4 KiB tables, the partition's stage 2 taking vsva's CD tables.
impl Caller for Part {
    fn with<R>(&mut self, f: impl FnOnce(&mut Guest, &mut dyn Stage2Tables) -> R) -> R {
        f(&mut self.g, &mut self.s2)
    }

    fn bind_args(device: u32, pasid: Option<u32>, root: u64) -> BindStage1 {
        vmsa_args(device, pasid, root)
    }
}

impl Rig {
    pub fn new(config: SmmuConfig) -> Self {
        let mem = super::memory();
        let model = SmmuModel::new(Rc::clone(&mem), config);
        Self {
            mem,
            model,
            clock: super::clock(),
        }
    }

    pub fn service(&self) -> Service<'_> {
        let format = StreamTableFormat::Linear { sid_bits: 16 };
        let smmu = Smmu::new(&self.model, &*self.mem, &self.clock, format).unwrap();
        Sva::new(vec![Some(SmmuBackend::new(smmu))], 20)
    }

    /// A partition laid out as `at`, VMID its partition ID + 2, with
    /// `device` assigned.
    pub fn partition(&self, sva: &mut Service<'_>, at: Layout, device: HostDevice) -> Part {
        let ram = Ram::new(&self.mem, at.pages, at.base);
        let s2 = ArmStage2::new(&self.mem, &ram.ram);
        let domain = Domain {
            id: at.id.0 as u16 + 2,
            ram: ram.ram,
            stage2: s2.desc(),
        };
        sva.add_partition(at.id, domain, at.quota, at.budget)
            .unwrap();
        sva.assign(at.id, device).unwrap();
        Part {
            g: Guest::new(at.id, ram),
            s2,
        }
    }
}

/// A CD the guest writes in its own RAM: TTB0 and the CD table itself are
/// IPAs, the ASID the guest's.
pub fn guest_cd(table: u64, asid: u16) -> [u8; 64] {
    guest_cd_stalling(table, asid, false)
}

/// The same, with CD.S as given.
pub fn guest_cd_stalling(table: u64, asid: u16, stall: bool) -> [u8; 64] {
    let half = TableHalf {
        ttb: table,
        tsz: 64 - 39,
        granule: Granule::Size4K,
        irgn: 1,
        orgn: 1,
        sh: 3,
        top_byte_ignore: false,
        hierarchical_attribute_disable: false,
        start_table_non_secure: false,
        unprivileged_access_disable: false,
    };
    let cd = ContextDescriptor::for_half(half, 0b010, vmsa::MAIR, asid, true, stall);
    let mut out = [0u8; 64];
    for (i, w) in cd.encode().iter().enumerate() {
        out[8 * i..8 * i + 8].copy_from_slice(&w.to_le_bytes());
    }
    out
}
