//! Faults, page requests and stalls, from the units to the partitions that
//! own the devices: each unit drained after every slice, each event queued
//! for its owner's ring (see [`crate::events`]), each request the owner
//! cannot take answered at once, and each request left open too long
//! answered by vsva. No device waits on a guest forever.

use alloc::vec::Vec;

use vsva_abi::sva::{EventKind, FaultReason as Reason, RecordFlags, ResponseCode};

use crate::PartitionId;
use crate::backend::{Backend, FaultReason, UnitFault, UnitRequest};
use crate::events::{Accepted, Counters, Event, EventConfig, OpenRequest};
use crate::guest::GuestMemory;
use crate::service::{Device, RoutedFault, Sva, SvaError};

/// Routed faults kept for [`Sva::take_faults`]: a flood nobody takes must
/// not grow vsva.
const FAULTS_KEPT: usize = 1024;

/// What one delivery did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Delivered {
    /// Records written into the partition's ring.
    pub written: u32,
    /// The virtual interrupt the kernel raises for the partition.
    pub interrupt: Option<u32>,
}

impl<U: Backend> Sva<U> {
    /// Drains every unit and expires the requests open longer than their
    /// partition's timeout at `now_ns` (answered Invalid / aborted).
    pub fn poll(&mut self, now_ns: u64) {
        self.drain_units();
        let mut expired = Vec::new();
        for p in self.partitions.values_mut() {
            let timeout = p.events.config().request_timeout_ns;
            expired.extend(p.events.open.expired(now_ns, timeout));
        }
        self.answer_open(expired, ResponseCode::Invalid);
    }

    /// Writes partition `id`'s waiting events into its ring (`guest` is its
    /// RAM); the requests that did not fit are answered at once.
    pub fn deliver(
        &mut self,
        id: PartitionId,
        guest: &mut dyn GuestMemory,
        now_ns: u64,
    ) -> Delivered {
        let Some(p) = self.partitions.get_mut(&id) else {
            return Delivered::default();
        };
        let d = p.events.deliver(guest, now_ns);
        self.answer(d.unanswered, ResponseCode::Invalid);
        Delivered {
            written: d.written,
            interrupt: d.interrupt,
        }
    }

    /// The kernel's settings for partition `id`'s events.
    pub fn set_event_config(
        &mut self,
        id: PartitionId,
        config: EventConfig,
    ) -> Result<(), SvaError> {
        let p = self
            .partitions
            .get_mut(&id)
            .ok_or(SvaError::UnknownPartition(id))?;
        p.events.set_config(config);
        Ok(())
    }

    /// Partition `id`'s registered event ring: guest-physical base and
    /// records.
    pub fn event_ring(&self, id: PartitionId) -> Option<(u64, u32)> {
        self.partitions.get(&id).and_then(|p| p.events.ring())
    }

    /// Partition `id`'s event counters.
    pub fn event_counters(&self, id: PartitionId) -> Option<Counters> {
        self.partitions.get(&id).map(|p| p.events.counters())
    }

    /// Answers the open requests of partition `id` that `matches` selects.
    pub(crate) fn answer_where(
        &mut self,
        id: PartitionId,
        matches: impl Fn(&OpenRequest) -> bool,
        code: ResponseCode,
    ) {
        let Some(p) = self.partitions.get_mut(&id) else {
            return;
        };
        let taken = p.events.open.take_where(matches);
        self.answer_open(taken, code);
    }

    fn answer_open(&mut self, open: Vec<OpenRequest>, code: ResponseCode) {
        self.answer(open.into_iter().map(|o| (o.unit, o.request)), code);
    }

    /// Answers requests on their units. A unit that fails to take an answer
    /// leaves its device waiting: nothing more vsva can do but log it (the
    /// kernel sees the unit's error state).
    pub(crate) fn answer(
        &mut self,
        requests: impl IntoIterator<Item = (usize, UnitRequest)>,
        code: ResponseCode,
    ) {
        for (unit, request) in requests {
            if let Some(u) = self.units.get_mut(unit).and_then(Option::as_mut) {
                let _ = u.answer(&request, code);
            }
        }
    }

