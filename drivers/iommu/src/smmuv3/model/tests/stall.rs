//! The stall model (§7.3): stalled transactions waiting for CMD_RESUME; QEMU never stalls.

use super::*;

#[test]
fn stalled_transactions_wait_for_resume() {
    let fx = Fx::new(SmmuConfig::full());
    let (cd_addr, root) = stage1_stream(&fx, 1, 3);
    // CD.S (bit 44); CD.R clear: a stall is recorded anyway.
    fx.w64(cd_addr, (fx.r64(cd_addr) | 1 << 44) & !(1 << 45));
    let ev = fx.event(fx.write(1, None, 0x4000, &[0xab, 0xcd]));
    let stag = ev.stag.expect("stalled");
    assert!(ev.recorded);
    assert_eq!(fx.m.event_records()[0].stag, Some(stag));
    assert_eq!(fx.m.pending_stalls().len(), 1);
    let pa = fx.page(1);
    s1_4k(&fx).map(root, 0x4000, pa, 3, AF);
    fx.cmds(&[
        cmd_resume(1, stag.wrapping_add(1), true),
        cmd_resume(2, stag, true),
    ]);
    assert_eq!(
        fx.m.pending_stalls().len(),
        1,
        "STAG and StreamID must both match"
    );
    fx.cmds(&[cmd_resume(1, stag, true), cmd_sync()]);
    assert!(fx.m.pending_stalls().is_empty());
    assert_eq!(fx.mem.read_u32(pa) & 0xffff, 0xcdab);
    assert_eq!(
        fx.m.resume_outcomes(),
        [ResumeOutcome::Completed { stag, read: None }]
    );
    // A stalled read resumed with retry returns its data; another is terminated.
    let ev = fx.event(fx.read(1, None, 0x5000, 2).map(|_| ()));
    fx.m.dma_read(1, None, 0x6000, &mut [0; 1]).unwrap_err();
    s1_4k(&fx).map(root, 0x5000, pa, 3, AF);
    fx.cmds(&[
        cmd_resume(1, ev.stag.unwrap(), true),
        cmd_resume(1, ev.stag.unwrap() + 1, false),
    ]);
    let outcomes = fx.m.resume_outcomes();
    assert_eq!(
        outcomes[1],
        ResumeOutcome::Completed {
            stag: ev.stag.unwrap(),
            read: Some(vec![0xab, 0xcd])
        }
    );
    assert_eq!(
        outcomes[2],
        ResumeOutcome::Terminated {
            stag: ev.stag.unwrap() + 1,
            abort: true
        }
    );
    // CMD_STALL_TERM ends every stall of the stream.
    fx.write(1, None, 0x7000, &[1]).unwrap_err();
    fx.write(1, None, 0x8000, &[1]).unwrap_err();
    fx.cmds(&[[0x45 | 1 << 32, 0]]);
    assert!(fx.m.pending_stalls().is_empty());
    assert_eq!(fx.m.counts().stall_term, 1);
    // STE.S1STALLD disables stalling: the fault is recorded per CD.R (clear: not).
    let mut ste = ste_s1(cd_addr, 0, 0, 0);
    ste[1] |= 1 << 27;
    fx.set_ste(1, ste);
    fx.cmds(&[cmd_cfgi_ste(1)]);
    let ev = fx.event(fx.write(1, None, 0x9000, &[1]));
    assert_eq!((ev.stag, ev.recorded), (None, false));
}

#[test]
fn qemu_never_stalls() {
    let fx = Fx::new(SmmuConfig::qemu());
    let (cd_addr, _) = stage1_stream(&fx, 1, 3);
    fx.w64(cd_addr, fx.r64(cd_addr) | 1 << 44);
    let ev = fx.event(fx.write(1, None, 0x4000, &[1]));
    assert_eq!((ev.stag, ev.recorded), (None, true));
    assert!(fx.m.pending_stalls().is_empty());
}
