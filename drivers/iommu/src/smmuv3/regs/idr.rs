//! Identification registers: SMMU_IDR0..5, SMMU_IIDR, SMMU_AIDR (§6.3.1–§6.3.8).

use core::fmt;

use super::{bit, field};

macro_rules! register_newtype {
    ($(#[$meta:meta])* $name:ident, $reg:literal) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
        pub struct $name(u32);

        impl $name {
            #[doc = concat!("Wraps a value read from ", $reg, ".")]
            pub const fn new(raw: u32) -> Self {
                Self(raw)
            }

            /// The register value as read.
            pub const fn raw(self) -> u32 {
                self.0
            }
        }

        impl From<u32> for $name {
            fn from(raw: u32) -> Self {
                Self(raw)
            }
        }
    };
}

/// SMMU_IDR0.TTF: translation table formats supported (§6.3.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Ttf {
    /// 0b00: reserved.
    Reserved,
    /// 0b01: AArch32 (LPAE) only.
    AArch32,
    /// 0b10: AArch64 only.
    AArch64,
    /// 0b11: AArch32 and AArch64.
    AArch32AndAArch64,
}

/// SMMU_IDR0.HTTU: hardware translation table update of the Access flag and dirty state
/// (§6.3.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Httu {
    /// 0b00: no flag updates.
    None,
    /// 0b01: Access flag updates only.
    AccessFlag,
    /// 0b10: Access flag and dirty state updates.
    AccessFlagAndDirty,
    /// 0b11: reserved.
    Reserved,
}

/// SMMU_IDR0.TTENDIAN: translation table endianness supported (§6.3.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TtEndian {
    /// 0b00: mixed-endian, selected per CD/STE.
    Mixed,
    /// 0b01: reserved.
    Reserved,
    /// 0b10: little-endian only.
    Little,
    /// 0b11: big-endian only.
    Big,
}

/// SMMU_IDR0.STALL_MODEL: the fault models the SMMU supports (§6.3.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StallModel {
    /// 0b00: stall and terminate models both supported.
    StallAndTerminate,
    /// 0b01: stall is not supported; every fault terminates the transaction.
    TerminateOnly,
    /// 0b10: stall is forced; every fault stalls the transaction (CD.S must be 1).
    StallForced,
    /// 0b11: reserved.
    Reserved,
}

/// SMMU_IDR0.ST_LEVEL: stream table formats supported (§6.3.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StLevel {
    /// 0b00: linear stream table only.
    Linear,
    /// 0b01: linear and 2-level stream tables.
    TwoLevel,
    /// 0b1x: reserved.
    Reserved,
}

register_newtype!(
    /// SMMU_IDR0: translation, table and fault-model features (§6.3.1).
    ///
    /// [`Debug`](fmt::Debug) lists every field; the boot-log summary is
    /// [`Identification`](super::Identification)'s [`Display`](fmt::Display).
    Idr0,
    "SMMU_IDR0"
);

impl Idr0 {
    /// Bits this type does not decode: reserved (29, 31).
    pub const RESERVED: u32 = (1 << 29) | (1 << 31);

    /// The reserved bits that are set (normally 0).
    pub const fn reserved_bits(self) -> u32 {
        self.0 & Self::RESERVED
    }

    /// S2P, bit 0: stage 2 translation supported (§6.3.1).
    pub const fn s2p(self) -> bool {
        bit(self.0, 0)
    }

    /// S1P, bit 1: stage 1 translation supported (§6.3.1).
    pub const fn s1p(self) -> bool {
        bit(self.0, 1)
    }

    /// Both stages are implemented, so nested (stage 1 + stage 2) STEs are allowed
    /// (§6.3.1).
    pub const fn nested(self) -> bool {
        self.s1p() && self.s2p()
    }

    /// TTF, bits 3:2: translation table formats supported (§6.3.1).
    pub const fn ttf(self) -> Ttf {
        match field(self.0, 2, 2) {
            0b01 => Ttf::AArch32,
            0b10 => Ttf::AArch64,
            0b11 => Ttf::AArch32AndAArch64,
            _ => Ttf::Reserved,
        }
    }

