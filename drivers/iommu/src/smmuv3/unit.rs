//! One SMMUv3: bring-up, stream tables (linear and 2-level), STE and CD
//! updates safe on live entries, the command queue with CMD_SYNC completion and
//! CMDQ_ERR recovery, the event queue and the PRI queue.
//!
//! Like the VT-d driver it reaches the SMMU only through [`RegisterAccess`]
//! (32-bit accesses except for the 64-bit base registers, §6.2), its tables and
//! queues through [`DmaMemory`], and bounds every wait with [`Clock`].

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use super::pagetable::{Granule, Invalidation, IovaRange, TlbiCommand, TlbiConfig, tlbi_commands};
use super::queue::{AddressRange, Command, Event, PageRequest, PriResponse, Ring, SyncSignal};
use super::regs::{
    AIDR, CMDQ_BASE, CMDQ_CONS, CMDQ_PROD, CR0, CR0ACK, CR1, CR2, EVENTQ_BASE, EVENTQ_CONS,
    EVENTQ_PROD, GERROR, GERRORN, Gerror, IDR0, IDR1, IDR2, IDR3, IDR4, IDR5, IIDR, IRQ_CTRL,
    IRQ_CTRLACK, Identification, IrqCtrl, PRIQ_BASE, PRIQ_CONS, PRIQ_PROD, STRTAB_BASE,
    STRTAB_BASE_CFG, StLevel, StallModel,
};
use super::structs::{INVALID_STE, L1Descriptor, Ste};
use crate::hw::{Clock, DmaMemory, InterruptLine, RegisterAccess, TimedOut, poll_until};

/// The limit on every wait.
pub const DEFAULT_TIMEOUT_NS: u64 = 100_000_000;

/// CR0 bits (§6.3.9).
const SMMUEN: u32 = 1 << 0;
const PRIQEN: u32 = 1 << 1;
const EVENTQEN: u32 = 1 << 2;
const CMDQEN: u32 = 1 << 3;
/// GERROR.CMDQ_ERR (§6.3.15).
const GERROR_CMDQ_ERR: u32 = 1 << 0;
/// CMDQ_CONS.ERR (bits 30:24) codes (§4.4.x, "CERROR_*").
pub const CERROR_ILL: u32 = 1;
pub const CERROR_ABT: u32 = 2;
pub const CERROR_ATC_INV_SYNC: u32 = 3;
/// Queue producer OVFLG / consumer OVACKFLG (bit 31).
const OVERFLOW: u32 = 1 << 31;
/// The queue sizes vsva uses: 2^8 commands, events and page requests.
const QUEUE_LOG2: u8 = 8;

/// Stream table shape (§3.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamTableFormat {
    /// One linear table of 2^sid_bits STEs.
    Linear { sid_bits: u8 },
    /// Level-1 descriptors, each for 2^split StreamIDs, level-2 tables made on
    /// demand.
    TwoLevel { sid_bits: u8, split: u8 },
}

/// What went wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmmuError {
    TimedOut(TimedOut),
    OutOfMemory,
    /// The SMMU lacks a feature (the IDR field name).
    Unsupported(&'static str),
    /// A StreamID beyond the stream table.
    BadStreamId(u32),
    /// A SubstreamID beyond the CD table (S1CDMax).
    BadSubstreamId(u32),
    /// CMDQ_ERR: the command at CONS was refused (CERROR code) and skipped.
    CommandError {
        code: u32,
        command: [u64; 2],
    },
    /// The command queue has no room.
    QueueFull,
    /// A CD table's memory could not be made reachable by the SMMU (its
    /// [`TableAddresses`](super::cd_table::TableAddresses) refused), or a
    /// placed table was used without its placement.
    TablePlacement,
}

impl From<TimedOut> for SmmuError {
    fn from(t: TimedOut) -> Self {
        SmmuError::TimedOut(t)
    }
}

