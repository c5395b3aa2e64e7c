//! Register offsets and fields as the model reads them, re-derived from the Arm SMMUv3
//! specification (IHI 0070, chapter 6) on purpose: nothing here comes from `smmuv3::regs`,
//! so a mistake there cannot hide behind the same mistake here.

/// Extracts bits `hi:lo` (inclusive) of `v`.
pub(crate) const fn field(v: u64, hi: u32, lo: u32) -> u64 {
    (v >> lo) & (u64::MAX >> (63 - (hi - lo)))
}

/// Bit `n` of `v`.
pub(crate) const fn bit(v: u64, n: u32) -> bool {
    (v >> n) & 1 == 1
}

/// A mask of bits `hi:lo` (inclusive).
pub(crate) const fn mask(hi: u32, lo: u32) -> u64 {
    (u64::MAX >> (63 - (hi - lo))) << lo
}

// Page 0 register offsets (§6.2, "Memory map").
pub(crate) const IDR0: usize = 0x00;
pub(crate) const IDR5: usize = 0x14;
pub(crate) const IIDR: usize = 0x18;
pub(crate) const AIDR: usize = 0x1c;
pub(crate) const CR0: usize = 0x20;
pub(crate) const CR0ACK: usize = 0x24;
pub(crate) const CR1: usize = 0x28;
pub(crate) const CR2: usize = 0x2c;
pub(crate) const STATUSR: usize = 0x40;
pub(crate) const GBPA: usize = 0x44;
pub(crate) const IRQ_CTRL: usize = 0x50;
pub(crate) const IRQ_CTRLACK: usize = 0x54;
pub(crate) const GERROR: usize = 0x60;
pub(crate) const GERRORN: usize = 0x64;
pub(crate) const GERROR_IRQ_CFG0: usize = 0x68;
pub(crate) const GERROR_IRQ_CFG1: usize = 0x70;
pub(crate) const STRTAB_BASE: usize = 0x80;
pub(crate) const STRTAB_BASE_CFG: usize = 0x88;
pub(crate) const CMDQ_BASE: usize = 0x90;
pub(crate) const CMDQ_PROD: usize = 0x98;
pub(crate) const CMDQ_CONS: usize = 0x9c;
pub(crate) const EVENTQ_BASE: usize = 0xa0;
/// EVENTQ_PROD/CONS live in page 1 (0x100A8/0x100AC); the model also answers at the page 0
/// offsets, as implementations with `page0-only` register layouts do.
pub(crate) const EVENTQ_PROD: usize = 0xa8;
pub(crate) const EVENTQ_CONS: usize = 0xac;
pub(crate) const EVENTQ_IRQ_CFG0: usize = 0xb0;
pub(crate) const EVENTQ_IRQ_CFG1: usize = 0xb8;
pub(crate) const PRIQ_BASE: usize = 0xc0;
pub(crate) const PRIQ_PROD: usize = 0xc8;
pub(crate) const PRIQ_CONS: usize = 0xcc;
pub(crate) const PRIQ_IRQ_CFG0: usize = 0xd0;
pub(crate) const PRIQ_IRQ_CFG1: usize = 0xd8;
pub(crate) const GATOS_SID: usize = 0x108;
pub(crate) const GATOS_ADDR: usize = 0x110;
pub(crate) const GATOS_PAR: usize = 0x118;
/// Page 1 starts 64 KiB into the register space.
pub(crate) const PAGE1: usize = 0x1_0000;
/// Both pages.
pub(crate) const WINDOW: usize = 0x2_0000;

/// The registers that are 64 bits wide and may be accessed with one 64-bit access (§6.2).
pub(crate) const REGS64: [usize; 10] = [
    GERROR_IRQ_CFG0,
    STRTAB_BASE,
    CMDQ_BASE,
    EVENTQ_BASE,
    EVENTQ_IRQ_CFG0,
    PRIQ_BASE,
    PRIQ_IRQ_CFG0,
    GATOS_SID,
    GATOS_ADDR,
    GATOS_PAR,
];

// SMMU_IDR0 (§6.3.1).
pub(crate) const IDR0_S2P: u32 = 1 << 0;
pub(crate) const IDR0_S1P: u32 = 1 << 1;
/// TTF, bits 3:2: 0b10 = AArch64 tables only.
pub(crate) const IDR0_TTF_AARCH64: u32 = 0b10 << 2;
pub(crate) const IDR0_COHACC: u32 = 1 << 4;
/// HTTU, bits 7:6: 0b01 access flag, 0b10 access flag and dirty state.
pub(crate) const IDR0_HTTU_SHIFT: u32 = 6;
pub(crate) const IDR0_ATS: u32 = 1 << 10;
pub(crate) const IDR0_ASID16: u32 = 1 << 12;
pub(crate) const IDR0_MSI: u32 = 1 << 13;
pub(crate) const IDR0_SEV: u32 = 1 << 14;
pub(crate) const IDR0_PRI: u32 = 1 << 16;
pub(crate) const IDR0_VMID16: u32 = 1 << 18;
pub(crate) const IDR0_CD2L: u32 = 1 << 19;
/// TTENDIAN, bits 22:21: 0b00 mixed, 0b10 little-endian only, 0b11 big-endian only.
pub(crate) const IDR0_TTENDIAN_SHIFT: u32 = 21;
pub(crate) const IDR0_TTENDIAN_LE: u32 = 0b10 << IDR0_TTENDIAN_SHIFT;
/// STALL_MODEL, bits 25:24: 0b00 stall and terminate, 0b01 terminate only, 0b10 stall
/// forced.
pub(crate) const IDR0_STALL_MODEL_SHIFT: u32 = 24;
pub(crate) const IDR0_TERM_MODEL: u32 = 1 << 26;
/// ST_LEVEL, bits 28:27: 0b01 = 2-level stream tables supported.
pub(crate) const IDR0_ST_LEVEL_2LVL: u32 = 0b01 << 27;