    /// COHACC, bit 4: coherent access to tables, queues and MSIs supported (§6.3.1).
    pub const fn cohacc(self) -> bool {
        bit(self.0, 4)
    }

    /// BTM, bit 5: broadcast TLB maintenance supported (§6.3.1).
    pub const fn btm(self) -> bool {
        bit(self.0, 5)
    }

    /// HTTU, bits 7:6: hardware Access flag / dirty state updates (§6.3.1).
    pub const fn httu(self) -> Httu {
        match field(self.0, 6, 2) {
            0b00 => Httu::None,
            0b01 => Httu::AccessFlag,
            0b10 => Httu::AccessFlagAndDirty,
            _ => Httu::Reserved,
        }
    }

    /// DORMHINT, bit 8: SMMU_STATUSR.DORMANT hint supported (§6.3.1).
    pub const fn dormhint(self) -> bool {
        bit(self.0, 8)
    }

    /// HYP, bit 9: hypervisor stage 1 contexts (EL2 / EL2-E2H) supported (§6.3.1).
    pub const fn hyp(self) -> bool {
        bit(self.0, 9)
    }

    /// ATS, bit 10: PCIe ATS supported (§6.3.1).
    pub const fn ats(self) -> bool {
        bit(self.0, 10)
    }

    /// NS1ATS, bit 11: split-stage (stage 1 only) ATS not supported when set (§6.3.1).
    pub const fn ns1ats(self) -> bool {
        bit(self.0, 11)
    }

    /// ASID16, bit 12: 16-bit ASIDs supported (else 8-bit) (§6.3.1).
    pub const fn asid16(self) -> bool {
        bit(self.0, 12)
    }

    /// MSI, bit 13: message-signalled interrupts supported (§6.3.1).
    pub const fn msi(self) -> bool {
        bit(self.0, 13)
    }

    /// SEV, bit 14: the SMMU can generate WFE wake-up events (§6.3.1).
    pub const fn sev(self) -> bool {
        bit(self.0, 14)
    }

    /// ATOS, bit 15: global address translation operations (SMMU_GATOS_*) supported
    /// (§6.3.1).
    pub const fn atos(self) -> bool {
        bit(self.0, 15)
    }

    /// PRI, bit 16: PCIe page request interface supported (§6.3.1).
    pub const fn pri(self) -> bool {
        bit(self.0, 16)
    }

    /// VMW, bit 17: VMID wildcard matching for TLB invalidation supported (§6.3.1).
    pub const fn vmw(self) -> bool {
        bit(self.0, 17)
    }

    /// VMID16, bit 18: 16-bit VMIDs supported (else 8-bit) (§6.3.1).
    pub const fn vmid16(self) -> bool {
        bit(self.0, 18)
    }

    /// CD2L, bit 19: 2-level context descriptor tables supported (§6.3.1).
    pub const fn cd2l(self) -> bool {
        bit(self.0, 19)
    }

    /// VATOS, bit 20: virtual address translation operations (VATOS page) supported
    /// (§6.3.1).
    pub const fn vatos(self) -> bool {
        bit(self.0, 20)
    }

    /// TTENDIAN, bits 22:21: translation table endianness supported (§6.3.1).
    pub const fn ttendian(self) -> TtEndian {
        match field(self.0, 21, 2) {
            0b00 => TtEndian::Mixed,
            0b10 => TtEndian::Little,
            0b11 => TtEndian::Big,
            _ => TtEndian::Reserved,
        }
    }

    /// ATSRECERR, bit 23: errors for ATS translation requests are recorded as events
    /// (SMMUv3.3) (§6.3.1).
    pub const fn atsrecerr(self) -> bool {
        bit(self.0, 23)
    }

    /// STALL_MODEL, bits 25:24: fault models supported (§6.3.1).
    pub const fn stall_model(self) -> StallModel {
        match field(self.0, 24, 2) {
            0b00 => StallModel::StallAndTerminate,
            0b01 => StallModel::TerminateOnly,
            0b10 => StallModel::StallForced,
            _ => StallModel::Reserved,
        }
    }

