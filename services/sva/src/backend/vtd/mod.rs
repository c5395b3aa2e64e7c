//! The VT-d backend. A partition's device starts on the partition's own
//! memory map: in scalable mode with first-stage translation (ECAP.FLTS) its
//! RID_PASID entry's first stage is the partition's nested page table (the
//! same x86 format); otherwise a second-stage copy of the RAM map, in the
//! RID_PASID entry or, in legacy mode, the context entry.
//!
//! A guest table is installed as the unit allows (VT-d spec §3.8, §9.6):
//! - ECAP.NEST: a PASID entry with PGTT nested, first stage the guest's root
//!   (a GPA), second stage the domain's second-stage copy; DID, address
//!   width, snoop and fault processing are vsva's;
//! - otherwise a shadow (`crate::shadow`): first-stage format where the unit
//!   has ECAP.FLTS (QEMU's `x-flts=on`), second-stage format otherwise.
//!
//! Every binding has a domain ID of its own (see [`Installed`]).

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use vsva_abi::sva::{
    BindFlags, Install, IommuKind, ResponseCode, Stage1Format, Stage1Formats, SvaCaps,
};
use vsva_iommu::hw::{Clock, DmaMemory, RegisterAccess};
use vsva_iommu::vtd::invalidation::{
    ContextGranularity, Descriptor, IotlbGranularity, PasidCacheGranularity,
    ResponseCode as GroupResponse,
};
use vsva_iommu::vtd::pagetable::{
    FirstStage, FirstStageTable, IoPageTable, Permissions, SecondStage, SecondStageTable,
};
use vsva_iommu::vtd::tables::{
    AddressWidth, FirstStageLevels, PasidEntry, PasidTranslation, TranslationType,
};
use vsva_iommu::vtd::unit::{Mode, PageRequest, Unit, VtdError};

use super::{
    Backend, BackendError, DeviceInfo, Domain, Env, FaultReason, GuestCdTable, Limits, Stage1,
    Stage2Desc, UnitFault, UnitInvalidation, UnitRequest,
};
use crate::shadow::{GuestTable, Shadow, WalkLimit};

mod invalidate;

/// PASIDs the driver's one-page PASID directory covers (512 × 64).
const DRIVER_PASID_BITS: u8 = 15;
/// Descriptors submitted per invalidation wait.
const DESCRIPTORS_PER_WAIT: usize = 64;
/// The partition's guest-physical space a nested second stage covers.
const GPA_BITS: u8 = 48;
/// Pages of the page request queue: 128 requests of 32 bytes each.
const PRQ_PAGES: usize = 1;

/// A guest table installed on (requester, PASID), under a domain ID of its
/// own. Translations are cached per DID (§6.2.1), second-stage ones without
/// their PASID: under a shared DID two bindings (or a binding and another
/// device's plain entry) would alias, and one's invalidation would miss or
/// hit the other's.
#[derive(Debug)]
struct Installed {
    did: u16,
    /// The guest table's input address width (48 or 57).
    input_bits: u8,
    table: Table,
}

/// What a binding's entry points at.
#[derive(Debug)]
enum Table {
    /// PGTT nested over the domain's second-stage copy.
    Nested,
    /// A first-stage shadow (PASID-tagged translations).
    FirstShadow(Shadow<FirstStage>),
    /// A second-stage shadow (translations tagged by DID only).
    SecondShadow(Shadow<SecondStage>),
}

impl Installed {
    /// The PASID its translations are tagged with (`None`: second stage).
    fn tag(&self, pasid: Option<u32>) -> Option<u32> {
        match self.table {
            Table::SecondShadow(_) => None,
            _ => Some(pasid.unwrap_or(0)),
        }
    }
}

