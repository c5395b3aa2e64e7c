//! Context descriptor fields the model honours (§5.4): TBI0 and EPD0, the upper half through
//! TTB1 (T1SZ, TBI1, EPD1, its invalidation), HAD0.

use super::*;

/// CD fields the model reads as the Arm ARM defines them: TBI0 lets an address
/// with a tag in its top byte translate (without it the address is out of
/// range); EPD0 makes every lower-half address fault without a walk.
#[test]
fn cd_top_byte_ignore_and_epd0_take_effect() {
    let rig = Rig::new(SmmuConfig::full());
    let mut smmu = rig.smmu(LINEAR);
    let iova = 0x3000_0000;
    let tagged = iova | (0x5a << 56);
    let page = rig.page(0);
    let (_table, mut cd) = stage1_cd(&mut smmu, 7, iova, page, false);
    let mut cds = smmu.new_cd_table(CdTableFormat::Linear, 0).unwrap();
    smmu.set_cd(SID, &mut cds, 0, &cd).unwrap();
    stage1_ste(&mut smmu, &cds, DefaultSubstream::Substream0);

    assert!(rig.model.dma_write(SID, None, tagged, &[1; 4]).is_err());
    assert_eq!(rig.byte(page), 0, "a tagged address faults without TBI0");
    let (events, _) = smmu.take_events();
    assert_eq!(events.len(), 1, "{events:x?}");
    assert_eq!(events[0].kind, event_type::F_TRANSLATION);

    cd.ttb0.as_mut().unwrap().top_byte_ignore = true;
    smmu.set_cd(SID, &mut cds, 0, &cd).unwrap();
    rig.model.dma_write(SID, None, tagged, &[2; 4]).unwrap();
    assert_eq!(rig.byte(page), 2, "TBI0: the tag is ignored");

    cd.ttb0 = None;
    smmu.set_cd(SID, &mut cds, 0, &cd).unwrap();
    smmu.invalidate_asid(0, 7).unwrap();
    assert!(rig.model.dma_write(SID, None, iova, &[3; 4]).is_err());
    assert_eq!(rig.byte(page), 2, "EPD0: no translation through TTB0");
    let (events, _) = smmu.take_events();
    assert_eq!(events.len(), 1, "{events:x?}");
    assert_eq!(events[0].kind, event_type::F_TRANSLATION);
    assert_eq!(events[0].address, iova);
}

/// The upper half of a 39-bit (T1SZ = 25) address space through its own
/// table: `upper` is table address `offset` seen from the top of the 64-bit
/// space.
const OFFSET: u64 = 0x12_3000;
const UPPER: u64 = 0xffff_ff80_0000_0000 | OFFSET;

/// A stream whose CD has both halves (ASID 5): TTB0's table maps OFFSET to
/// page `lo`, TTB1's maps OFFSET, i.e. upper-half address UPPER, to `hi`.
struct BothHalves {
    tables: [Stage1Table; 2],
    cd: ContextDescriptor,
    cds: CdTable,
    lo: u64,
    hi: u64,
}

fn both_halves(rig: &Rig, smmu: &mut Driver<'_>) -> BothHalves {
    use crate::smmuv3::structs::TableHalf;
    let (lo, hi) = (rig.page(0), rig.page(0));
    let (t0, mut cd) = stage1_cd(smmu, 5, OFFSET, lo, false);
    let mut t1 = Stage1Table::new(smmu.memory(), Granule::Size4K, 39, 40).unwrap();
    let change = t1.map(smmu.memory(), OFFSET, hi, 4096, rw()).unwrap();
    smmu.apply(
        TlbScope::Stage1 { vmid: 0, asid: 5 },
        Granule::Size4K,
        change,
    )
    .unwrap();
    let upper = TableHalf::upper(&t1.cd_fields(true));
    assert_eq!(upper.upper_address(OFFSET), UPPER);
    cd.ttb1 = Some(upper);
    let mut cds = smmu.new_cd_table(CdTableFormat::Linear, 0).unwrap();
    smmu.set_cd(SID, &mut cds, 0, &cd).unwrap();
    stage1_ste(smmu, &cds, DefaultSubstream::Substream0);
    BothHalves {
        tables: [t0, t1],
        cd,
        cds,
        lo,
        hi,
    }
}