    /// TERM_MODEL, bit 26: a terminated transaction always aborts; the RAZ/WI behaviour
    /// (CD.A = 0) is not supported (§6.3.1).
    pub const fn term_model(self) -> bool {
        bit(self.0, 26)
    }

    /// ST_LEVEL, bits 28:27: stream table formats supported (§6.3.1).
    pub const fn st_level(self) -> StLevel {
        match field(self.0, 27, 2) {
            0b00 => StLevel::Linear,
            0b01 => StLevel::TwoLevel,
            _ => StLevel::Reserved,
        }
    }

    /// RME_IMPL, bit 30: the Realm Management Extension is implemented (§6.3.1).
    pub const fn rme_impl(self) -> bool {
        bit(self.0, 30)
    }
}

impl fmt::Debug for Idr0 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Idr0")
            .field("raw", &format_args!("{:#010x}", self.0))
            .field("s2p", &self.s2p())
            .field("s1p", &self.s1p())
            .field("ttf", &self.ttf())
            .field("cohacc", &self.cohacc())
            .field("btm", &self.btm())
            .field("httu", &self.httu())
            .field("dormhint", &self.dormhint())
            .field("hyp", &self.hyp())
            .field("ats", &self.ats())
            .field("ns1ats", &self.ns1ats())
            .field("asid16", &self.asid16())
            .field("msi", &self.msi())
            .field("sev", &self.sev())
            .field("atos", &self.atos())
            .field("pri", &self.pri())
            .field("vmw", &self.vmw())
            .field("vmid16", &self.vmid16())
            .field("cd2l", &self.cd2l())
            .field("vatos", &self.vatos())
            .field("ttendian", &self.ttendian())
            .field("atsrecerr", &self.atsrecerr())
            .field("stall_model", &self.stall_model())
            .field("term_model", &self.term_model())
            .field("st_level", &self.st_level())
            .field("rme_impl", &self.rme_impl())
            .field("reserved", &format_args!("{:#x}", self.reserved_bits()))
            .finish()
    }
}

register_newtype!(
    /// SMMU_IDR1: table and queue sizes and presets (§6.3.2).
    Idr1,
    "SMMU_IDR1"
);

impl Idr1 {
    /// SIDSIZE, bits 5:0: StreamID width in bits (§6.3.2).
    pub const fn sidsize(self) -> u8 {
        field(self.0, 0, 6) as u8
    }

    /// SSIDSIZE, bits 10:6: SubstreamID width in bits; 0 means no substreams (§6.3.2).
    pub const fn ssidsize(self) -> u8 {
        field(self.0, 6, 5) as u8
    }

    /// PRIQS, bits 15:11: log2 of the maximum PRI queue entries (§6.3.2).
    pub const fn priqs(self) -> u8 {
        field(self.0, 11, 5) as u8
    }

    /// EVENTQS, bits 20:16: log2 of the maximum event queue entries (§6.3.2).
    pub const fn eventqs(self) -> u8 {
        field(self.0, 16, 5) as u8
    }

    /// CMDQS, bits 25:21: log2 of the maximum command queue entries (§6.3.2).
    pub const fn cmdqs(self) -> u8 {
        field(self.0, 21, 5) as u8
    }

    /// ATTR_PERMS_OVR, bit 26: incoming permission attributes can be overridden in the
    /// STE (§6.3.2).
    pub const fn attr_perms_ovr(self) -> bool {
        bit(self.0, 26)
    }

    /// ATTR_TYPES_OVR, bit 27: incoming memory attributes can be overridden in the STE
    /// (§6.3.2).
    pub const fn attr_types_ovr(self) -> bool {
        bit(self.0, 27)
    }

    /// REL, bit 28: preset table/queue base addresses are relative to the SMMU base
    /// (§6.3.2).
    pub const fn rel(self) -> bool {
        bit(self.0, 28)
    }

    /// QUEUES_PRESET, bit 29: queue base registers are fixed by the implementation
    /// (§6.3.2).
    pub const fn queues_preset(self) -> bool {
        bit(self.0, 29)
    }

