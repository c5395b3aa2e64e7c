//! Caches and invalidation: stale IOTLB and context-cache entries, queued invalidation and its
//! errors, the wide queue, register-based invalidation by halves.

use super::*;

#[test]
fn iotlb_and_context_cache_stay_stale_until_invalidated() {
    let r = Rig::new(QEMU_CAP, QEMU_ECAP_LEGACY);
    let slpt = r.page();
    let (a, b) = (r.page(), r.page());
    r.mem.write_u32(a, 0xa);
    r.mem.write_u32(b, 0xb);
    r.map(slpt, 4, 0x1000, ss(a, true, true), 1, 3, false);
    let (_, ctx) = r.legacy(0, 2, slpt);
    assert_eq!(r.read(None, 0x1000), Ok(0xa));
    r.map(slpt, 4, 0x1000, ss(b, true, true), 1, 3, false);
    assert_eq!(r.read(None, 0x1000), Ok(0xa), "stale IOTLB");
    // Register-based page-selective invalidation of another page leaves it.
    r.m.write64(0xf0, 0x5000);
    r.m.write64(0xf8, 1 << 63 | 3 << 60 | DID << 32);
    assert_eq!(r.m.read64(0xf8) >> 57 & 3, 3, "IAIG page");
    assert_eq!(r.read(None, 0x1000), Ok(0xa));
    r.m.write64(0xf0, 0x1000);
    r.m.write64(0xf8, 1 << 63 | 3 << 60 | DID << 32);
    assert_eq!(r.m.read64(0xf8) >> 63, 0, "IVT self-clears");
    assert_eq!(r.read(None, 0x1000), Ok(0xb));
    // Unmapping without invalidation keeps the old translation alive.
    r.mem.write64(slpt, 0);
    assert_eq!(r.read(None, 0x1000), Ok(0xb));
    r.m.write64(0xf8, 1 << 63 | 2 << 60 | DID << 32);
    assert_eq!(
        r.read(None, 0x1000).unwrap_err().reason,
        FaultReason::ReadDenied
    );
    // Context cache: a new DID / table pointer is not seen until a context invalidation
    // that names the cached DID.
    let slpt2 = r.page();
    r.map(slpt2, 4, 0x1000, ss(a, true, true), 1, 3, false);
    r.mem.write64(ctx, slpt2 | 1);
    r.mem.write64(ctx + 8, 9 << 8 | 2);
    assert!(r.read(None, 0x1000).is_err(), "cached context, old tables");
    r.m.write64(CCMD_REG, 1 << 63 | 3 << 61 | u64::from(RID) << 16 | 9);
    let ccmd = r.m.read64(CCMD_REG);
    assert_eq!(
        (ccmd >> 63, ccmd >> 59 & 0b11),
        (0, 3),
        "ICC clear, CAIG device"
    );
    assert!(
        r.read(None, 0x1000).is_err(),
        "device-selective with the wrong DID"
    );
    r.m.write64(CCMD_REG, 1 << 63 | 3 << 61 | u64::from(RID) << 16 | DID);
    assert_eq!(r.read(None, 0x1000), Ok(0xa));
    assert_eq!(r.m.counts().register_context_cache, 2);
    assert_eq!(r.m.counts().register_iotlb, 3);
}

#[test]
fn queued_invalidation_wait_and_counts() {
    let r = Rig::new(QEMU_CAP, QEMU_ECAP_LEGACY);
    let status = r.page();
    r.enable_qi(false);
    r.submit(&[
        [1 | 1 << 4, 0, 0, 0],
        [2 | 2 << 4 | DID << 16, 0, 0, 0],
        [4, 0, 0, 0],
        wait_desc(status, 0x1234),
    ]);
    assert_eq!(r.mem.read_u32(status), 0x1234);
    assert_eq!(r.m.read64(IQH_REG), 0x40);
    let c = r.m.counts();
    assert_eq!(
        (
            c.context_cache,
            c.iotlb,
            c.interrupt_entry_cache,
            c.wait,
            c.queued()
        ),
        (1, 1, 1, 1, 4)
    );
    assert_eq!(
        r.m.descriptor_log()[1],
        Descriptor::Iotlb {
            granularity: IotlbGranularity::Domain,
            did: DID as u16,
            addr: 0,
            am: 0,
            ih: false,
            dr: false,
            dw: false
        }
    );
    // IF: ICS.IWC and an invalidation event (IECTL masked at reset: IP).
    r.submit(&[[5 | 1 << 4, 0, 0, 0]]);
    assert_eq!(r.m.read32(ICS_REG), ICS_IWC);
    assert_eq!(r.m.read32(IECTL_REG), CTL_IM | CTL_IP);
    r.m.write32(ICS_REG, ICS_IWC);
    assert_eq!(r.m.read32(IECTL_REG), CTL_IM);
    // Register-based invalidation is ignored while QI is on.
    r.m.write64(CCMD_REG, 1 << 63 | 1 << 61);
    assert_eq!(r.m.counts().register_context_cache, 0);
    // Disabling QI resets IQH.
    r.m.write32(GCMD_REG, 0);
    assert_eq!(r.m.read64(IQH_REG), 0);
}

