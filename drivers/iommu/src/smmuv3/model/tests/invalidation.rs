//! Caches and invalidation (§16.2): STEs, CDs and TLB entries stay stale until the
//! matching CFGI or TLBI command.

use super::*;

#[test]
fn ste_is_stale_until_cfgi_ste() {
    let fx = Fx::new(SmmuConfig::qemu());
    fx.set_ste(1, ste_bypass());
    fx.write(1, None, 0x8000, &[1]).unwrap();
    fx.set_ste(1, ste_abort());
    fx.write(1, None, 0x8000, &[2]).expect("cached bypass STE");
    fx.cmds(&[cmd_cfgi_ste(2), cmd_sync()]);
    fx.write(1, None, 0x8000, &[3])
        .expect("another StreamID's invalidation");
    fx.cmds(&[cmd_cfgi_ste(1), cmd_sync()]);
    assert!(fx.write(1, None, 0x8000, &[4]).is_err());
    assert_eq!(fx.mem.read_u32(0x8000) & 0xff, 3);
    let c = fx.m.counts();
    assert_eq!((c.cfgi_ste, c.sync, c.total()), (2, 2, 4));
    assert_eq!(
        fx.m.command_log()[0],
        Command::CfgiSte { sid: 2, leaf: true }
    );
    // CFGI_STE_RANGE and CFGI_ALL.
    for sid in 8..12 {
        fx.set_ste(sid, ste_bypass());
        fx.write(sid, None, 0, &[1]).unwrap();
        fx.set_ste(sid, ste_abort());
    }
    fx.cmds(&[cmd_cfgi_ste_range(9, 0)]);
    assert!(fx.write(8, None, 0, &[1]).is_err());
    assert!(fx.write(9, None, 0, &[1]).is_err());
    assert!(fx.write(10, None, 0, &[1]).is_ok());
    fx.cmds(&[cmd_cfgi_all()]);
    assert!(fx.write(11, None, 0, &[1]).is_err());
    assert_eq!(fx.m.counts().cfgi_all, 1);
}

#[test]
fn cd_is_stale_until_cfgi_cd_or_cfgi_ste() {
    let fx = Fx::new(SmmuConfig::qemu());
    let (cd_addr, root) = stage1_stream(&fx, 1, 3);
    let t = s1_4k(&fx);
    let (old_pa, new_pa) = (fx.page(1), fx.page(1));
    t.map(root, 0x1000, old_pa, 3, AF);
    fx.write(1, None, 0x1000, &[1]).unwrap();
    // A new table with a new ASID; VA 0x5000 was never translated.
    let new_root = fx.page(1);
    t.map(root, 0x5000, old_pa, 3, AF | NG);
    t.map(new_root, 0x5000, new_pa, 3, AF | NG);
    fx.write_words(cd_addr, &cd(16, 0, 4, new_root));
    fx.write(1, None, 0x5000, &[7]).unwrap();
    assert_eq!(
        fx.mem.read_u32(old_pa) & 0xff,
        7,
        "cached CD walks the old table"
    );
    fx.cmds(&[cmd_cfgi_cd(1, 0), cmd_sync()]);
    fx.write(1, None, 0x5000, &[8]).unwrap();
    assert_eq!(fx.mem.read_u32(new_pa) & 0xff, 8);
    // CFGI_STE drops the CDs fetched through it; CFGI_CD_ALL too.
    fx.w64(cd_addr, 0);
    fx.cmds(&[cmd_cfgi_ste(1)]);
    assert_eq!(
        fx.event(fx.write(1, None, 0x9000, &[1])).event,
        Some(EventType::CBadCd)
    );
    fx.write_words(cd_addr, &cd(16, 0, 4, new_root));
    fx.write(1, None, 0x5000, &[8]).unwrap();
    fx.w64(cd_addr, 0);
    fx.cmds(&[cmd_cfgi_cd_all(1)]);
    assert_eq!(
        fx.event(fx.write(1, None, 0x9000, &[1])).event,
        Some(EventType::CBadCd)
    );
}

