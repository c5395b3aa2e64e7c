//! Register offsets, register fields and table-entry fields as the model reads them,
//! re-derived from the Intel VT-d Architecture Specification (rev 4.x) on purpose: nothing
//! here comes from `vtd::regs`, so a mistake there cannot hide behind the same mistake here.

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

// Register offsets (§11.4, Table "Address mapping for remapping hardware registers").
pub(crate) const VER_REG: usize = 0x00;
pub(crate) const CAP_REG: usize = 0x08;
pub(crate) const ECAP_REG: usize = 0x10;
pub(crate) const GCMD_REG: usize = 0x18;
pub(crate) const GSTS_REG: usize = 0x1c;
pub(crate) const RTADDR_REG: usize = 0x20;
pub(crate) const CCMD_REG: usize = 0x28;
pub(crate) const FSTS_REG: usize = 0x34;
pub(crate) const FECTL_REG: usize = 0x38;
pub(crate) const IQH_REG: usize = 0x80;
pub(crate) const IQT_REG: usize = 0x88;
pub(crate) const IQA_REG: usize = 0x90;
pub(crate) const ICS_REG: usize = 0x9c;
pub(crate) const IECTL_REG: usize = 0xa0;
pub(crate) const IQERCD_REG: usize = 0xb0;
pub(crate) const IRTA_REG: usize = 0xb8;
pub(crate) const PQH_REG: usize = 0xc0;
pub(crate) const PQT_REG: usize = 0xc8;
pub(crate) const PQA_REG: usize = 0xd0;
pub(crate) const PRS_REG: usize = 0xdc;
pub(crate) const PECTL_REG: usize = 0xe0;

// CAP_REG fields (§11.4.2).
/// ND, bits 2:0: domain-ID width is 4 + 2*ND bits.
pub(crate) fn cap_domain_bits(cap: u64) -> u32 {
    4 + 2 * field(cap, 2, 0) as u32
}
/// SAGAW, bits 12:8: bit 1 = 3-level (39-bit), bit 2 = 4-level, bit 3 = 5-level.
pub(crate) fn cap_sagaw(cap: u64) -> u64 {
    field(cap, 12, 8)
}
/// MGAW, bits 21:16, encoded as width - 1.
pub(crate) fn cap_mgaw(cap: u64) -> u32 {
    field(cap, 21, 16) as u32 + 1
}
/// FRO, bits 33:24, in 16-byte units.
pub(crate) fn cap_fro(cap: u64) -> usize {
    field(cap, 33, 24) as usize * 16
}
/// SLLPS bit 34: 2 MiB second-stage pages.
pub(crate) fn cap_sl_2m(cap: u64) -> bool {
    bit(cap, 34)
}
/// SLLPS bit 35: 1 GiB second-stage pages.
pub(crate) fn cap_sl_1g(cap: u64) -> bool {
    bit(cap, 35)
}
/// PSI, bit 39: page-selective invalidation.
pub(crate) fn cap_psi(cap: u64) -> bool {
    bit(cap, 39)
}
/// NFR, bits 47:40, encoded as count - 1.
pub(crate) fn cap_nfr(cap: u64) -> usize {
    field(cap, 47, 40) as usize + 1
}
/// MAMV, bits 53:48.
pub(crate) fn cap_mamv(cap: u64) -> u32 {
    field(cap, 53, 48) as u32
}
/// FS1GP (FL1GP), bit 56: 1 GiB first-stage pages.
pub(crate) fn cap_fs1gp(cap: u64) -> bool {
    bit(cap, 56)
}
/// FS5LP (FL5LP), bit 60: 5-level first-stage paging.
pub(crate) fn cap_fs5lp(cap: u64) -> bool {
    bit(cap, 60)
}

// ECAP_REG fields (§11.4.3).
pub(crate) fn ecap_qi(e: u64) -> bool {
    bit(e, 1)
}
pub(crate) fn ecap_dt(e: u64) -> bool {
    bit(e, 2)
}
pub(crate) fn ecap_ir(e: u64) -> bool {
    bit(e, 3)
}
pub(crate) fn ecap_pt(e: u64) -> bool {
    bit(e, 6)
}
/// IRO, bits 17:8, in 16-byte units: IVA_REG at IRO*16, IOTLB_REG 8 bytes above.
pub(crate) fn ecap_iro(e: u64) -> usize {
    field(e, 17, 8) as usize * 16
}
pub(crate) fn ecap_nest(e: u64) -> bool {
    bit(e, 26)
}
pub(crate) fn ecap_prs(e: u64) -> bool {
    bit(e, 29)
}
pub(crate) fn ecap_pasid(e: u64) -> bool {
    bit(e, 40)
}
pub(crate) fn ecap_smts(e: u64) -> bool {
    bit(e, 43)
}
pub(crate) fn ecap_slts(e: u64) -> bool {
    bit(e, 46)
}
pub(crate) fn ecap_flts(e: u64) -> bool {
    bit(e, 47)
}

// GCMD_REG / GSTS_REG bits (§11.4.4, §11.4.5): the same position in both registers.
pub(crate) const GCMD_TE: u32 = 1 << 31;
pub(crate) const GCMD_SRTP: u32 = 1 << 30;
pub(crate) const GCMD_SFL: u32 = 1 << 29;
pub(crate) const GCMD_EAFL: u32 = 1 << 28;
pub(crate) const GCMD_WBF: u32 = 1 << 27;
pub(crate) const GCMD_QIE: u32 = 1 << 26;
pub(crate) const GCMD_IRE: u32 = 1 << 25;
pub(crate) const GCMD_SIRTP: u32 = 1 << 24;
pub(crate) const GCMD_CFI: u32 = 1 << 23;

// FSTS_REG bits (§11.4.7.1).
pub(crate) const FSTS_PFO: u32 = 1 << 0;
pub(crate) const FSTS_PPF: u32 = 1 << 1;
pub(crate) const FSTS_IQE: u32 = 1 << 4;
pub(crate) const FSTS_ICE: u32 = 1 << 5;
pub(crate) const FSTS_ITE: u32 = 1 << 6;
/// The write-1-to-clear bits: PFO, AFO, APF, IQE, ICE, ITE.
pub(crate) const FSTS_RW1C: u32 = 0b111_1101;
/// FRI, bits 15:8.
pub(crate) const FSTS_FRI_SHIFT: u32 = 8;

/// IM (bit 31) and IP (bit 30) of FECTL/IECTL/PECTL (§11.4.7.2, §11.4.9.3, §11.4.10.5).
pub(crate) const CTL_IM: u32 = 1 << 31;
pub(crate) const CTL_IP: u32 = 1 << 30;

/// ICS_REG.IWC, bit 0 (§11.4.9.2).
pub(crate) const ICS_IWC: u32 = 1;
/// PRS_REG.PPR, bit 0, and PRO, bit 1 (§11.4.10.4).
pub(crate) const PRS_PPR: u32 = 1;
pub(crate) const PRS_PRO: u32 = 2;

/// RTADDR_REG.TTM, bits 11:10 (§11.4.6): 00 legacy, 01 scalable, 11 abort-DMA.
pub(crate) const RTADDR_TTM_LO: u32 = 10;

/// The interrupt address range (0xFEEx_xxxx): DMA output addresses here fault (LGN.4, SGN.8).
pub(crate) const INTERRUPT_RANGE: core::ops::RangeInclusive<u64> = 0xfee0_0000..=0xfeef_ffff;