/// One VT-d unit for the service.
#[derive(Debug)]
pub struct VtdBackend<R, M, C> {
    unit: Unit<R, M, C>,
    /// Per domain: a second-stage table of its RAM (for units without
    /// first-stage translation, and as the second stage of nested binds).
    copies: BTreeMap<u16, SecondStageTable>,
    /// Requester IDs attached, with their domain.
    attached: BTreeMap<u32, u16>,
    binds: BTreeMap<(u32, Option<u32>), Installed>,
    /// Domain IDs of bindings in use (or quarantined).
    bind_dids: Vec<u16>,
    /// Shadows whose entry may still be live (an invalidation that did not
    /// complete): kept, never freed or reused.
    quarantine: Vec<Installed>,
    /// The page request queue is set up (ECAP.PRS).
    page_requests: bool,
}

impl<R: RegisterAccess, M: DmaMemory, C: Clock> VtdBackend<R, M, C> {
    /// The backend over `unit`, with its page request queue set up where
    /// the unit has one (ECAP.PRS).
    pub fn new(mut unit: Unit<R, M, C>) -> Self {
        let page_requests = unit.id.ecap.prs() && unit.enable_page_requests(PRQ_PAGES).is_ok();
        Self {
            page_requests,
            unit,
            copies: BTreeMap::new(),
            attached: BTreeMap::new(),
            binds: BTreeMap::new(),
            bind_dids: Vec::new(),
            quarantine: Vec::new(),
        }
    }

    /// The driver, for what the service does not cover (tests, bring-up).
    pub fn unit(&mut self) -> &mut Unit<R, M, C> {
        &mut self.unit
    }

    /// The driver, read-only.
    pub fn unit_ref(&self) -> &Unit<R, M, C> {
        &self.unit
    }

    /// Bindings kept because the unit may still use them.
    pub fn quarantined(&self) -> usize {
        self.quarantine.len()
    }

    fn scalable(&self) -> bool {
        self.unit.mode() == Mode::Scalable
    }

    /// Whether the unit gives plain attachments the nested page table as
    /// their first stage.
    fn first_stage_attach(&self, domain: &Domain) -> Option<u64> {
        match domain.stage2 {
            Stage2Desc::X86 { root } if self.scalable() && self.unit.id.ecap.flts() => Some(root),
            _ => None,
        }
    }

    fn install(&self) -> Option<Install> {
        let ecap = self.unit.id.ecap;
        if !self.scalable() {
            return Some(Install::Shadow);
        }
        if ecap.nest() {
            Some(Install::Nested)
        } else if ecap.flts() || ecap.slts() {
            Some(Install::Shadow)
        } else {
            None
        }
    }

    /// Whether a 57-bit (5-level) guest table can be installed.
    fn five_level(&self) -> bool {
        let cap = self.unit.id.cap;
        match self.install() {
            Some(Install::Nested) => cap.fl5lp(),
            Some(Install::Shadow) if self.scalable() && self.unit.id.ecap.flts() => cap.fl5lp(),
            Some(Install::Shadow) => {
                cap.max_guest_address_width() >= 57 && cap.sagaw().max_levels() == Some(5)
            }
            None => false,
        }
    }

    /// The domain's second-stage copy of its RAM, made on first use.
    fn copy(&mut self, domain: &Domain) -> Result<u64, BackendError> {
        if let Some(t) = self.copies.get(&domain.id) {
            return Ok(t.root());
        }
        let mem = self.unit.memory();
        let mut table = SecondStageTable::new(mem, self.unit.id.cap, self.unit.id.ecap, GPA_BITS)
            .map_err(|_| BackendError::Unsupported("a 48-bit second-stage table"))?;
        match table.map(
            mem,
            domain.ram.guest,
            domain.ram.host,
            domain.ram.size,
            Permissions::READ | Permissions::WRITE,
        ) {
            // Nothing uses the table yet: nothing to invalidate.
            Ok(change) => change.finish(mem),
            Err(_) => {
                table.destroy(mem).finish(mem);
                return Err(BackendError::NoResources("the second-stage copy"));
            }
        }
        let root = table.root();
        self.copies.insert(domain.id, table);
        Ok(root)
    }

