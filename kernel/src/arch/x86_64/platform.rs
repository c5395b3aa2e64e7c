//! What the PVH boot path tells about the machine.

use vsva_boot::{BootInfo, MemoryRegion};

use crate::mem::Reservation;
use crate::mem::ranges::Range;

/// The firmware memory map (E820 via `hvm_start_info`).
pub fn memory_regions(info: &BootInfo) -> &[MemoryRegion] {
    info.regions()
}

/// Ranges to keep out of the allocator beyond the kernel image: the first 1 MiB
/// (real-mode IVT, BDA, EBDA, option ROMs and the BIOS, where the ACPI RSDP may
/// live) and the loader's own structures.
pub fn reservations(info: &BootInfo, out: &mut impl FnMut(Reservation)) {
    out(Reservation {
        what: "low 1 MiB (BIOS data, EBDA, ROMs)",
        range: Range::new(0, 0x10_0000),
    });
    for r in info.loader_ranges() {
        out(Reservation {
            what: r.what.name(),
            range: Range::new(r.start, r.end),
        });
    }
}

/// The command line.
pub fn cmdline(info: &'static BootInfo) -> &'static str {
    info.cmdline()
}

/// Device ranges the kernel needs mapped from the start: none on x86, whose
/// console and exit device are I/O ports.
pub fn early_devices() -> &'static [(u64, u64)] {
    &[]
}

/// An identification register of the machine's IOMMU, for the in-kernel tests:
/// (register base, offset, expected value). QEMU q35's intel-iommu puts its
/// only DRHD at 0xfed90000; VER_REG (VT-d spec §11.4.1) reads 0x10 (version 1.0).
pub const IOMMU_ID_REGISTER: (u64, u64, u32) = (0xfed9_0000, 0x0, 0x10);