/// Which TLB entries a page-table change stales.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TlbScope {
    /// A stage-1 table used with this ASID, under this VMID: 0 for a stream
    /// whose stage 2 is bypassed, the stage-2 VMID for a nested one (its
    /// stage-1 entries are tagged with both, §3.17, §4.4.2).
    Stage1 { vmid: u16, asid: u16 },
    /// Stage-1 tables of every ASID under this VMID (TLBI_NH_VAA /
    /// TLBI_NH_ALL): a guest's own CD table, whose ASIDs vsva does not know.
    Stage1AllAsids { vmid: u16 },
    /// A stage-2 table used with this VMID.
    Stage2 { vmid: u16 },
}

/// How the driver learns that a CMD_SYNC completed (§4.7.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyncCompletion {
    /// CS = SIG_IRQ with an MSI that writes a sequence number to memory.
    MsiWrite,
    /// CS = SIG_IRQ without an MSI: the `cmdq-sync` wired interrupt, counted
    /// by the interrupt controller's driver.
    WiredInterrupt,
    /// CS = SIG_NONE; CMDQ_CONS is polled until it passes the sync.
    ConsumerIndex,
}

/// One SMMUv3.
#[derive(Debug)]
pub struct Smmu<R, M, C> {
    regs: R,
    pub(super) memory: M,
    clock: C,
    pub id: Identification,
    format: StreamTableFormat,
    stream_table: u64,
    /// Level-1 index -> level-2 table (2-level format).
    l2: BTreeMap<u32, u64>,
    cmdq: Ring,
    cmd_prod: u32,
    eventq: Ring,
    priq: Option<Ring>,
    /// With IDR0.MSI: the word each CMD_SYNC writes its sequence number to on
    /// completion (CS = SIG_IRQ with an MSI to memory, §4.7.3), polled instead
    /// of CMDQ_CONS.
    sync_word: Option<u64>,
    sync_seq: u32,
    /// The `cmdq-sync` wired interrupt, when completion is awaited on it.
    sync_line: Option<Box<dyn InterruptLine>>,
    timeout_ns: u64,
}

