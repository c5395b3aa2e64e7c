//! Page requests (§7.5): the page request queue, its descriptors, and page group
//! responses (§7.7).

use alloc::vec::Vec;

use super::{Unit, VtdError};
use crate::hw::{Clock, DmaMemory, RegisterAccess};
use crate::vtd::invalidation::{Descriptor, ResponseCode};
use crate::vtd::regs::{PQA_REG, PQH_REG, PQT_REG, PRS_REG};

/// A page request read from the page request queue (§7.5.1.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageRequest {
    pub requester: u16,
    pub pasid: Option<u32>,
    pub address: u64,
    pub read: bool,
    pub write: bool,
    pub execute: bool,
    pub privileged: bool,
    /// LPIG: last request of its page group (a response is owed).
    pub last_in_group: bool,
    /// PRGI: page request group index.
    pub group_index: u16,
}

impl PageRequest {
    /// Decodes the first two words of a page request descriptor (§7.5.1.1,
    /// type 01h; the descriptor is 256 bits, the upper half carries private data).
    pub fn decode(low: u64, high: u64) -> Self {
        let bit = |w: u64, n: u32| (w >> n) & 1 == 1;
        Self {
            requester: (low >> 16) as u16,
            pasid: bit(low, 8).then_some(((low >> 32) & 0xf_ffff) as u32),
            address: high & !0xfff,
            read: bit(high, 0),
            write: bit(high, 1),
            last_in_group: bit(high, 2),
            group_index: ((high >> 3) & 0x1ff) as u16,
            execute: bit(low, 52),
            privileged: bit(low, 53),
        }
    }
}

/// Bytes per page request descriptor (§7.5.1.1: 256 bits).
const PAGE_REQUEST_SIZE: u64 = 32;

/// A page request queue of 2^PQA.PQS pages (§11.4.11.3).
#[derive(Debug)]
pub(super) struct PageRequestQueue {
    base: u64,
    pages: usize,
}

impl<R: RegisterAccess, M: DmaMemory, C: Clock> Unit<R, M, C> {
    /// Sets up the page request queue (ECAP.PRS; §7.5.1): `pages` (power of
    /// two) of 32-byte page request descriptors.
    pub fn enable_page_requests(&mut self, pages: usize) -> Result<(), VtdError> {
        if !self.id.ecap.prs() {
            return Err(VtdError::Unsupported("ECAP.PRS"));
        }
        let pages = pages.clamp(1, 128).next_power_of_two();
        let base = self
            .memory
            .alloc_pages(pages)
            .ok_or(VtdError::OutOfMemory)?;
        self.regs.write64(PQH_REG, 0);
        self.regs.write64(PQT_REG, 0);
        self.regs
            .write64(PQA_REG, base | u64::from(pages.trailing_zeros()));
        self.prq = Some(PageRequestQueue { base, pages });
        Ok(())
    }

    /// Reads every pending page request (PQH up to PQT), advances PQH and clears
    /// PRS.PPR (§7.5.1.1).
    pub fn take_page_requests(&mut self) -> Vec<PageRequest> {
        let Some(prq) = &self.prq else {
            return Vec::new();
        };
        let size = prq.pages as u64 * 4096;
        let mut head = self.regs.read64(PQH_REG) % size;
        let tail = self.regs.read64(PQT_REG) % size;
        let mut out = Vec::new();
        while head != tail {
            let low = self.memory.read64(prq.base + head);
            let high = self.memory.read64(prq.base + head + 8);
            out.push(PageRequest::decode(low, high));
            head = (head + PAGE_REQUEST_SIZE) % size;
        }
        self.regs.write64(PQH_REG, head);
        self.regs.write32(PRS_REG, 1);
        out
    }

    /// Answers the page group of `request` (§7.7.1).
    pub fn respond(&mut self, request: &PageRequest, code: ResponseCode) -> Result<(), VtdError> {
        self.invalidate(&[Descriptor::PageGroupResponse {
            requester: request.requester,
            pasid: request.pasid,
            group_index: request.group_index,
            code,
        }])
    }
}
