//! Events on the VT-d model: fault records for a partition's devices, the
//! page-request round trip through the page request queue (request, record
//! in the guest's ring, the guest maps and answers, the page group response
//! reaches the device, whose retried DMA lands), vsva's own answers on
//! unbind, PASID free, partition removal and timeout, and answers refused.

mod common;

use common::calls::{alloc, bind, call, free, invalidate, unbind};
use common::events::{GuestRing, counters, flags, respond, response};
use common::vtd::{A, B, DEV_A, DEV_B, NESTED, RID_A, Rig, Service};
use common::{Guest, Layout, X86Table, device, x86};
use vsva_abi::sva::{EventKind, FaultReason, InvalidateKind, RecordFlags, ResponseCode};
use vsva_abi::{Call, HvError};
use vsva_iommu::vtd::model::{self, PageRequest, ResponseCode as ModelCode};
use vsva_sva::backend::DeviceInfo;

/// A device with 20-bit PASIDs and PRI.
fn pri_device() -> DeviceInfo {
    DeviceInfo {
        pasid_bits: 20,
        pri: true,
        ..Default::default()
    }
}

const GVA: u64 = 0x7100_0000;

/// A with a PRI device, B with a device too; a ring in A's RAM; a PASID
/// bound to a table of A's with nothing mapped at GVA.
struct Setup {
    a: Guest,
    b: Guest,
    ring: GuestRing,
    pasid: u32,
    table: X86Table,
}

fn setup(rig: &Rig, sva: &mut Service<'_>) -> Setup {
    let mut a = rig.partition(
        sva,
        Layout::new(A, common::GUEST_BASE, 64),
        Some(device(RID_A, DEV_A, pri_device())),
    );
    let b = rig.partition(
        sva,
        Layout::new(B, common::vtd::B_BASE, 16),
        Some(device(0x18, DEV_B, pri_device())),
    );
    let ring = GuestRing::register(sva, &mut a, 8);
    let pasid = alloc(sva, &mut a).unwrap();
    let table = X86Table::new(&mut a);
    assert_eq!(bind(sva, &mut a, DEV_A, Some(pasid), table.root), Ok(0));
    Setup {
        a,
        b,
        ring,
        pasid,
        table,
    }
}

/// A page request of A's device for `pasid` at GVA, group `prgi`.
fn request(rig: &Rig, pasid: u32, prgi: u16) {
    rig.model
        .inject_page_request(&PageRequest {
            rid: RID_A as u16,
            pasid: Some(pasid),
            addr: GVA,
            write: true,
            lpig: true,
            prgi,
            ..Default::default()
        })
        .unwrap();
}

/// What the service does after a slice at `now`: drain, expire, deliver.
fn slice(sva: &mut Service<'_>, g: &mut Guest, now: u64) {
    sva.poll(now);
    sva.deliver(g.id, &mut g.ram, now);
}

fn responses(rig: &Rig) -> Vec<(Option<u32>, u16, ModelCode)> {
    rig.model
        .page_responses()
        .iter()
        .map(|r| (r.pasid, r.prgi, r.code))
        .collect()
}

#[test]
fn a_page_request_round_trip_ends_with_the_retried_dma_landing() {
    let rig = Rig::new(NESTED);
    let mut sva = rig.service();
    let mut s = setup(&rig, &mut sva);
    let (_, info) = common::calls::sva_info(&mut sva, &mut s.a, DEV_A);
    assert!(
        vsva_abi::sva::SvaCaps::from_bits_truncate(info.caps).contains(vsva_abi::sva::SvaCaps::PRI)
    );
    request(&rig, s.pasid, 5);
    sva.poll(1);
    let d = sva.deliver(A, &mut s.a.ram, 1);
    assert_eq!((d.written, d.interrupt), (1, Some(common::events::INTID)));
    let r = s.ring.pop(&mut s.a).expect("the request's record");
    assert_eq!(
        (r.kind, r.device, r.pasid, r.address, r.group),
        (EventKind::PageRequest as u16, DEV_A, s.pasid, GVA, 5)
    );
    assert!(flags(&r).contains(RecordFlags::PASID | RecordFlags::WRITE | RecordFlags::LAST));
    assert_eq!(counters(&mut sva, &mut s.a).open_requests, 1);
    // The guest maps the page, invalidates, answers.
    let data = s.a.page();
    s.table.map(&mut s.a, GVA, data, x86::TABLE);
    let e = common::calls::entry(
        InvalidateKind::IotlbRange,
        DEV_A,
        Some(s.pasid),
        GVA,
        0x1000,
    );
    assert_eq!(invalidate(&mut sva, &mut s.a, &[e]).0, Ok(1));
    assert_eq!(
        respond(&mut sva, &mut s.a, &r, ResponseCode::Success),
        Ok(0)
    );
    assert_eq!(responses(&rig), [(Some(s.pasid), 5, ModelCode::Success)]);
    // The device retries.
    rig.model
        .dma_write(RID_A as u16, Some(s.pasid), GVA + 8, &[0x6b])
        .unwrap();
    assert_eq!(s.a.ram.byte(data + 8), 0x6b);
    // Answered once: again, and for a group never asked, refused.
    assert_eq!(
        respond(&mut sva, &mut s.a, &r, ResponseCode::Success),
        Err(HvError::NotFound)
    );
    let other = vsva_abi::sva::PageResponse {
        group: 6,
        ..response(&r, ResponseCode::Success)
    };
    assert_eq!(
        call(&mut sva, &mut s.a, Call::PageResponse, &other),
        Err(HvError::NotFound)
    );
    assert_eq!(responses(&rig).len(), 1);
}

