//! A software model of an Intel VT-d remapping unit for host tests, written from the Intel
//! VT-d Architecture Specification (rev 4.x) with its own decoders: it never calls the
//! driver's encoders, `vtd::regs` or the page-table module, so a mistake shared with them
//! cannot pass unseen.
//!
//! The driver runs unchanged against it: [`VtdModel`] implements
//! [`RegisterAccess`] with the registers' side effects (chapter 11) and reads and writes
//! tables and queues in the same [`SimMemory`] the driver allocates from.
//!
//! What it models:
//! - Registers: VER/CAP/ECAP as given; GCMD→GSTS (TE, SRTP latching RTADDR with its TTM,
//!   SFL, EAFL, WBF, QIE, IRE, SIRTP, CFI; one-shot bits act whenever written as 1, so a
//!   driver that does not mask them per §11.4.4.1 repeats the operation); CCMD and the
//!   IOTLB registers at ECAP.IRO (ICC/IVT self-clear, ignored while QI is enabled, as in
//!   QEMU); FSTS (PPF from the F bits, PFO/IQE/ICE/ITE RW1C, FRI), FECTL IM/IP, NFR fault
//!   recording registers at CAP.FRO; IQH/IQT/IQA (DW, QS), ICS.IWC, IECTL, IQERCD;
//!   PQH/PQT/PQA, PRS (PPR, PRO), PECTL. Other offsets are plain storage.
//! - Queued invalidation (§6.5.2): every descriptor type 1–9 decoded with reserved-bit
//!   checks; an invalid one sets FSTS.IQE (with IQERCD.IQEI) and leaves IQH on it until
//!   software clears IQE. A log of decoded descriptors and per-type counters.
//! - Caches (§6.2): context entries (by source ID), PASID entries (by source ID and PASID,
//!   tagged with the DID) and IOTLB translations (tagged with DID, PASID and page) filled
//!   by DMA walks and used until the matching invalidation. Faults are never cached.
//!   Paging-structure caches are not modelled (so IH=1 is not punished).
//! - Walks: legacy root/context (§9.1, §9.3), scalable root/context (§9.2, §9.4), PASID
//!   directory/table (§9.5, §9.6), first-stage 4/5-level for user-mode requests (U/S
//!   required at every level, as QEMU does), second-stage 3/4/5-level with 2M/1G pages,
//!   nested (first-stage table pointers and the result walked through second stage),
//!   pass-through. First-stage A/D bits are set; second-stage A/D with SLADE.
//! - Primary fault recording (§7.2) with FPD, PFO and the fault event (FECTL.IP when
//!   masked); page requests (§7.5) into the page request queue; page group responses
//!   recorded; injectable errors ([`InjectedError`]).
//!
//! Not modelled: interrupt remapping (IRE/SIRTP only reflect in GSTS), device-TLBs / ATS
//! translation requests, advanced fault logging, PMEN protected ranges, abort-DMA mode,
//! supervisor (privileged) requests, execute permissions, snoop/memory-type fields,
//! requests-with-PASID in legacy mode (faulted with LCT.5).

mod bits;
mod descriptor;
mod fault;
mod invalidation;
mod registers;
#[cfg(test)]
mod tests;
mod translation;
mod walk;

use alloc::collections::BTreeMap;
use alloc::rc::Rc;
use alloc::vec::Vec;
use core::cell::RefCell;

use bits::*;
pub use descriptor::{
    CcGranularity, Descriptor, IotlbGranularity, Iqei, PageGroupResponse, PcGranularity,
    PiotlbGranularity, ResponseCode,
};
pub use fault::{Access, FaultReason, ModelFault};
use walk::{
    ContextEntry, Leaf, PGTT_FIRST, PGTT_NESTED, PGTT_PT, PGTT_SECOND, PasidEntry, WalkFault,
    Walker,
};

use crate::hw::RegisterAccess;
use crate::hw::sim::SimMemory;

