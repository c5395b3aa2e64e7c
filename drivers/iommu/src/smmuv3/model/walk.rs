//! Configuration structures and translation tables as the model decodes them: Stream
//! Table Entries (§5.2), Level-1 stream table descriptors (§5.1), Context Descriptors
//! (§5.4), Level-1 CD descriptors (§5.3), and VMSAv8-64 stage-1 and stage-2 translation
//! table walks (Arm ARM D8) with 4K/16K/64K granules.

use super::bits::*;
use super::event::{Class, EventType};

/// A fault met while locating configuration or walking tables, before the model decides
/// whether to record it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct WalkFault {
    pub event: EventType,
    pub s2: bool,
    pub class: Class,
    pub ipa: u64,
    pub fetch: u64,
}

impl WalkFault {
    pub(crate) fn config(event: EventType) -> Self {
        Self {
            event,
            s2: false,
            class: Class::In,
            ipa: 0,
            fetch: 0,
        }
    }

    pub(crate) fn fetch(event: EventType, addr: u64) -> Self {
        Self {
            fetch: addr,
            ..Self::config(event)
        }
    }
}

/// STE.Config (§5.2), bits 3:1 of word 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Config {
    /// 0b000: abort all traffic, no event.
    Abort,
    /// 0b100: bypass both stages.
    Bypass,
    /// 0b1xy: x = stage 2 translates, y = stage 1 translates.
    Translate { s1: bool, s2: bool },
}

/// A decoded, validated Stream Table Entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Ste {
    pub config: Config,
    /// S1Fmt, bits 5:4: 0 linear CD table, 1 2-level with 4K leaves, 2 with 64K leaves.
    pub s1fmt: u8,
    /// S1ContextPtr, bits 51:6.
    pub s1_context_ptr: u64,
    /// S1CDMax, bits 63:59: log2 of the CD table size (0: one CD, no substreams).
    pub s1cdmax: u32,
    /// S1DSS, word 1 bits 1:0: 0 terminate, 1 bypass, 2 use CD 0 (3 behaves as 0).
    pub s1dss: u8,
    /// S1STALLD, word 1 bit 27.
    pub s1stalld: bool,
    /// EATS, word 1 bits 29:28.
    pub eats: u8,
    /// MEV, word 1 bit 19.
    pub mev: bool,
    /// S2VMID, word 2 bits 15:0.
    pub s2vmid: u16,
    pub s2: Option<S2Config>,
}

/// The stage-2 fields of an STE, validated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct S2Config {
    pub table: TableConfig,
    /// S2R, word 2 bit 58: record faults.
    pub s2r: bool,
    /// S2S, word 2 bit 57: stall on faults.
    pub s2s: bool,
    /// S2PTW, word 2 bit 54: stage-1 table walks that reach Device memory
    /// at stage 2 take a stage-2 permission fault (§5.2).
    pub ptw: bool,
}

/// Everything a VMSAv8-64 table walk needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TableConfig {
    /// log2 of the granule: 12, 14 or 16.
    pub gshift: u32,
    /// Input address size in bits (64 - TxSZ).
    pub ia: u32,
    /// Start level, 0..=3.
    pub start: u32,
    /// Table base, aligned to the start-level table size.
    pub ttb: u64,
    /// Output address size in bits (min of IPS/S2PS and SMMU_IDR5.OAS).
    pub oas: u32,
    pub stage2: bool,
    /// Hardware update of the access flag (CD.HA / STE.S2HA with IDR0.HTTU).
    pub ha: bool,
    /// Access flag faults disabled (CD.AFFD / STE.S2AFFD).
    pub affd: bool,
    /// Stage 1 only: hierarchical attributes disabled (CD.HADn with SMMU_IDR3.HAD), so
    /// APTable in table descriptors takes no part.
    pub had: bool,
    /// Descriptors are big-endian (CD.ENDI).
    pub big_endian: bool,
}

impl TableConfig {
    fn stride(&self) -> u32 {
        self.gshift - 3
    }

    /// The lowest input address bit a level resolves.
    fn shift(&self, level: u32) -> u32 {
        self.gshift + self.stride() * (3 - level)
    }

    /// Index bits of the start-level table (above `stride` means concatenated tables).
    fn start_bits(&self) -> u32 {
        self.ia - self.shift(self.start)
    }

