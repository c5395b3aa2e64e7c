//! Checking a manifest against the machine it will run on.

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::string::String;
use alloc::vec::Vec;
use core::ops::Range;

use crate::{
    Arch, DeviceRef, HOST_BASE_ALIGN, IMAGE_HEADROOM, MAX_CMDLINE_LEN, MAX_DEVICES,
    MAX_PAGE_REQUEST_TIMEOUT_MS, MAX_PARTITIONS, MAX_PASIDS, MAX_VCPUS, Manifest, ManifestError,
    PAGE_SIZE, PartitionSpec, PciAddress, is_valid_name,
};

/// The target machine, as xtask knows it when it builds the hypervisor image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Machine {
    /// The architecture; recorded in the blob so vsva refuses a blob built for the other one.
    pub arch: Arch,
    /// Host-physical RAM, as `(start, end)` half-open ranges in any order.
    pub ram: Vec<(u64, u64)>,
    /// Host-physical range vsva itself occupies, `(start, end)` half-open.
    pub hypervisor: (u64, u64),
    /// Bytes of RAM vsva keeps for itself (frames, heap, IOMMU tables) besides its image.
    pub reserve: u64,
    /// The PCI functions the machine has.
    pub functions: Vec<PciFunction>,
    /// Guest-physical `(base, size)` of the emulated ECAM window every partition gets.
    pub config_window: (u64, u64),
    /// Guest-physical `(base, size)` of the window where vsva maps IOMMU
    /// structures a partition's SMMU reads through stage 2
    /// (`vsva_abi::sva::TABLE_WINDOW_BASE`).
    pub table_window: (u64, u64),
    /// Guest-physical RAM base of a partition without `guest_base`.
    pub default_guest_base: u64,
    /// For each known image, the guest-physical `(start, end)` it loads to (half-open).
    /// A name not in the map is an unknown image.
    pub image_span: BTreeMap<String, (u64, u64)>,
}

/// A PCI function of the machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PciFunction {
    /// PCI segment.
    pub segment: u16,
    /// Bus number.
    pub bus: u8,
    /// Device number, 0..=31.
    pub device: u8,
    /// Function number, 0..=7.
    pub function: u8,
    /// Vendor ID.
    pub vendor_id: u16,
    /// Device ID.
    pub device_id: u16,
}

impl PciFunction {
    /// The function's address.
    pub fn address(&self) -> PciAddress {
        PciAddress {
            segment: self.segment,
            bus: self.bus,
            device: self.device,
            function: self.function,
        }
    }
}

