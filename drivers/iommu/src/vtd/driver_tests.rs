//! The VT-d driver, unchanged, against the software model (`vtd::model`): the
//! scenarios QEMU cannot emulate (nested translation, DMA with PASID > 0, page
//! requests, injected invalidation errors) and the ones where the model can
//! see more than QEMU shows (stale caches until the right invalidation, the
//! number of descriptors an unmap costs).

use alloc::rc::Rc;

use super::invalidation::{Descriptor, ResponseCode};
use super::model::{self, Access, InjectedError, PageRequest, VtdModel};
use super::pagetable::{FirstStageTable, Permissions, SecondStageTable};
use super::scenarios::{self, ModelBench, ModelDma, Outcome};
use super::tables::{
    AddressWidth, FirstStageLevels, PasidEntry, PasidTranslation, TranslationType,
};
use super::unit::{Mode, Unit, VtdError};
use crate::hw::DmaMemory;
use crate::hw::sim::{SimClock, SimMemory};

const RID: u16 = 0x0008; // 00:01.0
/// The simulated physical memory every rig allocates from.
const RAM_BASE: u64 = 0x10_0000;
const RAM_LIMIT: u64 = 0x4000_0000;
const DOMAIN: u16 = 3;

struct Rig {
    mem: Rc<SimMemory>,
    model: VtdModel,
    clock: SimClock,
}

impl Rig {
    fn new(cap: u64, ecap: u64) -> Self {
        let mem = Rc::new(SimMemory::new(RAM_BASE, RAM_LIMIT));
        let model = VtdModel::new(Rc::clone(&mem), cap, ecap);
        Self {
            mem,
            model,
            clock: SimClock::new(1_000),
        }
    }

    fn unit(&self, mode: Mode) -> Unit<&VtdModel, &SimMemory, &SimClock> {
        let mut unit = Unit::new(&self.model, &*self.mem, &self.clock, mode).expect("bring-up");
        unit.enable_translation().expect("TE");
        unit
    }

    /// A data page filled with `fill`.
    fn page(&self, fill: u8) -> u64 {
        let p = self.mem.alloc_pages(1).unwrap();
        self.mem.write(p, &[fill; 4096]);
        p
    }

    fn byte(&self, addr: u64) -> u8 {
        let mut b = [0];
        self.mem.read(addr, &mut b);
        b[0]
    }
}

const RW: Permissions = Permissions::READ.union(Permissions::WRITE);

#[test]
fn bring_up_latches_the_root_table_and_turns_translation_and_qi_on() {
    let rig = Rig::new(model::FULL_CAP, model::FULL_ECAP);
    let unit = rig.unit(Mode::Scalable);
    assert_eq!(unit.mode(), Mode::Scalable);
    assert!(unit.translation_enabled());
    // The global invalidations of bring-up went through the queue.
    let counts = rig.model.counts();
    assert!(
        counts.context_cache >= 1 && counts.iotlb >= 1 && counts.wait >= 1,
        "{counts:?}"
    );
    assert_eq!(counts.register_context_cache, 0);
    // Nothing attached: every DMA faults.
    assert!(rig.model.dma_write(RID, None, 0x1000, &[1]).is_err());
}

#[test]
fn a_unit_that_ignores_gcmd_gives_a_typed_time_out() {
    let rig = Rig::new(model::QEMU_CAP, model::QEMU_ECAP_LEGACY);
    rig.model.set_ignore_gcmd(true);
    let err = Unit::new(&rig.model, &*rig.mem, &rig.clock, Mode::Legacy).unwrap_err();
    match err {
        VtdError::TimedOut(t) => assert_eq!(t.waiting_for, "GSTS.RTPS"),
        other => panic!("expected a time-out, got {other:?}"),
    }
}

#[test]
fn without_qi_invalidation_goes_through_ccmd_and_the_iotlb_registers() {
    // QEMU's legacy ECAP without QI (bit 1).
    let rig = Rig::new(model::QEMU_CAP, model::QEMU_ECAP_LEGACY & !(1 << 1));
    let mut unit = rig.unit(Mode::Legacy);
    let mut table = SecondStageTable::new(&*rig.mem, unit.id.cap, unit.id.ecap, 39).unwrap();
    let data = rig.page(0);
    let change = table.map(&*rig.mem, 0x8000_0000, data, 4096, RW).unwrap();
    unit.apply(DOMAIN, None, change).unwrap();
    unit.attach_legacy(
        RID,
        DOMAIN,
        TranslationType::Untranslated,
        table.root(),
        AddressWidth::Bits39,
    )
    .unwrap();
    rig.model
        .dma_write(RID, None, 0x8000_0010, &[0x77])
        .unwrap();
    assert_eq!(rig.byte(data + 0x10), 0x77);
    let counts = rig.model.counts();
    assert!(
        counts.register_context_cache >= 1 && counts.register_iotlb >= 1,
        "{counts:?}"
    );
    assert_eq!(counts.queued(), 0);
}

