//! What the device tree tells about the machine: memory, reservations, the
//! command line.

use spin::Once;
use vsva_boot::{BootInfo, MemoryRegion, RegionKind};

use crate::mem::Reservation;
use crate::mem::ranges::Range;

/// Memory nodes kept from the device tree.
const MAX_MEMORY: usize = 32;

struct DeviceTree {
    regions: [MemoryRegion; MAX_MEMORY],
    count: usize,
    /// `[start, end)` of the blob itself.
    blob: Range,
    bootargs: Option<&'static str>,
    reserved: [Range; 8],
    reserved_count: usize,
}

static TREE: Once<Option<DeviceTree>> = Once::new();

fn tree(info: &BootInfo) -> Option<&'static DeviceTree> {
    TREE.call_once(|| parse(info.dtb?)).as_ref()
}

fn parse(dtb: u64) -> Option<DeviceTree> {
    // SAFETY: the loader passes the physical address of a flattened device tree in
    // RAM, which the boot map covers; `from_ptr` reads the header first and then
    // only `totalsize` bytes, and the blob is never written (it is reserved below).
    let fdt = unsafe { fdt::Fdt::from_ptr(dtb as *const u8) }.ok()?;
    let empty = MemoryRegion {
        start: 0,
        len: 0,
        kind: RegionKind::Reserved,
    };
    let mut t = DeviceTree {
        regions: [empty; MAX_MEMORY],
        count: 0,
        blob: Range::new(dtb, dtb + fdt.total_size() as u64),
        bootargs: None,
        reserved: [Range::new(0, 0); 8],
        reserved_count: 0,
    };
    for node in fdt.all_nodes().filter(|n| n.name.starts_with("memory")) {
        for r in node.reg().into_iter().flatten() {
            if let (Some(slot), Some(len)) = (t.regions.get_mut(t.count), r.size) {
                *slot = MemoryRegion {
                    start: r.starting_address as u64,
                    len: len as u64,
                    kind: RegionKind::Usable,
                };
                t.count += 1;
            }
        }
    }
    for r in fdt.memory_reservations() {
        if let Some(slot) = t.reserved.get_mut(t.reserved_count) {
            let start = r.address() as u64;
            *slot = Range::new(start, start + r.size() as u64);
            t.reserved_count += 1;
        }
    }
    t.bootargs = fdt.chosen().bootargs();
    Some(t)
}

/// The firmware memory map from the loader (UEFI), else RAM from the device
/// tree's memory nodes.
pub fn memory_regions(info: &BootInfo) -> &[MemoryRegion] {
    if !info.regions().is_empty() {
        return info.regions();
    }
    match tree(info) {
        Some(t) => &t.regions[..t.count],
        None => &[],
    }
}

/// The device tree blob and its `/memreserve/` entries.
pub fn reservations(info: &BootInfo, out: &mut impl FnMut(Reservation)) {
    if let Some(t) = tree(info) {
        out(Reservation {
            what: "device tree",
            range: t.blob,
        });
        for &range in &t.reserved[..t.reserved_count] {
            out(Reservation {
                what: "device tree /memreserve/",
                range,
            });
        }
    }
}

/// The loader's command line, else `/chosen/bootargs`.
pub fn cmdline(info: &'static BootInfo) -> &'static str {
    if !info.cmdline().is_empty() {
        return info.cmdline();
    }
    tree(info).and_then(|t| t.bootargs).unwrap_or("")
}

/// The console's registers, mapped before the switch to the kernel's tables.
pub fn early_devices() -> &'static [(u64, u64)] {
    &[(super::console::PL011_BASE, 0x1000)]
}

/// An identification register of the machine's IOMMU, for the in-kernel tests:
/// QEMU virt's SMMUv3 at 0x09050000; SMMU_AIDR (SMMUv3 spec §6.3.8) reads 0x01,
/// architecture SMMUv3.1.
pub const IOMMU_ID_REGISTER: (u64, u64, u32) = (0x0905_0000, 0x1c, 0x01);
