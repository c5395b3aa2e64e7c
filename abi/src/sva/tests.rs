use super::*;

fn round_trip<T: SvaStruct + PartialEq + core::fmt::Debug>(value: T) {
    let mut bytes = [0u8; 64];
    value.encode(&mut bytes[..T::SIZE]);
    assert_eq!(T::decode(&bytes[..T::SIZE]), value);
    assert!(bytes[T::SIZE..].iter().all(|&b| b == 0), "wrote past SIZE");
}

#[test]
fn every_struct_round_trips_through_its_bytes() {
    round_trip(SvaInfo {
        size: 48,
        device: 0x08,
        iommu: 2,
        install: 1,
        caps: 0x7ff,
        formats: 0x700,
        pasid_bits: 20,
        cd_max: 20,
        input_bits: 48,
        output_bits: 40,
        max_invalidations: 256,
        asid_bits: 16,
    });
    round_trip(Pasid {
        size: 16,
        flags: 1,
        pasid: 0xf_ffff,
        reserved: 2,
    });
    round_trip(BindStage1 {
        size: 48,
        device: 0x10,
        flags: 3,
        pasid: 7,
        format: 1,
        input_bits: 48,
        root: 0x4000_1000,
        mair: 0xff44,
        walk: 0x3d,
        reserved: 9,
    });
    round_trip(UnbindStage1 {
        size: 16,
        device: 1,
        flags: 1,
        pasid: 2,
    });
    round_trip(BindCdTable {
        size: 40,
        device: 8,
        config: 2,
        flags: 1,
        format: 1,
        cd_max: 8,
        default_substream: 2,
        walk: 0x3d,
        table: 0x4010_0000,
    });
    round_trip(UnbindCdTable { size: 8, device: 8 });
    round_trip(Invalidate {
        size: 24,
        entry_size: 32,
        count: 3,
        flags: 0,
        entries: 0x4000_2000,
    });
    round_trip(InvalidateEntry {
        kind: 1,
        flags: 7,
        asid: 0x1234,
        device: 8,
        pasid: 5,
        reserved: 0,
        address: 0x7000_0000,
        size: 0x2000,
    });
}

#[test]
fn fields_sit_at_their_documented_offsets() {
    let mut b = [0u8; 48];
    BindStage1 {
        root: 0x1122_3344_5566_7788,
        pasid: 0xabcd,
        ..Default::default()
    }
    .encode(&mut b);
    assert_eq!(&b[24..32], &0x1122_3344_5566_7788u64.to_le_bytes());
    assert_eq!(&b[12..16], &0xabcdu32.to_le_bytes());
    let mut e = [0u8; 32];
    InvalidateEntry {
        kind: 5,
        asid: 0x0102,
        size: 0x3000,
        ..Default::default()
    }
    .encode(&mut e);
    assert_eq!((e[0], e[2], e[3]), (5, 0x02, 0x01));
    assert_eq!(&e[24..32], &0x3000u64.to_le_bytes());
}

#[test]
fn a_short_buffer_decodes_as_zero_extended_and_never_panics() {
    let full = Invalidate {
        size: 24,
        entry_size: 32,
        count: 9,
        flags: 0,
        entries: 0xdead_0000,
    };
    let mut b = [0u8; 24];
    full.encode(&mut b);
    let short = Invalidate::decode(&b[..8]);
    assert_eq!((short.count, short.entries), (0, 0));
    assert_eq!(short.entry_size, 32);
    // Encoding into too small a buffer writes what fits.
    let mut tiny = [0u8; 6];
    full.encode(&mut tiny);
    assert_eq!(&tiny[..4], &24u32.to_le_bytes());
}

#[test]
fn raw_values_outside_the_enums_are_none() {
    assert_eq!(IommuKind::from_raw(0), None);
    assert_eq!(Install::from_raw(3), None);
    assert_eq!(Stage1Format::from_raw(6), None);
    assert_eq!(CdTableConfig::from_raw(3), None);
    assert_eq!(InvalidateKind::from_raw(0), None);
    assert_eq!(InvalidateKind::from_raw(6), None);
    assert_eq!(
        Stage1Format::from_raw(3).map(Stage1Format::capability),
        Some(Stage1Formats::VMSA_4K)
    );
}