    /// Whether a block descriptor may appear at `level` (48-bit output, no LPA2).
    fn block_allowed(&self, level: u32) -> bool {
        match self.gshift {
            12 => level == 1 || level == 2,
            _ => level == 2,
        }
    }
}

/// The ID registers the decoders check fields against.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Ids {
    pub idr0: u32,
    pub idr1: u32,
    pub idr3: u32,
    pub idr5: u32,
}

impl Ids {
    fn oas(&self) -> u32 {
        pa_bits(u64::from(self.idr5 & 7))
    }

    fn httu(&self) -> u32 {
        (self.idr0 >> IDR0_HTTU_SHIFT) & 3
    }

    fn ttendian(&self) -> u32 {
        (self.idr0 >> IDR0_TTENDIAN_SHIFT) & 3
    }

    pub(crate) fn stall_model(&self) -> u32 {
        (self.idr0 >> IDR0_STALL_MODEL_SHIFT) & 3
    }

    /// log2 of a granule encoded as TG0 / S2TG (0b00 4K, 0b01 64K, 0b10 16K), if the SMMU
    /// implements it (SMMU_IDR5.GRAN*).
    fn granule(&self, tg: u64) -> Option<u32> {
        match tg {
            0 if self.idr5 & IDR5_GRAN4K != 0 => Some(12),
            1 if self.idr5 & IDR5_GRAN64K != 0 => Some(16),
            2 if self.idr5 & IDR5_GRAN16K != 0 => Some(14),
            _ => None,
        }
    }
}

/// Decodes and validates an STE (§5.2). `Err` means C_BAD_STE.
pub(crate) fn decode_ste(w: &[u64; 8], ids: &Ids) -> Result<Ste, ()> {
    if !bit(w[0], 0) {
        return Err(());
    }
    let config = match field(w[0], 3, 1) {
        0b000 => Config::Abort,
        0b100 => Config::Bypass,
        0b101..=0b111 => Config::Translate {
            s1: bit(w[0], 1),
            s2: bit(w[0], 2),
        },
        _ => return Err(()),
    };
    let mut ste = Ste {
        config,
        s1fmt: field(w[0], 5, 4) as u8,
        s1_context_ptr: w[0] & mask(51, 6),
        s1cdmax: field(w[0], 63, 59) as u32,
        s1dss: field(w[1], 1, 0) as u8,
        s1stalld: bit(w[1], 27),
        eats: field(w[1], 29, 28) as u8,
        mev: bit(w[1], 19),
        s2vmid: field(w[2], 15, 0) as u16,
        s2: None,
    };
    let Config::Translate { s1, s2 } = config else {
        return Ok(ste);
    };
    if (s1 && ids.idr0 & IDR0_S1P == 0) || (s2 && ids.idr0 & IDR0_S2P == 0) {
        return Err(());
    }
    if s1 {
        if ste.s1cdmax > idr1_ssidsize(ids.idr1) {
            return Err(());
        }
        if ste.s1cdmax != 0 {
            match ste.s1fmt {
                0 => {}
                1 | 2 if ids.idr0 & IDR0_CD2L != 0 => {}
                _ => return Err(()),
            }
        }
        // S1STALLD is ILLEGAL where every fault stalls, and RES0 where
        // stalling is not supported (only STALL_MODEL 0b00 has the choice,
        // §5.2); QEMU, with no stall model, refuses it as C_BAD_STE too.
        if ste.s1stalld && ids.stall_model() != 0 {
            return Err(());
        }
    }
    if s2 {
        ste.s2 = Some(decode_s2(w, ids)?);
    }
    Ok(ste)
}

