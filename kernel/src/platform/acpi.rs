//! Discovery from ACPI (x86_64 always; aarch64 when booted through UEFI): the
//! `acpi` crate walks RSDT/XSDT for MCFG and MADT; the DMAR and IORT are found by
//! our own walk and decoded by `vsva_iommu`'s parsers, so that a table with a
//! wrong checksum is still used (with a warning), as Linux does, where the `acpi`
//! crate would drop it.

use alloc::format;
use alloc::vec::Vec;
use core::ptr::NonNull;

use acpi::madt::{Madt, MadtEntry};
use acpi::mcfg::Mcfg;
use acpi::{AcpiHandler, AcpiTables, PhysicalMapping};
use log::{info, warn};
use vsva_boot::BootInfo;
use vsva_iommu::acpi::SdtHeader;
use vsva_iommu::acpi::dmar::{DeviceScopeType, Dmar};
use vsva_iommu::acpi::iort::{Iort, NodeKind};

use super::{
    Coverage, DiscoveryError, EcamWindow, IdMapping, IommuKind, IommuUnit, Platform, Scope,
};
use crate::arch;

/// Firmware tables are identity mapped read-only on demand.
#[derive(Clone, Copy, Debug)]
struct Handler;

/// Read when a table address cannot be mapped: all zeros, so the `acpi` crate's
/// signature check fails cleanly instead of reading arbitrary memory.
static ZEROES: [u8; 4096] = [0; 4096];

impl AcpiHandler for Handler {
    unsafe fn map_physical_region<T>(&self, phys: usize, size: usize) -> PhysicalMapping<Self, T> {
        let virt = match arch::firmware_bytes(phys as u64, size) {
            Ok(bytes) => bytes.as_ptr() as *mut T,
            Err(e) => {
                warn!("ACPI: cannot map {size} bytes at {phys:#x} ({e:?}); reading zeros");
                ZEROES.as_ptr() as *mut T
            }
        };
        let size = if virt as *const u8 == ZEROES.as_ptr() {
            size.min(ZEROES.len())
        } else {
            size
        };
        // SAFETY: `virt` points at `size` readable bytes for as long as the kernel
        // runs (identity mappings are never removed; ZEROES is a static).
        unsafe {
            PhysicalMapping::new(
                phys,
                NonNull::new(virt).expect("non-null"),
                size,
                size,
                *self,
            )
        }
    }

    fn unmap_physical_region<T>(_region: &PhysicalMapping<Self, T>) {
        // Identity mappings of firmware tables stay: nothing to undo.
    }
}

/// Reads a whole ACPI table at `phys` (header first, then its stated length).
fn table_bytes(phys: u64) -> Result<&'static [u8], DiscoveryError> {
    let header = arch::firmware_bytes(phys, 36).map_err(|_| DiscoveryError::Map(phys))?;
    let length = SdtHeader::peek(header)
        .map_err(DiscoveryError::Table)?
        .length() as usize;
    arch::firmware_bytes(phys, length.max(36)).map_err(|_| DiscoveryError::Map(phys))
}

/// Physical addresses of every table the RSDT (32-bit entries) or XSDT (64-bit
/// entries) lists (ACPI 6.5 §5.2.7, §5.2.8).
fn root_entries(rsdp: u64) -> Result<Vec<u64>, DiscoveryError> {
    let r = arch::firmware_bytes(rsdp, 36).map_err(|_| DiscoveryError::Map(rsdp))?;
    let revision = r[15];
    let rsdt = u64::from(u32::from_le_bytes([r[16], r[17], r[18], r[19]]));
    let xsdt = u64::from_le_bytes(r[24..32].try_into().unwrap_or_default());
    let (root, width) = if revision >= 2 && xsdt != 0 {
        (xsdt, 8)
    } else {
        (rsdt, 4)
    };
    let bytes = table_bytes(root)?;
    Ok(bytes
        .get(36..)
        .unwrap_or_default()
        .chunks_exact(width)
        .map(|e| {
            if width == 8 {
                u64::from_le_bytes(e.try_into().unwrap_or_default())
            } else {
                u64::from(u32::from_le_bytes(e.try_into().unwrap_or_default()))
            }
        })
        .collect())
}