    fn copy_width(&self, domain: &Domain) -> Result<AddressWidth, BackendError> {
        let levels = self
            .copies
            .get(&domain.id)
            .map(|t| t.levels())
            .ok_or(BackendError::Unsupported("no second-stage copy"))?;
        AddressWidth::from_levels(levels).ok_or(BackendError::Unsupported("table levels"))
    }

    /// Drops the domain's second-stage copy when nothing walks it any more
    /// (the attach or bind that made it failed, and was undone): no
    /// attachment of the domain uses it and no nested binding, live or
    /// quarantined, sits on it.
    fn release_unused_copy(&mut self, domain: &Domain) {
        let of_domain = |rid: &u32| self.attached.get(rid) == Some(&domain.id);
        let attachments = self.first_stage_attach(domain).is_none()
            && self.attached.values().any(|&d| d == domain.id);
        let nested = |i: &Installed| matches!(i.table, Table::Nested);
        let binds = self
            .binds
            .iter()
            .any(|((r, _), i)| of_domain(r) && nested(i));
        if attachments || binds || self.quarantine.iter().any(nested) {
            return;
        }
        if self.copies.contains_key(&domain.id)
            && self.forget_did(domain.id).is_ok()
            && let Some(table) = self.copies.remove(&domain.id)
        {
            let mem = self.unit.memory();
            table.destroy(mem).finish(mem);
        }
    }

    /// The PASID entry (or legacy context entry) of a plain attachment.
    fn attach_entry(&mut self, rid: u32, domain: &Domain) -> Result<(), BackendError> {
        let rid16 = rid as u16;
        if let Some(root) = self.first_stage_attach(domain) {
            self.unit.set_pasid_entry(
                rid16,
                0,
                PasidEntry {
                    fault_processing_disable: false,
                    translation: PasidTranslation::FirstStage {
                        root,
                        levels: FirstStageLevels::Four,
                        supervisor: false,
                        write_protect: false,
                    },
                    domain_id: domain.id,
                    page_snoop: false,
                    walk_snoop: false,
                },
            )?;
            return Ok(());
        }
        let root = self.copy(domain)?;
        let width = self.copy_width(domain)?;
        if self.scalable() {
            self.unit.set_pasid_entry(
                rid16,
                0,
                PasidEntry {
                    fault_processing_disable: false,
                    translation: PasidTranslation::SecondStage { root, width },
                    domain_id: domain.id,
                    page_snoop: false,
                    walk_snoop: false,
                },
            )?;
        } else {
            self.unit.attach_legacy(
                rid16,
                domain.id,
                TranslationType::Untranslated,
                root,
                width,
            )?;
        }
        Ok(())
    }

    /// A domain ID for a binding: from the top of CAP.ND's range down,
    /// away from the partitions' (which are small), never 0 (§9.3: with
    /// CAP.CM, DID 0 tags not-present entries).
    fn alloc_did(&mut self) -> Result<u16, BackendError> {
        let count = self.unit.id.cap.domain_count().unwrap_or(256).min(1 << 16);
        let did = (1..count)
            .rev()
            .map(|d| d as u16)
            .find(|d| {
                !self.bind_dids.contains(d)
                    && !self.attached.values().any(|a| a == d)
                    && !self.copies.contains_key(d)
            })
            .ok_or(BackendError::NoResources("VT-d domain IDs"))?;
        self.bind_dids.push(did);
        Ok(did)
    }

    /// Drops the caches of DID `did` (after an entry under it went away):
    /// PASID cache, IOTLB, and in legacy mode the context cache.
    fn forget_did(&mut self, did: u16) -> Result<(), BackendError> {
        let mut batch = alloc::vec![self.unit.iotlb(IotlbGranularity::Domain(did))];
        if self.scalable() {
            batch.push(Descriptor::PasidCache {
                domain: did,
                granularity: PasidCacheGranularity::Domain,
            });
        } else {
            batch.push(Descriptor::ContextCache(ContextGranularity::Domain(did)));
        }
        self.unit.invalidate(&batch)?;
        Ok(())
    }

