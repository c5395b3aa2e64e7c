//! The SMMUv3 backend. A partition's device starts on a stage-2-only STE over
//! the partition's own stage-2 table. A stage-1 bind makes the STE nested
//! (Config 0b111, §5.2) with a CD table vsva owns: one CD per bound PASID,
//! TTB0 the guest's IPA, an ASID of vsva's. Under a nested STE the SMMU reads
//! the CD table through stage 2 (S1ContextPtr and L1CD.L2Ptr are IPAs), so
//! its pages are mapped read-only into the partition's table window. A
//! guest's own CD table makes the STE nested with S1ContextPtr the guest's
//! IPA; the guest then manages its substreams itself.
//!
//! What keeps partitions apart is always vsva's: the stage-2 half and its
//! VMID, fault recording, event merging (MEV, against event floods; iommufd
//! forces it too), the ASIDs of vsva's CDs, and the VMID of every TLBI.

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::vec::Vec;

use vsva_abi::sva::{
    BindFlags, Install, IommuKind, ResponseCode, Stage1Format, Stage1Formats, SvaCaps,
    TABLE_WINDOW_BASE, TABLE_WINDOW_SIZE,
};
use vsva_iommu::hw::{Clock, DmaMemory, RegisterAccess};
use vsva_iommu::smmuv3::cd_table::{CdTable, TableAddresses};
use vsva_iommu::smmuv3::pagetable::{Granule, IovaRange};
use vsva_iommu::smmuv3::queue::{Command, Event, PageRequest, PriResponse, event_type};
use vsva_iommu::smmuv3::regs::{StallModel, Ttf};
use vsva_iommu::smmuv3::structs::{
    CdTableFormat, ContextDescriptor, DefaultSubstream, Stage1 as SteStage1, Stage2 as SteStage2,
    Ste, StreamConfig, TableHalf,
};
use vsva_iommu::smmuv3::unit::{Smmu, TlbScope};

use super::batch::{self, Batch};
use super::{
    Backend, BackendError, CdConfig, DeviceInfo, Domain, Env, FaultReason, GuestCdTable, Limits,
    Stage1, Stage2Desc, Stage2Tables, UnitFault, UnitInvalidation, UnitRequest,
};
use crate::pasid::PASID_BITS;

/// Commands submitted per CMD_SYNC by [`SmmuBackend::invalidate`].
const COMMANDS_PER_SYNC: usize = 48;
/// The widest stage-1 input: T0SZ 16 (no 52-bit VAs).
const INPUT_BITS: u8 = 48;
/// CD-table SSID bits without 2-level CD tables: a 64 KiB linear table.
const LINEAR_CD_MAX: u8 = 10;
/// Stalled transactions kept between two drains.
const MAX_STALLS_KEPT: usize = 256;

/// A CD vsva wrote for a guest table.
#[derive(Clone, Copy, Debug)]
struct Cd {
    asid: u16,
    /// The guest table's granule (CD.TG0), for range TLBIs.
    granule: Granule,
}

/// One attached stream.
#[derive(Debug)]
struct Stream {
    vmid: u16,
    stage2: SteStage2,
    /// vsva's CD table, made at the first bind and kept until detach (its
    /// pages are mapped in the partition's table window for good).
    cds: Option<CdTable>,
    /// SubstreamID -> vsva's CD (SSID 0: requests without a PASID).
    bound: BTreeMap<u32, Cd>,
    /// A guest CD table, bound instead of vsva's.
    guest: Option<GuestCdTable>,
}

/// Maps a CD table's pages into the partition's table window, read-only,
/// at the next free IPAs (aligned to their size).
struct Window<'a> {
    stage2: &'a mut dyn Stage2Tables,
    used: &'a mut u64,
}

impl TableAddresses for Window<'_> {
    fn place(&mut self, pa: u64, pages: usize) -> Option<u64> {
        let len = pages as u64 * 4096;
        let offset = self.used.checked_next_multiple_of(len)?;
        if offset.checked_add(len)? > TABLE_WINDOW_SIZE {
            return None;
        }
        let ipa = TABLE_WINDOW_BASE + offset;
        if !self.stage2.map_read_only(ipa, pa, len) {
            return None;
        }
        *self.used = offset + len;
        Some(ipa)
    }
}

