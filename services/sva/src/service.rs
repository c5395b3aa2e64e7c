//! The service: partitions, their devices and bindings, the PASID space,
//! and the IOMMU units behind one IOMMU-neutral value.

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::vec::Vec;

use vsva_abi::sva::{DeviceId, ResponseCode};
use vsva_abi::{Call, HvError};

use crate::PartitionId;
use crate::backend::{
    Backend, BackendError, DeviceInfo, Domain, Env, FaultReason, Stage2Tables, UnitFault,
};
use crate::events::{EventConfig, Events};
use crate::guest::GuestMemory;
use crate::pasid::PasidSpace;
use crate::shadow::{ShadowBudget, WalkLimit};

/// Shadow table pages a partition may hold unless told otherwise (4 MiB:
/// about 2 GiB of 4 KiB mappings).
pub const DEFAULT_SHADOW_PAGES: usize = 1024;

/// Why the kernel's request (not a guest's call) was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SvaError {
    /// No such partition.
    UnknownPartition(PartitionId),
    /// The partition ID or domain ID is in use.
    DuplicatePartition(PartitionId),
    /// The domain ID was a partition's whose teardown failed: the IOMMU
    /// may still cache translations under it, so it is never reused.
    QuarantinedDomain(u16),
    /// No IOMMU unit of that index is driven.
    UnknownUnit(usize),
    /// The device is assigned already (to this or another partition), or
    /// the guest-visible ID is taken in the partition.
    DeviceInUse { unit: usize, rid: u32 },
    /// The unit refused or failed.
    Backend(BackendError),
}

impl From<BackendError> for SvaError {
    fn from(e: BackendError) -> Self {
        Self::Backend(e)
    }
}

/// A PCI function as the kernel assigns it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HostDevice {
    /// Index of the IOMMU unit that translates it.
    pub unit: usize,
    /// The requester ID / StreamID that unit sees.
    pub rid: u32,
    /// The ID the partition's configuration window shows.
    pub virtual_id: DeviceId,
    pub info: DeviceInfo,
}

/// A table bound by BindStage1, as the service remembers it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Bound {
    pub input_bits: u8,
}

/// An assigned device and its bindings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Device {
    pub host: HostDevice,
    /// PASID (None: requests without one) -> its table.
    pub stage1: BTreeMap<Option<u32>, Bound>,
    /// S1CDMax of a bound guest CD table.
    pub cd_table: Option<u8>,
}

/// A partition as the service knows it.
#[derive(Debug)]
pub(crate) struct Partition {
    pub domain: Domain,
    pub budget: ShadowBudget,
    pub devices: Vec<Device>,
    pub events: Events,
}

impl Partition {
    pub fn device(&self, id: DeviceId) -> Option<usize> {
        self.devices.iter().position(|d| d.host.virtual_id == id)
    }
}

/// A DMA an IOMMU blocked, with whose it was.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RoutedFault {
    /// The partition that owns the requester (`None`: no partition's).
    pub partition: Option<PartitionId>,
    /// The device as that partition names it.
    pub device: Option<DeviceId>,
    pub unit: usize,
    pub fault: UnitFault,
}

/// What a failed teardown left behind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quarantine {
    /// The first failure; the partition's memory must never be reused (the
    /// IOMMU may still reach it) and its devices stay blocked by other means.
    pub error: BackendError,
}

/// The vSVA service over units of type `U`.
#[derive(Debug)]
pub struct Sva<U> {
    pub(crate) units: Vec<Option<U>>,
    pub(crate) pasids: PasidSpace,
    pub(crate) partitions: BTreeMap<PartitionId, Partition>,
    /// Faults drained from the units but not yet taken, with their owners
    /// (named while the owners still existed).
    pub(crate) pending: Vec<RoutedFault>,
    /// Domain IDs of partitions whose teardown failed.
    quarantined: BTreeSet<u16>,
}

