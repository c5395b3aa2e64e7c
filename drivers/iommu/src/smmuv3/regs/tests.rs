//! Decoders checked against the ID register values QEMU 10.0's SMMUv3 reports on the
//! `virt` machine (see docs/qemu-iommu.md).

use alloc::string::String;
use alloc::vec::Vec;

use super::*;

const QEMU_IDR0: u32 = 0x0d44_101b;
const QEMU_IDR1: u32 = 0x0273_0010;
const QEMU_IDR3: u32 = 0x1414;
const QEMU_IDR5: u32 = 0x74;
/// SMMUv3.1.
const QEMU_AIDR: u32 = 0x1;

fn qemu() -> Identification {
    Identification::from_raw([
        QEMU_IDR0, QEMU_IDR1, 0, QEMU_IDR3, 0, QEMU_IDR5, 0, QEMU_AIDR,
    ])
}

#[test]
fn qemu_idr0_matches_documented_facts() {
    let idr0 = Idr0::new(QEMU_IDR0);
    assert!(idr0.s1p() && idr0.s2p() && idr0.nested());
    assert_eq!(idr0.ttf(), Ttf::AArch64);
    assert!(idr0.cohacc());
    assert!(idr0.asid16() && idr0.vmid16());
    assert_eq!(idr0.st_level(), StLevel::TwoLevel);
    // No stall, no ATS, no PRI, no MSI, no HTTU.
    assert_eq!(idr0.stall_model(), StallModel::TerminateOnly);
    assert!(!idr0.ats() && !idr0.pri() && !idr0.msi());
    assert_eq!(idr0.httu(), Httu::None);
    // The rest of the value: aborts on termination, little-endian tables.
    assert!(idr0.term_model());
    assert_eq!(idr0.ttendian(), TtEndian::Little);
    for (name, set) in [
        ("BTM", idr0.btm()),
        ("DORMHINT", idr0.dormhint()),
        ("HYP", idr0.hyp()),
        ("NS1ATS", idr0.ns1ats()),
        ("SEV", idr0.sev()),
        ("ATOS", idr0.atos()),
        ("VMW", idr0.vmw()),
        ("CD2L", idr0.cd2l()),
        ("VATOS", idr0.vatos()),
        ("ATSRECERR", idr0.atsrecerr()),
        ("RME_IMPL", idr0.rme_impl()),
    ] {
        assert!(!set, "{name} should be clear in QEMU's SMMU_IDR0");
    }
    assert_eq!(idr0.reserved_bits(), 0);
}

#[test]
fn qemu_idr1_matches_documented_facts() {
    let idr1 = Idr1::new(QEMU_IDR1);
    assert_eq!(idr1.sidsize(), 16);
    assert_eq!(idr1.ssidsize(), 0);
    assert_eq!(idr1.eventqs(), 19);
    assert_eq!(idr1.cmdqs(), 19);
    assert_eq!(idr1.priqs(), 0);
    assert!(!idr1.attr_perms_ovr() && !idr1.attr_types_ovr() && !idr1.rel());
    assert!(!idr1.queues_preset() && !idr1.tables_preset() && !idr1.ecmdq());
}

#[test]
fn qemu_idr3_has_range_invalidation() {
    let idr3 = Idr3::new(QEMU_IDR3);
    assert!(idr3.ril());
    // The other bits QEMU sets: HAD, XNX and BBML level 2.
    assert!(idr3.had() && idr3.xnx());
    assert_eq!(idr3.bbml(), Bbml::Level2);
    for (name, set) in [
        ("PBHA", idr3.pbha()),
        ("PPS", idr3.pps()),
        ("MPAM", idr3.mpam()),
        ("FWB", idr3.fwb()),
        ("STT", idr3.stt()),
        ("E0PD", idr3.e0pd()),
        ("PTWNNC", idr3.ptwnnc()),
        ("DPT", idr3.dpt()),
    ] {
        assert!(!set, "{name} should be clear in QEMU's SMMU_IDR3");
    }
    assert_eq!(idr3.reserved_bits(), 0);
}

