//! Command queue errors and completion (§4): illegal and injected command errors,
//! CMD_SYNC signalling, wrap-around.

use super::*;

#[test]
fn illegal_commands_stop_the_queue_until_gerror_is_acknowledged() {
    let fx = Fx::new(SmmuConfig::qemu());
    fx.cmds(&[cmd_sync(), [0xff, 0], cmd_cfgi_all(), cmd_sync()]);
    assert_eq!(fx.cons() & 0xff, 1, "stopped at the bad command");
    assert_eq!(fx.cons() >> 24 & 0x7f, CommandError::Ill as u32);
    assert_eq!(fx.m.read32(GERROR) ^ fx.m.read32(GERRORN), GERROR_CMDQ_ERR);
    assert_eq!(fx.m.irqs().gerror, 1);
    assert_eq!(fx.m.counts().total(), 1);
    // More commands do not run while the error is active.
    fx.cmds(&[cmd_sync()]);
    assert_eq!(fx.m.counts().total(), 1);
    // Software replaces the command with a CMD_SYNC and acknowledges.
    fx.write_words(fx.cmdq + 16, &cmd_sync());
    fx.m.write32(GERRORN, fx.m.read32(GERROR));
    assert_eq!(fx.cons() & 0xff, 5);
    assert_eq!(fx.m.counts().total(), 5);
    // ATC_INV and PRI_RESP are illegal on QEMU's SMMU (no ATS, no PRI), so is RESUME.
    for c in [cmd_atc_inv(1), [0x41, 2 << 12], cmd_resume(1, 0, true)] {
        let before = fx.cons() & 0xff;
        fx.cmds(&[c]);
        assert_eq!(fx.cons() & 0xff, before);
        fx.write_words(fx.cmdq + 16 * u64::from(before), &cmd_sync());
        fx.m.write32(GERRORN, fx.m.read32(GERROR));
    }
}

#[test]
fn injected_command_errors() {
    let fx = Fx::new(SmmuConfig::full());
    fx.m.inject(InjectedError::CommandIllegal);
    fx.cmds(&[cmd_sync()]);
    assert_eq!(fx.cons() >> 24 & 0x7f, CommandError::Ill as u32);
    fx.m.write32(GERRORN, fx.m.read32(GERROR));
    assert_eq!(fx.cons() & 0xff, 1, "the same command now passes");
    fx.m.inject(InjectedError::CommandAbort);
    fx.cmds(&[cmd_sync()]);
    assert_eq!(fx.cons() >> 24 & 0x7f, CommandError::Abt as u32);
    fx.m.write32(GERRORN, fx.m.read32(GERROR));
    fx.m.inject(InjectedError::AtcInvTimeout);
    fx.cmds(&[cmd_atc_inv(1), cmd_sync()]);
    assert_eq!(fx.cons() & 0xff, 3, "stopped on the CMD_SYNC");
    assert_eq!(fx.cons() >> 24 & 0x7f, CommandError::AtcInvSync as u32);
    // A second error while one is active does not toggle GERROR again.
    let g = fx.m.read32(GERROR);
    fx.m.write32(GERRORN, g);
    assert_eq!(fx.cons() & 0xff, 4);
    assert_eq!(fx.m.counts().atc_inv, 1);
}

#[test]
fn cmd_sync_signals_irq_msi_and_sev() {
    let fx = Fx::new(SmmuConfig::full());
    let flag = fx.page(1);
    fx.cmds(&[cmd_sync_irq(0xfeed, flag + 4), [0x46 | 2 << 12, 0]]);
    assert_eq!(fx.mem.read_u32(flag + 4), 0xfeed);
    let irqs = fx.m.irqs();
    assert_eq!((irqs.cmd_sync, irqs.msi_writes, irqs.sev), (1, 1, 1));
    let q = Fx::new(SmmuConfig::qemu());
    q.cmds(&[cmd_sync_irq(0xfeed, flag + 8)]);
    assert_eq!(q.mem.read_u32(flag + 8), 0, "no MSI without IDR0.MSI");
    assert_eq!(q.m.irqs().cmd_sync, 1);
    // CS 0b11 is reserved.
    q.cmds(&[[0x46 | 3 << 12, 0]]);
    assert_eq!(q.cons() >> 24 & 0x7f, CommandError::Ill as u32);
}

#[test]
fn command_queue_wraps() {
    let fx = Fx::new(SmmuConfig::qemu());
    for _ in 0..3 {
        fx.cmds(&vec![cmd_sync(); 40]);
    }
    assert_eq!(fx.m.counts().sync, 120);
    assert_eq!(fx.cons(), fx.prod.get());
    assert_ne!(
        fx.prod.get() & 1 << CMDQ_LOG2,
        0,
        "wrap bit flipped an odd number of times"
    );
}
