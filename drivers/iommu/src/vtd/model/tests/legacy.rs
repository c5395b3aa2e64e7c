//! Legacy-mode translation: translation disabled, second-stage pages and permissions, context
//! programming faults.

use super::*;

#[test]
fn translation_disabled_is_identity_and_te_without_root_faults() {
    let r = Rig::new(QEMU_CAP, QEMU_ECAP_LEGACY);
    r.write(None, 0x20_0000, 7).unwrap();
    assert_eq!(r.mem.read_u32(0x20_0000), 7);
    r.m.write32(GCMD_REG, GCMD_TE);
    let f = r.read(None, 0x20_0000).unwrap_err();
    assert_eq!(f.reason, FaultReason::RootTableAccess);
    assert!(f.recorded);
}

#[test]
fn legacy_second_stage_pages_and_permissions() {
    let r = Rig::new(QEMU_CAP, QEMU_ECAP_LEGACY);
    let slpt = r.page();
    let (a, b, c) = (r.page(), 0x400_0000, 0x4000_0000);
    r.map(slpt, 4, 0x1000, ss(a, true, true), 1, 3, false);
    r.map(slpt, 4, 0x20_0000, ss(b, true, true), 2, 3, true);
    r.map(slpt, 4, 0x8000_0000, ss(c, true, false), 3, 3, true);
    r.legacy(0, 2, slpt);
    r.write(None, 0x1010, 0xaa).unwrap();
    assert_eq!(r.mem.read_u32(a + 0x10), 0xaa);
    r.write(None, 0x23_4560, 0xbb).unwrap();
    assert_eq!(r.mem.read_u32(b + 0x3_4560), 0xbb);
    r.mem.write_u32(c + 0x123_4000, 0xcc);
    assert_eq!(r.read(None, 0x8123_4000), Ok(0xcc));
    let f = r.write(None, 0x8123_4000, 1).unwrap_err();
    assert_eq!(
        (f.reason, f.access),
        (FaultReason::WriteDenied, Access::Write)
    );
    assert_eq!(
        r.mem.read_u32(c + 0x123_4000),
        0xcc,
        "no memory change on a fault"
    );
    assert_eq!(
        r.read(None, 0x5000).unwrap_err().reason,
        FaultReason::ReadDenied
    );
    // AW 2 = 48-bit: an address at bit 48 is beyond the width.
    assert_eq!(
        r.read(None, 1 << 48).unwrap_err().reason,
        FaultReason::AddressBeyondWidth
    );
    // A DMA across a page boundary where the second page faults changes nothing.
    let before = r.mem.read_u32(a + 0xffc);
    let e = r.m.dma_write(RID, None, 0x1ffc, &[1; 8]).unwrap_err();
    assert_eq!(e.addr, 0x2000);
    assert_eq!(r.mem.read_u32(a + 0xffc), before);
}

#[test]
fn legacy_context_programming_faults() {
    let r = Rig::new(QEMU_CAP, QEMU_ECAP_LEGACY);
    let slpt = r.page();
    let (root, ctx) = r.legacy(0, 2, slpt);
    // Pass-through (ECAP.PT is Set in QEMU's ECAP).
    r.mem.write64(ctx, 2 << 2 | 1);
    r.write(None, 0x30_0000, 9).unwrap();
    assert_eq!(r.mem.read_u32(0x30_0000), 9);
    // Request-with-PASID in legacy mode is blocked.
    assert_eq!(
        r.read(Some(1), 0).unwrap_err().reason,
        FaultReason::TranslationTypeBlocked
    );
    let cases = [
        (ctx, 3 << 2 | 1, FaultReason::ContextEntryInvalid),
        (ctx, slpt | 1 << 2 | 1, FaultReason::ContextEntryInvalid), // TT 01 needs ECAP.DT
        (ctx, slpt | 1 << 5 | 1, FaultReason::ContextEntryReserved),
        (ctx, 0, FaultReason::ContextEntryNotPresent),
    ];
    for (at, v, reason) in cases {
        r.mem.write64(at, v);
        r.m.write64(CCMD_REG, 1 << 63 | 1 << 61);
        assert_eq!(r.read(None, 0).unwrap_err().reason, reason, "{v:#x}");
        r.m.write32(0x220 + 12, 1 << 31);
    }
    let re = root + u64::from(RID >> 8) * 16;
    let ctp = r.mem.read64(re);
    r.mem.write64(re, ctp | 1 << 3);
    assert_eq!(
        r.read(None, 0).unwrap_err().reason,
        FaultReason::RootEntryReserved
    );
    r.m.write32(0x220 + 12, 1 << 31);
    r.mem.write64(re, 0);
    assert_eq!(
        r.read(None, 0).unwrap_err().reason,
        FaultReason::RootEntryNotPresent
    );
    // AW 1 (39-bit) is supported by QEMU; AW 3 (57-bit) is not.
    r.mem.write64(re, ctp);
    r.mem.write64(ctx, slpt | 1);
    r.mem.write64(ctx + 8, DID << 8 | 3);
    r.m.write32(0x220 + 12, 1 << 31);
    assert_eq!(
        r.read(None, 0).unwrap_err().reason,
        FaultReason::ContextEntryInvalid
    );
}
