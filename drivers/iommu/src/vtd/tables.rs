//! Root, context and PASID tables (VT-d spec chapter 9).
//!
//! Entries are typed values built with named fields and encoded to the
//! little-endian 64-bit words the hardware reads. The tables themselves live in
//! [`DmaMemory`]; [`publish_entry`] writes an entry in the order that keeps a
//! live walker from ever seeing a half-written present entry (§6.5, "Guidance to
//! software for invalidations": an entry is made present last and torn down
//! first; the caller then issues the invalidations the change requires).

use crate::hw::DmaMemory;

/// 4 KiB table pages.
pub const PAGE_SIZE: u64 = 4096;
const ADDR_MASK: u64 = !(PAGE_SIZE - 1);

/// Root-table entry, legacy mode (§9.1): one per bus, pointing at the bus's
/// context table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RootEntry {
    /// Context-table pointer (CTP), 4 KiB aligned; `None` = not present.
    pub context_table: Option<u64>,
}

impl RootEntry {
    /// `[low, high]` words: P (bit 0), CTP (bits 63:12); the high word is reserved.
    pub fn encode(&self) -> [u64; 2] {
        match self.context_table {
            Some(ctp) => [(ctp & ADDR_MASK) | 1, 0],
            None => [0, 0],
        }
    }
}

/// Root-table entry, scalable mode (§9.2): lower and upper context tables,
/// for device/function numbers 0-127 and 128-255 of the bus.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScalableRootEntry {
    /// LCTP, with LP (bit 0).
    pub lower: Option<u64>,
    /// UCTP, with UP (bit 64).
    pub upper: Option<u64>,
}

impl ScalableRootEntry {
    pub fn encode(&self) -> [u64; 2] {
        let word = |t: Option<u64>| t.map_or(0, |a| (a & ADDR_MASK) | 1);
        [word(self.lower), word(self.upper)]
    }
}

/// Legacy context-entry translation type (TT, §9.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TranslationType {
    /// 00b: untranslated requests go through second-stage tables; translated
    /// requests and translation requests are blocked.
    Untranslated,
    /// 01b: like 00b, and device-TLB (ATS) requests are allowed.
    UntranslatedDeviceTlb,
    /// 10b: pass-through (only if ECAP.PT).
    PassThrough,
}

/// Address width of the second-stage tables (AW, §9.3 and §9.6): the table's
/// level count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AddressWidth {
    /// 001b: 39-bit, 3-level.
    Bits39,
    /// 010b: 48-bit, 4-level.
    Bits48,
    /// 011b: 57-bit, 5-level.
    Bits57,
}

impl AddressWidth {
    pub const fn encode(self) -> u64 {
        match self {
            Self::Bits39 => 1,
            Self::Bits48 => 2,
            Self::Bits57 => 3,
        }
    }

    /// Paging levels.
    pub const fn levels(self) -> u8 {
        match self {
            Self::Bits39 => 3,
            Self::Bits48 => 4,
            Self::Bits57 => 5,
        }
    }

    /// The width for a table of `levels` levels.
    pub const fn from_levels(levels: u8) -> Option<Self> {
        match levels {
            3 => Some(Self::Bits39),
            4 => Some(Self::Bits48),
            5 => Some(Self::Bits57),
            _ => None,
        }
    }
}

/// Legacy-mode context entry (§9.3), 128 bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ContextEntry {
    /// FPD: fault processing disable (bit 1).
    pub fault_processing_disable: bool,
    /// TT (bits 3:2).
    pub translation_type: TranslationType,
    /// SLPTPTR (bits 63:12): second-stage root; ignored for pass-through.
    pub second_stage: u64,
    /// AW (bits 66:64).
    pub address_width: AddressWidth,
    /// DID (bits 87:72).
    pub domain_id: u16,
}

