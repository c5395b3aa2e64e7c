//! A software model of an Arm SMMUv3 (Arm IHI 0070, SMMUv3.1 and later) for host tests,
//! written from the specification with its own decoders: it never calls the driver's
//! encoders, `smmuv3::regs` or the page-table module, so a mistake shared with them cannot
//! pass unseen.
//!
//! The driver runs unchanged against it: [`SmmuModel`] implements [`RegisterAccess`] with
//! the registers' side effects (§6.3) and reads and writes tables and queues in the same
//! [`SimMemory`] the driver allocates from.
//!
//! What it models:
//! - Registers: IDR0–5, IIDR, AIDR as configured ([`SmmuConfig::qemu`],
//!   [`SmmuConfig::full`]); CR0→CR0ACK (SMMUEN, PRIQEN, EVENTQEN, CMDQEN, ATSCHK, VMW);
//!   CR1, CR2; GBPA with the UPDATE handshake (ABORT or bypass while SMMUEN == 0);
//!   IRQ_CTRL→IRQ_CTRLACK; GERROR/GERRORN (an error is active while the bits differ);
//!   STRTAB_BASE/STRTAB_BASE_CFG; the command, event and PRI queue base/PROD/CONS registers
//!   (PROD/CONS at their page 1 offsets and aliased at page 0), wrap bits, CMDQ_CONS.ERR,
//!   OVFLG/OVACKFLG; IRQ_CFG registers (MSIs where IDR0.MSI). 64-bit accesses are accepted
//!   on the 64-bit registers only; others are counted as bad accesses (§6.2).
//! - Commands (§4): every CFGI_*, TLBI_NH_*, TLBI_S2_IPA (with range when IDR3.RIL),
//!   TLBI_S12_VMALL, TLBI_NSNH_ALL, ATC_INV, PRI_RESP, RESUME, STALL_TERM, SYNC (SIG_IRQ
//!   as an MSI write into memory where IDR0.MSI, SIG_SEV counted). Errors stop the queue
//!   at the bad command with CMDQ_CONS.ERR and GERROR.CMDQ_ERR until GERRORN acknowledges.
//!   A log of decoded commands and per-type counters.
//! - Caches (§16.2): STEs by StreamID, CDs by StreamID and CD index, TLB entries tagged by
//!   stage, VMID and ASID (global entries match every ASID), filled by DMA walks and used
//!   until the matching invalidation (a permission fault from a stale entry included).
//!   Walk caches and L1 descriptors are not cached (so Leaf is never punished).
//! - Walks: linear and 2-level stream tables (§3.3, §5.1), STE Config abort / bypass /
//!   stage 1 / stage 2 / nested (§5.2), S1DSS, substreams through linear and 2-level CD
//!   tables (§5.3, §5.4), VMSAv8-64 stage-1 and stage-2 walks with 4K/16K/64K granules,
//!   block descriptors, concatenated stage-2 start tables, AP[2], APTable[1] (unless
//!   CD.HADn), S2AP, AF (fault, or hardware update with HA and IDR0.HTTU), address-size
//!   checks; both stage-1 halves (TTB0/TTB1 by VA[55], T0SZ/T1SZ range checks, EPD0/EPD1,
//!   TBI0/TBI1), CD.ENDI per IDR0.TTENDIAN; nested: CD and L1CD pointers and stage-1 table
//!   addresses are IPAs translated through stage 2.
//! - Faults (§7.3): event records with StreamID, SSID, input address, RnW, S2, Class, IPA
//!   or fetch address; translation faults recorded only with CD.R / STE.S2R; no memory
//!   change on a fault; event queue overflow (EVENTQ_PROD.OVFLG). Stall model: CD.S /
//!   STE.S2S stall translation faults with a STAG until CMD_RESUME or CMD_STALL_TERM.
//! - PRI (§8): page requests into the PRI queue with overflow; PRI_RESP recorded.
//! - Injected errors ([`InjectedError`]), ignored CR0 writes, external aborts on chosen
//!   physical ranges (F_STE_FETCH, F_CD_FETCH, F_WALK_EABT, CERROR_ABT).
//!
//! Not modelled: Secure state and Realm, ATS translation requests and ATCs (ATC_INV is only
//! logged), GATOS/VATOS, AArch32 tables, 52-bit addresses (LPA/LPA2), AP[1], APTable[0],
//! PXN/UXN and their table bits, and the CD's WXN, PAN/EPAN and E0PDn (transactions carry
//! no privilege or instruction attribute; as QEMU), NSCFGn, dirty-state update (HD), MPAM,
//! memory attributes, PRI auto-responses on overflow, event merging (MEV), stalled
//! transactions waiting for event queue space (they terminate instead).