impl<R: RegisterAccess, M: DmaMemory, C: Clock> Smmu<R, M, C> {
    /// Brings the SMMU up (§3.x "Initialization"): disabled, tables and queues
    /// programmed, every STE invalid (all streams abort with C_BAD_STE),
    /// configuration and TLBs invalidated, then SMMUEN.
    pub fn new(regs: R, memory: M, clock: C, format: StreamTableFormat) -> Result<Self, SmmuError> {
        let mut raw = [0u32; 8];
        for (v, off) in raw
            .iter_mut()
            .zip([IDR0, IDR1, IDR2, IDR3, IDR4, IDR5, IIDR, AIDR])
        {
            *v = regs.read32(off);
        }
        let id = Identification::from_raw(raw);
        let sid_bits = match format {
            StreamTableFormat::Linear { sid_bits }
            | StreamTableFormat::TwoLevel { sid_bits, .. } => sid_bits,
        };
        if sid_bits > id.idr1.sidsize() {
            return Err(SmmuError::Unsupported("IDR1.SIDSIZE"));
        }
        let cmdq = Ring::new(&memory, QUEUE_LOG2.min(id.idr1.cmdqs()), 16)
            .ok_or(SmmuError::OutOfMemory)?;
        let eventq = Ring::new(&memory, QUEUE_LOG2.min(id.idr1.eventqs()), 32)
            .ok_or(SmmuError::OutOfMemory)?;
        let priq = if id.idr0.pri() {
            Some(
                Ring::new(&memory, QUEUE_LOG2.min(id.idr1.priqs()), 16)
                    .ok_or(SmmuError::OutOfMemory)?,
            )
        } else {
            None
        };
        let (stream_table, cfg) = match format {
            StreamTableFormat::Linear { sid_bits } => {
                let bytes = (1u64 << sid_bits) * 64;
                let pages = bytes.div_ceil(4096).next_power_of_two() as usize;
                let t = memory.alloc_pages(pages).ok_or(SmmuError::OutOfMemory)?;
                (t, u64::from(sid_bits))
            }
            StreamTableFormat::TwoLevel { sid_bits, split } => {
                if !matches!(id.idr0.st_level(), StLevel::TwoLevel) {
                    return Err(SmmuError::Unsupported("IDR0.ST_LEVEL"));
                }
                let l1 = 1u64 << sid_bits.saturating_sub(split);
                let pages = (l1 * 8).div_ceil(4096).next_power_of_two() as usize;
                let t = memory.alloc_pages(pages).ok_or(SmmuError::OutOfMemory)?;
                (t, u64::from(sid_bits) | (u64::from(split) << 6) | (1 << 16))
            }
        };
        let mut smmu = Self {
            regs,
            memory,
            clock,
            id,
            format,
            stream_table,
            l2: BTreeMap::new(),
            cmdq,
            cmd_prod: 0,
            eventq,
            priq,
            sync_word: None,
            sync_seq: 0,
            sync_line: None,
            timeout_ns: DEFAULT_TIMEOUT_NS,
        };
        if id.idr0.msi() {
            smmu.sync_word = Some(smmu.memory.alloc_pages(1).ok_or(SmmuError::OutOfMemory)?);
        }
        smmu.write_cr0(0)?;
        // CR1: queues and tables write-back cacheable, inner shareable (§6.3.10).
        smmu.regs.write32(
            CR1,
            1 | (1 << 2) | (3 << 4) | (1 << 6) | (1 << 8) | (3 << 10),
        );
        // CR2: record events for invalid StreamIDs (RECINVSID), PTM.
        smmu.regs.write32(CR2, (1 << 1) | (1 << 2));
        smmu.regs.write64(
            STRTAB_BASE,
            (1 << 62) | (stream_table & 0x000f_ffff_ffff_ffc0),
        );
        smmu.regs.write32(STRTAB_BASE_CFG, cfg as u32);
        smmu.regs.write64(CMDQ_BASE, smmu.cmdq.base_register());
        smmu.regs.write32(CMDQ_PROD, 0);
        smmu.regs.write32(CMDQ_CONS, 0);
        smmu.write_cr0(CMDQEN)?;
        smmu.submit(&[
            Command::CfgiSteRange { sid: 0, range: 31 },
            Command::TlbiNsnhAll,
        ])?;
        smmu.regs.write64(EVENTQ_BASE, smmu.eventq.base_register());
        smmu.regs.write32(EVENTQ_PROD, 0);
        smmu.regs.write32(EVENTQ_CONS, 0);
        let mut enables = CMDQEN | EVENTQEN;
        if let Some(priq) = &smmu.priq {
            smmu.regs.write64(PRIQ_BASE, priq.base_register());
            smmu.regs.write32(PRIQ_PROD, 0);
            smmu.regs.write32(PRIQ_CONS, 0);
            enables |= PRIQEN;
        }
        smmu.write_cr0(enables)?;
        smmu.write_cr0(enables | SMMUEN)?;
        Ok(smmu)
    }

    pub fn format(&self) -> StreamTableFormat {
        self.format
    }

    pub fn memory(&self) -> &M {
        &self.memory
    }

    pub fn registers(&self) -> &R {
        &self.regs
    }

    /// CR0 with the CR0ACK handshake (§6.3.9).
    fn write_cr0(&mut self, value: u32) -> Result<(), SmmuError> {
        self.regs.write32(CR0, value);
        let regs = &self.regs;
        poll_until(&self.clock, self.timeout_ns, "CR0ACK", || {
            regs.read32(CR0ACK) == value
        })?;
        Ok(())
    }

    /// How CMD_SYNC completion is observed: on the wired interrupt when one
    /// was given, else by its MSI write to memory when IDR0.MSI, else by
    /// polling CMDQ_CONS.
    pub fn sync_completion(&self) -> SyncCompletion {
        match (&self.sync_line, self.sync_word) {
            (Some(_), _) => SyncCompletion::WiredInterrupt,
            (None, Some(_)) => SyncCompletion::MsiWrite,
            (None, None) => SyncCompletion::ConsumerIndex,
        }
    }