/// Finds the RSDP: from the loader, else (x86) in the EBDA and the BIOS ROM area.
pub fn find_rsdp(info: &BootInfo) -> Option<u64> {
    if let Some(rsdp) = info.rsdp {
        return Some(rsdp);
    }
    if cfg!(not(target_arch = "x86_64")) {
        return None;
    }
    scan_bios_areas()
}

/// Searches the first KiB of the EBDA, then 0xE0000-0xFFFFF, for the RSDP
/// (ACPI 6.5 §5.2.5.1); legacy BIOS firmware (SeaBIOS) puts it there.
pub fn scan_bios_areas() -> Option<u64> {
    // The EBDA segment is the 16-bit word at 0x40e (BIOS data area).
    let ebda = u64::from(arch::read_firmware_u16(0x40e).ok()?) << 4;
    if ebda >= 0x8_0000
        && let Ok(area) = arch::firmware_bytes(ebda, 1024)
        && let Some(found) = super::rsdp::find(area, ebda)
    {
        return Some(found);
    }
    let rom = arch::firmware_bytes(0xe_0000, 0x2_0000).ok()?;
    super::rsdp::find(rom, 0xe_0000)
}

pub fn discover(info: &BootInfo) -> Result<Platform, DiscoveryError> {
    let rsdp = find_rsdp(info).ok_or(DiscoveryError::NoRsdp)?;
    info!(
        "ACPI: RSDP at {rsdp:#x}{}",
        if info.rsdp.is_some() {
            " (from the loader)"
        } else {
            " (BIOS area scan)"
        }
    );
    // SAFETY: `rsdp` is an RSDP found by the loader or by signature and checksum;
    // the handler maps every table the crate asks for.
    let tables = unsafe { AcpiTables::from_rsdp(Handler, rsdp as usize) }
        .map_err(|e| DiscoveryError::Acpi(format!("{e:?}")))?;
    let mut platform = Platform {
        source: "ACPI",
        ..Platform::default()
    };

    match tables.find_table::<Mcfg>() {
        Ok(mcfg) => {
            for e in mcfg.entries() {
                platform.ecam.push(EcamWindow {
                    segment: e.pci_segment_group,
                    bus_start: e.bus_number_start,
                    bus_end: e.bus_number_end,
                    base: e.base_address,
                });
            }
        }
        Err(e) => warn!("ACPI: no usable MCFG ({e:?}); PCI falls back to port I/O"),
    }

    match tables.find_table::<Madt>() {
        Ok(madt) => {
            let mut ioapics = Vec::new();
            for entry in madt.get().entries() {
                match entry {
                    MadtEntry::LocalApic(l) if l.flags & 1 != 0 => platform.cpus += 1,
                    MadtEntry::LocalX2Apic(l) if l.flags & 1 != 0 => platform.cpus += 1,
                    MadtEntry::IoApic(io) => {
                        let address = io.io_apic_address;
                        ioapics.push(format!("IOAPIC {} at {:#x}", io.io_apic_id, address));
                        // IOREGSEL and IOWIN, in one 4 KiB page (82093AA §3.0).
                        platform.apic_mmio.push((u64::from(address), 0x1000));
                    }
                    MadtEntry::Gicc(g) if g.flags & 1 != 0 => platform.cpus += 1,
                    MadtEntry::Gicd(g) => {
                        let (base, version) = (g.physical_base_address, g.gic_version);
                        platform.gic.get_or_insert_default().distributor = base;
                        ioapics.push(format!("GICv{version} distributor at {base:#x}"));
                    }
                    MadtEntry::GicRedistributor(r) => {
                        let base = r.discovery_range_base_address;
                        let gic = platform.gic.get_or_insert_default();
                        // The first range only: QEMU and the tables seen have one.
                        if gic.redistributors == 0 {
                            gic.redistributors = base;
                            gic.redistributors_len = u64::from(r.discovery_range_length);
                        }
                        ioapics.push(format!("GIC redistributors at {base:#x}"));
                    }
                    _ => {}
                }
            }
            let lapic = madt.get().local_apic_address;
            if cfg!(target_arch = "x86_64") {
                // The local APIC's 4 KiB register page (SDM Vol. 3A §11.4.1).
                platform.apic_mmio.push((u64::from(lapic), 0x1000));
            }
            platform.interrupt_controller = if cfg!(target_arch = "x86_64") {
                format!("local APIC at {lapic:#x}, {}", ioapics.join(", "))
            } else {
                ioapics.join(", ")
            };
        }
        Err(e) => warn!("ACPI: no usable MADT ({e:?})"),
    }

    for address in root_entries(rsdp)? {
        let Ok(header) = arch::firmware_bytes(address, 36) else {
            continue;
        };
        match header.get(..4) {
            Some(b"DMAR") => dmar(address, &mut platform)?,
            Some(b"IORT") => iort(address, &mut platform)?,
            _ => {}
        }
    }
    Ok(platform)
}

