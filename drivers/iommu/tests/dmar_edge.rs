//! DMAR edge cases built in code: every malformation gives the typed error naming its offset.

mod common;

use common::{acpi_header, finish, put_u16, put_u64};
use vsva_iommu::acpi::AcpiError;
use vsva_iommu::acpi::dmar::{
    AtsrFlags, DeviceScopeFlags, DeviceScopeType, Dmar, DmarFlags, DrhdFlags, PciPath,
    RemappingStructure, RemappingStructureType, SatcFlags,
};

/// Start of the first remapping structure.
const FIRST: usize = 48;

fn dmar_header(haw_minus_one: u8, flags: u8) -> Vec<u8> {
    let mut t = acpi_header(b"DMAR", 1);
    t.push(haw_minus_one);
    t.push(flags);
    t.extend_from_slice(&[0; 10]);
    t
}

fn scope(ty: u8, flags: u8, enum_id: u8, bus: u8, path: &[(u8, u8)]) -> Vec<u8> {
    let mut s = vec![ty, (6 + 2 * path.len()) as u8, flags, 0, enum_id, bus];
    for &(d, f) in path {
        s.push(d);
        s.push(f);
    }
    s
}

/// A remapping structure: type, length, then `body`.
fn structure(ty: u16, body: &[u8]) -> Vec<u8> {
    let mut s = Vec::new();
    put_u16(&mut s, ty);
    put_u16(&mut s, (4 + body.len()) as u16);
    s.extend_from_slice(body);
    s
}

fn drhd(flags: u8, size: u8, segment: u16, base: u64, scopes: &[Vec<u8>]) -> Vec<u8> {
    let mut b = vec![flags, size];
    put_u16(&mut b, segment);
    put_u64(&mut b, base);
    for s in scopes {
        b.extend_from_slice(s);
    }
    structure(0, &b)
}

fn rmrr(segment: u16, base: u64, limit: u64, scopes: &[Vec<u8>]) -> Vec<u8> {
    let mut b = vec![0, 0];
    put_u16(&mut b, segment);
    put_u64(&mut b, base);
    put_u64(&mut b, limit);
    for s in scopes {
        b.extend_from_slice(s);
    }
    structure(1, &b)
}

/// A table with one of every structure type, an unknown type, and a multi-hop path.
fn full_table() -> Vec<u8> {
    let mut t = dmar_header(38, 0b101);
    t.extend(drhd(
        1,
        4,
        0,
        0xfed9_1000,
        &[
            scope(3, 0, 2, 0xf0, &[(0x1f, 0)]),
            scope(4, 0, 0, 0, &[(0x1f, 0)]),
        ],
    ));
    t.extend(drhd(0, 0, 0, 0xfed9_0000, &[scope(1, 0, 0, 0, &[(2, 0)])]));
    t.extend(rmrr(
        0,
        0x8c00_0000,
        0x8c0f_ffff,
        &[scope(1, 0, 0, 0, &[(0x1c, 0), (0, 0), (3, 1)])],
    ));
    t.extend(structure(2, &[1, 0, 0, 0])); // ATSR ALL_PORTS, no scopes
    let mut rhsa = vec![0; 4];
    put_u64(&mut rhsa, 0xfed9_1000);
    rhsa.extend_from_slice(&7u32.to_le_bytes());
    t.extend(structure(3, &rhsa));
    // ANDD: device 5, name with NUL and padding to a multiple of 4.
    let mut andd = vec![0, 0, 0, 5];
    andd.extend_from_slice(b"\\_SB.PCI0.I2C0\0\0\0\0\0\0");
    t.extend(structure(4, &andd));
    t.extend(structure(0x7f, &[0xaa; 12])); // unknown: skipped by its length
    let mut satc = vec![1, 0, 0, 0];
    satc.extend(scope(1, 0, 0, 0, &[(2, 0)]));
    t.extend(structure(5, &satc));
    let mut sidp = vec![0, 0, 0, 0];
    sidp.extend(scope(1, 0x1f, 0, 0, &[(5, 0)]));
    t.extend(structure(6, &sidp));
    finish(t)
}