    /// Awaits CMD_SYNC completion on `line`, the SMMU's `cmdq-sync` wired
    /// interrupt (firmware names it; §3.18 lists the SMMU's wired interrupt
    /// sources), or goes back to the MSI / polling completion with `None`.
    /// The line must already be routed and enabled at the interrupt controller.
    pub fn use_sync_interrupt(&mut self, line: Option<Box<dyn InterruptLine>>) {
        self.sync_line = line;
    }

    /// Sets IRQ_CTRL (the event queue, PRI queue and GERROR interrupt enables)
    /// and waits for IRQ_CTRLACK to match (§6.3.16, §6.3.17). The lines must be
    /// routed at the interrupt controller (wired) or IRQ_CFGn set (MSI).
    pub fn enable_interrupts(&mut self, enables: IrqCtrl) -> Result<(), SmmuError> {
        let value = enables.bits();
        self.regs.write32(IRQ_CTRL, value);
        let regs = &self.regs;
        poll_until(&self.clock, self.timeout_ns, "IRQ_CTRLACK", || {
            regs.read32(IRQ_CTRLACK) == value
        })?;
        Ok(())
    }

    /// Writes `commands` and a CMD_SYNC, publishes CMDQ_PROD and waits for the
    /// sync to complete (§4.7.3): its MSI write of the sequence number to
    /// `sync_word` where the SMMU has MSIs, else CMDQ_CONS passing it. A refused
    /// command (GERROR.CMDQ_ERR) is replaced by a no-op sync so the queue goes
    /// on, acknowledged, and reported.
    pub fn submit(&mut self, commands: &[Command]) -> Result<(), SmmuError> {
        let cons = self.regs.read32(CMDQ_CONS) & !(0x7f << 24);
        if self.cmdq.space(self.cmd_prod, cons) < commands.len() as u32 + 1 {
            return Err(SmmuError::QueueFull);
        }
        self.sync_seq = self.sync_seq.wrapping_add(1);
        let seq = self.sync_seq;
        let irqs_before = self.sync_line.as_ref().map(|line| line.count());
        let signal = match (irqs_before, self.sync_word) {
            (Some(_), _) => SyncSignal::WiredIrq,
            (None, Some(address)) => SyncSignal::Msi { address, data: seq },
            (None, None) => SyncSignal::None,
        };
        let sync = Command::Sync { signal };
        for command in commands.iter().chain(core::iter::once(&sync)) {
            let words = command.encode();
            let slot = self.cmdq.slot(self.cmd_prod);
            self.memory.write64(slot, words[0]);
            self.memory.write64(slot + 8, words[1]);
            self.cmd_prod = self.cmdq.next(self.cmd_prod);
        }
        self.memory.publish();
        self.regs.write32(CMDQ_PROD, self.cmd_prod);
        let target = self.cmd_prod;
        let (regs, ring, memory, word) = (&self.regs, &self.cmdq, &self.memory, self.sync_word);
        let line = self.sync_line.as_deref();
        let mut error = false;
        let waited = poll_until(&self.clock, self.timeout_ns, "CMD_SYNC completion", || {
            let gerror = regs.read32(GERROR) ^ regs.read32(GERRORN);
            if gerror & GERROR_CMDQ_ERR != 0 {
                error = true;
                return true;
            }
            match (line.zip(irqs_before), word) {
                // Submissions are serialised by `&mut self`, so an interrupt
                // after publishing is this sync's, or a late one of a sync
                // abandoned after a command error: CONS tells them apart.
                (Some((line, before)), _) => {
                    line.count() != before
                        && ring.empty(target, regs.read32(CMDQ_CONS) & !(0x7f << 24))
                }
                // The MSI payload is 32 bits, little-endian at the word's address.
                (None, Some(word)) => memory.read64(word) as u32 == seq,
                (None, None) => ring.empty(target, regs.read32(CMDQ_CONS) & !(0x7f << 24)),
            }
        });
        if error {
            return Err(self.recover_command_error());
        }
        waited?;
        Ok(())
    }

