//! Decoders checked against the register values QEMU 10.0 reports for `intel-iommu`
//! (see docs/qemu-iommu.md), and the GCMD rule of §11.4.4.1.

use super::*;

/// VER_REG on QEMU.
const QEMU_VER: u32 = 0x10;
/// CAP_REG on QEMU, default and with `x-scalable-mode=on` / `x-pasid-mode=on`.
const QEMU_CAP: u64 = 0x00d2_008c_222f_0606;
/// CAP_REG on QEMU with `x-flts=on` (adds FS1GP).
const QEMU_CAP_FLTS: u64 = 0x01d2_008c_222f_0606;
/// ECAP_REG on QEMU: legacy mode (the default).
const QEMU_ECAP_LEGACY: u64 = 0x00f0_0f4a;
/// ECAP_REG on QEMU with `x-scalable-mode=on`.
const QEMU_ECAP_SCALABLE: u64 = 0x4800_80f0_0f4a;
/// ECAP_REG on QEMU with `x-scalable-mode=on,x-pasid-mode=on`.
const QEMU_ECAP_PASID: u64 = 0x4900_80f0_0f4a;
/// ECAP_REG on QEMU with `x-scalable-mode=on,x-flts=on,x-pasid-mode=on`.
const QEMU_ECAP_FLTS: u64 = 0x8900_00f0_0f4a;

#[test]
fn version_decodes_major_minor() {
    let v = Version::new(QEMU_VER);
    assert_eq!((v.major(), v.minor()), (1, 0));
    assert_eq!(alloc::format!("{v}"), "1.0");
    let v = Version::new(0x31);
    assert_eq!((v.major(), v.minor()), (3, 1));
}

#[test]
fn qemu_capability_matches_documented_facts() {
    let cap = Capability::new(QEMU_CAP);
    // One fault recording register at 0x220.
    assert_eq!(cap.nfr(), 0);
    assert_eq!(cap.fault_recording_count(), 1);
    assert_eq!(cap.fro(), 0x22);
    assert_eq!(cap.fault_recording_offset(), 0x220);
    assert_eq!(cap.frcd_reg_offset(0), Some(0x220));
    assert_eq!(cap.frcd_reg_offset(1), None);
    // PSI with MAMV 18.
    assert!(cap.psi());
    assert_eq!(cap.mamv(), 18);
    // 2M and 1G second-stage pages.
    assert_eq!(cap.sllps(), Sllps::PAGE_2M | Sllps::PAGE_1G);
    // 3- and 4-level tables, 48-bit guest addresses.
    assert_eq!(cap.sagaw(), Sagaw::AGAW39 | Sagaw::AGAW48);
    assert_eq!(cap.sagaw().max_width(), Some(48));
    assert_eq!(cap.sagaw().max_levels(), Some(4));
    assert_eq!(cap.mgaw(), 47);
    assert_eq!(cap.max_guest_address_width(), 48);
    // 16-bit domain ids.
    assert_eq!(cap.nd(), 6);
    assert_eq!(cap.domain_id_bits(), Some(16));
    assert_eq!(cap.domain_count(), Some(65536));
    assert!(cap.dwd() && cap.drd());
    for (name, set) in [
        ("AFL", cap.afl()),
        ("RWBF", cap.rwbf()),
        ("PLMR", cap.plmr()),
        ("PHMR", cap.phmr()),
        ("CM", cap.cm()),
        ("ZLR", cap.zlr()),
        ("FL1GP", cap.fl1gp()),
        ("PI", cap.pi()),
        ("FL5LP", cap.fl5lp()),
        ("ECMDS", cap.ecmds()),
        ("ESIRTPS", cap.esirtps()),
        ("ESRTPS", cap.esrtps()),
    ] {
        assert!(!set, "{name} should be clear in QEMU's CAP_REG");
    }
    assert_eq!(cap.reserved_bits(), 0);
}

#[test]
fn qemu_capability_with_flts_adds_only_fl1gp() {
    let cap = Capability::new(QEMU_CAP_FLTS);
    assert!(cap.fl1gp());
    assert_eq!(QEMU_CAP_FLTS ^ QEMU_CAP, 1 << 56);
    assert_eq!(cap.reserved_bits(), 0);
}

#[test]
fn qemu_ecap_legacy() {
    let ecap = ExtendedCapability::new(QEMU_ECAP_LEGACY);
    assert!(ecap.qi() && ecap.ir() && ecap.pt());
    assert!(!ecap.c() && !ecap.dt() && !ecap.eim() && !ecap.sc());
    assert_eq!(ecap.iro(), 0xf);
    assert_eq!(ecap.iva_reg_offset(), 0xf0);
    assert_eq!(ecap.iotlb_reg_offset(), 0xf8);
    assert_eq!(ecap.mhmv(), 15);
    assert!(!ecap.smts() && !ecap.slts() && !ecap.flts() && !ecap.srs());
    assert!(!ecap.pasid());
    assert_eq!(ecap.pasid_bits(), None);
    assert_eq!(ecap.reserved_bits(), 0);
}