/// TTB1 (§5.4, §3.4.1): an address with VA[55] set and every bit above
/// 64 − T1SZ set goes through TTB1's table, indexed by its low 39 bits, and
/// lands in that table's page; the lower-half address with the same low bits
/// still goes through TTB0; an address with VA[55] set but not the bits above
/// 39 is in neither half and faults. TBI1 lets a tagged upper address through.
#[test]
fn cd_upper_half_addresses_translate_through_ttb1() {
    let rig = Rig::new(SmmuConfig::full());
    let mut smmu = rig.smmu(LINEAR);
    let BothHalves {
        mut cd,
        mut cds,
        lo,
        hi,
        ..
    } = both_halves(&rig, &mut smmu);

    rig.model
        .dma_write(SID, None, UPPER + 0x10, &[0xa1; 4])
        .unwrap();
    assert_eq!((rig.byte(hi + 0x10), rig.byte(lo + 0x10)), (0xa1, 0));
    rig.model
        .dma_write(SID, None, OFFSET + 0x10, &[0xb2; 4])
        .unwrap();
    assert_eq!(
        (rig.byte(hi + 0x10), rig.byte(lo + 0x10)),
        (0xa1, 0xb2),
        "the lower half's own page, not the upper half's cached one"
    );
    let mut back = [0; 4];
    rig.model
        .dma_read(SID, None, UPPER + 0x10, &mut back)
        .unwrap();
    assert_eq!(back, [0xa1; 4]);

    let gap = 0xffff_ff00_0000_0000 | OFFSET;
    let tagged = (UPPER & ((1 << 56) - 1)) | (0x5a << 56);
    for addr in [gap, tagged] {
        assert!(rig.model.dma_write(SID, None, addr, &[0xcc; 4]).is_err());
    }
    let (events, _) = smmu.take_events();
    let got: Vec<_> = events.iter().map(|e| (e.kind, e.address)).collect();
    assert_eq!(
        got,
        [
            (event_type::F_TRANSLATION, gap),
            (event_type::F_TRANSLATION, tagged)
        ]
    );

    cd.ttb1.as_mut().unwrap().top_byte_ignore = true;
    smmu.set_cd(SID, &mut cds, 0, &cd).unwrap();
    rig.model
        .dma_write(SID, None, tagged + 0x20, &[0xdd; 4])
        .unwrap();
    assert_eq!(rig.byte(hi + 0x20), 0xdd, "TBI1: the tag is ignored");
    assert_eq!(rig.byte(lo + 0x20), 0);
}

/// Unmapping in a TTB1 table: the TLBI names the upper-half address the
/// TLB holds (not the table's own address), so the cached translation goes
/// and the next DMA faults; the lower half's page at the same offset stays.
#[test]
fn unmapping_in_the_upper_half_invalidates_the_upper_address() {
    let rig = Rig::new(SmmuConfig::full());
    let mut smmu = rig.smmu(LINEAR);
    let BothHalves {
        mut tables, cd, hi, ..
    } = both_halves(&rig, &mut smmu);
    rig.model.dma_write(SID, None, UPPER, &[1; 4]).unwrap();
    rig.model.dma_write(SID, None, OFFSET, &[2; 4]).unwrap();
    assert_eq!(rig.byte(hi), 1);
    let t1sz = cd.ttb1.as_ref().unwrap().tsz;
    let change = tables[1].unmap(smmu.memory(), OFFSET, 4096).unwrap();
    rig.model.reset_log();
    smmu.apply(
        TlbScope::Stage1 { vmid: 0, asid: 5 },
        Granule::Size4K,
        change.in_upper_half(t1sz),
    )
    .unwrap();
    let log = rig.model.command_log();
    assert!(
        log.iter().any(|c| matches!(
            c,
            model::Command::TlbiNhVa { addr, .. } if addr.addr == UPPER
        )),
        "{log:x?}"
    );
    assert!(rig.model.dma_write(SID, None, UPPER, &[3; 4]).is_err());
    assert_eq!(rig.byte(hi), 1, "the unmapped page is not written");
    rig.model.dma_write(SID, None, OFFSET, &[4; 4]).unwrap();
}