    /// CMDQ_ERR (§4.4.4.x): the command at CONS is overwritten with CMD_SYNC,
    /// the error acknowledged by toggling GERRORN.CMDQ_ERR, and the SMMU resumes.
    fn recover_command_error(&mut self) -> SmmuError {
        let cons = self.regs.read32(CMDQ_CONS);
        let code = (cons >> 24) & 0x7f;
        let slot = self.cmdq.slot(cons & !(0x7f << 24));
        let command = [self.memory.read64(slot), self.memory.read64(slot + 8)];
        let sync = Command::Sync {
            signal: SyncSignal::None,
        }
        .encode();
        self.memory.write64(slot, sync[0]);
        self.memory.write64(slot + 8, sync[1]);
        self.memory.publish();
        let gerrorn = self.regs.read32(GERRORN);
        self.regs.write32(GERRORN, gerrorn ^ GERROR_CMDQ_ERR);
        SmmuError::CommandError { code, command }
    }

    /// Address of `sid`'s STE, creating its level-2 table on demand.
    fn ste_address(&mut self, sid: u32) -> Result<u64, SmmuError> {
        match self.format {
            StreamTableFormat::Linear { sid_bits } => {
                if u64::from(sid) >= 1u64 << sid_bits {
                    return Err(SmmuError::BadStreamId(sid));
                }
                Ok(self.stream_table + u64::from(sid) * 64)
            }
            StreamTableFormat::TwoLevel { sid_bits, split } => {
                if u64::from(sid) >= 1u64 << sid_bits {
                    return Err(SmmuError::BadStreamId(sid));
                }
                let l1 = sid >> split;
                let table = match self.l2.get(&l1) {
                    Some(&t) => t,
                    None => {
                        let bytes = (1u64 << split) * 64;
                        let pages = bytes.div_ceil(4096).next_power_of_two() as usize;
                        let t = self
                            .memory
                            .alloc_pages(pages)
                            .ok_or(SmmuError::OutOfMemory)?;
                        // Fresh STEs are all invalid (zero); SPAN = split + 1.
                        let desc = L1Descriptor {
                            span: split + 1,
                            table: t,
                        };
                        self.memory
                            .write64(self.stream_table + u64::from(l1) * 8, desc.encode());
                        self.memory.publish();
                        self.l2.insert(l1, t);
                        self.submit(&[Command::CfgiSte { sid, leaf: false }])?;
                        t
                    }
                };
                Ok(table + u64::from(sid & ((1 << split) - 1)) * 64)
            }
        }
    }

    /// Writes an entry of 8 words at `at` that the SMMU may be using, then the
    /// invalidation `cfgi` (§3.21 "Structure access rules and update
    /// procedures"): when at most one word changes the update is hitless; else
    /// the entry is made invalid first (valid bit in word 0, `valid_bit`),
    /// invalidated, rewritten, and made valid last.
    pub(super) fn update_entry(
        &mut self,
        at: u64,
        new: &[u64; 8],
        valid_bit: u64,
        cfgi: Command,
    ) -> Result<(), SmmuError> {
        let old: Vec<u64> = (0..8).map(|i| self.memory.read64(at + 8 * i)).collect();
        let changed: Vec<usize> = (0..8).filter(|&i| old[i] != new[i]).collect();
        let live = old[0] & valid_bit != 0;
        if changed.is_empty() {
            return Ok(());
        }
        if live && changed.len() > 1 {
            self.memory.write64(at, old[0] & !valid_bit);
            self.memory.publish();
            self.submit(&[cfgi])?;
        }
        for i in (1..8).filter(|i| changed.contains(i)) {
            self.memory.write64(at + 8 * i as u64, new[i]);
        }
        self.memory.publish();
        self.memory.write64(at, new[0]);
        self.memory.publish();
        self.submit(&[cfgi])
    }

    /// Sets `sid`'s STE.
    pub fn set_ste(&mut self, sid: u32, ste: &Ste) -> Result<(), SmmuError> {
        let at = self.ste_address(sid)?;
        self.update_entry(at, &ste.encode(), 1, Command::CfgiSte { sid, leaf: true })
    }

