//! Physical memory: discovery, the frame allocator, the heap and the kernel's own
//! page tables.
//!
//! Discovery turns the firmware map into the set of frames the kernel may hand
//! out: usable RAM, minus every range firmware marks as anything else (a firmware
//! map may describe the same bytes twice; the non-usable description wins), minus
//! what is in use before the allocator exists (the kernel image, the device tree,
//! the loader's structures, the first 1 MiB on x86 where firmware data lives).
#![deny(unsafe_code)]

pub mod frames;
pub mod ranges;

#[cfg(target_os = "none")]
pub mod heap;

use vsva_boot::{MemoryRegion, RegionKind};

use self::ranges::{CapacityExceeded, Range, RangeSet};

/// The page (frame) size used throughout vsva.
pub const PAGE_SIZE: u64 = 4096;

/// How many disjoint free ranges discovery keeps track of.
pub const MAX_FREE_RANGES: usize = 64;

/// A range kept out of the allocator, with the reason for the log.
#[derive(Clone, Copy, Debug)]
pub struct Reservation {
    pub what: &'static str,
    pub range: Range,
}

/// The frames the allocator may use, whole pages only.
pub fn allocatable(
    regions: &[MemoryRegion],
    reserved: &[Reservation],
) -> Result<RangeSet<MAX_FREE_RANGES>, CapacityExceeded> {
    let mut set = RangeSet::new();
    for r in regions.iter().filter(|r| r.kind == RegionKind::Usable) {
        set.insert(Range::new(r.start, r.end()))?;
    }
    for r in regions.iter().filter(|r| r.kind != RegionKind::Usable) {
        set.remove(Range::new(r.start, r.end()))?;
    }
    for r in reserved {
        set.remove(r.range)?;
    }
    set.shrink_to(PAGE_SIZE);
    Ok(set)
}

/// Totals for the boot banner.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Bytes of usable RAM in the firmware map (overlaps counted once).
    pub usable: u64,
    /// Bytes firmware reserved or gave to ACPI.
    pub firmware: u64,
    /// Bytes handed to the frame allocator.
    pub allocatable: u64,
}

/// Sums the firmware map and the allocatable set.
pub fn summarize(regions: &[MemoryRegion], free: &RangeSet<MAX_FREE_RANGES>) -> Summary {
    let mut usable = RangeSet::<MAX_FREE_RANGES>::new();
    let mut firmware = 0;
    for r in regions {
        if r.kind == RegionKind::Usable {
            // A map too fragmented to sum exactly is reported low, never wrong upward.
            let _ = usable.insert(Range::new(r.start, r.end()));
        } else {
            firmware += r.len;
        }
    }
    Summary {
        usable: usable.total(),
        firmware,
        allocatable: free.total(),
    }
}

/// Formats a byte count with a binary unit, e.g. `255 MiB`, `640 KiB`.
#[derive(Clone, Copy, Debug)]
pub struct Size(pub u64);

impl core::fmt::Display for Size {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
        let mut unit = 0;
        while unit + 1 < UNITS.len() && self.0 >> (10 * (unit + 1)) != 0 {
            unit += 1;
        }
        let scale = 1u64 << (10 * unit);
        if self.0.is_multiple_of(scale) {
            write!(f, "{} {}", self.0 / scale, UNITS[unit])
        } else {
            // Tenths, rounded down: a summary never claims more than there is.
            let tenths = (self.0 as u128 * 10 / scale as u128) as u64;
            write!(f, "{}.{} {}", tenths / 10, tenths % 10, UNITS[unit])
        }
    }
}

/// The kernel's frame allocator, set up once memory discovery is done.
pub static FRAMES: spin::Mutex<Option<frames::Frames>> = spin::Mutex::new(None);

/// The ranges [`FRAMES`] manages, fixed when it is set up: checked without
/// its lock by every access the IOMMU drivers make to their memory.
pub static MANAGED: spin::Once<ranges::RangeSet<MAX_FREE_RANGES>> = spin::Once::new();

/// Allocates `count` frames (see [`frames::Frames::alloc`]); `None` when out of
/// memory or before the allocator exists. Not zeroed.
pub fn alloc_frames(count: usize) -> Option<u64> {
    FRAMES.lock().as_mut()?.alloc(count)
}

/// Frees a block from [`alloc_frames`].
pub fn free_frames(addr: u64, count: usize) -> Result<(), frames::FrameError> {
    match FRAMES.lock().as_mut() {
        Some(f) => f.free(addr, count),
        None => Err(frames::FrameError::NotManaged(addr)),
    }
}

