//! The two machines a scenario runs on, behind one trait: x86 with two
//! VT-d units (the model's nested unit and one of QEMU's, whose tables the
//! service shadows) and Arm with two SMMUv3s (the model's full one and
//! QEMU's). Both units of a machine share one simulated memory, so their
//! devices, DMA and tables meet where a bug would let them.

use alloc::collections::BTreeMap;
use alloc::rc::Rc;
use alloc::vec;
use alloc::vec::Vec;
use core::cell::{Cell, RefCell};

use vsva_iommu::hw::sim::{SimClock, SimMemory};
use vsva_iommu::smmuv3::model::{
    self as smmu_model, InjectedError as SmmuError, ResumeOutcome, SmmuConfig, SmmuModel,
};
use vsva_iommu::smmuv3::unit::StreamTableFormat;
use vsva_iommu::vtd::model::{self as vtd_model, InjectedError as VtdError, VtdModel};
use vsva_iommu::vtd::unit::Mode;

use crate::Sva;
use crate::backend::{Backend, Domain, Stage2Tables, UnitRequest};
use crate::guest::GuestRam;
use crate::sim::smmu::{self, ArmStage2};
use crate::sim::vtd::{self, NestedTable};
use crate::sim::{clock, memory};

/// A partition's stage 2 as the harness keeps it.
#[derive(Debug)]
pub(crate) enum Stage2 {
    /// The nested page table (the service places nothing in it).
    X86(NestedTable),
    Arm(ArmStage2),
}

impl Stage2 {
    /// What the service mapped read-only in the table window: (ipa, pa, len).
    pub fn placed(&self) -> &[(u64, u64, u64)] {
        match self {
            Self::X86(_) => &[],
            Self::Arm(s2) => &s2.placed,
        }
    }

    /// Frees the table.
    pub fn destroy(self, mem: &SimMemory) {
        match self {
            Self::X86(t) => t.destroy(mem).finish(mem),
            Self::Arm(s2) => s2.destroy(),
        }
    }
}

impl Stage2Tables for Stage2 {
    fn map_read_only(&mut self, ipa: u64, pa: u64, len: u64) -> bool {
        match self {
            Self::X86(_) => false,
            Self::Arm(s2) => s2.map_read_only(ipa, pa, len),
        }
    }
}

/// What a device does on the bus.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Access {
    Read,
    Write,
    /// A translation only (as an ATS-less device's first access would).
    Translate {
        write: bool,
    },
}

/// Host-physical pieces a DMA touched: (address, length, written).
pub(crate) type Landed = Vec<(u64, u64, bool)>;

/// A machine: its units, how a partition's stage 2 is made, and how its
/// devices reach memory.
pub(crate) trait Platform {
    type Unit<'a>: Backend
    where
        Self: 'a;

    /// Arm: VMSAv8 tables and CD tables; else x86 tables.
    const ARM: bool;

    fn memory(&self) -> &Rc<SimMemory>;

    /// The units, brought up as the kernel does.
    fn units(&self) -> Vec<Option<Self::Unit<'_>>>;

    /// A partition's domain (ID `id`, RAM `ram`) and its stage 2; `None`
    /// when memory ran out.
    fn stage2(&self, id: u16, ram: &GuestRam) -> Option<(Domain, Stage2)>;

    /// `len` bytes of DMA by requester `rid` of `unit`: where it landed, or
    /// `None` if the IOMMU blocked (or stalled) it.
    fn dma(
        &self,
        unit: usize,
        rid: u32,
        pasid: Option<u32>,
        iova: u64,
        data: &[u8],
        access: Access,
    ) -> Option<Landed>;

    /// Sends a page request; whether the unit took it.
    fn page_request(&self, unit: usize, request: &UnitRequest) -> bool;

    /// Arms a hardware error for `unit`'s next queued command.
    fn inject(&self, unit: usize, which: u8);

