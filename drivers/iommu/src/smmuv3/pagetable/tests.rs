//! Host tests over [`SimMemory`]. The walker here decodes descriptors bit by bit from the
//! Arm ARM (D8.2 lookup geometry, D8.3 descriptor formats) and never calls the module's
//! encoders or decoders.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use super::*;
use crate::hw::DmaMemory;
use crate::hw::sim::SimMemory;

const K4: u64 = 1 << 12;
const K16: u64 = 1 << 14;
const K64: u64 = 1 << 16;
const M2: u64 = 1 << 21;
const M32: u64 = 1 << 25;
const M512: u64 = 1 << 29;
const G1: u64 = 1 << 30;
/// SMMU_IDR5.OAS on QEMU 10: 44 bits.
const OAS: u8 = 44;
const RW: Permissions = Permissions::READ.union(Permissions::WRITE);

fn mem() -> SimMemory {
    SimMemory::new(0x10_0000, 0x1_0000_0000)
}

fn s1(m: &SimMemory, g: Granule, ia: u8) -> Stage1Table {
    Stage1Table::new(m, g, ia, OAS).unwrap()
}

fn s2(m: &SimMemory, g: Granule, ia: u8) -> Stage2Table {
    Stage2Table::new(m, g, ia, OAS).unwrap()
}

/// What the spec walker finds.
#[derive(Debug, PartialEq, Eq)]
struct Walked {
    /// Output address of the walked address.
    phys: u64,
    /// Lookup level of the leaf.
    level: u32,
    /// Bytes the leaf maps.
    size: u64,
    /// The leaf descriptor.
    desc: u64,
}

/// A VMSAv8-64 walk, 48-bit OA. `granule_bits` 12/14/16; each level resolves
/// `granule_bits - 3` bits; the start level resolves the remaining `ia - shift` bits (so
/// concatenated stage-2 tables are just a bigger first table). Descriptor bits 1:0: x0
/// invalid; 11 table (levels 0-2) or page (level 3); 01 block, permitted only at levels
/// 1-2 for 4 KiB and level 2 for 16/64 KiB (checked: anything else is a bug here).
fn walk(
    m: &SimMemory,
    root: u64,
    granule_bits: u32,
    start: u32,
    ia: u32,
    va: u64,
) -> Option<Walked> {
    let stride = granule_bits - 3;
    let oa_field = |d: u64, low: u32| d & ((1u64 << 48) - 1) & !((1u64 << low) - 1);
    let mut table = root;
    for level in start..=3 {
        let shift = granule_bits + (3 - level) * stride;
        let bits = if level == start { ia - shift } else { stride };
        let index = (va >> shift) & ((1 << bits) - 1);
        let d = m.read64(table + index * 8);
        if d & 0b1 == 0 {
            return None;
        }
        let bit1 = (d >> 1) & 1;
        if level < 3 && bit1 == 1 {
            // Table descriptor: bits 63:59 (hierarchical attributes) must be clear here.
            assert_eq!(d >> 59, 0, "no APTable/XNTable/PXNTable/NSTable: {d:#x}");
            table = oa_field(d, granule_bits);
            assert_eq!(table % (1 << granule_bits), 0);
            continue;
        }
        if level == 3 {
            assert_eq!(
                bit1, 1,
                "level-3 descriptors with bits 1:0 = 01 are reserved"
            );
        } else {
            let block_ok = match granule_bits {
                12 => level == 1 || level == 2,
                _ => level == 2,
            };
            assert!(
                block_ok,
                "block at level {level} for granule 2^{granule_bits}"
            );
        }
        let size = 1u64 << shift;
        let out = oa_field(d, shift);
        return Some(Walked {
            phys: out + (va & (size - 1)),
            level,
            size,
            desc: d,
        });
    }
    None
}

fn walk1(m: &SimMemory, t: &Stage1Table, va: u64) -> Option<Walked> {
    walk(
        m,
        t.root(),
        t.granule().bits(),
        u32::from(t.start_level()),
        u32::from(t.input_bits()),
        va,
    )
}

fn walk2(m: &SimMemory, t: &Stage2Table, va: u64) -> Option<Walked> {
    walk(
        m,
        t.root(),
        t.granule().bits(),
        u32::from(t.start_level()),
        u32::from(t.input_bits()),
        va,
    )
}

/// Stage-1 leaf fields (Arm ARM D8.3.2): AttrIndx 4:2, AP 7:6, SH 9:8, AF 10, nG 11,
/// PXN 53, UXN 54.
#[derive(Debug, PartialEq, Eq)]
struct S1Bits {
    attr_indx: u64,
    ap: u64,
    sh: u64,
    af: u64,
    ng: u64,
    pxn: u64,
    uxn: u64,
}