impl ContextEntry {
    /// `[low, high]`, present.
    pub fn encode(&self) -> [u64; 2] {
        let tt = match self.translation_type {
            TranslationType::Untranslated => 0,
            TranslationType::UntranslatedDeviceTlb => 1,
            TranslationType::PassThrough => 2,
        };
        let low = 1
            | (u64::from(self.fault_processing_disable) << 1)
            | (tt << 2)
            | (self.second_stage & ADDR_MASK);
        let high = self.address_width.encode() | (u64::from(self.domain_id) << 8);
        [low, high]
    }
}

/// Scalable-mode context entry (§9.4), 256 bits: points at the device's PASID
/// directory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScalableContextEntry {
    /// FPD (bit 1).
    pub fault_processing_disable: bool,
    /// DTE (bit 2): device-TLB (ATS) requests allowed.
    pub device_tlb: bool,
    /// PASIDE (bit 3): requests with PASID allowed.
    pub pasid_enable: bool,
    /// PRE (bit 4): page requests allowed.
    pub page_request: bool,
    /// PASIDDIRPTR (bits 63:12).
    pub pasid_directory: u64,
    /// PDTS (bits 11:9): the directory has 2^(PDTS + 7) entries.
    pub directory_size: u8,
    /// RID_PASID (bits 83:64): the PASID used for requests without one.
    pub rid_pasid: u32,
}

impl ScalableContextEntry {
    /// The four words, present.
    pub fn encode(&self) -> [u64; 4] {
        let low = 1
            | (u64::from(self.fault_processing_disable) << 1)
            | (u64::from(self.device_tlb) << 2)
            | (u64::from(self.pasid_enable) << 3)
            | (u64::from(self.page_request) << 4)
            | (u64::from(self.directory_size & 7) << 9)
            | (self.pasid_directory & ADDR_MASK);
        [low, u64::from(self.rid_pasid & 0xf_ffff), 0, 0]
    }

    /// PDTS for a directory covering `pasid_bits`-bit PASIDs: each directory
    /// entry covers 64 PASIDs (§9.5), so 2^(bits - 6) entries, at least 128.
    pub fn directory_size_for(pasid_bits: u8) -> u8 {
        pasid_bits.saturating_sub(6).saturating_sub(7).min(7)
    }
}

/// PASID-directory entry (§9.5): points at a PASID table of 64 entries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PasidDirectoryEntry {
    /// FPD (bit 1).
    pub fault_processing_disable: bool,
    /// SMPTBLPTR (bits 63:12).
    pub table: u64,
}

impl PasidDirectoryEntry {
    pub fn encode(&self) -> u64 {
        1 | (u64::from(self.fault_processing_disable) << 1) | (self.table & ADDR_MASK)
    }
}

/// PASIDs per PASID table page (§9.5): 4096 / 64-byte entries.
pub const PASIDS_PER_TABLE: u32 = 64;

/// First-stage paging mode (FLPM, §9.6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FirstStageLevels {
    /// 00b: 4-level.
    Four,
    /// 01b: 5-level (only where CAP.FL5LP).
    Five,
}

/// PASID-granular translation type (PGTT, §9.6) with what each one needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PasidTranslation {
    /// 001b: first-stage only (ECAP.FLTS).
    FirstStage {
        root: u64,
        levels: FirstStageLevels,
        supervisor: bool,
        write_protect: bool,
    },
    /// 010b: second-stage only (ECAP.SLTS).
    SecondStage { root: u64, width: AddressWidth },
    /// 011b: first-stage nested on second-stage (ECAP.NEST): the first-stage
    /// root and tables are guest-physical addresses translated by second stage.
    /// `supervisor` is SRE, `write_protect` WPE and `extended_access` EAFE
    /// (ECAP.EAFS: the first-stage extended-accessed flag, bit 10, is set by
    /// hardware; §3.6.3).
    Nested {
        first_stage: u64,
        levels: FirstStageLevels,
        supervisor: bool,
        write_protect: bool,
        extended_access: bool,
        second_stage: u64,
        width: AddressWidth,
    },
    /// 100b: pass-through (ECAP.PT).
    PassThrough,
}

