//! Substreams (§5.4): CD tables of each format, and what is refused where it cannot work.

use super::*;

/// Substreams (§5.4, CD table indexed by SubstreamID), with linear and both
/// 2-level CD table formats: each SSID walks its own CD's tables, including
/// SSIDs in different leaf tables; an SSID whose CD is invalid gives C_BAD_CD
/// with that SSID; one beyond S1CDMax is refused by the driver and gives
/// C_BAD_SUBSTREAMID on the bus; a transaction without SSID follows S1DSS.
#[test]
fn each_substream_translates_through_its_own_context_descriptor() {
    for format in [
        CdTableFormat::Linear,
        CdTableFormat::TwoLevel4K,
        CdTableFormat::TwoLevel64K,
    ] {
        let rig = Rig::new(SmmuConfig::full());
        let mut smmu = rig.smmu(LINEAR);
        let iova = 0x4000_0000;
        let cd_max = 11;
        // 1 and 70 are in different 4 KiB leaves; 1100 in another 64 KiB leaf.
        let ssids = [1u32, 70, 1100];
        let mut cds = smmu.new_cd_table(format, cd_max).unwrap();
        let p0 = rig.page(0);
        let (_t0, cd0) = stage1_cd(&mut smmu, 10, iova, p0, false);
        smmu.set_cd(SID, &mut cds, 0, &cd0).unwrap();
        let mut tables = Vec::new();
        let mut pages = Vec::new();
        for (i, &ssid) in ssids.iter().enumerate() {
            let p = rig.page(0);
            let (t, cd) = stage1_cd(&mut smmu, 11 + i as u16, iova, p, false);
            smmu.set_cd(SID, &mut cds, ssid, &cd).unwrap();
            tables.push(t);
            pages.push(p);
        }
        stage1_ste(&mut smmu, &cds, DefaultSubstream::Substream0);

        for (i, &ssid) in ssids.iter().enumerate() {
            rig.model
                .dma_write(SID, Some(ssid), iova, &[0x10 + i as u8; 8])
                .unwrap_or_else(|e| panic!("{format:?} SSID {ssid}: {e:?}"));
        }
        rig.model.dma_write(SID, None, iova, &[0x22; 8]).unwrap();
        for (i, &p) in pages.iter().enumerate() {
            assert_eq!(rig.byte(p), 0x10 + i as u8, "{format:?}: SSID {}", ssids[i]);
        }
        assert_eq!(
            rig.byte(p0),
            0x22,
            "no SSID used CD 0 (S1DSS = substream 0)"
        );

        assert!(rig.model.dma_write(SID, Some(2), iova, &[0x33; 8]).is_err());
        assert!(
            rig.model
                .dma_write(SID, Some(1 << cd_max), iova, &[0x33; 8])
                .is_err()
        );
        let (events, overflow) = smmu.take_events();
        assert!(!overflow);
        let got: Vec<_> = events
            .iter()
            .map(|e| (e.kind, e.stream_id, e.substream_id))
            .collect();
        assert_eq!(
            got,
            [
                (event_type::C_BAD_CD, SID, Some(2)),
                (event_type::C_BAD_SUBSTREAMID, SID, Some(1 << cd_max)),
            ],
            "{format:?}"
        );
        assert!(matches!(
            smmu.set_cd(SID, &mut cds, 1 << cd_max, &cd0),
            Err(SmmuError::BadSubstreamId(_))
        ));

        // Retargeting CD 70 is seen by the next DMA (CFGI_CD issued by set_cd).
        let p2 = rig.page(0);
        let (_t2, cd2) = stage1_cd(&mut smmu, 20, iova, p2, false);
        smmu.set_cd(SID, &mut cds, 70, &cd2).unwrap();
        rig.model
            .dma_write(SID, Some(70), iova, &[0x44; 8])
            .unwrap();
        assert_eq!((rig.byte(pages[1]), rig.byte(p2)), (0x11, 0x44));
        // A cleared CD: C_BAD_CD again, nothing written.
        smmu.clear_cd(SID, &mut cds, 1100).unwrap();
        assert!(
            rig.model
                .dma_write(SID, Some(1100), iova, &[0x55; 8])
                .is_err()
        );
        assert_eq!(rig.byte(pages[2]), 0x12);
    }
}

/// 2-level CD tables need IDR0.CD2L and more CDs than one leaf holds.
#[test]
fn two_level_cd_tables_are_refused_where_they_cannot_work() {
    let rig = Rig::new(SmmuConfig::full());
    let mut smmu = rig.smmu(LINEAR);
    assert!(matches!(
        smmu.new_cd_table(CdTableFormat::TwoLevel64K, 10),
        Err(SmmuError::Unsupported(_))
    ));
    assert!(smmu.new_cd_table(CdTableFormat::TwoLevel4K, 7).is_ok());
}

/// On QEMU's configuration (IDR1.SSIDSIZE = 0, no PRI, terminate-only) a CD
/// table with substreams, a PRI response and a RESUME are refused rather than
/// truncated or sent as illegal commands.
#[test]
fn what_qemus_smmu_lacks_is_refused_with_a_typed_error() {
    let rig = Rig::new(SmmuConfig::qemu());
    let mut smmu = rig.smmu(LINEAR);
    assert!(matches!(
        smmu.new_cd_table(CdTableFormat::Linear, 2),
        Err(SmmuError::Unsupported("IDR1.SSIDSIZE"))
    ));
    // Nor does it have PRI or stalls: answering either is refused up front
    // instead of raising CERROR_ILL.
    let request = crate::smmuv3::queue::PageRequest {
        stream_id: SID,
        substream_id: None,
        address: 0,
        read: true,
        write: false,
        execute: false,
        privileged: false,
        last: true,
        group: 1,
    };
    assert!(matches!(
        smmu.respond_page_request(&request, PriResponse::Success),
        Err(SmmuError::Unsupported("IDR0.PRI"))
    ));
    assert!(matches!(
        smmu.resume(SID, 1, true),
        Err(SmmuError::Unsupported("IDR0.STALL_MODEL"))
    ));
    // CD.E0PD0 needs IDR3.E0PD, which QEMU's SMMUv3.1 lacks.
    let page = rig.page(0);
    let (_table, mut cd) = stage1_cd(&mut smmu, 1, 0x1000, page, false);
    cd.ttb0.as_mut().unwrap().unprivileged_access_disable = true;
    let mut cds = smmu.new_cd_table(CdTableFormat::Linear, 0).unwrap();
    assert!(matches!(
        smmu.set_cd(SID, &mut cds, 0, &cd),
        Err(SmmuError::Unsupported("IDR3.E0PD"))
    ));
}
