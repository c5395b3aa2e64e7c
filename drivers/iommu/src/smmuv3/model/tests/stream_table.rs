//! STE configurations (§5.2) and stream tables (§3.3, §5.1): abort, bypass, invalid STEs,
//! two-level tables, external aborts on fetches.

use super::*;

#[test]
fn ste_abort_bypass_and_invalid() {
    let fx = Fx::new(SmmuConfig::qemu());
    fx.set_ste(1, ste_abort());
    fx.set_ste(2, ste_bypass());
    let ev = fx.event(fx.write(1, None, 0x8000, &[1]));
    assert_eq!(
        (ev.event, ev.recorded),
        (None, false),
        "abort records nothing"
    );
    fx.write(2, None, 0x8000, &[0xaa]).unwrap();
    assert_eq!(fx.mem.read_u32(0x8000), 0xaa);
    let ev = fx.event(fx.write(3, None, 0x8000, &[1]));
    assert_eq!(ev.event, Some(EventType::CBadSte));
    assert!(ev.recorded);
    // Config 0b001 is reserved.
    fx.set_ste(4, [1 | 0b001 << 1, 0, 0, 0, 0, 0, 0, 0]);
    assert_eq!(
        fx.event(fx.write(4, None, 0, &[1])).event,
        Some(EventType::CBadSte)
    );
    let ev = fx.event(fx.write(256, None, 0, &[1]));
    assert_eq!(ev.event, Some(EventType::CBadStreamid));
    let recs = fx.m.event_records();
    assert_eq!(recs.len(), 3);
    assert_eq!((recs[0].event, recs[0].sid), (Some(EventType::CBadSte), 3));
    assert_eq!((recs[2].code, recs[2].sid), (0x02, 256));
    assert_eq!(fx.m.irqs().eventq, 3);
}

#[test]
fn two_level_stream_table_with_spans() {
    let fx = Fx::bare(SmmuConfig::qemu());
    // 16-bit StreamIDs, SPLIT 8: 256 L1 descriptors.
    let l1 = fx.page(1);
    fx.m.write64(STRTAB_BASE, l1);
    fx.m.write32(STRTAB_BASE_CFG, 16 | 8 << 6 | 1 << 16);
    fx.m.write32(CR0, CR0_SMMUEN | CR0_EVENTQEN | CR0_CMDQEN);
    let l2 = fx.page(4);
    // Span 3: 4 STEs (StreamIDs 0x300..0x303).
    fx.w64(l1 + 8 * 3, l2 | 3);
    fx.write_words(l2 + 64 * 2, &ste_bypass());
    fx.write(0x302, None, 0x9000, &[5]).unwrap();
    assert_eq!(fx.mem.read_u32(0x9000), 5);
    assert_eq!(
        fx.event(fx.write(0x304, None, 0x9000, &[1])).event,
        Some(EventType::CBadStreamid)
    );
    assert_eq!(
        fx.event(fx.write(0x402, None, 0x9000, &[1])).event,
        Some(EventType::CBadStreamid),
        "Span 0"
    );
    assert_eq!(
        fx.event(fx.write(0x300, None, 0x9000, &[1])).event,
        Some(EventType::CBadSte)
    );
    assert_eq!(
        fx.event(fx.write(0x1_0000, None, 0, &[1])).event,
        Some(EventType::CBadStreamid)
    );
}

#[test]
fn external_aborts_on_ste_and_walk_fetches() {
    let fx = Fx::new(SmmuConfig::qemu());
    let (_, root) = stage1_stream(&fx, 5, 1);
    fx.m.add_external_abort(fx.strtab + 64 * 6..fx.strtab + 64 * 7);
    let ev = fx.event(fx.write(6, None, 0, &[1]));
    assert_eq!(
        (ev.event, ev.fetch_addr),
        (Some(EventType::FSteFetch), fx.strtab + 64 * 6)
    );
    fx.m.add_external_abort(root..root + 4096);
    let ev = fx.event(fx.write(5, None, 0x1000, &[1]));
    assert_eq!(
        (ev.event, ev.fetch_addr),
        (Some(EventType::FWalkEabt), root)
    );
    assert_eq!(fx.m.event_records()[1].ipa_or_fetch, root);
    fx.m.clear_external_aborts();
    fx.m.add_external_abort(fx.cmdq..fx.cmdq + 16);
    fx.cmds(&[cmd_sync()]);
    assert_eq!(fx.cons() >> 24 & 0x7f, CommandError::Abt as u32);
}