mod bits;
mod cmdq;
mod command;
mod config;
mod event;
mod eventq;
mod lines;
mod pri;
mod registers;
#[cfg(test)]
mod tests;
mod translation;
mod walk;

use alloc::collections::BTreeMap;
use alloc::rc::Rc;
use alloc::vec::Vec;
use core::cell::RefCell;
use core::ops::Range;

use bits::*;
pub use command::{
    Command, CommandCounts, CommandError, PriResponseCode, ResumeAction, SyncSignal, TlbiAddress,
};
pub use event::{Access, Class, EventRecord, EventType, ModelEvent};
use lines::Lines;
pub use lines::{ModelLine, WiredLine};
pub use pri::{PageRequest, PageRequestError, PriResponse};
use walk::{
    Cd, Config, DescriptorAccess, Ids, Leaf, S2Config, Ste, WalkFault, decode_cd, decode_ste,
};

use crate::hw::DmaMemory;
use crate::hw::RegisterAccess;
use crate::hw::sim::SimMemory;

/// QEMU 10 `smmuv3` SMMU_IDR0: S1P, S2P, AArch64 tables, COHACC, ASID16, VMID16, 2-level
/// stream tables, little-endian tables, terminate only (no stall), TERM_MODEL.
pub const QEMU_IDR0: u32 = 0x0d44_101b;
/// QEMU 10 SMMU_IDR1: SIDSIZE 16, SSIDSIZE 0, EVENTQS 19, CMDQS 19.
pub const QEMU_IDR1: u32 = 0x0273_0010;
/// QEMU 10 SMMU_IDR3: HAD, XNX, RIL, BBML2.
pub const QEMU_IDR3: u32 = 0x1414;
/// QEMU 10 SMMU_IDR5: OAS 44 bits, 4K/16K/64K granules.
pub const QEMU_IDR5: u32 = 0x74;
/// SMMU_AIDR of an SMMUv3.1 (ArchMajorRev 0, ArchMinorRev 1).
pub const AIDR_V3_1: u32 = 0x01;

/// A full-featured SMMU_IDR0: everything in [`QEMU_IDR0`] plus HTTU (access flag and dirty
/// state), ATS, MSI, SEV, PRI, 2-level CD tables, and the stall model (stall and
/// terminate).
pub const FULL_IDR0: u32 = IDR0_S2P
    | IDR0_S1P
    | IDR0_TTF_AARCH64
    | IDR0_COHACC
    | 0b10 << IDR0_HTTU_SHIFT
    | IDR0_ATS
    | IDR0_ASID16
    | IDR0_MSI
    | IDR0_SEV
    | IDR0_PRI
    | IDR0_VMID16
    | IDR0_CD2L
    | IDR0_TTENDIAN_LE
    | IDR0_TERM_MODEL
    | IDR0_ST_LEVEL_2LVL;
/// A full-featured SMMU_IDR1: SIDSIZE 16, SSIDSIZE 20, PRIQS 19, EVENTQS 19, CMDQS 19.
pub const FULL_IDR1: u32 = 16 | 20 << 6 | 19 << 11 | 19 << 16 | 19 << 21;
/// A full-featured SMMU_IDR5: OAS 48 bits, 4K/16K/64K granules, STALL_MAX 16.
pub const FULL_IDR5: u32 = 0b101 | IDR5_GRAN4K | IDR5_GRAN16K | IDR5_GRAN64K | 16 << 16;

