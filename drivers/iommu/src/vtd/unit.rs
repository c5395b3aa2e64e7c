//! One VT-d remapping hardware unit (a DRHD): bring-up, device attachment in
//! legacy and scalable mode, invalidation, faults and page requests.
//!
//! The driver reaches the unit only through [`RegisterAccess`], its tables and
//! queues only through [`DmaMemory`], and bounds every wait with [`Clock`]; it
//! runs unchanged on hardware, on QEMU and against the software model.
//!
//! - this module: the unit's core: bring-up, the global command handshake,
//!   translation and interrupt-remapping enables, and invalidation (queued or
//!   by register, global and page-selective).
//! - `context`: root and context tables, legacy attachment, detach.
//! - `pasid`: scalable-mode PASID directories and tables.
//! - `fault`: the fault event interrupt and the fault recording registers.
//! - `page_request`: the page request queue and page group responses.

mod context;
mod fault;
mod page_request;
mod pasid;

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use super::invalidation::{
    ContextGranularity, Descriptor, InvalidationQueue, IotlbGranularity, PasidCacheGranularity,
    PasidIotlbGranularity, QueueError,
};
use super::pagetable::{Invalidation, psi_chunks};
use super::regs::{
    CAP_REG, CCMD_REG, Capability, ECAP_REG, ExtendedCapability, FSTS_REG, Fsts, GCMD_REG,
    GSTS_REG, Gcmd, Gsts, IQA_REG, IQH_REG, IQT_REG, IRTA_REG, Identification, RTADDR_REG, VER_REG,
    Version,
};
use crate::hw::{Clock, DmaMemory, RegisterAccess, TimedOut, poll_until};
use page_request::PageRequestQueue;
use pasid::PasidDirectory;

pub use page_request::PageRequest;

/// How long a register handshake or an invalidation may take before the unit
/// is declared stuck: generous for emulators, short for a human.
pub const DEFAULT_TIMEOUT_NS: u64 = 100_000_000;

/// Translation table mode (RTADDR.TTM, §11.4.5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Legacy root and context tables (TTM = 00b).
    Legacy,
    /// Scalable-mode root, context and PASID tables (TTM = 01b, ECAP.SMTS).
    Scalable,
}

/// What went wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VtdError {
    /// A status bit did not change in time.
    TimedOut(TimedOut),
    /// No memory for a table or queue.
    OutOfMemory,
    /// The unit lacks a capability the operation needs (the ECAP/CAP field name).
    Unsupported(&'static str),
    /// The operation needs the other translation table mode.
    WrongMode,
    /// FSTS.IQE: hardware refused a descriptor; it was skipped (§6.5.2.10).
    InvalidationQueueError { descriptor: [u64; 4] },
    /// FSTS.ITE: a device-TLB invalidation timed out (§6.5.2.10).
    InvalidationTimeout,
    /// FSTS.ICE: an invalidation completion error (§6.5.2.10).
    InvalidationCompletionError,
    /// The invalidation queue has no room.
    QueueFull,
    /// A PASID beyond the unit's PASID width or the directory's size.
    BadPasid(u32),
    /// Nothing is attached there.
    NotAttached,
}

impl From<TimedOut> for VtdError {
    fn from(t: TimedOut) -> Self {
        VtdError::TimedOut(t)
    }
}

impl From<QueueError> for VtdError {
    fn from(e: QueueError) -> Self {
        match e {
            QueueError::OutOfMemory => VtdError::OutOfMemory,
            QueueError::Full => VtdError::QueueFull,
            QueueError::NeedsWideQueue => VtdError::Unsupported("256-bit descriptors"),
        }
    }
}

