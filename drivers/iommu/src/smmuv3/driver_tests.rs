//! The SMMUv3 driver, unchanged, against the software model (`smmuv3::model`):
//! the QEMU scenarios in QEMU's and a full-featured configuration, and what
//! QEMU cannot show (substreams, PRI, stalls, command errors, event queue
//! overflow).
//!
//! This module holds the shared fixture ([`Rig`], [`Driver`], the stage-1 helpers); the tests
//! are in its submodules by topic.

mod cd_fields;
mod errors;
mod interrupts;
mod invalidation;
mod pri_stall;
mod qemu_scenarios;
mod substreams;

use alloc::boxed::Box;
use alloc::rc::Rc;
use alloc::vec::Vec;

use super::cd_table::CdTable;
use super::model::{self, InjectedError, SmmuConfig, SmmuModel, WiredLine};
use super::pagetable::{Attributes, Granule, MemoryType, Permissions, Stage1Table};
use super::queue::{Command, PriResponse, event_type};
use super::regs::IrqCtrl;
use super::structs::{CdTableFormat, ContextDescriptor, DefaultSubstream, Ste, StreamConfig};
use super::unit::{Smmu, SmmuError, StreamTableFormat, SyncCompletion, TlbScope};
use crate::hw::sim::{SimClock, SimMemory};
use crate::hw::{DmaMemory, InterruptLine};

const SID: u32 = 0x0008; // 00:01.0
const RAM_BASE: u64 = 0x10_0000;
const RAM_LIMIT: u64 = 0x4000_0000;
const LINEAR: StreamTableFormat = StreamTableFormat::Linear { sid_bits: 16 };

pub(super) struct Rig {
    pub(super) mem: Rc<SimMemory>,
    pub(super) model: SmmuModel,
    clock: SimClock,
}

pub(super) type Driver<'a> = Smmu<&'a SmmuModel, &'a SimMemory, &'a SimClock>;

impl Rig {
    pub(super) fn new(config: SmmuConfig) -> Self {
        let mem = Rc::new(SimMemory::new(RAM_BASE, RAM_LIMIT));
        let model = SmmuModel::new(Rc::clone(&mem), config);
        Self {
            mem,
            model,
            clock: SimClock::new(1_000),
        }
    }

    pub(super) fn smmu(&self, format: StreamTableFormat) -> Driver<'_> {
        Smmu::new(&self.model, &*self.mem, &self.clock, format).expect("bring-up")
    }

    pub(super) fn page(&self, fill: u8) -> u64 {
        let p = self.mem.alloc_pages(1).unwrap();
        self.mem.write(p, &[fill; 4096]);
        p
    }

    pub(super) fn byte(&self, addr: u64) -> u8 {
        let mut b = [0];
        self.mem.read(addr, &mut b);
        b[0]
    }
}

fn rw() -> Attributes {
    Attributes {
        permissions: Permissions::READ | Permissions::WRITE,
        memory: MemoryType::Normal,
        privileged_only: false,
    }
}

/// A stage-1 table mapping `iova` to `phys`, and the CD that uses it.
fn stage1_cd(
    smmu: &mut Driver<'_>,
    asid: u16,
    iova: u64,
    phys: u64,
    stall: bool,
) -> (Stage1Table, ContextDescriptor) {
    let mut table = Stage1Table::new(smmu.memory(), Granule::Size4K, 39, 40).unwrap();
    if phys != 0 {
        let change = table.map(smmu.memory(), iova, phys, 4096, rw()).unwrap();
        smmu.apply(TlbScope::Stage1 { vmid: 0, asid }, Granule::Size4K, change)
            .unwrap();
    }
    let f = table.cd_fields(true);
    let cd = ContextDescriptor::for_table(&f, asid, true, stall);
    (table, cd)
}

fn stage1_ste(smmu: &mut Driver<'_>, cds: &CdTable, dss: DefaultSubstream) {
    let ste = Ste {
        config: StreamConfig::Stage1(cds.stage1(dss, false)),
        ats: false,
        merge_events: false,
    };
    smmu.set_ste(SID, &ste).unwrap();
}
