//! What the service asks of an IOMMU unit, the same for VT-d and SMMUv3:
//! the [`Backend`] trait and the validated requests it takes. The service
//! decides who may do what; a backend only programs its unit, keeps the
//! hardware state of each binding, and reports what its unit can do.

use alloc::vec::Vec;

use vsva_abi::sva::{
    BindFlags, Install, IommuKind, ResponseCode, Stage1Format, Stage1Formats, SvaCaps,
};
use vsva_iommu::smmuv3::pagetable::SteFields;
use vsva_iommu::smmuv3::structs::{CdTableFormat, DefaultSubstream, TableWalk};
use vsva_iommu::smmuv3::unit::SmmuError;
use vsva_iommu::vtd::unit::VtdError;

use crate::guest::{GuestMemory, GuestRam};
use crate::shadow::{ShadowBudget, ShadowError, WalkLimit};

mod any;
mod batch;
pub mod smmu;
pub mod vtd;

pub use any::AnyUnit;

/// A device's PCI capabilities that binds depend on (PCIe §7.8.8 PASID,
/// §10.5.2 PRI), read by the kernel from its configuration space. ATS is
/// not among them: vsva enables it on no device, so device TLBs hold
/// nothing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DeviceInfo {
    /// Max PASID Width; 0 without a PASID capability.
    pub pasid_bits: u8,
    pub pasid_exec: bool,
    pub pasid_priv: bool,
    pub pri: bool,
}

/// A partition's stage 2, as IOMMUs share it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage2Desc {
    /// x86: the nested page table, in the x86 paging format that VT-d's
    /// first stage also walks (its root).
    X86 { root: u64 },
    /// Arm: the VMSAv8-64 stage-2 table the CPU uses, whose fields an STE's
    /// stage-2 half takes (SMMUv3 §5.2); IPAs below 2^`ipa_bits`.
    Vmsa { fields: SteFields, ipa_bits: u8 },
}

/// A partition as a unit sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Domain {
    /// The VMID (SMMUv3) / domain ID (VT-d) of the partition, unique.
    pub id: u16,
    pub ram: GuestRam,
    pub stage2: Stage2Desc,
}

/// What a unit can do for one device: only what vsva allows, decoded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Limits {
    /// How a bound table is installed; `None`: no binds at all.
    pub install: Option<Install>,
    pub formats: Stage1Formats,
    /// BIND, BIND_PASID, CD_TABLE, X86_* and STALL as they apply (the PCI
    /// capability bits are the service's).
    pub caps: SvaCaps,
    /// PASIDs below 2^`pasid_bits` (the unit's limit with this device).
    pub pasid_bits: u8,
    /// The largest S1CDMax of a bound CD table.
    pub cd_max: u8,
    pub input_bits: u8,
    pub output_bits: u8,
    pub asid_bits: u8,
}

/// A guest stage-1 table the service has checked: the caller owns the
/// device and the PASID, the format is one the unit takes, the root table
/// lies in the caller's RAM and is aligned, the flags are allowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stage1 {
    pub format: Stage1Format,
    /// Guest-physical root (x86 PML4/PML5; VMSAv8 TTB0).
    pub root: u64,
    pub input_bits: u8,
    /// Without [`BindFlags::PASID`].
    pub flags: BindFlags,
    pub mair: u64,
    /// VMSAv8 IRGN0, ORGN0, SH0 (`walk` bits 1:0, 3:2, 5:4).
    pub walk: TableWalk,
}

/// What a stream does under a bound guest CD table (its STE.Config).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CdConfig {
    Abort,
    /// Stage 2 only.
    Bypass,
    /// The guest's CDs, nested on stage 2.
    Translate,
}

/// A guest CD table the service has checked (SMMUv3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GuestCdTable {
    pub config: CdConfig,
    /// IPA of the linear or level-1 table.
    pub table: u64,
    pub format: CdTableFormat,
    pub cd_max: u8,
    pub default_substream: DefaultSubstream,
    pub walk: TableWalk,
    /// Stalls allowed: STE.S1STALLD clear (the guest's CDs' S bit counts).
    pub stalls: bool,
}

