//! Events: DMA faults and page requests of a partition's devices, delivered
//! into a ring in the partition's own memory, and the answers to page
//! requests.
//!
//! # The ring
//!
//! A guest registers one ring with [`Call::EventQueue`](crate::Call::EventQueue):
//! at guest-physical `ring` (4 KiB aligned), a 64-byte [`RingHeader`]
//! followed by `entries` (a power of two, at most [`MAX_EVENT_ENTRIES`])
//! [`EventRecord`]s of 64 bytes. vsva writes records at `producer` and then
//! advances it; the guest reads records at `consumer` and then advances it.
//! Both are free-running `u32` counters: the slot of counter `n` is
//! `n % entries`, the ring is empty when they are equal and full when
//! `producer - consumer == entries` (wrapping arithmetic). vsva reads
//! `consumer` once per delivery and never trusts it further: a value that
//! makes the ring look fuller than `entries` counts as full.
//!
//! Each record carries a sequence number that grows by one for every event
//! vsva has for the partition, delivered or not. When the ring is full vsva
//! writes nothing, counts the event as lost, and marks the next record it
//! can write with [`RecordFlags::LOST`] and the number lost since the last
//! written one: a gap in the sequence numbers is never silent.
//!
//! After writing records vsva raises the virtual interrupt the guest chose
//! (`intid`; 0: none, the guest polls).

use bitflags::bitflags;

use super::DeviceId;

/// The most records one ring may hold.
pub const MAX_EVENT_ENTRIES: u32 = 4096;
/// Bytes of a ring's header and of each record.
pub const EVENT_RECORD_SIZE: u64 = 64;

/// What [`EventQueue`] does.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum QueueOp {
    /// Only reads the counters (`dropped`, `lost`, `open_requests`).
    Query = 0,
    /// Registers (or replaces) the partition's ring.
    Register = 1,
    /// Stops delivery into the ring; events are counted and dropped again.
    Unregister = 2,
}

impl QueueOp {
    pub const fn from_raw(raw: u32) -> Option<Self> {
        match raw {
            0 => Some(Self::Query),
            1 => Some(Self::Register),
            2 => Some(Self::Unregister),
            _ => None,
        }
    }
}

sva_struct! {
    /// [`Call::EventQueue`](crate::Call::EventQueue): registers the
    /// partition's event ring, or reports its counters.
    ///
    /// | offset | field | |
    /// |---|---|---|
    /// | 0 | `u32 size` | in |
    /// | 4 | `u32 op` | in, [`QueueOp`] |
    /// | 8 | `u64 ring` | in (register): guest-physical, 4 KiB aligned |
    /// | 16 | `u32 entries` | in (register): a power of two, 1..=[`MAX_EVENT_ENTRIES`] |
    /// | 20 | `u32 intid` | in (register): virtual interrupt raised after writing; 0 none |
    /// | 24 | `u64 dropped` | out: events dropped while no ring was registered |
    /// | 32 | `u64 lost` | out: events not written because the ring was full |
    /// | 40 | `u32 open_requests` | out: page requests waiting for an answer |
    /// | 44 | `u32` reserved, zero | |
    pub struct EventQueue(48) {
        /// Bytes of the struct as the caller lays it out.
        0 => pub size: u32,
        /// [`QueueOp`].
        4 => pub op: u32,
        /// Guest-physical address of the [`RingHeader`].
        8 => pub ring: u64,
        /// Records in the ring.
        16 => pub entries: u32,
        /// The virtual interrupt (INTID on aarch64, vector on x86_64) raised
        /// after records were written; 0: none.
        20 => pub intid: u32,
        /// Events dropped with no ring registered, since the partition began.
        24 => pub dropped: u64,
        /// Events not written because the ring was full, since it began.
        32 => pub lost: u64,
        /// Page requests the partition has not answered yet.
        40 => pub open_requests: u32,
        44 => pub reserved: u32,
    }
}