    /// Makes `unit` consume whatever error is still armed (a command of
    /// its own through the driver), so one error touches one step only.
    fn flush<'a>(sva: &mut Sva<Self::Unit<'a>>, unit: usize)
    where
        Self: 'a;

    /// Stalled writes retried to completion since the last call, with
    /// their requester and where they landed: (unit, rid, pieces).
    fn completed_stalls(&self) -> Vec<(usize, u32, Landed)> {
        Vec::new()
    }

    /// Something only this machine's units do (SMMU external aborts on
    /// `targets`, event queue floods by `rid`).
    fn extra(&self, _unit: usize, _choice: u8, _targets: &[u64], _rid: u32) {}
}

/// `len` bytes from `iova` cut at 4 KiB pages: (address, length) of each
/// (going on at 0 past the top, as the models do).
fn pieces(iova: u64, len: u64) -> impl Iterator<Item = (u64, u64)> {
    let (mut at, mut left) = (iova, len);
    core::iter::from_fn(move || {
        if left == 0 {
            return None;
        }
        let n = (0x1000 - (at & 0xfff)).min(left);
        let piece = (at, n);
        left -= n;
        at = at.wrapping_add(n);
        Some(piece)
    })
}

/// Where each piece of a DMA that went through landed, translated again
/// (the IOTLB holds the same translations now).
fn landed(iova: u64, len: u64, write: bool, translate: impl Fn(u64) -> Option<u64>) -> Landed {
    pieces(iova, len)
        .filter_map(|(at, n)| translate(at).map(|pa| (pa, n, write)))
        .collect()
}

/// DMA `access` of `data` at `iova` through a model's `read`, `write` and
/// `translate` (address, write): where it landed (`None`: a translation
/// refused), or the model's error.
fn dma_through<E>(
    iova: u64,
    data: &[u8],
    access: Access,
    read: impl FnOnce(&mut [u8]) -> Result<(), E>,
    write: impl FnOnce(&[u8]) -> Result<(), E>,
    translate: impl Fn(u64, bool) -> Option<u64>,
) -> Result<Option<Landed>, E> {
    let is_write = match access {
        Access::Translate { write } => {
            return Ok(translate(iova, write).map(|pa| vec![(pa, 1, write)]));
        }
        Access::Read => {
            read(&mut vec![0u8; data.len()])?;
            false
        }
        Access::Write => {
            write(data)?;
            true
        }
    };
    let len = data.len() as u64;
    Ok(Some(landed(iova, len, is_write, |at| {
        translate(at, is_write)
    })))
}

/// x86: the model's nested VT-d unit and one of QEMU's.
#[derive(Debug)]
pub(crate) struct X86 {
    mem: Rc<SimMemory>,
    clock: SimClock,
    models: [VtdModel; 2],
    mode: Mode,
}

impl X86 {
    /// Unit 1 by `variant`: QEMU's `x-flts=on` unit with 20-bit PASIDs
    /// (ECAP.PSS raised) or with QEMU's one, its second-stage scalable unit
    /// with PASIDs, or its legacy unit.
    pub fn new(variant: u8) -> Self {
        let mem = memory();
        let (cap, ecap, mode) = match variant % 4 {
            0 => (
                vtd_model::QEMU_CAP_FLTS,
                vtd_model::QEMU_ECAP_FLTS | 19 << 35,
                Mode::Scalable,
            ),
            1 => (
                vtd_model::QEMU_CAP_FLTS,
                vtd_model::QEMU_ECAP_FLTS,
                Mode::Scalable,
            ),
            2 => (
                vtd_model::QEMU_CAP,
                vtd_model::QEMU_ECAP_SCALABLE_PASID,
                Mode::Scalable,
            ),
            _ => (
                vtd_model::QEMU_CAP,
                vtd_model::QEMU_ECAP_LEGACY,
                Mode::Legacy,
            ),
        };
        let models = [
            VtdModel::new(Rc::clone(&mem), vtd_model::FULL_CAP, vtd_model::FULL_ECAP),
            VtdModel::new(Rc::clone(&mem), cap, ecap),
        ];
        Self {
            mem,
            clock: clock(),
            models,
            mode,
        }
    }
}

fn vtd_access(write: bool) -> vtd_model::Access {
    if write {
        vtd_model::Access::Write
    } else {
        vtd_model::Access::Read
    }
}

impl Platform for X86 {
    type Unit<'a> = vtd::Backend<'a>;
    const ARM: bool = false;