    /// TABLES_PRESET, bit 30: stream table base registers are fixed by the
    /// implementation (§6.3.2).
    pub const fn tables_preset(self) -> bool {
        bit(self.0, 30)
    }

    /// ECMDQ, bit 31: enhanced command queue interfaces supported (SMMUv3.3) (§6.3.2).
    pub const fn ecmdq(self) -> bool {
        bit(self.0, 31)
    }
}

impl fmt::Debug for Idr1 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Idr1")
            .field("raw", &format_args!("{:#010x}", self.0))
            .field("sidsize", &self.sidsize())
            .field("ssidsize", &self.ssidsize())
            .field("priqs", &self.priqs())
            .field("eventqs", &self.eventqs())
            .field("cmdqs", &self.cmdqs())
            .field("attr_perms_ovr", &self.attr_perms_ovr())
            .field("attr_types_ovr", &self.attr_types_ovr())
            .field("rel", &self.rel())
            .field("queues_preset", &self.queues_preset())
            .field("tables_preset", &self.tables_preset())
            .field("ecmdq", &self.ecmdq())
            .finish()
    }
}

register_newtype!(
    /// SMMU_IDR2: location of the VATOS page (§6.3.3).
    Idr2,
    "SMMU_IDR2"
);

impl Idr2 {
    /// Bits this type does not decode: reserved (31:10).
    pub const RESERVED: u32 = !0x3FF;

    /// The reserved bits that are set (normally 0).
    pub const fn reserved_bits(self) -> u32 {
        self.0 & Self::RESERVED
    }

    /// BA_VATOS, bits 9:0: VATOS page offset from the SMMU base, in 64KB units; valid
    /// when SMMU_IDR0.VATOS (§6.3.3).
    pub const fn ba_vatos(self) -> u16 {
        field(self.0, 0, 10) as u16
    }
}

impl fmt::Debug for Idr2 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Idr2")
            .field("raw", &format_args!("{:#010x}", self.0))
            .field("ba_vatos", &self.ba_vatos())
            .field("reserved", &format_args!("{:#x}", self.reserved_bits()))
            .finish()
    }
}

/// SMMU_IDR3.BBML: break-before-make level supported for TLB entries (§6.3.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Bbml {
    /// 0b00: level 0 (no relaxation).
    Level0,
    /// 0b01: level 1.
    Level1,
    /// 0b10: level 2.
    Level2,
    /// 0b11: reserved.
    Reserved,
}

register_newtype!(
    /// SMMU_IDR3: SMMUv3.1+ optional features (§6.3.4).
    Idr3,
    "SMMU_IDR3"
);

impl Idr3 {
    /// Bits this type does not decode: reserved in SMMUv3.3 (1:0, 6, 31:16); SMMUv3.4+
    /// defines fields in 31:16 that are not decoded here.
    pub const RESERVED: u32 = 0b11 | (1 << 6) | 0xFFFF_0000;

    /// The reserved or undecoded bits that are set.
    pub const fn reserved_bits(self) -> u32 {
        self.0 & Self::RESERVED
    }

    /// HAD, bit 2: hierarchical attribute disables (CD.HAD0/HAD1) supported (§6.3.4).
    pub const fn had(self) -> bool {
        bit(self.0, 2)
    }

    /// PBHA, bit 3: page-based hardware attributes supported (§6.3.4).
    pub const fn pbha(self) -> bool {
        bit(self.0, 3)
    }

    /// XNX, bit 4: EL0/EL1 execute-never distinction at stage 2 supported (§6.3.4).
    pub const fn xnx(self) -> bool {
        bit(self.0, 4)
    }

    /// PPS, bit 5: a PRI response's PASID follows the request's PASID (§6.3.4).
    pub const fn pps(self) -> bool {
        bit(self.0, 5)
    }

    /// MPAM, bit 7: memory system resource partitioning and monitoring supported
    /// (§6.3.4).
    pub const fn mpam(self) -> bool {
        bit(self.0, 7)
    }

    /// FWB, bit 8: stage 2 forced write-back (STE.S2FWB) supported (§6.3.4).
    pub const fn fwb(self) -> bool {
        bit(self.0, 8)
    }