fn s1_bits(d: u64) -> S1Bits {
    S1Bits {
        attr_indx: (d >> 2) & 0b111,
        ap: (d >> 6) & 0b11,
        sh: (d >> 8) & 0b11,
        af: (d >> 10) & 1,
        ng: (d >> 11) & 1,
        pxn: (d >> 53) & 1,
        uxn: (d >> 54) & 1,
    }
}

/// The bits of a read/write, unprivileged-accessible, non-executable Normal WB mapping:
/// AttrIndx 0 (MAIR Attr0 = 0xFF), AP = 0b01 (EL0 RW), inner shareable, AF, nG, XN.
const S1_DMA_RW: S1Bits = S1Bits {
    attr_indx: 0,
    ap: 0b01,
    sh: 0b11,
    af: 1,
    ng: 1,
    pxn: 1,
    uxn: 1,
};

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

#[test]
fn empty_tables_are_freed_only_through_the_invalidation() {
    let m = mem();
    let mut t = s1(&m, Granule::Size4K, 48);
    let dma = Attributes::dma(RW);
    // Two level-3 tables (the range crosses a 2 MiB boundary), one level-2, one level-1.
    let _ = t.map(&m, M2 - 2 * K4, 0x1000_0000, 4 * K4, dma).unwrap();
    assert_eq!(m.allocated_pages(), 1 + 4);
    // Removing one page of four: leaves only.
    let inv = t.unmap(&m, M2 - K4, K4).unwrap();
    assert!(inv.leaf_only());
    assert_eq!(inv.tables_to_free().count(), 0);
    assert_eq!(
        inv.ranges(),
        &[IovaRange {
            start: M2 - K4,
            len: K4
        }]
    );
    inv.finish(&m);
    // Holes are skipped; the first level-3 table empties and goes. The range covers that
    // table's whole span, so it is unlinked as a whole and the whole span listed.
    let inv = t.unmap(&m, 0, M2).unwrap();
    assert!(!inv.leaf_only());
    assert_eq!(inv.tables_to_free().count(), 1);
    assert_eq!(inv.ranges(), &[IovaRange { start: 0, len: M2 }]);
    assert_eq!(m.allocated_pages(), 5, "not freed before finish");
    inv.finish(&m);
    assert_eq!(m.allocated_pages(), 4);
    // The last pages: the level-3, level-2 and level-1 tables all go.
    let inv = t.unmap(&m, M2, 2 * K4).unwrap();
    let mut freed: Vec<u64> = inv.tables_to_free().collect();
    freed.sort_unstable();
    freed.dedup();
    assert_eq!(freed.len(), 3);
    inv.finish(&m);
    assert_eq!(m.allocated_pages(), 1);
    for i in 0..512 {
        assert_eq!(m.read64(t.root() + i * 8), 0, "root empty again");
    }
    // Unmapping nothing changes nothing.
    let inv = t.unmap(&m, 0, G1).unwrap();
    assert!(inv.is_empty());
    // Merging batches.
    let _ = t.map(&m, 0, 0, K4, dma).unwrap();
    let _ = t.map(&m, 2 * K4, 0, K4, dma).unwrap();
    let mut inv = t.unmap(&m, 0, K4).unwrap();
    inv.merge(t.unmap(&m, 2 * K4, K4).unwrap());
    assert_eq!(inv.ranges().len(), 2);
    assert!(!inv.leaf_only());
    inv.finish(&m);
    assert_eq!(m.allocated_pages(), 1);
}

#[test]
fn unmap_refuses_to_cut_blocks_and_changes_nothing() {
    let m = mem();
    let mut t = s2(&m, Granule::Size4K, 40);
    let dma = Attributes::dma(RW);
    let _ = t.map(&m, 4 * M2, 0, M2, dma).unwrap();
    let _ = t.map(&m, 4 * M2 - K4, 0x10_0000, K4, dma).unwrap();
    let before = m.allocated_pages();
    // The page before the block would go first, but the cut through the block is refused
    // up front.
    assert_eq!(
        t.unmap(&m, 4 * M2 - K4, 2 * K4).unwrap_err(),
        Error::PartialBlock {
            iova: 4 * M2,
            size: M2
        }
    );
    assert_eq!(
        t.unmap(&m, 5 * M2 - K4, K4).unwrap_err(),
        Error::PartialBlock {
            iova: 4 * M2,
            size: M2
        }
    );
    assert_eq!(m.allocated_pages(), before);
    assert_eq!(t.query(&m, 4 * M2 - K4).unwrap().phys, 0x10_0000);
    assert_eq!(t.query(&m, 4 * M2).unwrap().size, M2);
    // Covering the whole block (plus holes) works: the block is a leaf change.
    let inv = t.unmap(&m, 4 * M2, 4 * M2).unwrap();
    assert!(inv.leaf_only());
    assert_eq!(
        inv.ranges(),
        &[IovaRange {
            start: 4 * M2,
            len: M2
        }]
    );
    inv.finish(&m);
    assert_eq!(t.query(&m, 4 * M2), None);
}

