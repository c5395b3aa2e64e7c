//! In-kernel tests of the vSVA service from a guest: the reference guest
//! binds its own page tables (and on aarch64 its own CD table) on edu and
//! has edu DMA to guest-virtual addresses; vsva checks where the data landed
//! by reading the partition's RAM, and which DMA was blocked.

use alloc::vec::Vec;

use ktest::{Failure, check, check_eq, fail, ktest};
use vsva_abi::sva::{EventKind, EventRecord, FaultReason as EventReason, RecordFlags, SvaStruct};
use vsva_sva::backend::FaultReason;

use super::ktests::{build_one, guest_ram_of, stopped};
use super::{Partition, StopReason, run};

/// Where the reference guest takes its vSVA pages (guest/reference/src/
/// guest/sva.rs, `Pages`): from the middle of its RAM + 2 MiB, in order.
fn sva_page(p: &Partition, n: u64) -> u64 {
    let (base, size) = p.ram();
    base + size / 2 + 0x20_0000 + n * 0x1000
}

/// The guest-virtual addresses it gives edu.
const GVA_DST: u64 = 0x12_3400_1000;
const GVA_OUT: u64 = 0x12_3400_2000;

/// Whether the 64 bytes at guest-physical `gpa` of `p` all hold `byte`
/// (read by vsva from the partition's RAM, not told by the guest).
fn holds(p: &Partition, gpa: u64, byte: u8) -> Result<bool, Failure> {
    let mut data = [0u8; 64];
    check!(
        p.read_guest(gpa, &mut data),
        "{gpa:#x} is not in '{}'",
        p.name
    );
    Ok(data.iter().all(|&b| b == byte))
}

/// A host page of `other`'s RAM the reference guest's `memory` word leaves
/// alone, outside the owner's guest-physical RAM (so that as a guest-physical
/// address it cannot be the owner's own memory).
fn foreign_page(owner_ram: (u64, u64), other: &Partition) -> Result<u64, Failure> {
    let (_, size) = other.ram();
    let target = other.ram_host() + size / 4;
    let (base, len) = owner_ram;
    check!(
        !(base..base + len).contains(&target),
        "{target:#x} is inside the owner's guest-physical RAM"
    );
    Ok(target)
}

ktest! {
    /// The guest binds its own table on edu (GVA != GPA) and edu's DMA to
    /// a guest-virtual address lands in the host page behind the guest-
    /// physical page the table names; after a remap and the guest's
    /// invalidation the next DMA lands in the new page; a leaf pointing at
    /// another partition's memory makes the DMA fault and that memory stays
    /// unchanged; after unbind the GVA is refused. Shadow on x86 (QEMU's
    /// VT-d cannot nest), nested on aarch64.
    fn a_guest_table_bound_on_edu_translates_its_dma() {
        use crate::arch::dma::phys;
        let (_, edu) = crate::pci::find(0x1234, 0x11e8).ok_or_else(|| fail!("no edu"))?;
        let sid = edu.stream_id.ok_or_else(|| fail!("edu has no IOMMU"))?;
        let other = build_one("alpha", None)?;
        let target = foreign_page(guest_ram_of("edu-owner")?, &other)?;
        let mut before = [0u8; 4096];
        check!(phys::read(target, &mut before));
        let owner = build_one("edu-owner", Some(&alloc::format!("sva={target:#x}")))?;
        let owner_id = owner.id();
        let mut ps = alloc::vec![owner, other];
        run(&mut ps, 30_000, |_| {});
        check_eq!(stopped(&ps[0])?, &StopReason::Exited(0));
        check_eq!(stopped(&ps[1])?, &StopReason::Exited(0));
        check!(ps[0].console().contains("unbound"), "{:?}", ps[0].console());
        let first = 0xa0u8.wrapping_add(ps[0].index as u8);
        // Pages: the table's root, the source, then the two destinations.
        check!(holds(&ps[0], sva_page(&ps[0], 2), first)?, "the first DMA did not land behind the GVA");
        check!(holds(&ps[0], sva_page(&ps[0], 3), first.wrapping_add(0x10))?, "the DMA after the remap did not land in the new page");
        let mut after = [0u8; 4096];
        check!(phys::read(target, &mut after));
        check!(before == after, "the other partition's memory changed");
        let faults = ps[0].dma_faults();
        for (gva, what) in [(GVA_OUT, "the leaf outside"), (GVA_DST, "after unbind")] {
            check!(
                faults.iter().any(|f| f.requester == sid && f.address & !0xfff == gva && f.write),
                "no fault at GVA {gva:#x} ({what}): {faults:x?}"
            );
        }
        check!(
            faults.iter().all(|f| f.reason != FaultReason::Other),
            "{faults:x?}"
        );
        check!(ps[1].dma_faults().is_empty());
        // The partition stopped: nothing of it is left in the service.
        let service = crate::iommu::iommus().lock();
        check_eq!(service.bindings_of(owner_id), 0);
        check!(service.pasids_of(owner_id).is_empty());
        Ok(())
    }
}