    /// Points (`rid`, `pasid`)'s entry at a binding's table under its DID.
    fn install_entry(
        &mut self,
        rid: u32,
        pasid: Option<u32>,
        translation: PasidTranslation,
        did: u16,
        domain: &Domain,
    ) -> Result<(), BackendError> {
        let rid16 = rid as u16;
        if self.scalable() {
            self.unit.set_pasid_entry(
                rid16,
                pasid.unwrap_or(0),
                PasidEntry {
                    fault_processing_disable: false,
                    translation,
                    domain_id: did,
                    page_snoop: false,
                    walk_snoop: false,
                },
            )?;
        } else if let PasidTranslation::SecondStage { root, width } = translation {
            self.unit
                .attach_legacy(rid16, did, TranslationType::Untranslated, root, width)?;
        } else {
            return Err(BackendError::Unsupported("first stage in legacy mode"));
        }
        if pasid.is_none() {
            // RID_PASID's old entry was cached under the domain's DID.
            self.forget_did(domain.id)?;
        }
        Ok(())
    }

    /// Frees a binding's shadow and DID once its entry is gone and its
    /// caches are invalidated.
    fn free_installed(&mut self, installed: Installed, env: &mut Env<'_>) {
        let mem = self.unit.memory();
        match installed.table {
            Table::Nested => {}
            Table::FirstShadow(shadow) => shadow.destroy(mem).finish(mem, env.budget),
            Table::SecondShadow(shadow) => shadow.destroy(mem).finish(mem, env.budget),
        }
        self.bind_dids.retain(|&d| d != installed.did);
    }

    /// Removes (`rid`, `pasid`)'s binding from the unit: the plain entry
    /// back (no PASID) or the entry cleared, and every cache of the
    /// binding's DID dropped.
    fn uninstall(
        &mut self,
        rid: u32,
        pasid: Option<u32>,
        installed: &Installed,
        domain: &Domain,
    ) -> Result<(), BackendError> {
        match pasid {
            None => self.attach_entry(rid, domain)?,
            Some(p) => match self.unit.clear_pasid_entry(rid as u16, p, installed.did) {
                // No PASID table there: the entry was never written (its
                // table could not be allocated).
                Err(VtdError::NotAttached) => {}
                other => other?,
            },
        }
        self.forget_did(installed.did)
    }

    /// A binding that could not be installed, or whose table is going away:
    /// its entry removed where possible and the table freed, or kept
    /// (leaked, its DID never reused) when the unit may still walk it.
    fn undo_install(
        &mut self,
        rid: u32,
        pasid: Option<u32>,
        installed: Installed,
        domain: &Domain,
        env: &mut Env<'_>,
    ) -> Result<(), BackendError> {
        match self.uninstall(rid, pasid, &installed, domain) {
            Ok(()) => {
                self.free_installed(installed, env);
                Ok(())
            }
            Err(e) => {
                self.quarantine.push(installed);
                Err(e)
            }
        }
    }

    /// Whether the shadow bound on (`rid`, `pasid`) maps `address`; `None`
    /// without a shadow there. A second-stage entry is "not present" when
    /// R and W are both clear, so the unit reports a hole of the guest's
    /// table as a denied read or write (§3.7.1, fault reasons 5h / 6h):
    /// the shadow, which mirrors the guest's table, tells which it was.
    fn shadow_maps(&self, rid: u32, pasid: Option<u32>, address: u64) -> Option<bool> {
        let installed = self.binds.get(&(rid, pasid))?;
        let mem = self.unit.memory();
        let offset = address & ((1u64 << installed.input_bits) - 1);
        match &installed.table {
            Table::Nested => None,
            Table::FirstShadow(s) => Some(s.table().query(mem, offset).is_some()),
            Table::SecondShadow(s) => Some(s.table().query(mem, offset).is_some()),
        }
    }