/// Scalable-mode PASID-table entry (§9.6), 512 bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PasidEntry {
    /// FPD (bit 1).
    pub fault_processing_disable: bool,
    pub translation: PasidTranslation,
    /// DID (bits 79:64).
    pub domain_id: u16,
    /// PGSNP (bit 88): page snoop for requests with this PASID.
    pub page_snoop: bool,
    /// PWSNP (bit 87): snoop the page-table walks.
    pub walk_snoop: bool,
}

impl PasidEntry {
    /// The eight words, present. Fields an entry's PGTT does not use are zero.
    pub fn encode(&self) -> [u64; 8] {
        let mut w = [0u64; 8];
        let (pgtt, slptptr, aw, flptptr, flpm, sre, wpe, eafe) = match self.translation {
            // AW as for a second-stage table of the same width: QEMU derives the
            // first-stage input limit from it (so does Linux set it), and it is
            // what the address width is.
            PasidTranslation::FirstStage {
                root,
                levels,
                supervisor,
                write_protect,
            } => {
                let aw = match levels {
                    FirstStageLevels::Four => AddressWidth::Bits48,
                    FirstStageLevels::Five => AddressWidth::Bits57,
                };
                (
                    1,
                    0,
                    aw.encode(),
                    root,
                    levels,
                    supervisor,
                    write_protect,
                    false,
                )
            }
            PasidTranslation::SecondStage { root, width } => (
                2,
                root,
                width.encode(),
                0,
                FirstStageLevels::Four,
                false,
                false,
                false,
            ),
            PasidTranslation::Nested {
                first_stage,
                levels,
                supervisor,
                write_protect,
                extended_access,
                second_stage,
                width,
            } => (
                3,
                second_stage,
                width.encode(),
                first_stage,
                levels,
                supervisor,
                write_protect,
                extended_access,
            ),
            PasidTranslation::PassThrough => {
                (4, 0, 0, 0, FirstStageLevels::Four, false, false, false)
            }
        };
        w[0] = 1
            | (u64::from(self.fault_processing_disable) << 1)
            | (aw << 2)
            | (pgtt << 6)
            | (slptptr & ADDR_MASK);
        w[1] = u64::from(self.domain_id)
            | (u64::from(self.walk_snoop) << 23)
            | (u64::from(self.page_snoop) << 24);
        let flpm = match flpm {
            FirstStageLevels::Four => 0,
            FirstStageLevels::Five => 1,
        };
        // NXE (bit 133) with a first stage: XD in its entries means execute
        // disable rather than a reserved bit (vsva's first-stage tables set XD on
        // every mapping without execute permission).
        let nxe = u64::from(pgtt == 1 || pgtt == 3);
        // Word 2 (bits 191:128): SRE 0, FLPM 3:2, WPE 4, NXE 5, EAFE 7, FLPTPTR 63:12.
        w[2] = u64::from(sre)
            | (flpm << 2)
            | (u64::from(wpe) << 4)
            | (nxe << 5)
            | (u64::from(eafe) << 7)
            | (flptptr & ADDR_MASK);
        w
    }
}

/// Writes an entry of `words` at `addr` so that a hardware walker never sees a
/// present entry with stale fields: the word holding the present bit (word 0)
/// is cleared first and written last, with [`DmaMemory::publish`] between.
///
/// Replacing a live present entry this way passes through "not present", so the
/// caller must have made the old translation unneeded (or accept faults in the
/// window) and must invalidate the caches for it afterwards.
pub fn publish_entry(memory: &dyn DmaMemory, addr: u64, words: &[u64]) {
    let Some((&first, rest)) = words.split_first() else {
        return;
    };
    memory.write64(addr, 0);
    memory.publish();
    for (i, &w) in rest.iter().enumerate() {
        memory.write64(addr + 8 * (i as u64 + 1), w);
    }
    memory.publish();
    memory.write64(addr, first);
    memory.publish();
}

