//! IORT edge cases and ID resolution on hand-built tables, and resolution on QEMU's virt IORT.

mod common;

use common::{acpi_header, finish, put_u16, put_u32, put_u64};
use vsva_iommu::acpi::AcpiError;
use vsva_iommu::acpi::iort::{
    AtsAttribute, HttuOverride, IdMappingFlags, Iort, NodeKind, NodeType, SmmuKind, SmmuV3Flags,
    SmmuV3Model,
};

const SINGLE: u32 = 1;

/// (input base, number of IDs minus one, output base, output reference, flags)
type Map = (u32, u32, u32, u32, u32);

/// A node: header, `body` (its type-specific fixed part), then the ID mappings.
fn node(ty: u8, revision: u8, id: u32, body: &[u8], maps: &[Map]) -> Vec<u8> {
    let len = 16 + body.len() + 20 * maps.len();
    let mut n = vec![ty];
    put_u16(&mut n, len as u16);
    n.push(revision);
    put_u32(&mut n, id);
    put_u32(&mut n, maps.len() as u32);
    put_u32(
        &mut n,
        if maps.is_empty() {
            0
        } else {
            16 + body.len() as u32
        },
    );
    n.extend_from_slice(body);
    for &(i, c, o, r, f) in maps {
        for v in [i, c, o, r, f] {
            put_u32(&mut n, v);
        }
    }
    n
}

fn its_group(ids: &[u32]) -> Vec<u8> {
    let mut b = Vec::new();
    put_u32(&mut b, ids.len() as u32);
    for &i in ids {
        put_u32(&mut b, i);
    }
    node(0, 1, 0, &b, &[])
}

fn smmuv3(base: u64, flags: u32, device_id_index: u32, maps: &[Map]) -> Vec<u8> {
    let mut b = Vec::new();
    put_u64(&mut b, base);
    put_u32(&mut b, flags);
    put_u32(&mut b, 0);
    put_u64(&mut b, 0); // VATOS
    put_u32(&mut b, 0); // model
    for gsiv in [0, 0, 0, 0] {
        put_u32(&mut b, gsiv);
    }
    put_u32(&mut b, 0); // proximity domain
    put_u32(&mut b, device_id_index);
    node(4, 4, 1, &b, maps)
}

fn root_complex(segment: u32, maps: &[Map]) -> Vec<u8> {
    let mut b = Vec::new();
    put_u32(&mut b, 1); // CCA
    b.extend_from_slice(&[0, 0, 0, 3]);
    put_u32(&mut b, 0b111); // ATS, PRI, PASID forwarding
    put_u32(&mut b, segment);
    b.push(48); // memory address size limit
    put_u16(&mut b, 20); // PASID capabilities: max width 20
    b.push(0);
    node(2, 4, 2, &b, maps)
}

fn named_component(name: &str, maps: &[Map]) -> Vec<u8> {
    let mut b = Vec::new();
    put_u32(&mut b, 1 | (16 << 1)); // stall, 16 PASID bits
    put_u32(&mut b, 0);
    b.extend_from_slice(&[0; 4]);
    b.push(44);
    b.extend_from_slice(name.as_bytes());
    b.push(0);
    while b.len() % 4 != 0 {
        b.push(0);
    }
    node(1, 4, 3, &b, maps)
}

/// Lays the nodes out after a 48-byte header. `make` gets the node offsets (so mappings can
/// refer to later nodes) and is called twice: once to size the nodes, once for real.
fn iort(make: impl Fn(&[u32]) -> Vec<Vec<u8>>) -> (Vec<u8>, Vec<u32>) {
    let sizes: Vec<usize> = make(&[0; 16]).iter().map(Vec::len).collect();
    let mut offsets = Vec::new();
    let mut at = 48u32;
    for s in &sizes {
        offsets.push(at);
        at += *s as u32;
    }
    let nodes = make(&offsets);
    let mut t = acpi_header(b"IORT", 6);
    put_u32(&mut t, nodes.len() as u32);
    put_u32(&mut t, 48);
    put_u32(&mut t, 0);
    for n in nodes {
        t.extend(n);
    }
    (finish(t), offsets)
}

