//! The ring on its own: registration checks, records as the ABI lays them
//! out, a full ring, a hostile consumer index, the lost marker and its
//! sequence gap, coalescing, and requests that cannot be delivered.

use alloc::vec::Vec;

use vsva_abi::HvError;
use vsva_abi::sva::{EventKind, EventRecord, RecordFlags, RingHeader, SvaStruct};

use super::*;
use crate::backend::UnitRequest;
use crate::guest::{FlatRam, GuestRam};

const BASE: u64 = 0x4000_0000;
const RING: u64 = BASE + 0x1000;

fn ram() -> (GuestRam, FlatRam) {
    let ram = GuestRam {
        guest: BASE,
        host: 0x9000_0000,
        size: 0x10000,
    };
    (ram, FlatRam::new(BASE, 0x10000))
}

fn events(entries: u32) -> (Events, GuestRam, FlatRam) {
    let (ram, mut mem) = ram();
    let mut e = Events::new(EventConfig::default());
    e.register(&ram, &mut mem, RING, entries, 40).unwrap();
    (e, ram, mem)
}

fn fault(page: u64) -> Event {
    Event {
        kind: EventKind::Fault,
        flags: RecordFlags::WRITE,
        device: 0x18,
        pasid: Some(3),
        address: page << 12,
        reason: 1,
        group: 0,
        private: None,
        request: None,
    }
}

fn request(group: u16, last: bool) -> Event {
    let r = UnitRequest {
        requester: 0x100,
        pasid: Some(3),
        address: 0x7000,
        read: true,
        write: false,
        exec: false,
        privileged: false,
        last,
        group,
        stall: false,
        private: None,
    };
    Event {
        kind: EventKind::PageRequest,
        group: u32::from(group),
        request: Some((0, r)),
        ..fault(7)
    }
}

fn header(mem: &FlatRam) -> RingHeader {
    let mut b = [0u8; 64];
    mem.read(RING, &mut b).unwrap();
    RingHeader::decode(&b)
}

fn record(mem: &FlatRam, slot: u64) -> EventRecord {
    let mut b = [0u8; 64];
    mem.read(RING + 64 * (slot + 1), &mut b).unwrap();
    EventRecord::decode(&b)
}

fn set_consumer(mem: &mut FlatRam, consumer: u32) {
    mem.write(RING + 4, &consumer.to_le_bytes()).unwrap();
}

#[test]
fn registration_checks_the_ring_and_writes_its_header() {
    let (ram, mut mem) = ram();
    let mut e = Events::new(EventConfig::default());
    let end = BASE + 0x10000;
    for (base, entries, intid) in [
        (RING + 64, 4, 0),
        (RING, 3, 0),
        (RING, 0, 0),
        (RING, 8192, 0),
        (end - 0x1000, 64, 0),
        (BASE - 0x1000, 4, 0),
        (RING, 4, 5000),
    ] {
        assert_eq!(
            e.register(&ram, &mut mem, base, entries, intid),
            Err(HvError::BadArgument),
            "{base:#x} {entries} {intid}"
        );
        assert!(!e.registered());
    }
    // A ring ending exactly at the end of RAM: 63 records and the header.
    e.register(&ram, &mut mem, end - 0x1000, 32, 0).unwrap();
    e.register(&ram, &mut mem, RING, 16, 40).unwrap();
    assert_eq!(
        header(&mem),
        RingHeader {
            producer: 0,
            consumer: 0,
            entries: 16,
            record_size: 64
        }
    );
}

#[test]
fn records_carry_their_fields_and_the_producer_follows() {
    let (mut e, _, mut mem) = events(4);
    assert_eq!(e.accept(fault(5)), Accepted::Queued);
    let d = e.deliver(&mut mem, 0);
    assert_eq!((d.written, d.interrupt), (1, Some(40)));
    assert_eq!(header(&mem).producer, 1);
    let r = record(&mem, 0);
    assert_eq!(
        r,
        EventRecord {
            sequence: 0,
            kind: EventKind::Fault as u16,
            flags: (RecordFlags::WRITE | RecordFlags::PASID).bits(),
            device: 0x18,
            pasid: 3,
            address: 0x5000,
            reason: 1,
            ..Default::default()
        }
    );
    // Nothing new: nothing written, no interrupt.
    assert_eq!(e.deliver(&mut mem, 0), Delivery::default());
}

#[test]
fn a_full_ring_loses_events_and_the_next_record_says_how_many() {
    let (mut e, _, mut mem) = events(4);
    for page in 0..6 {
        e.accept(fault(page));
    }
    let d = e.deliver(&mut mem, 0);
    assert_eq!(d.written, 4);
    assert_eq!(e.counters().lost, 2);
    // The guest consumes two; two more events come.
    set_consumer(&mut mem, 2);
    e.accept(fault(10));
    e.accept(fault(11));
    assert_eq!(e.deliver(&mut mem, 0).written, 2);
    let (first, second) = (record(&mem, 0), record(&mem, 1));
    assert_eq!((first.sequence, first.lost), (6, 2));
    assert!(RecordFlags::from_bits_truncate(first.flags).contains(RecordFlags::LOST));
    assert_eq!(first.sequence - record(&mem, 3).sequence - 1, first.lost);
    assert_eq!(
        (second.sequence, second.lost, second.flags & (1 << 6)),
        (7, 0, 0)
    );
    assert_eq!(header(&mem).producer, 6);
}