ktest! {
    /// The guest binds a context-descriptor table of its own (SMMUv3):
    /// DMA goes through its CD; after it points the CD at another table and
    /// invalidates the CD and the old ASID, the next DMA follows the new
    /// table. On VT-d the same call is refused as unsupported.
    fn a_guest_cd_table_takes_effect_after_its_invalidation() {
        let mut ps = alloc::vec![build_one("edu-owner", Some("sva-cd"))?];
        run(&mut ps, 30_000, |_| {});
        check_eq!(stopped(&ps[0])?, &StopReason::Exited(0));
        if cfg!(target_arch = "x86_64") {
            check!(ps[0].console().contains("unsupported here"), "{:?}", ps[0].console());
            return Ok(());
        }
        let first = 0xc0u8.wrapping_add(ps[0].index as u8);
        // Pages: the CD, the two tables' roots, the source, then the two
        // destinations.
        check!(holds(&ps[0], sva_page(&ps[0], 4), first)?);
        check!(holds(&ps[0], sva_page(&ps[0], 5), first.wrapping_add(0x10))?);
        check!(ps[0].console().contains("unbound its CD table"));
        Ok(())
    }
}

ktest! {
    /// A second partition holding no device cannot touch the first one's:
    /// the owner's binding works while the other makes hostile vSVA calls,
    /// and the other receives no fault.
    fn a_partition_without_devices_gets_nothing_of_the_owners() {
        let owner = build_one("edu-owner", Some("sva"))?;
        let hostile = build_one("hostile", None)?;
        let mut ps: Vec<Partition> = alloc::vec![owner, hostile];
        run(&mut ps, 30_000, |_| {});
        check_eq!(stopped(&ps[0])?, &StopReason::Exited(0));
        check_eq!(stopped(&ps[1])?, &StopReason::Exited(0));
        check!(ps[1].console().contains("bad vSVA calls refused"), "{:?}", ps[1].console());
        check!(ps[1].dma_faults().is_empty());
        Ok(())
    }
}

/// Record `slot` of the ring at guest-physical `base` in `p`'s RAM, as vsva
/// wrote it (read by vsva, not told by the guest).
fn ring_record(p: &Partition, base: u64, slot: u64) -> Result<EventRecord, Failure> {
    let mut bytes = [0u8; EventRecord::SIZE];
    let at = base + 64 * (slot + 1);
    check!(
        p.read_guest(at, &mut bytes),
        "record {slot} outside '{}'",
        p.name
    );
    Ok(EventRecord::decode(&bytes))
}

/// The producer index of the ring at `base` in `p`'s RAM.
fn ring_producer(p: &Partition, base: u64) -> Result<u32, Failure> {
    let mut bytes = [0u8; 4];
    check!(p.read_guest(base, &mut bytes));
    Ok(u32::from_le_bytes(bytes))
}

