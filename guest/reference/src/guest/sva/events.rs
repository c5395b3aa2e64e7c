//! Events, as a guest kernel handles them: a fault record when edu writes
//! into a hole of the guest's table (the guest fills the hole, invalidates
//! and retries), a ring too small for a flood (the next record says how
//! many were lost), and the handler a page request or stall would get (map
//! the page, invalidate, answer success).

use core::sync::atomic::Ordering;

use vsva_abi::BootInfo;
use vsva_guest::sva::events::{
    self, EventKind, EventRecord, EventRing, EventRingMemory, FaultReason, RecordFlags,
    ResponseCode,
};

use super::{
    DeviceTable, GVA_DST, GVA_SRC, Pages, check, copy, device, expect, filled, invalidate_page,
};
use crate::arch;
use crate::guest::{LAST_INTERRUPT, code, edu, edu_dma};

/// The interrupt vsva raises after writing records: the vector the x86
/// IDT routes to the handler, an SPI on aarch64.
pub(super) const EVENT_INTID: u32 = 40;

static RING: EventRingMemory<8> = EventRingMemory::new();
static SMALL_RING: EventRingMemory<4> = EventRingMemory::new();

/// The next record, yielding to vsva (which delivers between slices) until
/// one comes; `None` after a bounded wait.
pub(super) fn next_record<const N: usize>(ring: &mut EventRing<'_, N>) -> Option<EventRecord> {
    for _ in 0..2_000 {
        if let Some(r) = ring.pop() {
            return Some(r);
        }
        let _ = vsva_guest::yield_now();
    }
    None
}

fn flags(r: &EventRecord) -> RecordFlags {
    RecordFlags::from_bits_truncate(r.flags)
}

/// Serves a page request or stall: maps the page the device asked for
/// (at `data`), invalidates it and answers success. Faults are only told.
fn handle(dev: u32, table: &DeviceTable, pages: &mut Pages, r: &EventRecord, data: u64) {
    let kind = EventKind::from_raw(r.kind);
    if !matches!(kind, Some(EventKind::PageRequest | EventKind::Stall)) {
        say!("sva: event {}: {kind:?} at {:#x}", r.sequence, r.address);
        return;
    }
    let page = r.address & !0xfff;
    table.map(pages, page, data);
    invalidate_page(dev, page);
    if flags(r).contains(RecordFlags::LAST) || kind == Some(EventKind::Stall) {
        check("PageResponse", events::respond(r, ResponseCode::Success));
    }
    say!("sva: served the page request for {page:#x}");
}

/// `sva-fault`: edu writes into a hole of the bound table; the guest reads
/// the fault record (its device ID, the GVA, a write, not present), fills
/// the hole, invalidates and retries, and the DMA lands.
pub fn fault(info: &BootInfo) {
    let (bar, dev, _) = device(info);
    let mut ring = check("EventQueue", EventRing::register(&RING, EVENT_INTID));
    arch::enable_interrupts();
    let mut pages = Pages::new(info);
    let table = DeviceTable::new(&mut pages);
    let (src, dst) = (pages.page(), pages.page());
    table.map(&mut pages, GVA_SRC, src);
    check(
        "BindStage1",
        vsva_guest::sva::bind_stage1(dev, None, &table.stage1()),
    );
    let byte = 0xe0u8.wrapping_add(info.partition as u8);
    arch::memory(src, edu::LEN).fill(byte);
    copy(bar, GVA_SRC, GVA_DST);
    let Some(r) = next_record(&mut ring) else {
        say!("sva: no fault record came");
        vsva_guest::exit(code::SVA_FAILED);
    };
    if !(r.kind == EventKind::Fault as u16
        && r.device == dev
        && r.address & !0xfff == GVA_DST
        && flags(&r).contains(RecordFlags::WRITE)
        && !flags(&r).contains(RecordFlags::PASID)
        && r.reason == FaultReason::NotPresent as u32)
    {
        say!(
            "sva: the record is not edu's write fault at the hole: kind {}, device {:#x}, address {:#x}, flags {:?}, reason {}",
            r.kind,
            r.device,
            r.address,
            flags(&r),
            r.reason
        );
        vsva_guest::exit(code::SVA_DMA_LOST);
    }
    say!(
        "sva: fault record {}: device {:#06x}, GVA {:#x}, write, not present",
        r.sequence,
        r.device,
        r.address
    );
    if LAST_INTERRUPT.load(Ordering::SeqCst) == EVENT_INTID {
        say!("sva: the event interrupt ({EVENT_INTID}) came");
    }
    table.map(&mut pages, GVA_DST, dst);
    invalidate_page(dev, GVA_DST);
    copy(bar, GVA_SRC, GVA_DST);
    expect("the retried DMA did not land", filled(dst, byte));
    say!("sva: filled the hole, invalidated and retried: the DMA landed in GPA {dst:#x}");
    // Anything else the ring holds (the same fault told twice, requests).
    let spare = pages.page();
    while let Some(r) = ring.pop() {
        handle(dev, &table, &mut pages, &r, spare);
    }
    check("UnbindStage1", vsva_guest::sva::unbind_stage1(dev, None));
    let counters = check("EventQueue", events::unregister_events());
    say!(
        "sva: events dropped {}, lost {}, requests open {}",
        counters.dropped,
        counters.lost,
        counters.open_requests
    );
}

