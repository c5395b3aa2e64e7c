//! The SMMUv3 driver, unchanged, against the software model (`smmuv3::model`):
//! the QEMU scenarios in QEMU's and a full-featured configuration, and what
//! QEMU cannot show (substreams, PRI, stalls, command errors, event queue
//! overflow).

use alloc::boxed::Box;
use alloc::rc::Rc;
use alloc::vec::Vec;

use super::cd_table::CdTable;
use super::model::{self, InjectedError, SmmuConfig, SmmuModel, WiredLine};
use super::pagetable::{Attributes, Granule, MemoryType, Permissions, Stage1Table};
use super::queue::{Command, PriResponse, event_type};
use super::regs::IrqCtrl;
use super::scenarios::{self, Outcome};
use super::structs::{CdTableFormat, ContextDescriptor, DefaultSubstream, Ste, StreamConfig};
use super::unit::{Smmu, SmmuError, StreamTableFormat, SyncCompletion, TlbScope};
use crate::hw::sim::{SimClock, SimMemory};
use crate::hw::{DmaMemory, InterruptLine};
use crate::vtd::scenarios::{ModelBench, ModelDma};

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

/// The model as the device SID's path to memory.
struct Port<'a>(&'a SmmuModel);

impl ModelDma for Port<'_> {
    fn read(&self, iova: u64, buf: &mut [u8]) -> bool {
        self.0.dma_read(SID, None, iova, buf).is_ok()
    }

    fn write(&self, iova: u64, data: &[u8]) -> bool {
        self.0.dma_write(SID, None, iova, data).is_ok()
    }
}

impl Rig {
    /// The device at SID doing DMA through this rig's model.
    fn bench(&self) -> ModelBench<'_, Port<'_>> {
        ModelBench {
            dma: Port(&self.model),
            rid: SID as u16,
            mem: &self.mem,
            ram: RAM_BASE..RAM_LIMIT,
            buffer: [0; scenarios::LEN],
        }
    }
}