    /// STT, bit 9: small translation tables (larger T0SZ) supported (§6.3.4).
    pub const fn stt(self) -> bool {
        bit(self.0, 9)
    }

    /// RIL, bit 10: range-based TLB invalidation supported (§6.3.4).
    pub const fn ril(self) -> bool {
        bit(self.0, 10)
    }

    /// BBML, bits 12:11: break-before-make level supported (§6.3.4).
    pub const fn bbml(self) -> Bbml {
        match field(self.0, 11, 2) {
            0b00 => Bbml::Level0,
            0b01 => Bbml::Level1,
            0b10 => Bbml::Level2,
            _ => Bbml::Reserved,
        }
    }

    /// E0PD, bit 13: CD.E0PD0/E0PD1 supported (SMMUv3.3) (§6.3.4).
    pub const fn e0pd(self) -> bool {
        bit(self.0, 13)
    }

    /// PTWNNC, bit 14: table walks to Device memory are made as Normal Non-cacheable
    /// (SMMUv3.3) (§6.3.4).
    pub const fn ptwnnc(self) -> bool {
        bit(self.0, 14)
    }

    /// DPT, bit 15: device permission table supported (SMMUv3.3) (§6.3.4).
    pub const fn dpt(self) -> bool {
        bit(self.0, 15)
    }
}

impl fmt::Debug for Idr3 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Idr3")
            .field("raw", &format_args!("{:#010x}", self.0))
            .field("had", &self.had())
            .field("pbha", &self.pbha())
            .field("xnx", &self.xnx())
            .field("pps", &self.pps())
            .field("mpam", &self.mpam())
            .field("fwb", &self.fwb())
            .field("stt", &self.stt())
            .field("ril", &self.ril())
            .field("bbml", &self.bbml())
            .field("e0pd", &self.e0pd())
            .field("ptwnnc", &self.ptwnnc())
            .field("dpt", &self.dpt())
            .field("reserved", &format_args!("{:#x}", self.reserved_bits()))
            .finish()
    }
}

register_newtype!(
    /// SMMU_IDR4: IMPLEMENTATION DEFINED (§6.3.5); only the raw value is available.
    Idr4,
    "SMMU_IDR4"
);

impl fmt::Debug for Idr4 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Idr4({:#010x})", self.0)
    }
}

register_newtype!(
    /// SMMU_IDR5: output address size, granules, VA extension and stall limit (§6.3.6).
    Idr5,
    "SMMU_IDR5"
);

impl Idr5 {
    /// Bits this type does not decode: reserved in SMMUv3.3 (3, 9:7, 15:12); SMMUv3.4+
    /// defines fields in 8:7 that are not decoded here.
    pub const RESERVED: u32 = (1 << 3) | (0b111 << 7) | (0xF << 12);

    /// The reserved or undecoded bits that are set.
    pub const fn reserved_bits(self) -> u32 {
        self.0 & Self::RESERVED
    }

    /// OAS, bits 2:0: output address size, encoded (§6.3.6).
    pub const fn oas(self) -> u8 {
        field(self.0, 0, 3) as u8
    }

    /// The output address size in bits that OAS encodes (32, 36, 40, 42, 44, 48, 52), or
    /// `None` for a reserved encoding (§6.3.6).
    pub const fn oas_bits(self) -> Option<u8> {
        match self.oas() {
            0b000 => Some(32),
            0b001 => Some(36),
            0b010 => Some(40),
            0b011 => Some(42),
            0b100 => Some(44),
            0b101 => Some(48),
            0b110 => Some(52),
            _ => None,
        }
    }

    /// GRAN4K, bit 4: 4KB translation granule supported (§6.3.6).
    pub const fn gran4k(self) -> bool {
        bit(self.0, 4)
    }

    /// GRAN16K, bit 5: 16KB translation granule supported (§6.3.6).
    pub const fn gran16k(self) -> bool {
        bit(self.0, 5)
    }

    /// GRAN64K, bit 6: 64KB translation granule supported (§6.3.6).
    pub const fn gran64k(self) -> bool {
        bit(self.0, 6)
    }