/// EPD1 (`ttb1: None`): once the upper half is taken away (and the ASID's
/// TLB entries invalidated), an upper-half address faults with
/// F_TRANSLATION at that address, while the lower half still translates.
#[test]
fn cd_without_ttb1_faults_upper_half_addresses() {
    let rig = Rig::new(SmmuConfig::full());
    let mut smmu = rig.smmu(LINEAR);
    let BothHalves {
        mut cd,
        mut cds,
        lo,
        hi,
        ..
    } = both_halves(&rig, &mut smmu);
    rig.model.dma_write(SID, None, UPPER, &[1; 4]).unwrap();
    assert_eq!(rig.byte(hi), 1);

    cd.ttb1 = None;
    smmu.set_cd(SID, &mut cds, 0, &cd).unwrap();
    smmu.invalidate_asid(0, 5).unwrap();
    assert!(rig.model.dma_write(SID, None, UPPER + 8, &[2; 4]).is_err());
    assert_eq!(rig.byte(hi + 8), 0, "nothing written through TTB1");
    let (events, _) = smmu.take_events();
    assert_eq!(events.len(), 1, "{events:x?}");
    assert_eq!(
        (events[0].kind, events[0].address, events[0].read),
        (event_type::F_TRANSLATION, UPPER + 8, false)
    );
    rig.model.dma_write(SID, None, OFFSET + 8, &[3; 4]).unwrap();
    assert_eq!(rig.byte(lo + 8), 3, "TTB0 unaffected");
}

/// HAD0 (§5.4, with IDR3.HAD): a table descriptor's APTable[1] makes
/// everything below it read-only, as in tables a guest builds itself; with
/// the CD's hierarchical attributes disabled for TTB0 the leaf's own AP[2]
/// alone decides and the write goes through.
#[test]
fn cd_had0_disables_a_read_only_aptable() {
    let rig = Rig::new(SmmuConfig::qemu());
    let mut smmu = rig.smmu(LINEAR);
    let iova = 0x4000_0000;
    let page = rig.page(0);
    let (_table, mut cd) = stage1_cd(&mut smmu, 8, iova, page, false);
    let mut cds = smmu.new_cd_table(CdTableFormat::Linear, 0).unwrap();
    smmu.set_cd(SID, &mut cds, 0, &cd).unwrap();
    stage1_ste(&mut smmu, &cds, DefaultSubstream::Substream0);
    // 39 bits with 4 KiB pages start at level 1: the level-1 descriptor for
    // `iova` is a table descriptor; set its APTable[1] (bit 62).
    let root = cd.ttb0.unwrap().ttb;
    let l1 = root + 8 * ((iova >> 30) & 0x1ff);
    let desc = rig.mem.read64(l1);
    assert_eq!(desc & 0b11, 0b11, "a table descriptor");
    rig.mem.write64(l1, desc | 1 << 62);

    assert!(rig.model.dma_write(SID, None, iova, &[1; 4]).is_err());
    let (events, _) = smmu.take_events();
    assert_eq!(events.len(), 1, "{events:x?}");
    assert_eq!(
        (events[0].kind, events[0].address),
        (event_type::F_PERMISSION, iova)
    );
    let mut b = [9; 4];
    rig.model.dma_read(SID, None, iova, &mut b).unwrap();
    assert_eq!(b, [0; 4], "reads are still allowed");

    cd.ttb0.as_mut().unwrap().hierarchical_attribute_disable = true;
    smmu.set_cd(SID, &mut cds, 0, &cd).unwrap();
    smmu.invalidate_asid(0, 8).unwrap();
    rig.model.dma_write(SID, None, iova, &[4; 4]).unwrap();
    assert_eq!(rig.byte(page), 4, "HAD0: APTable ignored");
}