/// Every scenario the QEMU tests run passes against the model, as QEMU's SMMU
/// and as a full-featured one.
#[test]
fn the_qemu_scenarios_pass_against_the_model() {
    type All<'a> = ModelBench<'a, Port<'a>>;
    let n = scenarios::all::<&SmmuModel, &SimMemory, &SimClock, All>().len();
    for (config_name, config) in [("QEMU", SmmuConfig::qemu()), ("full", SmmuConfig::full())] {
        for i in 0..n {
            let rig = Rig::new(config);
            let (name, format, scenario) =
                scenarios::all::<&SmmuModel, &SimMemory, &SimClock, All>()[i];
            let mut smmu = rig.smmu(format);
            let mut bench = rig.bench();
            match scenario(&mut smmu, &mut bench) {
                Ok(Outcome::Passed) => {}
                Ok(Outcome::Skipped(why)) => panic!("{name} on {config_name} skipped: {why}"),
                Err(e) => panic!("{name} on {config_name}: {e}"),
            }
        }
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

/// Substreams (§5.4, CD table indexed by SubstreamID), with linear and both
/// 2-level CD table formats: each SSID walks its own CD's tables, including
/// SSIDs in different leaf tables; an SSID whose CD is invalid gives C_BAD_CD
/// with that SSID; one beyond S1CDMax is refused by the driver and gives
/// C_BAD_SUBSTREAMID on the bus; a transaction without SSID follows S1DSS.
#[test]
fn each_substream_translates_through_its_own_context_descriptor() {
    for format in [
        CdTableFormat::Linear,
        CdTableFormat::TwoLevel4K,
        CdTableFormat::TwoLevel64K,
    ] {
        let rig = Rig::new(SmmuConfig::full());
        let mut smmu = rig.smmu(LINEAR);
        let iova = 0x4000_0000;
        let cd_max = 11;
        // 1 and 70 are in different 4 KiB leaves; 1100 in another 64 KiB leaf.
        let ssids = [1u32, 70, 1100];
        let mut cds = smmu.new_cd_table(format, cd_max).unwrap();
        let p0 = rig.page(0);
        let (_t0, cd0) = stage1_cd(&mut smmu, 10, iova, p0, false);
        smmu.set_cd(SID, &mut cds, 0, &cd0).unwrap();
        let mut tables = Vec::new();
        let mut pages = Vec::new();
        for (i, &ssid) in ssids.iter().enumerate() {
            let p = rig.page(0);
            let (t, cd) = stage1_cd(&mut smmu, 11 + i as u16, iova, p, false);
            smmu.set_cd(SID, &mut cds, ssid, &cd).unwrap();
            tables.push(t);
            pages.push(p);
        }
        stage1_ste(&mut smmu, &cds, DefaultSubstream::Substream0);

        for (i, &ssid) in ssids.iter().enumerate() {
            rig.model
                .dma_write(SID, Some(ssid), iova, &[0x10 + i as u8; 8])
                .unwrap_or_else(|e| panic!("{format:?} SSID {ssid}: {e:?}"));
        }
        rig.model.dma_write(SID, None, iova, &[0x22; 8]).unwrap();
        for (i, &p) in pages.iter().enumerate() {
            assert_eq!(rig.byte(p), 0x10 + i as u8, "{format:?}: SSID {}", ssids[i]);
        }
        assert_eq!(
            rig.byte(p0),
            0x22,
            "no SSID used CD 0 (S1DSS = substream 0)"
        );

        assert!(rig.model.dma_write(SID, Some(2), iova, &[0x33; 8]).is_err());
        assert!(
            rig.model
                .dma_write(SID, Some(1 << cd_max), iova, &[0x33; 8])
                .is_err()
        );
        let (events, overflow) = smmu.take_events();
        assert!(!overflow);
        let got: Vec<_> = events
            .iter()
            .map(|e| (e.kind, e.stream_id, e.substream_id))
            .collect();
        assert_eq!(
            got,
            [
                (event_type::C_BAD_CD, SID, Some(2)),
                (event_type::C_BAD_SUBSTREAMID, SID, Some(1 << cd_max)),
            ],
            "{format:?}"
        );
        assert!(matches!(
            smmu.set_cd(SID, &mut cds, 1 << cd_max, &cd0),
            Err(SmmuError::BadSubstreamId(_))
        ));

        // Retargeting CD 70 is seen by the next DMA (CFGI_CD issued by set_cd).
        let p2 = rig.page(0);
        let (_t2, cd2) = stage1_cd(&mut smmu, 20, iova, p2, false);
        smmu.set_cd(SID, &mut cds, 70, &cd2).unwrap();
        rig.model
            .dma_write(SID, Some(70), iova, &[0x44; 8])
            .unwrap();
        assert_eq!((rig.byte(pages[1]), rig.byte(p2)), (0x11, 0x44));
        // A cleared CD: C_BAD_CD again, nothing written.
        smmu.clear_cd(SID, &mut cds, 1100).unwrap();
        assert!(
            rig.model
                .dma_write(SID, Some(1100), iova, &[0x55; 8])
                .is_err()
        );
        assert_eq!(rig.byte(pages[2]), 0x12);
    }
}

/// 2-level CD tables need IDR0.CD2L and more CDs than one leaf holds.
#[test]
fn two_level_cd_tables_are_refused_where_they_cannot_work() {
    let rig = Rig::new(SmmuConfig::full());
    let mut smmu = rig.smmu(LINEAR);
    assert!(matches!(
        smmu.new_cd_table(CdTableFormat::TwoLevel64K, 10),
        Err(SmmuError::Unsupported(_))
    ));
    assert!(smmu.new_cd_table(CdTableFormat::TwoLevel4K, 7).is_ok());
}

/// On QEMU's configuration (IDR1.SSIDSIZE = 0, no PRI, terminate-only) a CD
/// table with substreams, a PRI response and a RESUME are refused rather than
/// truncated or sent as illegal commands.
#[test]
fn what_qemus_smmu_lacks_is_refused_with_a_typed_error() {
    let rig = Rig::new(SmmuConfig::qemu());
    let mut smmu = rig.smmu(LINEAR);
    assert!(matches!(
        smmu.new_cd_table(CdTableFormat::Linear, 2),
        Err(SmmuError::Unsupported("IDR1.SSIDSIZE"))
    ));
    // Nor does it have PRI or stalls: answering either is refused up front
    // instead of raising CERROR_ILL.
    let request = super::queue::PageRequest {
        stream_id: SID,
        substream_id: None,
        address: 0,
        read: true,
        write: false,
        execute: false,
        privileged: false,
        last: true,
        group: 1,
    };
    assert!(matches!(
        smmu.respond_page_request(&request, PriResponse::Success),
        Err(SmmuError::Unsupported("IDR0.PRI"))
    ));
    assert!(matches!(
        smmu.resume(SID, 1, true),
        Err(SmmuError::Unsupported("IDR0.STALL_MODEL"))
    ));
    // CD.E0PD0 needs IDR3.E0PD, which QEMU's SMMUv3.1 lacks.
    let page = rig.page(0);
    let (_table, mut cd) = stage1_cd(&mut smmu, 1, 0x1000, page, false);
    cd.ttb0.as_mut().unwrap().unprivileged_access_disable = true;
    let mut cds = smmu.new_cd_table(CdTableFormat::Linear, 0).unwrap();
    assert!(matches!(
        smmu.set_cd(SID, &mut cds, 0, &cd),
        Err(SmmuError::Unsupported("IDR3.E0PD"))
    ));
}

/// PRI (§8): a device's page request reaches the driver with its stream,
/// substream, address, access and group; the driver's PRI_RESP reaches the
/// SMMU for that group.
#[test]
fn a_page_request_is_delivered_and_answered() {
    let rig = Rig::new(SmmuConfig::full());
    let mut smmu = rig.smmu(LINEAR);
    let req = model::PageRequest {
        sid: SID,
        ssid: Some(7),
        addr: 0x7_1234_5000,
        read: false,
        write: true,
        exec: false,
        privileged: false,
        last: true,
        prgi: 0x1a3,
    };
    rig.model.inject_page_request(&req).unwrap();
    let got = smmu.take_page_requests();
    assert_eq!(got.len(), 1, "{got:x?}");
    let r = got[0];
    assert_eq!(r.stream_id, SID);
    assert_eq!(r.substream_id, Some(7));
    assert_eq!(r.address, 0x7_1234_5000);
    assert!(r.write && !r.read && !r.execute && r.last);
    assert_eq!(r.group, 0x1a3);
    assert!(smmu.take_page_requests().is_empty(), "PRIQ_CONS advanced");

    smmu.respond_page_request(&r, PriResponse::Success).unwrap();
    let responses = rig.model.pri_responses();
    assert_eq!(responses.len(), 1);
    assert_eq!(
        (responses[0].sid, responses[0].ssid, responses[0].prgi),
        (SID, Some(7), 0x1a3)
    );
}

/// Stall model (§3.12.2): a fault on a stalling CD is reported with a STAG;
/// once the driver maps the page and sends RESUME(retry), the stalled write
/// completes into the new page.
#[test]
fn a_stalled_transaction_completes_after_map_and_resume() {
    let rig = Rig::new(SmmuConfig::full());
    let mut smmu = rig.smmu(LINEAR);
    let iova = 0x5000_0000;
    let mut cds = smmu.new_cd_table(CdTableFormat::Linear, 0).unwrap();
    let (mut table, cd) = stage1_cd(&mut smmu, 9, iova, 0, true);
    smmu.set_cd(SID, &mut cds, 0, &cd).unwrap();
    stage1_ste(&mut smmu, &cds, DefaultSubstream::Substream0);

    let _ = rig.model.dma_write(SID, None, iova + 0x10, &[0x5a; 16]);
    let (events, _) = smmu.take_events();
    assert_eq!(events.len(), 1, "{events:x?}");
    let e = events[0];
    assert_eq!(e.kind, event_type::F_TRANSLATION);
    assert_eq!(e.address, iova + 0x10);
    assert!(!e.read);
    let stag = e.stalled.expect("the event carries a STAG");

    let page = rig.page(0);
    let change = table.map(smmu.memory(), iova, page, 4096, rw()).unwrap();
    smmu.apply(
        TlbScope::Stage1 { vmid: 0, asid: 9 },
        Granule::Size4K,
        change,
    )
    .unwrap();
    smmu.resume(SID, stag, true).unwrap();
    assert_eq!(rig.byte(page + 0x10), 0x5a, "the retried write landed");
    assert_eq!(rig.byte(page + 0x20), 0, "only the stalled bytes");
    assert!(rig.model.pending_stalls().is_empty());
}

/// CMDQ_ERR (§7.1): a refused command is reported with its CERROR code and
/// its encoding, skipped, and the queue keeps working.
#[test]
fn a_refused_command_is_reported_and_the_queue_recovers() {
    let rig = Rig::new(SmmuConfig::full());
    let mut smmu = rig.smmu(LINEAR);
    rig.model.inject(InjectedError::CommandIllegal);
    let bad = Command::TlbiNhAsid { vmid: 0, asid: 4 };
    match smmu.submit(&[bad]) {
        Err(SmmuError::CommandError { code, command }) => {
            assert_eq!(code, 1, "CERROR_ILL");
            assert_eq!(command, bad.encode());
        }
        other => panic!("expected CommandError, got {other:?}"),
    }
    rig.model.reset_log();
    smmu.submit(&[Command::TlbiNhAsid { vmid: 0, asid: 5 }])
        .unwrap();
    let log = rig.model.command_log();
    assert!(
        log.iter()
            .any(|c| matches!(c, model::Command::TlbiNhAsid { asid: 5, .. })),
        "{log:?}"
    );
}

/// Event queue overflow (§7.4): records lost while the queue was full are
/// reported once, acknowledged, and later events are recorded again.
#[test]
fn event_queue_overflow_is_reported_once_and_acknowledged() {
    let rig = Rig::new(SmmuConfig::full());
    let mut smmu = rig.smmu(LINEAR);
    let written = rig.model.fill_event_queue(SID);
    assert!(written > 1);
    // No STE for this stream: C_BAD_STE, dropped on the full queue.
    let other = SID + 1;
    assert!(rig.model.dma_write(other, None, 0x1000, &[1]).is_err());
    let (events, overflow) = smmu.take_events();
    assert!(overflow, "the lost record is reported");
    assert_eq!(events.len(), written);
    assert!(events.iter().all(|e| e.stream_id == SID));

    assert!(rig.model.dma_write(other, None, 0x1000, &[1]).is_err());
    let (events, overflow) = smmu.take_events();
    assert!(!overflow, "acknowledged: not reported twice");
    let kinds: Vec<_> = events.iter().map(|e| (e.kind, e.stream_id)).collect();
    assert_eq!(kinds, [(event_type::C_BAD_STE, other)]);
}

/// CMD_SYNC completion (§4.7.3): with IDR0.MSI the sync's MSI write of its
/// sequence number is what the driver waits for; without it (QEMU) the
/// driver polls CMDQ_CONS and asks for no signal.
#[test]
fn cmd_sync_completes_by_msi_write_where_the_smmu_has_msis() {
    let rig = Rig::new(SmmuConfig::full());
    let mut smmu = rig.smmu(LINEAR);
    assert_eq!(smmu.sync_completion(), SyncCompletion::MsiWrite);
    let before = rig.model.irqs();
    smmu.invalidate_asid(0, 3).unwrap();
    smmu.invalidate_asid(0, 4).unwrap();
    let after = rig.model.irqs();
    assert_eq!(after.cmd_sync - before.cmd_sync, 2);
    assert_eq!(after.msi_writes - before.msi_writes, 2);
    let syncs: Vec<_> = rig
        .model
        .command_log()
        .into_iter()
        .filter_map(|c| match c {
            model::Command::Sync {
                msi_data, msi_addr, ..
            } => Some((msi_addr, msi_data)),
            _ => None,
        })
        .collect();
    let (addr, last) = *syncs.last().unwrap();
    assert_ne!(addr, 0);
    let mut word = [0u8; 4];
    rig.mem.read(addr, &mut word);
    assert_eq!(
        u32::from_le_bytes(word),
        last,
        "the last sync's number landed"
    );
    assert_eq!(syncs[syncs.len() - 2].1 + 1, last, "numbers increase");

    let rig = Rig::new(SmmuConfig::qemu());
    let mut smmu = rig.smmu(LINEAR);
    assert_eq!(smmu.sync_completion(), SyncCompletion::ConsumerIndex);
    smmu.invalidate_asid(0, 3).unwrap();
    assert_eq!(rig.model.irqs().cmd_sync, 0);
}

/// Wired interrupts (§3.18): a CMD_SYNC with CS = SIG_IRQ and no MSI
/// address pulses `cmdq-sync`, which is what the driver then waits for; the
/// `eventq` and `gerror` lines stay quiet until IRQ_CTRL enables them.
#[test]
fn wired_interrupts_signal_sync_completion_events_and_global_errors() {
    let rig = Rig::new(SmmuConfig::qemu());
    let mut smmu = rig.smmu(LINEAR);
    let sync_line = rig.model.wired_line(WiredLine::CmdSync);
    smmu.use_sync_interrupt(Some(Box::new(sync_line.clone())));
    assert_eq!(smmu.sync_completion(), SyncCompletion::WiredInterrupt);
    smmu.invalidate_asid(0, 3).unwrap();
    smmu.invalidate_asid(0, 4).unwrap();
    assert_eq!(sync_line.count(), 2, "one pulse per submission");
    let last_sync = rig
        .model
        .command_log()
        .into_iter()
        .rev()
        .find_map(|c| match c {
            model::Command::Sync { cs, msi_addr, .. } => Some((cs, msi_addr)),
            _ => None,
        });
    assert_eq!(last_sync, Some((model::SyncSignal::Irq, 0)));

    // A line that never pulses: the wait ends in a time-out, not early.
    smmu.use_sync_interrupt(Some(Box::new(rig.model.wired_line(WiredLine::PriQueue))));
    assert!(
        matches!(smmu.invalidate_asid(0, 5), Err(SmmuError::TimedOut(_))),
        "completion is awaited on the line given"
    );
    smmu.use_sync_interrupt(None);
    assert_eq!(smmu.sync_completion(), SyncCompletion::ConsumerIndex);
    smmu.invalidate_asid(0, 6).unwrap();

    let events = rig.model.wired_line(WiredLine::EventQueue);
    let gerror = rig.model.wired_line(WiredLine::Gerror);
    let unconfigured = SID + 1;
    assert!(
        rig.model
            .dma_write(unconfigured, None, 0x1000, &[1])
            .is_err()
    );
    assert_eq!(events.count(), 0, "EVENTQ_IRQEN clear");
    smmu.enable_interrupts(IrqCtrl::EVENTQ_IRQEN | IrqCtrl::GERROR_IRQEN)
        .unwrap();
    assert!(
        rig.model
            .dma_write(unconfigured, None, 0x2000, &[1])
            .is_err()
    );
    assert_eq!(events.count(), 1);
    let (recorded, _) = smmu.take_events();
    assert_eq!(
        recorded
            .iter()
            .map(|e| (e.kind, e.stream_id))
            .collect::<Vec<_>>(),
        [
            (event_type::C_BAD_STE, unconfigured),
            (event_type::C_BAD_STE, unconfigured)
        ]
    );
    rig.model.inject(InjectedError::CommandIllegal);
    assert!(matches!(
        smmu.invalidate_asid(0, 1),
        Err(SmmuError::CommandError { code: 1, .. })
    ));
    assert_eq!(gerror.count(), 1, "CMDQ_ERR raised GERROR's line");
}

/// Command aborts (CERROR_ABT) and ATC invalidation time-outs
/// (CERROR_ATC_INV_SYNC, reported on the CMD_SYNC after the ATC_INV) are
/// reported with their codes and skipped like illegal commands.
#[test]
fn command_aborts_and_atc_timeouts_are_reported_and_skipped() {
    let rig = Rig::new(SmmuConfig::full());
    let mut smmu = rig.smmu(LINEAR);
    rig.model.inject(InjectedError::CommandAbort);
    match smmu.invalidate_asid(0, 1) {
        Err(SmmuError::CommandError { code, .. }) => assert_eq!(code, 2, "CERROR_ABT"),
        other => panic!("expected CERROR_ABT, got {other:?}"),
    }
    rig.model.inject(InjectedError::AtcInvTimeout);
    let atc = Command::AtcInv {
        sid: SID,
        ssid: None,
        address: 0,
        size: 52,
        global: false,
    };
    match smmu.submit(&[atc]) {
        Err(SmmuError::CommandError { code, command }) => {
            assert_eq!(code, 3, "CERROR_ATC_INV_SYNC");
            assert_eq!(command[0] & 0xff, 0x46, "reported on the CMD_SYNC");
        }
        other => panic!("expected CERROR_ATC_INV_SYNC, got {other:?}"),
    }
    smmu.submit(&[atc]).unwrap();
    smmu.invalidate_asid(0, 1).unwrap();
}

/// GERROR (§7.5): an event record whose write aborts is lost and activates
/// EVENTQ_ABT_ERR; the driver reports it once, acknowledges it, and events
/// are recorded again once the queue's memory is reachable.
#[test]
fn an_aborted_event_write_is_reported_as_a_global_error_once() {
    use super::regs::{EVENTQ_BASE, Gerror};
    use crate::hw::RegisterAccess;
    let rig = Rig::new(SmmuConfig::full());
    let mut smmu = rig.smmu(LINEAR);
    assert_eq!(smmu.take_global_errors(), Gerror::empty());
    let base = rig.model.read64(EVENTQ_BASE) & 0x000f_ffff_ffff_ffe0;
    rig.model.add_external_abort(base..base + (1 << 20));
    let other = SID + 1;
    assert!(rig.model.dma_write(other, None, 0x1000, &[1]).is_err());
    let (events, _) = smmu.take_events();
    assert!(events.is_empty(), "{events:x?}");
    assert_eq!(smmu.take_global_errors(), Gerror::EVENTQ_ABT_ERR);
    assert_eq!(smmu.take_global_errors(), Gerror::empty(), "acknowledged");

    rig.model.clear_external_aborts();
    assert!(rig.model.dma_write(other, None, 0x1000, &[1]).is_err());
    let (events, _) = smmu.take_events();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].kind, event_type::C_BAD_STE);
    assert_eq!(smmu.take_global_errors(), Gerror::empty());
}