#[test]
fn bad_input_is_refused_without_change() {
    let m = mem();
    let mut t = s1(&m, Granule::Size16K, 36);
    let dma = Attributes::dma(RW);
    let _ = t.map(&m, 4 * K16, 0x40_0000, 2 * K16, dma).unwrap();
    let before = m.allocated_pages();
    let cases = [
        (K4, 0, K16, Error::Unaligned),
        (0, K4, K16, Error::Unaligned),
        (0, 0, K4, Error::Unaligned),
        (u64::MAX - K16 + 1, 0, 2 * K16, Error::Overflow),
        (0, u64::MAX - K16 + 1, 2 * K16, Error::Overflow),
        (1 << 36, 0, K16, Error::InputOutOfRange { input_bits: 36 }),
        (
            (1 << 36) - K16,
            0,
            2 * K16,
            Error::InputOutOfRange { input_bits: 36 },
        ),
        (
            0,
            (1 << 44) - K16,
            2 * K16,
            Error::OutputOutOfRange { output_bits: 44 },
        ),
        (0, 0, 5 * K16, Error::AlreadyMapped { iova: 4 * K16 }),
        (5 * K16, 0, K16, Error::AlreadyMapped { iova: 5 * K16 }),
    ];
    for (iova, phys, len, err) in cases {
        assert_eq!(
            t.map(&m, iova, phys, len, dma).unwrap_err(),
            err,
            "{iova:#x}+{len:#x}"
        );
    }
    assert_eq!(
        t.map(&m, 0, 0, K16, Attributes::dma(Permissions::WRITE))
            .unwrap_err(),
        Error::UnsupportedAttributes,
        "AArch64 stage 1 has no write-only mappings"
    );
    assert_eq!(
        t.map(&m, 0, 0, K16, Attributes::device(Permissions::all()))
            .unwrap_err(),
        Error::UnsupportedAttributes
    );
    assert_eq!(t.unmap(&m, K4, K16).unwrap_err(), Error::Unaligned);
    assert_eq!(
        t.unmap(&m, K16, u64::MAX - K16 + 1).unwrap_err(),
        Error::Overflow
    );
    assert_eq!(
        t.unmap(&m, 0, 1 << 37).unwrap_err(),
        Error::InputOutOfRange { input_bits: 36 }
    );
    assert_eq!(m.allocated_pages(), before);
    assert_eq!(t.query(&m, 0), None);
    assert_eq!(t.query(&m, 3 * K16), None);
    assert_eq!(t.query(&m, 5 * K16).unwrap().phys, 0x40_0000 + K16);
    // Empty ranges are no-ops, even at the very top.
    assert!(t.map(&m, 1 << 36, 0, 0, dma).unwrap().is_empty());
    assert!(t.unmap(&m, 1 << 36, 0).unwrap().is_empty());
}

/// Memory with a hard limit: allocations fail once `limit` frames are in use.
fn tight(frames: u64) -> SimMemory {
    SimMemory::new(0x10_0000, 0x10_0000 + frames * 4096)
}

#[test]
fn out_of_memory_rolls_back() {
    // Root plus two tables fit; the map needs three more (levels 1, 2, 3).
    let m = tight(3);
    let mut t = s1(&m, Granule::Size4K, 48);
    let dma = Attributes::dma(RW);
    assert_eq!(t.map(&m, 0, 0, K4, dma).unwrap_err(), Error::OutOfMemory);
    assert_eq!(m.allocated_pages(), 1);
    assert_eq!(t.query(&m, 0), None);
    for i in 0..512 {
        assert_eq!(m.read64(t.root() + i * 8), 0);
    }
    // A 1 GiB block needs only the level-1 table, which fits.
    let _ = t.map(&m, 0, 0, G1, dma).unwrap();
    assert_eq!(t.query(&m, 0x1234).unwrap().size, G1);
    // 64 KiB granule: 16 frames per table.
    let m = tight(16 * 2 + 8);
    let mut t = s2(&m, Granule::Size64K, 42);
    assert_eq!(t.start_level(), 2);
    let _ = t.map(&m, 0, 0, K64, dma).unwrap();
    assert_eq!(
        t.map(&m, M512, 0, K64, dma).unwrap_err(),
        Error::OutOfMemory
    );
    assert_eq!(m.allocated_pages(), 32);
    assert_eq!(t.query(&m, M512), None);
    assert_eq!(t.query(&m, 0).unwrap().size, K64);
}