#[test]
fn qemu_idr5_oas_44_and_all_granules() {
    let idr5 = Idr5::new(QEMU_IDR5);
    assert_eq!(idr5.oas(), 0b100);
    assert_eq!(idr5.oas_bits(), Some(44));
    assert!(idr5.gran4k() && idr5.gran16k() && idr5.gran64k());
    assert_eq!(idr5.vax(), 0);
    assert_eq!(idr5.va_bits(), Some(48));
    assert_eq!(idr5.stall_max(), 0);
    assert_eq!(idr5.reserved_bits(), 0);
    assert_eq!(alloc::format!("{idr5}"), "OAS 44-bit 4K/16K/64K");
}

#[test]
fn qemu_aidr_is_smmuv3_1() {
    let aidr = Aidr::new(QEMU_AIDR);
    assert_eq!((aidr.arch_major_rev(), aidr.arch_minor_rev()), (0, 1));
    assert_eq!(aidr.smmuv3_minor(), Some(1));
    assert_eq!(alloc::format!("{aidr}"), "SMMUv3.1");
    assert_eq!(alloc::format!("{}", Aidr::new(0x12)), "SMMU arch 1.2");
}

#[test]
fn qemu_boot_log_line() {
    assert_eq!(
        alloc::format!("{}", qemu()),
        "SMMUv3.1 | S1P S2P nested-capable | AArch64 tables | 2-level STE | SID 16 bits SSID 0 \
         | ASID16 VMID16 | CMDQ 2^19 EVENTQ 2^19 | COHACC | HAD XNX RIL BBML2 | OAS 44-bit \
         4K/16K/64K"
    );
}

#[test]
fn boot_log_line_lists_optional_features() {
    // Stage 1 only, both table formats, linear stream table, 8-bit ASID/VMID, PRI with its
    // queue size, ATS, MSI, HTTU with dirty state, stall and 52-bit VA.
    let idr0 = (1 << 1) | (0b11 << 2) | (0b10 << 6) | (1 << 10) | (1 << 13) | (1 << 16);
    let idr1 = 20 | (5 << 6) | (8 << 11) | (10 << 16) | (12 << 21) | (1 << 31);
    let id = Identification::from_raw([idr0, idr1, 0, 0, 0, 0b101 | (1 << 4) | (1 << 10), 0, 2]);
    assert_eq!(
        alloc::format!("{id}"),
        "SMMUv3.2 | S1P | AArch32+AArch64 tables | linear STE | SID 20 bits SSID 5 | ASID8 \
         VMID8 | CMDQ 2^12 EVENTQ 2^10 PRIQ 2^8 | HTTU(AD) ATS MSI PRI stall | ECMDQ | OAS \
         48-bit 4K VA 52-bit"
    );
}

/// The decoded fields of a Debug line, without the raw value and the reserved bits.
fn decoded_fields(debug: &str) -> Vec<String> {
    debug
        .split(", ")
        .filter(|part| !part.contains("raw:") && !part.starts_with("reserved:"))
        .map(String::from)
        .collect()
}

/// Each bit of a register is either decoded (changes a field) or reported as reserved,
/// never both and never neither.
fn check_every_bit(name: &str, debug: impl Fn(u32) -> String, reserved: impl Fn(u32) -> u32) {
    let zero = decoded_fields(&debug(0));
    for n in 0..32 {
        let decoded = decoded_fields(&debug(1 << n)) != zero;
        let is_reserved = reserved(1 << n) != 0;
        assert!(
            decoded ^ is_reserved,
            "{name} bit {n}: decoded {decoded}, reserved {is_reserved}"
        );
    }
}

#[test]
fn every_idr_bit_is_decoded_or_reserved() {
    check_every_bit(
        "IDR0",
        |v| alloc::format!("{:?}", Idr0::new(v)),
        |v| Idr0::new(v).reserved_bits(),
    );
    check_every_bit("IDR1", |v| alloc::format!("{:?}", Idr1::new(v)), |_| 0);
    check_every_bit(
        "IDR2",
        |v| alloc::format!("{:?}", Idr2::new(v)),
        |v| Idr2::new(v).reserved_bits(),
    );
    check_every_bit(
        "IDR3",
        |v| alloc::format!("{:?}", Idr3::new(v)),
        |v| Idr3::new(v).reserved_bits(),
    );
    check_every_bit(
        "IDR5",
        |v| alloc::format!("{:?}", Idr5::new(v)),
        |v| Idr5::new(v).reserved_bits(),
    );
    check_every_bit("IIDR", |v| alloc::format!("{:?}", Iidr::new(v)), |_| 0);
}