/// Nested translation with IPAs in the second of the two concatenated
/// stage-2 level-1 tables (bit 39 set): the model, written from the Arm ARM,
/// translates it (QEMU 10 does not; see `scenarios::nested_second_concatenated_table`).
#[test]
fn nested_translation_reaches_the_second_concatenated_stage2_table() {
    let rig = Rig::new(SmmuConfig::full());
    let mut smmu = rig.smmu(LINEAR);
    let mut bench = rig.bench();
    match scenarios::nested_second_concatenated_table(&mut smmu, &mut bench) {
        Ok(Outcome::Passed) => {}
        other => panic!("{other:?}"),
    }
}

/// CD fields the model reads as the Arm ARM defines them: TBI0 lets an address
/// with a tag in its top byte translate (without it the address is out of
/// range); EPD0 makes every lower-half address fault without a walk.
#[test]
fn cd_top_byte_ignore_and_epd0_take_effect() {
    let rig = Rig::new(SmmuConfig::full());
    let mut smmu = rig.smmu(LINEAR);
    let iova = 0x3000_0000;
    let tagged = iova | (0x5a << 56);
    let page = rig.page(0);
    let (_table, mut cd) = stage1_cd(&mut smmu, 7, iova, page, false);
    let mut cds = smmu.new_cd_table(CdTableFormat::Linear, 0).unwrap();
    smmu.set_cd(SID, &mut cds, 0, &cd).unwrap();
    stage1_ste(&mut smmu, &cds, DefaultSubstream::Substream0);

    assert!(rig.model.dma_write(SID, None, tagged, &[1; 4]).is_err());
    assert_eq!(rig.byte(page), 0, "a tagged address faults without TBI0");
    let (events, _) = smmu.take_events();
    assert_eq!(events.len(), 1, "{events:x?}");
    assert_eq!(events[0].kind, event_type::F_TRANSLATION);

    cd.ttb0.as_mut().unwrap().top_byte_ignore = true;
    smmu.set_cd(SID, &mut cds, 0, &cd).unwrap();
    rig.model.dma_write(SID, None, tagged, &[2; 4]).unwrap();
    assert_eq!(rig.byte(page), 2, "TBI0: the tag is ignored");

    cd.ttb0 = None;
    smmu.set_cd(SID, &mut cds, 0, &cd).unwrap();
    smmu.invalidate_asid(0, 7).unwrap();
    assert!(rig.model.dma_write(SID, None, iova, &[3; 4]).is_err());
    assert_eq!(rig.byte(page), 2, "EPD0: no translation through TTB0");
    let (events, _) = smmu.take_events();
    assert_eq!(events.len(), 1, "{events:x?}");
    assert_eq!(events[0].kind, event_type::F_TRANSLATION);
    assert_eq!(events[0].address, iova);
}