/// QEMU 10 `intel-iommu` capability register (legacy and scalable mode).
pub const QEMU_CAP: u64 = 0x00d2_008c_222f_0606;
/// QEMU 10 with `x-flts=on`: [`QEMU_CAP`] plus FS1GP.
pub const QEMU_CAP_FLTS: u64 = 0x01d2_008c_222f_0606;
/// QEMU 10 default (legacy mode) extended capabilities.
pub const QEMU_ECAP_LEGACY: u64 = 0x00f0_0f4a;
/// QEMU 10 `x-scalable-mode=on`: SMTS, SLTS, SRS.
pub const QEMU_ECAP_SCALABLE: u64 = 0x4800_80f0_0f4a;
/// QEMU 10 `x-scalable-mode=on,x-pasid-mode=on`: adds PASID.
pub const QEMU_ECAP_SCALABLE_PASID: u64 = 0x4900_80f0_0f4a;
/// QEMU 10 `x-scalable-mode=on,x-flts=on,x-pasid-mode=on`: SMTS, FLTS, PASID, no SLTS.
pub const QEMU_ECAP_FLTS: u64 = 0x8900_00f0_0f4a;
/// A full-featured unit: ND 16-bit DIDs, SAGAW 3/4/5-level, MGAW 57, 8 fault recording
/// registers at 0x220, PSI with MAMV 18, 2M/1G second-stage pages, FS1GP, FS5LP.
pub const FULL_CAP: u64 = 6
    | 0b1110 << 8
    | 56 << 16
    | 0x22 << 24
    | 0b11 << 34
    | 1 << 39
    | 7 << 40
    | 18 << 48
    | 1 << 56
    | 1 << 60;
/// A full-featured unit: QI, DT, IR, PT, IRO 0xF0, MHMV 15, NEST, PRS, SRS, PSS 19 (20-bit
/// PASIDs), PASID, SMTS, SLADS, SLTS, FLTS.
pub const FULL_ECAP: u64 = 1 << 1
    | 1 << 2
    | 1 << 3
    | 1 << 6
    | 0xf << 8
    | 0xf << 20
    | 1 << 26
    | 1 << 29
    | 1 << 31
    | 19 << 35
    | 1 << 40
    | 1 << 43
    | 1 << 45
    | 1 << 46
    | 1 << 47;

/// Invalidations processed, per kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct InvalidationCounts {
    pub context_cache: usize,
    pub iotlb: usize,
    pub device_tlb: usize,
    pub interrupt_entry_cache: usize,
    pub wait: usize,
    pub pasid_iotlb: usize,
    pub pasid_cache: usize,
    pub pasid_device_tlb: usize,
    pub page_group_response: usize,
    /// Through CCMD_REG (register-based invalidation, §6.5.1).
    pub register_context_cache: usize,
    /// Through IOTLB_REG.
    pub register_iotlb: usize,
}

impl InvalidationCounts {
    /// All queued descriptors processed.
    pub fn queued(&self) -> usize {
        self.context_cache
            + self.iotlb
            + self.device_tlb
            + self.interrupt_entry_cache
            + self.wait
            + self.pasid_iotlb
            + self.pasid_cache
            + self.pasid_device_tlb
            + self.page_group_response
    }
}

/// Interrupt messages the unit sent (an event whose control register had IM Clear, or
/// whose IM was cleared while IP was Set).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EventCounts {
    /// Fault events (FECTL, §7.4.1).
    pub fault: usize,
    /// Invalidation completion events (IECTL, §6.5.2.8).
    pub invalidation: usize,
    /// Page request events (PECTL, §7.5.1).
    pub page_request: usize,
}

/// Hardware errors a test can make happen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InjectedError {
    /// The next device-TLB (or PASID-based device-TLB) invalidation times out: FSTS.ITE,
    /// IQERCD.ITESID, and the queue stops after it until ITE is cleared.
    DeviceTlbTimeout,
    /// The next device-TLB invalidation gets an invalid completion: FSTS.ICE and
    /// IQERCD.ICESID; the queue goes on.
    CompletionError,
    /// The next descriptor is rejected as if invalid: FSTS.IQE, IQH stays on it.
    DescriptorError,
}

/// A page request a device sends (§7.5.1).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PageRequest {
    pub rid: u16,
    pub pasid: Option<u32>,
    /// The faulting address (page-aligned in the descriptor).
    pub addr: u64,
    pub read: bool,
    pub write: bool,
    pub exec: bool,
    pub privileged: bool,
    /// Last Page In Group.
    pub lpig: bool,
    /// Page Request Group Index (9 bits).
    pub prgi: u16,
}

