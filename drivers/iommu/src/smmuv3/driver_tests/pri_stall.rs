//! Page requests (§8) and the stall model (§3.12.2): delivery, PRI_RESP, RESUME.

use super::*;

/// PRI (§8): a device's page request reaches the driver with its stream,
/// substream, address, access and group; the driver's PRI_RESP reaches the
/// SMMU for that group.
#[test]
fn a_page_request_is_delivered_and_answered() {
    let rig = Rig::new(SmmuConfig::full());
    let mut smmu = rig.smmu(LINEAR);
    let req = model::PageRequest {
        sid: SID,
        ssid: Some(7),
        addr: 0x7_1234_5000,
        read: false,
        write: true,
        exec: false,
        privileged: false,
        last: true,
        prgi: 0x1a3,
    };
    rig.model.inject_page_request(&req).unwrap();
    let got = smmu.take_page_requests();
    assert_eq!(got.len(), 1, "{got:x?}");
    let r = got[0];
    assert_eq!(r.stream_id, SID);
    assert_eq!(r.substream_id, Some(7));
    assert_eq!(r.address, 0x7_1234_5000);
    assert!(r.write && !r.read && !r.execute && r.last);
    assert_eq!(r.group, 0x1a3);
    assert!(smmu.take_page_requests().is_empty(), "PRIQ_CONS advanced");

    smmu.respond_page_request(&r, PriResponse::Success).unwrap();
    let responses = rig.model.pri_responses();
    assert_eq!(responses.len(), 1);
    assert_eq!(
        (responses[0].sid, responses[0].ssid, responses[0].prgi),
        (SID, Some(7), 0x1a3)
    );
}

/// Stall model (§3.12.2): a fault on a stalling CD is reported with a STAG;
/// once the driver maps the page and sends RESUME(retry), the stalled write
/// completes into the new page.
#[test]
fn a_stalled_transaction_completes_after_map_and_resume() {
    let rig = Rig::new(SmmuConfig::full());
    let mut smmu = rig.smmu(LINEAR);
    let iova = 0x5000_0000;
    let mut cds = smmu.new_cd_table(CdTableFormat::Linear, 0).unwrap();
    let (mut table, cd) = stage1_cd(&mut smmu, 9, iova, 0, true);
    smmu.set_cd(SID, &mut cds, 0, &cd).unwrap();
    stage1_ste(&mut smmu, &cds, DefaultSubstream::Substream0);

    let _ = rig.model.dma_write(SID, None, iova + 0x10, &[0x5a; 16]);
    let (events, _) = smmu.take_events();
    assert_eq!(events.len(), 1, "{events:x?}");
    let e = events[0];
    assert_eq!(e.kind, event_type::F_TRANSLATION);
    assert_eq!(e.address, iova + 0x10);
    assert!(!e.read);
    let stag = e.stalled.expect("the event carries a STAG");

    let page = rig.page(0);
    let change = table.map(smmu.memory(), iova, page, 4096, rw()).unwrap();
    smmu.apply(
        TlbScope::Stage1 { vmid: 0, asid: 9 },
        Granule::Size4K,
        change,
    )
    .unwrap();
    smmu.resume(SID, stag, true).unwrap();
    assert_eq!(rig.byte(page + 0x10), 0x5a, "the retried write landed");
    assert_eq!(rig.byte(page + 0x20), 0, "only the stalled bytes");
    assert!(rig.model.pending_stalls().is_empty());
}