    /// Builds what a binding's entry points at: nothing for nested (the
    /// guest's root itself), a shadow otherwise.
    fn build_table(
        &mut self,
        table: &Stage1,
        levels: u8,
        domain: &Domain,
        env: &mut Env<'_>,
    ) -> Result<(Table, PasidTranslation), BackendError> {
        let first_levels = if levels == 5 {
            FirstStageLevels::Five
        } else {
            FirstStageLevels::Four
        };
        let guest = GuestTable {
            root: table.root,
            levels,
        };
        let input_bits = if levels == 5 { 57 } else { 48 };
        match self.install() {
            Some(Install::Nested) => {
                let second_stage = self.copy(domain)?;
                let width = self.copy_width(domain)?;
                let translation = PasidTranslation::Nested {
                    first_stage: table.root,
                    levels: first_levels,
                    supervisor: table.flags.contains(BindFlags::X86_SRE),
                    write_protect: table.flags.contains(BindFlags::X86_WPE),
                    extended_access: table.flags.contains(BindFlags::X86_EAFE),
                    second_stage,
                    width,
                };
                Ok((Table::Nested, translation))
            }
            Some(Install::Shadow) if self.scalable() && self.unit.id.ecap.flts() => {
                let mem = self.unit.memory();
                let t = FirstStageTable::new(mem, self.unit.id.cap, input_bits)
                    .map_err(|_| BackendError::Unsupported("a first-stage shadow that wide"))?;
                let shadow =
                    Shadow::build(mem, t, guest, domain.ram, env.guest, env.budget, env.walk)?;
                let translation = PasidTranslation::FirstStage {
                    root: shadow.root(),
                    levels: first_levels,
                    supervisor: false,
                    write_protect: false,
                };
                Ok((Table::FirstShadow(shadow), translation))
            }
            Some(Install::Shadow) => {
                let mem = self.unit.memory();
                let t = IoPageTable::<SecondStage>::new(
                    mem,
                    self.unit.id.cap,
                    self.unit.id.ecap,
                    input_bits,
                )
                .map_err(|_| BackendError::Unsupported("a second-stage shadow that wide"))?;
                let shadow =
                    Shadow::build(mem, t, guest, domain.ram, env.guest, env.budget, env.walk)?;
                let Some(width) = AddressWidth::from_levels(shadow.table().levels()) else {
                    shadow.destroy(mem).finish(mem, env.budget);
                    return Err(BackendError::Unsupported("table levels"));
                };
                let translation = PasidTranslation::SecondStage {
                    root: shadow.root(),
                    width,
                };
                Ok((Table::SecondShadow(shadow), translation))
            }
            None => Err(BackendError::Unsupported(
                "first- or second-stage translation",
            )),
        }
    }
}

/// The x86 levels of a format.
fn levels(format: Stage1Format) -> Option<u8> {
    match format {
        Stage1Format::X86FourLevel => Some(4),
        Stage1Format::X86FiveLevel => Some(5),
        _ => None,
    }
}

impl<R: RegisterAccess, M: DmaMemory, C: Clock> Backend for VtdBackend<R, M, C> {
    fn kind(&self) -> IommuKind {
        IommuKind::Vtd
    }

    fn limits(&self, device: &DeviceInfo, _domain: &Domain) -> Limits {
        let Some(install) = self.install() else {
            return Limits::default();
        };
        let (cap, ecap) = (self.unit.id.cap, self.unit.id.ecap);
        let pasid_bits = if self.scalable() && ecap.pasid() {
            self.unit
                .pasid_bits()
                .min(DRIVER_PASID_BITS)
                .min(device.pasid_bits)
        } else {
            0
        };
        let mut formats = Stage1Formats::X86_4LEVEL;
        formats.set(Stage1Formats::X86_5LEVEL, self.five_level());
        let nested = install == Install::Nested;
        // A shadow splits 1 GiB leaves as its format needs.
        formats.set(Stage1Formats::X86_1G_PAGES, !nested || cap.fl1gp());
        let mut caps = SvaCaps::BIND;
        caps.set(SvaCaps::BIND_PASID, pasid_bits > 0);
        caps.set(SvaCaps::X86_SRE, nested && ecap.srs());
        caps.set(SvaCaps::X86_WPE, nested);
        caps.set(SvaCaps::X86_EAFE, nested && ecap.eafs());
        caps.set(SvaCaps::PRI, self.page_requests && device.pri);
        Limits {
            install: Some(install),
            formats,
            caps,
            pasid_bits,
            cd_max: 0,
            input_bits: if self.five_level() { 57 } else { 48 },
            output_bits: GPA_BITS,
            asid_bits: 0,
        }
    }