/// Why a page request did not reach the queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PageRequestError {
    /// ECAP.PRS is Clear.
    NotSupported,
    /// The device's scalable-mode context entry is missing or has PRE Clear.
    NotEnabled,
    /// The queue is full or PRS.PRO is Set: the request was dropped (PRO Set).
    Overflow,
}

/// What an IOTLB entry was filled from, for the invalidation rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Second,
    First,
    Nested,
}

#[derive(Clone, Copy, Debug)]
struct IotlbEntry {
    did: u16,
    pasid: Option<u32>,
    kind: Kind,
    /// Input address of the page (aligned to the leaf size).
    page: u64,
    leaf: Leaf,
}

impl IotlbEntry {
    fn contains(&self, addr: u64) -> bool {
        addr >> self.leaf.size_log2 == self.page >> self.leaf.size_log2
    }

    /// Whether this entry overlaps the 2^am pages at `addr`.
    fn overlaps(&self, addr: u64, am: u8) -> bool {
        // In 128 bits: an entry or a range at the top ends at 2^64.
        let size = 1u128 << (12 + u32::from(am));
        let start = u128::from(addr) & !(size - 1);
        let page = u128::from(self.page);
        page < start + size && start < page + (1 << self.leaf.size_log2)
    }
}

#[derive(Debug)]
struct State {
    ver: u32,
    cap: u64,
    ecap: u64,
    gsts: u32,
    rtaddr: u64,
    /// Root table address and TTM latched by the last SRTP.
    root: Option<(u64, u8)>,
    irta: u64,
    ccmd: u64,
    iva: u64,
    iotlb_reg: u64,
    fsts: u32,
    fectl: u32,
    frcd: Vec<[u64; 2]>,
    next_fr: usize,
    iqh: u64,
    iqt: u64,
    iqa: u64,
    ics: u32,
    iectl: u32,
    iqercd: u64,
    pqh: u64,
    pqt: u64,
    pqa: u64,
    prs: u32,
    pectl: u32,
    other: BTreeMap<usize, u32>,
    context_cache: BTreeMap<u16, ContextEntry>,
    pasid_cache: BTreeMap<(u16, u32), PasidEntry>,
    iotlb: Vec<IotlbEntry>,
    log: Vec<Descriptor>,
    counts: InvalidationCounts,
    responses: Vec<PageGroupResponse>,
    faults: Vec<ModelFault>,
    events: EventCounts,
    injected: Vec<InjectedError>,
    ignore_gcmd: bool,
}

/// A VT-d remapping unit over simulated memory. See the [module documentation](self).
#[derive(Debug)]
pub struct VtdModel {
    mem: Rc<SimMemory>,
    state: RefCell<State>,
}

/// Raises an event on a control register (FECTL/IECTL/PECTL): an interrupt message when
/// unmasked, IP when masked; nothing more while IP is already Set.
fn signal(ctl: &mut u32, sent: &mut usize) {
    if *ctl & CTL_IP != 0 {
        return;
    }
    if *ctl & CTL_IM != 0 {
        *ctl |= CTL_IP;
    } else {
        *sent += 1;
    }
}

/// A write to a control register: IM is the only writable bit; unmasking with IP Set
/// sends the pending message.
fn write_ctl(ctl: &mut u32, value: u32, sent: &mut usize) {
    *ctl = (*ctl & !CTL_IM) | (value & CTL_IM);
    if *ctl & CTL_IM == 0 && *ctl & CTL_IP != 0 {
        *ctl &= !CTL_IP;
        *sent += 1;
    }
}

impl VtdModel {
    /// A unit with these CAP and ECAP values (VER 1.0), registers at reset, all caches
    /// empty, reading and writing `mem`.
    pub fn new(mem: Rc<SimMemory>, cap: u64, ecap: u64) -> Self {
        Self {
            mem,
            state: RefCell::new(State {
                ver: 0x10,
                cap,
                ecap,
                gsts: 0,
                rtaddr: 0,
                root: None,
                irta: 0,
                ccmd: 0,
                iva: 0,
                iotlb_reg: 0,
                fsts: 0,
                fectl: CTL_IM,
                frcd: alloc::vec![[0; 2]; cap_nfr(cap)],
                next_fr: 0,
                iqh: 0,
                iqt: 0,
                iqa: 0,
                ics: 0,
                iectl: CTL_IM,
                iqercd: 0,
                pqh: 0,
                pqt: 0,
                pqa: 0,
                prs: 0,
                pectl: CTL_IM,
                other: BTreeMap::new(),
                context_cache: BTreeMap::new(),
                pasid_cache: BTreeMap::new(),
                iotlb: Vec::new(),
                log: Vec::new(),
                counts: InvalidationCounts::default(),
                responses: Vec::new(),
                faults: Vec::new(),
                events: EventCounts::default(),
                injected: Vec::new(),
                ignore_gcmd: false,
            }),
        }
    }