/// One SMMUv3 for the service.
#[derive(Debug)]
pub struct SmmuBackend<R, M, C> {
    smmu: Smmu<R, M, C>,
    streams: BTreeMap<u32, Stream>,
    asids: BTreeSet<u16>,
    /// Per VMID: bytes of its table window in use.
    windows: BTreeMap<u16, u64>,
    /// Stalled transactions drained with the faults, for `take_requests`.
    stalls: Vec<UnitRequest>,
}

impl<R: RegisterAccess, M: DmaMemory, C: Clock> SmmuBackend<R, M, C> {
    pub fn new(smmu: Smmu<R, M, C>) -> Self {
        Self {
            smmu,
            streams: BTreeMap::new(),
            asids: BTreeSet::new(),
            windows: BTreeMap::new(),
            stalls: Vec::new(),
        }
    }

    /// The driver, for what the service does not cover (tests, bring-up).
    pub fn unit(&mut self) -> &mut Smmu<R, M, C> {
        &mut self.smmu
    }

    /// The driver, read-only.
    pub fn unit_ref(&self) -> &Smmu<R, M, C> {
        &self.smmu
    }

    /// ASIDs of vsva's CDs in use, or kept because an unbind failed.
    pub fn asids_in_use(&self) -> usize {
        self.asids.len()
    }

    fn asid_bits(&self) -> u8 {
        if self.smmu.id.idr0.asid16() { 16 } else { 8 }
    }

    /// SSID bits of vsva's CD table for a device with `pasid_bits`.
    fn cd_bits(&self, device: &DeviceInfo) -> u8 {
        let cap = if self.smmu.id.idr0.cd2l() {
            PASID_BITS
        } else {
            LINEAR_CD_MAX
        };
        self.smmu.id.idr1.ssidsize().min(device.pasid_bits).min(cap)
    }

    fn nesting(&self, domain: &Domain) -> bool {
        let id = &self.smmu.id;
        id.idr0.s1p()
            && id.idr0.s2p()
            && matches!(id.idr0.ttf(), Ttf::AArch64 | Ttf::AArch32AndAArch64)
            && matches!(domain.stage2, Stage2Desc::Vmsa { .. })
    }

    fn stream(&mut self, sid: u32) -> Result<&mut Stream, BackendError> {
        self.streams
            .get_mut(&sid)
            .ok_or(BackendError::Unsupported("the device is not attached"))
    }

    fn alloc_asid(&mut self) -> Result<u16, BackendError> {
        let limit = 1u32 << self.asid_bits();
        let asid = (1..limit)
            .map(|a| a as u16)
            .find(|a| !self.asids.contains(a))
            .ok_or(BackendError::NoResources("ASIDs"))?;
        self.asids.insert(asid);
        Ok(asid)
    }

    /// Whether STE.S1STALLD is a field here: only where stalling is
    /// optional (IDR0.STALL_MODEL 0b00); elsewhere it is RES0 (§5.2), and
    /// QEMU refuses an STE with it set.
    fn stall_configurable(&self) -> bool {
        matches!(
            self.smmu.id.idr0.stall_model(),
            StallModel::StallAndTerminate
        )
    }

    /// The STE a stream's state asks for.
    fn ste_for(stream: &Stream, stall_configurable: bool) -> Ste {
        let config = match (&stream.guest, &stream.cds) {
            (Some(g), _) => match g.config {
                CdConfig::Abort => StreamConfig::Abort,
                CdConfig::Bypass => StreamConfig::Stage2(stream.stage2),
                CdConfig::Translate => StreamConfig::Nested(
                    SteStage1 {
                        context: g.table,
                        format: g.format,
                        cd_max: g.cd_max,
                        default_substream: g.default_substream,
                        // S1STALLD where the field exists unless the
                        // guest takes stalls (answered by it or by vsva).
                        stall_disable: stall_configurable && !g.stalls,
                        walk: g.walk,
                    },
                    stream.stage2,
                ),
            },
            (None, Some(cds)) if !stream.bound.is_empty() => {
                // Requests without a PASID use CD 0 when it is bound, else
                // stage 2 only (S1DSS; with S1CDMax 0 every request uses CD 0).
                let dss = if stream.bound.contains_key(&0) {
                    DefaultSubstream::Substream0
                } else {
                    DefaultSubstream::Bypass
                };
                // Stalls stay off until vsva serves them (S1STALLD where
                // the field exists; vsva's CDs never set CD.S).
                StreamConfig::Nested(cds.stage1(dss, stall_configurable), stream.stage2)
            }
            _ => StreamConfig::Stage2(stream.stage2),
        };
        Ste {
            config,
            ats: false,
            merge_events: !matches!(config, StreamConfig::Stage2(_)),
        }
    }