/// Unmapping N contiguous pages costs O(log N) TLBI commands with range
/// invalidation (IDR3.RIL), and those commands cover the whole range: every
/// page was cached in the model's TLB before the unmap, and every one faults
/// after it, while the pages on either side still translate.
#[test]
fn unmapping_a_range_costs_logarithmically_many_tlbis_that_cover_it() {
    let rig = Rig::new(SmmuConfig::full());
    let mut smmu = rig.smmu(LINEAR);
    let base = 0x1000_0000u64;
    let pages = 1000u64;
    // Off a 2 MiB boundary, so the map uses 4 KiB pages rather than blocks.
    let frame = rig.mem.alloc_pages(1024).unwrap() + 4096;
    let (mut table, cd) = stage1_cd(&mut smmu, 6, base, 0, false);
    let change = table
        .map(smmu.memory(), base, frame, (pages + 2) * 4096, rw())
        .unwrap();
    smmu.apply(
        TlbScope::Stage1 { vmid: 0, asid: 6 },
        Granule::Size4K,
        change,
    )
    .unwrap();
    let mut cds = smmu.new_cd_table(CdTableFormat::Linear, 0).unwrap();
    smmu.set_cd(SID, &mut cds, 0, &cd).unwrap();
    stage1_ste(&mut smmu, &cds, DefaultSubstream::Substream0);
    for i in 0..pages + 2 {
        rig.model
            .dma_write(SID, None, base + i * 4096, &[1])
            .unwrap();
    }

    rig.model.reset_log();
    // Leave the first and last page mapped.
    let change = table
        .unmap(smmu.memory(), base + 4096, pages * 4096)
        .unwrap();
    smmu.apply(
        TlbScope::Stage1 { vmid: 0, asid: 6 },
        Granule::Size4K,
        change,
    )
    .unwrap();
    let counts = rig.model.counts();
    assert!(
        counts.tlbi_nh_va <= 20 && counts.tlbi_nh_va > 0,
        "{} TLBI_NH_VA for {pages} pages",
        counts.tlbi_nh_va
    );
    assert_eq!(counts.tlbi_nh_asid, 0, "no whole-ASID fallback here");

    for i in 1..=pages {
        assert!(
            rig.model
                .dma_write(SID, None, base + i * 4096, &[2])
                .is_err(),
            "page {i} still translates after the unmap"
        );
    }
    rig.model.dma_write(SID, None, base, &[3]).unwrap();
    rig.model
        .dma_write(SID, None, base + (pages + 1) * 4096, &[3])
        .unwrap();
    assert_eq!(rig.byte(frame), 3);
    assert_eq!(rig.byte(frame + 4096), 1, "unmapped page unchanged");
    let _ = smmu.take_events();
}