#[test]
fn idr5_encodings() {
    assert_eq!(Idr5::new(0b110).oas_bits(), Some(52));
    assert_eq!(Idr5::new(0b111).oas_bits(), None);
    assert_eq!(alloc::format!("{}", Idr5::new(0b111)), "OAS reserved(7)");
    assert_eq!(Idr5::new(0xFFFF_0000).stall_max(), 0xFFFF);
    assert_eq!(Idr5::new(0b10 << 10).va_bits(), None);
}

#[test]
fn iidr_fields() {
    // ProductID 0x483, variant 2, revision 1, implementer 0x43B (Arm).
    let iidr = Iidr::new((0x483 << 20) | (2 << 16) | (1 << 12) | 0x43B);
    assert_eq!(iidr.product_id(), 0x483);
    assert_eq!(iidr.variant(), 2);
    assert_eq!(iidr.revision(), 1);
    assert_eq!(iidr.implementer(), 0x43B);
}

#[test]
fn cr0_vmw_field() {
    let cr0 = (Cr0::SMMUEN | Cr0::CMDQEN).with_vmw(5);
    assert_eq!(cr0.vmw(), 5);
    assert_eq!(cr0.bits(), 0b1 | 0b1000 | (5 << 6));
    assert_eq!(cr0.with_vmw(0), Cr0::SMMUEN | Cr0::CMDQEN);
}

#[test]
fn gerror_active_and_acknowledge() {
    // CMDQ_ERR newly raised, SFM_ERR raised and already acknowledged.
    let gerror = (Gerror::CMDQ_ERR | Gerror::SFM_ERR).bits();
    let gerrorn = Gerror::SFM_ERR.bits();
    assert_eq!(Gerror::active(gerror, gerrorn), Gerror::CMDQ_ERR);
    let ack = Gerror::acknowledge(gerrorn, Gerror::CMDQ_ERR);
    assert_eq!(ack, gerror);
    assert!(Gerror::active(gerror, ack).is_empty());
    // Reserved bits never show up as errors.
    assert!(Gerror::active(1 << 1, 0).is_empty());
}

#[test]
fn offsets_match_the_register_map() {
    assert_eq!(
        Identification::REGISTERS,
        [0x0, 0x4, 0x8, 0xC, 0x10, 0x14, 0x18, 0x1C]
    );
    assert_eq!(
        [CR0, CR0ACK, CR1, CR2, STATUSR, GBPA, AGBPA],
        [0x20, 0x24, 0x28, 0x2C, 0x40, 0x44, 0x48]
    );
    assert_eq!(
        [IRQ_CTRL, IRQ_CTRLACK, GERROR, GERRORN],
        [0x50, 0x54, 0x60, 0x64]
    );
    assert_eq!(
        [GERROR_IRQ_CFG0, GERROR_IRQ_CFG1, GERROR_IRQ_CFG2],
        [0x68, 0x70, 0x74]
    );
    assert_eq!(
        [
            STRTAB_BASE,
            STRTAB_BASE_CFG,
            CMDQ_BASE,
            CMDQ_PROD,
            CMDQ_CONS
        ],
        [0x80, 0x88, 0x90, 0x98, 0x9C]
    );
    assert_eq!(
        [EVENTQ_BASE, EVENTQ_IRQ_CFG0, PRIQ_BASE, PRIQ_IRQ_CFG0],
        [0xA0, 0xB0, 0xC0, 0xD0]
    );
    assert_eq!([EVENTQ_PROD, EVENTQ_CONS], [0x100A8, 0x100AC]);
    assert_eq!([PRIQ_PROD, PRIQ_CONS], [0x100C8, 0x100CC]);
    assert_eq!(EVENTQ_PROD - PAGE1, EVENTQ_PROD_PAGE0);
    assert_eq!(PRIQ_CONS - PAGE1, PRIQ_CONS_PAGE0);
}