    fn write_ste(&mut self, sid: u32) -> Result<(), BackendError> {
        let configurable = self.stall_configurable();
        let ste = Self::ste_for(self.stream(sid)?, configurable);
        self.smmu.set_ste(sid, &ste)?;
        Ok(())
    }

    /// The commands one invalidation asks for.
    fn commands_for(&mut self, op: &UnitInvalidation) -> Result<Vec<Command>, BackendError> {
        let sid = match *op {
            UnitInvalidation::IotlbRange { rid, .. }
            | UnitInvalidation::IotlbAll { rid, .. }
            | UnitInvalidation::PasidCache { rid, .. }
            | UnitInvalidation::PasidCacheAll { rid } => rid,
        };
        let stream = self.stream(sid)?;
        let vmid = stream.vmid;
        // The ASID an IOTLB operation names and the granule of its table:
        // vsva's CD's, or the guest's (ASID None: every ASID of the VMID;
        // granule unknown).
        let asid_of = |stream: &Stream, pasid: Option<u32>, asid: Option<u16>| {
            if stream.guest.is_some() {
                Ok((asid, None))
            } else {
                stream
                    .bound
                    .get(&pasid.unwrap_or(0))
                    .map(|cd| (Some(cd.asid), Some(cd.granule)))
                    .ok_or(BackendError::Unsupported("nothing bound there"))
            }
        };
        Ok(match *op {
            UnitInvalidation::IotlbRange {
                pasid,
                asid,
                start,
                len,
                leaf,
                ..
            } => {
                let (asid, granule) = asid_of(stream, pasid, asid)?;
                let scope = match asid {
                    Some(asid) => TlbScope::Stage1 { vmid, asid },
                    None => TlbScope::Stage1AllAsids { vmid },
                };
                // Range commands start and end on the table's granule.
                let size = granule.map_or(4096, |g| 1u64 << g.bits());
                let first = start & !(size - 1);
                let end = (start + len).next_multiple_of(size);
                let range = IovaRange {
                    start: first,
                    len: end - first,
                };
                self.smmu.tlbi(scope, granule, &[range], leaf)
            }
            UnitInvalidation::IotlbAll { pasid, asid, .. } => match asid_of(stream, pasid, asid)?.0
            {
                Some(asid) => alloc::vec![Command::TlbiNhAsid { vmid, asid }],
                None => alloc::vec![Command::TlbiNhAll { vmid }],
            },
            UnitInvalidation::PasidCache { pasid, .. } => alloc::vec![Command::CfgiCd {
                sid,
                ssid: pasid.unwrap_or(0),
                leaf: true,
            }],
            UnitInvalidation::PasidCacheAll { .. } => alloc::vec![Command::CfgiCdAll { sid }],
        })
    }
}

impl<R: RegisterAccess, M: DmaMemory, C: Clock> Batch for SmmuBackend<R, M, C> {
    type Item = Command;
    const PER_WAIT: usize = COMMANDS_PER_SYNC;

    fn items(&mut self, op: &UnitInvalidation) -> Result<Vec<Command>, BackendError> {
        self.commands_for(op)
    }

    fn submit(&mut self, items: &[Command]) -> Result<(), BackendError> {
        Ok(self.smmu.submit(items)?)
    }
}

/// CD.TG0 granule of a VMSAv8 stage-1 format.
fn granule(format: Stage1Format) -> Option<Granule> {
    match format {
        Stage1Format::Vmsa4K => Some(Granule::Size4K),
        Stage1Format::Vmsa16K => Some(Granule::Size16K),
        Stage1Format::Vmsa64K => Some(Granule::Size64K),
        _ => None,
    }
}

