//! One VT-d remapping hardware unit (a DRHD): bring-up, device attachment in
//! legacy and scalable mode, invalidation, faults and page requests.
//!
//! The driver reaches the unit only through [`RegisterAccess`], its tables and
//! queues only through [`DmaMemory`], and bounds every wait with [`Clock`]; it
//! runs unchanged on hardware, on QEMU and against the software model.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use super::fault::FaultRecord;
use super::invalidation::{
    ContextGranularity, Descriptor, InvalidationQueue, IotlbGranularity, PasidCacheGranularity,
    PasidIotlbGranularity, QueueError, ResponseCode,
};
use super::pagetable::{Invalidation, psi_chunks};
use super::regs::{
    CAP_REG, CCMD_REG, Capability, ECAP_REG, ExtendedCapability, FEADDR_REG, FECTL_REG, FEDATA_REG,
    FEUADDR_REG, FSTS_REG, Fectl, Fsts, GCMD_REG, GSTS_REG, Gcmd, Gsts, IQA_REG, IQH_REG, IQT_REG,
    IRTA_REG, Identification, PQA_REG, PQH_REG, PQT_REG, PRS_REG, RTADDR_REG, VER_REG, Version,
};
use super::tables::{
    AddressWidth, ContextEntry, PASIDS_PER_TABLE, PasidDirectoryEntry, PasidEntry,
    PasidTranslation, RootEntry, ScalableContextEntry, ScalableRootEntry, TranslationType,
    clear_entry, publish_entry,
};
use crate::hw::{Clock, DmaMemory, RegisterAccess, TimedOut, poll_until};

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

/// Per-device scalable-mode state: the PASID directory and its tables.
#[derive(Debug)]
struct PasidDirectory {
    directory: u64,
    /// Directory index -> PASID table page.
    tables: BTreeMap<u32, u64>,
}

/// Entries in one PASID directory page (512 8-byte entries).
const DIRECTORY_ENTRIES: u32 = 512;

/// Bytes per page request descriptor (§7.5.1.1: 256 bits).
const PAGE_REQUEST_SIZE: u64 = 32;

/// A page request queue of 2^PQA.PQS pages (§11.4.11.3).
#[derive(Debug)]
struct PageRequestQueue {
    base: u64,
    pages: usize,
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

    /// The context table for `rid`'s bus (and half, in scalable mode), created
    /// and linked from the root table on first use.
    fn context_table(&mut self, rid: u16) -> Result<u64, VtdError> {
        let bus = (rid >> 8) as u8;
        let devfn = rid as u8;
        let upper = self.mode == Mode::Scalable && devfn >= 128;
        if let Some(&t) = self.context_tables.get(&(bus, upper)) {
            return Ok(t);
        }
        let table = self.memory.alloc_pages(1).ok_or(VtdError::OutOfMemory)?;
        self.context_tables.insert((bus, upper), table);
        let root = self.root + 16 * u64::from(bus);
        let words = match self.mode {
            Mode::Legacy => RootEntry {
                context_table: Some(table),
            }
            .encode(),
            Mode::Scalable => ScalableRootEntry {
                lower: self.context_tables.get(&(bus, false)).copied(),
                upper: self.context_tables.get(&(bus, true)).copied(),
            }
            .encode(),
        };
        // The root entry only gains a pointer: no cached entry goes stale.
        self.memory.write64(root + 8, words[1]);
        self.memory.write64(root, words[0]);
        self.memory.publish();
        Ok(table)
    }

    /// Address of `rid`'s context entry (16 bytes legacy, 32 scalable).
    fn context_entry(&mut self, rid: u16) -> Result<u64, VtdError> {
        let table = self.context_table(rid)?;
        let devfn = u64::from(rid as u8);
        Ok(match self.mode {
            Mode::Legacy => table + 16 * devfn,
            Mode::Scalable => table + 32 * (devfn % 128),
        })
    }

    /// Legacy mode: translates `rid`'s DMA through the second-stage table at
    /// `root` (or passes it through), in domain `domain`.
    pub fn attach_legacy(
        &mut self,
        rid: u16,
        domain: u16,
        translation: TranslationType,
        root: u64,
        width: AddressWidth,
    ) -> Result<(), VtdError> {
        if self.mode != Mode::Legacy {
            return Err(VtdError::WrongMode);
        }
        if translation == TranslationType::PassThrough && !self.id.ecap.pt() {
            return Err(VtdError::Unsupported("ECAP.PT"));
        }
        let at = self.context_entry(rid)?;
        let entry = ContextEntry {
            fault_processing_disable: false,
            translation_type: translation,
            second_stage: root,
            address_width: width,
            domain_id: domain,
        };
        publish_entry(&self.memory, at, &entry.encode());
        self.after_context_change(rid, domain)
    }