/// One remapping unit.
#[derive(Debug)]
pub struct Unit<R, M, C> {
    regs: R,
    memory: M,
    clock: C,
    pub id: Identification,
    mode: Mode,
    root: u64,
    /// (bus, upper half) -> context table page.
    context_tables: BTreeMap<(u8, bool), u64>,
    pasid_dirs: BTreeMap<u16, PasidDirectory>,
    queue: Option<InvalidationQueue>,
    prq: Option<PageRequestQueue>,
    /// The interrupt remapping table, once interrupts are blocked.
    irt: Option<u64>,
    timeout_ns: u64,
}

impl<R: RegisterAccess, M: DmaMemory, C: Clock> Unit<R, M, C> {
    /// Brings the unit to a known state: translation off, an empty root table
    /// latched in `mode` (scalable falls back to legacy when ECAP.SMTS is
    /// clear), queued invalidation on where ECAP.QI, every cache invalidated.
    /// Translation stays off until [`enable_translation`](Self::enable_translation).
    pub fn new(regs: R, memory: M, clock: C, mode: Mode) -> Result<Self, VtdError> {
        let id = Identification::new(
            Version::new(regs.read32(VER_REG)),
            Capability::new(regs.read64(CAP_REG)),
            ExtendedCapability::new(regs.read64(ECAP_REG)),
        );
        let mode = if mode == Mode::Scalable && !id.ecap.smts() {
            Mode::Legacy
        } else {
            mode
        };
        let root = memory.alloc_pages(1).ok_or(VtdError::OutOfMemory)?;
        let mut unit = Self {
            regs,
            memory,
            clock,
            id,
            mode,
            root,
            context_tables: BTreeMap::new(),
            pasid_dirs: BTreeMap::new(),
            queue: None,
            prq: None,
            irt: None,
            timeout_ns: DEFAULT_TIMEOUT_NS,
        };
        if unit.gsts().contains(Gsts::TES) {
            unit.global_command(Gcmd::TE, false)?;
        }
        // RTADDR: root table address, TTM in bits 11:10 (§11.4.5).
        let ttm = match mode {
            Mode::Legacy => 0,
            Mode::Scalable => 1 << 10,
        };
        unit.regs.write64(RTADDR_REG, root | ttm);
        unit.global_command(Gcmd::SRTP, true)?;
        if unit.id.ecap.qi() {
            if unit.gsts().contains(Gsts::QIES) {
                unit.global_command(Gcmd::QIE, false)?;
            }
            // 256-bit descriptors in scalable mode: PASID-based ones need them.
            let queue = InvalidationQueue::new(&unit.memory, 1, mode == Mode::Scalable)?;
            unit.regs.write64(IQT_REG, 0);
            unit.regs.write64(IQA_REG, queue.iqa());
            unit.queue = Some(queue);
            unit.global_command(Gcmd::QIE, true)?;
        }
        unit.invalidate_all()?;
        Ok(unit)
    }

    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The unit's register window.
    pub fn registers(&self) -> &R {
        &self.regs
    }

    /// The memory the unit's tables live in.
    pub fn memory(&self) -> &M {
        &self.memory
    }

    /// Sets the limit on every wait (default [`DEFAULT_TIMEOUT_NS`]).
    pub fn set_timeout_ns(&mut self, ns: u64) {
        self.timeout_ns = ns;
    }

    fn gsts(&self) -> Gsts {
        Gsts::from_bits_truncate(self.regs.read32(GSTS_REG))
    }

    /// One GCMD write per §11.4.4.1 (persistent enables carried over from GSTS),
    /// then a bounded wait for GSTS to report it.
    fn global_command(&mut self, bit: Gcmd, set: bool) -> Result<(), VtdError> {
        let gsts = self.gsts();
        let command = if set {
            Gcmd::for_set(gsts, bit)
        } else {
            Gcmd::for_clear(gsts, bit)
        }
        .ok_or(VtdError::Unsupported("GCMD bit"))?;
        self.regs.write32(GCMD_REG, command.value.bits());
        let regs = &self.regs;
        poll_until(
            &self.clock,
            self.timeout_ns,
            gsts_name(command.status),
            || command.is_complete(Gsts::from_bits_truncate(regs.read32(GSTS_REG))),
        )?;
        Ok(())
    }