#[test]
fn qemu_ecap_scalable_has_smts_slts_srs() {
    let ecap = ExtendedCapability::new(QEMU_ECAP_SCALABLE);
    assert!(ecap.smts() && ecap.slts() && ecap.srs());
    assert!(!ecap.flts() && !ecap.pasid() && !ecap.nest() && !ecap.prs());
    assert_eq!(ecap.pss(), 0);
    // Scalable mode leaves the legacy bits as they were.
    assert!(ecap.qi() && ecap.ir() && ecap.pt());
    assert_eq!(ecap.iva_reg_offset(), 0xf0);
    assert_eq!(ecap.reserved_bits(), 0);
}

#[test]
fn qemu_ecap_pasid_mode_adds_pasid_with_pss_zero() {
    let ecap = ExtendedCapability::new(QEMU_ECAP_PASID);
    assert!(ecap.smts() && ecap.slts() && ecap.srs() && ecap.pasid());
    assert_eq!(ecap.pss(), 0);
    assert_eq!(ecap.pasid_bits(), Some(1));
    assert!(!ecap.nest() && !ecap.prs() && !ecap.flts());
    assert_eq!(QEMU_ECAP_PASID ^ QEMU_ECAP_SCALABLE, 1 << 40);
}

#[test]
fn qemu_ecap_flts_has_smts_flts_pasid_and_not_slts() {
    let ecap = ExtendedCapability::new(QEMU_ECAP_FLTS);
    assert!(ecap.smts() && ecap.flts() && ecap.pasid());
    assert!(!ecap.slts() && !ecap.srs());
    assert!(!ecap.nest() && !ecap.prs());
    assert_eq!(ecap.pss(), 0);
    for (name, set) in [
        ("DT", ecap.dt()),
        ("EIM", ecap.eim()),
        ("SC", ecap.sc()),
        ("MTS", ecap.mts()),
        ("ERS", ecap.ers()),
        ("NWFS", ecap.nwfs()),
        ("EAFS", ecap.eafs()),
        ("DIT", ecap.dit()),
        ("PDS", ecap.pds()),
        ("VCS", ecap.vcs()),
        ("SLADS", ecap.slads()),
        ("SMPWCS", ecap.smpwcs()),
        ("RPS", ecap.rps()),
        ("PMS", ecap.pms()),
        ("ADMS", ecap.adms()),
        ("RPRIVS", ecap.rprivs()),
    ] {
        assert!(!set, "{name} should be clear in QEMU's ECAP_REG");
    }
    assert_eq!(ecap.reserved_bits(), 0);
}

#[test]
fn every_ecap_bit_is_decoded_or_reserved() {
    // Each single-bit value must show up in exactly one decoded field or in RESERVED.
    for n in 0..64 {
        let ecap = ExtendedCapability::new(1 << n);
        let debug = alloc::format!("{ecap:?}");
        let decoded =
            debug.contains(": true") || { ecap.iro() != 0 || ecap.mhmv() != 0 || ecap.pss() != 0 };
        let reserved = ecap.reserved_bits() != 0;
        assert!(
            decoded ^ reserved,
            "ECAP bit {n}: decoded {decoded}, reserved {reserved}"
        );
    }
}

#[test]
fn every_cap_bit_is_decoded_or_reserved() {
    for n in 0..64 {
        let cap = Capability::new(1 << n);
        let debug = alloc::format!("{cap:?}");
        let decoded = debug.contains(": true")
            || cap.nd() != 0
            || !cap.sagaw().is_empty()
            || cap.mgaw() != 0
            || cap.fro() != 0
            || !cap.sllps().is_empty()
            || cap.nfr() != 0
            || cap.mamv() != 0;
        let reserved = cap.reserved_bits() != 0;
        assert!(
            decoded ^ reserved,
            "CAP bit {n}: decoded {decoded}, reserved {reserved}"
        );
    }
}

#[test]
fn sagaw_reports_five_level_and_reserved_bits() {
    let cap = Capability::new(0b0_1110 << 8);
    assert_eq!(cap.sagaw().max_width(), Some(57));
    assert_eq!(cap.sagaw().max_levels(), Some(5));
    assert_eq!(alloc::format!("{}", cap.sagaw()), "39,48,57-bit");
    // Bits 0 and 4 are reserved: kept in the raw bits, never reported as a width.
    let reserved_only = Capability::new(0b1_0001 << 8).sagaw();
    assert_eq!(reserved_only.bits(), 0b1_0001);
    assert_eq!(reserved_only.max_width(), None);
    assert_eq!(alloc::format!("{reserved_only}"), "none");
}

