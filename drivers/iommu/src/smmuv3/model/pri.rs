//! The PRI queue (SMMUv3 §8): page requests a device sends, written as PRI
//! queue entries with overflow, and the responses the SMMU consumed.

use super::bits::*;
use super::{Bus, PriResponseCode, State, advance, queue_full};
use crate::hw::DmaMemory;

/// A page request a device sends (§8.1, the PRI queue entry).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PageRequest {
    pub sid: u32,
    pub ssid: Option<u32>,
    /// The page address (bits 11:0 are dropped).
    pub addr: u64,
    pub read: bool,
    pub write: bool,
    pub exec: bool,
    pub privileged: bool,
    /// Last request in the group.
    pub last: bool,
    /// Page Request Group Index (9 bits).
    pub prgi: u16,
}

/// Why a page request did not reach the PRI queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PageRequestError {
    /// SMMU_IDR0.PRI is 0.
    NotSupported,
    /// SMMU_CR0ACK.PRIQEN is 0.
    NotEnabled,
    /// The queue was full: the request was dropped and PRIQ_PROD.OVFLG toggled.
    Overflow,
}

/// A CMD_PRI_RESP the SMMU consumed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PriResponse {
    pub sid: u32,
    pub ssid: Option<u32>,
    pub prgi: u16,
    pub resp: PriResponseCode,
}

impl State {
    pub(super) fn page_request(
        &mut self,
        bus: &Bus<'_>,
        r: &PageRequest,
    ) -> Result<(), PageRequestError> {
        if !self.has(IDR0_PRI) {
            return Err(PageRequestError::NotSupported);
        }
        if self.cr0ack & CR0_PRIQEN == 0 {
            return Err(PageRequestError::NotEnabled);
        }
        let n = self.priq_log2();
        let q = self.priq;
        if queue_full(q.prod, q.cons, n) {
            if (q.prod ^ q.cons) & Q_OVFLG == 0 {
                self.priq.prod ^= Q_OVFLG;
            }
            return Err(PageRequestError::Overflow);
        }
        // Word 0: StreamID 31:0, SubstreamID 51:32, Priv 58, Exec 59, Read 60, Write 61,
        // Last 62, SSV 63. Word 1: PRGI 8:0, Address 63:12.
        let w0 = u64::from(r.sid)
            | u64::from(r.ssid.unwrap_or(0) & 0xf_ffff) << 32
            | u64::from(r.privileged) << 58
            | u64::from(r.exec) << 59
            | u64::from(r.read) << 60
            | u64::from(r.write) << 61
            | u64::from(r.last) << 62
            | u64::from(r.ssid.is_some()) << 63;
        let w1 = u64::from(r.prgi & 0x1ff) | (r.addr & mask(63, 12));
        let at = (q.base & Q_BASE_ADDR) + u64::from(q.prod & ((1 << n) - 1)) * PRI_SIZE;
        bus.mem.write64(at, w0);
        bus.mem.write64(at + 8, w1);
        self.priq.prod = advance(q.prod, n);
        if self.irq_ctrlack & IRQ_CTRL_PRIQ_IRQEN != 0 {
            self.irqs.priq += 1;
            self.lines.priq.pulse();
            self.msi(bus, PRIQ_IRQ_CFG0, PRIQ_IRQ_CFG1);
        }
        Ok(())
    }
}