#[test]
fn every_structure_type_decodes() {
    let t = full_table();
    let d = Dmar::parse(&t).unwrap();
    assert!(d.checksum_valid());
    assert_eq!(d.host_address_width(), 39);
    assert_eq!(
        d.flags(),
        DmarFlags::INTR_REMAP | DmarFlags::DMA_CTRL_PLATFORM_OPT_IN
    );
    let types: Vec<RemappingStructureType> = d.structures().map(|s| s.structure_type()).collect();
    use RemappingStructureType::*;
    assert_eq!(
        types,
        [
            Drhd,
            Drhd,
            Rmrr,
            Atsr,
            Rhsa,
            Andd,
            Unknown(0x7f),
            Satc,
            Sidp
        ]
    );

    let drhds: Vec<_> = d.drhds().collect();
    assert_eq!(drhds[0].flags(), DrhdFlags::INCLUDE_PCI_ALL);
    assert_eq!(drhds[0].register_base(), 0xfed9_1000);
    assert_eq!(drhds[0].register_set_pages(), 16);
    let s: Vec<_> = drhds[0].device_scopes().collect();
    assert_eq!(s[0].scope_type(), DeviceScopeType::IoApic);
    assert_eq!((s[0].enumeration_id(), s[0].start_bus()), (2, 0xf0));
    assert_eq!(s[1].scope_type(), DeviceScopeType::MsiCapableHpet);
    assert!(!drhds[1].include_pci_all());
    assert_eq!(drhds[1].register_set_pages(), 1);

    let r = d.rmrrs().next().unwrap();
    assert_eq!((r.base(), r.limit()), (0x8c00_0000, 0x8c0f_ffff));
    let path = r.device_scopes().next().unwrap().path();
    assert_eq!(
        path,
        [
            PciPath {
                device: 0x1c,
                function: 0
            },
            PciPath {
                device: 0,
                function: 0
            },
            PciPath {
                device: 3,
                function: 1
            }
        ]
    );

    let a = d.atsrs().next().unwrap();
    assert_eq!(a.flags(), AtsrFlags::ALL_PORTS);
    assert_eq!(a.device_scopes().count(), 0);
    let h = d.rhsas().next().unwrap();
    assert_eq!((h.register_base(), h.proximity_domain()), (0xfed9_1000, 7));
    let n = d.andds().next().unwrap();
    assert_eq!(n.acpi_device_number(), 5);
    assert_eq!(n.object_name(), b"\\_SB.PCI0.I2C0");
    assert_eq!(n.object_name_str(), Some("\\_SB.PCI0.I2C0"));
    assert_eq!(d.satcs().next().unwrap().flags(), SatcFlags::ATC_REQUIRED);
    let sidp_scope = d.sidps().next().unwrap().device_scopes().next().unwrap();
    assert!(
        sidp_scope
            .flags()
            .contains(DeviceScopeFlags::ATC_REQUIRED | DeviceScopeFlags::ATC_HARDENED)
    );
    let unknown = d
        .structures()
        .find_map(|s| match s {
            RemappingStructure::Unknown(u) => Some(u),
            _ => None,
        })
        .unwrap();
    assert_eq!(unknown.bytes().len(), 16);
}

#[test]
fn zero_length_structure() {
    let mut t = dmar_header(38, 1);
    t.extend_from_slice(&[0, 0, 0, 0]); // type 0, length 0
    t.extend(drhd(1, 0, 0, 0xfed9_0000, &[]));
    let t = finish(t);
    assert_eq!(
        Dmar::parse(&t).unwrap_err(),
        AcpiError::ZeroLength { offset: FIRST }
    );
}

#[test]
fn structure_length_below_header_and_fixed_part() {
    let mut t = dmar_header(38, 1);
    t.extend_from_slice(&[0, 0, 2, 0]); // length 2 < 4
    let t = finish(t);
    assert_eq!(
        Dmar::parse(&t).unwrap_err(),
        AcpiError::LengthTooSmall {
            offset: FIRST,
            length: 2,
            minimum: 4
        }
    );

    // A DRHD of 12 bytes cannot hold its 16-byte fixed part.
    let mut t = dmar_header(38, 1);
    t.extend(structure(0, &[0; 8]));
    let t = finish(t);
    assert_eq!(
        Dmar::parse(&t).unwrap_err(),
        AcpiError::LengthTooSmall {
            offset: FIRST,
            length: 12,
            minimum: 16
        }
    );
}

#[test]
fn structure_length_past_table_end() {
    let mut t = dmar_header(38, 1);
    let mut s = drhd(1, 0, 0, 0xfed9_0000, &[]);
    s[2..4].copy_from_slice(&0x100u16.to_le_bytes());
    t.extend(s);
    let t = finish(t);
    assert_eq!(
        Dmar::parse(&t).unwrap_err(),
        AcpiError::LengthOverrun {
            offset: FIRST,
            length: 0x100,
            available: 16
        }
    );
}