/// One invalidation for a unit, checked by the service: the device is the
/// caller's, the PASID and binding exist, the range is aligned and inside
/// the bound table's input range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnitInvalidation {
    /// `[start, start + len)` of (device, PASID); `asid` for a guest CD
    /// table's TLBI by ASID; `leaf`: only leaves changed.
    IotlbRange {
        rid: u32,
        pasid: Option<u32>,
        asid: Option<u16>,
        start: u64,
        len: u64,
        leaf: bool,
    },
    IotlbAll {
        rid: u32,
        pasid: Option<u32>,
        asid: Option<u16>,
    },
    PasidCache {
        rid: u32,
        pasid: Option<u32>,
    },
    PasidCacheAll {
        rid: u32,
    },
}

/// Where vsva may place structures an IOMMU reads through the partition's
/// stage 2 (SMMUv3 CD tables vsva owns under a nested STE): the kernel maps
/// host pages read-only at IPAs of `vsva_abi::sva::TABLE_WINDOW_BASE`'s
/// window in the partition's stage 2 (the CPU's and the SMMU's).
pub trait Stage2Tables {
    /// Maps host-physical `[pa, pa + len)` read-only at `ipa`; false if it
    /// cannot.
    fn map_read_only(&mut self, ipa: u64, pa: u64, len: u64) -> bool;
}

/// A stage 2 that takes nothing: for callers with no SMMU.
#[derive(Debug, Default)]
pub struct NoStage2Tables;

impl Stage2Tables for NoStage2Tables {
    fn map_read_only(&mut self, _ipa: u64, _pa: u64, _len: u64) -> bool {
        false
    }
}

/// What a partition lends a backend for one operation.
pub struct Env<'a> {
    /// The caller's RAM (a shadow walks the guest's tables in it).
    pub guest: &'a dyn GuestMemory,
    pub stage2: &'a mut dyn Stage2Tables,
    /// Table pages the partition's shadows may still take.
    pub budget: &'a mut ShadowBudget,
    /// Guest entries shadow walks may still examine in this call.
    pub walk: &'a mut WalkLimit,
}

impl core::fmt::Debug for Env<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Env").field("budget", &self.budget).finish()
    }
}

/// An IOMMU's refusal or failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IommuFailure {
    Vtd(VtdError),
    Smmu(SmmuError),
}

/// Why a backend could not do what it was asked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BackendError {
    /// The unit cannot do this (the capability named).
    Unsupported(&'static str),
    /// Out of memory, IDs (ASIDs, domain IDs) or table-window space.
    NoResources(&'static str),
    /// A shadow walk hit its budget or its walk limit.
    Shadow(ShadowError),
    /// The unit refused or did not complete: what was being changed is
    /// left blocked.
    Iommu(IommuFailure),
}

impl From<VtdError> for BackendError {
    fn from(e: VtdError) -> Self {
        match e {
            VtdError::OutOfMemory => Self::NoResources("VT-d table memory"),
            other => Self::Iommu(IommuFailure::Vtd(other)),
        }
    }
}

impl From<SmmuError> for BackendError {
    fn from(e: SmmuError) -> Self {
        match e {
            SmmuError::OutOfMemory => Self::NoResources("SMMU table memory"),
            SmmuError::TablePlacement => Self::NoResources("the table window"),
            other => Self::Iommu(IommuFailure::Smmu(other)),
        }
    }
}

impl From<ShadowError> for BackendError {
    fn from(e: ShadowError) -> Self {
        Self::Shadow(e)
    }
}

/// Why the IOMMU blocked a DMA, in one set for both IOMMUs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultReason {
    /// Nothing mapped at the address (in the stage that faulted).
    NotPresent,
    /// Mapped, but not for this access.
    Permission,
    /// A table pointer or descriptor the IOMMU could not use (a bad root,
    /// a bad PASID-table entry or CD, reserved bits).
    BadTable,
    /// The address translated to an IPA outside the partition (stage 2).
    Stage2,
    /// The device or PASID has no translation configured.
    NotConfigured,
    /// Anything else (the raw code says what).
    Other,
}

/// A DMA a unit blocked, as its fault record or event said.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnitFault {
    /// Host requester ID / StreamID.
    pub requester: u32,
    pub pasid: Option<u32>,
    /// The address the device used.
    pub address: u64,
    pub write: bool,
    /// An instruction fetch / a privileged request, where the unit says.
    pub exec: bool,
    pub privileged: bool,
    pub reason: FaultReason,
    /// VT-d fault reason (§7.1.3) or SMMUv3 event type (§7.3).
    pub code: u8,
}