/// RAM the partition manifest pins (`host_base`): kept out of the frame
/// allocator at boot, handed to its partition when that is built.
pub static PINNED: spin::Mutex<[Option<ranges::Range>; 8]> = spin::Mutex::new([None; 8]);

/// Whether `[addr, addr + len)` lies inside one pinned range.
pub fn pinned_contains(addr: u64, len: u64) -> bool {
    let Some(end) = addr.checked_add(len) else {
        return false;
    };
    PINNED
        .lock()
        .iter()
        .flatten()
        .any(|r| r.start <= addr && end <= r.end)
}

/// Links the symbols the linker script defines around the kernel image.
#[cfg(target_os = "none")]
pub mod image {
    #![allow(unsafe_code)]

    unsafe extern "C" {
        static __kernel_start: u8;
        static __text_end: u8;
        static __rodata_end: u8;
        static __kernel_end: u8;
    }

    /// Layout of the loaded kernel image (physical = virtual).
    #[derive(Clone, Copy, Debug)]
    pub struct Image {
        pub start: u64,
        pub text_end: u64,
        pub rodata_end: u64,
        pub end: u64,
    }

    /// The image's section boundaries, page aligned by the linker script.
    pub fn layout() -> Image {
        // Only the addresses of the linker symbols are taken, never their contents.
        Image {
            start: (&raw const __kernel_start) as u64,
            text_end: (&raw const __text_end) as u64,
            rodata_end: (&raw const __rodata_end) as u64,
            end: (&raw const __kernel_end) as u64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn region(start: u64, len: u64, kind: RegionKind) -> MemoryRegion {
        MemoryRegion { start, len, kind }
    }

    /// The E820 map QEMU q35 gives a 256 MiB guest through PVH.
    fn q35_map() -> Vec<MemoryRegion> {
        vec![
            region(0, 0x9fc00, RegionKind::Usable),
            region(0x9fc00, 0x400, RegionKind::Reserved),
            region(0xf0000, 0x10000, RegionKind::Reserved),
            region(0x100000, 0xfee0000, RegionKind::Usable),
            region(0xffe0000, 0x20000, RegionKind::Reserved),
            region(0xb000_0000, 0x1000_0000, RegionKind::Reserved),
            region(0xfed1_c000, 0x4000, RegionKind::Reserved),
            region(0xfeff_c000, 0x4000, RegionKind::Reserved),
            region(0xfffc_0000, 0x40000, RegionKind::Reserved),
        ]
    }

    #[test]
    fn q35_map_minus_kernel_and_low_memory() {
        let reserved = [
            Reservation {
                what: "low 1 MiB",
                range: Range::new(0, 0x100000),
            },
            Reservation {
                what: "kernel",
                range: Range::new(0x200000, 0x25_3123),
            },
        ];
        let free = allocatable(&q35_map(), &reserved).unwrap();
        let got: Vec<_> = free.iter().map(|r| (r.start, r.end)).collect();
        assert_eq!(got, [(0x100000, 0x200000), (0x254000, 0xffe0000)]);
        let s = summarize(&q35_map(), &free);
        assert_eq!(s.usable, 0x9fc00 + 0xfee0000);
        assert_eq!(s.allocatable, 0x100000 + 0xffe0000 - 0x254000);
    }

    #[test]
    fn reserved_description_wins_over_an_overlapping_usable_one() {
        let map = [
            region(0x4000_0000, 0x2000_0000, RegionKind::Usable),
            region(0x4800_0000, 0x10_0000, RegionKind::AcpiNvs),
            region(0x4000_0000, 0x1000, RegionKind::Usable), // duplicate
        ];
        let free = allocatable(&map, &[]).unwrap();
        assert!(!free.contains(0x4800_0000));
        assert!(!free.contains(0x480f_ffff));
        assert!(free.contains(0x4810_0000));
        assert!(free.contains(0x4000_0000));
        assert_eq!(free.total(), 0x2000_0000 - 0x10_0000);
    }

    #[test]
    fn sizes_print_in_binary_units() {
        assert_eq!(Size(255 << 20).to_string(), "255 MiB");
        assert_eq!(Size(640 << 10).to_string(), "640 KiB");
        assert_eq!(Size(4 << 30).to_string(), "4 GiB");
        assert_eq!(Size(0x9fc00).to_string(), "639 KiB");
        assert_eq!(Size(0xffe0000 - 0x254000).to_string(), "253.5 MiB");
        assert_eq!(Size(12 * (1 << 30) + (1 << 29)).to_string(), "12.5 GiB");
        assert_eq!(Size(1023).to_string(), "1023 B");
        assert_eq!(Size(17).to_string(), "17 B");
    }
}
