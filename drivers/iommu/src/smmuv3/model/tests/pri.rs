//! PRI (§8): page requests into the PRI queue and the recorded responses.

use super::*;

#[test]
fn page_requests_fill_the_pri_queue_and_responses_are_recorded() {
    let fx = Fx::new(SmmuConfig::full());
    let req = PageRequest {
        sid: 0x12,
        ssid: Some(0x345),
        addr: 0xdead_b123,
        read: true,
        write: true,
        last: true,
        prgi: 0x1a5,
        ..Default::default()
    };
    fx.m.inject_page_request(&req).unwrap();
    let w0 = fx.r64(fx.priq);
    let w1 = fx.r64(fx.priq + 8);
    assert_eq!(w0 & 0xffff_ffff, 0x12);
    assert_eq!(w0 >> 32 & 0xf_ffff, 0x345);
    assert_eq!(
        w0 >> 58,
        0b111100,
        "SSV, Last, Write, Read; not Exec, not Priv"
    );
    assert_eq!(w1, 0xdead_b000 | 0x1a5);
    assert_eq!(fx.m.read32(PAGE1 + PRIQ_PROD), 1);
    assert_eq!(fx.m.irqs().priq, 1);
    for _ in 1..8 {
        fx.m.inject_page_request(&req).unwrap();
    }
    assert_eq!(
        fx.m.inject_page_request(&req),
        Err(PageRequestError::Overflow)
    );
    assert_ne!(fx.m.read32(PRIQ_PROD) & Q_OVFLG, 0);
    fx.cmds(&[
        [0x41 | 0x12 << 32 | 0x345 << 12 | 1 << 11, 0x1a5 | 2 << 12],
        cmd_sync(),
    ]);
    assert_eq!(
        fx.m.pri_responses(),
        [PriResponse {
            sid: 0x12,
            ssid: Some(0x345),
            prgi: 0x1a5,
            resp: PriResponseCode::Success
        }]
    );
    let q = Fx::new(SmmuConfig::qemu());
    assert_eq!(
        q.m.inject_page_request(&req),
        Err(PageRequestError::NotSupported)
    );
    let off = Fx::bare(SmmuConfig::full());
    assert_eq!(
        off.m.inject_page_request(&req),
        Err(PageRequestError::NotEnabled)
    );
}
