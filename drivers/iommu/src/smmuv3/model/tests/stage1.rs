//! Stage-1 translation: granules, blocks, permissions, fault recording, the access flag,
//! output address size, CD checks, both halves (TTB0/TTB1), HAD and ENDI.

use super::*;

#[test]
fn stage1_4k_pages_blocks_and_permissions() {
    let fx = Fx::new(SmmuConfig::qemu());
    let (_, root) = stage1_stream(&fx, 1, 3);
    let t = s1_4k(&fx);
    let pa = fx.page(1);
    t.map(root, 0x4000_0000, pa, 3, AF);
    t.map(root, 0x8000_0000, 0x20_0000, 2, AF | RO);
    t.map(root, 0x1_0000_0000, 0x4000_0000, 1, AF);
    fx.write(1, None, 0x4000_0010, &[1, 2, 3]).unwrap();
    assert_eq!(fx.mem.read_u32(pa + 0x10) & 0xff_ffff, 0x03_0201);
    assert_eq!(fx.read(1, None, 0x4000_0011, 2).unwrap(), [2, 3]);
    assert_eq!(fx.read(1, None, 0x8012_3456, 1).unwrap(), [0]);
    let ev = fx.event(fx.write(1, None, 0x8012_3456, &[1]));
    assert_eq!(
        (ev.event, ev.s2, ev.recorded),
        (Some(EventType::FPermission), false, true)
    );
    fx.write(1, None, 0x1_2345_6789, &[0x77]).unwrap();
    assert_eq!(fx.mem.read_u32(0x4000_0000 + 0x2345_6789) & 0xff, 0x77);
    let ev = fx.event(fx.write(1, None, 0x5000_0000, &[1]));
    assert_eq!(
        (ev.event, ev.addr, ev.access),
        (Some(EventType::FTranslation), 0x5000_0000, Access::Write)
    );
    let rec = fx.m.event_records()[1];
    assert_eq!(
        (rec.sid, rec.addr, rec.read, rec.s2),
        (1, 0x5000_0000, false, false)
    );
}

#[test]
fn stage1_faults_record_only_with_cd_r_and_never_change_memory() {
    let fx = Fx::new(SmmuConfig::qemu());
    let (cd_addr, root) = stage1_stream(&fx, 1, 3);
    let pa = fx.page(1);
    s1_4k(&fx).map(root, 0x1000, pa, 3, AF);
    // Clear CD.R.
    fx.w64(cd_addr, fx.r64(cd_addr) & !(1 << 45));
    // The second page of the write is unmapped: nothing is written.
    let ev = fx.event(fx.write(1, None, 0x1ff0, &[0xee; 32]));
    assert_eq!(
        (ev.event, ev.addr, ev.recorded),
        (Some(EventType::FTranslation), 0x2000, false)
    );
    assert_eq!(fx.r64(pa + 0xff0), 0);
    assert!(fx.m.event_records().is_empty());
    assert_eq!(fx.m.faults().len(), 1);
}

#[test]
fn stage1_16k_and_64k_granules() {
    for (tg0, g, t0sz, start) in [(0b10u64, 14u32, 25u64, 1u32), (0b01, 16, 16, 1)] {
        let fx = Fx::new(SmmuConfig::qemu());
        let pages = 1 << (g - 12);
        let root = fx.page(pages);
        let cd_addr = fx.page(1);
        fx.write_words(cd_addr, &cd(t0sz, tg0, 1, root));
        fx.set_ste(1, ste_s1(cd_addr, 0, 0, 0));
        let t = Tables {
            fx: &fx,
            g,
            ia: 64 - t0sz as u32,
            start,
        };
        let pa = fx.page(pages);
        t.map(root, 0x40 << g, pa, 3, AF);
        // A level-2 block: 32 MiB (16K) or 512 MiB (64K).
        let block = 1u64 << t.shift(2);
        t.map(root, 2 * block, block, 2, AF);
        fx.write(1, None, (0x40 << g) + 0x123, &[9]).unwrap();
        assert_eq!(fx.mem.read_u32(pa + 0x123) & 0xff, 9, "granule {g}");
        fx.write(1, None, 2 * block + 0x4567, &[8]).unwrap();
        assert_eq!(fx.mem.read_u32(block + 0x4567) & 0xff, 8);
        // A block at level 1 is not allowed with these granules.
        if start == 1 {
            let e = t.entry(root, 3 << t.shift(1), 1);
            fx.w64(e, AF | 0b01);
            let ev = fx.event(fx.write(1, None, 3 << t.shift(1), &[1]));
            assert_eq!(ev.event, Some(EventType::FTranslation));
        }
    }
}