    /// VAX, bits 11:10: virtual address extension, encoded (§6.3.6).
    pub const fn vax(self) -> u8 {
        field(self.0, 10, 2) as u8
    }

    /// The largest stage 1 input address size in bits that VAX encodes (0b00: 48,
    /// 0b01: 52), or `None` for an encoding not decoded here (§6.3.6).
    pub const fn va_bits(self) -> Option<u8> {
        match self.vax() {
            0b00 => Some(48),
            0b01 => Some(52),
            _ => None,
        }
    }

    /// STALL_MAX, bits 31:16: maximum number of outstanding stalled transactions
    /// (§6.3.6).
    pub const fn stall_max(self) -> u16 {
        field(self.0, 16, 16) as u16
    }
}

impl fmt::Debug for Idr5 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Idr5")
            .field("raw", &format_args!("{:#010x}", self.0))
            .field("oas", &self.oas())
            .field("gran4k", &self.gran4k())
            .field("gran16k", &self.gran16k())
            .field("gran64k", &self.gran64k())
            .field("vax", &self.vax())
            .field("stall_max", &self.stall_max())
            .field("reserved", &format_args!("{:#x}", self.reserved_bits()))
            .finish()
    }
}

impl fmt::Display for Idr5 {
    /// `OAS 44-bit 4K/16K/64K`, plus `VA 52-bit` when VAX extends the input size.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.oas_bits() {
            Some(bits) => write!(f, "OAS {bits}-bit")?,
            None => write!(f, "OAS reserved({})", self.oas())?,
        }
        let mut sep = " ";
        for (set, name) in [
            (self.gran4k(), "4K"),
            (self.gran16k(), "16K"),
            (self.gran64k(), "64K"),
        ] {
            if set {
                f.write_str(sep)?;
                f.write_str(name)?;
                sep = "/";
            }
        }
        match self.va_bits() {
            Some(48) => Ok(()),
            Some(bits) => write!(f, " VA {bits}-bit"),
            None => write!(f, " VAX {}", self.vax()),
        }
    }
}

register_newtype!(
    /// SMMU_IIDR: implementation identification (§6.3.7).
    Iidr,
    "SMMU_IIDR"
);

impl Iidr {
    /// Implementer, bits 11:0: JEP106 code of the implementer — bits 11:8 the continuation
    /// code, bits 6:0 the identity code (§6.3.7).
    pub const fn implementer(self) -> u16 {
        field(self.0, 0, 12) as u16
    }

    /// Revision, bits 15:12: minor revision of the product (§6.3.7).
    pub const fn revision(self) -> u8 {
        field(self.0, 12, 4) as u8
    }

    /// Variant, bits 19:16: major revision of the product (§6.3.7).
    pub const fn variant(self) -> u8 {
        field(self.0, 16, 4) as u8
    }

    /// ProductID, bits 31:20: implementation-defined product number (§6.3.7).
    pub const fn product_id(self) -> u16 {
        field(self.0, 20, 12) as u16
    }
}

impl fmt::Debug for Iidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Iidr")
            .field("raw", &format_args!("{:#010x}", self.0))
            .field("implementer", &format_args!("{:#05x}", self.implementer()))
            .field("revision", &self.revision())
            .field("variant", &self.variant())
            .field("product_id", &format_args!("{:#05x}", self.product_id()))
            .finish()
    }
}

register_newtype!(
    /// SMMU_AIDR: architecture revision (§6.3.8). Displays as `SMMUv3.<minor>`.
    Aidr,
    "SMMU_AIDR"
);

impl Aidr {
    /// ArchMinorRev, bits 3:0: the minor architecture revision, `x` in SMMUv3.x (§6.3.8).
    pub const fn arch_minor_rev(self) -> u8 {
        field(self.0, 0, 4) as u8
    }

    /// ArchMajorRev, bits 7:4: 0 for SMMUv3 (§6.3.8).
    pub const fn arch_major_rev(self) -> u8 {
        field(self.0, 4, 4) as u8
    }

