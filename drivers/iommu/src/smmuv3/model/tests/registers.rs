//! Registers (§6.3): ID registers from the presets, CR0 and IRQ_CTRL acknowledgement,
//! GBPA, access widths and the page 1 aliases.

use super::*;

#[test]
fn id_registers_come_from_the_presets() {
    let fx = Fx::bare(SmmuConfig::qemu());
    assert_eq!(fx.m.read32(0x00), 0x0d44_101b);
    assert_eq!(fx.m.read32(0x04), 0x0273_0010);
    assert_eq!(fx.m.read32(0x0c), 0x1414);
    assert_eq!(fx.m.read32(0x14), 0x74);
    assert_eq!(fx.m.read32(AIDR), 0x01);
    let full = Fx::bare(SmmuConfig::full());
    let idr0 = full.m.read32(0x00);
    // PRI 16, MSI 13, ATS 10, CD2L 19, STALL_MODEL 0b00.
    assert!(
        idr0 & (1 << 16 | 1 << 13 | 1 << 10 | 1 << 19) == (1 << 16 | 1 << 13 | 1 << 10 | 1 << 19)
    );
    assert_eq!((idr0 >> 24) & 3, 0);
    assert_eq!((full.m.read32(0x04) >> 6) & 0x1f, 20, "SSIDSIZE");
}

#[test]
fn cr0_is_acknowledged_unless_ignored_and_irq_ctrl_too() {
    let fx = Fx::bare(SmmuConfig::qemu());
    fx.m.write32(CR0, CR0_EVENTQEN | CR0_PRIQEN);
    // PRIQEN is not writable without PRI.
    assert_eq!(fx.m.read32(CR0ACK), CR0_EVENTQEN);
    fx.m.set_ignore_cr0(true);
    fx.m.write32(CR0, CR0_EVENTQEN | CR0_SMMUEN);
    assert_eq!(fx.m.read32(CR0), CR0_EVENTQEN | CR0_SMMUEN);
    assert_eq!(fx.m.read32(CR0ACK), CR0_EVENTQEN, "ACK poll would time out");
    fx.m.set_ignore_cr0(false);
    fx.m.write32(CR0, CR0_SMMUEN);
    assert_eq!(fx.m.read32(CR0ACK), CR0_SMMUEN);
    fx.m.write32(IRQ_CTRL, 0b101);
    assert_eq!(fx.m.read32(IRQ_CTRLACK), 0b101);
}

#[test]
fn gbpa_needs_update_and_decides_abort_or_bypass_while_disabled() {
    let fx = Fx::bare(SmmuConfig::qemu());
    assert!(
        fx.write(7, None, 0x5000, &[1, 2]).is_ok(),
        "bypass at reset"
    );
    assert_eq!(fx.mem.read_u32(0x5000) & 0xffff, 0x0201);
    fx.m.write32(GBPA, GBPA_ABORT);
    assert_eq!(fx.m.read32(GBPA) & GBPA_ABORT, 0, "ignored without UPDATE");
    fx.m.write32(GBPA, GBPA_ABORT | GBPA_UPDATE);
    assert_eq!(fx.m.read32(GBPA), GBPA_ABORT, "UPDATE completes at once");
    let ev = fx.event(fx.write(7, None, 0x5000, &[9]));
    assert_eq!(ev.event, None);
    assert!(!ev.recorded);
    assert_eq!(fx.mem.read_u32(0x5000) & 0xff, 1);
}

#[test]
fn register_widths_and_page1_aliases() {
    let fx = Fx::bare(SmmuConfig::qemu());
    assert_eq!(fx.m.read64(CMDQ_BASE), fx.cmdq | CMDQ_LOG2);
    assert_eq!(fx.m.read32(CMDQ_BASE), (fx.cmdq | CMDQ_LOG2) as u32);
    fx.m.write32(STRTAB_BASE + 4, 0x12);
    assert_eq!(fx.m.read64(STRTAB_BASE) >> 32, 0x12);
    assert_eq!(fx.m.bad_accesses(), 0);
    fx.m.read64(CR0);
    fx.m.write64(CMDQ_PROD, 0);
    assert_eq!(
        fx.m.bad_accesses(),
        2,
        "64-bit accesses to 32-bit registers"
    );
    fx.m.write32(PAGE1 + EVENTQ_CONS, 3);
    assert_eq!(fx.m.read32(EVENTQ_CONS), 3);
    assert_eq!(fx.m.read32(PAGE1 + EVENTQ_CONS), 3);
    assert_eq!(
        fx.m.read32(PAGE1 + CR0),
        u32::MAX,
        "page 1 has only PROD/CONS"
    );
}
