//! Stream table entries, context descriptors and level-1 descriptors (SMMUv3
//! spec §5.1, §5.2, §5.4), as typed values encoded to the 64-bit words the SMMU
//! reads.

use super::pagetable::{CdFields, Granule, SteFields};

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
    /// S1CIR / S1COR / S1CSH: how the CD table is fetched.
    pub walk: TableWalk,
}

/// Memory attributes of CD-table fetches (STE.S1CIR, S1COR, S1CSH, §5.2):
/// inner and outer cacheability (0b00 non-cacheable, 0b01 write-back
/// write-allocate, 0b10 write-through, 0b11 write-back no write-allocate) and
/// shareability (0b00 non, 0b10 outer, 0b11 inner).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TableWalk {
    pub inner: u8,
    pub outer: u8,
    pub shareability: u8,
}

impl TableWalk {
    /// Write-back cacheable, inner shareable: what vsva's own tables use.
    pub const WRITE_BACK_INNER_SHAREABLE: Self = Self {
        inner: 0b01,
        outer: 0b01,
        shareability: 0b11,
    };
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

impl Stage2 {
    /// The stage-2 half for a table with fields `f` (its `ste_fields`),
    /// under `vmid`, translation faults recorded (S2R).
    pub const fn for_table(vmid: u16, f: &SteFields) -> Self {
        Self {
            vmid,
            t0sz: f.s2t0sz,
            sl0: f.s2sl0,
            granule: f.s2tg,
            ps: f.s2ps,
            ttb: f.s2ttb,
            record_faults: true,
        }
    }
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
            let walk = &s1.walk;
            w[1] |= dss
                | (u64::from(walk.inner & 3) << 2)
                | (u64::from(walk.outer & 3) << 4)
                | (u64::from(walk.shareability & 3) << 6)
                | (u64::from(s1.stall_disable) << 27);
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
            // S2AA64 (51): AArch64 tables; S2R (58). S2PTW (54) where a
            // stage 1 is nested on it: a stage-1 table (maybe the guest's)
            // that points into Device memory at stage 2 faults rather than
            // have the SMMU read MMIO registers as descriptors (§5.2).
            let ptw = u64::from(s1.is_some());
            w[2] = u64::from(s2.vmid)
                | (vtcr << 32)
                | (1 << 51)
                | (ptw << 54)
                | (u64::from(s2.record_faults) << 58);
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
/// ARM's TCR_EL1): TTB0 translates the lower half, TTB1 the upper. The SMMU
/// picks the half from VA\[55\] (§3.4.1): an address translates through TTB1
/// only if bits 63 (55 with TBI) down to 64 − T1SZ are all ones, and TTB1's
/// table is indexed by the low 64 − T1SZ bits, so a `Stage1Table` of
/// 64 − T1SZ input bits maps upper-half address `va` at `va` with those top
/// bits cleared.
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
    /// HADn (§5.4, CD bit 65 / 129; with SMMU_IDR3.HAD, IGNORED without it):
    /// Hierarchical Attribute Disable. The APTable, PXNTable and UXNTable bits
    /// of this half's table descriptors no longer restrict what lies below.
    pub hierarchical_attribute_disable: bool,
    /// NSCFGn (§5.4, CD bit 64 / 128): the starting-level table is fetched
    /// with NS = 1. Used only for CDs reached from a Secure STE; IGNORED for
    /// the Non-secure streams this driver programs.
    pub start_table_non_secure: bool,
    /// E0PDn (§5.4, CD bit 66 / 130; with SMMU_IDR3.E0PD, RES0 without it):
    /// unprivileged accesses to this half take a translation fault
    /// (F_TRANSLATION), as TCR_EL1.E0PDn.
    pub unprivileged_access_disable: bool,
}

impl TableHalf {
    /// The lower half of a stage-1 table built by `Stage1Table` (its
    /// `cd_fields`); no HAD, NSCFG or E0PD.
    pub fn lower(f: &CdFields) -> Self {
        Self {
            ttb: f.ttb0,
            tsz: f.t0sz,
            granule: f.granule,
            irgn: f.ir0,
            orgn: f.or0,
            sh: f.sh0,
            top_byte_ignore: false,
            hierarchical_attribute_disable: false,
            start_table_non_secure: false,
            unprivileged_access_disable: false,
        }
    }

