//! Stream table entries, context descriptors and level-1 descriptors (SMMUv3
//! spec §5.1, §5.2, §5.4), as typed values encoded to the 64-bit words the SMMU
//! reads.

use super::pagetable::{CdFields, Granule};

/// STE.Config (§5.2): what happens to a stream's transactions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamConfig {
    /// 0b000: abort, no event.
    Abort,
    /// 0b100: bypass both stages.
    Bypass,
    /// 0b101: stage 1 translates, stage 2 bypassed.
    Stage1(Stage1),
    /// 0b110: stage 1 bypassed, stage 2 translates.
    Stage2(Stage2),
    /// 0b111: stage 1 nested on stage 2: the CD table and stage-1 tables are
    /// IPAs, translated by stage 2.
    Nested(Stage1, Stage2),
}

/// STE.S1Fmt (§5.2): the CD table's shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CdTableFormat {
    /// 0b00: a linear table of 2^S1CDMax CDs.
    Linear,
    /// 0b01: 2-level, 4 KiB leaf tables of 64 CDs.
    TwoLevel4K,
    /// 0b10: 2-level, 64 KiB leaf tables of 1024 CDs.
    TwoLevel64K,
}

/// S1DSS (§5.2): what transactions without a substream ID use when S1CDMax > 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DefaultSubstream {
    /// 0b00: terminate (with an event).
    Terminate,
    /// 0b01: bypass stage 1.
    Bypass,
    /// 0b10: use CD 0 (substream 0 then is not usable with an SSID).
    Substream0,
}

/// The stage-1 half of an STE.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stage1 {
    /// S1ContextPtr: the CD (or level-1 CD table), physical or, nested, an IPA.
    pub context: u64,
    pub format: CdTableFormat,
    /// S1CDMax: log2 of the number of CDs (0: one CD, no substreams).
    pub cd_max: u8,
    pub default_substream: DefaultSubstream,
    /// S1STALLD: stalls disabled for this stream.
    pub stall_disable: bool,
}

/// The stage-2 half of an STE (VTCR-like fields and the table).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stage2 {
    /// S2VMID.
    pub vmid: u16,
    /// S2T0SZ: the IPA space is 2^(64 - t0sz) bytes.
    pub t0sz: u8,
    /// S2SL0: starting level (encoding per granule, Arm ARM D8).
    pub sl0: u8,
    /// S2TG: 0b00 4 KiB, 0b01 64 KiB, 0b10 16 KiB.
    pub granule: u8,
    /// S2PS: output size (IDR5.OAS encoding).
    pub ps: u8,
    /// S2TTB: the stage-2 table base.
    pub ttb: u64,
    /// S2R: record faults (events) for this stage.
    pub record_faults: bool,
}

/// A stream table entry (§5.2), 64 bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ste {
    pub config: StreamConfig,
    /// EATS (bits 93:92): ATS translation requests allowed (0b01: full ATS).
    pub ats: bool,
    /// MEV (bit 83): merge events.
    pub merge_events: bool,
}