#[test]
fn legacy_second_stage_faults_are_recorded_and_read_back_typed() {
    let rig = Rig::new(model::QEMU_CAP, model::QEMU_ECAP_LEGACY);
    let mut unit = rig.unit(Mode::Legacy);
    let table = SecondStageTable::new(&*rig.mem, unit.id.cap, unit.id.ecap, 48).unwrap();
    unit.attach_legacy(
        RID,
        DOMAIN,
        TranslationType::Untranslated,
        table.root(),
        AddressWidth::Bits48,
    )
    .unwrap();
    let fault = rig
        .model
        .dma_write(RID, None, 0xdead_b000, &[1])
        .unwrap_err();
    assert!(fault.recorded);
    let faults = unit.take_faults();
    assert_eq!(faults.len(), 1);
    assert_eq!(faults[0].address, 0xdead_b000);
    assert_eq!(faults[0].source_id, RID);
    assert!(faults[0].write);
    assert_eq!(faults[0].reason, fault.reason.code());
    assert!(
        unit.take_faults().is_empty(),
        "records are cleared once read"
    );
}

#[test]
fn the_fault_event_interrupt_is_sent_only_while_unmasked() {
    let rig = Rig::new(model::QEMU_CAP, model::QEMU_ECAP_LEGACY);
    let mut unit = rig.unit(Mode::Legacy);
    let table = SecondStageTable::new(&*rig.mem, unit.id.cap, unit.id.ecap, 48).unwrap();
    unit.attach_legacy(
        RID,
        DOMAIN,
        TranslationType::Untranslated,
        table.root(),
        AddressWidth::Bits48,
    )
    .unwrap();
    unit.mask_fault_event();
    let _ = rig.model.dma_write(RID, None, 0x1000, &[1]);
    assert_eq!(rig.model.events().fault, 0, "masked: no interrupt");
    assert_eq!(unit.take_faults().len(), 1, "but the fault is recorded");
    unit.enable_fault_event(0xfee0_0000, 0x41);
    let _ = rig.model.dma_write(RID, None, 0x2000, &[1]);
    assert!(
        rig.model.events().fault >= 1,
        "unmasked: an interrupt per new fault"
    );
    assert_eq!(unit.take_faults()[0].address, 0x2000);
}

#[test]
fn a_remap_takes_effect_only_after_the_driver_invalidates() {
    let rig = Rig::new(model::QEMU_CAP, model::QEMU_ECAP_SCALABLE);
    let mut unit = rig.unit(Mode::Scalable);
    let m = &*rig.mem;
    let mut table = SecondStageTable::new(m, unit.id.cap, unit.id.ecap, 48).unwrap();
    let (old, new) = (rig.page(0), rig.page(0));
    let change = table.map(m, 0x4000_0000, old, 4096, RW).unwrap();
    unit.apply(DOMAIN, None, change).unwrap();
    let entry = PasidEntry {
        fault_processing_disable: false,
        translation: PasidTranslation::SecondStage {
            root: table.root(),
            width: AddressWidth::Bits48,
        },
        domain_id: DOMAIN,
        page_snoop: false,
        walk_snoop: false,
    };
    unit.set_pasid_entry(RID, 0, entry).unwrap();
    rig.model.dma_write(RID, None, 0x4000_0000, &[1]).unwrap();
    assert_eq!(rig.byte(old), 1);
    // Change the table but hold back the invalidation: the cached translation
    // still sends the DMA to the old page (what a forgotten invalidation does).
    let unmap = table.unmap(m, 0x4000_0000, 4096).unwrap();
    let remap = table.map(m, 0x4000_0000, new, 4096, RW).unwrap();
    rig.model.dma_write(RID, None, 0x4000_0000, &[2]).unwrap();
    assert_eq!(
        (rig.byte(old), rig.byte(new)),
        (2, 0),
        "the model's IOTLB should be stale"
    );
    unit.apply(DOMAIN, None, unmap).unwrap();
    unit.apply(DOMAIN, None, remap).unwrap();
    rig.model.dma_write(RID, None, 0x4000_0000, &[3]).unwrap();
    assert_eq!((rig.byte(old), rig.byte(new)), (2, 3));
}