/// The upper half of a 39-bit (T1SZ = 25) address space through its own
/// table: `upper` is table address `offset` seen from the top of the 64-bit
/// space.
const OFFSET: u64 = 0x12_3000;
const UPPER: u64 = 0xffff_ff80_0000_0000 | OFFSET;

/// A stream whose CD has both halves (ASID 5): TTB0's table maps OFFSET to
/// page `lo`, TTB1's maps OFFSET, i.e. upper-half address UPPER, to `hi`.
struct BothHalves {
    tables: [Stage1Table; 2],
    cd: ContextDescriptor,
    cds: CdTable,
    lo: u64,
    hi: u64,
}

fn both_halves(rig: &Rig, smmu: &mut Driver<'_>) -> BothHalves {
    use super::structs::TableHalf;
    let (lo, hi) = (rig.page(0), rig.page(0));
    let (t0, mut cd) = stage1_cd(smmu, 5, OFFSET, lo, false);
    let mut t1 = Stage1Table::new(smmu.memory(), Granule::Size4K, 39, 40).unwrap();
    let change = t1.map(smmu.memory(), OFFSET, hi, 4096, rw()).unwrap();
    smmu.apply(
        TlbScope::Stage1 { vmid: 0, asid: 5 },
        Granule::Size4K,
        change,
    )
    .unwrap();
    let upper = TableHalf::upper(&t1.cd_fields(true));
    assert_eq!(upper.upper_address(OFFSET), UPPER);
    cd.ttb1 = Some(upper);
    let mut cds = smmu.new_cd_table(CdTableFormat::Linear, 0).unwrap();
    smmu.set_cd(SID, &mut cds, 0, &cd).unwrap();
    stage1_ste(smmu, &cds, DefaultSubstream::Substream0);
    BothHalves {
        tables: [t0, t1],
        cd,
        cds,
        lo,
        hi,
    }
}