/// Runs `ps` to their end, noting each one's registered ring on the way.
fn run_noting_rings(ps: &mut [Partition]) -> Vec<Option<(u64, u32)>> {
    let ids: Vec<_> = ps.iter().map(Partition::id).collect();
    let mut rings = alloc::vec![None; ps.len()];
    run(ps, 30_000, |_| {
        let service = crate::iommu::iommus().lock();
        for (ring, &id) in rings.iter_mut().zip(&ids) {
            if let Some(r) = service.event_ring(id) {
                *ring = Some(r);
            }
        }
    });
    rings
}

ktest! {
    /// edu writes into a hole of the guest's bound table: the guest's ring
    /// gets a fault record with its device ID, the GVA, a write and "not
    /// present"; the guest fills the hole, invalidates and retries, and the
    /// DMA lands. A partition without devices, with a ring, gets nothing.
    fn a_fault_into_a_hole_reaches_the_guest_which_fills_it() {
        let owner = build_one("edu-owner", Some("sva-fault"))?;
        let quiet = build_one("alpha", Some("events"))?;
        let mut ps = alloc::vec![owner, quiet];
        let rings = run_noting_rings(&mut ps);
        check_eq!(stopped(&ps[0])?, &StopReason::Exited(0));
        check_eq!(stopped(&ps[1])?, &StopReason::Exited(0));
        let (base, _) = rings[0].ok_or_else(|| fail!("the owner registered no ring"))?;
        let record = ring_record(&ps[0], base, 0)?;
        let edu = ps[0]
            .dma_faults()
            .iter()
            .find(|f| f.address & !0xfff == GVA_DST)
            .ok_or_else(|| fail!("vsva logged no fault at the hole: {:x?}", ps[0].dma_faults()))?
            .device;
        check_eq!(record.kind, EventKind::Fault as u16);
        check_eq!(record.device, edu);
        check_eq!(record.address & !0xfff, GVA_DST);
        check_eq!(record.reason, EventReason::NotPresent as u32);
        let flags = RecordFlags::from_bits_truncate(record.flags);
        check!(flags.contains(RecordFlags::WRITE) && !flags.contains(RecordFlags::PASID), "{record:x?}");
        // Pages: the table's root, the source, then the hole's page.
        let byte = 0xe0u8.wrapping_add(ps[0].index as u8);
        check!(holds(&ps[0], sva_page(&ps[0], 2), byte)?, "the retried DMA did not land");
        check!(ps[0].console().contains("the DMA landed"), "{:?}", ps[0].console());
        let (quiet_base, _) = rings[1].ok_or_else(|| fail!("the quiet partition registered no ring"))?;
        check_eq!(ring_producer(&ps[1], quiet_base)?, 0);
        check!(ps[1].console().contains("none came"), "{:?}", ps[1].console());
        Ok(())
    }
}

ktest! {
    /// Nine faults into a ring of four the guest reads only after the
    /// eighth: the ring holds the first four; the ninth's record carries
    /// the lost marker with 4, and its sequence number (8) skips the lost
    /// ones. The other partition runs to its end meanwhile.
    fn a_flood_shows_up_as_a_lost_marker_with_its_count() {
        let owner = build_one("edu-owner", Some("sva-flood"))?;
        let other = build_one("alpha", None)?;
        let mut ps = alloc::vec![owner, other];
        let rings = run_noting_rings(&mut ps);
        check_eq!(stopped(&ps[0])?, &StopReason::Exited(0));
        check_eq!(stopped(&ps[1])?, &StopReason::Exited(0));
        let (base, entries) = rings[0].ok_or_else(|| fail!("no ring registered"))?;
        check_eq!(entries, 4);
        check_eq!(ring_producer(&ps[0], base)?, 5);
        let marked = ring_record(&ps[0], base, 0)?;
        check_eq!((marked.sequence, marked.lost), (8, 4));
        check!(RecordFlags::from_bits_truncate(marked.flags).contains(RecordFlags::LOST));
        for slot in 1..4 {
            let r = ring_record(&ps[0], base, slot)?;
            check_eq!((r.sequence, r.lost), (slot as u32, 0));
        }
        check!(ps[0].console().contains("4 lost"), "{:?}", ps[0].console());
        Ok(())
    }
}