#[test]
fn nd_reserved_encoding() {
    let cap = Capability::new(7);
    assert_eq!(cap.domain_id_bits(), None);
    assert_eq!(cap.domain_count(), None);
    assert_eq!(Capability::new(0).domain_count(), Some(16));
}

#[test]
fn fault_recording_registers_are_16_bytes_apart() {
    // FRO = 0x40 (offset 0x400), NFR = 7 (8 registers).
    let cap = Capability::new((0x40 << 24) | (7 << 40));
    assert_eq!(cap.fault_recording_count(), 8);
    assert_eq!(cap.frcd_reg_offset(0), Some(0x400));
    assert_eq!(cap.frcd_reg_offset(7), Some(0x470));
    assert_eq!(cap.frcd_reg_offset(8), None);
}

#[test]
fn boot_log_line_for_each_qemu_configuration() {
    let line = |cap, ecap| {
        alloc::format!(
            "{}",
            Identification::new(
                Version::new(QEMU_VER),
                Capability::new(cap),
                ExtendedCapability::new(ecap)
            )
        )
    };
    let cap_part = "SAGAW 39,48-bit MGAW 48 | 2M 1G pages | NFR 1 @0x220 | PSI MAMV 18 | ND 64K";
    assert_eq!(
        line(QEMU_CAP, QEMU_ECAP_LEGACY),
        alloc::format!("VT-d 1.0 | {cap_part} | DWD DRD | QI IR PT | IOTLB @0xf0 MHMV 15")
    );
    assert_eq!(
        line(QEMU_CAP, QEMU_ECAP_SCALABLE),
        alloc::format!(
            "VT-d 1.0 | {cap_part} | DWD DRD | QI IR PT SRS SMTS SLTS | IOTLB @0xf0 MHMV 15"
        )
    );
    assert_eq!(
        line(QEMU_CAP, QEMU_ECAP_PASID),
        alloc::format!(
            "VT-d 1.0 | {cap_part} | DWD DRD | QI IR PT SRS SMTS SLTS PASID(1-bit) | IOTLB @0xf0 \
             MHMV 15"
        )
    );
    assert_eq!(
        line(QEMU_CAP_FLTS, QEMU_ECAP_FLTS),
        alloc::format!(
            "VT-d 1.0 | {cap_part} | DWD DRD FL1GP | QI IR PT SMTS FLTS PASID(1-bit) | IOTLB \
             @0xf0 MHMV 15"
        )
    );
}

#[test]
fn display_reports_reserved_bits() {
    let cap = Capability::new(QEMU_CAP | (1 << 23));
    assert_eq!(cap.reserved_bits(), 1 << 23);
    assert!(alloc::format!("{cap}").ends_with(" | rsvd 0x800000"));
    let ecap = ExtendedCapability::new(QEMU_ECAP_LEGACY | (1 << 28));
    assert!(alloc::format!("{ecap}").ends_with(" | rsvd 0x10000000"));
}

#[test]
fn debug_lists_every_field() {
    let debug = alloc::format!("{:?}", Capability::new(QEMU_CAP));
    for name in [
        "nd: 6",
        "sagaw:",
        "mgaw: 47",
        "fro: 34",
        "nfr: 0",
        "mamv: 18",
        "esrtps: false",
    ] {
        assert!(debug.contains(name), "{name} missing from {debug}");
    }
    let debug = alloc::format!("{:?}", ExtendedCapability::new(QEMU_ECAP_FLTS));
    for name in [
        "iro: 15",
        "pss: 0",
        "flts: true",
        "slts: false",
        "rprivs: false",
    ] {
        assert!(debug.contains(name), "{name} missing from {debug}");
    }
}

#[test]
fn gcmd_bits_line_up_with_gsts() {
    assert_eq!(Gcmd::all().bits(), Gsts::all().bits());
    assert_eq!(Gcmd::PERSISTENT.union(Gcmd::ONE_SHOT), Gcmd::all());
    assert!(Gcmd::PERSISTENT.intersection(Gcmd::ONE_SHOT).is_empty());
    // The spec's mask keeps exactly the persistent bits of the defined ones.
    assert_eq!(
        Gcmd::STATUS_MASK & Gcmd::all().bits(),
        Gcmd::PERSISTENT.bits()
    );
}

