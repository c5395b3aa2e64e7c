//! The kernel's own 4-level page tables (Intel SDM Vol. 3A §4.5), built with the
//! `x86_64` crate's mapper over frames from the kernel allocator.
//!
//! Physical memory is identity mapped: the image with per-section rights (text
//! RX, rodata RO, data RW, all else NX), RAM read-write and non-executable, and
//! device registers uncached (PCD | PWT, i.e. UC with the default PAT) on request.
//! Page 0 stays unmapped so that null dereferences fault.

use spin::Mutex;
use x86_64::registers::control::{Cr0, Cr0Flags, Cr3, Cr3Flags};
use x86_64::structures::paging::mapper::{MapToError, TranslateResult, UnmapError};
use x86_64::structures::paging::{
    FrameAllocator, Mapper, OffsetPageTable, Page, PageTable, PageTableFlags as F, PhysFrame,
    Size2MiB, Size4KiB, Translate,
};
use x86_64::{PhysAddr, VirtAddr};

use crate::arch::{Access, MapError, Mapped, MemType};
use crate::mem::{self, PAGE_SIZE};

const LARGE: u64 = 2 << 20;

static TABLE: Mutex<Option<OffsetPageTable<'static>>> = Mutex::new(None);

/// Page-table frames from the kernel frame allocator.
struct Frames;

// SAFETY: every frame returned comes from the kernel allocator, is unused and
// stays allocated to the page table.
unsafe impl FrameAllocator<Size4KiB> for Frames {
    fn allocate_frame(&mut self) -> Option<PhysFrame<Size4KiB>> {
        let addr = mem::alloc_frames(1)?;
        Some(PhysFrame::containing_address(PhysAddr::new(addr)))
    }
}

fn flags(mem: MemType, access: Access) -> F {
    let mut f = F::PRESENT | F::GLOBAL;
    match access {
        Access::ReadOnly => f |= F::NO_EXECUTE,
        Access::ReadWrite => f |= F::WRITABLE | F::NO_EXECUTE,
        Access::ReadExecute => {}
    }
    if mem == MemType::Device {
        f |= F::NO_CACHE | F::WRITE_THROUGH;
    }
    f
}

fn map_error<S: x86_64::structures::paging::PageSize>(e: MapToError<S>, virt: u64) -> MapError {
    match e {
        MapToError::FrameAllocationFailed => MapError::OutOfFrames,
        MapToError::ParentEntryHugePage | MapToError::PageAlreadyMapped(_) => {
            MapError::AlreadyMapped(virt)
        }
    }
}

/// Maps `[virt, virt + len)` to `[phys, ..)` with 2 MiB pages where alignment and
/// length allow, 4 KiB pages elsewhere. TLB flushing is the caller's.
fn map_in(
    table: &mut OffsetPageTable<'static>,
    virt: u64,
    phys: u64,
    len: u64,
    f: F,
) -> Result<(), MapError> {
    if !virt.is_multiple_of(PAGE_SIZE)
        || !phys.is_multiple_of(PAGE_SIZE)
        || !len.is_multiple_of(PAGE_SIZE)
    {
        return Err(MapError::Misaligned);
    }
    if virt.checked_add(len).is_none() || phys.checked_add(len).is_none() {
        return Err(MapError::Misaligned);
    }
    let va = |a: u64| VirtAddr::try_new(a).map_err(|_| MapError::OutOfRange(a));
    let mut done = 0;
    while done < len {
        let (v, p) = (virt + done, phys + done);
        if v % LARGE == 0 && p % LARGE == 0 && len - done >= LARGE {
            let page =
                Page::<Size2MiB>::from_start_address(va(v)?).map_err(|_| MapError::Misaligned)?;
            let frame = PhysFrame::<Size2MiB>::from_start_address(PhysAddr::new(p))
                .map_err(|_| MapError::Misaligned)?;
            // SAFETY: the kernel's own table; the caller guarantees the new mapping
            // does not alias memory Rust code holds references to in a conflicting way.
            unsafe { table.map_to(page, frame, f | F::HUGE_PAGE, &mut Frames) }
                .map_err(|e| map_error(e, v))?
                .ignore();
            done += LARGE;
        } else {
            let page =
                Page::<Size4KiB>::from_start_address(va(v)?).map_err(|_| MapError::Misaligned)?;
            let frame = PhysFrame::<Size4KiB>::from_start_address(PhysAddr::new(p))
                .map_err(|_| MapError::Misaligned)?;
            // SAFETY: as above.
            unsafe { table.map_to(page, frame, f, &mut Frames) }
                .map_err(|e| map_error(e, v))?
                .ignore();
            done += PAGE_SIZE;
        }
    }
    Ok(())
}