impl<R: RegisterAccess, M: DmaMemory, C: Clock> Backend for SmmuBackend<R, M, C> {
    fn kind(&self) -> IommuKind {
        IommuKind::SmmuV3
    }

    fn limits(&self, device: &DeviceInfo, domain: &Domain) -> Limits {
        // Where every fault stalls (STALL_MODEL 0b10) a CD must have S set,
        // and stalled transactions wait for an answer vsva does not give
        // yet: no binds there.
        if !self.nesting(domain)
            || matches!(self.smmu.id.idr0.stall_model(), StallModel::StallForced)
        {
            return Limits::default();
        }
        let id = &self.smmu.id;
        let mut formats = Stage1Formats::empty();
        formats.set(Stage1Formats::VMSA_4K, id.idr5.gran4k());
        formats.set(Stage1Formats::VMSA_16K, id.idr5.gran16k());
        formats.set(Stage1Formats::VMSA_64K, id.idr5.gran64k());
        let pasid_bits = self.cd_bits(device);
        let mut caps = SvaCaps::BIND | SvaCaps::CD_TABLE;
        caps.set(SvaCaps::BIND_PASID, pasid_bits > 0);
        caps.set(SvaCaps::STALL, self.stall_configurable());
        caps.set(SvaCaps::PRI, id.idr0.pri() && device.pri);
        let output_bits = match domain.stage2 {
            Stage2Desc::Vmsa { ipa_bits, .. } => ipa_bits,
            Stage2Desc::X86 { .. } => 0,
        };
        Limits {
            install: Some(Install::Nested),
            formats,
            caps,
            pasid_bits,
            cd_max: id.idr1.ssidsize().min(device.pasid_bits),
            input_bits: INPUT_BITS,
            output_bits,
            asid_bits: self.asid_bits(),
        }
    }

    fn attach(&mut self, sid: u32, domain: &Domain) -> Result<(), BackendError> {
        let Stage2Desc::Vmsa { fields: g, .. } = domain.stage2 else {
            return Err(BackendError::Unsupported("an SMMU needs a VMSAv8 stage 2"));
        };
        if self.streams.contains_key(&sid) {
            return Err(BackendError::Unsupported(
                "the StreamID is attached already",
            ));
        }
        let stage2 = SteStage2::for_table(domain.id, &g);
        self.streams.insert(
            sid,
            Stream {
                vmid: domain.id,
                stage2,
                cds: None,
                bound: BTreeMap::new(),
                guest: None,
            },
        );
        let written = self
            .write_ste(sid)
            .and_then(|()| Ok(self.smmu.invalidate_vmid(domain.id)?));
        if let Err(e) = written {
            // Nothing half-done: the stream aborts again.
            self.streams.remove(&sid);
            self.smmu.clear_ste(sid)?;
            return Err(e);
        }
        Ok(())
    }

    fn detach(&mut self, sid: u32, domain: &Domain) -> Result<(), BackendError> {
        self.smmu.clear_ste(sid)?;
        self.smmu.invalidate_vmid(domain.id)?;
        if let Some(stream) = self.streams.remove(&sid) {
            for cd in stream.bound.values() {
                self.asids.remove(&cd.asid);
            }
            if let Some(cds) = stream.cds {
                self.smmu.free_cd_table(cds);
            }
        }
        Ok(())
    }

    fn release_domain(&mut self, domain: &Domain) -> Result<(), BackendError> {
        self.windows.remove(&domain.id);
        Ok(())
    }