#[test]
fn unmapping_contiguous_pages_costs_logarithmically_many_descriptors() {
    let rig = Rig::new(model::QEMU_CAP, model::QEMU_ECAP_LEGACY);
    let mut unit = rig.unit(Mode::Legacy);
    let m = &*rig.mem;
    let mut table = SecondStageTable::new(m, unit.id.cap, unit.id.ecap, 48).unwrap();
    let base = m.alloc_pages(1024).unwrap();
    // 1000 pages from an odd page index: no superpage, worst alignment.
    let change = table.map(m, 0x40_1000, base, 1000 * 4096, RW).unwrap();
    unit.apply(DOMAIN, None, change).unwrap();
    unit.attach_legacy(
        RID,
        DOMAIN,
        TranslationType::Untranslated,
        table.root(),
        AddressWidth::Bits48,
    )
    .unwrap();
    rig.model.reset_log();
    let change = table.unmap(m, 0x40_1000, 1000 * 4096).unwrap();
    unit.apply(DOMAIN, None, change).unwrap();
    let iotlb = rig.model.counts().iotlb;
    assert!(
        (1..=20).contains(&iotlb),
        "{iotlb} IOTLB descriptors for 1000 pages"
    );
    assert!(
        rig.model
            .dma_write(RID, None, 0x40_1000 + 999 * 4096, &[1])
            .is_err()
    );
}

#[test]
fn nested_translation_with_a_pasid_walks_first_stage_through_second_stage() {
    let rig = Rig::new(model::FULL_CAP, model::FULL_ECAP);
    let mut unit = rig.unit(Mode::Scalable);
    let m = &*rig.mem;
    // Second stage (the partition's GPA -> HPA): identity over the memory the
    // first-stage tables live in, and GPA 0x2_0000_0000 -> the data page.
    let mut s2 = SecondStageTable::new(m, unit.id.cap, unit.id.ecap, 48).unwrap();
    let mut s1 = FirstStageTable::new(m, unit.id.cap, 48).unwrap();
    let data = rig.page(0);
    let change = s1.map(m, 0x7000_0000, 0x2_0000_0000, 4096, RW).unwrap();
    change.finish(m);
    let mut change = s2.map(m, 0x10_0000, 0x10_0000, 0x100_0000, RW).unwrap();
    change.merge(s2.map(m, 0x2_0000_0000, data, 4096, RW).unwrap());
    unit.apply(DOMAIN, None, change).unwrap();
    let entry = PasidEntry {
        fault_processing_disable: false,
        translation: PasidTranslation::Nested {
            first_stage: s1.root(),
            levels: FirstStageLevels::Four,
            supervisor: false,
            write_protect: false,
            extended_access: false,
            second_stage: s2.root(),
            width: AddressWidth::Bits48,
        },
        domain_id: DOMAIN,
        page_snoop: false,
        walk_snoop: false,
    };
    let pasid = 5;
    unit.set_pasid_entry(RID, pasid, entry).unwrap();
    rig.model
        .dma_write(RID, Some(pasid), 0x7000_0040, &[0x99])
        .unwrap();
    assert_eq!(rig.byte(data + 0x40), 0x99);
    // The same IOVA without the PASID (RID_PASID 0 is not set up) faults.
    assert!(rig.model.dma_write(RID, None, 0x7000_0040, &[1]).is_err());
    assert_eq!(
        rig.model
            .translate(RID, Some(pasid), 0x7000_0000, Access::Read),
        Ok(data)
    );
}

