//! Events on the SMMUv3 model: the PRI round trip (request, record, the
//! guest maps, CMD_PRI_RESP, the retried DMA lands) and the stall round
//! trip (a guest CD with S set under a CD table bound with STALL: the
//! stalled write becomes a record, the guest maps the page and answers,
//! CMD_RESUME retries it and it lands); stalls aborted when the CD table
//! goes or the answer never comes.

mod common;

use common::calls::{alloc, bind, call, cd_args, entry, invalidate, sva_info, unbind_cd};
use common::events::{GuestRing, counters, flags, respond};
use common::smmu::{Part, Rig, Service, guest_cd_stalling};
use common::{GUEST_BASE, Layout, VmsaTable, device};
use vsva_abi::Call;
use vsva_abi::HvError;
use vsva_abi::sva::{
    BindCdTable, CdTableFlags, EventKind, InvalidateKind, RecordFlags, ResponseCode, SvaCaps,
};
use vsva_iommu::smmuv3::model::{PageRequest, PriResponseCode, ResumeOutcome, SmmuConfig};
use vsva_sva::PartitionId;
use vsva_sva::backend::DeviceInfo;
use vsva_sva::guest::GuestMemory;

const SID: u32 = 0x0020;
const DEVICE: u32 = 0x0018;
const A: PartitionId = PartitionId(1);
const VA: u64 = 0x2400_0000;

fn setup(rig: &Rig, sva: &mut Service<'_>) -> (Part, GuestRing) {
    let info = DeviceInfo {
        pasid_bits: 20,
        pri: true,
        ..Default::default()
    };
    let mut a = rig.partition(
        sva,
        Layout::new(A, GUEST_BASE, 128),
        device(SID, DEVICE, info),
    );
    let ring = GuestRing::register(sva, &mut a, 8);
    (a, ring)
}

fn slice(sva: &mut Service<'_>, a: &mut Part, now: u64) {
    sva.poll(now);
    sva.deliver(A, &mut a.g.ram, now);
}

#[test]
fn a_pri_round_trip_ends_with_the_retried_dma_landing() {
    let rig = Rig::new(SmmuConfig::full());
    let mut sva = rig.service();
    let (mut a, mut ring) = setup(&rig, &mut sva);
    let caps = SvaCaps::from_bits_truncate(sva_info(&mut sva, &mut a, DEVICE).1.caps);
    assert!(caps.contains(SvaCaps::PRI | SvaCaps::STALL));
    let pasid = alloc(&mut sva, &mut a).unwrap();
    let table = VmsaTable::new(&mut a.g);
    assert_eq!(
        bind(&mut sva, &mut a, DEVICE, Some(pasid), table.root),
        Ok(0)
    );
    rig.model
        .inject_page_request(&PageRequest {
            sid: SID,
            ssid: Some(pasid),
            addr: VA,
            read: true,
            last: true,
            prgi: 0x1f,
            ..Default::default()
        })
        .unwrap();
    slice(&mut sva, &mut a, 1);
    let r = ring.pop(&mut a.g).expect("the request's record");
    assert_eq!(
        (r.kind, r.device, r.pasid, r.address, r.group),
        (EventKind::PageRequest as u16, DEVICE, pasid, VA, 0x1f)
    );
    assert!(flags(&r).contains(RecordFlags::READ | RecordFlags::LAST | RecordFlags::PASID));
    let data = a.g.page();
    a.g.ram.write_u64(data, 0x5151);
    table.map(&mut a.g, VA, data, 0);
    let e = entry(InvalidateKind::IotlbRange, DEVICE, Some(pasid), VA, 0x1000);
    assert_eq!(invalidate(&mut sva, &mut a, &[e]).0, Ok(1));
    assert_eq!(respond(&mut sva, &mut a, &r, ResponseCode::Success), Ok(0));
    let resp = rig.model.pri_responses();
    assert_eq!(resp.len(), 1);
    assert_eq!(
        (resp[0].sid, resp[0].ssid, resp[0].prgi, resp[0].resp),
        (SID, Some(pasid), 0x1f, PriResponseCode::Success)
    );
    let mut got = [0u8; 8];
    rig.model.dma_read(SID, Some(pasid), VA, &mut got).unwrap();
    assert_eq!(u64::from_le_bytes(got), 0x5151);
    assert_eq!(
        respond(&mut sva, &mut a, &r, ResponseCode::Success),
        Err(HvError::NotFound)
    );
}