#[test]
fn truncated_headers() {
    let t = full_table();
    // Fewer bytes than an ACPI header.
    assert_eq!(
        Dmar::parse(&t[..20]).unwrap_err(),
        AcpiError::Truncated {
            offset: 0,
            needed: 36,
            available: 20
        }
    );
    // A consistent table too short for the DMAR header.
    let mut short = t[..40].to_vec();
    short[4..8].copy_from_slice(&40u32.to_le_bytes());
    assert_eq!(
        Dmar::parse(&short).unwrap_err(),
        AcpiError::Truncated {
            offset: 0,
            needed: 48,
            available: 40
        }
    );
    // A structure header cut in half at the end of the table.
    let mut cut = dmar_header(38, 1);
    cut.extend_from_slice(&[0, 0]);
    let cut = finish(cut);
    assert_eq!(
        Dmar::parse(&cut).unwrap_err(),
        AcpiError::Truncated {
            offset: FIRST,
            needed: 4,
            available: 2
        }
    );
    // Bytes missing from the end of a table whose header still says the full length.
    assert_eq!(
        Dmar::parse(&t[..t.len() - 1]).unwrap_err(),
        AcpiError::LengthMismatch {
            declared: t.len() as u32,
            actual: t.len() - 1
        }
    );
}

#[test]
fn bad_device_scopes() {
    let scope_at = FIRST + 16;
    // Zero-length scope.
    let mut t = dmar_header(38, 1);
    t.extend(drhd(0, 0, 0, 0xfed9_0000, &[vec![1, 0, 0, 0, 0, 0, 2, 0]]));
    assert_eq!(
        Dmar::parse(&finish(t)).unwrap_err(),
        AcpiError::ZeroLength { offset: scope_at }
    );
    // Scope longer than its structure.
    let mut t = dmar_header(38, 1);
    t.extend(drhd(0, 0, 0, 0xfed9_0000, &[vec![1, 10, 0, 0, 0, 0, 2, 0]]));
    assert_eq!(
        Dmar::parse(&finish(t)).unwrap_err(),
        AcpiError::LengthOverrun {
            offset: scope_at,
            length: 10,
            available: 8
        }
    );
    // Path of 3 bytes.
    let mut t = dmar_header(38, 1);
    t.extend(drhd(
        0,
        0,
        0,
        0xfed9_0000,
        &[vec![1, 9, 0, 0, 0, 0, 2, 0, 0]],
    ));
    assert_eq!(
        Dmar::parse(&finish(t)).unwrap_err(),
        AcpiError::OddPathLength {
            offset: scope_at,
            length: 9
        }
    );
    // Scope shorter than its 6-byte fixed part.
    let mut t = dmar_header(38, 1);
    t.extend(drhd(0, 0, 0, 0xfed9_0000, &[vec![1, 4, 0, 0]]));
    assert_eq!(
        Dmar::parse(&finish(t)).unwrap_err(),
        AcpiError::Truncated {
            offset: scope_at,
            needed: 6,
            available: 4
        }
    );
}

#[test]
fn checksum_mismatch_is_reported_but_table_usable() {
    let mut t = full_table();
    t[9] = t[9].wrapping_add(1);
    let d = Dmar::parse(&t).unwrap();
    assert!(!d.checksum_valid());
    assert_eq!(d.drhds().count(), 2);
}

#[test]
fn wrong_signature_and_trailing_bytes() {
    let mut t = full_table();
    t[0..4].copy_from_slice(b"IORT");
    assert_eq!(
        Dmar::parse(&t).unwrap_err(),
        AcpiError::BadSignature {
            expected: *b"DMAR",
            found: *b"IORT"
        }
    );
    let mut t = full_table();
    t.push(0);
    assert!(matches!(
        Dmar::parse(&t).unwrap_err(),
        AcpiError::LengthMismatch { .. }
    ));
}

#[test]
fn errors_display_their_offset() {
    let e = AcpiError::ZeroLength { offset: 0x30 };
    assert_eq!(e.offset(), Some(0x30));
    assert!(e.to_string().contains("0x30"), "{e}");
}

/// Every shortened copy (with the Length field patched to match) and every single-byte change
/// of a valid table parses or fails cleanly; what parses can be walked completely.
#[test]
fn truncations_and_byte_flips_never_panic() {
    let t = full_table();
    let walk = |b: &[u8]| {
        if let Ok(d) = Dmar::parse(b) {
            for s in d.structures() {
                for sc in s.device_scopes() {
                    let _ = (sc.scope_type(), sc.path().len());
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
        for v in [0u8, 1, 2, 5, 6, 7, 0x7f, 0x80, 0xff] {
            let mut b = t.clone();
            b[i] = v;
            walk(&b);
        }
    }
}
