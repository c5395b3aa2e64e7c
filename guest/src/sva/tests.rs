extern crate std;

use std::vec::Vec;

use super::entry::*;
use super::*;

fn bytes_of<T: SvaStruct>(value: &T) -> Vec<u8> {
    let mut out = std::vec![0u8; T::SIZE];
    value.encode(&mut out);
    out
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}

#[test]
fn bind_stage1_sets_the_pasid_flag_and_field_only_with_a_pasid() {
    let table = Stage1Table::x86_four_level(0x4020_0000).with_flags(BindFlags::X86_SRE);
    let b = bytes_of(&table.to_bind(0x08, Some(7)));
    assert_eq!(u32_at(&b, 0), 48, "size");
    assert_eq!(u32_at(&b, 4), 0x08, "device");
    assert_eq!(
        u32_at(&b, 8),
        (BindFlags::PASID | BindFlags::X86_SRE).bits()
    );
    assert_eq!(u32_at(&b, 12), 7, "pasid");
    assert_eq!(u32_at(&b, 16), Stage1Format::X86FourLevel as u32);
    assert_eq!(u32_at(&b, 20), 48, "input_bits");
    assert_eq!(u64_at(&b, 24), 0x4020_0000, "root");
    assert!(b[32..48].iter().all(|&x| x == 0), "mair, walk, reserved");

    // Without a PASID: no flag, pasid 0, even if the table carries the flag.
    let table = table.with_flags(BindFlags::PASID | BindFlags::X86_WPE);
    let b = bytes_of(&table.to_bind(0x08, None));
    assert_eq!(u32_at(&b, 8), BindFlags::X86_WPE.bits());
    assert_eq!(u32_at(&b, 12), 0);
}

#[test]
fn table_constructors_fill_format_width_and_vmsa_fields() {
    let five = Stage1Table::x86_five_level(0x1000);
    assert_eq!(
        (five.format, five.input_bits),
        (Stage1Format::X86FiveLevel, 57)
    );
    let walk = walk_attributes(1, 1, 3);
    assert_eq!(walk, 0x35);
    let vmsa = Stage1Table::vmsa(Granule::Size16K, 0x4000_4000, 39, 0xff44, walk);
    let b = bytes_of(&vmsa.to_bind(0x10, Some(3)));
    assert_eq!(u32_at(&b, 16), Stage1Format::Vmsa16K as u32);
    assert_eq!(u32_at(&b, 20), 39);
    assert_eq!(u64_at(&b, 32), 0xff44, "mair");
    assert_eq!(u32_at(&b, 40), 0x35, "walk");
    assert_eq!(Granule::Size4K.format(), Stage1Format::Vmsa4K);
    assert_eq!(Granule::Size64K.format(), Stage1Format::Vmsa64K);
}

#[test]
fn unbind_stage1_names_the_pasid_the_same_way() {
    let b = bytes_of(&unbind_stage1_args(0x18, Some(0xf_ffff)));
    assert_eq!(
        (u32_at(&b, 0), u32_at(&b, 4), u32_at(&b, 8), u32_at(&b, 12)),
        (16, 0x18, BindFlags::PASID.bits(), 0xf_ffff)
    );
    let b = bytes_of(&unbind_stage1_args(0x18, None));
    assert_eq!((u32_at(&b, 8), u32_at(&b, 12)), (0, 0));
}

#[test]
fn a_cd_table_encodes_its_ste_fields_in_place() {
    let table = CdTable {
        default_substream: DefaultSubstream::Bypass,
        walk: walk_attributes(1, 1, 3),
        ..CdTable::new(CdTableFormat::TwoLevel64K, 0x4100_0000, 9)
    };
    let b = bytes_of(&table.to_bind(0x20));
    let words: Vec<u32> = (0..8).map(|i| u32_at(&b, i * 4)).collect();
    assert_eq!(words, [40, 0x20, 2, 0, 2, 9, 1, 0x35]);
    assert_eq!(u64_at(&b, 32), 0x4100_0000);
    let plain = CdTable::new(CdTableFormat::Linear, 0x4000_0040, 0);
    assert_eq!(plain.config, CdTableConfig::Translate);
    assert_eq!(plain.to_bind(1).default_substream, 2);
}