/// A page request (VT-d page request queue, SMMUv3 PRI queue) or a
/// transaction the SMMU stalled: the device waits for an answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnitRequest {
    /// Host requester ID / StreamID.
    pub requester: u32,
    pub pasid: Option<u32>,
    /// The address the device asked for (page-aligned for page requests).
    pub address: u64,
    pub read: bool,
    pub write: bool,
    pub exec: bool,
    pub privileged: bool,
    /// Page requests: the last of its group, whose answer the device
    /// waits for (the others are answered with it). Stalls: always.
    pub last: bool,
    /// The page request group index (9 bits) or the stall tag (16 bits).
    pub group: u16,
    /// A stalled transaction (answered by CMD_RESUME).
    pub stall: bool,
    /// The request's private data, for a unit that reports some (VT-d
    /// before revision 4.0; the drivers here follow 4.x, which removed it,
    /// and SMMUv3 PRI has none).
    pub private: Option<[u64; 2]>,
}

/// One IOMMU unit driven for the service.
pub trait Backend {
    fn kind(&self) -> IommuKind;

    /// What binds can do for `device` in `domain`.
    fn limits(&self, device: &DeviceInfo, domain: &Domain) -> Limits;

    /// Gives requester `rid`'s DMA the domain's stage 2 only (the state a
    /// device is assigned in and returns to after every unbind).
    fn attach(&mut self, rid: u32, domain: &Domain) -> Result<(), BackendError>;

    /// Blocks `rid`'s DMA, drops every binding it has, invalidates, and
    /// frees what served it. On an error nothing is freed (it may still be
    /// reachable) and the caller must keep the domain's memory quarantined.
    fn detach(&mut self, rid: u32, domain: &Domain) -> Result<(), BackendError>;

    /// Frees what the unit kept for `domain` once no device of it is
    /// attached (same error rule as [`detach`](Self::detach)).
    fn release_domain(&mut self, domain: &Domain) -> Result<(), BackendError>;

    /// Installs a guest stage-1 table on (`rid`, `pasid`).
    fn bind_stage1(
        &mut self,
        rid: u32,
        pasid: Option<u32>,
        table: &Stage1,
        device: &DeviceInfo,
        domain: &Domain,
        env: &mut Env<'_>,
    ) -> Result<(), BackendError>;

    /// Removes the table of (`rid`, `pasid`): requests with that PASID are
    /// refused again (without a PASID: the domain's stage 2 only), every
    /// cache invalidated before it returns.
    fn unbind_stage1(
        &mut self,
        rid: u32,
        pasid: Option<u32>,
        domain: &Domain,
        env: &mut Env<'_>,
    ) -> Result<(), BackendError>;

    /// Points `rid`'s stage 1 at the guest's CD table (SMMUv3).
    fn bind_cd_table(
        &mut self,
        rid: u32,
        table: &GuestCdTable,
        domain: &Domain,
    ) -> Result<(), BackendError>;

    /// Back to the domain's stage 2 only.
    fn unbind_cd_table(&mut self, rid: u32, domain: &Domain) -> Result<(), BackendError>;

    /// Carries out `ops` in order and waits for them. On an error, the
    /// number of operations that took effect (and were waited for) before
    /// the one that failed.
    fn invalidate(
        &mut self,
        ops: &[UnitInvalidation],
        domain: &Domain,
        env: &mut Env<'_>,
    ) -> Result<(), (usize, BackendError)>;

    /// The DMA the unit blocked since the last call.
    fn take_faults(&mut self) -> Vec<UnitFault>;

    /// The page requests and stalled transactions since the last call.
    fn take_requests(&mut self) -> Vec<UnitRequest> {
        Vec::new()
    }

    /// Answers `request`: VT-d page group response, CMD_PRI_RESP, or
    /// CMD_RESUME (retry on success, abort otherwise).
    fn answer(&mut self, _request: &UnitRequest, _code: ResponseCode) -> Result<(), BackendError> {
        Err(BackendError::Unsupported("page requests"))
    }
}