    /// The memory the unit reads and writes.
    pub fn memory(&self) -> &Rc<SimMemory> {
        &self.mem
    }

    /// A DMA read of `buf.len()` bytes at `iova` by requester `rid` (with `pasid` for a
    /// request-with-PASID): translated page by page through the caches; on a fault nothing
    /// is read, the fault is recorded (§7.2) and returned.
    pub fn dma_read(
        &self,
        rid: u16,
        pasid: Option<u32>,
        iova: u64,
        buf: &mut [u8],
    ) -> Result<(), ModelFault> {
        let chunks = self.translate_range(rid, pasid, iova, buf.len(), Access::Read)?;
        let mut done = 0;
        for (out, len) in chunks {
            self.mem.read(out, &mut buf[done..done + len]);
            done += len;
        }
        Ok(())
    }

    /// A DMA write of `data` at `iova`; on a fault no byte is written.
    pub fn dma_write(
        &self,
        rid: u16,
        pasid: Option<u32>,
        iova: u64,
        data: &[u8],
    ) -> Result<(), ModelFault> {
        let chunks = self.translate_range(rid, pasid, iova, data.len(), Access::Write)?;
        let mut done = 0;
        for (out, len) in chunks {
            self.mem.write(out, &data[done..done + len]);
            done += len;
        }
        Ok(())
    }

    /// Translates one address as a DMA of `access` would (filling caches, recording a
    /// fault), without accessing the data.
    pub fn translate(
        &self,
        rid: u16,
        pasid: Option<u32>,
        iova: u64,
        access: Access,
    ) -> Result<u64, ModelFault> {
        self.state
            .borrow_mut()
            .translate(&self.mem, rid, pasid, iova, access)
    }

    fn translate_range(
        &self,
        rid: u16,
        pasid: Option<u32>,
        iova: u64,
        len: usize,
        access: Access,
    ) -> Result<Vec<(u64, usize)>, ModelFault> {
        let mut s = self.state.borrow_mut();
        let mut chunks = Vec::new();
        let mut addr = iova;
        let mut left = len as u64;
        while left > 0 {
            // Page by page; an access running off the top of the address
            // space goes on at 0, as the device's requests would.
            let n = (0x1000 - (addr & 0xfff)).min(left);
            let out = s.translate(&self.mem, rid, pasid, addr, access)?;
            chunks.push((out, n as usize));
            left -= n;
            addr = addr.wrapping_add(n);
        }
        Ok(chunks)
    }

    /// Queues a page request (§7.5.1): a 256-bit page request descriptor at PQT, PQT
    /// advanced, PRS.PPR Set and a page request event. Needs ECAP.PRS and, while translation
    /// is enabled in scalable mode, a context entry with PRE Set.
    pub fn inject_page_request(&self, req: &PageRequest) -> Result<(), PageRequestError> {
        let mut s = self.state.borrow_mut();
        if !ecap_prs(s.ecap) {
            return Err(PageRequestError::NotSupported);
        }
        if s.gsts & GCMD_TE != 0 {
            match s.context(&self.mem, req.rid) {
                Ok(ContextEntry::Scalable { pre: true, .. }) => {}
                _ => return Err(PageRequestError::NotEnabled),
            }
        }
        let size = 4096u64 << (s.pqa & 7);
        let next = (s.pqt + 32) % size;
        if s.prs & PRS_PRO != 0 || next == s.pqh {
            if s.prs & PRS_PRO == 0 {
                s.prs |= PRS_PRO;
                let State { pectl, events, .. } = &mut *s;
                signal(pectl, &mut events.page_request);
            }
            return Err(PageRequestError::Overflow);
        }
        // qw0: PP 8, RID 31:16, PASID 51:32, ER 52, PMR 53; qw1: RR 0, WR 1, LPIG 2,
        // PRGI 11:3, ADDR 63:12; qw2/qw3: private data (none).
        let qw0 = u64::from(req.pasid.is_some()) << 8
            | u64::from(req.rid) << 16
            | u64::from(req.pasid.unwrap_or(0) & 0xf_ffff) << 32
            | u64::from(req.exec) << 52
            | u64::from(req.privileged) << 53;
        let qw1 = u64::from(req.read)
            | u64::from(req.write) << 1
            | u64::from(req.lpig) << 2
            | u64::from(req.prgi & 0x1ff) << 3
            | (req.addr & !0xfff);
        let at = (s.pqa & !0xfff) + s.pqt;
        for (i, w) in [qw0, qw1, 0, 0].into_iter().enumerate() {
            self.mem.write(at + 8 * i as u64, &w.to_le_bytes());
        }
        s.pqt = next;
        if s.prs & PRS_PPR == 0 {
            s.prs |= PRS_PPR;
            let State { pectl, events, .. } = &mut *s;
            signal(pectl, &mut events.page_request);
        }
        Ok(())
    }