#[test]
fn invalid_descriptors_stop_the_queue_until_iqe_is_cleared() {
    let r = Rig::new(QEMU_CAP, QEMU_ECAP_LEGACY);
    let status = r.page();
    let q = r.enable_qi(false);
    r.submit(&[wait_desc(status, 1), [0xf, 0, 0, 0], wait_desc(status, 2)]);
    assert_eq!(r.mem.read_u32(status), 1);
    assert_eq!(r.m.read64(IQH_REG), 0x10, "IQH on the bad descriptor");
    assert_eq!(r.m.read32(FSTS_REG) & FSTS_IQE, FSTS_IQE);
    assert_eq!(r.m.read64(IQERCD_REG) & 0xf, Iqei::InvalidType as u64);
    // Software replaces it and clears IQE: processing resumes.
    r.mem.write64(q + 0x10, 4);
    r.m.write32(FSTS_REG, FSTS_IQE);
    assert_eq!(r.mem.read_u32(status), 2);
    assert_eq!(r.m.read64(IQH_REG), 0x30);
    // Reserved bits, a wait with SW and IF, AM above MAMV.
    for bad in [
        [1 | 1 << 4, 1, 0, 0],
        [5 | 3 << 4, status, 0, 0],
        iotlb_page_desc(DID, 0, 19),
    ] {
        let h = r.m.read64(IQH_REG);
        r.submit(&[bad]);
        assert_eq!(r.m.read64(IQH_REG), h, "{bad:x?}");
        assert_eq!(r.m.read64(IQERCD_REG) & 0xf, Iqei::Reserved as u64);
        r.mem.write64(q + h, 4);
        r.mem.write64(q + h + 8, 0);
        r.m.write32(FSTS_REG, FSTS_IQE);
        assert_eq!(r.m.read64(IQH_REG), h + 0x10);
    }
    // Scalable-mode descriptors are invalid types on a legacy-only unit.
    r.submit(&[piotlb_desc(2, DID, 1, 0, 0)]);
    assert_eq!(r.m.read64(IQERCD_REG) & 0xf, Iqei::InvalidType as u64);
}

#[test]
fn wide_queue_rules() {
    let r = Rig::new(QEMU_CAP, QEMU_ECAP_SCALABLE);
    r.enable_qi(false);
    r.submit(&[piotlb_desc(2, DID, 1, 0, 0)]);
    assert_eq!(
        r.m.read64(IQERCD_REG) & 0xf,
        Iqei::InvalidWidth as u64,
        "needs DW=1"
    );
    let r = Rig::new(QEMU_CAP, QEMU_ECAP_SCALABLE);
    r.enable_qi(true);
    r.m.write64(IQT_REG, 0x10);
    assert_eq!(r.m.read64(IQERCD_REG) & 0xf, Iqei::TailMisaligned as u64);
    r.m.write64(IQT_REG, 0);
    r.m.write32(FSTS_REG, FSTS_IQE);
    r.submit(&[
        piotlb_desc(3, DID, 1, 0x4000, 1),
        [7 | 1 << 4 | DID << 16 | 1 << 32, 0, 0, 0],
    ]);
    assert_eq!(r.m.read64(IQH_REG), 0x40);
    assert_eq!(r.m.counts().pasid_iotlb, 1);
    assert_eq!(r.m.counts().pasid_cache, 1);
    // The upper 128 bits of a 256-bit descriptor are reserved.
    r.submit(&[[4, 0, 1, 0]]);
    assert_eq!(r.m.read32(FSTS_REG) & FSTS_IQE, FSTS_IQE);
}