fn ranges_of(cmds: &[TlbiCommand], g: Granule) -> Vec<(u64, u64)> {
    cmds.iter()
        .map(|c| match c {
            TlbiCommand::Va(v) => (v.addr, v.len(g)),
            TlbiCommand::All => (0, u64::MAX),
        })
        .collect()
}

#[test]
fn range_invalidation_costs_log_n_commands() {
    for g in [Granule::Size4K, Granule::Size16K, Granule::Size64K] {
        let cfg = TlbiConfig {
            granule: g,
            ril: true,
            max_commands: 64,
        };
        let mut n: u64 = 1;
        while n < 1 << 36 {
            for pages in [n, n + 1, n * 3 + 7, n.saturating_mul(31) | 1] {
                if pages > (1 << 48) / g.bytes() {
                    continue;
                }
                let start = 0x1234 * g.bytes();
                let r = IovaRange {
                    start,
                    len: pages * g.bytes(),
                };
                let cmds = tlbi_commands(&[r], true, cfg);
                let bits = 64 - pages.leading_zeros() as usize;
                assert!(
                    cmds.len() <= bits.div_ceil(5) + 1,
                    "{pages} pages took {} commands",
                    cmds.len()
                );
                // The commands tile the range exactly, in order.
                let mut at = start;
                for c in &cmds {
                    let TlbiCommand::Va(v) = *c else {
                        panic!("no fallback expected")
                    };
                    assert_eq!(v.addr, at);
                    assert_eq!(v.tg, g.tlbi_tg());
                    assert!(v.num < 32 && v.scale < 32 && v.leaf && v.ttl == 0);
                    at += v.len(g);
                }
                assert_eq!(at, r.end());
            }
            n *= 3;
        }
    }
    // 1 GiB of 4 KiB pages: one command, NUM = 0, SCALE = 18.
    let cfg = TlbiConfig {
        granule: Granule::Size4K,
        ril: true,
        max_commands: 64,
    };
    let cmds = tlbi_commands(&[IovaRange { start: G1, len: G1 }], false, cfg);
    assert_eq!(
        cmds,
        [TlbiCommand::Va(TlbiVa {
            addr: G1,
            tg: 1,
            num: 0,
            scale: 18,
            ttl: 0,
            leaf: false
        })]
    );
    // The whole 48-bit space: 2^36 pages, SCALE capped at 31, two commands of 32 units.
    let all = IovaRange {
        start: 0,
        len: 1 << 48,
    };
    let cmds = tlbi_commands(&[all], false, cfg);
    assert_eq!(
        ranges_of(&cmds, Granule::Size4K),
        [(0, 1 << 47), (1 << 47, 1 << 47)]
    );
}

#[test]
fn without_ril_small_ranges_go_per_page_and_large_ones_whole() {
    let cfg = TlbiConfig {
        granule: Granule::Size4K,
        ril: false,
        max_commands: 16,
    };
    let r = [
        IovaRange {
            start: 0,
            len: 3 * K4,
        },
        IovaRange { start: M2, len: K4 },
    ];
    let cmds = tlbi_commands(&r, true, cfg);
    assert_eq!(
        ranges_of(&cmds, Granule::Size4K),
        [(0, K4), (K4, K4), (2 * K4, K4), (M2, K4)]
    );
    assert!(
        cmds.iter()
            .all(|c| matches!(c, TlbiCommand::Va(v) if v.tg == 0 && v.leaf))
    );
    for pages in [17, 1000, 1 << 20, 1 << 36] {
        let r = IovaRange {
            start: 0,
            len: pages * K4,
        };
        assert_eq!(tlbi_commands(&[r], true, cfg), [TlbiCommand::All]);
    }
    // The budget counts across ranges, with RIL too.
    let many: Vec<IovaRange> = (0..20)
        .map(|i| IovaRange {
            start: i * M2,
            len: K4,
        })
        .collect();
    assert_eq!(tlbi_commands(&many, true, cfg), [TlbiCommand::All]);
    let ril = TlbiConfig { ril: true, ..cfg };
    assert_eq!(tlbi_commands(&many, true, ril), [TlbiCommand::All]);
    assert_eq!(tlbi_commands(&many[..16], true, ril).len(), 16);
    // From an invalidation, with QEMU's IDR3 (RIL set).
    let m = mem();
    let mut t = s1(&m, Granule::Size4K, 48);
    let _ = t.map(&m, 0, 0, 64 * K4, Attributes::dma(RW)).unwrap();
    let inv = t.unmap(&m, 0, 64 * K4).unwrap();
    let qemu = TlbiConfig::new(Granule::Size4K, crate::smmuv3::regs::Idr3::new(0x1414));
    assert!(qemu.ril);
    let cmds = inv.tlbi_commands(qemu);
    assert_eq!(ranges_of(&cmds, Granule::Size4K), [(0, 64 * K4)]);
    assert!(
        matches!(cmds[0], TlbiCommand::Va(v) if !v.leaf),
        "tables were freed"
    );
    inv.finish(&m);
}

