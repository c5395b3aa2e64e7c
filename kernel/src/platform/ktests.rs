//! In-kernel tests of platform discovery against QEMU's machines.
//!
//! They read PCI configuration space through ECAM directly (the `vsva-pci`
//! enumeration has its own tests), so this module allows unsafe code for those
//! volatile reads.

#[cfg(target_arch = "x86_64")]
use ktest::check;
use ktest::{check_eq, fail, ktest};

use super::{IommuKind, PLATFORM, Platform, Scope};
use crate::arch;

/// QEMU's `edu` device (PCI vendor 0x1234, device 0x11e8).
const EDU: (u16, u16) = (0x1234, 0x11e8);

fn platform() -> Result<&'static Platform, ktest::Failure> {
    PLATFORM
        .get()
        .ok_or_else(|| fail!("platform discovery did not run or failed"))
}

/// Reads a dword of bus-0 configuration space through the first ECAM window.
fn config_read(
    platform: &Platform,
    device: u8,
    function: u8,
    offset: u16,
) -> Result<u32, ktest::Failure> {
    let ecam = platform
        .ecam
        .first()
        .ok_or_else(|| fail!("no ECAM window"))?;
    // PCIe Base Spec §7.2.2: bus << 20 | device << 15 | function << 12 | offset.
    let page = ecam.base + (u64::from(device) << 15 | u64::from(function) << 12);
    arch::map_device(page, 0x1000).map_err(|e| fail!("map ECAM page {page:#x}: {e:?}"))?;
    #[allow(unsafe_code)]
    // SAFETY: an identity-mapped, uncached page of ECAM; configuration reads of the
    // ID and BAR registers have no side effects.
    let value = unsafe { ((page + u64::from(offset)) as *const u32).read_volatile() };
    Ok(value)
}

/// The requester ID of the edu device on bus 0.
fn find_edu(platform: &Platform) -> Result<u16, ktest::Failure> {
    for device in 0..32u8 {
        let id = config_read(platform, device, 0, 0)?;
        if (id as u16, (id >> 16) as u16) == EDU {
            return Ok(u16::from(device) << 3);
        }
    }
    Err(fail!("edu not found on bus 0"))
}

/// Endpoint scopes on the start bus resolve without reading bridges.
fn direct_path(scope: &Scope) -> Option<u16> {
    match scope.path.as_slice() {
        [(d, f)] => Some(u16::from(scope.start_bus) << 8 | u16::from(*d) << 3 | u16::from(*f)),
        _ => None,
    }
}

#[cfg(target_arch = "x86_64")]
ktest! {
    /// The DMAR yields one DRHD at 0xfed90000 whose device scope contains edu.
    fn dmar_has_one_drhd_at_0xfed90000_whose_scope_contains_edu() {
        let p = platform()?;
        check_eq!(p.iommus.len(), 1);
        let unit = &p.iommus[0];
        check_eq!(unit.kind, IommuKind::Vtd);
        check_eq!(unit.base, 0xfed9_0000);
        let edu = find_edu(p)?;
        check_eq!(unit.stream_id(0, edu, &direct_path), Some(u32::from(edu)));
        // A requester the DMAR does not list (00:1e.7) is in no scope.
        check_eq!(unit.stream_id(0, 0x00f7, &direct_path), None);
        Ok(())
    }
}

#[cfg(target_arch = "x86_64")]
ktest! {
    /// Firmware (SeaBIOS) assigned edu's BAR0; through an uncached mapping of it
    /// the identification register reads 0x010000ed.
    fn edu_bar0_identification_register_reads_0x010000ed() {
        let p = platform()?;
        let edu = find_edu(p)?;
        let bar0 = config_read(p, (edu >> 3) as u8, 0, 0x10)?;
        check!(bar0 & 1 == 0, "BAR0 {bar0:#x} is not a memory BAR");
        let base = u64::from(bar0 & !0xf);
        check!(base != 0, "firmware left BAR0 unassigned");
        let command = config_read(p, (edu >> 3) as u8, 0, 0x04)? as u16;
        check!(command & 0x2 != 0, "memory decoding is off ({command:#x})");
        let va = arch::map_device(base, 0x1000).map_err(|e| fail!("{e:?}"))?;
        #[allow(unsafe_code)]
        // SAFETY: edu's register page, mapped uncached; offset 0 is the read-only
        // identification register.
        let id = unsafe { (va as *const u32).read_volatile() };
        check_eq!(id, 0x0100_00ed);
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
        let edu = find_edu(p)?;
        check_eq!(unit.stream_id(0, edu, &direct_path), Some(u32::from(edu)));
        let irqs: alloc::vec::Vec<u32> = unit.interrupts.iter().map(|(_, i)| *i).collect();
        check_eq!(irqs, [106, 107, 108, 109]);
        check_eq!(p.ecam.first().map(|e| e.base), Some(0x40_1000_0000));
        Ok(())
    }
}