    /// The SMMUv3 minor revision (`Some(1)` for SMMUv3.1), or `None` if ArchMajorRev is not
    /// SMMUv3's.
    pub const fn smmuv3_minor(self) -> Option<u8> {
        if self.arch_major_rev() == 0 {
            Some(self.arch_minor_rev())
        } else {
            None
        }
    }
}

impl fmt::Debug for Aidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Aidr")
            .field("raw", &format_args!("{:#010x}", self.0))
            .field("arch_major_rev", &self.arch_major_rev())
            .field("arch_minor_rev", &self.arch_minor_rev())
            .finish()
    }
}

impl fmt::Display for Aidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.smmuv3_minor() {
            Some(minor) => write!(f, "SMMUv3.{minor}"),
            None => write!(
                f,
                "SMMU arch {}.{}",
                self.arch_major_rev(),
                self.arch_minor_rev()
            ),
        }
    }
}

/// The IDR0 capabilities that the boot line lists as flags, in bit order.
pub(super) fn idr0_flags(idr0: Idr0) -> [(bool, &'static str); 17] {
    let httu = match idr0.httu() {
        Httu::None => None,
        Httu::AccessFlag => Some("HTTU(A)"),
        Httu::AccessFlagAndDirty => Some("HTTU(AD)"),
        Httu::Reserved => Some("HTTU(rsvd)"),
    };
    let stall = match idr0.stall_model() {
        StallModel::StallAndTerminate => Some("stall"),
        StallModel::TerminateOnly => None,
        StallModel::StallForced => Some("stall-forced"),
        StallModel::Reserved => Some("stall(rsvd)"),
    };
    [
        (idr0.cohacc(), "COHACC"),
        (idr0.btm(), "BTM"),
        (httu.is_some(), httu.unwrap_or("")),
        (idr0.dormhint(), "DORMHINT"),
        (idr0.hyp(), "HYP"),
        (idr0.ats(), "ATS"),
        (idr0.ns1ats(), "NS1ATS"),
        (idr0.msi(), "MSI"),
        (idr0.sev(), "SEV"),
        (idr0.atos(), "ATOS"),
        (idr0.pri(), "PRI"),
        (idr0.vmw(), "VMW"),
        (idr0.cd2l(), "CD2L"),
        (idr0.vatos(), "VATOS"),
        (idr0.atsrecerr(), "ATSRECERR"),
        (stall.is_some(), stall.unwrap_or("")),
        (idr0.rme_impl(), "RME"),
    ]
}

/// The IDR1 capabilities that the boot line lists as flags, in bit order.
pub(super) fn idr1_flags(idr1: Idr1) -> [(bool, &'static str); 6] {
    [
        (idr1.attr_perms_ovr(), "ATTR_PERMS_OVR"),
        (idr1.attr_types_ovr(), "ATTR_TYPES_OVR"),
        (idr1.rel(), "REL"),
        (idr1.queues_preset(), "QUEUES_PRESET"),
        (idr1.tables_preset(), "TABLES_PRESET"),
        (idr1.ecmdq(), "ECMDQ"),
    ]
}

/// The IDR3 capabilities that the boot line lists as flags, in bit order.
pub(super) fn idr3_flags(idr3: Idr3) -> [(bool, &'static str); 12] {
    let bbml = match idr3.bbml() {
        Bbml::Level0 => None,
        Bbml::Level1 => Some("BBML1"),
        Bbml::Level2 => Some("BBML2"),
        Bbml::Reserved => Some("BBML(rsvd)"),
    };
    [
        (idr3.had(), "HAD"),
        (idr3.pbha(), "PBHA"),
        (idr3.xnx(), "XNX"),
        (idr3.pps(), "PPS"),
        (idr3.mpam(), "MPAM"),
        (idr3.fwb(), "FWB"),
        (idr3.stt(), "STT"),
        (idr3.ril(), "RIL"),
        (bbml.is_some(), bbml.unwrap_or("")),
        (idr3.e0pd(), "E0PD"),
        (idr3.ptwnnc(), "PTWNNC"),
        (idr3.dpt(), "DPT"),
    ]
}