#[test]
fn injected_invalidation_errors() {
    let r = Rig::new(FULL_CAP, FULL_ECAP);
    let status = r.page();
    r.enable_qi(true);
    r.m.inject(InjectedError::CompletionError);
    r.m.inject(InjectedError::DeviceTlbTimeout);
    let dev_tlb = [3 | 0x0200_u64 << 32, 0, 0, 0];
    r.submit(&[dev_tlb, wait_desc(status, 1)]);
    let fsts = r.m.read32(FSTS_REG);
    assert_eq!(fsts & (FSTS_ICE | FSTS_ITE), FSTS_ICE | FSTS_ITE);
    assert_eq!(
        r.m.read64(IQERCD_REG) >> 32,
        0x0200_0200,
        "ICESID and ITESID"
    );
    assert_eq!(
        r.mem.read_u32(status),
        0,
        "the wait after a timeout is not processed"
    );
    r.m.write32(FSTS_REG, FSTS_ITE | FSTS_ICE);
    assert_eq!(r.mem.read_u32(status), 1, "resumes once ITE is cleared");
    r.m.inject(InjectedError::DescriptorError);
    r.submit(&[wait_desc(status, 2)]);
    assert_eq!(r.m.read32(FSTS_REG) & FSTS_IQE, FSTS_IQE);
    assert_eq!(r.mem.read_u32(status), 1);
    r.m.write32(FSTS_REG, FSTS_IQE);
    assert_eq!(r.mem.read_u32(status), 2);
    assert_eq!(r.m.counts().device_tlb, 1);
}

#[test]
fn split_32_bit_accesses_and_scalable_iotlb_staleness() {
    let r = Rig::new(FULL_CAP, FULL_ECAP);
    let slpt = r.page();
    let (a, b) = (r.page(), r.page());
    r.mem.write_u32(a, 0xa);
    r.mem.write_u32(b, 0xb);
    r.map(slpt, 4, 0x1000, ss(a, true, true), 1, 3, false);
    let (dir, _) = r.scalable(0, true, false);
    r.pasid_entry(dir, 0, slpt | 2 << 6 | 2 << 2 | 1, DID, 0);
    assert_eq!(r.read(None, 0x1000), Ok(0xa));
    r.map(slpt, 4, 0x1000, ss(b, true, true), 1, 3, false);
    // Register-based IOTLB invalidation written as two halves, lower first: only the
    // upper half (with IVT) acts. A PASID-based invalidation does not touch second-stage
    // entries.
    r.m.write32(0xf0, 0x1000);
    r.m.write32(0xf4, 0);
    r.m.write32(0xf8, 0);
    assert_eq!(r.read(None, 0x1000), Ok(0xa));
    r.m.write32(0xfc, 1 << 31 | 3 << 28 | DID as u32);
    assert_eq!(r.read(None, 0x1000), Ok(0xb));
    r.map(slpt, 4, 0x1000, ss(a, true, true), 1, 3, false);
    r.enable_qi(true);
    r.submit(&[piotlb_desc(2, DID, 0, 0, 0)]);
    assert_eq!(
        r.read(None, 0x1000),
        Ok(0xb),
        "P_IOTLB leaves second-stage entries"
    );
    r.submit(&[iotlb_page_desc(DID, 0x1000, 0)]);
    assert_eq!(r.read(None, 0x1000), Ok(0xa));
    // A 32-bit write to the lower half of a fault recording register's upper quadword
    // does not clear F; a write of bit 31 of the upper doubleword does.
    r.read(None, 0x9000).unwrap_err();
    r.m.write32(0x228, u32::MAX);
    assert_eq!(r.m.read32(FSTS_REG) & FSTS_PPF, FSTS_PPF);
    r.m.write32(0x22c, 1 << 31);
    assert_eq!(r.m.read32(FSTS_REG) & FSTS_PPF, 0);
    assert_eq!(r.m.cache_sizes().0, 1);
}
