//! What each stage can express (the engine's other refusals are the suite's, `pt::tests`).

use super::*;

#[test]
fn attributes_each_stage_can_express() {
    let m = mem();
    let mut s1 = s1(&m, Granule::Size16K, 36);
    let mut s2 = s2(&m, Granule::Size4K, 40);
    let refused = Err(Error::UnsupportedAttributes);
    // AArch64 stage 1 has no write-only mappings; nothing executes from Device memory.
    let write_only = Attributes::dma(Permissions::WRITE);
    assert_eq!(s1.map(&m, 0, 0, K16, write_only), refused);
    assert_eq!(
        s1.map(&m, 0, 0, K16, Attributes::device(Permissions::all())),
        refused
    );
    assert_eq!(
        s2.map(&m, 0, 0, K4, Attributes::device(Permissions::all())),
        refused
    );
    // Stage 2 needs READ or WRITE and has no privilege check.
    assert_eq!(
        s2.map(&m, 0, 0, K4, Attributes::dma(Permissions::EXECUTE)),
        refused
    );
    let privileged = Attributes {
        privileged_only: true,
        ..Attributes::dma(RW)
    };
    assert_eq!(s2.map(&m, 0, 0, K4, privileged), refused);
    assert!(m.snapshot().is_empty(), "nothing was written");
    // What each can express reads back as written.
    s1.map(&m, 0, 0, K16, privileged).unwrap().finish(&m);
    assert_eq!(s1.query(&m, 0).unwrap().attributes, privileged);
    s2.map(&m, 0, 0, K4, write_only).unwrap().finish(&m);
    assert_eq!(s2.query(&m, 0).unwrap().attributes, write_only);
}
