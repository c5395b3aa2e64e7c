//! The boot-information structure every boot path fills.

use core::fmt;

/// How many firmware memory-map entries a [`BootInfo`] keeps; the rest are
/// counted in [`BootInfo::regions_dropped`] so the loss is visible. (The UEFI
/// loader merges neighbours of the same kind first.)
pub const MAX_REGIONS: usize = 256;

/// First field of every [`BootInfo`], so an entry point that may receive either a
/// device tree or a `BootInfo` (aarch64 x0) can tell them apart.
pub const BOOT_INFO_MAGIC: u64 = u64::from_le_bytes(*b"vsvaBI01");
/// Longest kernel command line kept, in bytes.
pub const MAX_CMDLINE: usize = 512;

/// Which path brought the kernel up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum BootProtocol {
    /// x86_64 PVH direct boot (Xen `hvm_start_info`), as QEMU's `-kernel` does it.
    Pvh,
    /// aarch64 Linux Image protocol: EL2, MMU off, x0 = DTB.
    ArmImage,
    /// vsva's UEFI loader (boot/uefi), after ExitBootServices.
    Uefi,
}

/// The type of a memory range as firmware reports it (E820 / UEFI / DTB).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum RegionKind {
    /// Ordinary RAM the kernel may allocate from.
    Usable,
    /// Reserved by firmware or the platform: never allocate, never assume RAM.
    Reserved,
    /// RAM holding ACPI tables; reclaimable once they have been read.
    AcpiReclaimable,
    /// ACPI non-volatile storage: must be preserved.
    AcpiNvs,
    /// RAM with detected errors.
    Unusable,
    /// Persistent memory.
    Persistent,
}

impl RegionKind {
    /// Decodes an E820 address range type (ACPI 6.5 §15.1, Table 15.1).
    pub const fn from_e820(kind: u32) -> Self {
        match kind {
            1 => Self::Usable,
            3 => Self::AcpiReclaimable,
            4 => Self::AcpiNvs,
            5 => Self::Unusable,
            7 => Self::Persistent,
            // 2 (reserved) and every type this kernel does not know.
            _ => Self::Reserved,
        }
    }
}

/// A physical memory range from the firmware map.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub struct MemoryRegion {
    pub start: u64,
    pub len: u64,
    pub kind: RegionKind,
}

impl MemoryRegion {
    /// One past the last byte, saturating at the top of the address space.
    pub const fn end(&self) -> u64 {
        self.start.saturating_add(self.len)
    }
}

/// Everything the boot path learned, in one place.
///
/// `repr(C)` because the UEFI loader, a separate binary of the same build, hands
/// one to the kernel by address; both are built from this definition.
#[repr(C)]
pub struct BootInfo {
    /// [`BOOT_INFO_MAGIC`].
    pub magic: u64,
    pub protocol: BootProtocol,
    regions: [MemoryRegion; MAX_REGIONS],
    region_count: usize,
    /// Firmware entries that did not fit in [`MAX_REGIONS`].
    pub regions_dropped: usize,
    /// Physical address of the ACPI RSDP, when the loader gave one.
    pub rsdp: Option<u64>,
    /// Physical address of the flattened device tree, when the loader gave one.
    pub dtb: Option<u64>,
    cmdline: [u8; MAX_CMDLINE],
    cmdline_len: usize,
    /// Ranges the loader's own structures occupy (start_info, its memory map,
    /// the command line): the kernel keeps them out of its allocator until it has
    /// copied what it needs. At most [`MAX_LOADER_RANGES`].
    loader_ranges: [LoaderRange; MAX_LOADER_RANGES],
    loader_range_count: usize,
}

/// What a loader structure is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum LoaderData {
    /// PVH `hvm_start_info`.
    StartInfo,
    /// The command line string.
    CommandLine,
    /// PVH memory map table.
    MemoryMap,
}

impl LoaderData {
    pub const fn name(self) -> &'static str {
        match self {
            Self::StartInfo => "PVH start_info",
            Self::CommandLine => "boot command line",
            Self::MemoryMap => "PVH memory map",
        }
    }
}

/// A range `[start, end)` a loader structure occupies, and what it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub struct LoaderRange {
    pub what: LoaderData,
    pub start: u64,
    pub end: u64,
}

/// How many loader-owned ranges a [`BootInfo`] records.
pub const MAX_LOADER_RANGES: usize = 8;

