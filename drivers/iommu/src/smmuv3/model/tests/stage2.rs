//! Stage-2 and nested translation: granules, concatenated start tables, S2AP, STE checks,
//! fault recording, S2PTW, nested walks of CDs and tables through stage 2.

use super::*;

#[test]
fn stage2_with_each_granule_concatenation_and_s2ap() {
    // (S2TG, granule, S2T0SZ, S2SL0, start level)
    for (tg, g, t0sz, sl0, start) in [
        (0u64, 12u32, 24u64, 1u64, 1u32), // 40-bit IPA, level 1: two concatenated tables
        (0, 12, 32, 1, 1),
        (2, 14, 28, 1, 2), // 36-bit IPA, 16K, level 2 (concatenated)
        (1, 16, 22, 1, 2), // 42-bit IPA, 64K, level 2
    ] {
        let fx = Fx::new(SmmuConfig::qemu());
        let t = Tables {
            fx: &fx,
            g,
            ia: 64 - t0sz as u32,
            start,
        };
        let start_bits = t.ia - t.shift(start);
        let root = fx.page(
            ((8u64 << start_bits) as usize)
                .div_ceil(4096)
                .next_power_of_two(),
        );
        fx.set_ste(1, ste_s2(9, t0sz, sl0, tg, root));
        let pa = fx.page(1 << (g - 12));
        let ipa = (1u64 << (t.ia - 1)) + (5 << g);
        t.map(root, ipa, pa, 3, AF | S2R | S2W);
        t.map(root, ipa + (1 << g), pa, 3, AF | S2R);
        fx.write(1, None, ipa + 8, &[7]).unwrap();
        assert_eq!(fx.mem.read_u32(pa + 8), 7, "granule {g}");
        assert_eq!(fx.read(1, None, ipa + (1 << g) + 8, 1).unwrap(), [7]);
        let ev = fx.event(fx.write(1, None, ipa + (1 << g), &[1]));
        assert_eq!(
            (ev.event, ev.s2, ev.class, ev.ipa),
            (
                Some(EventType::FPermission),
                true,
                Class::In,
                ipa + (1 << g)
            )
        );
        let rec = *fx.m.event_records().last().unwrap();
        assert!(rec.s2);
        assert_eq!(rec.ipa_or_fetch, ipa + (1 << g));
        assert_eq!(
            fx.event(fx.write(1, None, 1 << t.ia, &[1])).event,
            Some(EventType::FTranslation)
        );
    }
}

#[test]
fn stage2_configuration_errors_are_bad_stes() {
    let fx = Fx::new(SmmuConfig::qemu());
    let root = fx.page(1);
    // SL0 0 (level 2) cannot resolve a 40-bit IPA with 4K pages; S2AA64 0; S2TG 0b11.
    let mut bad = vec![ste_s2(1, 24, 0, 0, root), ste_s2(1, 32, 1, 3, root)];
    let mut aa32 = ste_s2(1, 32, 1, 0, root);
    aa32[2] &= !(1 << 51);
    bad.push(aa32);
    for (i, ste) in bad.into_iter().enumerate() {
        fx.set_ste(i as u32, ste);
        assert_eq!(
            fx.event(fx.write(i as u32, None, 0, &[1])).event,
            Some(EventType::CBadSte),
            "{i}"
        );
    }
}

#[test]
fn stage2_faults_record_only_with_s2r() {
    let fx = Fx::new(SmmuConfig::qemu());
    let root = fx.page(1);
    let mut ste = ste_s2(1, 32, 1, 0, root);
    ste[2] &= !(1 << 58);
    fx.set_ste(1, ste);
    let ev = fx.event(fx.write(1, None, 0x1000, &[1]));
    assert_eq!(
        (ev.event, ev.s2, ev.recorded),
        (Some(EventType::FTranslation), true, false)
    );
}

/// A nested stream: stage 2 maps IPA 0x4000_0000.. to fresh pages; the CD and the stage-1
/// tables live at IPAs.
struct Nested {
    s2_root: u64,
    cd_ipa: u64,
    s1_root_ipa: u64,
}

fn nested_stream(fx: &Fx, sid: u32) -> Nested {
    // Stage 2: S2T0SZ 25 (39-bit IPA), SL0 1 (level 1), 4K.
    let s2 = Tables {
        fx,
        g: 12,
        ia: 39,
        start: 1,
    };
    let s2_root = fx.page(1);
    let ipa_to_pa = |ipa: u64| {
        let pa = fx.page(1);
        s2.map(s2_root, ipa, pa, 3, AF | S2R | S2W);
        pa
    };
    let cd_ipa = 0x4000_0000;
    let cd_pa = ipa_to_pa(cd_ipa);
    let s1_root_ipa = 0x4000_1000;
    let s1_root_pa = ipa_to_pa(s1_root_ipa);
    // Stage-1 tables at IPAs: levels 0..2 at 0x4000_2000.., each backed by a page.
    let l1_ipa = 0x4000_2000;
    let l2_ipa = 0x4000_3000;
    let l3_ipa = 0x4000_4000;
    let l1_pa = ipa_to_pa(l1_ipa);
    let l2_pa = ipa_to_pa(l2_ipa);
    let l3_pa = ipa_to_pa(l3_ipa);
    // VA 0x1000 → IPA 0x4001_0000.
    fx.w64(s1_root_pa, l1_ipa | 0b11);
    fx.w64(l1_pa, l2_ipa | 0b11);
    fx.w64(l2_pa, l3_ipa | 0b11);
    fx.w64(l3_pa + 8, 0x4001_0000 | AF | 0b11);
    // VA 0x2000 → IPA 0x4002_0000, which stage 2 does not map.
    fx.w64(l3_pa + 16, 0x4002_0000 | AF | 0b11);
    fx.write_words(cd_pa, &cd(16, 0, 4, s1_root_ipa));
    fx.set_ste(sid, ste_nested(cd_ipa, 6, s2_root));
    Nested {
        s2_root,
        cd_ipa,
        s1_root_ipa,
    }
}

