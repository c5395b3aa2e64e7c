//! The kernel's own EL2 stage-1 tables (VMSAv8-64, 4 KiB granule, 48-bit VA,
//! Arm ARM D8), built with the `aarch64-paging` crate over frames from the kernel
//! allocator. MAIR_EL2 and TCR_EL2 are the boot code's (see `vsva_boot`): Attr0
//! is Device-nGnRE, Attr1 Normal write-back.
//!
//! Physical memory is identity mapped: the image with per-section rights (text
//! read-only executable, rodata read-only, data read-write, all else XN), RAM
//! read-write, device registers Device-nGnRE on request.

use core::ptr::NonNull;

use aarch64_paging::descriptor::{El23Attributes as A, PhysicalAddress};
use aarch64_paging::paging::{Constraints, El2, MemoryRegion, PageTable, Translation};
use aarch64_paging::{MapError as PagingError, Mapping};
use spin::Mutex;

use crate::arch::{Access, MapError, Mapped, MemType};
use crate::mem::{self, PAGE_SIZE};

/// Page-table frames from the kernel allocator, reached through the identity map.
struct Frames;

impl Translation<A> for Frames {
    fn allocate_table(&mut self) -> (NonNull<PageTable<A>>, PhysicalAddress) {
        let addr = match mem::alloc_frames(1) {
            Some(addr) => addr,
            // The crate's interface cannot report failure; running out of frames
            // for kernel page tables leaves nothing sensible to do.
            None => panic!("out of frames for a kernel page table"),
        };
        // SAFETY: a fresh frame from the allocator, identity mapped; zeroed so the
        // new table starts with every entry invalid.
        unsafe { core::ptr::write_bytes(addr as *mut u8, 0, PAGE_SIZE as usize) };
        let table = NonNull::new(addr as *mut PageTable<A>).expect("frame 0 is never allocated");
        (table, PhysicalAddress(addr as usize))
    }

    unsafe fn deallocate_table(&mut self, table: NonNull<PageTable<A>>) {
        // A failure here would mean the crate returned a table it never got from us.
        let _ = mem::free_frames(table.as_ptr() as u64, 1);
    }

    fn physical_to_virtual(&self, pa: PhysicalAddress) -> NonNull<PageTable<A>> {
        NonNull::new(pa.0 as *mut PageTable<A>).expect("page tables are never at 0")
    }
}

/// Root level 0: a 48-bit VA space (TCR_EL2.T0SZ = 16).
const ROOT_LEVEL: usize = 0;

static TABLE: Mutex<Option<Mapping<Frames, El2>>> = Mutex::new(None);

fn attributes(mem: MemType, access: Access) -> A {
    // AP[1] (USER_RES1) is RES1 in a single-privilege translation regime.
    let mut a = A::VALID | A::ACCESSED | A::USER_RES1;
    a |= match mem {
        MemType::Normal => A::ATTRIBUTE_INDEX_1 | A::INNER_SHAREABLE,
        MemType::Device => A::ATTRIBUTE_INDEX_0 | A::XN,
    };
    match access {
        Access::ReadOnly => a | A::READ_ONLY | A::XN,
        Access::ReadWrite => a | A::XN,
        Access::ReadExecute => a | A::READ_ONLY,
    }
}

fn convert(e: PagingError, virt: u64) -> MapError {
    match e {
        PagingError::AddressRange(_) | PagingError::InvalidVirtualAddress(_) => {
            MapError::OutOfRange(virt)
        }
        PagingError::RegionBackwards(_) | PagingError::InvalidFlags(_) => MapError::Misaligned,
        PagingError::BreakBeforeMakeViolation(_) | PagingError::PteUpdateFault(_) => {
            MapError::AlreadyMapped(virt)
        }
    }
}

fn check_range(virt: u64, phys: u64, len: u64) -> Result<MemoryRegion, MapError> {
    if !virt.is_multiple_of(PAGE_SIZE)
        || !phys.is_multiple_of(PAGE_SIZE)
        || !len.is_multiple_of(PAGE_SIZE)
        || len == 0
    {
        return Err(MapError::Misaligned);
    }
    let end = virt.checked_add(len).ok_or(MapError::Misaligned)?;
    phys.checked_add(len).ok_or(MapError::Misaligned)?;
    Ok(MemoryRegion::new(virt as usize, end as usize))
}