#[test]
fn first_stage_dma_with_pasid_above_zero_and_pasid_iotlb_invalidation() {
    let rig = Rig::new(model::FULL_CAP, model::FULL_ECAP);
    let mut unit = rig.unit(Mode::Scalable);
    let m = &*rig.mem;
    let mut s1 = FirstStageTable::new(m, unit.id.cap, 48).unwrap();
    let (a, b) = (rig.page(0), rig.page(0));
    let change = s1.map(m, 0x1000, a, 4096, RW).unwrap();
    unit.apply(DOMAIN, Some(9), change).unwrap();
    let entry = PasidEntry {
        fault_processing_disable: false,
        translation: PasidTranslation::FirstStage {
            root: s1.root(),
            levels: FirstStageLevels::Four,
            supervisor: false,
            write_protect: false,
        },
        domain_id: DOMAIN,
        page_snoop: false,
        walk_snoop: false,
    };
    unit.set_pasid_entry(RID, 9, entry).unwrap();
    rig.model.dma_write(RID, Some(9), 0x1000, &[4]).unwrap();
    assert_eq!(rig.byte(a), 4);
    let mut change = s1.unmap(m, 0x1000, 4096).unwrap();
    change.merge(s1.map(m, 0x1000, b, 4096, RW).unwrap());
    rig.model.reset_log();
    unit.apply(DOMAIN, Some(9), change).unwrap();
    assert!(rig.model.counts().pasid_iotlb >= 1);
    rig.model.dma_write(RID, Some(9), 0x1000, &[5]).unwrap();
    assert_eq!((rig.byte(a), rig.byte(b)), (4, 5));
}

#[test]
fn page_requests_round_trip_through_the_queue_and_the_response() {
    let rig = Rig::new(model::FULL_CAP, model::FULL_ECAP);
    let mut unit = rig.unit(Mode::Scalable);
    unit.enable_page_requests(1).unwrap();
    let s1 = FirstStageTable::new(&*rig.mem, unit.id.cap, 48).unwrap();
    let entry = PasidEntry {
        fault_processing_disable: false,
        translation: PasidTranslation::FirstStage {
            root: s1.root(),
            levels: FirstStageLevels::Four,
            supervisor: false,
            write_protect: false,
        },
        domain_id: DOMAIN,
        page_snoop: false,
        walk_snoop: false,
    };
    unit.set_pasid_entry(RID, 12, entry).unwrap();
    let request = PageRequest {
        rid: RID,
        pasid: Some(12),
        addr: 0x5555_6000,
        read: false,
        write: true,
        exec: false,
        privileged: false,
        lpig: true,
        prgi: 0x1a5,
    };
    rig.model.inject_page_request(&request).unwrap();
    let got = unit.take_page_requests();
    assert_eq!(got.len(), 1);
    let r = got[0];
    assert_eq!(
        (r.requester, r.pasid, r.address),
        (RID, Some(12), 0x5555_6000)
    );
    assert!(r.write && !r.read && r.last_in_group);
    assert_eq!(r.group_index, 0x1a5);
    assert!(unit.take_page_requests().is_empty(), "PQH advanced");
    unit.respond(&r, ResponseCode::Success).unwrap();
    let responses = rig.model.page_responses();
    assert_eq!(responses.len(), 1);
    assert_eq!(
        (responses[0].rid, responses[0].pasid, responses[0].prgi),
        (RID, Some(12), 0x1a5)
    );
    assert_eq!(responses[0].code, model::ResponseCode::Success);
}

#[test]
fn an_invalidation_time_out_is_reported_and_the_queue_recovers() {
    let rig = Rig::new(model::FULL_CAP, model::FULL_ECAP);
    let mut unit = rig.unit(Mode::Scalable);
    rig.model.inject(InjectedError::DeviceTlbTimeout);
    let device_tlb = Descriptor::DeviceTlb {
        source_id: RID,
        pf_source_id: 0,
        max_pending: 0,
        address: 0,
        size: false,
    };
    assert_eq!(
        unit.invalidate(&[device_tlb]),
        Err(VtdError::InvalidationTimeout)
    );
    // The queue goes on afterwards.
    unit.invalidate_all().unwrap();
}

#[test]
fn a_refused_descriptor_is_reported_skipped_and_the_queue_goes_on() {
    let rig = Rig::new(model::FULL_CAP, model::FULL_ECAP);
    let mut unit = rig.unit(Mode::Scalable);
    rig.model.inject(InjectedError::DescriptorError);
    let err = unit.invalidate_all().unwrap_err();
    match err {
        VtdError::InvalidationQueueError { descriptor } => {
            assert_eq!(
                descriptor[0] & 0xf,
                1,
                "the first descriptor of the batch (context cache)"
            )
        }
        other => panic!("expected IQE, got {other:?}"),
    }
    unit.invalidate_all().unwrap();
}

/// The model as the device RID's path to memory.
struct Port<'a>(&'a VtdModel);