sva_struct! {
    /// The header of a ring, at its guest-physical base (64 bytes).
    ///
    /// | offset | field | |
    /// |---|---|---|
    /// | 0 | `u32 producer` | written by vsva |
    /// | 4 | `u32 consumer` | written by the guest |
    /// | 8 | `u32 entries` | written by vsva at registration |
    /// | 12 | `u32 record_size` | written by vsva at registration: 64 |
    /// | 16 | 48 bytes reserved | |
    pub struct RingHeader(64) {
        /// Records vsva has written, counting from 0 at registration.
        0 => pub producer: u32,
        /// Records the guest has consumed.
        4 => pub consumer: u32,
        /// Records the ring holds.
        8 => pub entries: u32,
        /// Bytes per record.
        12 => pub record_size: u32,
    }
}

/// What a record reports.
#[repr(u16)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// A DMA the IOMMU blocked in the guest's own translation (its stage-1
    /// table, CD table or PASID): the guest can act on it.
    Fault = 1,
    /// A DMA that left the partition: its address, through the guest's
    /// table or without one, is not the partition's memory (stage 2).
    Stage2Fault = 2,
    /// A page request (VT-d page request queue, PCIe PRI): the device waits
    /// for a [`Call::PageResponse`](crate::Call::PageResponse) for `group`.
    PageRequest = 3,
    /// A transaction stalled by the SMMU on a fault: it waits for a
    /// [`Call::PageResponse`](crate::Call::PageResponse) with
    /// [`ResponseFlags::STALL`] and `group` its stall tag.
    Stall = 4,
}

impl EventKind {
    pub const fn from_raw(raw: u16) -> Option<Self> {
        match raw {
            1 => Some(Self::Fault),
            2 => Some(Self::Stage2Fault),
            3 => Some(Self::PageRequest),
            4 => Some(Self::Stall),
            _ => None,
        }
    }
}

/// Why a DMA was blocked ([`EventRecord::reason`]).
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FaultReason {
    /// Nothing is mapped at the address.
    NotPresent = 1,
    /// Mapped, but not for this access.
    Permission = 2,
    /// A table pointer or descriptor that cannot be used: a root or CD
    /// outside the partition, reserved bits, an invalid CD.
    BadTable = 3,
    /// The address is outside the partition (stage 2).
    OutsidePartition = 4,
    /// No translation is set up for the device or PASID.
    NotConfigured = 5,
    /// Anything else.
    Other = 255,
}

impl FaultReason {
    pub const fn from_raw(raw: u32) -> Option<Self> {
        match raw {
            1 => Some(Self::NotPresent),
            2 => Some(Self::Permission),
            3 => Some(Self::BadTable),
            4 => Some(Self::OutsidePartition),
            5 => Some(Self::NotConfigured),
            255 => Some(Self::Other),
            _ => None,
        }
    }
}

bitflags! {
    /// [`EventRecord::flags`].
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
    pub struct RecordFlags: u16 {
        /// `pasid` is valid (else the request had none).
        const PASID = 1 << 0;
        const READ = 1 << 1;
        const WRITE = 1 << 2;
        const EXEC = 1 << 3;
        /// A privileged (supervisor) request.
        const PRIV = 1 << 4;
        /// The last request of its page request group: a response is owed.
        const LAST = 1 << 5;
        /// Events were lost (the ring was full) before this one: `lost` says
        /// how many.
        const LOST = 1 << 6;
        /// `private0` / `private1` hold the request's private data, for a
        /// unit that reports some. VT-d revision 4.0 removed page request
        /// private data and SMMUv3 PRI has none: not set today.
        const PRIVATE = 1 << 7;
    }
}

