//! ECAP_REG (§11.4.3).

use core::fmt;

use super::{bit, field, write_flags};

/// Extended Capability Register: extended remapping hardware capabilities (§11.4.3).
///
/// Every field has an accessor named after the spec's mnemonic; where the spec encodes a
/// quantity (`IRO`, `PSS`), a second accessor returns the quantity itself.
/// [`Debug`](fmt::Debug) lists every field; [`Display`](fmt::Display) prints the set
/// capabilities in bit order, then the PASID width, the IOTLB register offset and MHMV,
/// e.g. `QI IR PT SRS SMTS SLTS | IOTLB @0xf0 MHMV 15`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ExtendedCapability(u64);

impl ExtendedCapability {
    /// Bits this type does not decode: reserved or deprecated in rev 4.x (5, 19:18, 24,
    /// 28:27, 32, 50, 63:54).
    pub const RESERVED: u64 =
        (1 << 5) | (0b11 << 18) | (1 << 24) | (0b11 << 27) | (1 << 32) | (1 << 50) | (0x3ff << 54);

    /// Wraps a value read from ECAP_REG.
    pub const fn new(raw: u64) -> Self {
        Self(raw)
    }

    /// The register value as read.
    pub const fn raw(self) -> u64 {
        self.0
    }

    /// The reserved bits that are set (normally 0): deprecated or newer fields.
    pub const fn reserved_bits(self) -> u64 {
        self.0 & Self::RESERVED
    }

    /// C, bit 0: page-walk coherency — hardware snoops processor caches when walking
    /// remapping structures (legacy mode and the root/context tables) (§11.4.3).
    pub const fn c(self) -> bool {
        bit(self.0, 0)
    }

    /// QI, bit 1: queued invalidation supported (§11.4.3).
    pub const fn qi(self) -> bool {
        bit(self.0, 1)
    }

    /// DT, bit 2: device-TLBs (ATS) supported (§11.4.3).
    pub const fn dt(self) -> bool {
        bit(self.0, 2)
    }

    /// IR, bit 3: interrupt remapping supported (§11.4.3).
    pub const fn ir(self) -> bool {
        bit(self.0, 3)
    }

    /// EIM, bit 4: extended interrupt mode, 32-bit APIC IDs (x2APIC); valid when IR
    /// (§11.4.3).
    pub const fn eim(self) -> bool {
        bit(self.0, 4)
    }

    /// PT, bit 6: pass-through translation type supported (§11.4.3).
    pub const fn pt(self) -> bool {
        bit(self.0, 6)
    }

    /// SC, bit 7: snoop control — the SNP field of second-stage entries is honoured
    /// (§11.4.3).
    pub const fn sc(self) -> bool {
        bit(self.0, 7)
    }

    /// IRO, bits 17:8: offset of the IOTLB registers, in 16-byte units (§11.4.3).
    pub const fn iro(self) -> u16 {
        field(self.0, 8, 10) as u16
    }

    /// The byte offset of the IOTLB register group: IRO * 16. IVA_REG is at this offset
    /// (§11.4.3, §11.4.6.3).
    pub const fn iva_reg_offset(self) -> usize {
        self.iro() as usize * 16
    }

    /// The byte offset of IOTLB_REG, the IOTLB Invalidate Register: IRO * 16 + 8
    /// (§11.4.6.2).
    pub const fn iotlb_reg_offset(self) -> usize {
        self.iva_reg_offset() + 8
    }

    /// MHMV, bits 23:20: maximum handle mask value for interrupt entry cache invalidation;
    /// valid when IR (§11.4.3).
    pub const fn mhmv(self) -> u8 {
        field(self.0, 20, 4) as u8
    }

    /// MTS, bit 25: memory type support (§11.4.3).
    pub const fn mts(self) -> bool {
        bit(self.0, 25)
    }

    /// NEST, bit 26: nested translation (PGTT = nested) supported (§11.4.3).
    pub const fn nest(self) -> bool {
        bit(self.0, 26)
    }

    /// PRS, bit 29: page requests supported (§11.4.3).
    pub const fn prs(self) -> bool {
        bit(self.0, 29)
    }

    /// ERS, bit 30: execute requests supported (§11.4.3).
    pub const fn ers(self) -> bool {
        bit(self.0, 30)
    }

    /// SRS, bit 31: supervisor requests supported (§11.4.3).
    pub const fn srs(self) -> bool {
        bit(self.0, 31)
    }

    /// NWFS, bit 33: the no-write flag of device-TLB translation requests is supported
    /// (§11.4.3).
    pub const fn nwfs(self) -> bool {
        bit(self.0, 33)
    }

    /// EAFS, bit 34: extended-accessed flag supported in first-stage entries (§11.4.3).
    pub const fn eafs(self) -> bool {
        bit(self.0, 34)
    }

    /// PSS, bits 39:35: PASID size supported, encoded as width − 1; valid when PASID
    /// (§11.4.3).
    pub const fn pss(self) -> u8 {
        field(self.0, 35, 5) as u8
    }

    /// The supported PASID width in bits: PSS + 1, or `None` without PASID support
    /// (§11.4.3). Do not size PASID tables from this alone: emulations report PSS = 0.
    pub const fn pasid_bits(self) -> Option<u8> {
        if self.pasid() {
            Some(self.pss() + 1)
        } else {
            None
        }
    }

    /// PASID, bit 40: process address space IDs supported (§11.4.3).
    pub const fn pasid(self) -> bool {
        bit(self.0, 40)
    }