#[test]
fn access_flag_faults_or_is_updated_by_hardware() {
    let fx = Fx::new(SmmuConfig::qemu());
    let (_, root) = stage1_stream(&fx, 1, 3);
    let pa = fx.page(1);
    s1_4k(&fx).map(root, 0x3000, pa, 3, 0);
    assert_eq!(
        fx.event(fx.write(1, None, 0x3000, &[1])).event,
        Some(EventType::FAccess)
    );
    let full = Fx::new(SmmuConfig::full());
    let (cd_addr, root) = stage1_stream(&full, 1, 3);
    let t = s1_4k(&full);
    let pa = full.page(1);
    t.map(root, 0x3000, pa, 3, 0);
    // CD.HA (bit 43).
    full.w64(cd_addr, full.r64(cd_addr) | 1 << 43);
    full.write(1, None, 0x3000, &[1]).unwrap();
    assert_ne!(
        full.r64(t.entry(root, 0x3000, 3)) & AF,
        0,
        "AF set by the walk"
    );
}

#[test]
fn output_beyond_oas_is_an_address_size_fault() {
    let fx = Fx::new(SmmuConfig::qemu());
    let (_, root) = stage1_stream(&fx, 1, 3);
    // QEMU's OAS is 44 bits.
    s1_4k(&fx).map(root, 0x6000, 1 << 45, 3, AF);
    assert_eq!(
        fx.event(fx.write(1, None, 0x6000, &[1])).event,
        Some(EventType::FAddrSize)
    );
    // Input beyond T0SZ: a translation fault.
    assert_eq!(
        fx.event(fx.write(1, None, 1 << 50, &[1])).event,
        Some(EventType::FTranslation)
    );
}

#[test]
fn invalid_cds_are_bad() {
    let fx = Fx::new(SmmuConfig::qemu());
    let (cd_addr, _) = stage1_stream(&fx, 1, 3);
    let good = fx.r64(cd_addr);
    for bad in [
        good & !(1 << 31),
        good & !(1 << 41),
        good & !(1 << 46),
        (good & !0x3f) | 40,
        good | 0b11 << 6,
    ] {
        fx.w64(cd_addr, bad);
        // The CD is not cached after a failure: each variant is read afresh.
        assert_eq!(
            fx.event(fx.write(1, None, 0, &[1])).event,
            Some(EventType::CBadCd),
            "{bad:#x}"
        );
    }
}

/// A CD with both halves over 4K tables of 48-bit input (T0SZ = T1SZ = 16): word 0 of
/// [`cd`] with EPD1 cleared, T1SZ 16 and TG1 = 0b10 (4K in TG1's encoding), TTB1 in word 2.
fn cd_both(asid: u16, ttb0: u64, ttb1: u64) -> [u64; 8] {
    let mut w = cd(16, 0, asid, ttb0);
    w[0] = (w[0] & !(1 << 30)) | 16 << 16 | 0b10 << 22;
    w[2] = ttb1;
    w
}