sva_struct! {
    /// One record of the ring (64 bytes).
    ///
    /// | offset | field | |
    /// |---|---|---|
    /// | 0 | `u32 sequence` | one more than the previous event's, wrapping |
    /// | 4 | `u16 kind` | [`EventKind`] |
    /// | 6 | `u16 flags` | [`RecordFlags`] |
    /// | 8 | `u32 device` | as the partition's window names it |
    /// | 12 | `u32 pasid` | with [`RecordFlags::PASID`], else zero |
    /// | 16 | `u64 address` | the address as the device used it (GVA, IOVA or IPA) |
    /// | 24 | `u32 reason` | faults: [`FaultReason`]; else zero |
    /// | 28 | `u32 group` | page requests: the group index; stalls: the stall tag |
    /// | 32 | `u32 lost` | with [`RecordFlags::LOST`]: events lost before this one |
    /// | 36 | `u32` reserved, zero | |
    /// | 40 | `u64 private0` | with [`RecordFlags::PRIVATE`] |
    /// | 48 | `u64 private1` | with [`RecordFlags::PRIVATE`] |
    /// | 56 | `u64` reserved, zero | |
    pub struct EventRecord(64) {
        /// Wrapping sequence number.
        0 => pub sequence: u32,
        /// [`EventKind`].
        4 => pub kind: u16,
        /// [`RecordFlags`] bits.
        6 => pub flags: u16,
        /// The device, as the partition's configuration window names it.
        8 => pub device: DeviceId,
        /// With [`RecordFlags::PASID`].
        12 => pub pasid: u32,
        /// The address as the device used it.
        16 => pub address: u64,
        /// [`FaultReason`] of a fault.
        24 => pub reason: u32,
        /// Page request group index, or stall tag.
        28 => pub group: u32,
        /// Events lost before this one.
        32 => pub lost: u32,
        /// Private data of a page request.
        40 => pub private0: u64,
        48 => pub private1: u64,
    }
}

/// The answer to a page request ([`PageResponse::code`]; VT-d §7.7.1, PCIe
/// PRG Response Message).
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ResponseCode {
    /// The pages are mapped now: the device retries.
    Success = 0,
    /// The request cannot be satisfied: the device gives up on it.
    Invalid = 1,
    /// A catastrophic failure: the device stops issuing page requests.
    Failure = 2,
}

impl ResponseCode {
    pub const fn from_raw(raw: u32) -> Option<Self> {
        match raw {
            0 => Some(Self::Success),
            1 => Some(Self::Invalid),
            2 => Some(Self::Failure),
            _ => None,
        }
    }
}

bitflags! {
    /// [`PageResponse::flags`].
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
    pub struct ResponseFlags: u32 {
        /// `pasid` is valid.
        const PASID = 1 << 0;
        /// The answer is for a stalled transaction: `group` is its stall tag
        /// ([`EventKind::Stall`]); `Success` retries it, anything else
        /// aborts it.
        const STALL = 1 << 1;
    }
}

sva_struct! {
    /// [`Call::PageResponse`](crate::Call::PageResponse): answers a page
    /// request (or a stall) the partition received.
    ///
    /// | offset | field | |
    /// |---|---|---|
    /// | 0 | `u32 size` | |
    /// | 4 | `u32 device` | |
    /// | 8 | `u32 flags` | [`ResponseFlags`] |
    /// | 12 | `u32 pasid` | with [`ResponseFlags::PASID`], else zero |
    /// | 16 | `u32 group` | the record's `group` |
    /// | 20 | `u32 code` | [`ResponseCode`] |
    pub struct PageResponse(24) {
        /// Bytes of the struct as the caller lays it out.
        0 => pub size: u32,
        /// The device, as the caller's configuration window names it.
        4 => pub device: DeviceId,
        /// [`ResponseFlags`] bits.
        8 => pub flags: u32,
        /// With [`ResponseFlags::PASID`].
        12 => pub pasid: u32,
        /// The page request group index, or the stall tag.
        16 => pub group: u32,
        /// [`ResponseCode`].
        20 => pub code: u32,
    }
}