/// Another partition cannot answer A's request: it cannot name A's device,
/// and its own device's ID finds nothing open.
#[test]
fn another_partition_cannot_answer() {
    let rig = Rig::new(NESTED);
    let mut sva = rig.service();
    let mut s = setup(&rig, &mut sva);
    request(&rig, s.pasid, 9);
    slice(&mut sva, &mut s.a, 1);
    let r = s.ring.pop(&mut s.a).unwrap();
    for device in [DEV_A, DEV_B] {
        let forged = vsva_abi::sva::PageResponse {
            device,
            ..response(&r, ResponseCode::Success)
        };
        assert_eq!(
            call(&mut sva, &mut s.b, Call::PageResponse, &forged),
            Err(HvError::NotFound),
            "{device:#x}"
        );
    }
    assert!(responses(&rig).is_empty());
    assert_eq!(counters(&mut sva, &mut s.a).open_requests, 1);
}

/// Malformed answers are refused before anything is looked up.
#[test]
fn malformed_answers_are_refused() {
    let rig = Rig::new(NESTED);
    let mut sva = rig.service();
    let mut s = setup(&rig, &mut sva);
    request(&rig, s.pasid, 3);
    slice(&mut sva, &mut s.a, 1);
    let r = s.ring.pop(&mut s.a).unwrap();
    let good = response(&r, ResponseCode::Success);
    use vsva_abi::sva::PageResponse as P;
    #[rustfmt::skip]
    let cases = [
        ("unknown flag", P { flags: good.flags | 1 << 5, ..good }),
        ("unknown code", P { code: 3, ..good }),
        ("PASID without its flag", P { flags: 0, ..good }),
        ("PASID wider than 20 bits", P { pasid: 1 << 20, ..good }),
        ("group wider than 9 bits", P { group: 1 << 9, ..good }),
    ];
    for (name, args) in cases {
        assert_eq!(
            call(&mut sva, &mut s.a, Call::PageResponse, &args),
            Err(HvError::BadArgument),
            "{name}"
        );
    }
    assert_eq!(call(&mut sva, &mut s.a, Call::PageResponse, &good), Ok(0));
}

/// vsva answers what the guest can no longer: on unbind (the PASID's
/// request), on PASID free (a request on a PASID with nothing bound), on
/// the partition's removal, and after the timeout. Each answer reaches the
/// device as a page group response.
#[test]
fn open_requests_are_answered_when_what_they_belong_to_goes() {
    let rig = Rig::new(NESTED);
    let mut sva = rig.service();
    let mut s = setup(&rig, &mut sva);
    let spare = alloc(&mut sva, &mut s.a).unwrap();
    request(&rig, s.pasid, 1);
    request(&rig, spare, 2);
    slice(&mut sva, &mut s.a, 10);
    assert_eq!(counters(&mut sva, &mut s.a).open_requests, 2);
    assert_eq!(unbind(&mut sva, &mut s.a, DEV_A, Some(s.pasid)), Ok(0));
    assert_eq!(
        responses(&rig),
        [(Some(s.pasid), 1, ModelCode::InvalidRequest)]
    );
    assert_eq!(free(&mut sva, &mut s.a, spare), Ok(0));
    assert_eq!(
        responses(&rig)[1],
        (Some(spare), 2, ModelCode::InvalidRequest)
    );

    // Timeout: one second by default.
    assert_eq!(
        bind(&mut sva, &mut s.a, DEV_A, Some(s.pasid), s.table.root),
        Ok(0)
    );
    request(&rig, s.pasid, 3);
    slice(&mut sva, &mut s.a, 2_000_000_000);
    sva.poll(2_900_000_000);
    assert_eq!(responses(&rig).len(), 2, "answered before its time");
    sva.poll(3_000_000_000);
    assert_eq!(
        responses(&rig)[2],
        (Some(s.pasid), 3, ModelCode::InvalidRequest)
    );

    // Removal: answered as a failure.
    request(&rig, s.pasid, 4);
    slice(&mut sva, &mut s.a, 3_000_000_001);
    assert!(sva.remove_partition(A).is_ok());
    assert_eq!(
        responses(&rig)[3],
        (Some(s.pasid), 4, ModelCode::ResponseFailure)
    );
}