/// Identification registers of a modelled SMMU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SmmuConfig {
    /// SMMU_IDR0..SMMU_IDR5.
    pub idr: [u32; 6],
    pub iidr: u32,
    pub aidr: u32,
}

impl SmmuConfig {
    /// The SMMU QEMU 10 emulates on the `virt` machine (docs/qemu-iommu.md).
    pub const fn qemu() -> Self {
        Self {
            idr: [QEMU_IDR0, QEMU_IDR1, 0, QEMU_IDR3, 0, QEMU_IDR5],
            iidr: 0,
            aidr: AIDR_V3_1,
        }
    }

    /// A full-featured SMMUv3.1: substreams (SSIDSIZE 20, 2-level CD tables), PRI, stall
    /// model, ATS, MSI, HTTU, range invalidation, 48-bit OAS.
    pub const fn full() -> Self {
        Self {
            idr: [FULL_IDR0, FULL_IDR1, 0, QEMU_IDR3, 0, FULL_IDR5],
            iidr: 0,
            aidr: AIDR_V3_1,
        }
    }
}

/// Hardware errors a test can make happen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InjectedError {
    /// The next command is rejected with CERROR_ILL.
    CommandIllegal,
    /// The next command fetch aborts: CERROR_ABT.
    CommandAbort,
    /// The next CMD_ATC_INV times out: the following CMD_SYNC fails with
    /// CERROR_ATC_INV_SYNC.
    AtcInvTimeout,
}

/// Interrupts the SMMU signalled.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IrqCounts {
    /// GERROR interrupts (with IRQ_CTRL.GERROR_IRQEN).
    pub gerror: usize,
    /// Event queue interrupts (with IRQ_CTRL.EVENTQ_IRQEN), one per record written.
    pub eventq: usize,
    /// PRI queue interrupts (with IRQ_CTRL.PRIQ_IRQEN), one per request written.
    pub priq: usize,
    /// CMD_SYNC completions with CS == SIG_IRQ.
    pub cmd_sync: usize,
    /// CMD_SYNC completions with CS == SIG_SEV.
    pub sev: usize,
    /// MSI writes made (CMD_SYNC MSIs and queue/GERROR MSIs through IRQ_CFG0/1).
    pub msi_writes: usize,
}

/// A transaction stalled on a fault, waiting for CMD_RESUME (§3.12.2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StalledTransaction {
    pub stag: u16,
    pub sid: u32,
    pub ssid: Option<u32>,
    pub iova: u64,
    pub access: Access,
    /// The data of a stalled write, or the length of a stalled read.
    pub data: StalledData,
    pub event: ModelEvent,
}

/// What a stalled transaction carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StalledData {
    Write(Vec<u8>),
    Read(usize),
}

/// How a stalled transaction ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ResumeOutcome {
    /// Retried and completed: a read returns its data.
    Completed { stag: u16, read: Option<Vec<u8>> },
    /// Retried and faulted again (possibly stalling again with a new STAG).
    Faulted { stag: u16, event: ModelEvent },
    /// Terminated (CMD_RESUME with Ac == 0, or CMD_STALL_TERM).
    Terminated { stag: u16, abort: bool },
}

#[derive(Clone, Copy, Debug, Default)]
struct Queue {
    base: u64,
    prod: u32,
    cons: u32,
}

/// `x` advanced by one entry in a queue of 2^n entries: index and wrap bit move together,
/// bits above (OVFLG) stay.
fn advance(x: u32, n: u32) -> u32 {
    let wrap_mask = (2u32 << n) - 1;
    (x & !wrap_mask) | (x.wrapping_add(1) & wrap_mask)
}

fn queue_empty(prod: u32, cons: u32, n: u32) -> bool {
    (prod ^ cons) & ((2u32 << n) - 1) == 0
}

fn queue_full(prod: u32, cons: u32, n: u32) -> bool {
    (prod ^ cons) & ((2u32 << n) - 1) == 1 << n
}

#[derive(Clone, Copy, Debug)]
struct TlbEntry {
    /// A stage-2 (IPA → PA) entry; otherwise stage 1 (VA → IPA or PA).
    s2: bool,
    vmid: u16,
    asid: u16,
    page: u64,
    leaf: Leaf,
}