/// TTB0 translates addresses with VA[55] == 0 and TTB1 those with VA[55] == 1, indexed by
/// their low 48 bits; an address in neither half's range, and any upper address with
/// EPD1, is a translation fault reporting the whole address. TBI1 ignores an upper
/// address's top byte. The TLB keeps the halves apart although their low bits match.
#[test]
fn stage1_upper_half_translates_through_ttb1() {
    let fx = Fx::new(SmmuConfig::qemu());
    let (root0, root1, cd_addr) = (fx.page(1), fx.page(1), fx.page(1));
    fx.write_words(cd_addr, &cd_both(3, root0, root1));
    fx.set_ste(1, ste_s1(cd_addr, 0, 0, 0));
    let t = s1_4k(&fx);
    let (lo, hi) = (fx.page(1), fx.page(1));
    let offset = 0x12_3456_7000;
    t.map(root0, offset, lo, 3, AF | NG);
    t.map(root1, offset, hi, 3, AF | NG);
    let upper = 0xffff_0000_0000_0000 | offset;

    fx.write(1, None, upper + 8, &[0xa1]).unwrap();
    fx.write(1, None, offset + 8, &[0xb2]).unwrap();
    assert_eq!(fx.mem.read_u32(hi + 8) & 0xff, 0xa1, "upper through TTB1");
    assert_eq!(fx.mem.read_u32(lo + 8) & 0xff, 0xb2, "lower through TTB0");
    assert_eq!(fx.read(1, None, upper + 8, 1).unwrap(), [0xa1], "TLB hit");

    // VA[55] == 1 but bits 63:48 not all ones, and the same with VA[55] == 0.
    for gap in [
        0x00ff_0000_0000_0000 | offset,
        0x8000_0000_0000_0000 | offset,
    ] {
        let ev = fx.event(fx.write(1, None, gap, &[1]));
        assert_eq!((ev.event, ev.addr), (Some(EventType::FTranslation), gap));
    }
    // A tagged upper address: a fault without TBI1, the same page with it.
    let tagged = (upper & mask(55, 0)) | 0x5a << 56;
    assert_eq!(
        fx.event(fx.write(1, None, tagged, &[1])).event,
        Some(EventType::FTranslation)
    );
    fx.w64(cd_addr, fx.r64(cd_addr) | 1 << 39);
    fx.cmds(&[cmd_cfgi_cd(1, 0), cmd_sync()]);
    fx.write(1, None, tagged + 9, &[0xc3]).unwrap();
    assert_eq!(fx.mem.read_u32(hi + 8) & 0xffff, 0xc3a1);

    // EPD1: upper addresses fault without a walk (the TLB emptied first), lower ones
    // still translate; TTB1's other fields are IGNORED, so a reserved TG1 is no error.
    fx.w64(cd_addr, (fx.r64(cd_addr) | 1 << 30) & !(0b11 << 22));
    fx.cmds(&[cmd_cfgi_cd(1, 0), cmd_tlbi_nh_asid(0, 3), cmd_sync()]);
    let ev = fx.event(fx.write(1, None, upper, &[1]));
    assert_eq!(
        (ev.event, ev.addr, ev.recorded),
        (Some(EventType::FTranslation), upper, true)
    );
    assert_eq!(fx.read(1, None, offset + 8, 1).unwrap(), [0xb2]);
}

/// TTB1's fields make the CD ILLEGAL only while EPD1 is clear: T1SZ outside 16..=39
/// (QEMU has no STT) and the reserved TG1 0b00.
#[test]
fn ttb1_fields_are_checked_unless_epd1() {
    let fx = Fx::new(SmmuConfig::qemu());
    let (root0, root1, cd_addr) = (fx.page(1), fx.page(1), fx.page(1));
    let good = cd_both(3, root0, root1);
    fx.set_ste(1, ste_s1(cd_addr, 0, 0, 0));
    let t1sz = |w0: u64, v: u64| (w0 & !(0x3f << 16)) | v << 16;
    for (w0, bad) in [
        (good[0], false),
        (t1sz(good[0], 40), true),
        (t1sz(good[0], 15), true),
        (good[0] & !(0b11 << 22), true),
        (t1sz(good[0], 40) | 1 << 30, false),
        ((good[0] & !(0b11 << 22)) | 1 << 30, false),
    ] {
        fx.write_words(cd_addr, &[w0, good[1], good[2]]);
        fx.cmds(&[cmd_cfgi_cd(1, 0), cmd_sync()]);
        // Nothing is mapped: a valid CD gives a translation fault.
        let ev = fx.event(fx.write(1, None, 0x1000, &[1])).event;
        let want = if bad {
            EventType::CBadCd
        } else {
            EventType::FTranslation
        };
        assert_eq!(ev, Some(want), "{w0:#x}");
    }
}

