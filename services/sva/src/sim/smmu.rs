//! The SMMUv3 rig: the model, the service over one SMMU (the tests' with a
//! linear stream table), partitions each with its VMSAv8 stage 2 (where the
//! service maps its CD tables, read-only, in the table window).

use alloc::rc::Rc;
use alloc::vec;
use alloc::vec::Vec;

use vsva_abi::sva::{TABLE_WINDOW_BASE, TABLE_WINDOW_SIZE};
use vsva_iommu::hw::sim::{SimClock, SimMemory};
use vsva_iommu::smmuv3::model::{SmmuConfig, SmmuModel};
use vsva_iommu::smmuv3::pagetable::{Attributes, Granule, MemoryType, Permissions, Stage2Table};
use vsva_iommu::smmuv3::unit::{Smmu, StreamTableFormat};

use super::{Guest, Layout, Ram};
use crate::backend::smmu::SmmuBackend;
use crate::backend::{Domain, Stage2Desc, Stage2Tables};
use crate::guest::GuestRam;
use crate::{HostDevice, Sva};

pub type Backend<'a> = SmmuBackend<&'a SmmuModel, &'a SimMemory, &'a SimClock>;
pub type Service<'a> = Sva<Backend<'a>>;

/// IPA bits of a rig partition's stage 2.
const IPA_BITS: u8 = 40;

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

pub fn normal(permissions: Permissions) -> Attributes {
    Attributes {
        permissions,
        memory: MemoryType::Normal,
        privileged_only: false,
    }
}

/// A partition's VMSAv8 stage 2 in simulated memory: its RAM mapped, and
/// what the service places in the table window mapped read-only.
#[derive(Debug)]
pub struct ArmStage2 {
    pub table: Stage2Table,
    pub mem: Rc<SimMemory>,
    /// (ipa, pa, len) the service asked for.
    pub placed: Vec<(u64, u64, u64)>,
}

impl ArmStage2 {
    pub fn new(mem: &Rc<SimMemory>, ram: &GuestRam) -> Self {
        Self::try_new(mem, ram).expect("the stage-2 table")
    }

    /// The same, `None` when `mem` has no room for the table.
    pub fn try_new(mem: &Rc<SimMemory>, ram: &GuestRam) -> Option<Self> {
        let mut table = Stage2Table::new(&**mem, Granule::Size4K, IPA_BITS, IPA_BITS).ok()?;
        let rw = normal(Permissions::READ | Permissions::WRITE);
        match table.map(&**mem, ram.guest, ram.host, ram.size, rw) {
            Ok(change) => change.finish(&**mem),
            Err(_) => {
                table.destroy(&**mem).finish(&**mem);
                return None;
            }
        }
        Some(Self {
            table,
            mem: Rc::clone(mem),
            placed: Vec::new(),
        })
    }

    pub fn desc(&self) -> Stage2Desc {
        Stage2Desc::Vmsa {
            fields: self.table.ste_fields(true),
            ipa_bits: IPA_BITS,
        }
    }

    /// Frees the table (once no SMMU uses it).
    pub fn destroy(self) {
        self.table.destroy(&*self.mem).finish(&*self.mem);
    }
}

impl Stage2Tables for ArmStage2 {
    fn map_read_only(&mut self, ipa: u64, pa: u64, len: u64) -> bool {
        assert!(
            ipa >= TABLE_WINDOW_BASE && ipa + len <= TABLE_WINDOW_BASE + TABLE_WINDOW_SIZE,
            "outside the table window"
        );
        let owner = self.mem.set_owner(super::KERNEL);
        let ok = self
            .table
            .map(&*self.mem, ipa, pa, len, normal(Permissions::READ))
            .map(|inv| inv.finish(&*self.mem))
            .is_ok();
        self.mem.set_owner(owner);
        if ok {
            self.placed.push((ipa, pa, len));
        }
        ok
    }
}

/// Brings `model`'s SMMU up with a stream table of `format` under a
/// backend.
pub fn backend<'a>(
    model: &'a SmmuModel,
    mem: &'a SimMemory,
    clock: &'a SimClock,
    format: StreamTableFormat,
) -> Backend<'a> {
    SmmuBackend::new(Smmu::new(model, mem, clock, format).unwrap())
}

/// The domain of a partition with RAM `ram` and VMID `id` over `s2`.
pub fn domain(id: u16, ram: &GuestRam, s2: &ArmStage2) -> Domain {
    Domain {
        id,
        ram: *ram,
        stage2: s2.desc(),
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
        let unit = backend(&self.model, &self.mem, &self.clock, format);
        Sva::new(vec![Some(unit)], 20)
    }

    /// A partition laid out as `at`, VMID its partition ID + 2, with
    /// `device` assigned.
    pub fn partition(&self, sva: &mut Service<'_>, at: Layout, device: HostDevice) -> Part {
        let ram = Ram::new(&self.mem, at.pages, at.base);
        let s2 = ArmStage2::new(&self.mem, &ram.ram);
        let domain = domain(at.id.0 as u16 + 2, &ram.ram, &s2);
        sva.add_partition(at.id, domain, at.quota, at.budget)
            .unwrap();
        sva.assign(at.id, device).unwrap();
        Part {
            g: Guest::new(at.id, ram),
            s2,
        }
    }
}
