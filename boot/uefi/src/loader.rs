//! The loader proper (UEFI targets only).

use core::ptr::NonNull;

use uefi::boot::{self, AllocateType, MemoryType};
use uefi::mem::memory_map::MemoryMap;
use uefi::prelude::*;
use uefi::table::cfg::ConfigTableEntry;
use uefi::{Guid, guid, println};
use vsva_boot::elf::Elf;
use vsva_boot::{BootInfo, BootProtocol, MemoryRegion, RegionKind};

/// The kernel, embedded at build time (see build.rs).
static KERNEL: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/kernel.elf"));

/// The kernel command line file on the loader's own volume (optional).
const CMDLINE_FILE: &uefi::CStr16 = uefi::cstr16!("\\vsva\\cmdline.txt");

/// Reads [`CMDLINE_FILE`] into `buf`; returns the bytes read (0 when absent).
fn read_cmdline(buf: &mut [u8]) -> usize {
    use uefi::proto::media::file::{File, FileAttribute, FileMode};
    let Ok(mut fs) = boot::get_image_file_system(boot::image_handle()) else {
        return 0;
    };
    let Ok(mut root) = fs.open_volume() else {
        return 0;
    };
    let Ok(file) = root.open(CMDLINE_FILE, FileMode::Read, FileAttribute::empty()) else {
        return 0;
    };
    let Some(mut file) = file.into_regular_file() else {
        return 0;
    };
    file.read(buf).unwrap_or(0)
}

/// The flattened device tree's configuration table GUID (UEFI 2.10 §4.6.1.3,
/// "EFI_DTB_TABLE_GUID").
const DEVICE_TREE_GUID: Guid = guid!("b1b621d5-f19c-41a5-830b-d9152c69aae0");

const PAGE: u64 = 4096;

/// Region kind after ExitBootServices (UEFI 2.10 Table 7.10): boot services and
/// loader memory are free; runtime services, MMIO and reserved memory are not.
fn kind(ty: MemoryType) -> RegionKind {
    match ty {
        MemoryType::CONVENTIONAL
        | MemoryType::BOOT_SERVICES_CODE
        | MemoryType::BOOT_SERVICES_DATA
        | MemoryType::LOADER_CODE
        | MemoryType::LOADER_DATA => RegionKind::Usable,
        MemoryType::ACPI_RECLAIM => RegionKind::AcpiReclaimable,
        MemoryType::ACPI_NON_VOLATILE => RegionKind::AcpiNvs,
        MemoryType::UNUSABLE => RegionKind::Unusable,
        MemoryType::PERSISTENT_MEMORY => RegionKind::Persistent,
        _ => RegionKind::Reserved,
    }
}

fn fail(why: core::fmt::Arguments<'_>) -> Status {
    println!("vsva loader: {why}");
    Status::LOAD_ERROR
}