/// A tiny deterministic generator for the randomised test.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
}

/// Random maps and unmaps (aligned, unaligned, overlapping, out of range) against a model
/// of which pages are mapped where: every success must agree with the model, every error
/// must leave the table as it was, nothing may panic, and at the end only the root is left.
#[test]
fn random_operations_agree_with_a_model() {
    for (g, ia) in [
        (Granule::Size4K, 32),
        (Granule::Size16K, 36),
        (Granule::Size64K, 40),
    ] {
        let m = mem();
        let mut t = s2(&m, g, ia);
        let page = g.bytes();
        let window = 2 * g.span(2);
        let pages = window / page;
        let mut model: BTreeMap<u64, u64> = BTreeMap::new();
        let mut rng = Lcg(0x5eed ^ page);
        for step in 0..200 {
            let junk = rng.next().is_multiple_of(16);
            let a = (rng.next() % pages) * page + if junk { rng.next() % page } else { 0 };
            let n = match rng.next() % 4 {
                0 => 1,
                1 => rng.next() % 8 + 1,
                2 => g.span(2) / page,
                _ => rng.next() % pages + 1,
            };
            let len = n * page;
            let blockish = rng.next().is_multiple_of(3);
            let phys = if blockish {
                a
            } else {
                0x10_0000_0000 + (rng.next() % 64) * page
            };
            // Every page for 4 KiB; a sample (which still sees every block) for the others.
            let checked: Vec<u64> = (0..pages)
                .step_by((pages / 1024).max(1) as usize)
                .chain([a / page, (a / page + n - 1).min(pages - 1)])
                .collect();
            let snapshot: Vec<Option<Mapping>> =
                checked.iter().map(|&p| t.query(&m, p * page)).collect();
            let allocated = m.allocated_pages();
            let res = if rng.next().is_multiple_of(2) {
                t.map(&m, a, phys, len, Attributes::dma(RW)).map(|inv| {
                    assert!(inv.is_empty());
                    for p in 0..n {
                        assert!(model.insert(a + p * page, phys + p * page).is_none());
                    }
                })
            } else {
                t.unmap(&m, a, len).map(|inv| {
                    for p in 0..n {
                        let was = model.remove(&(a + p * page)).is_some();
                        let listed = inv
                            .ranges()
                            .iter()
                            .any(|r| (r.start..r.end()).contains(&(a + p * page)));
                        assert!(
                            !was || listed,
                            "step {step}: ranges cover what was unmapped"
                        );
                    }
                    inv.finish(&m);
                })
            };
            if let Err(e) = res {
                assert_eq!(m.allocated_pages(), allocated, "step {step}: {e}");
                for (&p, before) in checked.iter().zip(&snapshot) {
                    assert_eq!(t.query(&m, p * page), *before, "step {step}: {e}");
                }
            }
            for &p in &checked {
                let va = p * page;
                let want = model.get(&va).copied();
                assert_eq!(
                    t.query(&m, va).map(|q| q.phys),
                    want,
                    "step {step} {g:?} {va:#x}"
                );
                assert_eq!(walk2(&m, &t, va).map(|w| w.phys), want);
            }
        }
        // Ranges may run past the window (up to twice its size).
        let inv = t.unmap(&m, 0, 2 * window).unwrap();
        inv.finish(&m);
        assert_eq!(
            m.allocated_pages(),
            t.concatenated_tables() as usize * g.frames()
        );
        t.destroy(&m).finish(&m);
        assert_eq!(m.allocated_pages(), 0);
    }
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
