//! Range invalidation (IDR3.RIL): unmapping N pages costs O(log N) TLBIs that cover them.

use super::*;

/// Unmapping N contiguous pages costs O(log N) TLBI commands with range
/// invalidation (IDR3.RIL), and those commands cover the whole range: every
/// page was cached in the model's TLB before the unmap, and every one faults
/// after it, while the pages on either side still translate.
#[test]
fn unmapping_a_range_costs_logarithmically_many_tlbis_that_cover_it() {
    let rig = Rig::new(SmmuConfig::full());
    let mut smmu = rig.smmu(LINEAR);
    let base = 0x1000_0000u64;
    let pages = 1000u64;
    // Off a 2 MiB boundary, so the map uses 4 KiB pages rather than blocks.
    let frame = rig.mem.alloc_pages(1024).unwrap() + 4096;
    let (mut table, cd) = stage1_cd(&mut smmu, 6, base, 0, false);
    let change = table
        .map(smmu.memory(), base, frame, (pages + 2) * 4096, rw())
        .unwrap();
    smmu.apply(
        TlbScope::Stage1 { vmid: 0, asid: 6 },
        Granule::Size4K,
        change,
    )
    .unwrap();
    let mut cds = smmu.new_cd_table(CdTableFormat::Linear, 0).unwrap();
    smmu.set_cd(SID, &mut cds, 0, &cd).unwrap();
    stage1_ste(&mut smmu, &cds, DefaultSubstream::Substream0);
    for i in 0..pages + 2 {
        rig.model
            .dma_write(SID, None, base + i * 4096, &[1])
            .unwrap();
    }

    rig.model.reset_log();
    // Leave the first and last page mapped.
    let change = table
        .unmap(smmu.memory(), base + 4096, pages * 4096)
        .unwrap();
    smmu.apply(
        TlbScope::Stage1 { vmid: 0, asid: 6 },
        Granule::Size4K,
        change,
    )
    .unwrap();
    let counts = rig.model.counts();
    assert!(
        counts.tlbi_nh_va <= 20 && counts.tlbi_nh_va > 0,
        "{} TLBI_NH_VA for {pages} pages",
        counts.tlbi_nh_va
    );
    assert_eq!(counts.tlbi_nh_asid, 0, "no whole-ASID fallback here");

    for i in 1..=pages {
        assert!(
            rig.model
                .dma_write(SID, None, base + i * 4096, &[2])
                .is_err(),
            "page {i} still translates after the unmap"
        );
    }
    rig.model.dma_write(SID, None, base, &[3]).unwrap();
    rig.model
        .dma_write(SID, None, base + (pages + 1) * 4096, &[3])
        .unwrap();
    assert_eq!(rig.byte(frame), 3);
    assert_eq!(rig.byte(frame + 4096), 1, "unmapped page unchanged");
    let _ = smmu.take_events();
}
