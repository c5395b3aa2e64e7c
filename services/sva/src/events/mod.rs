//! A partition's events: the DMA faults and page requests of its devices,
//! written into the ring the guest registered (`abi::sva::events` has the
//! layout), and the requests it still owes an answer.
//!
//! Events wait between the unit drain and the next delivery in a short,
//! bounded queue; what does not fit, in that queue or in the guest's ring,
//! is counted as lost, and the next record written says how many (the
//! sequence numbers show where). A request that cannot be delivered, or
//! whose answer could not be tracked, is answered at once by the caller,
//! so no device waits on a record the guest never saw.

use alloc::collections::VecDeque;
use alloc::vec::Vec;
use core::sync::atomic::{Ordering, fence};

use vsva_abi::HvError;
use vsva_abi::sva::{
    DeviceId, EVENT_RECORD_SIZE, EventKind, EventRecord, MAX_EVENT_ENTRIES, RecordFlags,
    RingHeader, SvaStruct,
};

use crate::backend::UnitRequest;
use crate::guest::{GuestMemory, GuestRam};

pub(crate) mod calls;
mod requests;
#[cfg(test)]
mod tests;

pub use requests::{OpenRequest, OpenRequests};

/// Events kept per partition between a drain and the next delivery.
pub const MAX_PENDING_EVENTS: usize = 64;
/// Page requests and stalls a partition may hold unanswered.
pub const MAX_OPEN_REQUESTS: usize = 32;
/// How long a request may wait for the guest's answer by default.
pub const DEFAULT_REQUEST_TIMEOUT_NS: u64 = 1_000_000_000;

/// The kernel's settings for one partition's events.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EventConfig {
    /// The virtual interrupts a ring may name (what the architecture's
    /// injection delivers), inclusive; 0 (none) is always allowed.
    pub intids: (u32, u32),
    /// How long a page request or stall waits for the guest's answer
    /// before vsva answers it (Invalid / abort).
    pub request_timeout_ns: u64,
}

impl Default for EventConfig {
    fn default() -> Self {
        Self {
            intids: (1, 1019),
            request_timeout_ns: DEFAULT_REQUEST_TIMEOUT_NS,
        }
    }
}

/// A registered ring in the guest's RAM.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Ring {
    /// Guest-physical address of its header; records follow.
    base: u64,
    entries: u32,
    intid: u32,
    /// Records written since registration: vsva's own count, never read
    /// back from the guest.
    producer: u32,
}

/// One event as the service routed it, before it has a slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Event {
    pub kind: EventKind,
    pub flags: RecordFlags,
    pub device: DeviceId,
    pub pasid: Option<u32>,
    pub address: u64,
    /// `abi::sva::FaultReason` of a fault, else 0.
    pub reason: u32,
    /// Page request group index or stall tag.
    pub group: u32,
    pub private: Option<[u64; 2]>,
    /// A page request or stall: the unit that reported it and what it
    /// said (to answer it).
    pub request: Option<(usize, UnitRequest)>,
}

impl Event {
    /// Whether the device waits for an answer to this event.
    fn owes_answer(&self) -> bool {
        self.request.is_some_and(|(_, r)| r.stall || r.last)
    }

    /// The same DMA reported again (QEMU splits one DMA into accesses that
    /// fault one by one): same kind, device, PASID, page, access and reason.
    fn repeats(&self, other: &Self) -> bool {
        self.request.is_none()
            && other.request.is_none()
            && self.kind == other.kind
            && self.flags == other.flags
            && self.device == other.device
            && self.pasid == other.pasid
            && self.reason == other.reason
            && self.address >> 12 == other.address >> 12
    }
}

/// An event waiting for delivery, with its sequence number and the events
/// lost just before it.
#[derive(Clone, Copy, Debug)]
struct Pending {
    sequence: u32,
    lost_before: u32,
    event: Event,
}

