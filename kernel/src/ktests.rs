//! The kernel's own in-kernel tests: frames, heap, page tables, traps, time.
//!
//! They touch memory through raw pointers on purpose (that is what they check),
//! so this module allows unsafe code; each use says why it is sound.

use alloc::boxed::Box;
use alloc::vec::Vec;

use ktest::{check, check_eq, check_ne, fail, ktest};

use crate::arch::{self, Access, MemType};
use crate::mem::{self, PAGE_SIZE};

/// A virtual window no identity mapping reaches (RAM and devices are below it),
/// for alias mappings. Canonical on x86_64 and below 2^48 for TTBR0_EL2.
const ALIAS_WINDOW: u64 = 0x0000_7f00_0000_0000;

fn image_contains(addr: u64, len: u64) -> bool {
    let image = mem::image::layout();
    addr < image.end && image.start < addr + len
}

ktest! {
    /// Frames handed out are RAM outside the image, distinct, writable, and all
    /// come back when freed.
    fn frames_allocated_and_freed_come_back() {
        let before = mem::FRAMES.lock().as_ref().map(|f| f.allocated()).unwrap_or(0);
        let mut blocks = Vec::new();
        for count in [1usize, 1, 2, 4, 16, 1, 3, 512] {
            let addr = mem::alloc_frames(count).ok_or_else(|| fail!("out of frames at {count}"))?;
            let size = count.next_power_of_two() as u64 * PAGE_SIZE;
            check_eq!(addr % size, 0);
            check!(!image_contains(addr, size), "{addr:#x} is inside the kernel image");
            // Prove it is RAM: write a pattern to the first and last word.
            let (first, last) = (addr as *mut u64, (addr + size - 8) as *mut u64);
            #[allow(unsafe_code)]
            // SAFETY: the block was just allocated to this test and is identity mapped.
            unsafe {
                first.write_volatile(addr ^ 0x5a5a);
                last.write_volatile(!addr);
                check_eq!(first.read_volatile(), addr ^ 0x5a5a);
                check_eq!(last.read_volatile(), !addr);
            }
            blocks.push((addr, count, size));
        }
        for (i, a) in blocks.iter().enumerate() {
            for b in &blocks[i + 1..] {
                check!(a.0 + a.2 <= b.0 || b.0 + b.2 <= a.0, "{a:x?} overlaps {b:x?}");
            }
        }
        for &(addr, count, _) in &blocks {
            mem::free_frames(addr, count).map_err(|e| fail!("free {addr:#x}: {e:?}"))?;
        }
        let after = mem::FRAMES.lock().as_ref().map(|f| f.allocated()).unwrap_or(0);
        check_eq!(after, before);
        // The same single frame is handed out again: it went back to the free lists.
        let again = mem::alloc_frames(1).ok_or_else(|| fail!("out of frames"))?;
        mem::free_frames(again, 1).map_err(|e| fail!("{e:?}"))?;
        check_eq!(again, blocks[0].0);
        Ok(())
    }
}

ktest! {
    /// Exhausting the allocator in 2 MiB blocks then single frames never yields a
    /// frame of the image or the heap, and everything is given back.
    fn no_free_frame_overlaps_the_image_or_reservations() {
        let heap = mem::heap::stats();
        let mut taken = Vec::with_capacity(4096);
        for count in [512usize, 1] {
            while let Some(addr) = mem::alloc_frames(count) {
                let size = count as u64 * PAGE_SIZE;
                check!(!image_contains(addr, size), "{addr:#x} inside the image");
                check!(
                    mem::FRAMES.lock().as_ref().is_some_and(|f| f.manages(addr)),
                    "{addr:#x} not in managed memory"
                );
                taken.push((addr, count));
            }
        }
        check!(taken.len() > 8, "only {} blocks allocatable", taken.len());
        for (addr, count) in taken {
            mem::free_frames(addr, count).map_err(|e| fail!("{e:?}"))?;
        }
        check_eq!(mem::heap::stats().1, heap.1);
        Ok(())
    }
}

ktest! {
    /// The heap serves small and large allocations and takes them back.
    fn heap_allocations_are_usable_and_returned() {
        let (in_use, total) = mem::heap::stats();
        check!(total >= 1 << 20, "heap only {total} bytes");
        let mut v: Vec<u64> = (0..(256 * 1024 / 8)).collect();
        v.iter_mut().for_each(|x| *x *= 3);
        check_eq!(v[1000], 3000);
        let b = Box::new([7u8; 4096]);
        check_eq!(b[4095], 7);
        drop((v, b));
        check_eq!(mem::heap::stats().0, in_use);
        Ok(())
    }
}