    fn attach(&mut self, rid: u32, domain: &Domain) -> Result<(), BackendError> {
        if !self.unit.interrupts_remapped() {
            // Writes to 0xFEEx_xxxx would reach vsva as interrupts (§3.14).
            return Err(BackendError::Unsupported("interrupt remapping (ECAP.IR)"));
        }
        if self.attached.contains_key(&rid) {
            return Err(BackendError::Unsupported(
                "the requester is attached already",
            ));
        }
        if self.bind_dids.contains(&domain.id) {
            return Err(BackendError::NoResources(
                "the domain ID (a binding holds it)",
            ));
        }
        if let Err(e) = self.attach_entry(rid, domain) {
            if self.unit.detach(rid as u16, domain.id).is_ok() {
                self.release_unused_copy(domain);
            }
            return Err(e);
        }
        self.attached.insert(rid, domain.id);
        Ok(())
    }

    fn detach(&mut self, rid: u32, domain: &Domain) -> Result<(), BackendError> {
        self.unit.detach(rid as u16, domain.id)?;
        let mine: Vec<(u32, Option<u32>)> = self
            .binds
            .keys()
            .filter(|(r, _)| *r == rid)
            .copied()
            .collect();
        // The context entry is gone: nothing walks the bindings' tables.
        for key in mine {
            if let Some(installed) = self.binds.remove(&key) {
                self.forget_did(installed.did)?;
                // No budget to credit: the partition is going away.
                let mut budget = crate::shadow::ShadowBudget::new(0);
                let mut none = super::NoStage2Tables;
                let mut walk = WalkLimit(0);
                let mut env = Env {
                    guest: &crate::guest::NoGuest,
                    stage2: &mut none,
                    budget: &mut budget,
                    walk: &mut walk,
                };
                self.free_installed(installed, &mut env);
            }
        }
        self.attached.remove(&rid);
        Ok(())
    }

    fn release_domain(&mut self, domain: &Domain) -> Result<(), BackendError> {
        if self.attached.values().any(|&d| d == domain.id) {
            return Err(BackendError::Unsupported(
                "devices of the domain are attached",
            ));
        }
        if let Some(table) = self.copies.remove(&domain.id) {
            // No entry uses it any more; its cached walks go with the DID.
            self.forget_did(domain.id)?;
            let mem = self.unit.memory();
            table.destroy(mem).finish(mem);
        }
        Ok(())
    }

    fn bind_stage1(
        &mut self,
        rid: u32,
        pasid: Option<u32>,
        table: &Stage1,
        _device: &DeviceInfo,
        domain: &Domain,
        env: &mut Env<'_>,
    ) -> Result<(), BackendError> {
        let levels = levels(table.format).ok_or(BackendError::Unsupported("VMSAv8 tables"))?;
        if pasid.is_some() && !self.scalable() {
            return Err(BackendError::Unsupported("PASIDs in legacy mode"));
        }
        let did = self.alloc_did()?;
        let (built, translation) = match self.build_table(table, levels, domain, env) {
            Ok(t) => t,
            Err(e) => {
                self.bind_dids.retain(|&d| d != did);
                return Err(e);
            }
        };
        let installed = Installed {
            did,
            input_bits: if levels == 5 { 57 } else { 48 },
            table: built,
        };
        if let Err(e) = self.install_entry(rid, pasid, translation, did, domain) {
            // The entry may have been written before the failure.
            if self
                .undo_install(rid, pasid, installed, domain, env)
                .is_ok()
            {
                self.release_unused_copy(domain);
            }
            return Err(e);
        }
        self.binds.insert((rid, pasid), installed);
        Ok(())
    }