/// What [`Events::accept`] did with an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Accepted {
    /// Queued for the next delivery.
    Queued,
    /// The same as the event before it: folded into it.
    Coalesced,
    /// Not queued (no ring registered, or too many waiting): a request
    /// must be answered now.
    Refused,
}

/// The result of one delivery.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Delivery {
    /// Records written into the ring.
    pub written: u32,
    /// The virtual interrupt to raise (records were written and the guest
    /// chose one).
    pub interrupt: Option<u32>,
    /// Requests that could not be written or tracked: the caller answers
    /// them at once.
    pub unanswered: Vec<(usize, UnitRequest)>,
}

/// The counters [`Events::counters`] reports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    pub dropped: u64,
    pub lost: u64,
    pub open_requests: u32,
}

/// One partition's events.
#[derive(Debug)]
pub struct Events {
    config: EventConfig,
    ring: Option<Ring>,
    /// The next event's sequence number.
    sequence: u32,
    /// Events that came with no ring registered.
    dropped: u64,
    /// Events not written for want of room.
    lost: u64,
    /// Lost since the last record written: the next one says so.
    lost_run: u32,
    /// Lost while queued events wait: shown after them.
    carry: u32,
    pending: VecDeque<Pending>,
    pub(crate) open: OpenRequests,
}

impl Events {
    pub fn new(config: EventConfig) -> Self {
        Self {
            config,
            ring: None,
            sequence: 0,
            dropped: 0,
            lost: 0,
            lost_run: 0,
            carry: 0,
            pending: VecDeque::new(),
            open: OpenRequests::default(),
        }
    }

    pub fn config(&self) -> EventConfig {
        self.config
    }

    pub fn set_config(&mut self, config: EventConfig) {
        self.config = config;
    }

    pub fn counters(&self) -> Counters {
        Counters {
            dropped: self.dropped,
            lost: self.lost,
            open_requests: self.open.len() as u32,
        }
    }

    /// Registers a ring of `entries` records at guest-physical `base`
    /// (checked: aligned, a power of two, wholly in `guest`, an allowed
    /// interrupt), and writes its header. Events waiting for the old ring
    /// go to the new one.
    pub fn register(
        &mut self,
        ram: &GuestRam,
        guest: &mut dyn GuestMemory,
        base: u64,
        entries: u32,
        intid: u32,
    ) -> Result<(), HvError> {
        let (low, high) = self.config.intids;
        let intid_ok = intid == 0 || (low..=high).contains(&intid);
        if !base.is_multiple_of(4096)
            || !entries.is_power_of_two()
            || entries > MAX_EVENT_ENTRIES
            || !intid_ok
        {
            return Err(HvError::BadArgument);
        }
        let bytes = EVENT_RECORD_SIZE * (u64::from(entries) + 1);
        if !ram.contains(base, bytes) {
            return Err(HvError::BadArgument);
        }
        let header = RingHeader {
            producer: 0,
            consumer: 0,
            entries,
            record_size: EVENT_RECORD_SIZE as u32,
        };
        let mut bytes = [0u8; RingHeader::SIZE];
        header.encode(&mut bytes);
        guest
            .write(base, &bytes)
            .map_err(|_| HvError::BadArgument)?;
        self.ring = Some(Ring {
            base,
            entries,
            intid,
            producer: 0,
        });
        Ok(())
    }

    /// Stops delivery: events are counted and dropped again.
    pub fn unregister(&mut self) {
        self.ring = None;
    }

    pub fn registered(&self) -> bool {
        self.ring.is_some()
    }

    /// The registered ring: its guest-physical base and records.
    pub fn ring(&self) -> Option<(u64, u32)> {
        self.ring.map(|r| (r.base, r.entries))
    }

    /// Takes `event` for the next delivery.
    pub fn accept(&mut self, event: Event) -> Accepted {
        if self.ring.is_none() {
            self.dropped += 1;
            return Accepted::Refused;
        }
        if let Some(last) = self.pending.back()
            && self.carry == 0
            && last.event.repeats(&event)
        {
            return Accepted::Coalesced;
        }
        let sequence = self.next_sequence();
        if self.pending.len() >= MAX_PENDING_EVENTS {
            self.lost += 1;
            self.carry = self.carry.saturating_add(1);
            return Accepted::Refused;
        }
        self.pending.push_back(Pending {
            sequence,
            lost_before: core::mem::take(&mut self.carry),
            event,
        });
        Accepted::Queued
    }