    /// The upper half with a `Stage1Table`'s fields: the same walk parameters,
    /// since the table's addresses are the low 64 − T1SZ bits of the
    /// upper-half addresses (see [`upper_address`](Self::upper_address)).
    pub fn upper(f: &CdFields) -> Self {
        Self::lower(f)
    }

    /// The upper-half address that a table address `offset` of this half
    /// (below 2^(64 − TnSZ)) stands for when the half is TTB1: `offset` with
    /// every bit from 64 − T1SZ up set.
    pub const fn upper_address(&self, offset: u64) -> u64 {
        offset | !(u64::MAX >> (self.tsz & 0x3f))
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

    /// NSCFGn 0, HADn 1, E0PDn 2 and TTBn 51:4 of the half's own word (CD
    /// word 1 for TTB0, word 2 for TTB1).
    fn table_word(&self) -> u64 {
        u64::from(self.start_table_non_secure)
            | (u64::from(self.hierarchical_attribute_disable) << 1)
            | (u64::from(self.unprivileged_access_disable) << 2)
            | (self.ttb & 0x000f_ffff_ffff_fff0)
    }
}

/// ASET (§5.4, CD bit 47): whether the CD's ASID is shared with PE processes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AsidSet {
    /// 0: the ASID and address space are a PE process's; matching broadcast
    /// TLB invalidations (TLBI ...IS on the PE) invalidate this context's
    /// entries too (shared virtual addressing with DVM).
    Shared,
    /// 1: an SMMU-local address space, invalidated only by SMMU commands, so
    /// a PE's broadcast TLBI by a coincidentally equal ASID leaves it alone.
    NonShared,
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
    /// ASET: the ASID's set.
    pub asid_set: AsidSet,
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
    /// WXN (§5.4, CD bit 36): Write Execute Never. An instruction fetch from
    /// any writable page of either half takes a permission fault.
    pub write_execute_never: bool,
    /// PAN (§5.4, CD bit 40): Privileged Access Never. A privileged data
    /// access to a page that unprivileged accesses may use (AP\[1\] = 1) takes
    /// a permission fault.
    pub privileged_access_never: bool,
    /// EPAN (§5.4, CD bit 123; with SMMU_IDR3.EPAN, RES0 without it): with
    /// PAN, pages that unprivileged accesses may only execute are covered too.
    pub enhanced_privileged_access_never: bool,
}

impl ContextDescriptor {
    /// The CD of stage-1 table fields `f` (see `Stage1Table::cd_fields`) as its
    /// lower half, with `asid`, fault recording (CD.R) and stalling (CD.S) as
    /// asked, no upper half, access flag faults on, no hardware updates, a
    /// non-shared ASID, and no WXN / PAN.
    pub fn for_table(f: &CdFields, asid: u16, record_faults: bool, stall: bool) -> Self {
        Self::for_half(
            TableHalf::lower(f),
            f.ips,
            f.mair,
            asid,
            record_faults,
            stall,
        )
    }

    /// A CD translating its lower half through `ttb0` (no upper half) with
    /// IPS `ips`, `mair`, `asid` (non-shared), fault recording (CD.R) and
    /// stalling (CD.S) as asked, access flag faults on, no hardware updates,
    /// no WXN / PAN.
    pub fn for_half(
        ttb0: TableHalf,
        ips: u8,
        mair: u64,
        asid: u16,
        record_faults: bool,
        stall: bool,
    ) -> Self {
        Self {
            ttb0: Some(ttb0),
            ttb1: None,
            ips,
            asid,
            asid_set: AsidSet::NonShared,
            mair,
            record_faults,
            stall,
            access_flag_faults_disabled: false,
            hardware_access_flag: false,
            hardware_dirty: false,
            write_execute_never: false,
            privileged_access_never: false,
            enhanced_privileged_access_never: false,
        }
    }