#[entry]
fn main() -> Status {
    println!("vsva UEFI loader: kernel image {} KiB", KERNEL.len() / 1024);
    if KERNEL.is_empty() {
        return fail(format_args!(
            "built without a kernel; use `cargo xtask run --firmware uefi`"
        ));
    }
    #[cfg(target_arch = "aarch64")]
    if current_el() != 2 {
        return fail(format_args!(
            "firmware left the CPU at EL{}; vsva needs EL2 (virtualization=on)",
            current_el()
        ));
    }
    let elf = match Elf::parse(KERNEL) {
        Ok(elf) => elf,
        Err(e) => return fail(format_args!("kernel ELF: {e}")),
    };
    // Place the image: one allocation over all segments at their link address.
    let (start, end) = elf.span();
    let (start, end) = (start & !(PAGE - 1), end.next_multiple_of(PAGE));
    let pages = ((end - start) / PAGE) as usize;
    if let Err(e) =
        boot::allocate_pages(AllocateType::Address(start), MemoryType::LOADER_DATA, pages)
    {
        return fail(format_args!(
            "memory {start:#x}-{end:#x} for the kernel is not free: {e:?}"
        ));
    }
    // SAFETY: the pages were just allocated for the kernel at `start`, identity
    // mapped by the firmware; every segment lies inside [start, end) (span).
    unsafe {
        core::ptr::write_bytes(start as *mut u8, 0, (end - start) as usize);
        for segment in elf.segments().flatten() {
            let dst = segment.paddr as *mut u8;
            core::ptr::copy_nonoverlapping(segment.data.as_ptr(), dst, segment.data.len());
        }
    }

    // The BootInfo, below 4 GiB (the x86_64 boot map covers only that).
    let info_pages = core::mem::size_of::<BootInfo>().div_ceil(PAGE as usize);
    let info = match boot::allocate_pages(
        AllocateType::MaxAddress(0xffff_ffff),
        MemoryType::LOADER_DATA,
        info_pages,
    ) {
        Ok(p) => p.cast::<BootInfo>(),
        Err(e) => return fail(format_args!("no memory for the boot information: {e:?}")),
    };
    // SAFETY: freshly allocated pages, large and aligned enough for a BootInfo.
    let info: &mut BootInfo = unsafe {
        info.as_ptr().write(BootInfo::new(BootProtocol::Uefi));
        &mut *info.as_ptr()
    };
    uefi::system::with_config_table(|entries| {
        for e in entries {
            if e.guid == ConfigTableEntry::ACPI2_GUID {
                info.rsdp = Some(e.address as u64);
            } else if e.guid == DEVICE_TREE_GUID {
                info.dtb = Some(e.address as u64);
            }
        }
    });
    let mut cmdline = [0u8; vsva_boot::MAX_CMDLINE];
    let len = read_cmdline(&mut cmdline);
    // One line: stop at the first line break.
    let line = cmdline[..len]
        .split(|&b| b == b'\n' || b == b'\r')
        .next()
        .unwrap_or_default();
    info.set_cmdline(line);
    println!(
        "vsva loader: kernel at {start:#x}-{end:#x}, entry {:#x}, RSDP {:x?}, DTB {:x?}; exiting boot services",
        elf.entry(),
        info.rsdp,
        info.dtb
    );

    // SAFETY: nothing of boot services is used after this point.
    let map = unsafe { boot::exit_boot_services(None) };
    let mut pending: Option<MemoryRegion> = None;
    for d in map.entries() {
        let region = MemoryRegion {
            start: d.phys_start,
            len: d.page_count * PAGE,
            kind: kind(d.ty),
        };
        pending = match pending {
            // Neighbours of the same kind merge, so large maps fit.
            Some(p) if p.kind == region.kind && p.end() == region.start => Some(MemoryRegion {
                len: p.len + region.len,
                ..p
            }),
            Some(p) => {
                info.push_region(p);
                Some(region)
            }
            None => Some(region),
        };
    }
    if let Some(p) = pending {
        info.push_region(p);
    }
    enter(elf.entry(), NonNull::from(&*info), (start, end))
}

#[cfg(target_arch = "x86_64")]
fn enter(entry: u64, info: NonNull<BootInfo>, _image: (u64, u64)) -> ! {
    // SAFETY: `entry` is the kernel's 64-bit UEFI entry (uefi_start64), placed
    // above; it takes the BootInfo in rdi and never returns.
    unsafe {
        core::arch::asm!(
            "cli",
            "jmp {entry}",
            entry = in(reg) entry,
            in("rdi") info.as_ptr(),
            options(noreturn)
        )
    }
}

#[cfg(target_arch = "aarch64")]
fn current_el() -> u64 {
    let el: u64;
    // SAFETY: reads CurrentEL.
    unsafe { core::arch::asm!("mrs {}, CurrentEL", out(reg) el, options(nomem, nostack)) };
    (el >> 2) & 3
}

#[cfg(target_arch = "aarch64")]
fn enter(entry: u64, info: NonNull<BootInfo>, image: (u64, u64)) -> ! {
    let info_start = info.as_ptr() as u64;
    let info_end = info_start + core::mem::size_of::<BootInfo>() as u64;
    // The Image protocol enters with the MMU and D-cache off: first clean and
    // invalidate what the loader wrote (the kernel, the BootInfo) to the point of
    // coherency, so the kernel reads it from memory (Arm ARM D7.5.9).
    let ctr: u64;
    // SAFETY: reads CTR_EL0; DminLine (bits 19:16) is log2 of the smallest data
    // cache line in words.
    unsafe { core::arch::asm!("mrs {}, ctr_el0", out(reg) ctr, options(nomem, nostack)) };
    let line_size = 4u64 << ((ctr >> 16) & 0xf);
    for (start, end) in [image, (info_start, info_end)] {
        let mut line = start & !(line_size - 1);
        while line < end {
            // SAFETY: cache maintenance by address on memory this loader owns.
            unsafe { core::arch::asm!("dc civac, {}", in(reg) line, options(nostack)) };
            line += line_size;
        }
    }
    // SAFETY: turns the EL2 MMU and caches off (the firmware's map is identity, so
    // execution continues at the same addresses) and branches to the Image entry
    // with x0 = BootInfo; never returns.
    unsafe {
        core::arch::asm!(
            "dsb sy",
            "ic iallu",
            "dsb sy",
            "isb",
            "msr daifset, #0xf",
            "mrs x9, sctlr_el2",
            "bic x9, x9, #1",          // M
            "bic x9, x9, #(1 << 2)",   // C
            "bic x9, x9, #(1 << 12)",  // I
            "msr sctlr_el2, x9",
            "isb",
            "br {entry}",
            entry = in(reg) entry,
            in("x0") info.as_ptr(),
            options(noreturn)
        )
    }
}