impl BootInfo {
    /// An empty record for the given protocol.
    pub const fn new(protocol: BootProtocol) -> Self {
        Self {
            magic: BOOT_INFO_MAGIC,
            protocol,
            regions: [MemoryRegion {
                start: 0,
                len: 0,
                kind: RegionKind::Reserved,
            }; MAX_REGIONS],
            region_count: 0,
            regions_dropped: 0,
            rsdp: None,
            dtb: None,
            cmdline: [0; MAX_CMDLINE],
            cmdline_len: 0,
            loader_ranges: [LoaderRange {
                what: LoaderData::StartInfo,
                start: 0,
                end: 0,
            }; MAX_LOADER_RANGES],
            loader_range_count: 0,
        }
    }

    /// Appends a firmware memory-map entry (empty entries are ignored).
    pub fn push_region(&mut self, region: MemoryRegion) {
        if region.len == 0 {
            return;
        }
        match self.regions.get_mut(self.region_count) {
            Some(slot) => {
                *slot = region;
                self.region_count += 1;
            }
            None => self.regions_dropped += 1,
        }
    }

    /// The firmware memory map, in the order the loader gave it.
    pub fn regions(&self) -> &[MemoryRegion] {
        &self.regions[..self.region_count]
    }

    /// Records a range `[start, end)` the loader's structures occupy.
    pub fn push_loader_range(&mut self, what: LoaderData, start: u64, end: u64) {
        if let Some(slot) = self.loader_ranges.get_mut(self.loader_range_count) {
            *slot = LoaderRange { what, start, end };
            self.loader_range_count += 1;
        }
    }

    /// Ranges holding loader structures.
    pub fn loader_ranges(&self) -> &[LoaderRange] {
        &self.loader_ranges[..self.loader_range_count]
    }

    /// Sets the command line, cut to [`MAX_CMDLINE`] bytes at a character boundary.
    pub fn set_cmdline(&mut self, bytes: &[u8]) {
        let bytes = match bytes.iter().position(|&b| b == 0) {
            Some(nul) => &bytes[..nul],
            None => bytes,
        };
        let mut len = bytes.len().min(MAX_CMDLINE);
        while len > 0 && core::str::from_utf8(&bytes[..len]).is_err() {
            len -= 1;
        }
        self.cmdline[..len].copy_from_slice(&bytes[..len]);
        self.cmdline_len = len;
    }

    /// The kernel command line (`-append` in QEMU); empty when none was given.
    pub fn cmdline(&self) -> &str {
        core::str::from_utf8(&self.cmdline[..self.cmdline_len]).unwrap_or("")
    }
}

impl fmt::Debug for BootInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BootInfo")
            .field("protocol", &self.protocol)
            .field("regions", &self.regions())
            .field("regions_dropped", &self.regions_dropped)
            .field("rsdp", &self.rsdp)
            .field("dtb", &self.dtb)
            .field("cmdline", &self.cmdline())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_beyond_capacity_are_counted_not_lost_silently() {
        let mut info = BootInfo::new(BootProtocol::Pvh);
        for i in 0..(MAX_REGIONS as u64 + 5) {
            info.push_region(MemoryRegion {
                start: i << 12,
                len: 4096,
                kind: RegionKind::Usable,
            });
        }
        info.push_region(MemoryRegion {
            start: 0,
            len: 0,
            kind: RegionKind::Usable,
        });
        assert_eq!(info.regions().len(), MAX_REGIONS);
        assert_eq!(info.regions_dropped, 5);
        assert_eq!(info.regions()[3].start, 3 << 12);
    }

    #[test]
    fn cmdline_stops_at_nul_and_cuts_on_a_character_boundary() {
        let mut info = BootInfo::new(BootProtocol::ArmImage);
        assert_eq!(info.magic, BOOT_INFO_MAGIC);
        info.set_cmdline(b"loglevel=debug\0garbage");
        assert_eq!(info.cmdline(), "loglevel=debug");
        let mut long = [b'a'; MAX_CMDLINE + 1];
        long[MAX_CMDLINE - 1] = 0xc3; // first byte of a two-byte character, cut in half
        long[MAX_CMDLINE] = 0xa9;
        info.set_cmdline(&long);
        assert_eq!(info.cmdline().len(), MAX_CMDLINE - 1);
    }

    #[test]
    fn e820_types_decode_and_unknown_types_are_reserved() {
        assert_eq!(RegionKind::from_e820(1), RegionKind::Usable);
        assert_eq!(RegionKind::from_e820(3), RegionKind::AcpiReclaimable);
        assert_eq!(RegionKind::from_e820(4), RegionKind::AcpiNvs);
        assert_eq!(RegionKind::from_e820(2), RegionKind::Reserved);
        assert_eq!(RegionKind::from_e820(0xf00d), RegionKind::Reserved);
        let r = MemoryRegion {
            start: u64::MAX - 1,
            len: 10,
            kind: RegionKind::Usable,
        };
        assert_eq!(r.end(), u64::MAX);
    }
}