/// TTB1 (§5.4, §3.4.1): an address with VA[55] set and every bit above
/// 64 − T1SZ set goes through TTB1's table, indexed by its low 39 bits, and
/// lands in that table's page; the lower-half address with the same low bits
/// still goes through TTB0; an address with VA[55] set but not the bits above
/// 39 is in neither half and faults. TBI1 lets a tagged upper address through.
#[test]
fn cd_upper_half_addresses_translate_through_ttb1() {
    let rig = Rig::new(SmmuConfig::full());
    let mut smmu = rig.smmu(LINEAR);
    let BothHalves {
        mut cd,
        mut cds,
        lo,
        hi,
        ..
    } = both_halves(&rig, &mut smmu);

    rig.model
        .dma_write(SID, None, UPPER + 0x10, &[0xa1; 4])
        .unwrap();
    assert_eq!((rig.byte(hi + 0x10), rig.byte(lo + 0x10)), (0xa1, 0));
    rig.model
        .dma_write(SID, None, OFFSET + 0x10, &[0xb2; 4])
        .unwrap();
    assert_eq!(
        (rig.byte(hi + 0x10), rig.byte(lo + 0x10)),
        (0xa1, 0xb2),
        "the lower half's own page, not the upper half's cached one"
    );
    let mut back = [0; 4];
    rig.model
        .dma_read(SID, None, UPPER + 0x10, &mut back)
        .unwrap();
    assert_eq!(back, [0xa1; 4]);

    let gap = 0xffff_ff00_0000_0000 | OFFSET;
    let tagged = (UPPER & ((1 << 56) - 1)) | (0x5a << 56);
    for addr in [gap, tagged] {
        assert!(rig.model.dma_write(SID, None, addr, &[0xcc; 4]).is_err());
    }
    let (events, _) = smmu.take_events();
    let got: Vec<_> = events.iter().map(|e| (e.kind, e.address)).collect();
    assert_eq!(
        got,
        [
            (event_type::F_TRANSLATION, gap),
            (event_type::F_TRANSLATION, tagged)
        ]
    );

    cd.ttb1.as_mut().unwrap().top_byte_ignore = true;
    smmu.set_cd(SID, &mut cds, 0, &cd).unwrap();
    rig.model
        .dma_write(SID, None, tagged + 0x20, &[0xdd; 4])
        .unwrap();
    assert_eq!(rig.byte(hi + 0x20), 0xdd, "TBI1: the tag is ignored");
    assert_eq!(rig.byte(lo + 0x20), 0);
}