    fn memory(&self) -> &Rc<SimMemory> {
        &self.mem
    }

    fn units(&self) -> Vec<Option<vtd::Backend<'_>>> {
        let [nested, qemu] = &self.models;
        vec![
            Some(vtd::backend(nested, &self.mem, &self.clock, Mode::Scalable)),
            Some(vtd::backend(qemu, &self.mem, &self.clock, self.mode)),
        ]
    }

    fn stage2(&self, id: u16, ram: &GuestRam) -> Option<(Domain, Stage2)> {
        let (domain, npt) = vtd::domain(&self.mem, id, ram)?;
        Some((domain, Stage2::X86(npt)))
    }

    fn dma(
        &self,
        unit: usize,
        rid: u32,
        pasid: Option<u32>,
        iova: u64,
        data: &[u8],
        access: Access,
    ) -> Option<Landed> {
        let model = &self.models[unit];
        let rid = rid as u16;
        dma_through(
            iova,
            data,
            access,
            |buf| model.dma_read(rid, pasid, iova, buf),
            |data| model.dma_write(rid, pasid, iova, data),
            |at, write| model.translate(rid, pasid, at, vtd_access(write)).ok(),
        )
        .ok()
        .flatten()
    }

    fn page_request(&self, unit: usize, r: &UnitRequest) -> bool {
        let request = vtd_model::PageRequest {
            rid: r.requester as u16,
            pasid: r.pasid,
            addr: r.address,
            read: r.read,
            write: r.write,
            exec: r.exec,
            privileged: r.privileged,
            lpig: r.last,
            prgi: r.group,
        };
        self.models[unit].inject_page_request(&request).is_ok()
    }

    fn inject(&self, unit: usize, _which: u8) {
        // The other kinds need device-TLB invalidations, which vsva never
        // issues: they would stay armed.
        self.models[unit].inject(VtdError::DescriptorError);
    }

    fn flush<'a>(sva: &mut Sva<vtd::Backend<'a>>, unit: usize)
    where
        Self: 'a,
    {
        if let Some(backend) = sva.unit_mut(unit) {
            let _ = backend.unit().invalidate(&[]);
        }
    }
}

/// A stalled transaction, to check where it lands if it is retried.
#[derive(Clone, Debug)]
struct Stalled {
    unit: usize,
    sid: u32,
    ssid: Option<u32>,
    iova: u64,
    len: u64,
    write: bool,
}

/// Arm: the model's full SMMUv3 and QEMU's.
#[derive(Debug)]
pub(crate) struct Arm {
    mem: Rc<SimMemory>,
    clock: SimClock,
    models: [SmmuModel; 2],
    /// Per unit: STAG -> the transaction stalled under it.
    stalled: RefCell<BTreeMap<(usize, u16), Stalled>>,
    /// Per unit: resume outcomes already looked at.
    outcomes_seen: [Cell<usize>; 2],
}

impl Arm {
    pub fn new() -> Self {
        let mem = memory();
        let models = [
            SmmuModel::new(Rc::clone(&mem), SmmuConfig::full()),
            SmmuModel::new(Rc::clone(&mem), SmmuConfig::qemu()),
        ];
        Self {
            mem,
            clock: clock(),
            models,
            stalled: RefCell::new(BTreeMap::new()),
            outcomes_seen: [Cell::new(0), Cell::new(0)],
        }
    }

    fn translate(&self, s: &Stalled, at: u64) -> Option<u64> {
        let access = if s.write {
            smmu_model::Access::Write
        } else {
            smmu_model::Access::Read
        };
        self.models[s.unit]
            .translate(s.sid, s.ssid, at, access)
            .ok()
    }
}

impl Platform for Arm {
    type Unit<'a> = smmu::Backend<'a>;
    const ARM: bool = true;

    fn memory(&self) -> &Rc<SimMemory> {
        &self.mem
    }