/// STE.S2PTW (§5.2): a stage-1 walk whose table is Device memory at stage 2
/// (MemAttr 0b0000, as the nested stream's pages are) takes a stage-2
/// permission fault of class TT; without S2PTW, or with the table Normal
/// (MemAttr 0b1111), the walk goes on.
#[test]
fn s2ptw_stops_stage1_walks_into_device_memory() {
    const NORMAL: u64 = 0b1111 << 2;
    for (ptw, memattr, walks) in [(true, 0, false), (false, 0, true), (true, NORMAL, true)] {
        let fx = Fx::new(SmmuConfig::qemu());
        let n = nested_stream(&fx, 1);
        let s2 = Tables {
            fx: &fx,
            g: 12,
            ia: 39,
            start: 1,
        };
        // Every page the walk reads, re-mapped with `memattr`.
        for ipa in [
            n.cd_ipa,
            n.s1_root_ipa,
            0x4000_2000,
            0x4000_3000,
            0x4000_4000,
        ] {
            let at = s2.entry(n.s2_root, ipa, 3);
            fx.w64(at, fx.r64(at) | memattr);
        }
        let data = fx.page(1);
        s2.map(n.s2_root, 0x4001_0000, data, 3, AF | S2R | S2W | NORMAL);
        let mut ste = ste_nested(n.cd_ipa, 6, n.s2_root);
        ste[2] |= u64::from(ptw) << 54;
        fx.set_ste(1, ste);
        let result = fx.write(1, None, 0x1000, &[0x3c]);
        if walks {
            result.unwrap();
            assert_eq!(fx.mem.read_u32(data) & 0xff, 0x3c);
        } else {
            let ev = fx.event(result);
            assert_eq!(
                (ev.event, ev.s2, ev.class, ev.ipa),
                (Some(EventType::FPermission), true, Class::Tt, n.s1_root_ipa)
            );
        }
    }
}

#[test]
fn nested_translation_walks_cd_and_tables_through_stage2() {
    let fx = Fx::new(SmmuConfig::qemu());
    let n = nested_stream(&fx, 1);
    let s2 = Tables {
        fx: &fx,
        g: 12,
        ia: 39,
        start: 1,
    };
    let data_pa = fx.page(1);
    s2.map(n.s2_root, 0x4001_0000, data_pa, 3, AF | S2R | S2W);
    fx.write(1, None, 0x1004, &[0x5a]).unwrap();
    assert_eq!(fx.mem.read_u32(data_pa + 4), 0x5a);
    // The final IPA faults at stage 2: Class IN, IPA reported.
    let ev = fx.event(fx.write(1, None, 0x2000, &[1]));
    assert_eq!(
        (ev.event, ev.s2, ev.class, ev.ipa),
        (Some(EventType::FTranslation), true, Class::In, 0x4002_0000)
    );
    assert_eq!(fx.m.event_records()[0].class, Class::In as u8);

    // Stage 2 loses the stage-1 root table: Class TT.
    let fx = Fx::new(SmmuConfig::qemu());
    let n = nested_stream(&fx, 1);
    let s2 = Tables {
        fx: &fx,
        g: 12,
        ia: 39,
        start: 1,
    };
    fx.w64(s2.entry(n.s2_root, n.s1_root_ipa, 3), 0);
    let ev = fx.event(fx.write(1, None, 0x1000, &[1]));
    assert_eq!(
        (ev.event, ev.s2, ev.class, ev.ipa),
        (
            Some(EventType::FTranslation),
            true,
            Class::Tt,
            n.s1_root_ipa
        )
    );

    // Stage 2 loses the CD: Class CD.
    let fx = Fx::new(SmmuConfig::qemu());
    let n = nested_stream(&fx, 1);
    let s2 = Tables {
        fx: &fx,
        g: 12,
        ia: 39,
        start: 1,
    };
    fx.w64(s2.entry(n.s2_root, n.cd_ipa, 3), 0);
    let ev = fx.event(fx.write(1, None, 0x1000, &[1]));
    assert_eq!(
        (ev.event, ev.class, ev.ipa),
        (Some(EventType::FTranslation), Class::Cd, n.cd_ipa)
    );
    let rec = fx.m.event_records()[0];
    assert_eq!(
        (rec.s2, rec.class, rec.ipa_or_fetch),
        (true, Class::Cd as u8, n.cd_ipa)
    );
}