/// Unmapping in a TTB1 table: the TLBI names the upper-half address the
/// TLB holds (not the table's own address), so the cached translation goes
/// and the next DMA faults; the lower half's page at the same offset stays.
#[test]
fn unmapping_in_the_upper_half_invalidates_the_upper_address() {
    let rig = Rig::new(SmmuConfig::full());
    let mut smmu = rig.smmu(LINEAR);
    let BothHalves {
        mut tables, cd, hi, ..
    } = both_halves(&rig, &mut smmu);
    rig.model.dma_write(SID, None, UPPER, &[1; 4]).unwrap();
    rig.model.dma_write(SID, None, OFFSET, &[2; 4]).unwrap();
    assert_eq!(rig.byte(hi), 1);
    let t1sz = cd.ttb1.as_ref().unwrap().tsz;
    let change = tables[1].unmap(smmu.memory(), OFFSET, 4096).unwrap();
    rig.model.reset_log();
    smmu.apply(
        TlbScope::Stage1 { vmid: 0, asid: 5 },
        Granule::Size4K,
        change.in_upper_half(t1sz),
    )
    .unwrap();
    let log = rig.model.command_log();
    assert!(
        log.iter().any(|c| matches!(
            c,
            model::Command::TlbiNhVa { addr, .. } if addr.addr == UPPER
        )),
        "{log:x?}"
    );
    assert!(rig.model.dma_write(SID, None, UPPER, &[3; 4]).is_err());
    assert_eq!(rig.byte(hi), 1, "the unmapped page is not written");
    rig.model.dma_write(SID, None, OFFSET, &[4; 4]).unwrap();
}