/// The stage-2 fields of an STE: S2T0SZ 37:32, S2SL0 39:38, S2TG 47:46, S2PS 50:48,
/// S2AA64 51, S2AFFD 53, S2PTW 54, S2HA 56, S2S 57, S2R 58 of word 2; S2TTB 51:4 of
/// word 3.
fn decode_s2(w: &[u64; 8], ids: &Ids) -> Result<S2Config, ()> {
    let w2 = w[2];
    if !bit(w2, 51) {
        // AArch32 stage-2 tables: the SMMU implements AArch64 tables only.
        return Err(());
    }
    let gshift = ids.granule(field(w2, 47, 46)).ok_or(())?;
    let t0sz = field(w2, 37, 32) as u32;
    if !(16..=48).contains(&t0sz) {
        return Err(());
    }
    let sl0 = field(w2, 39, 38) as u32;
    let start = match (gshift, sl0) {
        (12, 0..=2) => 2 - sl0,
        (14, _) => 3 - sl0,
        (16, 0..=2) => 3 - sl0,
        _ => return Err(()),
    };
    let mut table = TableConfig {
        gshift,
        ia: 64 - t0sz,
        start,
        ttb: 0,
        oas: pa_bits(field(w2, 50, 48)).min(ids.oas()),
        stage2: true,
        ha: bit(w2, 56) && ids.httu() >= 1,
        affd: bit(w2, 53),
        had: false,
        big_endian: false,
    };
    // The start level must resolve at least one bit and at most 16 concatenated tables.
    if table.ia <= table.shift(start) || table.start_bits() > table.stride() + 4 {
        return Err(());
    }
    table.ttb = w[3] & mask(51, 4) & !((8u64 << table.start_bits()) - 1);
    Ok(S2Config {
        table,
        s2r: bit(w2, 58),
        s2s: bit(w2, 57) && ids.stall_model() != STALL_MODEL_NONE,
        ptw: bit(w2, 54),
    })
}

/// One half of a CD's VA space (§5.4, §3.4.1): TTB0 translates addresses with VA[55] == 0,
/// TTB1 those with VA[55] == 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Half {
    /// The half's walk; `None` when EPDn == 1 (a TLB miss faults without a walk).
    pub table: Option<TableConfig>,
    /// TBIn: VA[63:56] take no part in range checks or translation.
    pub tbi: bool,
}

/// A decoded, validated Context Descriptor (§5.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Cd {
    /// TTB0's half, then TTB1's.
    pub halves: [Half; 2],
    /// S, bit 44: stall on faults.
    pub s: bool,
    /// R, bit 45: record faults.
    pub r: bool,
    /// ASID, bits 63:48 (8 bits without SMMU_IDR0.ASID16).
    pub asid: u16,
    /// MAIR, word 3.
    pub mair: u64,
}

impl Cd {
    /// The walk that translates `va` and the address it translates, or `None` for a
    /// stage 1 Translation fault (§3.4, §3.4.1, Arm ARM D8.1): VA[55] picks the half; with
    /// the half's TBI, VA[63:56] are taken as copies of VA[55]; every bit from the top down
    /// to the half's input size must equal VA[55]; EPDn faults.
    pub(crate) fn select(&self, va: u64) -> Option<(&TableConfig, u64)> {
        let upper = bit(va, 55);
        let half = &self.halves[usize::from(upper)];
        let addr = match (half.tbi, upper) {
            (false, _) => va,
            (true, false) => va & mask(55, 0),
            (true, true) => va | mask(63, 56),
        };
        let table = half.table.as_ref()?;
        let above = if upper { u64::MAX >> table.ia } else { 0 };
        (addr >> table.ia == above).then_some((table, addr))
    }
}

