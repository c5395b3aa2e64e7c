//! Mappings against the spec walker: pages and blocks of each granule, stage-2 concatenated
//! roots, descriptor bits (Arm ARM D8.3), table descriptors' high address bits.

use super::*;

#[test]
fn stage1_4k_pages_and_blocks_match_the_spec_walk() {
    let m = mem();
    let mut t = s1(&m, Granule::Size4K, 48);
    let dma = Attributes::dma(RW);
    assert!(
        t.map(&m, 0x1000, 0x8000_0000, 3 * K4, dma)
            .unwrap()
            .is_empty()
    );
    // 2 MiB aligned both sides: one level-2 block.
    let _ = t.map(&m, 0x4000_0000 + M2, 0x2_0000_0000, M2, dma).unwrap();
    // 1 GiB aligned both sides: one level-1 block.
    let _ = t.map(&m, 0x80_0000_0000, 0x4_0000_0000, G1, dma).unwrap();
    // Aligned IOVA but unaligned output: pages.
    let _ = t.map(&m, 0x90_0000_0000, 0x3_0000_1000, M2, dma).unwrap();

    let w = walk1(&m, &t, 0x2abc).unwrap();
    assert_eq!((w.phys, w.level, w.size), (0x8000_1abc, 3, K4));
    assert_eq!(s1_bits(w.desc), S1_DMA_RW);
    let w = walk1(&m, &t, 0x4000_0000 + M2 + 0x1234).unwrap();
    assert_eq!((w.phys, w.level, w.size), (0x2_0000_1234, 2, M2));
    assert_eq!(s1_bits(w.desc), S1_DMA_RW);
    let w = walk1(&m, &t, 0x80_1234_5678).unwrap();
    assert_eq!((w.phys, w.level, w.size), (0x4_1234_5678, 1, G1));
    let w = walk1(&m, &t, 0x90_0010_0000).unwrap();
    assert_eq!((w.phys, w.level), (0x3_0010_1000, 3));
    assert_eq!(walk1(&m, &t, 0x4000), None);
    assert_eq!(walk1(&m, &t, 0x4000_0000), None);

    let q = t.query(&m, 0x80_1234_5678).unwrap();
    assert_eq!((q.phys, q.level, q.size), (0x4_1234_5678, 1, G1));
    assert_eq!(q.attributes, dma);
    assert_eq!(t.query(&m, 0x3fff).map(|q| q.phys), Some(0x8000_2fff));
    assert_eq!(t.query(&m, 0x4000), None);
    assert_eq!(t.query(&m, 1 << 48), None);
    assert_eq!(t.query(&m, u64::MAX), None);

    // Read-only, privileged-only, device, executable.
    let ro = Attributes::dma(Permissions::READ);
    let _ = t.map(&m, 0x10_0000, 0x9000, K4, ro).unwrap();
    assert_eq!(s1_bits(walk1(&m, &t, 0x10_0000).unwrap().desc).ap, 0b11);
    let priv_rw = Attributes {
        privileged_only: true,
        ..Attributes::dma(RW)
    };
    let _ = t.map(&m, 0x11_0000, 0xa000, K4, priv_rw).unwrap();
    assert_eq!(s1_bits(walk1(&m, &t, 0x11_0000).unwrap().desc).ap, 0b00);
    let dev = Attributes::device(RW);
    let _ = t.map(&m, 0x12_0000, 0x0800_0000, K4, dev).unwrap();
    let b = s1_bits(walk1(&m, &t, 0x12_0000).unwrap().desc);
    assert_eq!((b.attr_indx, b.sh), (1, 0b10));
    assert_eq!((MAIR >> 8) & 0xFF, 0x04, "Attr1 = Device-nGnRE");
    let x = Attributes::dma(RW | Permissions::EXECUTE);
    let _ = t.map(&m, 0x13_0000, 0xb000, K4, x).unwrap();
    let b = s1_bits(walk1(&m, &t, 0x13_0000).unwrap().desc);
    assert_eq!((b.pxn, b.uxn), (0, 0));
    for (iova, a) in [
        (0x10_0000, ro),
        (0x11_0000, priv_rw),
        (0x12_0000, dev),
        (0x13_0000, x),
    ] {
        assert_eq!(t.query(&m, iova).unwrap().attributes, a);
    }
    t.destroy(&m).finish(&m);
    assert_eq!(m.allocated_pages(), 0);
}