/// Checks `manifest` against `machine` and returns every problem found, not just the first.
pub fn validate(manifest: &Manifest, machine: &Machine) -> Result<(), Vec<ManifestError>> {
    let mut errors = Vec::new();
    let partitions = &manifest.partitions;
    if partitions.is_empty() {
        errors.push(ManifestError::NoPartitions);
    }
    if partitions.len() > MAX_PARTITIONS {
        errors.push(ManifestError::TooManyPartitions {
            count: partitions.len(),
        });
    }

    let mut names: BTreeMap<&str, usize> = BTreeMap::new();
    for (index, p) in partitions.iter().enumerate() {
        if !is_valid_name(&p.name) {
            errors.push(ManifestError::BadName {
                index,
                name: p.name.clone(),
            });
        }
        *names.entry(&p.name).or_default() += 1;
    }
    for (name, count) in names {
        if count > 1 {
            errors.push(ManifestError::DuplicateName {
                name: name.into(),
                count,
            });
        }
    }

    let ram = merged(&machine.ram);
    for p in partitions {
        check_partition(p, machine, &ram, &mut errors);
    }
    check_host_overlaps(partitions, &mut errors);
    check_devices(partitions, machine, &mut errors);
    check_totals(partitions, machine, &ram, &mut errors);

    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// The function `device` names on `machine`.
pub(crate) fn resolve(
    partition: &str,
    device: &DeviceRef,
    machine: &Machine,
) -> Result<PciAddress, ManifestError> {
    match *device {
        DeviceRef::Address(address) => machine
            .functions
            .iter()
            .any(|f| f.address() == address)
            .then_some(address)
            .ok_or_else(|| ManifestError::NoSuchFunctionAt {
                partition: partition.into(),
                address,
            }),
        DeviceRef::Id { vendor, device } => {
            let addresses: Vec<PciAddress> = machine
                .functions
                .iter()
                .filter(|f| f.vendor_id == vendor && f.device_id == device)
                .map(PciFunction::address)
                .collect();
            match addresses[..] {
                [address] => Ok(address),
                [] => Err(ManifestError::NoSuchDevice {
                    partition: partition.into(),
                    vendor,
                    device,
                }),
                _ => Err(ManifestError::AmbiguousDevice {
                    partition: partition.into(),
                    vendor,
                    device,
                    addresses,
                }),
            }
        }
    }
}

/// The guest-physical base of `p`'s RAM.
pub(crate) fn guest_base(p: &PartitionSpec, machine: &Machine) -> u64 {
    p.guest_base.unwrap_or(machine.default_guest_base)
}

/// `[base, base + memory)`, `None` when it wraps.
fn span(base: u64, memory: u64) -> Option<Range<u64>> {
    Some(base..base.checked_add(memory)?)
}

fn overlaps(a: &Range<u64>, b: &Range<u64>) -> bool {
    a.start < b.end && b.start < a.end
}

/// `ranges` sorted, empty ones dropped, touching or overlapping ones joined, so a partition
/// spanning two adjacent firmware ranges counts as inside RAM.
fn merged(ranges: &[(u64, u64)]) -> Vec<Range<u64>> {
    let mut sorted: Vec<Range<u64>> = ranges
        .iter()
        .filter(|(start, end)| start < end)
        .map(|&(start, end)| start..end)
        .collect();
    sorted.sort_by_key(|r| r.start);
    let mut out: Vec<Range<u64>> = Vec::with_capacity(sorted.len());
    for r in sorted {
        match out.last_mut() {
            Some(last) if r.start <= last.end => last.end = last.end.max(r.end),
            _ => out.push(r),
        }
    }
    out
}

/// The checks that look at one partition alone.
fn check_partition(
    p: &PartitionSpec,
    machine: &Machine,
    ram: &[Range<u64>],
    errors: &mut Vec<ManifestError>,
) {
    let partition = || p.name.clone();
    if !(1..=MAX_VCPUS).contains(&p.vcpus) {
        errors.push(ManifestError::BadVcpus {
            partition: partition(),
            vcpus: p.vcpus,
        });
    }
    if p.pasid_quota > MAX_PASIDS {
        errors.push(ManifestError::BadPasidQuota {
            partition: partition(),
            quota: p.pasid_quota,
        });
    }
    if !(1..=MAX_PAGE_REQUEST_TIMEOUT_MS).contains(&p.page_request_timeout_ms) {
        errors.push(ManifestError::BadPageRequestTimeout {
            partition: partition(),
            ms: p.page_request_timeout_ms,
        });
    }
    if p.memory == 0 || !p.memory.is_multiple_of(PAGE_SIZE) {
        errors.push(ManifestError::BadMemory {
            partition: partition(),
            memory: p.memory,
        });
    }
    if p.cmdline.len() > MAX_CMDLINE_LEN {
        errors.push(ManifestError::CmdlineTooLong {
            partition: partition(),
            len: p.cmdline.len(),
        });
    }
    if p.devices.len() > MAX_DEVICES {
        errors.push(ManifestError::TooManyDevices {
            partition: partition(),
            count: p.devices.len(),
        });
    }
    check_devices_without_reset(p, errors);

    if let Some(host_base) = p.host_base {
        if host_base == 0 {
            errors.push(ManifestError::HostBaseZero {
                partition: partition(),
            });
        } else if !host_base.is_multiple_of(HOST_BASE_ALIGN) {
            errors.push(ManifestError::Misaligned {
                partition: partition(),
                field: "host_base",
                value: host_base,
                align: HOST_BASE_ALIGN,
            });
        }
        match span(host_base, p.memory) {
            None => errors.push(ManifestError::RangeOverflow {
                partition: partition(),
                field: "host_base",
                base: host_base,
                memory: p.memory,
            }),
            Some(range) => {
                if !ram
                    .iter()
                    .any(|r| r.start <= range.start && range.end <= r.end)
                {
                    errors.push(ManifestError::NotInRam {
                        partition: partition(),
                        range: range.clone(),
                    });
                }
                let hypervisor = machine.hypervisor.0..machine.hypervisor.1;
                if overlaps(&range, &hypervisor) {
                    errors.push(ManifestError::OverlapsHypervisor {
                        partition: partition(),
                        range,
                        hypervisor,
                    });
                }
            }
        }
    }

    let base = guest_base(p, machine);
    if !base.is_multiple_of(PAGE_SIZE) {
        errors.push(ManifestError::Misaligned {
            partition: partition(),
            field: "guest_base",
            value: base,
            align: PAGE_SIZE,
        });
    }
    let Some(guest_ram) = span(base, p.memory) else {
        errors.push(ManifestError::RangeOverflow {
            partition: partition(),
            field: "guest_base",
            base,
            memory: p.memory,
        });
        return;
    };
    let (window_base, window_size) = machine.config_window;
    let window = window_base..window_base.saturating_add(window_size);
    if overlaps(&guest_ram, &window) {
        errors.push(ManifestError::OverlapsConfigWindow {
            partition: partition(),
            range: guest_ram.clone(),
            window,
        });
    }
    let (window_base, window_size) = machine.table_window;
    let window = window_base..window_base.saturating_add(window_size);
    if overlaps(&guest_ram, &window) {
        errors.push(ManifestError::OverlapsTableWindow {
            partition: partition(),
            range: guest_ram.clone(),
            window,
        });
    }

    let Some(&(start, end)) = machine.image_span.get(&p.image) else {
        errors.push(ManifestError::UnknownImage {
            partition: partition(),
            image: p.image.clone(),
        });
        return;
    };
    if start < guest_ram.start || end < start {
        errors.push(ManifestError::ImageOutsideRam {
            partition: partition(),
            image: p.image.clone(),
            span: start..end,
            ram: guest_ram,
        });
    } else if end.saturating_add(IMAGE_HEADROOM) > guest_ram.end {
        let needed = (end - guest_ram.start)
            .saturating_add(IMAGE_HEADROOM)
            .saturating_add(PAGE_SIZE - 1)
            & !(PAGE_SIZE - 1);
        errors.push(ManifestError::TooLittleMemory {
            partition: partition(),
            image: p.image.clone(),
            memory: p.memory,
            needed,
        });
    }
}

/// Each `devices_without_reset` entry must be one of the partition's `devices`, named the
/// same way (so the exemption goes to the slot the device has, whatever it resolves to),
/// and appear once. Each problem is reported once per entry, however often it repeats.
fn check_devices_without_reset(p: &PartitionSpec, errors: &mut Vec<ManifestError>) {
    let mut seen = BTreeSet::new();
    let mut repeated = BTreeSet::new();
    for device in &p.devices_without_reset {
        if !seen.insert(device) {
            if repeated.insert(device) {
                errors.push(ManifestError::DeviceWithoutResetListedTwice {
                    partition: p.name.clone(),
                    device: *device,
                });
            }
        } else if !p.devices.contains(device) {
            errors.push(ManifestError::DeviceWithoutResetNotAssigned {
                partition: p.name.clone(),
                device: *device,
            });
        }
    }
}

/// Pinned host RAM of two partitions must not overlap; reported once per pair, on the later.
fn check_host_overlaps(partitions: &[PartitionSpec], errors: &mut Vec<ManifestError>) {
    let pinned: Vec<(&str, Range<u64>)> = partitions
        .iter()
        .filter_map(|p| Some((p.name.as_str(), span(p.host_base?, p.memory)?)))
        .collect();
    for (i, (name, range)) in pinned.iter().enumerate() {
        for (other, other_range) in &pinned[..i] {
            if overlaps(range, other_range) {
                errors.push(ManifestError::OverlapsPartition {
                    partition: (*name).into(),
                    range: range.clone(),
                    other: (*other).into(),
                    other_range: other_range.clone(),
                });
            }
        }
    }
}

/// Every device must name exactly one function, and no function may be assigned twice
/// however it is named.
fn check_devices(partitions: &[PartitionSpec], machine: &Machine, errors: &mut Vec<ManifestError>) {
    let mut owners: BTreeMap<PciAddress, &str> = BTreeMap::new();
    for p in partitions {
        for device in &p.devices {
            let address = match resolve(&p.name, device, machine) {
                Ok(address) => address,
                Err(e) => {
                    errors.push(e);
                    continue;
                }
            };
            match owners.get(&address) {
                Some(&owner) if owner == p.name => errors.push(ManifestError::DeviceListedTwice {
                    partition: p.name.clone(),
                    device: *device,
                    address,
                }),
                Some(&owner) => errors.push(ManifestError::DeviceAssignedTwice {
                    partition: p.name.clone(),
                    device: *device,
                    address,
                    owner: owner.into(),
                }),
                None => {
                    owners.insert(address, &p.name);
                }
            }
        }
    }
}

/// What the partitions need together: memory and PASIDs.
fn check_totals(
    partitions: &[PartitionSpec],
    machine: &Machine,
    ram: &[Range<u64>],
    errors: &mut Vec<ManifestError>,
) {
    let total = partitions
        .iter()
        .fold(0u64, |sum, p| sum.saturating_add(p.memory));
    let ram_size = ram
        .iter()
        .fold(0u64, |sum, r| sum.saturating_add(r.end - r.start));
    let hypervisor = machine.hypervisor.1.saturating_sub(machine.hypervisor.0);
    let available = ram_size
        .saturating_sub(machine.reserve)
        .saturating_sub(hypervisor);
    if total > available {
        errors.push(ManifestError::MemoryTotal {
            total,
            available,
            ram: ram_size,
            reserve: machine.reserve,
            hypervisor,
            partitions: partitions
                .iter()
                .map(|p| (p.name.clone(), p.memory))
                .collect(),
        });
    }

    // Quotas already refused on their own stay out of the sum, so one mistake is one error.
    let quotas = || {
        partitions
            .iter()
            .filter(|p| p.pasid_quota != 0 && p.pasid_quota <= MAX_PASIDS)
    };
    let pasids = quotas().map(|p| u64::from(p.pasid_quota)).sum::<u64>();
    if pasids > u64::from(MAX_PASIDS) {
        errors.push(ManifestError::PasidTotal {
            total: pasids,
            quotas: quotas().map(|p| (p.name.clone(), p.pasid_quota)).collect(),
        });
    }
}