impl Ste {
    /// The eight words, valid (V = 1).
    pub fn encode(&self) -> [u64; 8] {
        let mut w = [0u64; 8];
        let (config, s1, s2) = match self.config {
            StreamConfig::Abort => (0b000u64, None, None),
            StreamConfig::Bypass => (0b100, None, None),
            StreamConfig::Stage1(s1) => (0b101, Some(s1), None),
            StreamConfig::Stage2(s2) => (0b110, None, Some(s2)),
            StreamConfig::Nested(s1, s2) => (0b111, Some(s1), Some(s2)),
        };
        w[0] = 1 | (config << 1);
        // Memory attributes of table walks: inner/outer write-back, inner
        // shareable (S1CIR/S1COR/S1CSH = 0b01/0b01/0b11).
        w[1] = (u64::from(self.merge_events) << 19) | (u64::from(self.ats) << 28);
        if let Some(s1) = s1 {
            let fmt = match s1.format {
                CdTableFormat::Linear => 0,
                CdTableFormat::TwoLevel4K => 1,
                CdTableFormat::TwoLevel64K => 2,
            };
            w[0] |= (fmt << 4)
                | (s1.context & 0x000f_ffff_ffff_ffc0)
                | (u64::from(s1.cd_max & 0x1f) << 59);
            let dss = match s1.default_substream {
                DefaultSubstream::Terminate => 0,
                DefaultSubstream::Bypass => 1,
                DefaultSubstream::Substream0 => 2,
            };
            w[1] |=
                dss | (0b01 << 2) | (0b01 << 4) | (0b11 << 6) | (u64::from(s1.stall_disable) << 27);
        }
        if let Some(s2) = s2 {
            // VTCR fields at bits 50:32 of word 2: T0SZ 5:0, SL0 7:6, IR0 9:8,
            // OR0 11:10, SH0 13:12, TG 15:14, PS 18:16.
            let vtcr = u64::from(s2.t0sz & 0x3f)
                | (u64::from(s2.sl0 & 3) << 6)
                | (0b01 << 8)
                | (0b01 << 10)
                | (0b11 << 12)
                | (u64::from(s2.granule & 3) << 14)
                | (u64::from(s2.ps & 7) << 16);
            // S2AA64 (51): AArch64 tables; S2PTW (54) off; S2R (58).
            w[2] =
                u64::from(s2.vmid) | (vtcr << 32) | (1 << 51) | (u64::from(s2.record_faults) << 58);
            w[3] = s2.ttb & 0x000f_ffff_ffff_fff0;
        }
        w
    }
}

/// An invalid STE (V = 0): the stream's transactions are terminated with
/// C_BAD_STE events.
pub const INVALID_STE: [u64; 8] = [0; 8];

/// A level-1 stream table descriptor (§5.1): points at a level-2 table of
/// 2^(span - 1) STEs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct L1Descriptor {
    /// SPAN (bits 4:0).
    pub span: u8,
    /// L2Ptr (bits 51:6).
    pub table: u64,
}

impl L1Descriptor {
    pub fn encode(&self) -> u64 {
        u64::from(self.span & 0x1f) | (self.table & 0x000f_ffff_ffff_ffc0)
    }
}

/// One half of a CD's input address space (§5.4; the fields follow the Arm
/// ARM's TCR_EL1): TTB0 translates the lower half, TTB1 the upper.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TableHalf {
    /// TTBn: the table base (an IPA when nested).
    pub ttb: u64,
    /// TnSZ: the half covers 2^(64 - tsz) bytes.
    pub tsz: u8,
    /// TGn: the granule (TG0 and TG1 encode it differently).
    pub granule: Granule,
    /// IRGNn / ORGNn: table-walk cacheability (0b01 write-back, 0b00 non-cacheable).
    pub irgn: u8,
    pub orgn: u8,
    /// SHn: table-walk shareability (0b11 inner, 0b10 outer, 0b00 non).
    pub sh: u8,
    /// TBIn: the top byte of addresses in this half is ignored.
    pub top_byte_ignore: bool,
}

impl TableHalf {
    /// The lower half of a stage-1 table built by `Stage1Table` (its `cd_fields`).
    pub fn lower(f: &CdFields) -> Self {
        Self {
            ttb: f.ttb0,
            tsz: f.t0sz,
            granule: f.granule,
            irgn: f.ir0,
            orgn: f.or0,
            sh: f.sh0,
            top_byte_ignore: false,
        }
    }

    /// TnSZ 5:0, TGn 7:6, IRGNn 9:8, ORGNn 11:10, SHn 13:12, relative to the
    /// half's field base in CD word 0 (0 for TTB0, 16 for TTB1).
    fn tcr_bits(&self, tg: u8) -> u64 {
        u64::from(self.tsz & 0x3f)
            | (u64::from(tg & 3) << 6)
            | (u64::from(self.irgn & 3) << 8)
            | (u64::from(self.orgn & 3) << 10)
            | (u64::from(self.sh & 3) << 12)
    }
}

