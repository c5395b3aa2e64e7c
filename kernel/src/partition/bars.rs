//! Where an assigned function's BARs may lie on this machine: the ranges no
//! BAR may touch (the firmware memory map's RAM and reserved regions,
//! vsva's image, ECAM, IOMMU and interrupt controller registers) and the
//! host bridge windows where firmware described them (device tree); the
//! rule itself is `vsva_pci::placement`.

use alloc::vec::Vec;
use core::ops::Range;

use vsva_pci::WindowKind;
use vsva_pci::placement::Forbidden;

use crate::platform::Platform;

/// The ranges no BAR of an assigned function may touch.
pub(super) fn forbidden(platform: &Platform) -> Vec<Forbidden> {
    let mut out = Vec::new();
    let mut add = |start: u64, len: u64, what| {
        out.push(Forbidden {
            range: start..start.saturating_add(len),
            what,
        });
    };
    // The memory map as the kernel took it (the loader's, or on a direct
    // aarch64 boot the device tree's memory nodes).
    let regions = crate::boot_info().map_or(&[][..], crate::arch::platform::memory_regions);
    for r in regions {
        add(r.start, r.len, "the firmware memory map (RAM or reserved)");
    }
    let image = crate::mem::image::layout();
    add(image.start, image.end - image.start, "vsva's image");
    for e in &platform.ecam {
        let buses = u64::from(e.bus_end) - u64::from(e.bus_start) + 1;
        add(e.base, buses << 20, "ECAM");
    }
    for u in &platform.iommus {
        add(u.base, u.size, "IOMMU registers");
    }
    if let Some(gic) = platform.gic {
        // GICD: 64 KiB (IHI 0069 §12.8).
        add(gic.distributor, 0x1_0000, "GIC distributor");
        add(
            gic.redistributors,
            gic.redistributors_len,
            "GIC redistributors",
        );
    }
    for &(base, len) in &platform.apic_mmio {
        add(base, len, "APIC registers");
    }
    out
}

/// The host bridge's memory windows (CPU addresses), where known.
pub(super) fn windows(platform: &Platform) -> Vec<Range<u64>> {
    platform
        .windows
        .iter()
        .filter(|w| w.kind != WindowKind::Io)
        .map(|w| w.cpu_base..w.cpu_base.saturating_add(w.size))
        .collect()
}