impl<U: Backend> Sva<U> {
    /// The service over `units` (indexed as the platform numbers its IOMMUs;
    /// `None` for one vsva does not drive), PASIDs below 2^`pasid_bits`.
    pub fn new(units: Vec<Option<U>>, pasid_bits: u8) -> Self {
        Self {
            units,
            pasids: PasidSpace::new(pasid_bits),
            partitions: BTreeMap::new(),
            pending: Vec::new(),
            quarantined: BTreeSet::new(),
        }
    }

    /// Unit `index`, for what the service does not cover.
    pub fn unit_mut(&mut self, index: usize) -> Option<&mut U> {
        self.units.get_mut(index).and_then(Option::as_mut)
    }

    /// Every unit, for bring-up reports.
    pub fn units(&self) -> impl Iterator<Item = (usize, &U)> {
        self.units
            .iter()
            .enumerate()
            .filter_map(|(i, u)| u.as_ref().map(|u| (i, u)))
    }

    /// Registers a partition: its domain (ID, RAM, stage 2), its PASID
    /// quota and the shadow table pages it may hold.
    pub fn add_partition(
        &mut self,
        id: PartitionId,
        domain: Domain,
        pasid_quota: u32,
        shadow_pages: usize,
    ) -> Result<(), SvaError> {
        if self.partitions.contains_key(&id)
            || self.partitions.values().any(|p| p.domain.id == domain.id)
        {
            return Err(SvaError::DuplicatePartition(id));
        }
        if self.quarantined.contains(&domain.id) {
            return Err(SvaError::QuarantinedDomain(domain.id));
        }
        self.pasids.set_quota(id, pasid_quota);
        self.partitions.insert(
            id,
            Partition {
                domain,
                budget: ShadowBudget::new(shadow_pages),
                devices: Vec::new(),
                events: Events::new(EventConfig::default()),
            },
        );
        Ok(())
    }

    /// Assigns a device to a partition: its DMA goes through the
    /// partition's stage 2 from now on.
    pub fn assign(&mut self, id: PartitionId, device: HostDevice) -> Result<(), SvaError> {
        let taken = self.partitions.values().any(|p| {
            p.devices
                .iter()
                .any(|d| d.host.unit == device.unit && d.host.rid == device.rid)
        });
        let partition = self
            .partitions
            .get_mut(&id)
            .ok_or(SvaError::UnknownPartition(id))?;
        if taken || partition.device(device.virtual_id).is_some() {
            return Err(SvaError::DeviceInUse {
                unit: device.unit,
                rid: device.rid,
            });
        }
        let unit = self
            .units
            .get_mut(device.unit)
            .and_then(Option::as_mut)
            .ok_or(SvaError::UnknownUnit(device.unit))?;
        unit.attach(device.rid, &partition.domain)?;
        partition.devices.push(Device {
            host: device,
            stage1: BTreeMap::new(),
            cd_table: None,
        });
        Ok(())
    }

    /// Tears a partition down: every binding and device detached (DMA
    /// blocked, caches invalidated, tables freed), every PASID freed. An
    /// IOMMU failure on the way stops the teardown: what is left must stay
    /// quarantined (the partition's memory never reused).
    pub fn remove_partition(&mut self, id: PartitionId) -> Result<(), Quarantine> {
        // Faults recorded so far still name their owner.
        self.drain_units();
        // Whatever the partition owed its devices is answered while they
        // are still attached.
        self.answer_where(id, |_| true, ResponseCode::Failure);
        let Some(partition) = self.partitions.remove(&id) else {
            return Ok(());
        };
        self.pasids.release_all(id);
        let mut first_error = None;
        let mut units_used: Vec<usize> = Vec::new();
        for device in &partition.devices {
            let Some(unit) = self
                .units
                .get_mut(device.host.unit)
                .and_then(Option::as_mut)
            else {
                continue;
            };
            if let Err(e) = unit.detach(device.host.rid, &partition.domain) {
                first_error.get_or_insert(e);
            }
            units_used.push(device.host.unit);
        }
        if first_error.is_none() {
            units_used.sort_unstable();
            units_used.dedup();
            for index in units_used {
                if let Some(unit) = self.units.get_mut(index).and_then(Option::as_mut)
                    && let Err(e) = unit.release_domain(&partition.domain)
                {
                    first_error.get_or_insert(e);
                }
            }
        }
        match first_error {
            None => Ok(()),
            Some(error) => {
                self.quarantined.insert(partition.domain.id);
                Err(Quarantine { error })
            }
        }
    }