#[test]
fn entry_constructors_set_kind_flags_and_range() {
    let e = iotlb_range(0x08, Some(5), 0x7000_0000, 0x2000, true);
    let b = bytes_of(&e);
    assert_eq!(b[0], InvalidateKind::IotlbRange as u8);
    assert_eq!(b[1], (EntryFlags::PASID | EntryFlags::LEAF).bits());
    assert_eq!((u32_at(&b, 4), u32_at(&b, 8), u32_at(&b, 12)), (0x08, 5, 0));
    assert_eq!((u64_at(&b, 16), u64_at(&b, 24)), (0x7000_0000, 0x2000));

    let e = iotlb_range(0x08, None, 0x1000, 0x1000, false);
    assert_eq!((e.flags, e.pasid), (0, 0));
    let e = iotlb_all(1, Some(2));
    assert_eq!(
        (e.kind, e.flags, e.pasid, e.address, e.size),
        (2, 1, 2, 0, 0)
    );
    let e = pasid_cache(1, Some(9)).with_asid(0x0102);
    let b = bytes_of(&e);
    assert_eq!((b[0], b[1], b[2], b[3]), (3, 0b101, 0x02, 0x01));
    let e = pasid_cache_all(4);
    assert_eq!((e.kind, e.flags, e.device), (4, 0, 4));
    let e = device_tlb(4, Some(1), 0x3000, 0x1000);
    assert_eq!((e.kind, e.flags, e.address, e.size), (5, 1, 0x3000, 0x1000));
}

#[test]
fn info_accessors_type_the_raw_fields() {
    let info = SvaInfo {
        iommu: 2,
        install: 2,
        caps: (SvaCaps::BIND_PASID | SvaCaps::CD_TABLE).bits() | 1 << 40,
        formats: Stage1Formats::VMSA_4K.bits(),
        ..SvaInfo::default()
    };
    assert_eq!(info.iommu(), Some(IommuKind::SmmuV3));
    assert_eq!(info.install(), Some(Install::Shadow));
    assert_eq!(info.caps(), SvaCaps::BIND_PASID | SvaCaps::CD_TABLE);
    assert!(info.supports(Stage1Format::Vmsa4K));
    assert!(!info.supports(Stage1Format::X86FourLevel));
    assert_eq!(SvaInfo::default().iommu(), None);
}

/// Numbered entries: entry `i` has device `i`.
fn numbered(n: usize) -> Vec<InvalidateEntry> {
    (0..n as u32).map(|i| iotlb_all(i, None)).collect()
}

/// A fake vsva that refuses the entry with device `fail_at` (if any),
/// recording each call's first device and count.
fn fake(
    fail_at: Option<u32>,
    calls: &mut Vec<(u32, u32)>,
) -> impl FnMut(&[u8], u32) -> Result<(), (u32, HvError)> + '_ {
    move |bytes, count| {
        assert!(count as usize <= INVALIDATE_CHUNK && count > 0);
        assert_eq!(bytes.len(), count as usize * ENTRY_SIZE);
        assert_eq!(bytes.as_ptr() as usize % 8, 0, "entries aligned");
        let devices: Vec<u32> = bytes
            .chunks_exact(ENTRY_SIZE)
            .map(|b| InvalidateEntry::decode(b).device)
            .collect();
        calls.push((devices[0], count));
        match devices.iter().position(|&d| Some(d) == fail_at) {
            Some(k) => Err((k as u32, HvError::NotFound)),
            None => Ok(()),
        }
    }
}

#[test]
fn invalidate_sends_chunks_of_64_in_order() {
    let entries = numbered(150);
    let mut calls = Vec::new();
    assert_eq!(invalidate_with(&entries, fake(None, &mut calls)), Ok(()));
    assert_eq!(calls, [(0, 64), (64, 64), (128, 22)]);
}

#[test]
fn invalidate_reports_the_total_completed_before_a_refused_entry() {
    for k in [0u32, 1, 63, 64, 100, 149] {
        let entries = numbered(150);
        let mut calls = Vec::new();
        let err = invalidate_with(&entries, fake(Some(k), &mut calls)).unwrap_err();
        assert_eq!(
            err,
            InvalidateError {
                completed: k as usize,
                error: HvError::NotFound
            }
        );
        // Nothing is sent after the chunk that failed.
        assert_eq!(calls.len(), k as usize / 64 + 1, "k = {k}");
    }
}

#[test]
fn invalidate_of_nothing_sends_nothing() {
    let mut calls = Vec::new();
    assert_eq!(invalidate_with(&[], fake(Some(0), &mut calls)), Ok(()));
    assert!(calls.is_empty());
}

#[test]
fn a_count_not_below_the_sent_count_means_nothing_completed() {
    assert_eq!(completed_on_error(3, 10), 3);
    assert_eq!(completed_on_error(10, 10), 0);
    assert_eq!(completed_on_error(99, 10), 0);
    // A call refused as a whole (count left as sent, or garbage)
    // completed nothing of its chunk.
    let entries = numbered(70);
    let err = invalidate_with(&entries, |_, count| {
        if count == 6 {
            Err((200, HvError::IommuError))
        } else {
            Ok(())
        }
    })
    .unwrap_err();
    assert_eq!(err.completed, 64);
    assert_eq!(HvError::from(err), HvError::IommuError);
}