    /// The full SMMU with a 2-level stream table (level-2 tables made on
    /// demand), QEMU's with a linear one covering bus 0.
    fn units(&self) -> Vec<Option<smmu::Backend<'_>>> {
        let [full, qemu] = &self.models;
        let two_level = StreamTableFormat::TwoLevel {
            sid_bits: 16,
            split: 8,
        };
        let linear = StreamTableFormat::Linear { sid_bits: 8 };
        vec![
            Some(smmu::backend(full, &self.mem, &self.clock, two_level)),
            Some(smmu::backend(qemu, &self.mem, &self.clock, linear)),
        ]
    }

    fn stage2(&self, id: u16, ram: &GuestRam) -> Option<(Domain, Stage2)> {
        let s2 = ArmStage2::try_new(&self.mem, ram)?;
        Some((smmu::domain(id, ram, &s2), Stage2::Arm(s2)))
    }

    fn dma(
        &self,
        unit: usize,
        sid: u32,
        ssid: Option<u32>,
        iova: u64,
        data: &[u8],
        access: Access,
    ) -> Option<Landed> {
        let model = &self.models[unit];
        let stalled = Stalled {
            unit,
            sid,
            ssid,
            iova,
            len: data.len() as u64,
            write: access == Access::Write,
        };
        let result = dma_through(
            iova,
            data,
            access,
            |buf| model.dma_read(sid, ssid, iova, buf),
            |data| model.dma_write(sid, ssid, iova, data),
            |at, write| self.translate(&Stalled { write, ..stalled }, at),
        );
        result.unwrap_or_else(|event| {
            // Retried on the guest's answer: where it lands is checked then.
            if let Some(stag) = event.stag {
                self.stalled.borrow_mut().insert((unit, stag), stalled);
            }
            None
        })
    }

    fn page_request(&self, unit: usize, r: &UnitRequest) -> bool {
        let request = smmu_model::PageRequest {
            sid: r.requester,
            ssid: r.pasid,
            addr: r.address,
            read: r.read,
            write: r.write,
            exec: r.exec,
            privileged: r.privileged,
            last: r.last,
            prgi: r.group,
        };
        self.models[unit].inject_page_request(&request).is_ok()
    }

    fn inject(&self, unit: usize, which: u8) {
        let error = if which & 1 == 0 {
            SmmuError::CommandIllegal
        } else {
            SmmuError::CommandAbort
        };
        self.models[unit].inject(error);
    }

    fn flush<'a>(sva: &mut Sva<smmu::Backend<'a>>, unit: usize)
    where
        Self: 'a,
    {
        if let Some(backend) = sva.unit_mut(unit) {
            let _ = backend.unit().submit(&[]);
        }
    }

    fn completed_stalls(&self) -> Vec<(usize, u32, Landed)> {
        let mut out = Vec::new();
        for (unit, model) in self.models.iter().enumerate() {
            let outcomes = model.resume_outcomes();
            let seen = self.outcomes_seen[unit].replace(outcomes.len());
            for outcome in outcomes.iter().skip(seen) {
                let mut stalled = self.stalled.borrow_mut();
                match outcome {
                    ResumeOutcome::Completed { stag, .. } => {
                        if let Some(s) = stalled.remove(&(unit, *stag)) {
                            let pieces =
                                landed(s.iova, s.len, s.write, |at| self.translate(&s, at));
                            out.push((unit, s.sid, pieces));
                        }
                    }
                    ResumeOutcome::Faulted { stag, event } => {
                        // A retry that stalls again waits under a new tag.
                        if let (Some(s), Some(new)) = (stalled.remove(&(unit, *stag)), event.stag) {
                            stalled.insert((unit, new), s);
                        }
                    }
                    ResumeOutcome::Terminated { stag, .. } => {
                        stalled.remove(&(unit, *stag));
                    }
                }
            }
        }
        out
    }

    fn extra(&self, unit: usize, choice: u8, targets: &[u64], rid: u32) {
        let model = &self.models[unit];
        match choice % 4 {
            0 | 1 => {
                // Reads of one target page abort from now on.
                if let Some(&page) = targets.get(usize::from(choice >> 2) % targets.len().max(1)) {
                    let page = page & !0xfff;
                    model.add_external_abort(page..page + 0x1000);
                }
            }
            2 => model.clear_external_aborts(),
            _ => {
                model.fill_event_queue(rid);
            }
        }
    }
}