impl TlbEntry {
    fn contains(&self, addr: u64) -> bool {
        addr >> self.leaf.size_log2 == self.page >> self.leaf.size_log2
    }

    /// Whether a TLBI by address or range reaches this entry. With a
    /// non-zero TG only entries inserted with that granule must go
    /// (§4.4.1.1); the model keeps the others, so a caller that names the
    /// wrong granule sees stale translations.
    fn hit_by(&self, addr: &TlbiAddress) -> bool {
        if let Some((g, _, _)) = addr.range
            && g != self.leaf.granule_log2
        {
            return false;
        }
        let (start, end) = addr.bounds();
        let size = 1u64 << self.leaf.size_log2;
        self.page < end && start < self.page + size
    }
}

/// Physical memory as the SMMU's bus sees it, with externally aborting ranges.
struct Bus<'a> {
    mem: &'a SimMemory,
    aborts: &'a [Range<u64>],
}

impl Bus<'_> {
    fn read64(&self, pa: u64) -> Option<u64> {
        if self.aborts.iter().any(|r| r.contains(&pa)) {
            None
        } else {
            Some(self.mem.read64(pa))
        }
    }
}

/// Why a translation stopped.
enum Stop {
    /// Terminated without an event.
    Abort,
    Fault {
        f: WalkFault,
        record: bool,
        stall: bool,
    },
}

/// Applies the recording and stall rules (CD.R, CD.S, STE.S1STALLD, STE.S2R, STE.S2S) to a
/// fault: only translation-related faults may be suppressed or stall.
fn classify(f: WalkFault, s1: Option<(bool, bool)>, s2: Option<(bool, bool)>) -> Stop {
    let (record, stall) = if !f.event.is_translation_related() {
        (true, false)
    } else if f.s2 {
        let (r, s) = s2.unwrap_or((true, false));
        (r, s && f.class != Class::Cd)
    } else {
        s1.unwrap_or((true, false))
    };
    Stop::Fault { f, record, stall }
}

#[derive(Debug)]
struct State {
    cfg: SmmuConfig,
    cr0: u32,
    cr0ack: u32,
    cr1: u32,
    cr2: u32,
    gbpa: u32,
    irq_ctrl: u32,
    irq_ctrlack: u32,
    gerror: u32,
    gerrorn: u32,
    strtab_base_cfg: u32,
    cmdq: Queue,
    cmdq_err: u32,
    eventq: Queue,
    priq: Queue,
    regs64: BTreeMap<usize, u64>,
    other: BTreeMap<usize, u32>,
    ste_cache: BTreeMap<u32, Ste>,
    cd_cache: BTreeMap<(u32, u32), Cd>,
    tlb: Vec<TlbEntry>,
    log: Vec<Command>,
    counts: CommandCounts,
    faults: Vec<ModelEvent>,
    irqs: IrqCounts,
    lines: Lines,
    injected: Vec<InjectedError>,
    ignore_cr0: bool,
    atc_timed_out: bool,
    pri_responses: Vec<PriResponse>,
    stalls: Vec<StalledTransaction>,
    next_stag: u16,
    outcomes: Vec<ResumeOutcome>,
    bad_accesses: usize,
}

/// An SMMUv3 over simulated memory. See the [module documentation](self).
#[derive(Debug)]
pub struct SmmuModel {
    mem: Rc<SimMemory>,
    state: RefCell<State>,
    aborts: RefCell<Vec<Range<u64>>>,
}

