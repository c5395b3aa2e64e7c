//! Fault recording registers, status and fault events; FPD.

use super::*;

#[test]
fn fault_recording_registers_status_and_events() {
    let r = Rig::new(QEMU_CAP, QEMU_ECAP_LEGACY);
    let slpt = r.page();
    r.legacy(0, 2, slpt);
    let f = r.write(None, 0x1234_5678, 1).unwrap_err();
    assert!(f.recorded);
    assert_eq!(r.m.read64(0x220), 0x1234_5000, "FI is page-aligned");
    let hi = r.m.read64(0x228);
    assert_eq!(hi & 0xffff, u64::from(RID));
    assert_eq!(field(hi, 39, 32), 0x5);
    assert!(!bit(hi, 62), "T1 = 0: write");
    assert!(bit(hi, 63));
    assert_eq!(
        r.m.read32(FSTS_REG) & (FSTS_PPF | 0xff00),
        FSTS_PPF,
        "PPF, FRI 0"
    );
    assert_eq!(r.m.read32(FECTL_REG), CTL_IM | CTL_IP, "masked: pending");
    assert_eq!(r.m.events().fault, 0);
    r.m.write32(FECTL_REG, 0);
    assert_eq!(r.m.events().fault, 1, "unmasking sends it");
    assert_eq!(r.m.read32(FECTL_REG), 0);
    // One recording register: the next fault overflows.
    let g = r.read(None, 0x9000).unwrap_err();
    assert!(!g.recorded);
    assert_eq!(r.m.read32(FSTS_REG) & FSTS_PFO, FSTS_PFO);
    assert_eq!(r.m.read64(0x220), 0x1234_5000, "first fault kept");
    // F and PFO are RW1C; the next fault lands again.
    r.m.write32(0x22c, 1 << 31);
    r.m.write32(FSTS_REG, FSTS_PFO);
    assert_eq!(r.m.read32(FSTS_REG), 0);
    r.read(None, 0x7000).unwrap_err();
    assert_eq!(r.m.read64(0x220), 0x7000);
    assert!(bit(r.m.read64(0x228), 62), "T1 = 1: read");
    assert_eq!(
        r.m.events().fault,
        3,
        "unmasked: PFO and the new PPF each sent one"
    );
    assert_eq!(r.m.faults().len(), 3);
}

#[test]
fn fpd_suppresses_recording_but_not_the_fault() {
    let r = Rig::new(QEMU_CAP, QEMU_ECAP_LEGACY);
    let slpt = r.page();
    let (_, ctx) = r.legacy(0, 2, slpt);
    r.mem.write64(ctx, slpt | 1 << 1 | 1);
    let f = r.read(None, 0x1000).unwrap_err();
    assert_eq!((f.reason, f.recorded), (FaultReason::ReadDenied, false));
    assert_eq!(r.m.read32(FSTS_REG), 0);
}