#[test]
fn gcmd_for_set_drops_one_shot_status_and_keeps_enables() {
    // Translation and QI on, root pointer latched: RTPS must not re-issue SRTP.
    let gsts = Gsts::TES | Gsts::QIES | Gsts::RTPS;
    let cmd = Gcmd::for_set(gsts, Gcmd::SRTP).unwrap();
    assert_eq!(cmd.value, Gcmd::TE | Gcmd::QIE | Gcmd::SRTP);
    assert_eq!(cmd.status, Gsts::RTPS);
    assert!(cmd.status_set);
    assert!(!cmd.is_complete(Gsts::TES | Gsts::QIES));
    assert!(cmd.is_complete(gsts));

    let cmd = Gcmd::for_set(Gsts::IRTPS | Gsts::IRES | Gsts::CFIS, Gcmd::TE).unwrap();
    assert_eq!(cmd.value, Gcmd::IRE | Gcmd::CFI | Gcmd::TE);
    assert_eq!(cmd.status, Gsts::TES);
    assert!(cmd.is_complete(Gsts::TES | Gsts::IRES));
}

#[test]
fn gcmd_write_buffer_flush_completes_when_wbfs_clears() {
    let cmd = Gcmd::for_set(Gsts::TES, Gcmd::WBF).unwrap();
    assert_eq!(cmd.value, Gcmd::TE | Gcmd::WBF);
    assert_eq!(cmd.status, Gsts::WBFS);
    assert!(!cmd.is_complete(Gsts::TES | Gsts::WBFS));
    assert!(cmd.is_complete(Gsts::TES));
}

#[test]
fn gcmd_for_clear_only_for_one_persistent_bit() {
    let gsts = Gsts::TES | Gsts::QIES | Gsts::IRES | Gsts::RTPS | Gsts::IRTPS;
    let cmd = Gcmd::for_clear(gsts, Gcmd::TE).unwrap();
    assert_eq!(cmd.value, Gcmd::QIE | Gcmd::IRE);
    assert_eq!(cmd.status, Gsts::TES);
    assert!(!cmd.status_set);
    assert!(cmd.is_complete(Gsts::QIES | Gsts::IRES));
    assert!(!cmd.is_complete(gsts));

    assert_eq!(Gcmd::for_clear(gsts, Gcmd::SRTP), None);
    assert_eq!(Gcmd::for_clear(gsts, Gcmd::TE | Gcmd::QIE), None);
    assert_eq!(Gcmd::for_set(gsts, Gcmd::TE | Gcmd::QIE), None);
    assert_eq!(Gcmd::for_set(gsts, Gcmd::empty()), None);
}

#[test]
fn gcmd_preserved_ignores_reserved_status_bits() {
    let gsts = Gsts::from_bits_retain(0xFFFF_FFFF);
    assert_eq!(Gcmd::preserved(gsts), Gcmd::PERSISTENT);
}

#[test]
fn fsts_fault_record_index_and_rw1c() {
    let fsts = Fsts::from_bits_retain((3 << 8) | Fsts::PPF.bits() | Fsts::PFO.bits());
    assert_eq!(fsts.fri(), 3);
    assert!(fsts.contains(Fsts::PPF | Fsts::PFO));
    // Writing back the RW1C bits that were read clears PFO only.
    assert_eq!(fsts.intersection(Fsts::RW1C), Fsts::PFO);
    assert!(!Fsts::RW1C.intersects(Fsts::PPF | Fsts::FRI));
}

#[test]
fn offsets_match_the_register_table() {
    assert_eq!(
        [
            VER_REG, CAP_REG, ECAP_REG, GCMD_REG, GSTS_REG, RTADDR_REG, CCMD_REG
        ],
        [0x00, 0x08, 0x10, 0x18, 0x1C, 0x20, 0x28]
    );
    assert_eq!(
        [
            FSTS_REG,
            FECTL_REG,
            FEDATA_REG,
            FEADDR_REG,
            FEUADDR_REG,
            AFLOG_REG,
            PMEN_REG
        ],
        [0x34, 0x38, 0x3C, 0x40, 0x44, 0x58, 0x64]
    );
    assert_eq!(
        [IQH_REG, IQT_REG, IQA_REG, ICS_REG, IECTL_REG],
        [0x80, 0x88, 0x90, 0x9C, 0xA0]
    );
    assert_eq!(
        [IQERCD_REG, IRTA_REG, PQH_REG, PQT_REG, PQA_REG],
        [0xB0, 0xB8, 0xC0, 0xC8, 0xD0]
    );
    assert_eq!(
        [PRS_REG, PECTL_REG, PEUADDR_REG, MTRRCAP_REG],
        [0xDC, 0xE0, 0xEC, 0x100]
    );
    assert_eq!(mtrr_physbase_reg(0), Some(0x180));
    assert_eq!(mtrr_physmask_reg(9), Some(0x218));
    assert_eq!(mtrr_physbase_reg(10), None);
}