/// A context descriptor (§5.4), 64 bytes: one stage-1 address space.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ContextDescriptor {
    /// The lower half; `None` sets EPD0 (every lower address faults).
    pub ttb0: Option<TableHalf>,
    /// The upper half; `None` sets EPD1.
    pub ttb1: Option<TableHalf>,
    /// IPS: intermediate physical size (IDR5.OAS encoding).
    pub ips: u8,
    /// ASID.
    pub asid: u16,
    /// MAIR value for the tables' AttrIndx fields.
    pub mair: u64,
    /// R: record faults as events.
    pub record_faults: bool,
    /// S: stall faulting transactions (where the stall model allows).
    pub stall: bool,
    /// AFFD: an access flag of 0 does not fault.
    pub access_flag_faults_disabled: bool,
    /// HA: hardware sets access flags (with IDR0.HTTU).
    pub hardware_access_flag: bool,
    /// HD: hardware dirty state via DBM (with IDR0.HTTU = 2; needs HA).
    pub hardware_dirty: bool,
}

impl ContextDescriptor {
    /// The CD of stage-1 table fields `f` (see `Stage1Table::cd_fields`) as its
    /// lower half, with `asid`, fault recording (CD.R) and stalling (CD.S) as
    /// asked, no upper half, access flag faults on, no hardware updates.
    pub fn for_table(f: &CdFields, asid: u16, record_faults: bool, stall: bool) -> Self {
        Self {
            ttb0: Some(TableHalf::lower(f)),
            ttb1: None,
            ips: f.ips,
            asid,
            mair: f.mair,
            record_faults,
            stall,
            access_flag_faults_disabled: false,
            hardware_access_flag: false,
            hardware_dirty: false,
        }
    }

    /// The eight words: V = 1, AA64 = 1, A = 1 (abort on fault rather than
    /// RAZ/WI), ASET = 1 (a shared-ASID set needs no broadcast TLBI matching).
    /// Word 0 (§5.4): TTB0's fields 13:0, EPD0 14, TTB1's fields 29:16, EPD1 30,
    /// V 31, IPS 34:32, AFFD 35, TBI0/TBI1 38/39, AA64 41, HD 42, HA 43, S 44,
    /// R 45, A 46, ASET 47, ASID 63:48; TTB0 51:4 in word 1, TTB1 in word 2,
    /// MAIR in word 3.
    pub fn encode(&self) -> [u64; 8] {
        let mut w = [0u64; 8];
        w[0] = (1 << 31) // V
            | (u64::from(self.ips & 7) << 32)
            | (u64::from(self.access_flag_faults_disabled) << 35)
            | (1 << 41) // AA64
            | (u64::from(self.hardware_dirty) << 42)
            | (u64::from(self.hardware_access_flag) << 43)
            | (u64::from(self.stall) << 44)
            | (u64::from(self.record_faults) << 45)
            | (1 << 46) // A
            | (1 << 47) // ASET
            | (u64::from(self.asid) << 48);
        match &self.ttb0 {
            Some(h) => {
                w[0] |= h.tcr_bits(h.granule.tg0()) | (u64::from(h.top_byte_ignore) << 38);
                w[1] = h.ttb & 0x000f_ffff_ffff_fff0;
            }
            None => w[0] |= 1 << 14,
        }
        match &self.ttb1 {
            Some(h) => {
                w[0] |= (h.tcr_bits(tg1(h.granule)) << 16) | (u64::from(h.top_byte_ignore) << 39);
                w[2] = h.ttb & 0x000f_ffff_ffff_fff0;
            }
            None => w[0] |= 1 << 30,
        }
        w[3] = self.mair;
        w
    }
}