    /// DIT, bit 41: device-TLB invalidation throttling supported (§11.4.3).
    pub const fn dit(self) -> bool {
        bit(self.0, 41)
    }

    /// PDS, bit 42: page-request drain (PD flag of the wait descriptor) supported
    /// (§11.4.3).
    pub const fn pds(self) -> bool {
        bit(self.0, 42)
    }

    /// SMTS, bit 43: scalable-mode translation supported (§11.4.3).
    pub const fn smts(self) -> bool {
        bit(self.0, 43)
    }

    /// VCS, bit 44: virtual command (VCMD_REG) supported; emulations only (§11.4.3).
    pub const fn vcs(self) -> bool {
        bit(self.0, 44)
    }

    /// SLADS, bit 45: accessed/dirty flags in second-stage entries supported (rev 4.x:
    /// SSADS) (§11.4.3).
    pub const fn slads(self) -> bool {
        bit(self.0, 45)
    }

    /// SLTS, bit 46: second-stage-only translation (PGTT = 010b) supported in scalable
    /// mode (rev 4.x: SSTS) (§11.4.3).
    pub const fn slts(self) -> bool {
        bit(self.0, 46)
    }

    /// FLTS, bit 47: first-stage-only translation (PGTT = 001b) supported in scalable mode
    /// (rev 4.x: FSTS) (§11.4.3).
    pub const fn flts(self) -> bool {
        bit(self.0, 47)
    }

    /// SMPWCS, bit 48: page walks through scalable-mode PASID entries are coherent
    /// (§11.4.3).
    pub const fn smpwcs(self) -> bool {
        bit(self.0, 48)
    }

    /// RPS, bit 49: the RID_PASID field of scalable-mode context entries is supported
    /// (otherwise RID_PASID is 0) (§11.4.3).
    pub const fn rps(self) -> bool {
        bit(self.0, 49)
    }

    /// PMS, bit 51: performance monitoring supported (§11.4.3).
    pub const fn pms(self) -> bool {
        bit(self.0, 51)
    }

    /// ADMS, bit 52: abort DMA mode (RTADDR_REG.TTM = abort-DMA) supported (§11.4.3).
    pub const fn adms(self) -> bool {
        bit(self.0, 52)
    }

    /// RPRIVS, bit 53: RID_PRIV in scalable-mode context entries supported (§11.4.3).
    pub const fn rprivs(self) -> bool {
        bit(self.0, 53)
    }
}

impl From<u64> for ExtendedCapability {
    fn from(raw: u64) -> Self {
        Self(raw)
    }
}

impl fmt::Debug for ExtendedCapability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExtendedCapability")
            .field("raw", &format_args!("{:#018x}", self.0))
            .field("c", &self.c())
            .field("qi", &self.qi())
            .field("dt", &self.dt())
            .field("ir", &self.ir())
            .field("eim", &self.eim())
            .field("pt", &self.pt())
            .field("sc", &self.sc())
            .field("iro", &self.iro())
            .field("mhmv", &self.mhmv())
            .field("mts", &self.mts())
            .field("nest", &self.nest())
            .field("prs", &self.prs())
            .field("ers", &self.ers())
            .field("srs", &self.srs())
            .field("nwfs", &self.nwfs())
            .field("eafs", &self.eafs())
            .field("pss", &self.pss())
            .field("pasid", &self.pasid())
            .field("dit", &self.dit())
            .field("pds", &self.pds())
            .field("smts", &self.smts())
            .field("vcs", &self.vcs())
            .field("slads", &self.slads())
            .field("slts", &self.slts())
            .field("flts", &self.flts())
            .field("smpwcs", &self.smpwcs())
            .field("rps", &self.rps())
            .field("pms", &self.pms())
            .field("adms", &self.adms())
            .field("rprivs", &self.rprivs())
            .field("reserved", &format_args!("{:#x}", self.reserved_bits()))
            .finish()
    }
}

impl fmt::Display for ExtendedCapability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let flags = [
            (self.c(), "C"),
            (self.qi(), "QI"),
            (self.dt(), "DT"),
            (self.ir(), "IR"),
            (self.eim(), "EIM"),
            (self.pt(), "PT"),
            (self.sc(), "SC"),
            (self.mts(), "MTS"),
            (self.nest(), "NEST"),
            (self.prs(), "PRS"),
            (self.ers(), "ERS"),
            (self.srs(), "SRS"),
            (self.nwfs(), "NWFS"),
            (self.eafs(), "EAFS"),
            (self.dit(), "DIT"),
            (self.pds(), "PDS"),
            (self.smts(), "SMTS"),
            (self.vcs(), "VCS"),
            (self.slads(), "SLADS"),
            (self.slts(), "SLTS"),
            (self.flts(), "FLTS"),
            (self.smpwcs(), "SMPWCS"),
            (self.rps(), "RPS"),
            (self.pms(), "PMS"),
            (self.adms(), "ADMS"),
            (self.rprivs(), "RPRIVS"),
        ];
        if flags.iter().any(|&(set, _)| set) {
            write_flags(f, &flags)?;
        } else {
            f.write_str("no extended capabilities")?;
        }
        if let Some(bits) = self.pasid_bits() {
            write!(f, " PASID({bits}-bit)")?;
        }
        write!(f, " | IOTLB @{:#x}", self.iva_reg_offset())?;
        if self.ir() {
            write!(f, " MHMV {}", self.mhmv())?;
        }
        if self.reserved_bits() != 0 {
            write!(f, " | rsvd {:#x}", self.reserved_bits())?;
        }
        Ok(())
    }
}