/// A guest CD table bound with STALL; its CD 0 with S set over an empty
/// table: the device's write stalls.
fn stalling(rig: &Rig, sva: &mut Service<'_>, a: &mut Part) -> VmsaTable {
    let table = VmsaTable::new(&mut a.g);
    let cds = a.g.page();
    a.g.ram
        .write(cds, &guest_cd_stalling(table.root, 7, true))
        .unwrap();
    let bind = BindCdTable {
        flags: CdTableFlags::STALL.bits(),
        ..cd_args(DEVICE, cds, 0, 0)
    };
    assert_eq!(call(sva, a, Call::BindCdTable, &bind), Ok(0));
    assert!(rig.model.dma_write(SID, None, VA, &[0x77]).is_err());
    assert_eq!(rig.model.pending_stalls().len(), 1);
    table
}

#[test]
fn a_stall_round_trip_resumes_the_write_after_the_guest_maps_it() {
    let rig = Rig::new(SmmuConfig::full());
    let mut sva = rig.service();
    let (mut a, mut ring) = setup(&rig, &mut sva);
    let table = stalling(&rig, &mut sva, &mut a);
    slice(&mut sva, &mut a, 1);
    let r = ring.pop(&mut a.g).expect("the stall's record");
    let stag = rig.model.pending_stalls()[0].stag;
    assert_eq!(
        (r.kind, r.device, r.address, r.group),
        (EventKind::Stall as u16, DEVICE, VA, u32::from(stag))
    );
    assert!(flags(&r).contains(RecordFlags::WRITE));
    assert!(sva.take_faults().is_empty(), "a stall is not a fault");
    let data = a.g.page();
    table.map(&mut a.g, VA, data, 0);
    let e = entry(InvalidateKind::IotlbRange, DEVICE, None, VA, 0x1000);
    assert_eq!(invalidate(&mut sva, &mut a, &[e]).0, Ok(1));
    assert_eq!(respond(&mut sva, &mut a, &r, ResponseCode::Success), Ok(0));
    assert!(rig.model.pending_stalls().is_empty());
    assert_eq!(
        rig.model.resume_outcomes(),
        [ResumeOutcome::Completed { stag, read: None }]
    );
    assert_eq!(a.g.ram.byte(data), 0x77, "the stalled write landed");
}

/// Stalls vsva ends itself: when the CD table is unbound, and when the
/// guest never answers (the timeout). Each reaches the SMMU as an abort.
#[test]
fn stalls_are_aborted_on_unbind_and_timeout() {
    let rig = Rig::new(SmmuConfig::full());
    let mut sva = rig.service();
    let (mut a, _ring) = setup(&rig, &mut sva);
    stalling(&rig, &mut sva, &mut a);
    slice(&mut sva, &mut a, 5);
    assert_eq!(counters(&mut sva, &mut a).open_requests, 1);
    assert_eq!(unbind_cd(&mut sva, &mut a, DEVICE), Ok(0));
    assert!(rig.model.pending_stalls().is_empty());
    assert!(matches!(
        rig.model.resume_outcomes()[..],
        [ResumeOutcome::Terminated { abort: true, .. }]
    ));

    stalling(&rig, &mut sva, &mut a);
    slice(&mut sva, &mut a, 10);
    sva.poll(10 + 999_999_999);
    assert_eq!(rig.model.pending_stalls().len(), 1, "ended before its time");
    sva.poll(10 + 1_000_000_000);
    assert!(rig.model.pending_stalls().is_empty());
    assert_eq!(counters(&mut sva, &mut a).open_requests, 0);
}

/// Without STALL the same CD stalls nothing (S1STALLD); STALL where the
/// SMMU cannot stall (QEMU: terminate only) is unsupported.
#[test]
fn stalls_need_the_flag_and_the_cap() {
    let rig = Rig::new(SmmuConfig::qemu());
    let mut sva = rig.service();
    let (mut a, _) = setup(&rig, &mut sva);
    let caps = SvaCaps::from_bits_truncate(sva_info(&mut sva, &mut a, DEVICE).1.caps);
    assert!(!caps.contains(SvaCaps::STALL));
    let cds = a.g.page();
    let bind = BindCdTable {
        flags: CdTableFlags::STALL.bits(),
        ..cd_args(DEVICE, cds, 0, 0)
    };
    assert_eq!(
        call(&mut sva, &mut a, Call::BindCdTable, &bind),
        Err(HvError::Unsupported)
    );
}