    fn bind_stage1(
        &mut self,
        sid: u32,
        pasid: Option<u32>,
        table: &Stage1,
        device: &DeviceInfo,
        domain: &Domain,
        env: &mut Env<'_>,
    ) -> Result<(), BackendError> {
        let granule = granule(table.format).ok_or(BackendError::Unsupported("x86 tables"))?;
        let Stage2Desc::Vmsa { ipa_bits, .. } = domain.stage2 else {
            return Err(BackendError::Unsupported("an SMMU needs a VMSAv8 stage 2"));
        };
        let ips = vsva_iommu::smmuv3::pagetable::ips(ipa_bits)
            .ok_or(BackendError::Unsupported("the stage-2 input size"))?;
        let cd_bits = self.cd_bits(device);
        let ssid = pasid.unwrap_or(0);
        if u64::from(ssid) >> cd_bits != 0 {
            return Err(BackendError::Unsupported("PASID wider than the CD table"));
        }
        let asid = self.alloc_asid()?;
        let half = TableHalf {
            ttb: table.root,
            tsz: 64 - table.input_bits,
            granule,
            irgn: table.walk.inner,
            orgn: table.walk.outer,
            sh: table.walk.shareability,
            top_byte_ignore: table.flags.contains(BindFlags::VMSA_TBI),
            hierarchical_attribute_disable: false,
            start_table_non_secure: false,
            unprivileged_access_disable: false,
        };
        // Faults recorded (CD.R), never stalled (CD.S): vsva's choice.
        let cd = ContextDescriptor::for_half(half, ips, table.mair, asid, true, false);
        let result = (|| {
            let Self {
                smmu,
                streams,
                windows,
                ..
            } = &mut *self;
            let stream = streams
                .get_mut(&sid)
                .ok_or(BackendError::Unsupported("the device is not attached"))?;
            let mut window = Window {
                stage2: &mut *env.stage2,
                used: windows.entry(domain.id).or_insert(0),
            };
            if stream.cds.is_none() {
                let format = if cd_bits <= 6 {
                    CdTableFormat::Linear
                } else {
                    CdTableFormat::TwoLevel4K
                };
                stream.cds = Some(smmu.new_cd_table_placed(format, cd_bits, &mut window)?);
            }
            let cds = stream
                .cds
                .as_mut()
                .ok_or(BackendError::NoResources("CDs"))?;
            smmu.set_cd_placed(sid, cds, ssid, &cd, &mut window)?;
            stream.bound.insert(ssid, Cd { asid, granule });
            Ok(())
        })();
        if let Err(e) = result {
            self.asids.remove(&asid);
            return Err(e);
        }
        if let Err(e) = self.write_ste(sid) {
            // Leave nothing half-bound: the CD goes, the STE is rewritten
            // from what is still bound.
            let _ = self.unbind_stage1(sid, pasid, domain, env);
            return Err(e);
        }
        Ok(())
    }

    fn unbind_stage1(
        &mut self,
        sid: u32,
        pasid: Option<u32>,
        domain: &Domain,
        _env: &mut Env<'_>,
    ) -> Result<(), BackendError> {
        let ssid = pasid.unwrap_or(0);
        let stream = self.stream(sid)?;
        let cd = stream
            .bound
            .remove(&ssid)
            .ok_or(BackendError::Unsupported("nothing bound there"))?;
        // The STE first (it may stop using CD 0), then the CD, then its TLB
        // entries. Each step is tried even if one before failed (a cleared
        // CD blocks the substream whatever the STE says); the ASID is free
        // only once all succeeded, else it stays reserved for good since
        // the TLB may still hold its entries.
        let ste = self.write_ste(sid);
        let mut cleared = Ok(());
        if let Some(mut cds) = self.stream(sid)?.cds.take() {
            cleared = self.smmu.clear_cd(sid, &mut cds, ssid).map_err(Into::into);
            if let Some(stream) = self.streams.get_mut(&sid) {
                stream.cds = Some(cds);
            }
        }
        let flushed = self
            .smmu
            .invalidate_asid(domain.id, cd.asid)
            .map_err(Into::into);
        ste.and(cleared).and(flushed)?;
        self.asids.remove(&cd.asid);
        Ok(())
    }

    fn bind_cd_table(
        &mut self,
        sid: u32,
        table: &GuestCdTable,
        domain: &Domain,
    ) -> Result<(), BackendError> {
        if table.config == CdConfig::Translate
            && table.format != CdTableFormat::Linear
            && !self.smmu.id.idr0.cd2l()
        {
            return Err(BackendError::Unsupported("IDR0.CD2L"));
        }
        self.stream(sid)?.guest = Some(*table);
        let result = self.write_ste(sid).and_then(|()| {
            // CDs and stage-1 entries cached from before belong to another
            // table: drop them.
            self.smmu.submit(&[
                Command::CfgiCdAll { sid },
                Command::TlbiNhAll { vmid: domain.id },
            ])?;
            Ok(())
        });
        if result.is_err() {
            let _ = self.unbind_cd_table(sid, domain);
        }
        result
    }

