//! Identification and reset values; GCMD and GSTS with one-shot and persistent commands.

use super::*;

#[test]
fn identification_and_reset_values() {
    let r = Rig::new(QEMU_CAP, QEMU_ECAP_SCALABLE);
    assert_eq!(r.m.read32(VER_REG), 0x10);
    assert_eq!(r.m.read64(CAP_REG), QEMU_CAP);
    assert_eq!(r.m.read32(ECAP_REG + 4), (QEMU_ECAP_SCALABLE >> 32) as u32);
    assert_eq!(r.m.read32(GSTS_REG), 0);
    assert_eq!(r.m.read32(FECTL_REG), CTL_IM);
    assert_eq!(cap_fro(QEMU_CAP), 0x220);
    assert_eq!(cap_nfr(QEMU_CAP), 1);
    assert_eq!(ecap_iro(QEMU_ECAP_LEGACY), 0xf0);
    assert_eq!(cap_nfr(FULL_CAP), 8);
    assert_eq!(cap_mgaw(FULL_CAP), 57);
    assert!(ecap_nest(FULL_ECAP) && ecap_prs(FULL_ECAP) && ecap_flts(FULL_ECAP));
    assert_eq!(field(FULL_ECAP, 39, 35), 19);
}

#[test]
fn gcmd_sets_gsts_with_one_shot_and_persistent_semantics() {
    let r = Rig::new(QEMU_CAP, QEMU_ECAP_LEGACY);
    r.m.write64(RTADDR_REG, 0x5000);
    r.m.write32(GCMD_REG, GCMD_SRTP);
    assert_eq!(
        r.m.read32(GSTS_REG),
        GCMD_SRTP,
        "RTPS Set, nothing persistent"
    );
    r.m.write32(GCMD_REG, GCMD_TE);
    assert_eq!(r.m.read32(GSTS_REG), GCMD_TE | GCMD_SRTP);
    // A one-shot bit written again repeats the operation: the new RTADDR is latched.
    r.m.write64(RTADDR_REG, 0x9000 | 1 << 10);
    assert_eq!(r.m.state.borrow().root, Some((0x5000, 0)));
    r.m.write32(GCMD_REG, GCMD_TE | GCMD_SRTP);
    assert_eq!(
        r.m.state.borrow().root,
        Some((0x9000, 1)),
        "TTM latched too"
    );
    r.m.write32(GCMD_REG, GCMD_WBF);
    assert_eq!(
        r.m.read32(GSTS_REG) & (GCMD_WBF | GCMD_TE),
        0,
        "WBF done, TE cleared"
    );
    r.m.write32(GCMD_REG, GCMD_QIE | GCMD_IRE | GCMD_SIRTP);
    assert_eq!(
        r.m.read32(GSTS_REG) & (GCMD_QIE | GCMD_IRE | GCMD_SIRTP),
        GCMD_QIE | GCMD_IRE | GCMD_SIRTP
    );
    r.m.set_ignore_gcmd(true);
    r.m.write32(GCMD_REG, GCMD_TE);
    assert_eq!(r.m.read32(GSTS_REG) & GCMD_TE, 0, "ignored");
    // A unit without QI never shows QIES.
    let r = Rig::new(QEMU_CAP, QEMU_ECAP_LEGACY & !2);
    r.m.write32(GCMD_REG, GCMD_QIE);
    assert_eq!(r.m.read32(GSTS_REG), 0);
}