    /// The partition and device index that own (`unit`, `requester`).
    fn owner(&self, unit: usize, requester: u32) -> Option<(PartitionId, usize)> {
        self.partitions.iter().find_map(|(&pid, p)| {
            p.devices
                .iter()
                .position(|d| d.host.unit == unit && d.host.rid == requester)
                .map(|i| (pid, i))
        })
    }

    /// Reads every unit's new faults and requests: faults into the routed
    /// list and their owners' events, requests into their owners' events
    /// or answered at once.
    pub(crate) fn drain_units(&mut self) {
        let mut refused = Vec::new();
        for index in 0..self.units.len() {
            let Some(unit) = self.units[index].as_mut() else {
                continue;
            };
            let faults = unit.take_faults();
            let requests = unit.take_requests();
            for fault in faults {
                let owner = self.owner(index, fault.requester);
                let mut routed = RoutedFault {
                    partition: None,
                    device: None,
                    unit: index,
                    fault,
                };
                if let Some((pid, i)) = owner
                    && let Some(p) = self.partitions.get_mut(&pid)
                {
                    let device = &p.devices[i];
                    routed.partition = Some(pid);
                    routed.device = Some(device.host.virtual_id);
                    p.events.accept(fault_event(device, &fault));
                }
                self.pending.push(routed);
            }
            for request in requests {
                let accepted = self.owner(index, request.requester).and_then(|(pid, i)| {
                    let p = self.partitions.get_mut(&pid)?;
                    let event = request_event(&p.devices[i], index, request);
                    Some(p.events.accept(event))
                });
                if accepted != Some(Accepted::Queued) {
                    refused.push((index, request));
                }
            }
        }
        self.answer(refused, ResponseCode::Invalid);
        if self.pending.len() > FAULTS_KEPT {
            let excess = self.pending.len() - FAULTS_KEPT;
            self.pending.drain(..excess);
        }
    }
}

/// The access flags of a request or fault.
fn access(read: bool, write: bool, exec: bool, privileged: bool) -> RecordFlags {
    let mut f = RecordFlags::empty();
    f.set(RecordFlags::READ, read);
    f.set(RecordFlags::WRITE, write);
    f.set(RecordFlags::EXEC, exec);
    f.set(RecordFlags::PRIV, privileged);
    f
}

/// A fault as its owner sees it: in its own translation (a bound table or
/// CD table, or a PASID it has not set up) a `Fault` with the reason; in
/// the partition's own map, or outside the partition, a `Stage2Fault`.
fn fault_event(device: &Device, f: &UnitFault) -> Event {
    let guests = device.cd_table.is_some() || device.stage1.contains_key(&f.pasid);
    let (kind, reason) = match f.reason {
        FaultReason::Stage2 => (EventKind::Stage2Fault, Reason::OutsidePartition),
        FaultReason::NotConfigured => (EventKind::Fault, Reason::NotConfigured),
        _ if !guests => (EventKind::Stage2Fault, Reason::OutsidePartition),
        FaultReason::NotPresent => (EventKind::Fault, Reason::NotPresent),
        FaultReason::Permission => (EventKind::Fault, Reason::Permission),
        FaultReason::BadTable => (EventKind::Fault, Reason::BadTable),
        FaultReason::Other => (EventKind::Fault, Reason::Other),
    };
    Event {
        kind,
        flags: access(!f.write, f.write, f.exec, f.privileged),
        device: device.host.virtual_id,
        pasid: f.pasid,
        address: f.address,
        reason: reason as u32,
        group: 0,
        private: None,
        request: None,
    }
}

/// A page request or stall as its owner sees it.
fn request_event(device: &Device, unit: usize, r: UnitRequest) -> Event {
    let mut flags = access(r.read, r.write, r.exec, r.privileged);
    flags.set(RecordFlags::LAST, r.last);
    Event {
        kind: if r.stall {
            EventKind::Stall
        } else {
            EventKind::PageRequest
        },
        flags,
        device: device.host.virtual_id,
        pasid: r.pasid,
        address: r.address,
        reason: 0,
        group: u32::from(r.group),
        private: r.private,
        request: Some((unit, r)),
    }
}
