//! Architecture support: the only place, with `mem/heap.rs`, that touches
//! registers, special instructions and raw memory.
//!
//! Each architecture provides the same modules: `console`, `time`, `exceptions`,
//! `paging`, `cpu` and `platform` (what the boot path tells about memory).

pub mod dma;
pub mod ecam;
pub mod mmio;

#[cfg(target_arch = "aarch64")]
mod aarch64;
#[cfg(target_arch = "aarch64")]
pub use self::aarch64::*;

#[cfg(target_arch = "x86_64")]
mod x86_64;
#[cfg(target_arch = "x86_64")]
pub use self::x86_64::*;

/// Memory type of a kernel mapping.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemType {
    /// Cacheable RAM.
    Normal,
    /// Uncached, strongly ordered device registers.
    Device,
}

/// Access rights of a kernel mapping.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    ReadOnly,
    ReadWrite,
    ReadExecute,
}

/// What a kernel mapping maps to, as [`paging::translate`] reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mapped {
    pub phys: u64,
    pub mem: MemType,
    pub access: Access,
}

/// Why a kernel mapping could not be made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapError {
    /// No frame left for a page table.
    OutOfFrames,
    /// An address or size is not page aligned, or the range wraps.
    Misaligned,
    /// The virtual range is already mapped (to something else).
    AlreadyMapped(u64),
    /// The virtual range is outside what the kernel's tables can map.
    OutOfRange(u64),
    /// Nothing is mapped at the address.
    NotMapped(u64),
}

/// One identity mapping of the kernel's own tables.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IdentityMapping {
    pub start: u64,
    pub len: u64,
    pub mem: MemType,
    pub access: Access,
}

/// What the kernel's tables map, the same on every architecture: the image with
/// per-section rights, every RAM range in `ram` read-write (page 0 left out so
/// null dereferences fault, the image not mapped twice), and the devices the
/// console needs.
pub fn identity_plan(
    ram: impl Iterator<Item = crate::mem::ranges::Range>,
    devices: &[(u64, u64)],
) -> alloc::vec::Vec<IdentityMapping> {
    use crate::mem::{self, PAGE_SIZE};
    let image = mem::image::layout();
    let mut plan = alloc::vec::Vec::new();
    let mut push = |start: u64, end: u64, mem: MemType, access: Access| {
        if start < end {
            plan.push(IdentityMapping {
                start,
                len: end - start,
                mem,
                access,
            });
        }
    };
    push(
        image.start,
        image.text_end,
        MemType::Normal,
        Access::ReadExecute,
    );
    push(
        image.text_end,
        image.rodata_end,
        MemType::Normal,
        Access::ReadOnly,
    );
    push(
        image.rodata_end,
        image.end,
        MemType::Normal,
        Access::ReadWrite,
    );
    for r in ram {
        let rw = Access::ReadWrite;
        push(
            r.start.max(PAGE_SIZE),
            r.end.min(image.start),
            MemType::Normal,
            rw,
        );
        push(r.start.max(image.end), r.end, MemType::Normal, rw);
    }
    for &(phys, len) in devices {
        push(
            phys,
            phys + len.next_multiple_of(PAGE_SIZE),
            MemType::Device,
            Access::ReadWrite,
        );
    }
    plan
}

/// Reads a little-endian u16 of firmware data at `phys` without leaving a new
/// mapping behind: page 0 (the BIOS data area) stays unmapped so that null
/// dereferences keep faulting.
pub fn read_firmware_u16(phys: u64) -> Result<u16, MapError> {
    use crate::mem::PAGE_SIZE;
    let page = phys & !(PAGE_SIZE - 1);
    if !phys.is_multiple_of(2) || phys - page > PAGE_SIZE - 2 {
        return Err(MapError::Misaligned);
    }
    let was_mapped = paging::translate(page).is_some();
    map_identity(page, PAGE_SIZE, MemType::Normal, Access::ReadOnly)?;
    // SAFETY: the page is identity mapped readable (just checked or mapped) and
    // `phys` is 2-aligned inside it.
    let value = unsafe { (phys as *const u16).read_volatile() };
    if !was_mapped {
        paging::unmap(page, PAGE_SIZE)?;
    }
    Ok(value)
}

/// Sends `s` to a serial line one byte at a time, "\n" as "\r\n" for terminals.
pub fn write_crlf(s: &str, mut put: impl FnMut(u8)) {
    for b in s.bytes() {
        if b == b'\n' {
            put(b'\r');
        }
        put(b);
    }
}

/// Hands `range` to the kernel heap for good.
pub fn heap_init(range: crate::mem::ranges::Range) {
    // SAFETY: kmain removes `range` from the allocatable set before calling this,
    // so nothing else uses it; it is RAM, identity mapped read-write by the boot
    // map and by the kernel's own tables.
    unsafe { crate::mem::heap::init(range.start, range.len()) }
}