    /// The eight words (§5.4). Word 0: TTB0's fields 13:0, EPD0 14, TTB1's
    /// fields 29:16, EPD1 30, V 31, IPS 34:32, AFFD 35, WXN 36, TBI0/TBI1
    /// 38/39, PAN 40, AA64 41, HD 42, HA 43, S 44, R 45, A 46, ASET 47,
    /// ASID 63:48. Word 1: NSCFG0 0, HAD0 1, E0PD0 2, TTB0 51:4, EPAN 59.
    /// Word 2: NSCFG1 0, HAD1 1, E0PD1 2, TTB1 51:4. Word 3: MAIR (MAIR0 in
    /// 31:0, MAIR1 in 63:32).
    ///
    /// Always written as: V = 1; AA64 = 1 (the tables are VMSAv8-64, the only
    /// format `Stage1Table` builds); A = 1 (a terminated transaction aborts
    /// rather than reading zero, so a device sees its faults, and SMMUs with
    /// IDR0.TERM_MODEL, QEMU's among them, find A = 0 ILLEGAL); ENDI = 0
    /// (little-endian tables: `Stage1Table` writes its descriptors
    /// little-endian, and a big-endian CD would be ILLEGAL where IDR0.TTENDIAN
    /// is little-endian only, as in QEMU); UWXN (37) = 0, since it is IGNORED
    /// for VMSAv8-64 tables. The fields of features this driver's tables and
    /// STEs do not use stay 0 (their RES0 / disabled value): HAFT 67, PnCH
    /// 122, HWU0x 127:124, AIE 131, DS 186 (LPA2), PIE 187 (permission
    /// indirection, PIIU/PIIP in words 6–7), HWU1x 191:188, AMAIR (word 4,
    /// IMPLEMENTATION DEFINED, zero for generic software), PARTID/PMG (word 5,
    /// MPAM).
    pub fn encode(&self) -> [u64; 8] {
        let mut w = [0u64; 8];
        let aset = match self.asid_set {
            AsidSet::Shared => 0,
            AsidSet::NonShared => 1,
        };
        w[0] = (1 << 31) // V
            | (u64::from(self.ips & 7) << 32)
            | (u64::from(self.access_flag_faults_disabled) << 35)
            | (u64::from(self.write_execute_never) << 36)
            | (u64::from(self.privileged_access_never) << 40)
            | (1 << 41) // AA64
            | (u64::from(self.hardware_dirty) << 42)
            | (u64::from(self.hardware_access_flag) << 43)
            | (u64::from(self.stall) << 44)
            | (u64::from(self.record_faults) << 45)
            | (1 << 46) // A
            | (aset << 47)
            | (u64::from(self.asid) << 48);
        match &self.ttb0 {
            Some(h) => {
                w[0] |= h.tcr_bits(h.granule.tg0()) | (u64::from(h.top_byte_ignore) << 38);
                w[1] = h.table_word();
            }
            None => w[0] |= 1 << 14,
        }
        match &self.ttb1 {
            Some(h) => {
                w[0] |= (h.tcr_bits(tg1(h.granule)) << 16) | (u64::from(h.top_byte_ignore) << 39);
                w[2] = h.table_word();
            }
            None => w[0] |= 1 << 30,
        }
        w[1] |= u64::from(self.enhanced_privileged_access_never) << 59;
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
            walk: TableWalk::WRITE_BACK_INNER_SHAREABLE,
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
            hierarchical_attribute_disable: false,
            start_table_non_secure: false,
            unprivileged_access_disable: false,
        };
        let cd = ContextDescriptor {
            ttb0: Some(lower),
            ttb1: None,
            ips: 5,
            asid: 0x42,
            asid_set: AsidSet::NonShared,
            mair: 0xff04,
            record_faults: true,
            stall: false,
            access_flag_faults_disabled: false,
            hardware_access_flag: true,
            hardware_dirty: false,
            write_execute_never: false,
            privileged_access_never: false,
            enhanced_privileged_access_never: false,
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

    /// The CD words with only bit `n` of the 512-bit CD set, `n` numbered as
    /// in §5.4 (word `n / 64`, bit `n % 64`).
    fn cd_bit(n: u32) -> [u64; 8] {
        let mut w = [0; 8];
        w[n as usize / 64] = 1 << (n % 64);
        w
    }

    fn xor(a: [u64; 8], b: [u64; 8]) -> [u64; 8] {
        core::array::from_fn(|i| a[i] ^ b[i])
    }

    /// Each new field flips exactly its own bit of the CD, at the position
    /// §5.4 gives it, and the defaults keep the earlier encoding.
    #[test]
    fn cd_permission_controls_asid_set_and_per_half_fields_sit_at_their_spec_bits() {
        let half = TableHalf {
            ttb: 0x4010_0000,
            tsz: 25,
            granule: Granule::Size4K,
            irgn: 1,
            orgn: 1,
            sh: 3,
            top_byte_ignore: false,
            hierarchical_attribute_disable: false,
            start_table_non_secure: false,
            unprivileged_access_disable: false,
        };
        let base = ContextDescriptor {
            ttb0: Some(half),
            ttb1: Some(TableHalf {
                ttb: 0x4020_0000,
                ..half
            }),
            ips: 2,
            asid: 7,
            asid_set: AsidSet::NonShared,
            mair: 0x44_04ff,
            record_faults: true,
            stall: false,
            access_flag_faults_disabled: false,
            hardware_access_flag: false,
            hardware_dirty: false,
            write_execute_never: false,
            privileged_access_never: false,
            enhanced_privileged_access_never: false,
        };
        let w = base.encode();
        // Defaults: WXN, UWXN, PAN, ENDI clear, ASET = 1; no NSCFG/HAD/E0PD,
        // no EPAN; the table addresses alone in words 1 and 2.
        for n in [15, 36, 37, 40] {
            assert_eq!(w[0] >> n & 1, 0, "bit {n}");
        }
        assert_eq!(w[0] >> 47 & 1, 1, "ASET");
        assert_eq!((w[1], w[2]), (0x4010_0000, 0x4020_0000));
        // for_table keeps them.
        let f = CdFields {
            ttb0: 0x4010_0000,
            t0sz: 25,
            tg0: 0,
            granule: Granule::Size4K,
            ir0: 1,
            or0: 1,
            sh0: 3,
            ips: 2,
            mair: 0x44_04ff,
        };
        assert_eq!(
            ContextDescriptor::for_table(&f, 7, true, false),
            ContextDescriptor { ttb1: None, ..base }
        );

        let with = |cd: ContextDescriptor| xor(cd.encode(), w);
        let with0 = |h: TableHalf| {
            with(ContextDescriptor {
                ttb0: Some(h),
                ..base
            })
        };
        let with1 = |h: TableHalf| {
            with(ContextDescriptor {
                ttb1: Some(h),
                ..base
            })
        };
        let cases = [
            (
                with(ContextDescriptor {
                    write_execute_never: true,
                    ..base
                }),
                36,
                "WXN",
            ),
            (
                with(ContextDescriptor {
                    privileged_access_never: true,
                    ..base
                }),
                40,
                "PAN",
            ),
            (
                with(ContextDescriptor {
                    asid_set: AsidSet::Shared,
                    ..base
                }),
                47,
                "ASET",
            ),
            (
                with(ContextDescriptor {
                    enhanced_privileged_access_never: true,
                    ..base
                }),
                123,
                "EPAN",
            ),
            (
                with0(TableHalf {
                    start_table_non_secure: true,
                    ..half
                }),
                64,
                "NSCFG0",
            ),
            (
                with0(TableHalf {
                    hierarchical_attribute_disable: true,
                    ..half
                }),
                65,
                "HAD0",
            ),
            (
                with0(TableHalf {
                    unprivileged_access_disable: true,
                    ..half
                }),
                66,
                "E0PD0",
            ),
            (
                with1(TableHalf {
                    ttb: 0x4020_0000,
                    start_table_non_secure: true,
                    ..half
                }),
                128,
                "NSCFG1",
            ),
            (
                with1(TableHalf {
                    ttb: 0x4020_0000,
                    hierarchical_attribute_disable: true,
                    ..half
                }),
                129,
                "HAD1",
            ),
            (
                with1(TableHalf {
                    ttb: 0x4020_0000,
                    unprivileged_access_disable: true,
                    ..half
                }),
                130,
                "E0PD1",
            ),
            (
                with1(TableHalf {
                    ttb: 0x4020_0000,
                    top_byte_ignore: true,
                    ..half
                }),
                39,
                "TBI1",
            ),
        ];
        for (got, bit, name) in cases {
            assert_eq!(got, cd_bit(bit), "{name} is CD bit {bit} alone");
        }
        // EPAN is a CD-wide field: it stays in word 1 without a lower half.
        let no_lower = ContextDescriptor {
            ttb0: None,
            enhanced_privileged_access_never: true,
            ..base
        }
        .encode();
        assert_eq!(no_lower[1], 1 << 59);

        // TTB1's table addresses stand for the top of the input space.
        assert_eq!(half.upper_address(0x1000), 0xffff_ff80_0000_1000);
        assert_eq!(
            TableHalf { tsz: 16, ..half }.upper_address(0x7fff_ffff_f000),
            0xffff_7fff_ffff_f000
        );
        assert_eq!(TableHalf::upper(&f), TableHalf::lower(&f));
    }
}