    fn unbind_cd_table(&mut self, sid: u32, domain: &Domain) -> Result<(), BackendError> {
        self.stream(sid)?.guest = None;
        self.write_ste(sid)?;
        self.smmu.submit(&[
            Command::CfgiCdAll { sid },
            Command::TlbiNhAll { vmid: domain.id },
        ])?;
        Ok(())
    }

    fn invalidate(
        &mut self,
        ops: &[UnitInvalidation],
        _domain: &Domain,
        _env: &mut Env<'_>,
    ) -> Result<(), (usize, BackendError)> {
        batch::run(self, ops)
    }

    fn take_faults(&mut self) -> Vec<UnitFault> {
        let mut faults = Vec::new();
        for e in self.smmu.take_events().0 {
            match e.stalled {
                Some(stag) => self.stalled(&e, stag),
                None => faults.push(UnitFault {
                    requester: e.stream_id,
                    pasid: e.substream_id,
                    address: e.address,
                    write: !e.read,
                    exec: false,
                    privileged: false,
                    reason: fault_reason(&e),
                    code: e.kind,
                }),
            }
        }
        faults
    }

    fn take_requests(&mut self) -> Vec<UnitRequest> {
        let mut out = core::mem::take(&mut self.stalls);
        out.extend(
            self.smmu
                .take_page_requests()
                .into_iter()
                .map(|r| UnitRequest {
                    requester: r.stream_id,
                    pasid: r.substream_id,
                    address: r.address,
                    read: r.read,
                    write: r.write,
                    exec: r.execute,
                    privileged: r.privileged,
                    last: r.last,
                    group: r.group,
                    stall: false,
                    private: None,
                }),
        );
        out
    }

    /// CMD_RESUME for a stall (retry on success, abort otherwise), or
    /// CMD_PRI_RESP for a page request group.
    fn answer(&mut self, request: &UnitRequest, code: ResponseCode) -> Result<(), BackendError> {
        if request.stall {
            let retry = code == ResponseCode::Success;
            return Ok(self.smmu.resume(request.requester, request.group, retry)?);
        }
        let response = match code {
            ResponseCode::Success => PriResponse::Success,
            ResponseCode::Invalid => PriResponse::Deny,
            ResponseCode::Failure => PriResponse::Fail,
        };
        let request = PageRequest {
            stream_id: request.requester,
            substream_id: request.pasid,
            address: request.address,
            read: request.read,
            write: request.write,
            execute: request.exec,
            privileged: request.privileged,
            last: true,
            group: request.group,
        };
        Ok(self.smmu.respond_page_request(&request, response)?)
    }
}

/// The service's reason for an SMMUv3 fault event (§7.3).
fn fault_reason(e: &Event) -> FaultReason {
    match e.kind {
        event_type::F_TRANSLATION | event_type::F_ADDR_SIZE | event_type::F_PERMISSION
            if e.stage2 =>
        {
            FaultReason::Stage2
        }
        event_type::F_TRANSLATION | event_type::F_ADDR_SIZE => FaultReason::NotPresent,
        event_type::F_PERMISSION | event_type::F_ACCESS => FaultReason::Permission,
        event_type::C_BAD_STE | event_type::C_BAD_CD | event_type::C_BAD_SUBSTREAMID => {
            FaultReason::NotConfigured
        }
        event_type::F_STE_FETCH | event_type::F_CD_FETCH | event_type::F_WALK_EABT => {
            FaultReason::BadTable
        }
        _ => FaultReason::Other,
    }
}

impl<R: RegisterAccess, M: DmaMemory, C: Clock> SmmuBackend<R, M, C> {
    /// Keeps a stalled transaction for [`take_requests`]; beyond the bound
    /// it is terminated at once (no transaction waits unseen).
    fn stalled(&mut self, e: &Event, stag: u16) {
        let request = UnitRequest {
            requester: e.stream_id,
            pasid: e.substream_id,
            address: e.address,
            read: e.read,
            write: !e.read,
            exec: false,
            privileged: false,
            last: true,
            group: stag,
            stall: true,
            private: None,
        };
        if self.stalls.len() < MAX_STALLS_KEPT {
            self.stalls.push(request);
        } else {
            let _ = self.smmu.resume(e.stream_id, stag, false);
        }
    }
}