/// Decodes and validates a CD (§5.4, §5.4.2 CdIllegal). `Err` means C_BAD_CD.
///
/// Word 0: T0SZ 5:0, TG0 7:6, EPD0 14, ENDI 15, T1SZ 21:16, TG1 23:22, EPD1 30, V 31,
/// IPS 34:32, AFFD 35, TBI0 38, TBI1 39, AA64 41, HA 43, S 44, R 45, A 46, ASID 63:48.
/// Words 1 / 2: HAD0 / HAD1 in bit 1 (with SMMU_IDR3.HAD), TTB0 / TTB1 in 51:4. Word 3:
/// MAIR. IRn/ORn/SHn (walk attributes) take no part: the model's memory is coherent.
///
/// Not read, because nothing the model translates depends on them: WXN 36 (instruction
/// fetches only), UWXN 37 (VMSAv8-32 only), PAN 40 and EPAN 123 (privileged accesses only),
/// E0PD0/E0PD1 66/130 (unprivileged accesses only), NSCFG0/NSCFG1 64/128 (Secure streams
/// only), HD 42 (no dirty state); the model's transactions carry no privilege and no
/// instruction/data attribute. ASET 47 (broadcast TLBI participation: no PE here) and the
/// SMMUv3.2+ fields (HAFT, PnCH, HWU, AIE, DS, PIE) are not read either.
pub(crate) fn decode_cd(w: &[u64; 8], ids: &Ids) -> Result<Cd, ()> {
    let w0 = w[0];
    if !bit(w0, 31) || !bit(w0, 41) {
        return Err(());
    }
    // A == 0 asks for RAZ/WI termination, which a TERM_MODEL == 1 SMMU cannot do.
    if !bit(w0, 46) && ids.idr0 & IDR0_TERM_MODEL != 0 {
        return Err(());
    }
    let (epd0, epd1) = (bit(w0, 14), bit(w0, 30));
    // ENDI is IGNORED only when neither half walks; otherwise it must be an endianness
    // SMMU_IDR0.TTENDIAN offers (0b10 little only, 0b11 big only, 0b00 both).
    let big_endian = bit(w0, 15);
    if !(epd0 && epd1) {
        match (ids.ttendian(), big_endian) {
            (0b10, true) | (0b11, false) => return Err(()),
            _ => {}
        }
    }
    let common = TableConfig {
        gshift: 0,
        ia: 0,
        start: 0,
        ttb: 0,
        oas: pa_bits(field(w0, 34, 32)).min(ids.oas()),
        stage2: false,
        ha: bit(w0, 43) && ids.httu() >= 1,
        affd: bit(w0, 35),
        had: false,
        big_endian,
    };
    let has_had = ids.idr3 & IDR3_HAD != 0;
    // TG1 encodes granules differently from TG0 (0b01 16K, 0b10 4K, 0b11 64K): map it
    // onto TG0's encoding, with the reserved 0b00 onto TG0's reserved 0b11.
    let tg1 = match field(w0, 23, 22) {
        0b01 => 0b10,
        0b10 => 0b00,
        0b11 => 0b01,
        _ => 0b11,
    };
    let lower = decode_half(ids, &common, epd0, field(w0, 5, 0), field(w0, 7, 6), w[1])?;
    let upper = decode_half(ids, &common, epd1, field(w0, 21, 16), tg1, w[2])?;
    let with_had = |table: Option<TableConfig>, word: u64| {
        table.map(|t| TableConfig {
            had: has_had && bit(word, 1),
            ..t
        })
    };
    let asid_mask = if ids.idr0 & IDR0_ASID16 != 0 {
        0xffff
    } else {
        0xff
    };
    let stall_ok = ids.stall_model() != STALL_MODEL_NONE;
    Ok(Cd {
        halves: [
            Half {
                table: with_had(lower, w[1]),
                tbi: bit(w0, 38),
            },
            Half {
                table: with_had(upper, w[2]),
                tbi: bit(w0, 39),
            },
        ],
        s: (bit(w0, 44) && stall_ok) || ids.stall_model() == STALL_MODEL_FORCED,
        r: bit(w0, 45),
        asid: field(w0, 63, 48) as u16 & asid_mask,
        mair: w[3],
    })
}

/// One half's walk from its TnSZ, TGn (in TG0's encoding) and word holding TTBn (51:4),
/// or `None` when EPDn disables it; with EPDn set the other fields are IGNORED, so they
/// cannot make the CD ILLEGAL.
fn decode_half(
    ids: &Ids,
    common: &TableConfig,
    epd: bool,
    tsz: u64,
    tg: u64,
    ttb_word: u64,
) -> Result<Option<TableConfig>, ()> {
    if epd {
        return Ok(None);
    }
    let gshift = ids.granule(tg).ok_or(())?;
    // CDTxSZInvalid: 16 up to 39, or with SMMU_IDR3.STT 48 (47 for 64K granules).
    let max_tsz = match (ids.idr3 & IDR3_STT != 0, gshift) {
        (false, _) => 39,
        (true, 16) => 47,
        (true, _) => 48,
    };
    if !(16..=max_tsz).contains(&tsz) {
        return Err(());
    }
    let ia = 64 - tsz as u32;
    let stride = gshift - 3;
    let levels = (ia - gshift).div_ceil(stride);
    let mut table = TableConfig {
        gshift,
        ia,
        start: 4 - levels,
        ..*common
    };
    table.ttb = ttb_word & mask(51, 4) & !((8u64 << table.start_bits()) - 1);
    Ok(Some(table))
}

/// A translation found by a walk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Leaf {
    /// Output address of the block or page (aligned to its size).
    pub out: u64,
    pub size_log2: u32,
    /// The translation granule of the table it came from (log2).
    pub granule_log2: u32,
    pub read: bool,
    pub write: bool,
    /// nG == 0 (stage 1 only): the entry matches every ASID.
    pub global: bool,
    /// Stage 2 only: MemAttr[3:2] == 0b00, Device memory (Arm ARM D8.6.5,
    /// without FWB).
    pub device: bool,
}