    /// Arms an error for the next matching operation (errors queue up in order per kind).
    pub fn inject(&self, error: InjectedError) {
        self.state.borrow_mut().injected.push(error);
    }

    /// While `ignore` holds, GCMD writes do nothing (so a driver's GSTS poll times out).
    pub fn set_ignore_gcmd(&self, ignore: bool) {
        self.state.borrow_mut().ignore_gcmd = ignore;
    }

    /// Every queued descriptor processed so far, decoded.
    pub fn descriptor_log(&self) -> Vec<Descriptor> {
        self.state.borrow().log.clone()
    }

    /// Invalidations processed so far, per kind.
    pub fn counts(&self) -> InvalidationCounts {
        self.state.borrow().counts
    }

    /// Clears the descriptor log and the counters (not the caches).
    pub fn reset_log(&self) {
        let mut s = self.state.borrow_mut();
        s.log.clear();
        s.counts = InvalidationCounts::default();
    }

    /// Page group responses software queued, in order.
    pub fn page_responses(&self) -> Vec<PageGroupResponse> {
        self.state.borrow().responses.clone()
    }

    /// Every fault a DMA met, recorded or not.
    pub fn faults(&self) -> Vec<ModelFault> {
        self.state.borrow().faults.clone()
    }

    /// Interrupt messages sent so far.
    pub fn events(&self) -> EventCounts {
        self.state.borrow().events
    }

    /// Entries in the context cache, the PASID cache and the IOTLB.
    pub fn cache_sizes(&self) -> (usize, usize, usize) {
        let s = self.state.borrow();
        (s.context_cache.len(), s.pasid_cache.len(), s.iotlb.len())
    }
}

impl State {
    /// Primary fault logging (§7.2.1): into the fault recording register at the internal
    /// index unless FPD applies; PFO when that register still holds a fault.
    fn record_fault(
        &mut self,
        f: WalkFault,
        rid: u16,
        pasid: Option<u32>,
        addr: u64,
        access: Access,
    ) -> ModelFault {
        let mut recorded = false;
        if !f.fpd {
            let i = self.next_fr;
            if self.frcd[i][1] >> 63 != 0 {
                if self.fsts & FSTS_PFO == 0 {
                    self.fsts |= FSTS_PFO;
                    signal(&mut self.fectl, &mut self.events.fault);
                }
            } else {
                let ppf_was = self.ppf();
                // FRCD: lo: FI 63:12; hi: SID 15:0, PP 31, FR 39:32, PV 59:40, T1 62 (1 =
                // read), F 63.
                let hi = u64::from(rid)
                    | u64::from(pasid.is_some()) << 31
                    | u64::from(f.reason.code()) << 32
                    | u64::from(pasid.unwrap_or(0) & 0xf_ffff) << 40
                    | u64::from(access == Access::Read) << 62
                    | 1 << 63;
                self.frcd[i] = [addr & !0xfff, hi];
                self.next_fr = (i + 1) % self.frcd.len();
                recorded = true;
                if !ppf_was {
                    self.fsts =
                        (self.fsts & !(0xff << FSTS_FRI_SHIFT)) | (i as u32) << FSTS_FRI_SHIFT;
                    signal(&mut self.fectl, &mut self.events.fault);
                }
            }
        }
        let fault = ModelFault {
            reason: f.reason,
            rid,
            pasid,
            addr,
            access,
            recorded,
        };
        self.faults.push(fault);
        fault
    }