impl ModelDma for Port<'_> {
    fn read(&self, iova: u64, buf: &mut [u8]) -> bool {
        self.0.dma_read(RID, None, iova, buf).is_ok()
    }

    fn write(&self, iova: u64, data: &[u8]) -> bool {
        self.0.dma_write(RID, None, iova, data).is_ok()
    }
}

impl Rig {
    /// The device at RID doing DMA through this rig's model.
    fn bench(&self) -> ModelBench<'_, Port<'_>> {
        ModelBench {
            dma: Port(&self.model),
            rid: RID,
            mem: &self.mem,
            ram: RAM_BASE..RAM_LIMIT,
            buffer: [0; scenarios::LEN],
        }
    }
}

/// How many scenarios `scenarios::all` lists.
const SCENARIOS: usize = 5;

/// The scenarios the QEMU tests run, run against the model in the same three
/// configurations QEMU is run in (and a full-featured unit): each must pass
/// wherever the configuration has what it needs, and each must pass somewhere.
#[test]
fn the_qemu_scenarios_pass_against_the_model_in_every_qemu_configuration() {
    let configurations = [
        (
            "QEMU default (x-flts)",
            model::QEMU_CAP_FLTS,
            model::QEMU_ECAP_FLTS,
        ),
        (
            "QEMU scalable, second stage",
            model::QEMU_CAP,
            model::QEMU_ECAP_SCALABLE_PASID,
        ),
        ("QEMU legacy", model::QEMU_CAP, model::QEMU_ECAP_LEGACY),
        ("full-featured", model::FULL_CAP, model::FULL_ECAP),
    ];
    let mut passed = alloc::collections::BTreeMap::new();
    for (config, cap, ecap) in configurations {
        for i in 0..SCENARIOS {
            let rig = Rig::new(cap, ecap);
            let (name, mode, scenario) =
                scenarios::all::<&VtdModel, &SimMemory, &SimClock, ModelBench<Port>>()[i];
            let mut unit = Unit::new(&rig.model, &*rig.mem, &rig.clock, mode).expect("bring-up");
            if unit.mode() != mode {
                continue;
            }
            unit.enable_translation().expect("TE");
            let mut bench = rig.bench();
            match scenario(&mut unit, &mut bench) {
                Ok(Outcome::Passed) => *passed.entry(name).or_insert(0) += 1,
                Ok(Outcome::Skipped(_)) => {}
                Err(e) => panic!("{name} on {config}: {e}"),
            }
        }
    }
    for (name, _, _) in scenarios::all::<&VtdModel, &SimMemory, &SimClock, ModelBench<Port>>() {
        assert!(
            passed.get(name).copied().unwrap_or(0) > 0,
            "{name} never ran: {passed:?}"
        );
    }
}

/// Interrupt remapping with an empty table (§5.1): IRTA names a zeroed page
/// with 256 entries, SIRTP latches it, the interrupt entry cache is
/// invalidated, then IRE; a unit without ECAP.IR refuses.
#[test]
fn device_interrupts_are_blocked_by_an_empty_remapping_table() {
    use super::regs::IRTA_REG;
    use crate::hw::RegisterAccess;
    let rig = Rig::new(model::QEMU_CAP, model::QEMU_ECAP_SCALABLE);
    let mut unit = rig.unit(Mode::Scalable);
    assert!(!unit.interrupts_remapped());
    rig.model.reset_log();
    unit.block_device_interrupts().unwrap();
    assert!(unit.interrupts_remapped(), "GSTS.IRES");
    let irta = rig.model.read64(IRTA_REG);
    assert_eq!(irta & 0xf, 7, "2^(7+1) entries");
    assert_eq!(irta & (1 << 11), 0, "xAPIC format");
    let table = irta & !0xfff;
    assert!(
        (0..4096).step_by(8).all(|o| rig.mem.read64(table + o) == 0),
        "no entry present"
    );
    assert!(
        rig.model.descriptor_log().iter().any(|d| matches!(
            d,
            model::Descriptor::InterruptEntryCache {
                index_selective: false,
                ..
            }
        )),
        "the interrupt entry cache is invalidated"
    );

    let rig = Rig::new(model::QEMU_CAP, model::QEMU_ECAP_SCALABLE & !(1 << 3));
    let mut unit = rig.unit(Mode::Scalable);
    assert_eq!(
        unit.block_device_interrupts(),
        Err(VtdError::Unsupported("ECAP.IR"))
    );
}
