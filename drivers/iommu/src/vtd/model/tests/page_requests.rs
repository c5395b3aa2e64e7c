//! Page requests and page group responses.

use alloc::vec;

use super::*;

#[test]
fn page_requests_and_responses() {
    let r = Rig::new(FULL_CAP, FULL_ECAP);
    let pq = r.page();
    r.m.write64(PQA_REG, pq);
    r.m.write64(PQH_REG, 0);
    r.m.write64(PQT_REG, 0);
    let req = PageRequest {
        rid: RID,
        pasid: Some(0x12345),
        addr: 0xdead_b123,
        write: true,
        lpig: true,
        prgi: 0x1ab,
        ..Default::default()
    };
    r.m.inject_page_request(&req).unwrap();
    let qw0 = r.mem.read64(pq);
    let qw1 = r.mem.read64(pq + 8);
    assert_eq!(qw0, 1 << 8 | u64::from(RID) << 16 | 0x12345 << 32);
    assert_eq!(qw1, 0xdead_b000 | 0x1ab << 3 | 1 << 2 | 1 << 1);
    assert_eq!(r.m.read64(PQT_REG), 0x20);
    assert_eq!(r.m.read32(PRS_REG), PRS_PPR);
    assert_eq!(r.m.read32(PECTL_REG), CTL_IM | CTL_IP);
    r.m.write32(PECTL_REG, 0);
    assert_eq!(r.m.events().page_request, 1);
    // Fill the 128-entry queue: the 128th request overflows.
    for _ in 1..127 {
        r.m.inject_page_request(&req).unwrap();
    }
    assert_eq!(
        r.m.inject_page_request(&req),
        Err(PageRequestError::Overflow)
    );
    assert_eq!(r.m.read32(PRS_REG), PRS_PPR | PRS_PRO);
    // With translation on, the context entry must have PRE.
    let (_, ctx) = r.scalable(0, true, false);
    assert_eq!(
        r.m.inject_page_request(&req),
        Err(PageRequestError::NotEnabled)
    );
    let _ = ctx;
    // A page group response through the queue is recorded.
    r.enable_qi(true);
    r.submit(&[[
        9 | 1 << 4 | 1 << 12 | u64::from(RID) << 16 | 0x12345 << 32,
        1 << 2 | 0x1ab << 3,
        0,
        0,
    ]]);
    assert_eq!(
        r.m.page_responses(),
        vec![PageGroupResponse {
            rid: RID,
            pasid: Some(0x12345),
            code: ResponseCode::InvalidRequest,
            lpig: true,
            prgi: 0x1ab
        }]
    );
    assert_eq!(
        Rig::new(QEMU_CAP, QEMU_ECAP_SCALABLE)
            .m
            .inject_page_request(&req),
        Err(PageRequestError::NotSupported)
    );
}