    /// Turns DMA remapping on (GCMD.TE).
    pub fn enable_translation(&mut self) -> Result<(), VtdError> {
        self.global_command(Gcmd::TE, true)
    }

    /// Interrupt remapping with no entry present (§5.1, §9.9): a device's
    /// write to the interrupt address range (0xFEEx_xxxx), which DMA
    /// remapping never translates (§3.14), is then an interrupt request that
    /// is blocked and recorded as a fault, instead of an interrupt vsva did not
    /// ask for; compatibility-format requests are blocked too (GCMD.CFI stays
    /// clear, §5.1.2.1). The IOMMU's own fault event interrupt is not
    /// remapped. Remapped interrupts for devices come with the table entries
    /// a later caller fills.
    pub fn block_device_interrupts(&mut self) -> Result<(), VtdError> {
        if !self.id.ecap.ir() {
            return Err(VtdError::Unsupported("ECAP.IR"));
        }
        let table = match self.irt {
            Some(t) => t,
            None => {
                let t = self.memory.alloc_pages(1).ok_or(VtdError::OutOfMemory)?;
                self.irt = Some(t);
                t
            }
        };
        // IRTA_REG (§11.4.7.1): IRTA 63:12, EIME 11 (xAPIC format here),
        // S 3:0 with 2^(S+1) entries: 256 16-byte entries fill the page.
        self.regs.write64(IRTA_REG, table | 7);
        self.global_command(Gcmd::SIRTP, true)?;
        self.invalidate(&[Descriptor::InterruptEntryCache { index: None }])?;
        self.global_command(Gcmd::IRE, true)
    }

    /// Whether interrupt remapping is on (GSTS.IRES).
    pub fn interrupts_remapped(&self) -> bool {
        self.gsts().contains(Gsts::IRES)
    }

    /// Turns DMA remapping off (GCMD.TE).
    pub fn disable_translation(&mut self) -> Result<(), VtdError> {
        self.global_command(Gcmd::TE, false)
    }

    pub fn translation_enabled(&self) -> bool {
        self.gsts().contains(Gsts::TES)
    }

    /// Global context-cache, IOTLB and (scalable) PASID-cache invalidation.
    pub fn invalidate_all(&mut self) -> Result<(), VtdError> {
        let mut batch = alloc::vec![
            Descriptor::ContextCache(ContextGranularity::Global),
            self.iotlb(IotlbGranularity::Global),
        ];
        if self.mode == Mode::Scalable {
            batch.push(Descriptor::PasidCache {
                domain: 0,
                granularity: PasidCacheGranularity::Global,
            });
        }
        self.invalidate(&batch)
    }

    /// An IOTLB invalidation descriptor with the draining this unit asks for
    /// (CAP.DRD, CAP.DWD).
    pub fn iotlb(&self, granularity: IotlbGranularity) -> Descriptor {
        Descriptor::Iotlb {
            granularity,
            drain_reads: self.id.cap.drd(),
            drain_writes: self.id.cap.dwd(),
        }
    }

    /// Runs a batch of invalidations and waits for them: through the queue
    /// (ended by a wait descriptor with a status write) or, without ECAP.QI,
    /// through the register interface. Queue errors are detected, the bad
    /// descriptor skipped so the queue goes on, and reported.
    pub fn invalidate(&mut self, batch: &[Descriptor]) -> Result<(), VtdError> {
        let Some(queue) = self.queue.as_mut() else {
            return batch
                .iter()
                .try_for_each(|d| self.invalidate_by_register(d));
        };
        let wide = queue.is_wide();
        let batch: Vec<Descriptor> = batch
            .iter()
            .filter(|d| wide || !d.needs_wide_queue())
            .copied()
            .collect();
        let head = queue.index_of(self.regs.read64(IQH_REG));
        let (status, value) = queue.submit(&self.memory, head, &batch)?;
        self.regs.write64(IQT_REG, queue.tail_register());
        let (regs, memory) = (&self.regs, &self.memory);
        let mut error = None;
        let waited = poll_until(
            &self.clock,
            self.timeout_ns,
            "invalidation wait status",
            || {
                let fsts = Fsts::from_bits_truncate(regs.read32(FSTS_REG));
                if fsts.intersects(Fsts::IQE | Fsts::ITE | Fsts::ICE) {
                    error = Some(fsts);
                    return true;
                }
                memory.read64(status) as u32 == value
            },
        );
        if let Some(fsts) = error {
            return Err(self.recover_queue(fsts));
        }
        waited?;
        Ok(())
    }