/// Whether an existing mapping with `have` rights serves a request for `want`.
fn serves(have: Access, want: Access) -> bool {
    have == want || (want == Access::ReadOnly && have == Access::ReadWrite)
}

/// Identity-maps `[phys, phys + len)` (widened to whole pages) with `mem` and
/// `access`; returns `phys`. Pages already identity mapped with the same memory
/// type and at least the rights asked for are accepted (a second user of the same
/// registers, firmware tables inside RAM); any other existing mapping is refused.
pub fn map_identity(phys: u64, len: u64, mem: MemType, access: Access) -> Result<u64, MapError> {
    use crate::mem::PAGE_SIZE;
    let start = phys & !(PAGE_SIZE - 1);
    let end = phys.checked_add(len).ok_or(MapError::Misaligned)?;
    let end = end
        .checked_next_multiple_of(PAGE_SIZE)
        .ok_or(MapError::Misaligned)?;
    let mut page = start;
    while page < end {
        match paging::translate(page) {
            Some(m) if m.phys == page && m.mem == mem && serves(m.access, access) => {}
            Some(_) => return Err(MapError::AlreadyMapped(page)),
            None => paging::map(page, page, PAGE_SIZE, mem, access)?,
        }
        page += PAGE_SIZE;
    }
    Ok(phys)
}

/// Identity-maps device registers uncached, read-write; returns the address.
pub fn map_device(phys: u64, len: u64) -> Result<u64, MapError> {
    map_identity(phys, len, MemType::Device, Access::ReadWrite)
}

/// Maps a firmware table (ACPI, device tree) read-only and returns its bytes.
///
/// The kernel never writes firmware tables, and the frames they occupy are outside
/// the allocator (firmware marks them reserved or ACPI; the device tree is
/// reserved by discovery), so nothing else can change them while they are read.
pub fn firmware_bytes(phys: u64, len: usize) -> Result<&'static [u8], MapError> {
    if phys == 0 || len == 0 {
        return Err(MapError::NotMapped(phys));
    }
    map_identity(phys, len as u64, MemType::Normal, Access::ReadOnly)?;
    // SAFETY: the range was just mapped (or found mapped) readable at the same
    // address, and is firmware data nobody writes (see above).
    Ok(unsafe { core::slice::from_raw_parts(phys as *const u8, len) })
}

/// How a guest-physical range of a partition is mapped at stage 2.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapKind {
    /// Normal write-back memory, readable, writable, executable.
    Ram,
    /// Device memory (a BAR), readable and writable, never executable.
    Device,
    /// Normal memory vsva writes and the partition (and its devices'
    /// IOMMU walks) may only read: structures an SMMU reads through stage 2.
    ReadOnly,
}

/// The page-table engine's refusal behind a stage-2 operation.
#[cfg(target_arch = "x86_64")]
pub type TableError = vsva_iommu::vtd::pagetable::Error;
/// The page-table engine's refusal behind a stage-2 operation.
#[cfg(target_arch = "aarch64")]
pub type TableError = vsva_iommu::smmuv3::pagetable::Error;

/// Why a partition's stage-2 table could not be made or changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stage2Error {
    /// The guest-physical range (`None`: making the table).
    pub range: Option<(u64, u64)>,
    pub error: TableError,
}

impl core::fmt::Display for Stage2Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self.range {
            Some((gpa, len)) => write!(f, "{gpa:#x}+{len:#x}: {:?}", self.error),
            None => write!(f, "{:?}", self.error),
        }
    }
}

/// Why a guest stopped running, decoded from the exit (ESR_EL2 on aarch64,
/// the #VMEXIT code on x86_64), in the same kinds on both machines.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Exit {
    /// HVC / VMMCALL: `function` in x0 / rax, arguments in x1..x6 / rdi,
    /// rsi, rdx, rcx, r8, r9. Answer with `Vcpu::set_call_result`.
    Hypercall { function: u64, args: [u64; 6] },
    /// SMC (PSCI and other firmware calls; aarch64 only): the same registers.
    FirmwareCall { function: u64, args: [u64; 6] },
    /// A load or store the hardware described (aarch64 ISV), to an IPA with
    /// no stage-2 mapping: for emulation. `write` holds the value stored; a
    /// read is completed with `Vcpu::complete_read`.
    Mmio {
        ipa: u64,
        va: Option<u64>,
        size: u8,
        write: Option<u64>,
    },
    /// A stage-2 / nested page fault not emulated: the access, what went wrong.
    StageFault {
        ipa: u64,
        /// The guest-virtual address, where the hardware reports it.
        va: Option<u64>,
        write: bool,
        reason: alloc::string::String,
    },
    /// WFI / HLT: nothing to do until an interrupt.
    WaitForInterrupt,
    /// A physical interrupt arrived, or the exit was handled inside the vCPU
    /// (an injected #GP, an emulated port read): just go on.
    Interrupt,
    /// Anything else: described, for the report.
    Unhandled(alloc::string::String),
}