/// The holes of `sva-flood`: pages nothing maps.
fn hole(n: u64) -> u64 {
    GVA_DST + 0x10_0000 + n * 0x1000
}

/// `sva-flood`: eight faults into a ring of four the guest does not read:
/// four are written, four lost; after the guest reads the four, the next
/// fault's record says four were lost, and its sequence number skips them.
pub fn flood(info: &BootInfo) {
    let (bar, dev, _) = device(info);
    let mut ring = check("EventQueue", EventRing::register(&SMALL_RING, 0));
    let mut pages = Pages::new(info);
    let table = DeviceTable::new(&mut pages);
    check(
        "BindStage1",
        vsva_guest::sva::bind_stage1(dev, None, &table.stage1()),
    );
    for n in 0..8 {
        edu_dma(bar, edu::BUFFER, hole(n), true);
    }
    // The last faults reach vsva after the DMA ends: wait until all eight
    // are accounted for before making room.
    for _ in 0..2_000 {
        if check("EventQueue", events::event_counters()).lost >= 4 {
            break;
        }
        let _ = vsva_guest::yield_now();
    }
    let first: [Option<EventRecord>; 4] = core::array::from_fn(|_| ring.pop());
    expect(
        "the full ring does not hold the first four faults in order",
        first.iter().enumerate().all(|(i, r)| {
            r.is_some_and(|r| r.sequence == i as u32 && r.address & !0xfff == hole(i as u64))
        }),
    );
    expect(
        "the ring held more than it has room for",
        ring.pop().is_none(),
    );
    edu_dma(bar, edu::BUFFER, hole(8), true);
    let Some(r) = next_record(&mut ring) else {
        say!("sva: no record after the flood");
        vsva_guest::exit(code::SVA_FAILED);
    };
    if !(flags(&r).contains(RecordFlags::LOST) && r.lost == 4 && r.sequence == 8) {
        say!(
            "sva: the record after the flood is {}, lost {} (flags {:?}), not 8 with 4 lost",
            r.sequence,
            r.lost,
            flags(&r)
        );
        vsva_guest::exit(code::SVA_DMA_LOST);
    }
    say!(
        "sva: after the flood: record {} says {} lost (sequence numbers 4 to 7)",
        r.sequence,
        r.lost
    );
    check("UnbindStage1", vsva_guest::sva::unbind_stage1(dev, None));
    let counters = check("EventQueue", events::unregister_events());
    say!("sva: events lost {}", counters.lost);
}

/// `events`: registers a ring and waits a while: a partition without
/// devices must receive nothing.
pub fn quiet() {
    let mut ring = check("EventQueue", EventRing::register(&RING, EVENT_INTID));
    for _ in 0..50 {
        let _ = vsva_guest::yield_now();
    }
    match ring.pop() {
        None => say!("events: none came"),
        Some(r) => {
            say!(
                "events: got {:?} for device {:#x}",
                EventKind::from_raw(r.kind),
                r.device
            );
            vsva_guest::exit(code::SVA_FAILED);
        }
    }
    let counters = check("EventQueue", events::event_counters());
    expect(
        "events were counted for a partition without devices",
        counters.dropped == 0 && counters.lost == 0,
    );
}