#[test]
fn stage1_tlb_is_stale_until_the_matching_tlbi() {
    let fx = Fx::new(SmmuConfig::qemu());
    let (_, root) = stage1_stream(&fx, 1, 3);
    let t = s1_4k(&fx);
    let (a, b) = (fx.page(1), fx.page(1));
    t.map(root, 0x1000, a, 3, AF);
    fx.write(1, None, 0x1000, &[1]).unwrap();
    t.map(root, 0x1000, b, 3, AF);
    fx.write(1, None, 0x1000, &[2]).unwrap();
    assert_eq!(fx.mem.read_u32(a), 2, "stale TLB entry");
    fx.cmds(&[
        cmd_tlbi_nh_asid(0, 4),
        cmd_tlbi_nh_va(0, 3, 0x2000),
        cmd_tlbi_nh_asid(1, 3),
    ]);
    fx.write(1, None, 0x1000, &[3]).unwrap();
    assert_eq!(fx.mem.read_u32(a), 3, "other ASID, other page, other VMID");
    fx.cmds(&[cmd_tlbi_nh_va(0, 3, 0x1000)]);
    fx.write(1, None, 0x1000, &[4]).unwrap();
    assert_eq!(fx.mem.read_u32(b), 4);
    // A global entry (nG == 0) survives TLBI_NH_ASID, not TLBI_NH_VAA.
    t.map(root, 0x1000, a, 3, AF);
    fx.cmds(&[cmd_tlbi_nh_asid(0, 3)]);
    fx.write(1, None, 0x1000, &[5]).unwrap();
    assert_eq!(fx.mem.read_u32(b), 5, "the global entry survived");
    t.map(root, 0x1000, b, 3, AF | NG);
    fx.cmds(&[cmd_tlbi_nh_vaa(0, 0x1000)]);
    fx.write(1, None, 0x1000, &[6]).unwrap();
    assert_eq!(fx.mem.read_u32(b), 6);
    t.map(root, 0x1000, a, 3, AF | NG);
    fx.cmds(&[cmd_tlbi_nh_asid(0, 3)]);
    fx.write(1, None, 0x1000, &[7]).unwrap();
    assert_eq!(
        fx.mem.read_u32(a),
        7,
        "a non-global entry goes with its ASID"
    );
    // A read-only page made writable stays read-only until invalidated.
    t.map(root, 0x3000, a, 3, AF | RO);
    fx.read(1, None, 0x3000, 1).unwrap();
    t.map(root, 0x3000, a, 3, AF);
    assert_eq!(
        fx.event(fx.write(1, None, 0x3000, &[1])).event,
        Some(EventType::FPermission)
    );
    fx.cmds(&[cmd_tlbi_nsnh_all()]);
    fx.write(1, None, 0x3000, &[1]).unwrap();
    assert_eq!(fx.m.cache_sizes().2, 1);
}

#[test]
fn stage2_tlb_is_stale_until_s2_ipa_or_vmall_and_ranges_count() {
    let fx = Fx::new(SmmuConfig::qemu());
    let root = fx.page(1);
    fx.set_ste(1, ste_s2(9, 32, 1, 0, root));
    let t = Tables {
        fx: &fx,
        g: 12,
        ia: 32,
        start: 1,
    };
    let (a, b) = (fx.page(8), fx.page(8));
    for i in 0..8u64 {
        t.map(
            root,
            0x10_0000 + (i << 12),
            a + (i << 12),
            3,
            AF | S2R | S2W,
        );
    }
    for i in 0..8u64 {
        fx.write(1, None, 0x10_0000 + (i << 12), &[1]).unwrap();
        t.map(
            root,
            0x10_0000 + (i << 12),
            b + (i << 12),
            3,
            AF | S2R | S2W,
        );
    }
    fx.cmds(&[cmd_tlbi_s2_ipa(8, 0x10_0000, None), cmd_tlbi_nh_asid(9, 0)]);
    fx.write(1, None, 0x10_0000, &[2]).unwrap();
    assert_eq!(
        fx.mem.read_u32(a) & 0xff,
        2,
        "other VMID; NH does not touch stage 2"
    );
    fx.cmds(&[cmd_tlbi_s2_ipa(9, 0x10_0000, None)]);
    fx.write(1, None, 0x10_0000, &[3]).unwrap();
    assert_eq!(fx.mem.read_u32(b) & 0xff, 3);
    // Range: NUM 1, SCALE 1 → 4 pages from 0x10_2000 (IDR3.RIL).
    fx.cmds(&[cmd_tlbi_s2_ipa(9, 0x10_2000, Some((1, 1)))]);
    for i in 1..8u64 {
        fx.write(1, None, 0x10_0000 + (i << 12), &[4]).unwrap();
    }
    let in_b: Vec<u64> = (1..8)
        .filter(|i| fx.mem.read_u32(b + (i << 12)) & 0xff == 4)
        .collect();
    assert_eq!(in_b, [2, 3, 4, 5]);
    fx.cmds(&[cmd_tlbi_s12_vmall(9)]);
    fx.write(1, None, 0x10_7000, &[5]).unwrap();
    assert_eq!(fx.mem.read_u32(b + 0x7000) & 0xff, 5);
    assert_eq!(fx.m.counts().tlbi_s2_ipa, 3);
    // Without RIL the range fields are ignored: one address.
    let mut cfg = SmmuConfig::qemu();
    cfg.idr[3] &= !IDR3_RIL;
    let fx = Fx::new(cfg);
    fx.cmds(&[cmd_tlbi_s2_ipa(9, 0x10_2000, Some((1, 1)))]);
    match fx.m.command_log()[0] {
        Command::TlbiS2Ipa { addr, .. } => assert_eq!(addr.range, None),
        ref c => panic!("{c:?}"),
    }
}