const SMMU_BASE: u64 = 0x2b40_0000;

/// ITS group; SMMUv3 (StreamIDs 0..=0xffff → DeviceIDs from 0x10000, own MSIs as a single
/// mapping at index 1); root complex (RIDs 0..=0xff → SMMU from 0x100, RIDs 0x100..=0x1ff
/// straight to the ITS from 0x2000); named component (single mapping → StreamID 0x42).
fn sample() -> (Vec<u8>, Vec<u32>) {
    iort(|o| {
        vec![
            its_group(&[7]),
            smmuv3(
                SMMU_BASE,
                (1 << 0) | (2 << 1) | (1 << 4),
                1,
                &[(0, 0xffff, 0x10000, o[0], 0), (0, 0, 0x8000, o[0], SINGLE)],
            ),
            root_complex(
                0,
                &[(0, 0xff, 0x100, o[1], 0), (0x100, 0xff, 0x2000, o[0], 0)],
            ),
            named_component("\\_SB.DMA0", &[(0, 0, 0x42, o[1], SINGLE)]),
        ]
    })
}

#[test]
fn nodes_decode() {
    let (t, o) = sample();
    let iort = Iort::parse(&t).unwrap();
    assert!(iort.checksum_valid());
    let types: Vec<NodeType> = iort.nodes().map(|n| n.node_type()).collect();
    assert_eq!(
        types,
        [
            NodeType::ItsGroup,
            NodeType::SmmuV3,
            NodeType::RootComplex,
            NodeType::NamedComponent
        ]
    );
    let offsets: Vec<u32> = iort.nodes().map(|n| n.offset() as u32).collect();
    assert_eq!(offsets, o);
    for n in iort.nodes() {
        match n.kind() {
            NodeKind::ItsGroup(g) => assert_eq!(g.its_identifiers().collect::<Vec<_>>(), [7]),
            NodeKind::SmmuV3(s) => {
                assert_eq!(s.base_address(), SMMU_BASE);
                assert!(s.flags().contains(SmmuV3Flags::COHACC_OVERRIDE));
                assert!(
                    s.flags()
                        .contains(SmmuV3Flags::DEVICE_ID_MAPPING_INDEX_VALID)
                );
                assert_eq!(s.httu_override(), HttuOverride::AccessFlagAndDirtyState);
                assert_eq!(s.model(), SmmuV3Model::Generic);
                assert_eq!(s.device_id_mapping_index(), Some(1));
                assert_eq!(s.proximity_domain(), Some(0));
            }
            NodeKind::RootComplex(rc) => {
                assert_eq!(rc.ats_attribute(), AtsAttribute::all());
                assert_eq!(rc.memory_address_size_limit(), Some(48));
                assert_eq!(rc.max_pasid_width(), Some(20));
                assert_eq!(rc.flags(), None); // node too short for the E.f Flags field
            }
            NodeKind::NamedComponent(nc) => {
                assert_eq!(nc.device_object_name_str(), Some("\\_SB.DMA0"));
                assert_eq!(nc.pasid_bits(), 16);
                assert_eq!(nc.device_memory_address_size_limit(), 44);
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[test]
fn rid_resolves_through_smmu_to_its() {
    let (t, o) = sample();
    let iort = Iort::parse(&t).unwrap();
    let r = iort.resolve_rid(0, 0x10).unwrap();
    let smmu = r.smmu.unwrap();
    assert_eq!(smmu.kind, SmmuKind::V3);
    assert_eq!(smmu.base_address, SMMU_BASE);
    assert_eq!(smmu.node_offset, o[1] as usize);
    assert_eq!(r.stream_id(), Some(0x110));
    assert_eq!(r.device_id(), Some(0x10110));
    assert_eq!(r.its_group.unwrap().node_offset, o[0] as usize);

    // Bypassing the SMMU: straight to the ITS.
    let r = iort.resolve_rid(0, 0x1ff).unwrap();
    assert_eq!(r.smmu, None);
    assert_eq!(r.device_id(), Some(0x20ff));

    assert_eq!(
        iort.resolve_rid(0, 0x200).unwrap_err(),
        AcpiError::NoMapping {
            offset: o[2] as usize,
            id: 0x200
        }
    );
    assert_eq!(
        iort.resolve_rid(1, 0).unwrap_err(),
        AcpiError::NoRootComplex { segment: 1 }
    );
}

#[test]
fn single_mapping_flag() {
    let (t, o) = sample();
    let iort = Iort::parse(&t).unwrap();
    let nc = iort.node_at(o[3], 0).unwrap();
    let m = nc.id_mappings()[0];
    assert!(m.flags().contains(IdMappingFlags::SINGLE_MAPPING));
    // A named component's single mapping gives its output whatever the input ID.
    for id in [0, 5, 0xffff_ffff] {
        let r = iort.resolve_id(o[3] as usize, id).unwrap();
        assert_eq!(r.stream_id(), Some(0x42));
        assert_eq!(r.device_id(), Some(0x10042));
    }
    // At the SMMU the single mapping describes its own MSIs: it does not translate StreamIDs.
    let smmu = iort.node_at(o[1], 0).unwrap();
    assert!(smmu.id_mappings()[1].is_single());
    assert_eq!(
        iort.resolve_id(o[1] as usize, 0x10000).unwrap_err(),
        AcpiError::NoMapping {
            offset: o[1] as usize,
            id: 0x10000
        }
    );
}

#[test]
fn number_of_ids_is_count_minus_one() {
    let (t, o) = iort(|o| {
        vec![
            its_group(&[0]),
            root_complex(0, &[(0x10, 0, 0x500, o[0], 0), (0x20, 1, 0x600, o[0], 0)]),
        ]
    });
    let iort = Iort::parse(&t).unwrap();
    let maps = iort.node_at(o[1], 0).unwrap().id_mappings();
    assert_eq!(maps[0].id_count(), 1);
    assert_eq!(maps[1].id_count(), 2);
    assert_eq!(iort.resolve_rid(0, 0x10).unwrap().device_id(), Some(0x500));
    assert!(iort.resolve_rid(0, 0x11).is_err());
    assert_eq!(iort.resolve_rid(0, 0x21).unwrap().device_id(), Some(0x601));
    assert!(iort.resolve_rid(0, 0x22).is_err());
}

#[test]
fn reference_cycles_are_errors() {
    // SMMU mapping onto itself.
    let (t, o) = iort(|o| {
        vec![
            smmuv3(SMMU_BASE, 0, 0, &[(0, 0xffff, 0, o[0], 0)]),
            root_complex(0, &[(0, 0xffff, 0, o[0], 0)]),
        ]
    });
    let iort_t = Iort::parse(&t).unwrap();
    assert_eq!(
        iort_t.resolve_rid(0, 3).unwrap_err(),
        AcpiError::ReferenceCycle {
            offset: o[0] as usize
        }
    );
    // Root complex mapping onto itself.
    let (t, o) = iort(|o| vec![root_complex(0, &[(0, 0xffff, 0, o[0], 0)])]);
    let iort_t = Iort::parse(&t).unwrap();
    assert_eq!(
        iort_t.resolve_rid(0, 3).unwrap_err(),
        AcpiError::ReferenceCycle {
            offset: o[0] as usize
        }
    );
}

#[test]
fn bad_references() {
    // Output reference into the middle of a node.
    let (t, o) = iort(|o| {
        vec![
            its_group(&[0]),
            root_complex(0, &[(0, 0xff, 0, o[0] + 4, 0)]),
        ]
    });
    let iort_t = Iort::parse(&t).unwrap(); // parse does not follow references
    let mapping_at = o[1] as usize + 36;
    assert_eq!(
        iort_t.resolve_rid(0, 0).unwrap_err(),
        AcpiError::BadReference {
            offset: mapping_at,
            reference: o[0] + 4
        }
    );
    // Reference outside the table.
    let (t, _) = iort(|_| {
        vec![
            its_group(&[0]),
            root_complex(0, &[(0, 0xff, 0, 0xffff_fff0, 0)]),
        ]
    });
    assert!(matches!(
        Iort::parse(&t).unwrap().resolve_rid(0, 0).unwrap_err(),
        AcpiError::BadReference {
            reference: 0xffff_fff0,
            ..
        }
    ));
    // Mapping into a named component.
    let (t, o) = iort(|o| {
        vec![
            named_component("X", &[]),
            root_complex(0, &[(0, 0xff, 0, o[0], 0)]),
        ]
    });
    assert_eq!(
        Iort::parse(&t).unwrap().resolve_rid(0, 0).unwrap_err(),
        AcpiError::BadReferenceTarget {
            offset: o[0] as usize,
            node_type: 1
        }
    );
    // Output ID overflowing 32 bits.
    let (t, o) = iort(|o| {
        vec![
            its_group(&[0]),
            root_complex(0, &[(0, 0xff, 0xffff_fff0, o[0], 0)]),
        ]
    });
    let iort_t = Iort::parse(&t).unwrap();
    assert_eq!(
        iort_t.resolve_rid(0, 0xf).unwrap().device_id(),
        Some(0xffff_ffff)
    );
    assert_eq!(
        iort_t.resolve_rid(0, 0x10).unwrap_err(),
        AcpiError::IdOverflow {
            offset: o[1] as usize + 36,
            id: 0x10
        }
    );
}

fn set_u32(t: &mut [u8], at: usize, v: u32) {
    t[at..at + 4].copy_from_slice(&v.to_le_bytes());
    common::fix_checksum(t);
}

#[test]
fn node_offset_outside_table() {
    let (mut t, _) = sample();
    let len = t.len() as u32;
    set_u32(&mut t, 40, len + 0x100);
    assert_eq!(
        Iort::parse(&t).unwrap_err(),
        AcpiError::OffsetOutOfBounds {
            offset: 0,
            value: u64::from(len + 0x100),
            limit: t.len()
        }
    );
    // Inside the header.
    set_u32(&mut t, 40, 0x20);
    assert_eq!(
        Iort::parse(&t).unwrap_err(),
        AcpiError::OffsetOutOfBounds {
            offset: 0,
            value: 0x20,
            limit: 48
        }
    );
}

#[test]
fn node_lengths() {
    // Zero length.
    let (mut t, o) = sample();
    t[o[1] as usize + 1..o[1] as usize + 3].copy_from_slice(&[0, 0]);
    common::fix_checksum(&mut t);
    assert_eq!(
        Iort::parse(&t).unwrap_err(),
        AcpiError::ZeroLength {
            offset: o[1] as usize
        }
    );
    // Past the end of the table.
    let (mut t, o) = sample();
    let last = o[3] as usize;
    t[last + 1..last + 3].copy_from_slice(&0x400u16.to_le_bytes());
    common::fix_checksum(&mut t);
    assert!(matches!(
        Iort::parse(&t).unwrap_err(),
        AcpiError::LengthOverrun { offset, length: 0x400, .. } if offset == last
    ));
    // More nodes declared than present.
    let (mut t, _) = sample();
    set_u32(&mut t, 36, 5);
    let len = t.len();
    assert_eq!(
        Iort::parse(&t).unwrap_err(),
        AcpiError::Truncated {
            offset: len,
            needed: 16,
            available: 0
        }
    );
    // An SMMUv3 node too short for its fixed part.
    let (mut t, o) = sample();
    let at = o[1] as usize;
    t[at + 1..at + 3].copy_from_slice(&40u16.to_le_bytes());
    common::fix_checksum(&mut t);
    assert_eq!(
        Iort::parse(&t).unwrap_err(),
        AcpiError::LengthTooSmall {
            offset: at,
            length: 40,
            minimum: 60
        }
    );
}

#[test]
fn arrays_running_past_the_node() {
    // ID mapping array past the node end.
    let (mut t, o) = sample();
    let rc = o[2] as usize;
    set_u32(&mut t, rc + 8, 3);
    assert_eq!(
        Iort::parse(&t).unwrap_err(),
        AcpiError::ArrayOverrun {
            offset: rc + 36,
            count: 3,
            entry_size: 20,
            available: 40
        }
    );
    // A mapping count so large the byte size overflows.
    set_u32(&mut t, rc + 8, u32::MAX);
    assert!(matches!(
        Iort::parse(&t).unwrap_err(),
        AcpiError::ArrayOverrun { .. }
    ));
    // Mapping offset pointing into the node header.
    let (mut t, _) = sample();
    set_u32(&mut t, rc + 12, 8);
    assert_eq!(
        Iort::parse(&t).unwrap_err(),
        AcpiError::OffsetOutOfBounds {
            offset: rc,
            value: 8,
            limit: 32
        }
    );
    // ITS identifier count past the node.
    let (mut t, o) = sample();
    set_u32(&mut t, o[0] as usize + 16, 9);
    assert_eq!(
        Iort::parse(&t).unwrap_err(),
        AcpiError::ArrayOverrun {
            offset: o[0] as usize + 20,
            count: 9,
            entry_size: 4,
            available: 4
        }
    );
}

#[test]
fn checksum_mismatch_is_reported_but_table_usable() {
    let (mut t, _) = sample();
    t[9] ^= 0x5a;
    let iort = Iort::parse(&t).unwrap();
    assert!(!iort.checksum_valid());
    assert_eq!(iort.resolve_rid(0, 0).unwrap().stream_id(), Some(0x100));
}

#[test]
fn truncations_and_byte_flips_never_panic() {
    let (t, _) = sample();
    let walk = |b: &[u8]| {
        if let Ok(iort) = Iort::parse(b) {
            for n in iort.nodes() {
                let _ = (n.kind(), n.id_mappings().len());
                for rid in [0, 0x10, 0x150, 0xffff_ffff] {
                    let _ = iort.resolve_id(n.offset(), rid);
                }
            }
        }
    };
    for len in 0..=t.len() {
        let mut b = t[..len].to_vec();
        if len >= 8 {
            b[4..8].copy_from_slice(&(len as u32).to_le_bytes());
        }
        walk(&b);
    }
    for i in 0..t.len() {
        for v in [0u8, 1, 4, 0x10, 0x30, 0x7f, 0x80, 0xff] {
            let mut b = t.clone();
            b[i] = v;
            walk(&b);
        }
    }
}

/// QEMU's virt machine with `-machine iommu=smmuv3` puts an SMMUv3 at 0x09050000 in front of
/// the PCIe root complex: requester IDs on bus 0 reach it with StreamID == RID and then the
/// ITS with DeviceID == StreamID.
#[test]
fn qemu_virt_iort_rids_on_bus0_map_to_smmuv3() {
    let dir = common::tables_dir();
    let mut checked = 0;
    for entry in common::manifest(&dir) {
        if entry.sig != "IORT" || !entry.kind.contains("QEMU") {
            continue;
        }
        let bin = std::fs::read(dir.join(&entry.file)).unwrap();
        let iort = Iort::parse(&bin).unwrap();
        let has_virt_smmu = iort
            .nodes()
            .any(|n| matches!(n.kind(), NodeKind::SmmuV3(s) if s.base_address() == 0x0905_0000));
        if !has_virt_smmu {
            continue;
        }
        for rid in 0..=0xffu32 {
            let r = iort
                .resolve_rid(0, rid)
                .unwrap_or_else(|e| panic!("{}: RID {rid:#x}: {e}", entry.file));
            let smmu = r
                .smmu
                .unwrap_or_else(|| panic!("{}: RID {rid:#x} bypasses the SMMU", entry.file));
            assert_eq!(smmu.base_address, 0x0905_0000, "{}", entry.file);
            assert_eq!(smmu.kind, SmmuKind::V3);
            assert_eq!(r.stream_id(), Some(rid), "{}", entry.file);
            assert_eq!(r.device_id(), Some(rid), "{}", entry.file);
        }
        checked += 1;
    }
    assert!(
        checked >= 1,
        "no QEMU virt IORT with an SMMUv3 at 0x09050000 in the shared tables"
    );
}
