//! The event ring ([`vsva_abi::sva::EventQueue`]): faults, page requests
//! and stalls of this partition's devices, as vsva writes them, read by a
//! safe consumer; and the answers to page requests.
//!
//! The ring's memory is an [`EventRingMemory`] the guest owns for as long
//! as the ring is registered (a `static`, typically). vsva writes it while
//! the guest runs elsewhere, so every field is an atomic: the consumer
//! loads the producer index with acquire ordering, reads the records below
//! it, and publishes its consumer index with release ordering. Like the
//! other calls, registration passes the memory's address as its
//! guest-physical one: it must be identity mapped.

use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

#[cfg_attr(
    not(any(target_arch = "aarch64", target_arch = "x86_64")),
    allow(unused_imports)
)]
use vsva_abi::Call;
use vsva_abi::HvError;

pub use vsva_abi::sva::{
    EVENT_RECORD_SIZE, EventKind, EventQueue, EventRecord, FaultReason, MAX_EVENT_ENTRIES,
    PageResponse, QueueOp, RecordFlags, ResponseCode, ResponseFlags, RingHeader,
};

use super::SvaStruct;

/// Header words: producer, consumer, entries, record size, then reserved.
const HEADER_WORDS: usize = 16;
/// Words of one record.
const RECORD_WORDS: usize = EVENT_RECORD_SIZE as usize / 8;

/// The memory of a ring of `N` records (a power of two, at most
/// [`MAX_EVENT_ENTRIES`]): the 64-byte header and the records, page
/// aligned as vsva requires.
#[repr(C, align(4096))]
#[derive(Debug)]
pub struct EventRingMemory<const N: usize> {
    header: [AtomicU32; HEADER_WORDS],
    records: [[AtomicU64; RECORD_WORDS]; N],
}

impl<const N: usize> EventRingMemory<N> {
    const VALID: () = assert!(N.is_power_of_two() && N <= MAX_EVENT_ENTRIES as usize);

    /// Zeroed memory, for a `static`.
    pub const fn new() -> Self {
        let () = Self::VALID;
        Self {
            header: [const { AtomicU32::new(0) }; HEADER_WORDS],
            records: [const { [const { AtomicU64::new(0) }; RECORD_WORDS] }; N],
        }
    }

    /// The guest-physical address vsva is given (identity mapping).
    fn address(&self) -> u64 {
        core::ptr::from_ref(self) as u64
    }
}

impl<const N: usize> Default for EventRingMemory<N> {
    fn default() -> Self {
        Self::new()
    }
}

/// A registered ring: the consumer side.
#[derive(Debug)]
pub struct EventRing<'a, const N: usize> {
    memory: &'a EventRingMemory<N>,
}

impl<'a, const N: usize> EventRing<'a, N> {
    /// A consumer over `memory` without registering it (the other side
    /// here is whoever fills it: vsva after [`register`](Self::register),
    /// or a test).
    pub const fn over(memory: &'a EventRingMemory<N>) -> Self {
        Self { memory }
    }

    /// Registers `memory` as this partition's ring, with `intid` (0: none)
    /// raised after vsva writes records. A ring registered before is
    /// replaced.
    ///
    /// Errors: [`HvError::BadArgument`] when the memory is not in the
    /// partition's RAM or `intid` is not one the architecture delivers.
    #[cfg(any(target_arch = "aarch64", target_arch = "x86_64"))]
    pub fn register(memory: &'a EventRingMemory<N>, intid: u32) -> Result<Self, HvError> {
        queue(QueueOp::Register, memory.address(), N as u32, intid)?;
        Ok(Self { memory })
    }

    /// Records written and not consumed yet.
    pub fn len(&self) -> u32 {
        self.producer().wrapping_sub(self.consumer())
    }

    /// Whether there is nothing to read.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn producer(&self) -> u32 {
        self.memory.header[0].load(Ordering::Acquire)
    }

    fn consumer(&self) -> u32 {
        self.memory.header[1].load(Ordering::Relaxed)
    }

    /// The oldest unread record, consumed; `None` when the ring is empty.
    pub fn pop(&mut self) -> Option<EventRecord> {
        let consumer = self.consumer();
        if self.producer() == consumer {
            return None;
        }
        let slot = &self.memory.records[consumer as usize % N];
        let mut bytes = [0u8; EVENT_RECORD_SIZE as usize];
        for (chunk, word) in bytes.chunks_exact_mut(8).zip(slot) {
            chunk.copy_from_slice(&word.load(Ordering::Relaxed).to_le_bytes());
        }
        // The slot is read before vsva may reuse it.
        self.memory.header[1].store(consumer.wrapping_add(1), Ordering::Release);
        Some(EventRecord::decode(&bytes))
    }
}

impl<const N: usize> Iterator for EventRing<'_, N> {
    type Item = EventRecord;

    fn next(&mut self) -> Option<EventRecord> {
        self.pop()
    }
}

