//! The page requests and stalls a partition has received and not answered:
//! bounded, each matched at most once by the guest's answer, and answered
//! by vsva when what they belong to goes away or they wait too long.

use alloc::vec::Vec;

use vsva_abi::sva::DeviceId;

use crate::backend::UnitRequest;

/// A request the guest owes an answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OpenRequest {
    /// The unit that reported it.
    pub unit: usize,
    /// The device as the partition names it.
    pub device: DeviceId,
    pub request: UnitRequest,
    /// When it was delivered.
    pub since_ns: u64,
}

/// A partition's open requests.
#[derive(Debug, Default)]
pub struct OpenRequests {
    open: Vec<OpenRequest>,
}

impl OpenRequests {
    pub fn len(&self) -> usize {
        self.open.len()
    }

    pub fn is_empty(&self) -> bool {
        self.open.is_empty()
    }

    /// Tracks `request` (the caller keeps the table bounded).
    pub(super) fn open(&mut self, request: OpenRequest) {
        self.open.push(request);
    }

    /// The request the guest's answer names, taken out: a page request
    /// group of (device, PASID), or a stall tag of the device (with the
    /// PASID its record carried).
    pub fn take(
        &mut self,
        device: DeviceId,
        pasid: Option<u32>,
        group: u32,
        stall: bool,
    ) -> Option<OpenRequest> {
        let i = self.open.iter().position(|o| {
            o.device == device
                && o.request.stall == stall
                && u32::from(o.request.group) == group
                && o.request.pasid == pasid
        })?;
        Some(self.open.remove(i))
    }

    /// Takes out every request `matches` selects.
    pub fn take_where(&mut self, matches: impl Fn(&OpenRequest) -> bool) -> Vec<OpenRequest> {
        let (taken, kept) = core::mem::take(&mut self.open)
            .into_iter()
            .partition(|o| matches(o));
        self.open = kept;
        taken
    }

    /// Takes out the requests open longer than `timeout_ns` at `now_ns`.
    pub fn expired(&mut self, now_ns: u64, timeout_ns: u64) -> Vec<OpenRequest> {
        self.take_where(|o| now_ns.saturating_sub(o.since_ns) >= timeout_ns)
    }
}