impl SmmuModel {
    /// An SMMU with these identification registers, registers at reset (GBPA bypass with
    /// incoming shareability, everything disabled), all caches empty, reading and writing
    /// `mem`.
    pub fn new(mem: Rc<SimMemory>, cfg: SmmuConfig) -> Self {
        Self {
            mem,
            state: RefCell::new(State {
                cfg,
                cr0: 0,
                cr0ack: 0,
                cr1: 0,
                cr2: 0,
                // SHCFG = 0b01 (use incoming), ABORT = 0.
                gbpa: 1 << 12,
                irq_ctrl: 0,
                irq_ctrlack: 0,
                gerror: 0,
                gerrorn: 0,
                strtab_base_cfg: 0,
                cmdq: Queue::default(),
                cmdq_err: 0,
                eventq: Queue::default(),
                priq: Queue::default(),
                regs64: BTreeMap::new(),
                other: BTreeMap::new(),
                ste_cache: BTreeMap::new(),
                cd_cache: BTreeMap::new(),
                tlb: Vec::new(),
                log: Vec::new(),
                counts: CommandCounts::default(),
                faults: Vec::new(),
                irqs: IrqCounts::default(),
                lines: Lines::default(),
                injected: Vec::new(),
                ignore_cr0: false,
                atc_timed_out: false,
                pri_responses: Vec::new(),
                stalls: Vec::new(),
                next_stag: 0,
                outcomes: Vec::new(),
                bad_accesses: 0,
            }),
            aborts: RefCell::new(Vec::new()),
        }
    }

    /// The memory the SMMU reads and writes.
    pub fn memory(&self) -> &Rc<SimMemory> {
        &self.mem
    }

    /// The identification registers.
    pub fn config(&self) -> SmmuConfig {
        self.state.borrow().cfg
    }