#[test]
fn a_wild_consumer_index_makes_the_ring_full_not_wider() {
    // Ahead of the producer (consumed what was never written), or so far
    // behind that more than `entries` would be unread.
    for consumer in [2, 5, 0x8000_0000, 0x8000_0001] {
        let (mut e, _, mut mem) = events(4);
        e.accept(fault(1));
        e.deliver(&mut mem, 0);
        // Consumed more than was produced: the ring counts as full.
        set_consumer(&mut mem, consumer);
        let before = mem.bytes.clone();
        e.accept(fault(2));
        let d = e.deliver(&mut mem, 0);
        assert_eq!(d.written, 0, "{consumer:#x}");
        assert_eq!(mem.bytes, before, "nothing written for {consumer:#x}");
        assert_eq!(e.counters().lost, 1);
    }
}

#[test]
fn the_consumer_index_is_read_once_per_delivery() {
    let (mut e, _, mut mem) = events(8);
    for page in 0..5 {
        e.accept(fault(page));
    }
    let reads = mem.reads.get();
    e.deliver(&mut mem, 0);
    assert_eq!(mem.reads.get() - reads, 1);
}

#[test]
fn the_same_fault_reported_again_is_coalesced() {
    let (mut e, _, mut mem) = events(8);
    assert_eq!(e.accept(fault(3)), Accepted::Queued);
    let mut again = fault(3);
    again.address += 4;
    assert_eq!(e.accept(again), Accepted::Coalesced);
    assert_eq!(e.accept(fault(4)), Accepted::Queued);
    assert_eq!(e.deliver(&mut mem, 0).written, 2);
    assert_eq!((record(&mem, 0).sequence, record(&mem, 1).sequence), (0, 1));
}

#[test]
fn without_a_ring_events_are_counted_and_requests_refused() {
    let mut e = Events::new(EventConfig::default());
    assert_eq!(e.accept(fault(1)), Accepted::Refused);
    assert_eq!(e.accept(request(1, true)), Accepted::Refused);
    assert_eq!(e.counters().dropped, 2);
    assert!(e.open.is_empty());
}

#[test]
fn the_pending_queue_is_bounded_and_the_gap_lands_after_it() {
    let (mut e, _, mut mem) = events(128);
    for page in 0..MAX_PENDING_EVENTS as u64 {
        assert_eq!(e.accept(fault(page)), Accepted::Queued);
    }
    assert_eq!(e.accept(fault(1000)), Accepted::Refused);
    assert_eq!(e.accept(request(2, true)), Accepted::Refused);
    e.accept(fault(2000));
    assert_eq!(e.deliver(&mut mem, 0).written, MAX_PENDING_EVENTS as u32);
    // The loss is shown on the first record after the queued ones.
    let records: Vec<EventRecord> = (0..MAX_PENDING_EVENTS as u64)
        .map(|s| record(&mem, s))
        .collect();
    assert!(records.iter().all(|r| r.lost == 0));
    e.accept(fault(3000));
    e.deliver(&mut mem, 0);
    let next = record(&mem, MAX_PENDING_EVENTS as u64);
    assert_eq!(next.lost, 3);
    assert_eq!(next.sequence, MAX_PENDING_EVENTS as u32 + 3);
}

#[test]
fn requests_are_open_once_written_and_undeliverable_ones_come_back() {
    let (mut e, _, mut mem) = events(2);
    e.accept(request(1, false));
    e.accept(request(1, true));
    e.accept(request(2, true));
    let d = e.deliver(&mut mem, 77);
    assert_eq!(d.written, 2);
    // Only the last request of group 1 owes an answer; group 2 found the
    // ring full and goes back to be answered now.
    assert_eq!(e.open.len(), 1);
    assert_eq!(d.unanswered.len(), 1);
    assert_eq!(d.unanswered[0].1.group, 2);
    let open = e.open.take(0x18, Some(3), 1, false).unwrap();
    assert_eq!(open.since_ns, 77);
    assert!(
        e.open.take(0x18, Some(3), 1, false).is_none(),
        "answered twice"
    );
}

#[test]
fn open_requests_are_bounded() {
    let (mut e, _, mut mem) = events(64);
    for g in 0..MAX_OPEN_REQUESTS as u16 + 2 {
        e.accept(request(g, true));
    }
    let d = e.deliver(&mut mem, 0);
    assert_eq!(d.written, MAX_OPEN_REQUESTS as u32);
    assert_eq!(d.unanswered.len(), 2);
    assert_eq!(e.counters().open_requests, MAX_OPEN_REQUESTS as u32);
}

#[test]
fn open_requests_expire_after_the_timeout() {
    let (mut e, _, mut mem) = events(4);
    e.accept(request(1, true));
    e.deliver(&mut mem, 1_000);
    e.accept(request(2, true));
    e.deliver(&mut mem, 5_000);
    let expired = e.open.expired(1_000 + 3_000, 3_000);
    assert_eq!(expired.len(), 1);
    assert_eq!(expired[0].request.group, 1);
    assert_eq!(e.open.len(), 1);
}