ktest! {
    /// A frame mapped a second time through the kernel's own tables, at another
    /// virtual address, reads back what is written through the identity map, and
    /// the other way round; after unmapping, the alias is gone.
    fn alias_mapping_reads_back_through_the_identity_map() {
        let frame = mem::alloc_frames(1).ok_or_else(|| fail!("out of frames"))?;
        let alias = ALIAS_WINDOW + 0x5000;
        arch::paging::map(alias, frame, PAGE_SIZE, MemType::Normal, Access::ReadWrite)
            .map_err(|e| fail!("map: {e:?}"))?;
        let mapped = arch::paging::translate(alias + 0x18).ok_or_else(|| fail!("no mapping"))?;
        check_eq!(mapped.phys, frame + 0x18);
        check_eq!(mapped.mem, MemType::Normal);
        #[allow(unsafe_code)]
        // SAFETY: both addresses map the frame this test owns; volatile accesses keep
        // the compiler from assuming the two pointers do not alias.
        unsafe {
            let through_alias = (alias + 0x18) as *mut u64;
            let through_identity = (frame + 0x18) as *mut u64;
            through_alias.write_volatile(0x1122_3344_5566_7788);
            check_eq!(through_identity.read_volatile(), 0x1122_3344_5566_7788);
            through_identity.write_volatile(0xfeed_f00d);
            check_eq!(through_alias.read_volatile(), 0xfeed_f00d);
        }
        // A second mapping over a live one is refused, not silently replaced.
        check!(matches!(
            arch::paging::map(alias, frame, PAGE_SIZE, MemType::Normal, Access::ReadWrite),
            Err(arch::MapError::AlreadyMapped(_))
        ));
        arch::paging::unmap(alias, PAGE_SIZE).map_err(|e| fail!("unmap: {e:?}"))?;
        check_eq!(arch::paging::translate(alias), None);
        mem::free_frames(frame, 1).map_err(|e| fail!("{e:?}"))?;
        Ok(())
    }
}

ktest! {
    /// The image is mapped with per-section rights: code executable and read-only,
    /// data writable and not executable; page 0 is not mapped.
    fn image_sections_have_their_own_rights() {
        let code = arch::paging::translate(alias_mapping_reads_back_through_the_identity_map as *const () as u64)
            .ok_or_else(|| fail!("code not mapped"))?;
        check_eq!(code.access, Access::ReadExecute);
        static DATA: spin::Mutex<u64> = spin::Mutex::new(0);
        let data = arch::paging::translate(&DATA as *const _ as u64)
            .ok_or_else(|| fail!("data not mapped"))?;
        check_eq!(data.access, Access::ReadWrite);
        static TEXT: &str = "read-only";
        let rodata = arch::paging::translate(TEXT.as_ptr() as u64)
            .ok_or_else(|| fail!("rodata not mapped"))?;
        check_eq!(rodata.access, Access::ReadOnly);
        check_eq!(arch::paging::translate(0), None);
        check_eq!(arch::paging::translate(0x10), None);
        Ok(())
    }
}

ktest! {
    /// Device registers are mapped uncached, and reading through that mapping
    /// returns the IOMMU's architecture version register.
    fn device_mapping_is_uncached_and_reads_the_iommu() {
        let (base, offset, expected) = arch::platform::IOMMU_ID_REGISTER;
        let va = arch::map_device(base, 0x1000).map_err(|e| fail!("{e:?}"))?;
        let m = arch::paging::translate(va).ok_or_else(|| fail!("not mapped"))?;
        check_eq!(m.mem, MemType::Device);
        check_eq!(m.phys, base);
        #[allow(unsafe_code)]
        // SAFETY: an identity-mapped, uncached register page of the IOMMU; reading an
        // ID/version register has no side effect.
        let value = unsafe { ((va + offset) as *const u32).read_volatile() };
        check_eq!(value, expected);
        // Mapping the same registers again is accepted (a second user of the unit).
        check_eq!(arch::map_device(base, 0x1000), Ok(va));
        // A normal (cacheable) mapping over the same registers is refused.
        check!(matches!(
            arch::map_identity(base, 0x1000, MemType::Normal, Access::ReadOnly),
            Err(arch::MapError::AlreadyMapped(_))
        ));
        Ok(())
    }
}

ktest! {
    /// A breakpoint trap goes through the exception path and returns.
    fn breakpoint_trap_returns_to_the_next_instruction() {
        let before = arch::exceptions::breakpoints();
        arch::cpu::breakpoint();
        arch::cpu::breakpoint();
        check_eq!(arch::exceptions::breakpoints(), before + 2);
        Ok(())
    }
}

ktest! {
    /// The boot clock advances.
    fn uptime_is_monotonic_and_advances() {
        let a = arch::time::uptime_nanos();
        let mut b = a;
        for _ in 0..1_000_000 {
            b = arch::time::uptime_nanos();
            if b > a {
                break;
            }
        }
        check!(b > a, "clock stuck at {a}");
        check_ne!(a, 0);
        Ok(())
    }
}