/// Builds the kernel's tables: the image, every RAM range in `ram` (page aligned),
/// the device ranges the console needs, and switches to them.
pub fn init(
    ram: impl Iterator<Item = mem::ranges::Range>,
    devices: &[(u64, u64)],
) -> Result<(), MapError> {
    let root = mem::alloc_frames(1).ok_or(MapError::OutOfFrames)?;
    // SAFETY: a fresh frame from the allocator, identity mapped by the boot map;
    // zeroed before it is used as a page table.
    let table = unsafe {
        core::ptr::write_bytes(root as *mut u8, 0, PAGE_SIZE as usize);
        &mut *(root as *mut PageTable)
    };
    // SAFETY: physical memory is identity mapped (offset 0) by the boot map now and
    // by these tables once they are active.
    let mut table = unsafe { OffsetPageTable::new(table, VirtAddr::new(0)) };
    for m in super::super::identity_plan(ram, devices) {
        map_in(&mut table, m.start, m.start, m.len, flags(m.mem, m.access))?;
    }
    // SAFETY: the new tables map the running code, its stack (in the image's .bss),
    // the heap and every frame in RAM at the same addresses as the boot map did.
    unsafe {
        Cr3::write(
            PhysFrame::containing_address(PhysAddr::new(root)),
            Cr3Flags::empty(),
        );
        // Supervisor writes honour read-only pages from now on.
        Cr0::update(|cr0| *cr0 |= Cr0Flags::WRITE_PROTECT);
    }
    *TABLE.lock() = Some(table);
    Ok(())
}

/// Maps `[virt, virt + len)` to `[phys, ..)`. The range must be unmapped.
pub fn map(virt: u64, phys: u64, len: u64, mem: MemType, access: Access) -> Result<(), MapError> {
    let mut guard = TABLE.lock();
    let table = guard.as_mut().ok_or(MapError::NotMapped(virt))?;
    map_in(table, virt, phys, len, flags(mem, access))
}

/// Removes the mappings of `[virt, virt + len)` and flushes them from the TLB.
pub fn unmap(virt: u64, len: u64) -> Result<(), MapError> {
    let mut guard = TABLE.lock();
    let table = guard.as_mut().ok_or(MapError::NotMapped(virt))?;
    let mut at = virt;
    while at < virt.saturating_add(len) {
        let va = VirtAddr::try_new(at).map_err(|_| MapError::OutOfRange(at))?;
        match table.unmap(Page::<Size4KiB>::containing_address(va)) {
            Ok((_, flush)) => {
                flush.flush();
                at += PAGE_SIZE;
            }
            Err(UnmapError::ParentEntryHugePage) => {
                let (_, flush) = table
                    .unmap(Page::<Size2MiB>::containing_address(va))
                    .map_err(|_| MapError::NotMapped(at))?;
                flush.flush();
                at = (at & !(LARGE - 1)) + LARGE;
            }
            Err(_) => return Err(MapError::NotMapped(at)),
        }
    }
    Ok(())
}

/// What `virt` maps to, with its memory type and rights.
pub fn translate(virt: u64) -> Option<Mapped> {
    let guard = TABLE.lock();
    let table = guard.as_ref()?;
    let va = VirtAddr::try_new(virt).ok()?;
    match table.translate(va) {
        TranslateResult::Mapped {
            frame,
            offset,
            flags,
        } => Some(Mapped {
            phys: frame.start_address().as_u64() + offset,
            mem: if flags.contains(F::NO_CACHE) {
                MemType::Device
            } else {
                MemType::Normal
            },
            access: if flags.contains(F::WRITABLE) {
                Access::ReadWrite
            } else if flags.contains(F::NO_EXECUTE) {
                Access::ReadOnly
            } else {
                Access::ReadExecute
            },
        }),
        _ => None,
    }
}

/// The physical address of the active root table (CR3).
pub fn root() -> u64 {
    Cr3::read().0.start_address().as_u64()
}