/// TG1 (Arm ARM TCR_EL1.TG1): 0b01 16 KiB, 0b10 4 KiB, 0b11 64 KiB.
const fn tg1(granule: Granule) -> u8 {
    match granule {
        Granule::Size16K => 0b01,
        Granule::Size4K => 0b10,
        Granule::Size64K => 0b11,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ste_words_carry_config_pointers_and_stage2_fields() {
        let s2 = Stage2 {
            vmid: 9,
            t0sz: 24,
            sl0: 1,
            granule: 0,
            ps: 2,
            ttb: 0x8000_1000,
            record_faults: true,
        };
        let w = Ste {
            config: StreamConfig::Stage2(s2),
            ats: false,
            merge_events: false,
        }
        .encode();
        assert_eq!(w[0], 1 | (0b110 << 1));
        assert_eq!(w[2] & 0xffff, 9);
        assert_eq!((w[2] >> 32) & 0x3f, 24);
        assert_eq!((w[2] >> 38) & 3, 1);
        assert_eq!((w[2] >> 48) & 7, 2);
        assert_ne!(w[2] & (1 << 51), 0, "S2AA64");
        assert_ne!(w[2] & (1 << 58), 0, "S2R");
        assert_eq!(w[3], 0x8000_1000);
        let s1 = Stage1 {
            context: 0x4000_0040,
            format: CdTableFormat::Linear,
            cd_max: 0,
            default_substream: DefaultSubstream::Terminate,
            stall_disable: true,
        };
        let w = Ste {
            config: StreamConfig::Nested(s1, s2),
            ats: false,
            merge_events: false,
        }
        .encode();
        assert_eq!(w[0] & 0xf, 1 | (0b111 << 1));
        assert_eq!(w[0] & 0x000f_ffff_ffff_ffc0, 0x4000_0040);
        assert_ne!(w[1] & (1 << 27), 0);
        assert_eq!(
            Ste {
                config: StreamConfig::Bypass,
                ats: false,
                merge_events: false
            }
            .encode()[0],
            0b1001
        );
    }

    #[test]
    fn cd_words_carry_translation_control_asid_and_table() {
        let lower = TableHalf {
            ttb: 0x4010_0000,
            tsz: 16,
            granule: Granule::Size64K,
            irgn: 1,
            orgn: 1,
            sh: 3,
            top_byte_ignore: true,
        };
        let cd = ContextDescriptor {
            ttb0: Some(lower),
            ttb1: None,
            ips: 5,
            asid: 0x42,
            mair: 0xff04,
            record_faults: true,
            stall: false,
            access_flag_faults_disabled: false,
            hardware_access_flag: true,
            hardware_dirty: false,
        };
        let w = cd.encode();
        let field = |lo: u32, bits: u32| (w[0] >> lo) & ((1 << bits) - 1);
        assert_eq!(field(0, 6), 16, "T0SZ");
        assert_eq!(field(6, 2), 0b01, "TG0 64 KiB");
        assert_eq!((field(8, 2), field(10, 2), field(12, 2)), (1, 1, 3));
        assert_eq!(field(14, 1), 0, "EPD0");
        assert_eq!(field(30, 1), 1, "EPD1: no upper half");
        assert_eq!(field(31, 1), 1, "V");
        assert_eq!(field(32, 3), 5, "IPS");
        assert_eq!((field(38, 1), field(39, 1)), (1, 0), "TBI0, TBI1");
        assert_eq!(
            (field(41, 1), field(42, 1), field(43, 1)),
            (1, 0, 1),
            "AA64 HD HA"
        );
        assert_eq!((field(44, 1), field(45, 1)), (0, 1), "S R");
        assert_eq!(w[0] >> 48, 0x42);
        assert_eq!(w[1], 0x4010_0000);
        assert_eq!(w[2], 0);
        assert_eq!(w[3], 0xff04);

        // Upper half only: EPD0 set, TTB1's fields at 29:16 with TG1's own
        // encoding (4 KiB is 0b10 there), TTB1 in word 2.
        let upper = TableHalf {
            ttb: 0x8000_2000,
            tsz: 25,
            granule: Granule::Size4K,
            top_byte_ignore: false,
            ..lower
        };
        let w = ContextDescriptor {
            ttb0: None,
            ttb1: Some(upper),
            ..cd
        }
        .encode();
        let field = |lo: u32, bits: u32| (w[0] >> lo) & ((1 << bits) - 1);
        assert_eq!((field(14, 1), field(30, 1)), (1, 0), "EPD0, EPD1");
        assert_eq!(field(0, 14), 0, "no TTB0 fields");
        assert_eq!(field(16, 6), 25, "T1SZ");
        assert_eq!(field(22, 2), 0b10, "TG1 4 KiB");
        assert_eq!(field(28, 2), 3, "SH1");
        assert_eq!((field(38, 1), field(39, 1)), (0, 0));
        assert_eq!((w[1], w[2]), (0, 0x8000_2000));
        assert_eq!(
            L1Descriptor {
                span: 9,
                table: 0x5000
            }
            .encode(),
            0x5009
        );
    }
}