/// A request that cannot reach a ring is answered at once: with no ring
/// registered, and with the ring full.
#[test]
fn requests_nobody_can_take_are_answered_at_once() {
    let rig = Rig::new(NESTED);
    let mut sva = rig.service();
    let mut s = setup(&rig, &mut sva);
    for prgi in 0..9 {
        request(&rig, s.pasid, prgi);
    }
    slice(&mut sva, &mut s.a, 1);
    // Eight fit the ring; the ninth is answered.
    assert_eq!(
        responses(&rig),
        [(Some(s.pasid), 8, ModelCode::InvalidRequest)]
    );
    assert_eq!(counters(&mut sva, &mut s.a).lost, 1);
    assert_eq!(
        call(
            &mut sva,
            &mut s.a,
            Call::EventQueue,
            &common::events::queue_args(vsva_abi::sva::QueueOp::Unregister, 0, 0)
        ),
        Ok(0)
    );
    request(&rig, s.pasid, 20);
    slice(&mut sva, &mut s.a, 2);
    assert_eq!(
        responses(&rig)[1],
        (Some(s.pasid), 20, ModelCode::InvalidRequest)
    );
    let c = counters(&mut sva, &mut s.a);
    assert_eq!((c.dropped, c.open_requests), (1, 8));
}

/// Faults reach the owner's ring: a PASID's DMA into a hole of its table
/// (Fault, not present, with the PASID), a DMA without PASID outside the
/// partition's RAM (Stage2Fault). B receives none of them.
#[test]
fn faults_reach_the_owner_only() {
    let rig = Rig::new(NESTED);
    let mut sva = rig.service();
    let mut s = setup(&rig, &mut sva);
    let mut b_ring = GuestRing::register(&mut sva, &mut s.b, 4);
    assert!(
        rig.model
            .dma_write(RID_A as u16, Some(s.pasid), GVA, &[1])
            .is_err()
    );
    assert!(
        rig.model
            .dma_write(RID_A as u16, None, 0x9000_0000, &[1])
            .is_err()
    );
    sva.poll(1);
    sva.deliver(A, &mut s.a.ram, 1);
    sva.deliver(B, &mut s.b.ram, 1);
    let fault = s.ring.pop(&mut s.a).unwrap();
    assert_eq!(
        (
            fault.kind,
            fault.device,
            fault.pasid,
            fault.address & !0xfff,
            fault.reason
        ),
        (
            EventKind::Fault as u16,
            DEV_A,
            s.pasid,
            GVA,
            FaultReason::NotPresent as u32
        )
    );
    assert!(flags(&fault).contains(RecordFlags::PASID | RecordFlags::WRITE));
    let outside = s.ring.pop(&mut s.a).unwrap();
    assert_eq!(
        (outside.kind, outside.reason, outside.sequence),
        (
            EventKind::Stage2Fault as u16,
            FaultReason::OutsidePartition as u32,
            1
        )
    );
    assert!(!flags(&outside).contains(RecordFlags::PASID));
    assert!(b_ring.pop(&mut s.b).is_none());
    let _ = model::FULL_CAP;
}

/// A hole in a guest table installed as a second-stage shadow (QEMU's
/// scalable mode without first stage): the unit can only say "write
/// denied" (a second-stage entry with R and W clear is not present), and
/// the record says "not present", as the guest's table has it.
#[test]
fn a_hole_under_a_second_stage_shadow_is_not_present() {
    let rig = Rig::new((model::QEMU_CAP, model::QEMU_ECAP_SCALABLE_PASID | 1 << 3));
    let mut sva = rig.service();
    let mut a = rig.partition(
        &mut sva,
        Layout::new(A, common::GUEST_BASE, 64),
        Some(device(RID_A, DEV_A, DeviceInfo::default())),
    );
    let mut ring = GuestRing::register(&mut sva, &mut a, 4);
    let table = X86Table::new(&mut a);
    let data = a.page();
    table.map(&mut a, GVA, data, x86::TABLE);
    assert_eq!(bind(&mut sva, &mut a, DEV_A, None, table.root), Ok(0));
    assert!(
        rig.model
            .dma_write(RID_A as u16, None, GVA + 0x1000, &[1])
            .is_err()
    );
    let code = rig.model.faults()[0].reason;
    slice(&mut sva, &mut a, 1);
    let r = ring.pop(&mut a).unwrap();
    assert_eq!(
        (r.kind, r.address & !0xfff, r.reason),
        (
            EventKind::Fault as u16,
            GVA + 0x1000,
            FaultReason::NotPresent as u32
        ),
        "unit code {code:?}"
    );
}