#[test]
fn each_granule_uses_its_blocks_and_pages() {
    for (g, ia, block, block_level) in [
        (Granule::Size4K, 39, M2, 2),
        (Granule::Size16K, 47, M32, 2),
        (Granule::Size64K, 42, M512, 2),
    ] {
        let m = mem();
        let mut t = s1(&m, g, ia);
        let page = g.bytes();
        let dma = Attributes::dma(RW);
        // Pages on both sides of a block, one call.
        let iova = block - 2 * page;
        let phys = 0x100_0000_0000 - 2 * page;
        let len = block + 4 * page;
        let _ = t.map(&m, iova, phys, len, dma).unwrap();
        for off in [0, page, 2 * page, block / 2, block + page, block + 3 * page] {
            let w = walk1(&m, &t, iova + off + 8).unwrap();
            assert_eq!(w.phys, phys + off + 8, "{g:?} +{off:#x}");
            let expect = if (2 * page..2 * page + block).contains(&off) {
                (block_level, block)
            } else {
                (3, page)
            };
            assert_eq!((w.level, w.size), expect, "{g:?} +{off:#x}");
            assert_eq!(s1_bits(w.desc), S1_DMA_RW);
            assert_eq!(t.query(&m, iova + off + 8).unwrap().size, expect.1);
        }
        assert_eq!(walk1(&m, &t, iova - page), None);
        assert_eq!(walk1(&m, &t, iova + len), None);
        // Unmap everything: all tables but the root go.
        let inv = t.unmap(&m, iova, len).unwrap();
        assert!(!inv.leaf_only());
        assert_eq!(inv.ranges(), &[IovaRange { start: iova, len }]);
        inv.finish(&m);
        assert_eq!(
            m.allocated_pages(),
            g.frames(),
            "{g:?}: only the root is left"
        );
        assert_eq!(walk1(&m, &t, iova + 2 * page), None);
        t.destroy(&m).finish(&m);
        assert_eq!(m.allocated_pages(), 0);
    }
    // 4 KiB granule 1 GiB blocks at level 1; 16K/64K have no level-1 blocks (48-bit OA).
    let m = mem();
    let mut t = s1(&m, Granule::Size64K, 48);
    let _ = t
        .map(&m, 1 << 42, 1 << 42, 1 << 42, Attributes::dma(RW))
        .unwrap();
    assert_eq!(t.query(&m, (1 << 42) + 5).unwrap().level, 2);
}

#[test]
fn stage2_concatenated_root_and_descriptor_bits() {
    let m = mem();
    let mut t = s2(&m, Granule::Size4K, 40);
    assert_eq!(t.concatenated_tables(), 2);
    let top = (1u64 << 40) - K4;
    let _ = t.map(&m, top, 0x5000, K4, Attributes::dma(RW)).unwrap();
    let _ = t
        .map(&m, 0, 0x4000_0000, G1, Attributes::dma(Permissions::READ))
        .unwrap();
    let _ = t
        .map(
            &m,
            G1,
            0x0900_0000,
            K4,
            Attributes::device(Permissions::WRITE),
        )
        .unwrap();
    // The top IPA's level-1 descriptor is the last one of the second concatenated table.
    let d = m.read64(t.root() + 4096 + 511 * 8);
    assert_eq!(d & 0b11, 0b11, "table descriptor in the second table");
    let w = walk2(&m, &t, top + 0x10).unwrap();
    assert_eq!((w.phys, w.level), (0x5010, 3));
    // Stage-2 leaf (Arm ARM D8.3.2, D8.5): MemAttr 5:2, S2AP 7:6, SH 9:8, AF 10, XN 54:53.
    let f = |d: u64| {
        (
            (d >> 2) & 0xF,
            (d >> 6) & 0b11,
            (d >> 8) & 0b11,
            (d >> 10) & 1,
            (d >> 53) & 0b11,
        )
    };
    assert_eq!(f(w.desc), (0b1111, 0b11, 0b11, 1, 0b10));
    let w = walk2(&m, &t, 0x1234_5678).unwrap();
    assert_eq!((w.phys, w.level, w.size), (0x5234_5678, 1, G1));
    assert_eq!(f(w.desc), (0b1111, 0b01, 0b11, 1, 0b10));
    let w = walk2(&m, &t, G1).unwrap();
    assert_eq!(f(w.desc), (0b0001, 0b10, 0b10, 1, 0b10));
    assert_eq!(
        t.query(&m, G1).unwrap().attributes,
        Attributes::device(Permissions::WRITE)
    );
    assert_eq!(
        t.map(&m, 1 << 40, 0, K4, Attributes::dma(RW)).unwrap_err(),
        Error::InputOutOfRange { input_bits: 40 }
    );
    let priv_only = Attributes {
        privileged_only: true,
        ..Attributes::dma(RW)
    };
    assert_eq!(
        t.map(&m, 2 * G1, 0, K4, priv_only).unwrap_err(),
        Error::UnsupportedAttributes
    );
    assert_eq!(
        t.map(&m, 2 * G1, 0, K4, Attributes::dma(Permissions::empty()))
            .unwrap_err(),
        Error::UnsupportedAttributes
    );
    t.destroy(&m).finish(&m);
    assert_eq!(m.allocated_pages(), 0);
}

/// Table descriptors keep bits 51:48 zero (RES0 without 52-bit addresses, Arm ARM D8.3.1):
/// a walker with a 48-bit or smaller OAS reads them as address bits and faults.
#[test]
fn table_descriptors_keep_the_high_address_bits_zero() {
    let m = mem();
    for count in [1u64, 0x7f, 0x80, 0x1ff] {
        let mut t = s1(&m, Granule::Size4K, 39);
        for i in 0..count {
            let _ = t
                .map(&m, i * K4, 0x20_0000 + i * K4, K4, Attributes::dma(RW))
                .unwrap();
        }
        // 39 bits with 4 KiB pages: levels 1, 2, 3; IOVA 0 uses entry 0 of each table.
        let l1 = m.read64(t.root());
        let l2 = m.read64(l1 & 0x0000_FFFF_FFFF_F000);
        for (level, d) in [(1, l1), (2, l2)] {
            assert_eq!(d & 0b11, 0b11, "level {level} table descriptor");
            assert_eq!(d & (0xF << 48), 0, "level {level}, {count} entries: {d:#x}");
        }
        assert!(walk1(&m, &t, (count - 1) * K4 + 8).is_some());
    }
}