/// One [`Call::EventQueue`]; the counters vsva wrote back.
#[cfg(any(target_arch = "aarch64", target_arch = "x86_64"))]
fn queue(op: QueueOp, ring: u64, entries: u32, intid: u32) -> Result<EventQueue, HvError> {
    let args = EventQueue {
        size: EventQueue::SIZE as u32,
        op: op as u32,
        ring,
        entries,
        intid,
        ..EventQueue::default()
    };
    let (result, back) = super::exchange(Call::EventQueue, &args);
    result.map(|_| back)
}

/// The partition's event counters: `dropped` (no ring registered), `lost`
/// (ring full), `open_requests` (page requests not answered yet).
#[cfg(any(target_arch = "aarch64", target_arch = "x86_64"))]
pub fn event_counters() -> Result<EventQueue, HvError> {
    queue(QueueOp::Query, 0, 0, 0)
}

/// Stops delivery into the registered ring (events are counted and
/// dropped again); the memory is the guest's again.
#[cfg(any(target_arch = "aarch64", target_arch = "x86_64"))]
pub fn unregister_events() -> Result<EventQueue, HvError> {
    queue(QueueOp::Unregister, 0, 0, 0)
}

/// The [`PageResponse`] answering `record` (a page request or a stall)
/// with `code`.
pub fn response_to(record: &EventRecord, code: ResponseCode) -> PageResponse {
    let mut flags = ResponseFlags::empty();
    let record_flags = RecordFlags::from_bits_truncate(record.flags);
    flags.set(
        ResponseFlags::PASID,
        record_flags.contains(RecordFlags::PASID),
    );
    flags.set(ResponseFlags::STALL, record.kind == EventKind::Stall as u16);
    PageResponse {
        size: PageResponse::SIZE as u32,
        device: record.device,
        flags: flags.bits(),
        pasid: record.pasid,
        group: record.group,
        code: code as u32,
    }
}

/// Answers a page request or stall `record` with `code`
/// ([`Call::PageResponse`]): success retries the device's access.
///
/// Errors: [`HvError::NotFound`] when nothing of that device, PASID and
/// group is waiting (answered already, by vsva on unbind, PASID free or
/// timeout, or never asked), [`HvError::BadArgument`] for a malformed
/// answer, [`HvError::IommuError`].
#[cfg(any(target_arch = "aarch64", target_arch = "x86_64"))]
pub fn respond(record: &EventRecord, code: ResponseCode) -> Result<(), HvError> {
    super::exchange(Call::PageResponse, &response_to(record, code))
        .0
        .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fills `memory` as vsva would: record then producer.
    fn produce<const N: usize>(memory: &EventRingMemory<N>, record: &EventRecord) {
        let producer = memory.header[0].load(Ordering::Relaxed);
        let mut bytes = [0u8; 64];
        record.encode(&mut bytes);
        let slot = &memory.records[producer as usize % N];
        for (word, chunk) in slot.iter().zip(bytes.chunks_exact(8)) {
            word.store(
                u64::from_le_bytes(chunk.try_into().unwrap()),
                Ordering::Relaxed,
            );
        }
        memory.header[0].store(producer.wrapping_add(1), Ordering::Release);
    }

    #[test]
    fn the_consumer_reads_records_in_order_and_frees_their_slots() {
        static MEMORY: EventRingMemory<4> = EventRingMemory::new();
        assert_eq!(MEMORY.address() % 4096, 0);
        let mut ring = EventRing::over(&MEMORY);
        assert!(ring.pop().is_none());
        for s in 0..6u32 {
            produce(
                &MEMORY,
                &EventRecord {
                    sequence: s,
                    address: u64::from(s) << 12,
                    ..Default::default()
                },
            );
            if s % 2 == 1 {
                let got: Vec<u32> = ring.by_ref().map(|r| r.sequence).collect();
                assert_eq!(got, [s - 1, s]);
            }
        }
        assert_eq!(MEMORY.header[1].load(Ordering::Relaxed), 6);
        assert!(ring.is_empty());
    }

    #[test]
    fn responses_echo_the_record() {
        let record = EventRecord {
            kind: EventKind::Stall as u16,
            flags: (RecordFlags::PASID | RecordFlags::LAST).bits(),
            device: 0x18,
            pasid: 9,
            group: 0x1234,
            ..Default::default()
        };
        let r = response_to(&record, ResponseCode::Success);
        assert_eq!(
            (r.device, r.flags, r.pasid, r.group, r.code),
            (0x18, 0b11, 9, 0x1234, 0)
        );
        let request = EventRecord {
            kind: EventKind::PageRequest as u16,
            flags: 0,
            ..record
        };
        assert_eq!(response_to(&request, ResponseCode::Invalid).flags, 0);
    }
}