fn map_in(
    table: &mut Mapping<Frames, El2>,
    virt: u64,
    phys: u64,
    len: u64,
    attrs: A,
) -> Result<(), MapError> {
    let region = check_range(virt, phys, len)?;
    table
        .map_range(
            &region,
            PhysicalAddress(phys as usize),
            attrs,
            Constraints::empty(),
        )
        .map_err(|e| convert(e, virt))
}

fn tlb_flush_all() {
    // SAFETY: invalidates every EL2 TLB entry and waits; no memory is changed.
    unsafe {
        core::arch::asm!(
            "dsb ishst",
            "tlbi alle2",
            "dsb ish",
            "isb",
            options(nostack)
        )
    };
}

/// Builds the kernel's tables (image, RAM, early devices) and switches to them.
pub fn init(
    ram: impl Iterator<Item = mem::ranges::Range>,
    devices: &[(u64, u64)],
) -> Result<(), MapError> {
    let mut table = Mapping::new(Frames, ROOT_LEVEL, El2);
    for m in super::super::identity_plan(ram, devices) {
        map_in(
            &mut table,
            m.start,
            m.start,
            m.len,
            attributes(m.mem, m.access),
        )?;
    }
    // SAFETY: the new tables map the running code, its stack (in .bss), the heap and
    // all RAM at the same addresses as the boot map, and the console registers.
    unsafe { table.activate() };
    tlb_flush_all();
    *TABLE.lock() = Some(table);
    Ok(())
}

/// Maps `[virt, virt + len)` to `[phys, ..)`. The range must be unmapped.
pub fn map(virt: u64, phys: u64, len: u64, mem: MemType, access: Access) -> Result<(), MapError> {
    let mut page = virt;
    while page < virt.saturating_add(len) {
        if translate(page).is_some() {
            return Err(MapError::AlreadyMapped(page));
        }
        page += PAGE_SIZE;
    }
    let mut guard = TABLE.lock();
    let table = guard.as_mut().ok_or(MapError::NotMapped(virt))?;
    map_in(table, virt, phys, len, attributes(mem, access))
}

/// Removes the mappings of `[virt, virt + len)` and flushes the TLB.
pub fn unmap(virt: u64, len: u64) -> Result<(), MapError> {
    let region = check_range(virt, 0, len)?;
    let mut guard = TABLE.lock();
    let table = guard.as_mut().ok_or(MapError::NotMapped(virt))?;
    // Writing invalid entries is always allowed on a live table.
    table
        .map_range(
            &region,
            PhysicalAddress(0),
            A::empty(),
            Constraints::NO_BLOCK_MAPPINGS,
        )
        .map_err(|e| convert(e, virt))?;
    tlb_flush_all();
    Ok(())
}

/// Size of the region one descriptor maps at `level` (4 KiB granule).
const fn granule_at(level: usize) -> u64 {
    1 << (12 + 9 * (3 - level))
}

/// What `virt` maps to, with its memory type and rights.
pub fn translate(virt: u64) -> Option<Mapped> {
    let guard = TABLE.lock();
    let table = guard.as_ref()?;
    let region = MemoryRegion::new(virt as usize, virt as usize + 1);
    let mut found = None;
    let _ = table.walk_range(&region, &mut |_, d, level| {
        let flags = d.flags();
        let leaf = level == 3 || !flags.contains(A::TABLE_OR_PAGE);
        if d.is_valid() && leaf {
            let offset = virt & (granule_at(level) - 1);
            found = Some(Mapped {
                phys: d.output_address().0 as u64 + offset,
                mem: if flags.contains(A::ATTRIBUTE_INDEX_1) {
                    MemType::Normal
                } else {
                    MemType::Device
                },
                access: match (flags.contains(A::READ_ONLY), flags.contains(A::XN)) {
                    (true, true) => Access::ReadOnly,
                    (true, false) => Access::ReadExecute,
                    (false, _) => Access::ReadWrite,
                },
            });
        }
        Ok(())
    });
    found
}

/// The physical address of the active root table (TTBR0_EL2).
pub fn root() -> u64 {
    let value: u64;
    // SAFETY: reads TTBR0_EL2.
    unsafe { core::arch::asm!("mrs {}, ttbr0_el2", out(reg) value, options(nomem, nostack)) };
    value & 0x0000_ffff_ffff_f000
}