    /// Makes `sid`'s STE invalid: its transactions are terminated.
    pub fn clear_ste(&mut self, sid: u32) -> Result<(), SmmuError> {
        if let StreamTableFormat::TwoLevel { sid_bits, split } = self.format
            && u64::from(sid) < 1u64 << sid_bits
            && !self.l2.contains_key(&(sid >> split))
        {
            // No level-2 table: its L1 descriptor is invalid, the stream
            // is terminated already and nothing of it can be cached. (Not
            // making one here keeps the cleanup of a failed allocation
            // from allocating.)
            return Ok(());
        }
        let at = self.ste_address(sid)?;
        self.update_entry(at, &INVALID_STE, 1, Command::CfgiSte { sid, leaf: true })
    }

    /// Invalidates stage-1 TLB entries of `asid` under `vmid` (TLBI_NH_ASID,
    /// §4.4.2): VMID 0 for streams whose stage 2 is bypassed, the STE's
    /// S2VMID for nested ones, whose stage-1 entries carry that VMID.
    pub fn invalidate_asid(&mut self, vmid: u16, asid: u16) -> Result<(), SmmuError> {
        self.submit(&[Command::TlbiNhAsid { vmid, asid }])
    }

    /// Invalidates stage-2 (and nested) TLB entries of `vmid` (TLBI_S12_VMALL).
    pub fn invalidate_vmid(&mut self, vmid: u16) -> Result<(), SmmuError> {
        self.submit(&[Command::TlbiS12Vmall { vmid }])
    }

    /// Carries out a page-table change (see [`Invalidation`]): TLBI by range
    /// (IDR3.RIL) or by address, or the whole ASID / VMID when that is cheaper,
    /// for the stage `scope` names; then frees the tables the change unlinked.
    pub fn apply(
        &mut self,
        scope: TlbScope,
        granule: Granule,
        change: Invalidation,
    ) -> Result<(), SmmuError> {
        let mut commands = self.tlbi(scope, Some(granule), change.ranges(), change.leaf_only());
        // A stage-2 change also stales combined (nested stage 1 + 2) entries of
        // the VMID, which TLBI_S2_IPA does not reach: TLBI_NH_ALL for the VMID.
        if let TlbScope::Stage2 { vmid } = scope
            && !commands.is_empty()
        {
            commands.push(Command::TlbiNhAll { vmid });
        }
        for chunk in commands.chunks(32) {
            self.submit(chunk)?;
        }
        change.finish(&self.memory);
        Ok(())
    }

    /// The TLBI commands for `ranges` (granule-aligned) of a table of
    /// `scope` (§4.4): by range where IDR3.RIL, by address otherwise, or the
    /// whole ASID / VMID where that is fewer commands. `granule` is the
    /// table's; `None` where it is not known (a guest's CDs): by address,
    /// 4 KiB apart, since a command with TG set need only invalidate
    /// entries of that granule (§4.4.1.1).
    pub fn tlbi(
        &self,
        scope: TlbScope,
        granule: Option<Granule>,
        ranges: &[IovaRange],
        leaf: bool,
    ) -> Vec<Command> {
        let config = match granule {
            Some(granule) => TlbiConfig::new(granule, self.id.idr3),
            None => TlbiConfig {
                ril: false,
                ..TlbiConfig::new(Granule::Size4K, self.id.idr3)
            },
        };
        tlbi_commands(ranges, leaf, config)
            .into_iter()
            .map(|c| match c {
                TlbiCommand::Va(va) => {
                    let range = AddressRange {
                        address: va.addr,
                        tg: va.tg,
                        num: va.num,
                        scale: va.scale,
                        leaf: va.leaf,
                    };
                    match scope {
                        TlbScope::Stage1 { vmid, asid } => Command::TlbiNhVa { vmid, asid, range },
                        TlbScope::Stage1AllAsids { vmid } => Command::TlbiNhVaa { vmid, range },
                        TlbScope::Stage2 { vmid } => Command::TlbiS2Ipa { vmid, range },
                    }
                }
                TlbiCommand::All => match scope {
                    TlbScope::Stage1 { vmid, asid } => Command::TlbiNhAsid { vmid, asid },
                    TlbScope::Stage1AllAsids { vmid } => Command::TlbiNhAll { vmid },
                    TlbScope::Stage2 { vmid } => Command::TlbiS12Vmall { vmid },
                },
            })
            .collect()
    }