impl Leaf {
    pub(crate) fn output(&self, addr: u64) -> u64 {
        self.out | (addr & ((1u64 << self.size_log2) - 1))
    }
}

/// How a walk reads and writes descriptors.
pub(crate) trait DescriptorAccess {
    /// The physical address of the descriptor at `addr` (an IPA for a nested stage-1
    /// walk), or the stage-2 fault translating it.
    fn locate(&mut self, addr: u64) -> Result<u64, WalkFault>;
    /// Reads the descriptor at physical `pa`; `None` on an external abort.
    fn read(&mut self, pa: u64) -> Option<u64>;
    /// Writes a descriptor back (hardware access flag update).
    fn write(&mut self, pa: u64, value: u64);
}

/// Walks the tables of `tc` for input address `addr` (Arm ARM D8.2–D8.4), which must be
/// below 2^`tc.ia` (a TTB1 address reduced to its low bits): table, block and page
/// descriptors (big-endian with CD.ENDI), APTable[1] for stage 1 unless CD.HADn, S2AP for
/// stage 2, the access flag, and address-size checks on every table and output address.
pub(crate) fn walk(
    tc: &TableConfig,
    addr: u64,
    acc: &mut dyn DescriptorAccess,
) -> Result<Leaf, WalkFault> {
    let fault = |event: EventType, fetch: u64| WalkFault {
        event,
        s2: tc.stage2,
        class: Class::In,
        ipa: if tc.stage2 { addr } else { 0 },
        fetch,
    };
    if addr >> tc.ia != 0 {
        return Err(fault(EventType::FTranslation, 0));
    }
    if tc.ttb >> tc.oas != 0 {
        return Err(fault(EventType::FAddrSize, 0));
    }
    let mut table = tc.ttb;
    let mut level = tc.start;
    let mut read_only = false;
    loop {
        let shift = tc.shift(level);
        let bits = if level == tc.start {
            tc.start_bits()
        } else {
            tc.stride()
        };
        let index = (addr >> shift) & ((1u64 << bits) - 1);
        let desc_addr = table + 8 * index;
        let pa = acc.locate(desc_addr)?;
        let raw = acc.read(pa).ok_or(fault(EventType::FWalkEabt, desc_addr))?;
        // CD.ENDI: a big-endian descriptor is byte-reversed in (little-endian) memory.
        let order = |d: u64| if tc.big_endian { d.swap_bytes() } else { d };
        let desc = order(raw);
        if !bit(desc, 0) {
            return Err(fault(EventType::FTranslation, 0));
        }
        // Output address: bits 47:granule; bits 51:48 set mean an address above 48 bits.
        let oa_bits = |lo: u32| desc & mask(51, lo);
        if level < 3 && bit(desc, 1) {
            let next = oa_bits(tc.gshift);
            if next >> tc.oas != 0 {
                return Err(fault(EventType::FAddrSize, 0));
            }
            if !tc.stage2 && !tc.had {
                // APTable[1], bit 62: no writes below this table (unless CD.HADn).
                read_only |= bit(desc, 62);
            }
            table = next;
            level += 1;
            continue;
        }
        if level == 3 && !bit(desc, 1) {
            return Err(fault(EventType::FTranslation, 0));
        }
        if level < 3 && !tc.block_allowed(level) {
            return Err(fault(EventType::FTranslation, 0));
        }
        let out = oa_bits(shift);
        if out >> tc.oas != 0 {
            return Err(fault(EventType::FAddrSize, 0));
        }
        // AF, bit 10.
        if !bit(desc, 10) {
            if tc.ha {
                acc.write(pa, order(desc | 1 << 10));
            } else if !tc.affd {
                return Err(fault(EventType::FAccess, 0));
            }
        }
        let (read, write) = if tc.stage2 {
            // S2AP, bits 7:6: bit 6 read, bit 7 write.
            (bit(desc, 6), bit(desc, 7))
        } else {
            // AP[2], bit 7: read-only. AP[1] (unprivileged access) is not checked.
            (true, !bit(desc, 7) && !read_only)
        };
        return Ok(Leaf {
            out,
            size_log2: shift,
            granule_log2: tc.gshift,
            read,
            write,
            global: !tc.stage2 && !bit(desc, 11),
            device: tc.stage2 && field(desc, 5, 4) == 0,
        });
    }
}
