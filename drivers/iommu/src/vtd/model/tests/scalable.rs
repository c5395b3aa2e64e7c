//! Scalable mode: second-stage with the PASID cache, first-stage checks and PASID-based IOTLB,
//! nested translation.

use super::*;

#[test]
fn scalable_second_stage_with_pasid_cache() {
    let r = Rig::new(QEMU_CAP, QEMU_ECAP_SCALABLE_PASID);
    let slpt = r.page();
    let a = r.page();
    r.mem.write_u32(a + 8, 0x55);
    r.map(slpt, 3, 0x7000, ss(a, true, false), 1, 3, false);
    let (dir, ctx) = r.scalable(0, true, false);
    let pe = r.pasid_entry(dir, 0, slpt | 2 << 6 | 1 << 2 | 1, DID, 0);
    assert_eq!(
        r.read(None, 0x7008),
        Ok(0x55),
        "RID_PASID 0, AW 1 = 3-level"
    );
    assert_eq!(
        r.write(None, 0x7008, 1).unwrap_err().reason,
        FaultReason::SmWriteDenied
    );
    assert_eq!(
        r.read(None, 1 << 39).unwrap_err().reason,
        FaultReason::SmAddressBeyondWidth
    );
    assert_eq!(
        r.read(None, 0x8000).unwrap_err().reason,
        FaultReason::SmReadDenied
    );
    // A request-with-PASID: PASID 77 has no table entry yet.
    assert_eq!(
        r.read(Some(7), 0x7008).unwrap_err().reason,
        FaultReason::PasidEntryNotPresent
    );
    assert_eq!(
        r.read(Some(64 * 200), 0).unwrap_err().reason,
        FaultReason::SmContextEntryInvalid,
        "beyond PDTS"
    );
    assert_eq!(
        r.read(Some(64 * 100), 0).unwrap_err().reason,
        FaultReason::PasidDirectoryEntryNotPresent
    );
    r.pasid_entry(dir, 7, slpt | 2 << 6 | 1 << 2 | 1, 7, 0);
    let h = r.m.read32(FSTS_REG);
    assert_ne!(h, 0);
    assert_eq!(r.read(Some(7), 0x7008), Ok(0x55));
    // Changing the PASID entry is invisible until a PASID-cache invalidation for its DID.
    r.mem.write64(pe, 0);
    assert_eq!(r.read(None, 0x7008), Ok(0x55));
    r.enable_qi(true);
    r.submit(&[[7 | 1 << 4 | 7 << 16, 0, 0, 0]]);
    assert_eq!(r.read(None, 0x7008), Ok(0x55), "other DID");
    r.submit(&[[7 | 1 << 4 | DID << 16, 0, 0, 0]]);
    // The entry is re-read: the IOTLB cannot be reached without the PASID entry's DID.
    assert_eq!(
        r.read(None, 0x7008).unwrap_err().reason,
        FaultReason::PasidEntryNotPresent
    );
    // PASIDE Clear rejects requests-with-PASID.
    r.mem.write64(ctx, dir | 1);
    r.submit(&[[1 | 1 << 4, 0, 0, 0]]);
    assert_eq!(
        r.read(Some(7), 0x7008).unwrap_err().reason,
        FaultReason::SmContextEntryInvalid
    );
    // Nested PGTT is rejected without ECAP.NEST, as QEMU does.
    r.mem.write64(ctx, dir | 1 << 3 | 1);
    r.pasid_entry(dir, 5, slpt | 3 << 6 | 1 << 2 | 1, 7, 0);
    r.submit(&[[1 | 1 << 4, 0, 0, 0]]);
    assert_eq!(
        r.read(Some(5), 0).unwrap_err().reason,
        FaultReason::PasidEntryInvalid
    );
}