/// CD.HAD0 (word 1 bit 1) makes APTable[1] in TTB0's table descriptors no longer deny
/// writes, where SMMU_IDR3.HAD says HAD is implemented; without IDR3.HAD it is IGNORED.
#[test]
fn had0_disables_aptable_where_idr3_had() {
    let no_had = SmmuConfig {
        idr: [QEMU_IDR0, QEMU_IDR1, 0, QEMU_IDR3 & !IDR3_HAD, 0, QEMU_IDR5],
        ..SmmuConfig::qemu()
    };
    for (cfg, honoured) in [(SmmuConfig::qemu(), true), (no_had, false)] {
        let fx = Fx::new(cfg);
        let (cd_addr, root) = stage1_stream(&fx, 1, 3);
        let t = s1_4k(&fx);
        let pa = fx.page(1);
        t.map(root, 0x4000_0000, pa, 3, AF | NG);
        // APTable[1] (bit 62) in the level-1 table descriptor.
        let l1 = t.entry(root, 0x4000_0000, 1);
        fx.w64(l1, fx.r64(l1) | 1 << 62);
        assert_eq!(
            fx.event(fx.write(1, None, 0x4000_0000, &[1])).event,
            Some(EventType::FPermission)
        );
        assert_eq!(fx.read(1, None, 0x4000_0000, 1).unwrap(), [0]);

        fx.w64(cd_addr + 8, fx.r64(cd_addr + 8) | 1 << 1);
        fx.cmds(&[cmd_cfgi_cd(1, 0), cmd_tlbi_nh_asid(0, 3), cmd_sync()]);
        let r = fx.write(1, None, 0x4000_0000, &[7]);
        assert_eq!(r.is_ok(), honoured, "IDR3 {:#x}: {r:?}", cfg.idr[3]);
    }
}

/// CD.ENDI: big-endian tables are ILLEGAL on a little-endian-only SMMU (IDR0.TTENDIAN =
/// 0b10, as QEMU) unless both halves are disabled, and a mixed-endian SMMU (0b00) walks
/// byte-reversed descriptors, writing the access flag back big-endian too.
#[test]
fn cd_endi_follows_idr0_ttendian() {
    let fx = Fx::new(SmmuConfig::qemu());
    let (cd_addr, root) = stage1_stream(&fx, 1, 3);
    s1_4k(&fx).map(root, 0x2000, fx.page(1), 3, AF);
    let good = fx.r64(cd_addr);
    fx.w64(cd_addr, good | 1 << 15);
    assert_eq!(
        fx.event(fx.write(1, None, 0x2000, &[1])).event,
        Some(EventType::CBadCd)
    );
    fx.w64(cd_addr, good | 1 << 15 | 1 << 14);
    assert_eq!(
        fx.event(fx.write(1, None, 0x2000, &[1])).event,
        Some(EventType::FTranslation),
        "ENDI IGNORED with EPD0 and EPD1"
    );

    let mixed = SmmuConfig {
        idr: [
            (FULL_IDR0 & !(0b11 << IDR0_TTENDIAN_SHIFT)) | 1 << IDR0_HTTU_SHIFT,
            FULL_IDR1,
            0,
            QEMU_IDR3,
            0,
            FULL_IDR5,
        ],
        ..SmmuConfig::full()
    };
    let fx = Fx::new(mixed);
    let (cd_addr, root) = stage1_stream(&fx, 1, 3);
    let t = s1_4k(&fx);
    let pa = fx.page(1);
    let va = 0x7654_3000;
    // A leaf without AF, for CD.HA to set.
    t.map(root, va, pa, 3, NG);
    let entries: Vec<u64> = (0..4).map(|level| t.entry(root, va, level)).collect();
    for &e in &entries {
        fx.w64(e, fx.r64(e).swap_bytes());
    }
    fx.w64(cd_addr, fx.r64(cd_addr) | 1 << 15 | 1 << 43);
    fx.write(1, None, va + 4, &[0x99]).unwrap();
    assert_eq!(fx.mem.read_u32(pa + 4) & 0xff, 0x99);
    assert_ne!(
        fx.r64(entries[3]).swap_bytes() & AF,
        0,
        "AF written big-endian"
    );
    // The same little-endian descriptors read as nonsense: the leaf is not valid.
    fx.w64(cd_addr, fx.r64(cd_addr) & !(1 << 15));
    fx.cmds(&[cmd_cfgi_cd(1, 0), cmd_tlbi_nh_asid(0, 3), cmd_sync()]);
    assert!(fx.write(1, None, va, &[1]).is_err());
}