/// The DMAR's remapping hardware units (VT-d spec §8.3).
fn dmar(address: u64, platform: &mut Platform) -> Result<(), DiscoveryError> {
    let bytes = table_bytes(address)?;
    let dmar = Dmar::parse(bytes).map_err(DiscoveryError::Table)?;
    if !dmar.checksum_valid() {
        warn!("ACPI: the DMAR at {address:#x} has a wrong checksum; using it anyway");
    }
    info!(
        "ACPI: DMAR at {address:#x}: host address width {}, flags {:?}",
        dmar.host_address_width(),
        dmar.flags()
    );
    for drhd in dmar.drhds() {
        let coverage = if drhd.include_pci_all() {
            Coverage::AllRemaining
        } else {
            Coverage::Scopes(
                drhd.device_scopes()
                    .map(|s| Scope {
                        kind: match s.scope_type() {
                            DeviceScopeType::PciEndpoint => 1,
                            DeviceScopeType::PciSubHierarchy => 2,
                            DeviceScopeType::IoApic => 3,
                            DeviceScopeType::MsiCapableHpet => 4,
                            DeviceScopeType::AcpiNamespaceDevice => 5,
                            DeviceScopeType::Unknown(t) => t,
                        },
                        enumeration_id: s.enumeration_id(),
                        start_bus: s.start_bus(),
                        path: s.path().iter().map(|p| (p.device, p.function)).collect(),
                    })
                    .collect(),
            )
        };
        platform.iommus.push(IommuUnit {
            kind: IommuKind::Vtd,
            base: drhd.register_base(),
            size: u64::from(drhd.register_set_pages()) * 4096,
            segment: drhd.segment(),
            coverage,
            interrupts: Vec::new(),
        });
    }
    Ok(())
}

/// The IORT's SMMUv3 nodes, with the root-complex ID mappings that lead to each
/// (IORT DEN 0049E.f §3.1.1.5, §3.1.1.3).
fn iort(address: u64, platform: &mut Platform) -> Result<(), DiscoveryError> {
    let bytes = table_bytes(address)?;
    let iort = Iort::parse(bytes).map_err(DiscoveryError::Table)?;
    if !iort.checksum_valid() {
        warn!("ACPI: the IORT at {address:#x} has a wrong checksum; using it anyway");
    }
    info!(
        "ACPI: IORT at {address:#x}, revision {}, {} nodes",
        iort.revision(),
        iort.node_count()
    );
    for node in iort.nodes() {
        let NodeKind::SmmuV3(smmu) = node.kind() else {
            continue;
        };
        let mut maps = Vec::new();
        let mut segment = 0;
        for rc_node in iort.nodes() {
            let NodeKind::RootComplex(rc) = rc_node.kind() else {
                continue;
            };
            for m in rc_node.id_mappings() {
                if !m.is_single() && m.output_reference() as usize == node.offset() {
                    segment = rc.pci_segment_number() as u16;
                    maps.push(IdMapping {
                        rid_base: m.input_base(),
                        output_base: m.output_base(),
                        length: m.id_count().min(u64::from(u32::MAX)) as u32,
                    });
                }
            }
        }
        let interrupts = [
            ("eventq", smmu.event_gsiv()),
            ("priq", smmu.pri_gsiv()),
            ("cmdq-sync", smmu.sync_gsiv()),
            ("gerror", smmu.gerr_gsiv()),
        ]
        .into_iter()
        .filter(|(_, gsiv)| *gsiv != 0)
        .map(|(name, gsiv)| (alloc::string::String::from(name), gsiv))
        .collect();
        platform.iommus.push(IommuUnit {
            kind: IommuKind::SmmuV3,
            base: smmu.base_address(),
            // SMMUv3 spec §6.1: two 64 KiB register pages.
            size: 0x20000,
            segment,
            coverage: Coverage::IdMap(maps),
            interrupts,
        });
    }
    Ok(())
}