    /// The invalidations a context-entry change needs (§6.5.3.3): the device's
    /// context-cache entry, then the domain's IOTLB (and PASID cache).
    fn after_context_change(&mut self, rid: u16, domain: u16) -> Result<(), VtdError> {
        let mut batch = alloc::vec![Descriptor::ContextCache(ContextGranularity::Device {
            domain,
            source_id: rid,
            function_mask: 0,
        }),];
        if self.mode == Mode::Scalable {
            batch.push(Descriptor::PasidCache {
                domain,
                granularity: PasidCacheGranularity::Domain,
            });
        }
        batch.push(self.iotlb(IotlbGranularity::Domain(domain)));
        self.invalidate(&batch)
    }

    /// PASID width this unit accepts (ECAP.PSS + 1; ECAP.PASID clear means only
    /// PASID 0, the RID_PASID).
    pub fn pasid_bits(&self) -> u8 {
        self.id.ecap.pasid_bits().unwrap_or(0)
    }

    /// Scalable mode: points `rid`'s context entry at a PASID directory (created
    /// on first use) with PASID requests enabled where ECAP.PASID.
    fn pasid_directory(&mut self, rid: u16, domain: u16) -> Result<u64, VtdError> {
        if let Some(d) = self.pasid_dirs.get(&rid) {
            return Ok(d.directory);
        }
        let directory = self.memory.alloc_pages(1).ok_or(VtdError::OutOfMemory)?;
        self.pasid_dirs.insert(
            rid,
            PasidDirectory {
                directory,
                tables: BTreeMap::new(),
            },
        );
        let at = self.context_entry(rid)?;
        let entry = ScalableContextEntry {
            fault_processing_disable: false,
            device_tlb: false,
            pasid_enable: self.id.ecap.pasid(),
            page_request: self.id.ecap.prs() && self.prq.is_some(),
            pasid_directory: directory,
            // One directory page: 512 entries, 2^(2 + 7), PASIDs below 2^15.
            directory_size: 2,
            rid_pasid: 0,
        };
        publish_entry(&self.memory, at, &entry.encode());
        self.after_context_change(rid, domain)?;
        Ok(directory)
    }

    /// Scalable mode: sets the PASID-table entry of (`rid`, `pasid`), creating
    /// the context entry, directory and table as needed, then the invalidations
    /// §6.5.3.3 asks for: PASID cache (PASID-selective), IOTLB for the PASID and
    /// the domain.
    pub fn set_pasid_entry(
        &mut self,
        rid: u16,
        pasid: u32,
        entry: PasidEntry,
    ) -> Result<(), VtdError> {
        if self.mode != Mode::Scalable {
            return Err(VtdError::WrongMode);
        }
        match entry.translation {
            PasidTranslation::FirstStage { .. } if !self.id.ecap.flts() => {
                return Err(VtdError::Unsupported("ECAP.FLTS"));
            }
            PasidTranslation::SecondStage { .. } if !self.id.ecap.slts() => {
                return Err(VtdError::Unsupported("ECAP.SLTS"));
            }
            PasidTranslation::Nested { .. } if !self.id.ecap.nest() => {
                return Err(VtdError::Unsupported("ECAP.NEST"));
            }
            PasidTranslation::Nested {
                extended_access: true,
                ..
            } if !self.id.ecap.eafs() => {
                return Err(VtdError::Unsupported("ECAP.EAFS"));
            }
            PasidTranslation::Nested {
                supervisor: true, ..
            }
            | PasidTranslation::FirstStage {
                supervisor: true, ..
            } if !self.id.ecap.srs() => {
                return Err(VtdError::Unsupported("ECAP.SRS"));
            }
            PasidTranslation::PassThrough if !self.id.ecap.pt() => {
                return Err(VtdError::Unsupported("ECAP.PT"));
            }
            _ => {}
        }
        let index = pasid / PASIDS_PER_TABLE;
        if pasid != 0 && (pasid >= 1 << self.pasid_bits().min(20) || index >= DIRECTORY_ENTRIES) {
            return Err(VtdError::BadPasid(pasid));
        }
        let directory = self.pasid_directory(rid, entry.domain_id)?;
        let dir = self.pasid_dirs.get_mut(&rid).ok_or(VtdError::NotAttached)?;
        let table = match dir.tables.get(&index) {
            Some(&t) => t,
            None => {
                let t = self.memory.alloc_pages(1).ok_or(VtdError::OutOfMemory)?;
                dir.tables.insert(index, t);
                let pde = PasidDirectoryEntry {
                    fault_processing_disable: false,
                    table: t,
                };
                self.memory
                    .write64(directory + 8 * u64::from(index), pde.encode());
                self.memory.publish();
                t
            }
        };
        let at = table + 64 * u64::from(pasid % PASIDS_PER_TABLE);
        publish_entry(&self.memory, at, &entry.encode());
        self.after_pasid_change(entry.domain_id, pasid)
    }