    /// Reads every pending event (EVENTQ_PROD up to CONS), advances CONS, and
    /// reports whether the queue overflowed since the last call (OVFLG !=
    /// OVACKFLG, acknowledged here).
    pub fn take_events(&mut self) -> (Vec<Event>, bool) {
        let prod = self.regs.read32(EVENTQ_PROD);
        let mut cons = self.regs.read32(EVENTQ_CONS);
        let overflow = (prod ^ cons) & OVERFLOW != 0;
        let mut out = Vec::new();
        while !self.eventq.empty(prod & !OVERFLOW, cons & !OVERFLOW) {
            let slot = self.eventq.slot(cons);
            let words = [0, 1, 2, 3].map(|i| self.memory.read64(slot + 8 * i));
            out.push(Event::decode(words));
            cons = self.eventq.next(cons & !OVERFLOW) | (cons & OVERFLOW);
        }
        let ack = if overflow {
            (cons & !OVERFLOW) | (prod & OVERFLOW)
        } else {
            cons
        };
        self.regs.write32(EVENTQ_CONS, ack);
        (out, overflow)
    }

    /// Ends a stalled transaction (§4.6.1, CMD_RESUME): `retry` re-runs it
    /// (after the fault was fixed), otherwise it is terminated with an abort.
    /// Refused without a stall model (IDR0.STALL_MODEL terminate-only), where
    /// the command is illegal.
    pub fn resume(&mut self, sid: u32, stag: u16, retry: bool) -> Result<(), SmmuError> {
        if matches!(
            self.id.idr0.stall_model(),
            StallModel::TerminateOnly | StallModel::Reserved
        ) {
            return Err(SmmuError::Unsupported("IDR0.STALL_MODEL"));
        }
        self.submit(&[Command::Resume { sid, stag, retry }])
    }

    /// Answers page request group `request.group` of `request`'s stream and
    /// substream (§4.7.1, CMD_PRI_RESP). Refused without IDR0.PRI.
    pub fn respond_page_request(
        &mut self,
        request: &PageRequest,
        response: PriResponse,
    ) -> Result<(), SmmuError> {
        if !self.id.idr0.pri() {
            return Err(SmmuError::Unsupported("IDR0.PRI"));
        }
        self.submit(&[Command::PriResp {
            sid: request.stream_id,
            ssid: request.substream_id,
            group: request.group,
            response,
        }])
    }

    /// Active global errors (GERROR != GERRORN, §7.5) other than CMDQ_ERR,
    /// which [`submit`](Self::submit) handles itself; each returned error is
    /// acknowledged by toggling its GERRORN bit. Queue-write aborts mean
    /// records were lost; SFM_ERR means the SMMU stopped and needs a reset.
    pub fn take_global_errors(&mut self) -> Gerror {
        let gerrorn = self.regs.read32(GERRORN);
        let active = Gerror::active(self.regs.read32(GERROR), gerrorn) - Gerror::CMDQ_ERR;
        if !active.is_empty() {
            self.regs
                .write32(GERRORN, Gerror::acknowledge(gerrorn, active));
        }
        active
    }

    /// Reads every pending PRI request (§8.1); empty without IDR0.PRI.
    pub fn take_page_requests(&mut self) -> Vec<PageRequest> {
        let Some(priq) = &self.priq else {
            return Vec::new();
        };
        let prod = self.regs.read32(PRIQ_PROD) & !OVERFLOW;
        let mut cons = self.regs.read32(PRIQ_CONS) & !OVERFLOW;
        let mut out = Vec::new();
        while !priq.empty(prod, cons) {
            let slot = priq.slot(cons);
            out.push(PageRequest::decode([
                self.memory.read64(slot),
                self.memory.read64(slot + 8),
            ]));
            cons = priq.next(cons);
        }
        self.regs.write32(PRIQ_CONS, cons);
        out
    }
}