    fn with<R>(&self, f: impl FnOnce(&mut State, &Bus<'_>) -> R) -> R {
        let aborts = self.aborts.borrow();
        let bus = Bus {
            mem: &self.mem,
            aborts: &aborts,
        };
        f(&mut self.state.borrow_mut(), &bus)
    }

    /// A DMA read of `buf.len()` bytes at `iova` by StreamID `sid` (with SubstreamID `ssid`),
    /// translated page by page through the caches. On a fault nothing is read and the event
    /// is returned (and recorded per the STE/CD); a stalled read stays pending until
    /// CMD_RESUME and its data then appears in [`resume_outcomes`](Self::resume_outcomes).
    pub fn dma_read(
        &self,
        sid: u32,
        ssid: Option<u32>,
        iova: u64,
        buf: &mut [u8],
    ) -> Result<(), ModelEvent> {
        self.with(|s, bus| s.dma(bus, sid, ssid, iova, Dma::Read(buf)))
    }

    /// A DMA write of `data` at `iova`; on a fault no byte is written.
    pub fn dma_write(
        &self,
        sid: u32,
        ssid: Option<u32>,
        iova: u64,
        data: &[u8],
    ) -> Result<(), ModelEvent> {
        self.with(|s, bus| s.dma(bus, sid, ssid, iova, Dma::Write(data)))
    }

    /// Translates one address as a DMA of `access` would (filling caches, recording the
    /// event), without accessing data and without stalling.
    pub fn translate(
        &self,
        sid: u32,
        ssid: Option<u32>,
        iova: u64,
        access: Access,
    ) -> Result<u64, ModelEvent> {
        self.with(|s, bus| {
            s.translate(bus, sid, ssid, iova, access)
                .map_err(|stop| s.report(bus, stop, sid, ssid, iova, access, false))
        })
    }

    /// Writes a page request into the PRI queue (§8.1) and advances PRIQ_PROD.
    pub fn inject_page_request(&self, req: &PageRequest) -> Result<(), PageRequestError> {
        self.with(|s, bus| s.page_request(bus, req))
    }

    /// Arms an error for the next matching operation.
    pub fn inject(&self, error: InjectedError) {
        self.state.borrow_mut().injected.push(error);
    }

    /// While `ignore` holds, CR0 writes do not reach CR0ACK (so a driver's poll times out).
    pub fn set_ignore_cr0(&self, ignore: bool) {
        self.state.borrow_mut().ignore_cr0 = ignore;
    }

    /// Reads by the SMMU from `range` (physical), and event record writes to it, abort
    /// from now on.
    pub fn add_external_abort(&self, range: Range<u64>) {
        self.aborts.borrow_mut().push(range);
    }

    /// Removes every external-abort range.
    pub fn clear_external_aborts(&self) {
        self.aborts.borrow_mut().clear();
    }

    /// Fills the event queue with F_TRANSLATION records for StreamID `sid` until it is full
    /// (the queue must be enabled); returns how many were written.
    pub fn fill_event_queue(&self, sid: u32) -> usize {
        self.with(|s, bus| {
            let mut n = 0;
            let n_max = s.eventq_log2();
            while s.cr0ack & CR0_EVENTQEN != 0 && !queue_full(s.eventq.prod, s.eventq.cons, n_max) {
                let ev = ModelEvent {
                    event: Some(EventType::FTranslation),
                    sid,
                    ssid: None,
                    addr: 0,
                    access: Access::Read,
                    s2: false,
                    class: Class::In,
                    ipa: 0,
                    fetch_addr: 0,
                    stag: None,
                    recorded: true,
                };
                s.push_event(bus, &ev);
                n += 1;
            }
            n
        })
    }

    /// The records between EVENTQ_CONS and EVENTQ_PROD, oldest first (not consumed).
    pub fn event_records(&self) -> Vec<EventRecord> {
        let s = self.state.borrow();
        let n = s.eventq_log2();
        let base = s.eventq.base & Q_BASE_ADDR;
        let mut out = Vec::new();
        let mut cons = s.eventq.cons;
        while !queue_empty(s.eventq.prod, cons, n) {
            let at = base + u64::from(cons & ((1 << n) - 1)) * EVENT_SIZE;
            let w = core::array::from_fn(|i| self.mem.read64(at + 8 * i as u64));
            out.push(EventRecord::decode(w));
            cons = advance(cons, n);
        }
        out
    }

    /// Every command consumed so far, decoded.
    pub fn command_log(&self) -> Vec<Command> {
        self.state.borrow().log.clone()
    }

    /// Commands consumed so far, per type.
    pub fn counts(&self) -> CommandCounts {
        self.state.borrow().counts
    }

    /// Clears the command log and counters (not the caches).
    pub fn reset_log(&self) {
        let mut s = self.state.borrow_mut();
        s.log.clear();
        s.counts = CommandCounts::default();
    }

    /// Every DMA that did not complete, recorded or not, in order.
    pub fn faults(&self) -> Vec<ModelEvent> {
        self.state.borrow().faults.clone()
    }

    /// A wired interrupt output, for a driver to wait on.
    pub fn wired_line(&self, line: WiredLine) -> ModelLine {
        self.state.borrow().lines.get(line)
    }

    /// Interrupts signalled so far.
    pub fn irqs(&self) -> IrqCounts {
        self.state.borrow().irqs
    }

    /// PRI responses consumed, in order.
    pub fn pri_responses(&self) -> Vec<PriResponse> {
        self.state.borrow().pri_responses.clone()
    }

    /// Transactions stalled and not yet resumed or terminated.
    pub fn pending_stalls(&self) -> Vec<StalledTransaction> {
        self.state.borrow().stalls.clone()
    }

    /// How resumed or terminated stalls ended, in order.
    pub fn resume_outcomes(&self) -> Vec<ResumeOutcome> {
        self.state.borrow().outcomes.clone()
    }

    /// Entries in the STE cache, the CD cache and the TLB.
    pub fn cache_sizes(&self) -> (usize, usize, usize) {
        let s = self.state.borrow();
        (s.ste_cache.len(), s.cd_cache.len(), s.tlb.len())
    }

    /// Register accesses the architecture does not allow (a 64-bit access to a 32-bit
    /// register, an offset outside the register space).
    pub fn bad_accesses(&self) -> usize {
        self.state.borrow().bad_accesses
    }
}

/// A DMA in flight.
enum Dma<'a> {
    Read(&'a mut [u8]),
    Write(&'a [u8]),
}

/// Stage-1 descriptor fetches: through stage 2 when nested (Class TT faults).
struct S1Access<'s, 'b> {
    state: &'s mut State,
    bus: &'s Bus<'b>,
    s2: Option<S2Config>,
    vmid: u16,
}

impl DescriptorAccess for S1Access<'_, '_> {
    fn locate(&mut self, addr: u64) -> Result<u64, WalkFault> {
        match self.s2 {
            Some(c) => self
                .state
                .stage2(self.bus, &c, self.vmid, addr, Access::Read, Class::Tt),
            None => Ok(addr),
        }
    }
    fn read(&mut self, pa: u64) -> Option<u64> {
        self.bus.read64(pa)
    }
    fn write(&mut self, pa: u64, value: u64) {
        self.bus.mem.write64(pa, value);
    }
}

/// Stage-2 descriptor fetches: physical.
struct S2Access<'s, 'b> {
    bus: &'s Bus<'b>,
}

impl DescriptorAccess for S2Access<'_, '_> {
    fn locate(&mut self, addr: u64) -> Result<u64, WalkFault> {
        Ok(addr)
    }
    fn read(&mut self, pa: u64) -> Option<u64> {
        self.bus.read64(pa)
    }
    fn write(&mut self, pa: u64, value: u64) {
        self.bus.mem.write64(pa, value);
    }
}

impl State {
    fn ids(&self) -> Ids {
        Ids {
            idr0: self.cfg.idr[0],
            idr1: self.cfg.idr[1],
            idr3: self.cfg.idr[3],
            idr5: self.cfg.idr[5],
        }
    }

    fn has(&self, idr0_bit: u32) -> bool {
        self.cfg.idr[0] & idr0_bit != 0
    }

    fn vmid_mask(&self) -> u16 {
        if !self.has(IDR0_S2P) {
            0
        } else if self.has(IDR0_VMID16) {
            0xffff
        } else {
            0xff
        }
    }

    fn asid_mask(&self) -> u16 {
        if self.has(IDR0_ASID16) { 0xffff } else { 0xff }
    }

    fn cmdq_log2(&self) -> u32 {
        ((self.cmdq.base & 0x1f) as u32).min(idr1_cmdqs(self.cfg.idr[1]))
    }

    fn eventq_log2(&self) -> u32 {
        ((self.eventq.base & 0x1f) as u32).min(idr1_eventqs(self.cfg.idr[1]))
    }

    fn priq_log2(&self) -> u32 {
        ((self.priq.base & 0x1f) as u32).min(idr1_priqs(self.cfg.idr[1]))
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
}

/// Maps an offset to its page 0 register: page 1 holds only the queue PROD/CONS registers.
fn normalize(offset: usize) -> Option<usize> {
    if offset >= WINDOW {
        return None;
    }
    if offset < PAGE1 {
        return Some(offset);
    }
    match offset - PAGE1 {
        o @ (EVENTQ_PROD | EVENTQ_CONS | PRIQ_PROD | PRIQ_CONS) => Some(o),
        _ => None,
    }
}

impl RegisterAccess for SmmuModel {
    fn read32(&self, offset: usize) -> u32 {
        let mut s = self.state.borrow_mut();
        let Some(off) = normalize(offset) else {
            s.bad_accesses += 1;
            return u32::MAX;
        };
        let base = off & !7;
        if REGS64.contains(&base) {
            (s.read64_reg(base) >> (8 * (off & 4))) as u32
        } else {
            s.read32_reg(off)
        }
    }

    fn write32(&self, offset: usize, value: u32) {
        let Some(off) = normalize(offset) else {
            self.state.borrow_mut().bad_accesses += 1;
            return;
        };
        self.with(|s, bus| {
            let base = off & !7;
            if REGS64.contains(&base) {
                let shift = 8 * (off & 4);
                let old = s.read64_reg(base);
                let merged = (old & !(0xffff_ffffu64 << shift)) | u64::from(value) << shift;
                s.write64_reg(base, merged);
            } else {
                s.write32_reg(bus, off, value);
            }
        })
    }

    fn read64(&self, offset: usize) -> u64 {
        let mut s = self.state.borrow_mut();
        match normalize(offset) {
            Some(off) if REGS64.contains(&off) => s.read64_reg(off),
            _ => {
                s.bad_accesses += 1;
                u64::MAX
            }
        }
    }

    fn write64(&self, offset: usize, value: u64) {
        let mut s = self.state.borrow_mut();
        match normalize(offset) {
            Some(off) if REGS64.contains(&off) => s.write64_reg(off, value),
            _ => s.bad_accesses += 1,
        }
    }
}