    fn unbind_stage1(
        &mut self,
        rid: u32,
        pasid: Option<u32>,
        domain: &Domain,
        env: &mut Env<'_>,
    ) -> Result<(), BackendError> {
        let installed = self
            .binds
            .remove(&(rid, pasid))
            .ok_or(BackendError::Unsupported("nothing bound there"))?;
        self.undo_install(rid, pasid, installed, domain, env)
    }

    fn bind_cd_table(
        &mut self,
        _rid: u32,
        _table: &GuestCdTable,
        _domain: &Domain,
    ) -> Result<(), BackendError> {
        Err(BackendError::Unsupported("CD tables (SMMUv3 only)"))
    }

    fn unbind_cd_table(&mut self, _rid: u32, _domain: &Domain) -> Result<(), BackendError> {
        Err(BackendError::Unsupported("CD tables (SMMUv3 only)"))
    }

    fn invalidate(
        &mut self,
        ops: &[UnitInvalidation],
        domain: &Domain,
        env: &mut Env<'_>,
    ) -> Result<(), (usize, BackendError)> {
        self.run_invalidations(ops, domain, env)
    }

    fn take_faults(&mut self) -> Vec<UnitFault> {
        let records = self.unit.take_faults();
        records
            .into_iter()
            .map(|f| {
                let requester = u32::from(f.source_id);
                // PASID 0 is RID_PASID: the requests without a PASID.
                let pasid = f.pasid.filter(|&p| p != 0);
                let mut reason = fault_reason(f.reason);
                if reason == FaultReason::Permission
                    && self.shadow_maps(requester, pasid, f.address) == Some(false)
                {
                    reason = FaultReason::NotPresent;
                }
                UnitFault {
                    requester,
                    pasid,
                    address: f.address,
                    write: f.write,
                    exec: f.execute,
                    privileged: f.privileged,
                    reason,
                    code: f.reason,
                }
            })
            .collect()
    }

    fn take_requests(&mut self) -> Vec<UnitRequest> {
        self.unit
            .take_page_requests()
            .into_iter()
            .map(|r| UnitRequest {
                requester: u32::from(r.requester),
                pasid: r.pasid,
                address: r.address,
                read: r.read,
                write: r.write,
                exec: r.execute,
                privileged: r.privileged,
                last: r.last_in_group,
                group: r.group_index,
                stall: false,
                private: None,
            })
            .collect()
    }

    /// A page group response (§7.7.1) for the request's group.
    fn answer(&mut self, request: &UnitRequest, code: ResponseCode) -> Result<(), BackendError> {
        if request.stall || !self.page_requests {
            return Err(BackendError::Unsupported("page requests"));
        }
        let code = match code {
            ResponseCode::Success => GroupResponse::Success,
            ResponseCode::Invalid => GroupResponse::InvalidRequest,
            ResponseCode::Failure => GroupResponse::Failure,
        };
        let request = PageRequest {
            requester: request.requester as u16,
            pasid: request.pasid,
            address: request.address,
            read: request.read,
            write: request.write,
            execute: request.exec,
            privileged: request.privileged,
            last_in_group: true,
            group_index: request.group,
        };
        Ok(self.unit.respond(&request, code)?)
    }
}

/// VT-d fault reasons (§7.1.3, Table "Fault Reason Encodings") in the
/// service's set.
fn fault_reason(code: u8) -> FaultReason {
    match code {
        0x04 | 0x71 | 0x80 | 0x83 => FaultReason::NotPresent,
        0x05 | 0x06 | 0x81 | 0x84 | 0x85 => FaultReason::Permission,
        0x07 | 0x78 => FaultReason::Stage2,
        0x01 | 0x02 | 0x39 | 0x41 | 0x51 | 0x59 | 0x0d => FaultReason::NotConfigured,
        0x03 | 0x0a | 0x0b | 0x0c | 0x3a | 0x42 | 0x43 | 0x52 | 0x5a | 0x5b | 0x70 | 0x72
        | 0x79 => FaultReason::BadTable,
        _ => FaultReason::Other,
    }
}