    /// Recovers from a queue error (§6.5.2.10): on IQE the descriptor at IQH is
    /// replaced by a no-op and IQE cleared so hardware resumes; ITE and ICE are
    /// cleared after hardware has dropped the pending waits.
    fn recover_queue(&mut self, fsts: Fsts) -> VtdError {
        let queue = self.queue.as_ref().expect("only called with a queue");
        let index = queue.index_of(self.regs.read64(IQH_REG));
        let error = if fsts.contains(Fsts::IQE) {
            let descriptor = queue.read_slot(&self.memory, index);
            queue.neutralize(&self.memory, index);
            VtdError::InvalidationQueueError { descriptor }
        } else if fsts.contains(Fsts::ITE) {
            VtdError::InvalidationTimeout
        } else {
            VtdError::InvalidationCompletionError
        };
        let clear = fsts.intersection(Fsts::IQE | Fsts::ITE | Fsts::ICE);
        self.regs.write32(FSTS_REG, clear.bits());
        error
    }

    /// The register-based interface (§6.5.1): CCMD for context caches, the
    /// IOTLB registers at ECAP.IRO for IOTLBs. Other types need the queue.
    fn invalidate_by_register(&self, d: &Descriptor) -> Result<(), VtdError> {
        match *d {
            Descriptor::ContextCache(g) => {
                // CCMD: ICC (63), CIRG (62:61), FM (33:32), SID (31:16), DID (15:0).
                let (cirg, did, sid, fm) = match g {
                    ContextGranularity::Global => (1u64, 0u64, 0u64, 0u64),
                    ContextGranularity::Domain(d) => (2, d.into(), 0, 0),
                    ContextGranularity::Device {
                        domain,
                        source_id,
                        function_mask,
                    } => (
                        3,
                        domain.into(),
                        source_id.into(),
                        u64::from(function_mask & 3),
                    ),
                };
                let value = (1 << 63) | (cirg << 61) | (fm << 32) | (sid << 16) | did;
                self.regs.write64(CCMD_REG, value);
                let regs = &self.regs;
                poll_until(&self.clock, self.timeout_ns, "CCMD.ICC", || {
                    regs.read64(CCMD_REG) >> 63 == 0
                })?;
                Ok(())
            }
            Descriptor::Iotlb {
                granularity,
                drain_reads,
                drain_writes,
            } => {
                let iva = self.id.ecap.iva_reg_offset();
                let iotlb = self.id.ecap.iotlb_reg_offset();
                // IOTLB_REG: IVT (63), IIRG (61:60), DR (49), DW (48), DID (47:32);
                // IVA_REG: ADDR, IH (6), AM (5:0) (§11.4.8).
                let drain = (u64::from(drain_reads) << 49) | (u64::from(drain_writes) << 48);
                let (iirg, did) = match granularity {
                    IotlbGranularity::Global => (1u64, 0u64),
                    IotlbGranularity::Domain(d) => (2, d.into()),
                    IotlbGranularity::Page {
                        domain,
                        address,
                        address_mask,
                        leaf_only,
                    } => {
                        let value = (address & !0xfff)
                            | (u64::from(leaf_only) << 6)
                            | u64::from(address_mask & 0x3f);
                        self.regs.write64(iva, value);
                        (3, domain.into())
                    }
                };
                self.regs
                    .write64(iotlb, (1 << 63) | (iirg << 60) | drain | (did << 32));
                let regs = &self.regs;
                poll_until(&self.clock, self.timeout_ns, "IOTLB_REG.IVT", || {
                    regs.read64(iotlb) >> 63 == 0
                })?;
                Ok(())
            }
            // Without QI there are no PASID-granular or device-TLB caches to flush
            // (those features require QI, §6.5.2), and waits are implicit.
            Descriptor::Wait { .. } => Ok(()),
            _ => Err(VtdError::Unsupported("ECAP.QI")),
        }
    }