#[test]
fn scalable_first_stage_checks_and_piotlb() {
    let r = Rig::new(QEMU_CAP_FLTS, QEMU_ECAP_FLTS);
    let pml4 = r.page();
    let (a, b) = (r.page(), r.page());
    r.mem.write_u32(a, 0xa);
    r.mem.write_u32(b, 0xb);
    let va = 0x7fff_0000_1000;
    r.map(pml4, 4, va, fs(a, true, true), 1, 0b111, false);
    r.map(pml4, 4, 0x2000, fs(b, false, true), 1, 0b111, false);
    r.map(pml4, 4, 0x3000, fs(b, true, false), 1, 0b111, false);
    r.map(
        pml4,
        4,
        0x4000_0000,
        fs(0x8000_0000, true, true),
        3,
        0b111,
        true,
    );
    let (dir, _) = r.scalable(3, true, false);
    r.pasid_entry(dir, 3, 1 << 6 | 1, DID, pml4);
    assert_eq!(r.read(None, va), Ok(0xa));
    // A and D set by the walk.
    assert_ne!(
        r.mem.read64(pml4 + 0xff * 8) & 1 << 5,
        0,
        "A in the PML4 entry"
    );
    r.write(None, va, 0xaa).unwrap();
    assert_eq!(r.read(None, 0x2000), Ok(0xb));
    assert_eq!(
        r.write(None, 0x2000, 0).unwrap_err().reason,
        FaultReason::SmWriteDenied
    );
    assert_eq!(
        r.read(None, 0x3000).unwrap_err().reason,
        FaultReason::UserSupervisor
    );
    assert_eq!(
        r.read(None, 0x5000).unwrap_err().reason,
        FaultReason::FirstStageNotPresent
    );
    assert_eq!(
        r.read(None, 1 << 47).unwrap_err().reason,
        FaultReason::NonCanonical
    );
    r.mem.write_u32(0x8123_4000, 0x1d);
    assert_eq!(r.read(None, 0x4123_4000), Ok(0x1d), "1 GiB page with FS1GP");
    // A type-2 page-selective invalidation leaves first-stage entries; P_IOTLB drops them.
    r.map(pml4, 4, va, fs(b, true, true), 1, 0b111, false);
    r.enable_qi(true);
    r.submit(&[iotlb_page_desc(DID, va, 0)]);
    assert_eq!(r.read(None, va), Ok(0xaa), "stale");
    r.submit(&[piotlb_desc(3, DID, 4, va, 0)]);
    assert_eq!(r.read(None, va), Ok(0xaa), "other PASID");
    r.submit(&[piotlb_desc(3, DID, 3, va, 0)]);
    assert_eq!(r.read(None, va), Ok(0xb));
    // 1 GiB first-stage pages without FS1GP are reserved.
    let r2 = Rig::new(QEMU_CAP, QEMU_ECAP_FLTS);
    let pml4 = r2.page();
    r2.map(
        pml4,
        4,
        0x4000_0000,
        fs(0x8000_0000, true, true),
        3,
        0b111,
        true,
    );
    let (dir, _) = r2.scalable(3, true, false);
    r2.pasid_entry(dir, 3, 1 << 6 | 1, DID, pml4);
    assert_eq!(
        r2.read(None, 0x4000_0000).unwrap_err().reason,
        FaultReason::FirstStageReserved
    );
}

#[test]
fn nested_translation_walks_first_stage_tables_through_second_stage() {
    let r = Rig::new(FULL_CAP, FULL_ECAP);
    // Guest-physical layout: first-stage tables at GPA 0x1000.., data at GPA 0x10_0000.
    let slpt = r.page();
    let gpa_map = |gpa: u64| {
        let hpa = r.page();
        r.map(slpt, 4, gpa, ss(hpa, true, true), 1, 3, false);
        hpa
    };
    let tables: Vec<u64> = (0..4).map(|i| gpa_map(0x1000 * (i + 1))).collect();
    let data = gpa_map(0x10_0000);
    // PML4 at GPA 0x1000 -> PDPT 0x2000 -> PD 0x3000 -> PT 0x4000 -> data GPA 0x10_0000.
    let va = 0x40_0000u64;
    for (level, t) in tables.iter().enumerate() {
        let shift = 39 - 9 * level as u64;
        let next = if level < 3 {
            0x1000 * (level as u64 + 2)
        } else {
            0x10_0000
        };
        r.mem
            .write64(t + ((va >> shift) & 0x1ff) * 8, fs(next, true, true));
    }
    r.mem.write_u32(data + 0x10, 0x4e);
    let (dir, _) = r.scalable(0, true, true);
    r.pasid_entry(dir, 9, slpt | 3 << 6 | 2 << 2 | 1, DID, 0x1000);
    assert_eq!(r.read(Some(9), va + 0x10), Ok(0x4e));
    r.write(Some(9), va + 0x10, 0x4f).unwrap();
    assert_eq!(r.mem.read_u32(data + 0x10), 0x4f);
    // Removing the second-stage mapping of a first-stage table faults once invalidated.
    r.map(slpt, 4, 0x3000, 0, 1, 3, false);
    assert_eq!(
        r.read(Some(9), va + 0x10),
        Ok(0x4f),
        "cached nested translation"
    );
    r.enable_qi(true);
    r.submit(&[[2 | 2 << 4 | DID << 16, 0, 0, 0]]);
    assert_eq!(
        r.read(Some(9), va).unwrap_err().reason,
        FaultReason::SmReadDenied
    );
    let f = r.m.faults().last().copied().unwrap();
    assert_eq!((f.pasid, f.addr), (Some(9), va));
    // Pass-through.
    r.pasid_entry(dir, 10, 4 << 6 | 1, DID, 0);
    r.write(Some(10), 0x50_0000, 3).unwrap();
    assert_eq!(r.mem.read_u32(0x50_0000), 3);
    // Output in the interrupt range faults.
    assert_eq!(
        r.write(Some(10), 0xfee0_0000, 3).unwrap_err().reason,
        FaultReason::SmInterruptAddress
    );
}
