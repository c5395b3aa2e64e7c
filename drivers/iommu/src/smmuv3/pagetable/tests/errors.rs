//! Refused operations change nothing: bad input, and running out of memory halfway.

use super::*;

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