    /// Invalidates `[iova, iova + len)` of `domain` (and `pasid` for
    /// first-stage mappings in scalable mode) with page-selective descriptors:
    /// naturally aligned blocks with address masks up to CAP.MAMV, so N
    /// contiguous pages cost O(log N) descriptors. Without CAP.PSI, the
    /// domain's whole IOTLB is invalidated.
    pub fn invalidate_range(
        &mut self,
        domain: u16,
        pasid: Option<u32>,
        iova: u64,
        len: u64,
        leaf_only: bool,
    ) -> Result<(), VtdError> {
        let batch = self.range_descriptors(domain, pasid, iova, len, leaf_only);
        self.invalidate(&batch)
    }

    /// The descriptors [`invalidate_range`](Self::invalidate_range) submits:
    /// page-selective (PASID-based when `pasid` is given) IOTLB invalidations
    /// of naturally aligned blocks, or the domain's whole IOTLB without
    /// CAP.PSI (PASID-based: the PASID's, §6.5.2.4).
    pub fn range_descriptors(
        &self,
        domain: u16,
        pasid: Option<u32>,
        iova: u64,
        len: u64,
        leaf_only: bool,
    ) -> Vec<Descriptor> {
        let pages = len.div_ceil(4096);
        let mut batch = Vec::new();
        if !self.id.cap.psi() {
            batch.push(match pasid {
                Some(pasid) => Descriptor::PasidIotlb {
                    domain,
                    pasid,
                    granularity: PasidIotlbGranularity::Pasid,
                },
                None => self.iotlb(IotlbGranularity::Domain(domain)),
            });
        } else {
            for chunk in psi_chunks(iova & !0xfff, pages * 4096, self.id.cap.mamv()) {
                let (address, address_mask) = (chunk.addr, chunk.am);
                batch.push(match pasid {
                    Some(pasid) => Descriptor::PasidIotlb {
                        domain,
                        pasid,
                        granularity: PasidIotlbGranularity::Page {
                            address,
                            address_mask,
                            leaf_only,
                        },
                    },
                    None => self.iotlb(IotlbGranularity::Page {
                        domain,
                        address,
                        address_mask,
                        leaf_only,
                    }),
                });
            }
        }
        batch
    }

    /// Carries out what a page-table change asks (see [`Invalidation`]): the
    /// page-selective invalidations of its ranges (IH set when only leaves
    /// changed), then, once they completed, frees the tables it unlinked.
    pub fn apply(
        &mut self,
        domain: u16,
        pasid: Option<u32>,
        change: Invalidation,
    ) -> Result<(), VtdError> {
        for range in change.ranges() {
            self.invalidate_range(domain, pasid, range.start, range.len, change.ih())?;
        }
        change.finish(&self.memory);
        Ok(())
    }
}

fn gsts_name(status: Gsts) -> &'static str {
    if status == Gsts::TES {
        "GSTS.TES"
    } else if status == Gsts::RTPS {
        "GSTS.RTPS"
    } else if status == Gsts::QIES {
        "GSTS.QIES"
    } else if status == Gsts::IRES {
        "GSTS.IRES"
    } else if status == Gsts::WBFS {
        "GSTS.WBFS"
    } else {
        "GSTS"
    }
}