pub(crate) const STALL_MODEL_NONE: u32 = 0b01;
pub(crate) const STALL_MODEL_FORCED: u32 = 0b10;

// SMMU_IDR1 (§6.3.2): SIDSIZE 5:0, SSIDSIZE 10:6, PRIQS 15:11, EVENTQS 20:16, CMDQS 25:21.
pub(crate) const fn idr1_sidsize(idr1: u32) -> u32 {
    idr1 & 0x3f
}
pub(crate) const fn idr1_ssidsize(idr1: u32) -> u32 {
    (idr1 >> 6) & 0x1f
}
pub(crate) const fn idr1_priqs(idr1: u32) -> u32 {
    (idr1 >> 11) & 0x1f
}
pub(crate) const fn idr1_eventqs(idr1: u32) -> u32 {
    (idr1 >> 16) & 0x1f
}
pub(crate) const fn idr1_cmdqs(idr1: u32) -> u32 {
    (idr1 >> 21) & 0x1f
}

// SMMU_IDR3 (§6.3.4).
/// HAD, bit 2: CD.HAD0/HAD1 (hierarchical attribute disables) are implemented.
pub(crate) const IDR3_HAD: u32 = 1 << 2;
/// RIL, bit 10: range invalidation.
pub(crate) const IDR3_RIL: u32 = 1 << 10;
/// STT, bit 9: small translation tables (T0SZ up to 48).
pub(crate) const IDR3_STT: u32 = 1 << 9;

// SMMU_IDR5 (§6.3.6): OAS 2:0, GRAN4K 4, GRAN16K 5, GRAN64K 6, STALL_MAX 31:16.
pub(crate) const IDR5_GRAN4K: u32 = 1 << 4;
pub(crate) const IDR5_GRAN16K: u32 = 1 << 5;
pub(crate) const IDR5_GRAN64K: u32 = 1 << 6;

/// The size in bits of an OAS / IPS / S2PS encoding (0b000 = 32 … 0b110 = 52).
pub(crate) const fn pa_bits(encoding: u64) -> u32 {
    match encoding {
        0 => 32,
        1 => 36,
        2 => 40,
        3 => 42,
        4 => 44,
        5 => 48,
        _ => 52,
    }
}

// SMMU_CR0 / CR0ACK (§6.3.9).
pub(crate) const CR0_SMMUEN: u32 = 1 << 0;
pub(crate) const CR0_PRIQEN: u32 = 1 << 1;
pub(crate) const CR0_EVENTQEN: u32 = 1 << 2;
pub(crate) const CR0_CMDQEN: u32 = 1 << 3;
pub(crate) const CR0_ATSCHK: u32 = 1 << 4;
/// VMW, bits 8:6.
pub(crate) const CR0_VMW: u32 = 0b111 << 6;

// SMMU_GBPA (§6.3.14): UPDATE 31, ABORT 20; the rest are attribute overrides.
pub(crate) const GBPA_UPDATE: u32 = 1 << 31;
pub(crate) const GBPA_ABORT: u32 = 1 << 20;
/// Every field of GBPA but UPDATE.
pub(crate) const GBPA_FIELDS: u32 = GBPA_ABORT | 0xf_3f1f;

// SMMU_IRQ_CTRL (§6.3.15).
pub(crate) const IRQ_CTRL_GERROR_IRQEN: u32 = 1 << 0;
pub(crate) const IRQ_CTRL_PRIQ_IRQEN: u32 = 1 << 1;
pub(crate) const IRQ_CTRL_EVENTQ_IRQEN: u32 = 1 << 2;

// SMMU_GERROR (§6.3.17).
pub(crate) const GERROR_CMDQ_ERR: u32 = 1 << 0;
pub(crate) const GERROR_EVENTQ_ABT_ERR: u32 = 1 << 2;
/// Every error bit GERROR defines (CMDQ_ERR … SFM_ERR).
pub(crate) const GERROR_ALL: u32 = 0x1fd;

// Queue base registers (§6.3.26, .27, .31): ADDR 51:5, LOG2SIZE 4:0.
pub(crate) const Q_BASE_ADDR: u64 = mask(51, 5);
/// Queue PROD/CONS: CMDQ_CONS.ERR 30:24; EVENTQ/PRIQ_PROD.OVFLG and CONS.OVACKFLG bit 31.
pub(crate) const Q_OVFLG: u32 = 1 << 31;
pub(crate) const CMDQ_CONS_ERR_SHIFT: u32 = 24;

// SMMU_STRTAB_BASE (§6.3.24): ADDR 51:6. STRTAB_BASE_CFG (§6.3.25): LOG2SIZE 5:0,
// SPLIT 10:6, FMT 17:16.
pub(crate) const STRTAB_ADDR: u64 = mask(51, 6);

// Queue entry sizes (§4.1, §7.2, §8.1).
pub(crate) const CMD_SIZE: u64 = 16;
pub(crate) const EVENT_SIZE: u64 = 32;
pub(crate) const PRI_SIZE: u64 = 16;
