//! Table geometry (Arm ARM D8.2): the start level from the input size and granule, stage-2
//! concatenated start tables and S2SL0.

use super::*;

#[test]
fn stage1_start_level_from_t0sz_and_granule() {
    let m = mem();
    for (g, ia, level) in [
        (Granule::Size4K, 48, 0),
        (Granule::Size4K, 39, 1),
        (Granule::Size4K, 30, 2),
        (Granule::Size4K, 25, 2),
        (Granule::Size16K, 48, 0),
        (Granule::Size16K, 47, 1),
        (Granule::Size16K, 36, 2),
        (Granule::Size16K, 25, 3),
        (Granule::Size64K, 48, 1),
        (Granule::Size64K, 42, 2),
        (Granule::Size64K, 29, 3),
        (Granule::Size64K, 25, 3),
    ] {
        let t = s1(&m, g, ia);
        assert_eq!(t.start_level(), level, "{g:?} {ia} bits");
        assert_eq!(t.concatenated_tables(), 1);
        assert_eq!(t.root() % g.bytes(), 0);
        let cd = t.cd_fields(true);
        assert_eq!(cd.ttb0, t.root());
        assert_eq!(cd.t0sz, 64 - ia);
        assert_eq!((cd.ir0, cd.or0, cd.sh0, cd.ips), (0b01, 0b01, 0b11, 0b100));
        assert_eq!(cd.mair & 0xFF, 0xFF);
        t.destroy(&m).finish(&m);
    }
    assert_eq!(Granule::Size4K.tg0(), 0b00);
    assert_eq!(Granule::Size64K.tg0(), 0b01);
    assert_eq!(Granule::Size16K.tg0(), 0b10);
    for bad in [0, 24, 49, 64, 255] {
        assert_eq!(
            Stage1Table::new(&m, Granule::Size4K, bad, OAS).unwrap_err(),
            Error::UnsupportedInputSize { requested: bad }
        );
    }
    assert_eq!(
        Stage1Table::new(&m, Granule::Size4K, 48, 43).unwrap_err(),
        Error::UnsupportedOutputSize { requested: 43 }
    );
    assert_eq!(m.allocated_pages(), 0);
}

#[test]
fn stage2_start_level_concatenation_and_s2sl0() {
    let m = mem();
    // (granule, IPA bits, start level, concatenated tables, S2SL0)
    for (g, ia, level, concat, sl0) in [
        (Granule::Size4K, 44, 0, 1, 2),
        (Granule::Size4K, 40, 1, 2, 1),
        (Granule::Size4K, 39, 1, 1, 1),
        (Granule::Size4K, 34, 2, 16, 0),
        (Granule::Size4K, 32, 2, 4, 0),
        (Granule::Size4K, 25, 2, 1, 0),
        (Granule::Size16K, 44, 1, 1, 2),
        (Granule::Size16K, 40, 2, 16, 1),
        (Granule::Size16K, 36, 2, 1, 1),
        (Granule::Size16K, 25, 3, 1, 0),
        (Granule::Size64K, 44, 2, 4, 1),
        (Granule::Size64K, 42, 2, 1, 1),
        (Granule::Size64K, 32, 3, 8, 0),
    ] {
        let t = s2(&m, g, ia);
        assert_eq!(
            (t.start_level(), t.concatenated_tables(), t.sl0()),
            (level, concat, sl0),
            "{g:?} {ia} bits"
        );
        let frames = concat as usize * g.frames();
        assert_eq!(
            t.root() % (frames as u64 * 4096),
            0,
            "aligned to all the tables"
        );
        let ste = t.ste_fields(false);
        assert_eq!((ste.s2ttb, ste.s2t0sz, ste.s2sl0), (t.root(), 64 - ia, sl0));
        assert_eq!((ste.s2tg, ste.s2ps), (g.tg0(), 0b100));
        assert_eq!((ste.s2ir0, ste.s2or0, ste.s2sh0), (0, 0, 0b10));
        t.destroy(&m).finish(&m);
        assert_eq!(
            m.allocated_pages(),
            0,
            "destroy frees the whole concatenated root"
        );
    }
    // 48-bit IPA with a 48-bit PA size.
    let t = Stage2Table::new(&m, Granule::Size16K, 48, 48).unwrap();
    assert_eq!(
        (t.start_level(), t.concatenated_tables(), t.sl0()),
        (1, 2, 2)
    );
    t.destroy(&m).finish(&m);
    let t = Stage2Table::new(&m, Granule::Size64K, 48, 48).unwrap();
    assert_eq!(
        (t.start_level(), t.concatenated_tables(), t.sl0()),
        (1, 1, 2)
    );
    t.destroy(&m).finish(&m);
    assert_eq!(
        Stage2Table::new(&m, Granule::Size4K, 45, 44).unwrap_err(),
        Error::UnsupportedInputSize { requested: 45 }
    );
}