/// Clears an entry: present bit first, then the rest (the mirror of
/// [`publish_entry`]); the caller invalidates afterwards.
pub fn clear_entry(memory: &dyn DmaMemory, addr: u64, words: usize) {
    memory.write64(addr, 0);
    memory.publish();
    for i in 1..words {
        memory.write64(addr + 8 * i as u64, 0);
    }
    memory.publish();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hw::sim::SimMemory;

    #[test]
    fn legacy_context_entry_fields_land_where_the_spec_puts_them() {
        let e = ContextEntry {
            fault_processing_disable: false,
            translation_type: TranslationType::Untranslated,
            second_stage: 0x1234_5000,
            address_width: AddressWidth::Bits48,
            domain_id: 0x2a,
        };
        assert_eq!(e.encode(), [0x1234_5001, 0x2a02]);
        let pt = ContextEntry {
            translation_type: TranslationType::PassThrough,
            ..e
        };
        assert_eq!(pt.encode()[0] & 0xf, 0b1001);
    }

    #[test]
    fn scalable_entries_encode_pgtt_pointers_and_did() {
        let e = PasidEntry {
            fault_processing_disable: false,
            translation: PasidTranslation::SecondStage {
                root: 0x8000,
                width: AddressWidth::Bits48,
            },
            domain_id: 7,
            page_snoop: false,
            walk_snoop: false,
        };
        let w = e.encode();
        assert_eq!(w[0], 0x8000 | (2 << 6) | (2 << 2) | 1);
        assert_eq!(w[1], 7);
        let first = PasidEntry {
            translation: PasidTranslation::FirstStage {
                root: 0x9000,
                levels: FirstStageLevels::Five,
                supervisor: true,
                write_protect: true,
            },
            ..e
        };
        let w = first.encode();
        assert_eq!(w[0], (1 << 6) | (3 << 2) | 1);
        assert_eq!(w[2], 0x9000 | (1 << 5) | (1 << 4) | (1 << 2) | 1);
        let nested = PasidEntry {
            translation: PasidTranslation::Nested {
                first_stage: 0x4000_0000,
                levels: FirstStageLevels::Four,
                supervisor: false,
                write_protect: false,
                extended_access: true,
                second_stage: 0xa000,
                width: AddressWidth::Bits48,
            },
            ..e
        };
        let w = nested.encode();
        assert_eq!(
            w[0],
            0xa000 | (3 << 6) | (2 << 2) | 1,
            "PGTT nested, SSPTPTR"
        );
        assert_eq!(
            w[2],
            0x4000_0000 | (1 << 7) | (1 << 5),
            "FLPTPTR, EAFE, NXE"
        );
        let c = ScalableContextEntry {
            fault_processing_disable: false,
            device_tlb: false,
            pasid_enable: true,
            page_request: false,
            pasid_directory: 0x4000,
            directory_size: 3,
            rid_pasid: 0,
        };
        assert_eq!(c.encode()[0], 0x4000 | (3 << 9) | (1 << 3) | 1);
        assert_eq!(ScalableContextEntry::directory_size_for(20), 7);
        assert_eq!(ScalableContextEntry::directory_size_for(13), 0);
    }

    #[test]
    fn publishing_writes_the_present_word_last_and_clearing_first() {
        let m = SimMemory::new(0x1000, 0x10000);
        let a = m.alloc_pages(1).unwrap();
        publish_entry(&m, a, &[0x11, 0x22, 0x33]);
        assert_eq!(
            [m.read64(a), m.read64(a + 8), m.read64(a + 16)],
            [0x11, 0x22, 0x33]
        );
        clear_entry(&m, a, 3);
        assert_eq!([m.read64(a), m.read64(a + 8), m.read64(a + 16)], [0, 0, 0]);
    }
}
