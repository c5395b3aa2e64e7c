//! Substreams through linear and two-level CD tables (§5.3, §5.4).

use super::*;

#[test]
fn substreams_through_a_linear_cd_table() {
    let fx = Fx::new(SmmuConfig::full());
    // S1CDMax 2: four CDs.
    let cds = fx.page(1);
    let roots: Vec<u64> = (0..4).map(|_| fx.page(1)).collect();
    let pas: Vec<u64> = (0..4).map(|_| fx.page(1)).collect();
    for i in 0..4 {
        fx.write_words(cds + 64 * i as u64, &cd(16, 0, 10 + i as u16, roots[i]));
        s1_4k(&fx).map(roots[i], 0x7000, pas[i], 3, AF | NG);
    }
    fx.set_ste(1, ste_s1(cds, 0, 2, 0));
    fx.write(1, Some(1), 0x7000, &[1]).unwrap();
    fx.write(1, Some(3), 0x7000, &[3]).unwrap();
    assert_eq!(fx.mem.read_u32(pas[1]), 1);
    assert_eq!(fx.mem.read_u32(pas[3]), 3);
    let ev = fx.event(fx.write(1, Some(4), 0x7000, &[1]));
    assert_eq!(
        (ev.event, ev.ssid),
        (Some(EventType::CBadSubstreamid), Some(4))
    );
    assert_eq!(fx.m.event_records()[0].ssid, Some(4));
    // No SubstreamID: S1DSS 0b00 terminates, 0b01 bypasses stage 1, 0b10 uses CD 0.
    assert_eq!(
        fx.event(fx.write(1, None, 0x7000, &[1])).event,
        Some(EventType::FStreamDisabled)
    );
    fx.set_ste(2, ste_s1(cds, 0, 2, 0b01));
    fx.write(2, None, 0x7000, &[0x42]).unwrap();
    assert_eq!(fx.mem.read_u32(0x7000), 0x42);
    fx.set_ste(3, ste_s1(cds, 0, 2, 0b10));
    fx.write(3, None, 0x7000, &[0x10]).unwrap();
    assert_eq!(fx.mem.read_u32(pas[0]), 0x10);
    assert_eq!(
        fx.event(fx.write(3, Some(0), 0x7000, &[1])).event,
        Some(EventType::CBadSubstreamid)
    );
    // Substreams without stage 1, or with S1CDMax 0.
    fx.set_ste(4, ste_bypass());
    assert_eq!(
        fx.event(fx.write(4, Some(1), 0, &[1])).event,
        Some(EventType::CBadSubstreamid)
    );
    stage1_stream(&fx, 5, 1);
    assert_eq!(
        fx.event(fx.write(5, Some(1), 0, &[1])).event,
        Some(EventType::CBadSubstreamid)
    );
}

#[test]
fn substreams_through_two_level_cd_tables() {
    for (fmt, leaf_cds) in [(1u64, 64u32), (2, 1024)] {
        let fx = Fx::new(SmmuConfig::full());
        let l1 = fx.page(1);
        let leaf = fx.page(if fmt == 1 { 1 } else { 16 });
        let ssid = 3 * leaf_cds + 5;
        fx.w64(l1 + 8 * 3, leaf | 1);
        let root = fx.page(1);
        let pa = fx.page(1);
        fx.write_words(leaf + 64 * 5, &cd(16, 0, 7, root));
        s1_4k(&fx).map(root, 0x2000, pa, 3, AF);
        fx.set_ste(1, ste_s1(l1, fmt, 20, 0));
        fx.write(1, Some(ssid), 0x2000, &[6]).unwrap();
        assert_eq!(fx.mem.read_u32(pa), 6);
        let ev = fx.event(fx.write(1, Some(4 * leaf_cds), 0x2000, &[1]));
        assert_eq!(ev.event, Some(EventType::CBadSubstreamid), "L1CD.V == 0");
        let ev = fx.event(fx.write(1, Some(ssid + 1), 0x2000, &[1]));
        assert_eq!(ev.event, Some(EventType::CBadCd));
    }
}

#[test]
fn qemu_has_no_substreams_or_two_level_cd_tables() {
    let fx = Fx::new(SmmuConfig::qemu());
    let cds = fx.page(1);
    fx.set_ste(1, ste_s1(cds, 0, 1, 0));
    assert_eq!(
        fx.event(fx.write(1, None, 0, &[1])).event,
        Some(EventType::CBadSte)
    );
}