    fn ppf(&self) -> bool {
        self.frcd.iter().any(|r| r[1] >> 63 != 0)
    }

    fn fsts_value(&self) -> u32 {
        self.fsts | if self.ppf() { FSTS_PPF } else { 0 }
    }

    /// Clears FECTL.IP once no fault status remains (§7.4.1).
    fn fault_serviced(&mut self) {
        if self.fsts_value() & (FSTS_PFO | FSTS_PPF | FSTS_IQE | FSTS_ICE | FSTS_ITE) == 0 {
            self.fectl &= !CTL_IP;
        }
    }

    fn set_fsts(&mut self, bit: u32) {
        if self.fsts & bit == 0 {
            self.fsts |= bit;
            signal(&mut self.fectl, &mut self.events.fault);
        }
    }

    fn take_injected(&mut self, wanted: InjectedError) -> bool {
        match self.injected.iter().position(|e| *e == wanted) {
            Some(i) => {
                self.injected.remove(i);
                true
            }
            None => false,
        }
    }

    fn write_gcmd(&mut self, mem: &SimMemory, v: u32) {
        if self.ignore_gcmd {
            return;
        }
        let persistent = |s: &mut Self, bit: u32, supported: bool| {
            if supported {
                s.gsts = (s.gsts & !bit) | (v & bit);
            }
        };
        persistent(self, GCMD_TE, true);
        persistent(self, GCMD_EAFL, true);
        persistent(self, GCMD_IRE, ecap_ir(self.ecap));
        persistent(self, GCMD_CFI, ecap_ir(self.ecap));
        let qie_was = self.gsts & GCMD_QIE != 0;
        persistent(self, GCMD_QIE, ecap_qi(self.ecap));
        if qie_was != (self.gsts & GCMD_QIE != 0) {
            // IQH reads 0 whenever queued invalidation is (re)enabled or disabled (§11.4.9.1).
            self.iqh = 0;
        }
        if v & GCMD_SRTP != 0 {
            self.root = Some((
                self.rtaddr & !0xfff,
                field(self.rtaddr, 11, RTADDR_TTM_LO) as u8,
            ));
            self.gsts |= GCMD_SRTP;
        }
        if v & GCMD_SFL != 0 {
            self.gsts |= GCMD_SFL;
        }
        if v & GCMD_SIRTP != 0 && ecap_ir(self.ecap) {
            self.gsts |= GCMD_SIRTP;
        }
        // WBF completes at once: WBFS reads 0.
        self.gsts &= !GCMD_WBF;
        if !qie_was && self.gsts & GCMD_QIE != 0 {
            self.process_queue(mem);
        }
    }
}

impl RegisterAccess for VtdModel {
    fn read32(&self, offset: usize) -> u32 {
        let s = self.state.borrow();
        let base = offset & !7;
        match s.read64_reg(base) {
            Some(v) => (v >> (8 * (offset & 4))) as u32,
            None => s.read32_reg(offset),
        }
    }

    fn write32(&self, offset: usize, value: u32) {
        let mut s = self.state.borrow_mut();
        let base = offset & !7;
        match s.read64_reg(base) {
            Some(old) => {
                let shift = 8 * (offset & 4);
                let half = 0xffff_ffffu64 << shift;
                let merged = (old & !half) | u64::from(value) << shift;
                s.write64_reg(&self.mem, base, merged, half);
            }
            None => s.write32_reg(&self.mem, offset, value),
        }
    }

    fn read64(&self, offset: usize) -> u64 {
        let s = self.state.borrow();
        match s.read64_reg(offset) {
            Some(v) => v,
            None => u64::from(s.read32_reg(offset)) | u64::from(s.read32_reg(offset + 4)) << 32,
        }
    }

    fn write64(&self, offset: usize, value: u64) {
        let is64 = self.state.borrow().read64_reg(offset).is_some();
        if is64 {
            self.state
                .borrow_mut()
                .write64_reg(&self.mem, offset, value, u64::MAX);
        } else {
            self.write32(offset, value as u32);
            self.write32(offset + 4, (value >> 32) as u32);
        }
    }
}