    fn next_sequence(&mut self) -> u32 {
        let s = self.sequence;
        self.sequence = s.wrapping_add(1);
        s
    }

    /// Writes the waiting events into the ring as far as it has room (the
    /// guest's consumer index read once; a value that makes the ring look
    /// fuller than it is counts as full), then the new producer index.
    /// Requests written are tracked as open from `now_ns`.
    pub fn deliver(&mut self, guest: &mut dyn GuestMemory, now_ns: u64) -> Delivery {
        let mut out = Delivery::default();
        let Some(mut ring) = self.ring else {
            for p in self.pending.drain(..) {
                self.dropped += 1;
                out.unanswered.extend(p.event.request);
            }
            return out;
        };
        if self.pending.is_empty() {
            self.lost_run = self
                .lost_run
                .saturating_add(core::mem::take(&mut self.carry));
            return out;
        }
        let mut consumer = [0u8; 4];
        let mut free = match guest.read(ring.base + 4, &mut consumer) {
            Ok(()) => {
                let used = ring.producer.wrapping_sub(u32::from_le_bytes(consumer));
                ring.entries.saturating_sub(used)
            }
            Err(_) => 0,
        };
        while let Some(p) = self.pending.pop_front() {
            let lost_before = self.lost_run.saturating_add(p.lost_before);
            let owes = p.event.owes_answer();
            let room = free > 0 && (!owes || self.open.len() < MAX_OPEN_REQUESTS);
            let written = room && self.write(guest, &ring, &p, lost_before).is_ok();
            if !written {
                self.lost += 1;
                self.lost_run = lost_before.saturating_add(1);
                out.unanswered.extend(p.event.request);
                continue;
            }
            ring.producer = ring.producer.wrapping_add(1);
            free -= 1;
            self.lost_run = 0;
            out.written += 1;
            if owes && let Some((unit, request)) = p.event.request {
                self.open.open(OpenRequest {
                    unit,
                    device: p.event.device,
                    request,
                    since_ns: now_ns,
                });
            }
        }
        self.lost_run = self
            .lost_run
            .saturating_add(core::mem::take(&mut self.carry));
        if out.written > 0 {
            // The records before the index that makes them visible.
            fence(Ordering::Release);
            // The header is in RAM (checked at registration).
            let _ = guest.write(ring.base, &ring.producer.to_le_bytes());
            self.ring = Some(ring);
            out.interrupt = (ring.intid != 0).then_some(ring.intid);
        }
        out
    }

    /// Writes one record in the slot after the producer index.
    fn write(
        &self,
        guest: &mut dyn GuestMemory,
        ring: &Ring,
        p: &Pending,
        lost_before: u32,
    ) -> Result<(), ()> {
        let e = &p.event;
        let mut flags = e.flags;
        flags.set(RecordFlags::PASID, e.pasid.is_some());
        flags.set(RecordFlags::LOST, lost_before > 0);
        flags.set(RecordFlags::PRIVATE, e.private.is_some());
        let private = e.private.unwrap_or_default();
        let record = EventRecord {
            sequence: p.sequence,
            kind: e.kind as u16,
            flags: flags.bits(),
            device: e.device,
            pasid: e.pasid.unwrap_or(0),
            address: e.address,
            reason: e.reason,
            group: e.group,
            lost: lost_before,
            private0: private[0],
            private1: private[1],
        };
        let mut bytes = [0u8; EventRecord::SIZE];
        record.encode(&mut bytes);
        let slot = u64::from(ring.producer % ring.entries);
        let at = ring.base + EVENT_RECORD_SIZE * (slot + 1);
        guest.write(at, &bytes).map_err(|_| ())
    }
}
