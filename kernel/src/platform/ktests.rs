//! In-kernel tests of platform discovery and PCI against QEMU's machines, on
//! every boot path (direct and UEFI).

use ktest::{check, check_eq, fail, ktest};
use vsva_pci::BarKind;
#[cfg(target_arch = "x86_64")]
use vsva_pci::ConfigAccess;

use super::{IommuKind, PLATFORM, Platform};
use crate::{arch, pci};

/// QEMU's `edu` device (PCI vendor 0x1234, device 0x11e8).
const EDU: (u16, u16) = (0x1234, 0x11e8);

fn platform() -> Result<&'static Platform, ktest::Failure> {
    PLATFORM
        .get()
        .ok_or_else(|| fail!("platform discovery did not run or failed"))
}

fn edu() -> Result<(&'static pci::Segment, &'static pci::PciFunction), ktest::Failure> {
    pci::find(EDU.0, EDU.1).ok_or_else(|| fail!("edu not found by PCI enumeration"))
}

/// The CPU address of a PCI memory address, through the host bridge windows
/// (identity where firmware gave none).
fn cpu_address(p: &Platform, pci: u64) -> u64 {
    p.windows
        .iter()
        .find(|w| {
            w.kind != vsva_pci::WindowKind::Io && (w.pci_base..w.pci_base + w.size).contains(&pci)
        })
        .map_or(pci, |w| w.cpu_base + (pci - w.pci_base))
}

ktest! {
    /// edu is enumerated with its 1 MiB BAR0 (assigned by firmware, or by vsva on
    /// the aarch64 direct boot); mapped uncached, its identification register
    /// reads 0x010000ed.
    fn edu_bar0_identification_register_reads_0x010000ed() {
        let p = platform()?;
        let (segment, edu) = edu()?;
        let bar0 = edu
            .function
            .bars
            .iter()
            .find(|b| b.index == 0)
            .ok_or_else(|| fail!("edu has no BAR0: {:?}", edu.function.bars))?;
        check!(matches!(bar0.kind, BarKind::Memory32 | BarKind::Memory64));
        check_eq!(bar0.size, 1 << 20);
        check!(bar0.address != 0, "BAR0 unassigned");
        vsva_pci::enable(&segment.access, edu.function.bdf, true, false, false);
        let base = cpu_address(p, bar0.address);
        let va = arch::map_device(base, 0x1000).map_err(|e| fail!("{e:?}"))?;
        #[allow(unsafe_code)]
        // SAFETY: edu's register page, mapped uncached; offset 0 is the read-only
        // identification register.
        let id = unsafe { (va as *const u32).read_volatile() };
        check_eq!(id, 0x0100_00ed);
        Ok(())
    }
}

#[cfg(target_arch = "x86_64")]
ktest! {
    /// The DMAR yields one DRHD at 0xfed90000 whose device scope contains edu, so
    /// edu's DMA is routed to it with its requester ID as source ID.
    fn dmar_has_one_drhd_at_0xfed90000_whose_scope_contains_edu() {
        let p = platform()?;
        check_eq!(p.iommus.len(), 1);
        let unit = &p.iommus[0];
        check_eq!(unit.kind, IommuKind::Vtd);
        check_eq!(unit.base, 0xfed9_0000);
        let (_, edu) = edu()?;
        check_eq!(edu.iommu, Some(0));
        check_eq!(edu.stream_id, Some(u32::from(edu.function.bdf.rid())));
        // A requester the DMAR does not list (00:1e.7) is in no scope.
        check_eq!(p.route(0, 0x00f7, &|_| None), None);
        Ok(())
    }
}

#[cfg(target_arch = "x86_64")]
ktest! {
    /// The BIOS-area RSDP scan, the fallback when a loader passes none, finds the
    /// RSDP SeaBIOS published and the PVH loader passed. (OVMF publishes it only
    /// in the UEFI configuration table: there the scan must find nothing else.)
    fn bios_area_scan_finds_the_rsdp_the_loader_passed() {
        let info = crate::boot_info().ok_or_else(|| fail!("no boot info"))?;
        let passed = info.rsdp.ok_or_else(|| fail!("the loader passed no RSDP"))?;
        let scanned = super::acpi::scan_bios_areas();
        match info.protocol {
            vsva_boot::BootProtocol::Pvh => check_eq!(scanned, Some(passed)),
            _ => check!(scanned.is_none() || scanned == Some(passed), "scan found {scanned:x?}"),
        }
        Ok(())
    }
}

#[cfg(target_arch = "x86_64")]
ktest! {
    /// Port I/O configuration access (0xCF8/0xCFC) reads what ECAM reads.
    fn port_io_and_ecam_read_the_same_configuration_space() {
        let (segment, edu) = edu()?;
        let bdf = edu.function.bdf;
        for offset in [0x00, 0x08, 0x10, 0x2c] {
            check_eq!(arch::pci::PortIo.read32(bdf, offset), segment.access.read32(bdf, offset));
        }
        check_eq!(arch::pci::PortIo.read32(bdf, 0x100), u32::MAX);
        Ok(())
    }
}

#[cfg(target_arch = "aarch64")]
ktest! {
    /// The firmware gives one SMMUv3 at 0x09050000 that sends edu's requester ID
    /// to the same StreamID, with its four wired interrupts: the IORT when booted
    /// through UEFI, the device tree's iommu-map when booted directly. Both boot
    /// paths run this test, so both descriptions must give the same answer.
    fn firmware_maps_edu_to_the_smmuv3_at_0x09050000() {
        let p = platform()?;
        let expected_source = match crate::boot_info().map(|i| i.protocol) {
            Some(vsva_boot::BootProtocol::Uefi) => "ACPI",
            _ => "device tree",
        };
        check_eq!(p.source, expected_source);
        check_eq!(p.iommus.len(), 1);
        let unit = &p.iommus[0];
        check_eq!(unit.kind, IommuKind::SmmuV3);
        check_eq!(unit.base, 0x0905_0000);
        let (_, edu) = edu()?;
        check_eq!(edu.iommu, Some(0));
        check_eq!(edu.stream_id, Some(u32::from(edu.function.bdf.rid())));
        let irqs: alloc::vec::Vec<u32> = unit.interrupts.iter().map(|(_, i)| *i).collect();
        check_eq!(irqs, [106, 107, 108, 109]);
        check_eq!(p.ecam.first().map(|e| e.base), Some(0x40_1000_0000));
        Ok(())
    }
}