    /// Serves vSVA call `call` of partition `id` with its argument struct
    /// at guest-physical `gpa`; `guest` is the caller's RAM, `stage2` its
    /// stage 2 for structures vsva places there.
    pub fn call(
        &mut self,
        id: PartitionId,
        call: Call,
        gpa: u64,
        guest: &mut dyn GuestMemory,
        stage2: &mut dyn Stage2Tables,
    ) -> Result<u64, HvError> {
        crate::calls::dispatch(self, id, call, gpa, guest, stage2)
    }

    /// How many blocked DMAs the units have reported and
    /// [`take_faults`](Self::take_faults) has not yet taken.
    pub fn faults_pending(&self) -> usize {
        self.pending.len()
    }

    /// The DMA every unit blocked since the last call, each with the
    /// partition and device it came from.
    pub fn take_faults(&mut self) -> Vec<RoutedFault> {
        self.drain_units();
        core::mem::take(&mut self.pending)
    }

    /// The faults of partition `id` only (the others stay for
    /// [`take_faults`](Self::take_faults)): what a partition being torn
    /// down takes first.
    pub fn take_faults_of(&mut self, id: PartitionId) -> Vec<RoutedFault> {
        self.drain_units();
        let (mine, others) = core::mem::take(&mut self.pending)
            .into_iter()
            .partition(|f| f.partition == Some(id));
        self.pending = others;
        mine
    }

    /// PASIDs held by anyone.
    pub fn pasids_in_use(&self) -> usize {
        self.pasids.in_use()
    }

    /// The PASIDs partition `id` holds.
    pub fn pasids_of(&self, id: PartitionId) -> Vec<u32> {
        self.pasids.held_by(id).collect()
    }

    /// Bindings (stage-1 tables and CD tables) partition `id` has.
    pub fn bindings_of(&self, id: PartitionId) -> usize {
        self.partitions.get(&id).map_or(0, |p| {
            p.devices
                .iter()
                .map(|d| d.stage1.len() + usize::from(d.cd_table.is_some()))
                .sum()
        })
    }

    /// Shadow table pages partition `id` may still take.
    pub fn shadow_pages_left(&self, id: PartitionId) -> Option<usize> {
        self.partitions.get(&id).map(|p| p.budget.pages_left())
    }

    /// The backend and partition state one call works on, borrowed apart.
    pub(crate) fn parts(
        &mut self,
        id: PartitionId,
    ) -> Option<(&mut Vec<Option<U>>, &mut PasidSpace, &mut Partition)> {
        let partition = self.partitions.get_mut(&id)?;
        Some((&mut self.units, &mut self.pasids, partition))
    }
}

/// Guest entries the shadow walks of one call may examine together
/// (2^18: a whole 1 GiB of 4 KiB mappings): however many entries a batch
/// has, a hypercall's walking is bounded.
pub const WALK_LIMIT_PER_CALL: usize = 1 << 18;

/// An [`Env`] over a partition's budget and the caller's memory.
pub(crate) fn env<'a>(
    guest: &'a dyn GuestMemory,
    stage2: &'a mut dyn Stage2Tables,
    budget: &'a mut ShadowBudget,
    walk: &'a mut WalkLimit,
) -> Env<'a> {
    Env {
        guest,
        stage2,
        budget,
        walk,
    }
}

impl FaultReason {
    /// A name for logs.
    pub const fn name(self) -> &'static str {
        match self {
            Self::NotPresent => "not present",
            Self::Permission => "permission",
            Self::BadTable => "bad table",
            Self::Stage2 => "outside the partition (stage 2)",
            Self::NotConfigured => "no translation configured",
            Self::Other => "other",
        }
    }
}