    fn after_pasid_change(&mut self, domain: u16, pasid: u32) -> Result<(), VtdError> {
        self.invalidate(&[
            Descriptor::PasidCache {
                domain,
                granularity: PasidCacheGranularity::Pasid(pasid),
            },
            Descriptor::PasidIotlb {
                domain,
                pasid,
                granularity: PasidIotlbGranularity::Pasid,
            },
            self.iotlb(IotlbGranularity::Domain(domain)),
        ])
    }

    /// Scalable mode: removes (`rid`, `pasid`) and invalidates its caches.
    pub fn clear_pasid_entry(&mut self, rid: u16, pasid: u32, domain: u16) -> Result<(), VtdError> {
        let dir = self.pasid_dirs.get(&rid).ok_or(VtdError::NotAttached)?;
        let table = *dir
            .tables
            .get(&(pasid / PASIDS_PER_TABLE))
            .ok_or(VtdError::NotAttached)?;
        clear_entry(
            &self.memory,
            table + 64 * u64::from(pasid % PASIDS_PER_TABLE),
            8,
        );
        self.after_pasid_change(domain, pasid)
    }

    /// Removes `rid`'s context entry (either mode) and invalidates its caches.
    pub fn detach(&mut self, rid: u16, domain: u16) -> Result<(), VtdError> {
        let at = self.context_entry(rid)?;
        let words = if self.mode == Mode::Scalable { 4 } else { 2 };
        clear_entry(&self.memory, at, words);
        if let Some(dir) = self.pasid_dirs.remove(&rid) {
            self.after_context_change(rid, domain)?;
            // Tables are freed only after the caches that may hold them are flushed.
            for table in dir.tables.values() {
                self.memory.free_pages(*table, 1);
            }
            self.memory.free_pages(dir.directory, 1);
            return Ok(());
        }
        self.after_context_change(rid, domain)
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

    /// Programs the fault event interrupt (§7.4.1, §11.4.7): the MSI address and
    /// data the unit sends when a fault is recorded, then unmasks it (FECTL.IM
    /// clear). Whoever handles the interrupt calls [`take_faults`](Self::take_faults);
    /// polling works without it.
    pub fn enable_fault_event(&mut self, msi_address: u64, msi_data: u32) {
        self.regs.write32(FEDATA_REG, msi_data);
        self.regs.write32(FEADDR_REG, msi_address as u32);
        self.regs.write32(FEUADDR_REG, (msi_address >> 32) as u32);
        self.regs.write32(FECTL_REG, 0);
    }

    /// Masks the fault event interrupt (FECTL.IM): faults are still recorded.
    pub fn mask_fault_event(&mut self) {
        self.regs.write32(FECTL_REG, Fectl::IM.bits());
    }

    /// Reads and clears every recorded primary fault (§7.2.1): fault recording
    /// registers from FSTS.FRI on, each cleared by writing F back; PFO cleared.
    pub fn take_faults(&mut self) -> Vec<FaultRecord> {
        let mut out = Vec::new();
        let count = self.id.cap.fault_recording_count();
        let fsts = Fsts::from_bits_truncate(self.regs.read32(FSTS_REG));
        let start = usize::from(fsts.fri());
        for i in 0..count {
            let Some(offset) = self.id.cap.frcd_reg_offset((start + i) % count) else {
                continue;
            };
            // F (bit 127) first: hardware sets it after writing the rest of
            // the record (§7.2.1, primary fault logging), so the low word read
            // after seeing F is the complete one. Read the other way round,
            // a record being written meanwhile decodes with a stale address.
            let high = self.regs.read64(offset + 8);
            if high >> 63 == 0 {
                continue;
            }
            let low = self.regs.read64(offset);
            if let Some(record) = FaultRecord::decode(low, high) {
                out.push(record);
                // F (bit 127) is RW1C: write 1 to the top dword only.
                self.regs.write32(offset + 12, 1 << 31);
            }
        }
        let overflow = Fsts::from_bits_truncate(self.regs.read32(FSTS_REG)) & Fsts::PFO;
        if !overflow.is_empty() {
            self.regs.write32(FSTS_REG, overflow.bits());
        }
        out
    }

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
