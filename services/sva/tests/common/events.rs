//! The event ring from a test guest's side: registered in its RAM with
//! `EventQueue`, read back record by record as a guest would (consumer
//! index written back), answered with `PageResponse`.

use vsva_abi::sva::{EventQueue, EventRecord, QueueOp, RecordFlags, ResponseCode, SvaStruct};
use vsva_abi::{Call, HvError};
use vsva_sva::Sva;
use vsva_sva::backend::Backend;

use vsva_sva::guest::GuestMemory;

use super::Guest;
use super::calls::{Caller, call, call_out};

/// The interrupt the test rings ask for.
pub const INTID: u32 = 40;

/// A ring registered in a guest's RAM; the guest's consumer index.
#[derive(Debug)]
pub struct GuestRing {
    pub base: u64,
    pub entries: u32,
    pub consumer: u32,
}

impl GuestRing {
    /// Registers a ring of `entries` records in fresh pages of `c`'s RAM.
    pub fn register<B: Backend>(sva: &mut Sva<B>, c: &mut impl Caller, entries: u32) -> Self {
        let base = c.with(|g, _| {
            let pages = (u64::from(entries) + 1).div_ceil(64);
            let base = g.page();
            for _ in 1..pages {
                g.page();
            }
            base
        });
        assert_eq!(
            call(
                sva,
                c,
                Call::EventQueue,
                &queue_args(QueueOp::Register, base, entries)
            ),
            Ok(0)
        );
        Self {
            base,
            entries,
            consumer: 0,
        }
    }

    /// The next record, consumed; `None` when vsva wrote nothing more.
    pub fn pop(&mut self, g: &mut Guest) -> Option<EventRecord> {
        let producer = g.ram.read_u64(self.base) as u32;
        if producer == self.consumer {
            return None;
        }
        let slot = u64::from(self.consumer % self.entries);
        let mut bytes = [0u8; 64];
        g.ram.read(self.base + 64 * (slot + 1), &mut bytes).unwrap();
        self.consumer = self.consumer.wrapping_add(1);
        g.ram
            .write(self.base + 4, &self.consumer.to_le_bytes())
            .unwrap();
        Some(EventRecord::decode(&bytes))
    }
}

pub fn queue_args(op: QueueOp, ring: u64, entries: u32) -> EventQueue {
    EventQueue {
        size: EventQueue::SIZE as u32,
        op: op as u32,
        ring,
        entries,
        intid: if op == QueueOp::Register { INTID } else { 0 },
        ..Default::default()
    }
}

/// The partition's counters, as EventQueue(Query) reports them.
pub fn counters<B: Backend>(sva: &mut Sva<B>, c: &mut impl Caller) -> EventQueue {
    let (r, out) = call_out(sva, c, Call::EventQueue, &queue_args(QueueOp::Query, 0, 0));
    assert_eq!(r, Ok(0));
    out
}

/// The answer to `record` with `code`, as the guest library builds it.
pub use vsva_guest::sva::events::response_to as response;

pub fn respond<B: Backend>(
    sva: &mut Sva<B>,
    c: &mut impl Caller,
    record: &EventRecord,
    code: ResponseCode,
) -> Result<u64, HvError> {
    call(sva, c, Call::PageResponse, &response(record, code))
}

/// The record's flags.
pub fn flags(r: &EventRecord) -> RecordFlags {
    RecordFlags::from_bits_truncate(r.flags)
}