/// EPD1 (`ttb1: None`): once the upper half is taken away (and the ASID's
/// TLB entries invalidated), an upper-half address faults with
/// F_TRANSLATION at that address, while the lower half still translates.
#[test]
fn cd_without_ttb1_faults_upper_half_addresses() {
    let rig = Rig::new(SmmuConfig::full());
    let mut smmu = rig.smmu(LINEAR);
    let BothHalves {
        mut cd,
        mut cds,
        lo,
        hi,
        ..
    } = both_halves(&rig, &mut smmu);
    rig.model.dma_write(SID, None, UPPER, &[1; 4]).unwrap();
    assert_eq!(rig.byte(hi), 1);

    cd.ttb1 = None;
    smmu.set_cd(SID, &mut cds, 0, &cd).unwrap();
    smmu.invalidate_asid(0, 5).unwrap();
    assert!(rig.model.dma_write(SID, None, UPPER + 8, &[2; 4]).is_err());
    assert_eq!(rig.byte(hi + 8), 0, "nothing written through TTB1");
    let (events, _) = smmu.take_events();
    assert_eq!(events.len(), 1, "{events:x?}");
    assert_eq!(
        (events[0].kind, events[0].address, events[0].read),
        (event_type::F_TRANSLATION, UPPER + 8, false)
    );
    rig.model.dma_write(SID, None, OFFSET + 8, &[3; 4]).unwrap();
    assert_eq!(rig.byte(lo + 8), 3, "TTB0 unaffected");
}

/// HAD0 (§5.4, with IDR3.HAD): a table descriptor's APTable[1] makes
/// everything below it read-only, as in tables a guest builds itself; with
/// the CD's hierarchical attributes disabled for TTB0 the leaf's own AP[2]
/// alone decides and the write goes through.
#[test]
fn cd_had0_disables_a_read_only_aptable() {
    let rig = Rig::new(SmmuConfig::qemu());
    let mut smmu = rig.smmu(LINEAR);
    let iova = 0x4000_0000;
    let page = rig.page(0);
    let (_table, mut cd) = stage1_cd(&mut smmu, 8, iova, page, false);
    let mut cds = smmu.new_cd_table(CdTableFormat::Linear, 0).unwrap();
    smmu.set_cd(SID, &mut cds, 0, &cd).unwrap();
    stage1_ste(&mut smmu, &cds, DefaultSubstream::Substream0);
    // 39 bits with 4 KiB pages start at level 1: the level-1 descriptor for
    // `iova` is a table descriptor; set its APTable[1] (bit 62).
    let root = cd.ttb0.unwrap().ttb;
    let l1 = root + 8 * ((iova >> 30) & 0x1ff);
    let desc = rig.mem.read64(l1);
    assert_eq!(desc & 0b11, 0b11, "a table descriptor");
    rig.mem.write64(l1, desc | 1 << 62);

    assert!(rig.model.dma_write(SID, None, iova, &[1; 4]).is_err());
    let (events, _) = smmu.take_events();
    assert_eq!(events.len(), 1, "{events:x?}");
    assert_eq!(
        (events[0].kind, events[0].address),
        (event_type::F_PERMISSION, iova)
    );
    let mut b = [9; 4];
    rig.model.dma_read(SID, None, iova, &mut b).unwrap();
    assert_eq!(b, [0; 4], "reads are still allowed");

    cd.ttb0.as_mut().unwrap().hierarchical_attribute_disable = true;
    smmu.set_cd(SID, &mut cds, 0, &cd).unwrap();
    smmu.invalidate_asid(0, 8).unwrap();
    rig.model.dma_write(SID, None, iova, &[4; 4]).unwrap();
    assert_eq!(rig.byte(page), 4, "HAD0: APTable ignored");
}
