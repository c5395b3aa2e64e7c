//! How VMSAv8-64 tables are made: the starting level (and stage-2 concatenation) from the
//! input size and granule, and the CD / STE fields that name a table. The engine itself is
//! [`crate::pt`].

use super::{Granule, INPUT_BITS, PageTable, Stage, Stage1, Stage2, ips};
use crate::hw::DmaMemory;
use crate::pt::{Error, Geometry};

/// The table-related fields of a stage-1 Context Descriptor (SMMUv3 §5.4). The CD's other
/// fields (V, AA64 = 1, EPD1 = 1 since TTB1 is unused, ASID, R, A, ...) are the CD
/// code's business.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CdFields {
    /// TTB0: the root table's address.
    pub ttb0: u64,
    /// T0SZ: 64 − input bits.
    pub t0sz: u8,
    /// TG0: the granule ([`Granule::tg0`]).
    pub tg0: u8,
    /// The granule itself (TG1 encodes it differently from TG0).
    pub granule: Granule,
    /// IR0 / OR0: table walk cacheability, 0b01 (write-back, write-allocate) for a
    /// coherent SMMU, 0b00 (non-cacheable) otherwise.
    pub ir0: u8,
    /// See [`ir0`](Self::ir0).
    pub or0: u8,
    /// SH0: table walk shareability, 0b11 inner shareable when coherent, else 0b10.
    pub sh0: u8,
    /// IPS: the output size ([`ips`]).
    pub ips: u8,
    /// MAIR: the memory attributes the descriptors' AttrIndx select ([`MAIR`](super::MAIR)).
    pub mair: u64,
}

/// The stage-2 fields of a Stream Table Entry (SMMUv3 §5.2). The STE's other stage-2 fields
/// (S2VMID, S2AA64 = 1, S2AFFD, S2PTW, S2R, ...) are the STE code's business.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SteFields {
    /// S2TTB: the (first concatenated) root table's address.
    pub s2ttb: u64,
    /// S2T0SZ: 64 − IPA bits.
    pub s2t0sz: u8,
    /// S2SL0: the starting level, as VTCR_EL2.SL0 (4 KiB: 0 = level 2, 1 = level 1,
    /// 2 = level 0; 16/64 KiB: 0 = level 3, 1 = level 2, 2 = level 1).
    pub s2sl0: u8,
    /// S2TG: the granule ([`Granule::tg0`]).
    pub s2tg: u8,
    /// S2PS: the output size ([`ips`]).
    pub s2ps: u8,
    /// S2IR0 / S2OR0: table walk cacheability (as [`CdFields::ir0`]).
    pub s2ir0: u8,
    /// See [`s2ir0`](Self::s2ir0).
    pub s2or0: u8,
    /// S2SH0: table walk shareability (as [`CdFields::sh0`]).
    pub s2sh0: u8,
}

/// Walk cacheability and shareability for [`CdFields`] / [`SteFields`].
const fn walk_attrs(coherent: bool) -> (u8, u8) {
    if coherent { (0b01, 0b11) } else { (0b00, 0b10) }
}

impl PageTable<Stage1> {
    /// A stage-1 table for input addresses below 2^`input_bits` (25..=48) with `granule`,
    /// mapping to output addresses below 2^`output_bits` (an IPS size up to 48, e.g.
    /// SMMU_IDR5.OAS). The starting level is the highest one the size needs.
    pub fn new<M: DmaMemory + ?Sized>(
        mem: &M,
        granule: Granule,
        input_bits: u8,
        output_bits: u8,
    ) -> Result<Self, Error> {
        Self::new_table(mem, granule, input_bits, output_bits)
    }

    /// The CD fields for this table; `coherent` is SMMU_IDR0.COHACC (table walks snoop).
    pub const fn cd_fields(&self, coherent: bool) -> CdFields {
        let (rgn, sh) = walk_attrs(coherent);
        CdFields {
            ttb0: self.root(),
            t0sz: 64 - self.input_bits(),
            tg0: self.granule().tg0(),
            granule: self.granule(),
            ir0: rgn,
            or0: rgn,
            sh0: sh,
            ips: match ips(self.output_bits()) {
                Some(v) => v,
                None => 0,
            },
            mair: super::MAIR,
        }
    }
}

impl PageTable<Stage2> {
    /// A stage-2 table for IPAs below 2^`input_bits` (25..=48, at most `output_bits`) with
    /// `granule`, mapping to PAs below 2^`output_bits` (an S2PS size up to 48). The starting
    /// level is the highest one the size needs, or one lower with 2 to 16 concatenated
    /// tables when that is possible (Arm ARM D8.2), as [`ste_fields`](Self::ste_fields)
    /// reports in S2SL0.
    pub fn new<M: DmaMemory + ?Sized>(
        mem: &M,
        granule: Granule,
        input_bits: u8,
        output_bits: u8,
    ) -> Result<Self, Error> {
        if input_bits > output_bits {
            return Err(Error::UnsupportedInputSize {
                requested: input_bits,
            });
        }
        Self::new_table(mem, granule, input_bits, output_bits)
    }

    /// The STE fields for this table; `coherent` is SMMU_IDR0.COHACC.
    pub const fn ste_fields(&self, coherent: bool) -> SteFields {
        let (rgn, sh) = walk_attrs(coherent);
        SteFields {
            s2ttb: self.root(),
            s2t0sz: 64 - self.input_bits(),
            s2sl0: self.sl0(),
            s2tg: self.granule().tg0(),
            s2ps: match ips(self.output_bits()) {
                Some(v) => v,
                None => 0,
            },
            s2ir0: rgn,
            s2or0: rgn,
            s2sh0: sh,
        }
    }

    /// S2SL0 for the starting level (VTCR_EL2.SL0 encoding, see [`SteFields::s2sl0`]).
    pub const fn sl0(&self) -> u8 {
        match self.granule() {
            Granule::Size4K => 2 - self.start_level(),
            Granule::Size16K | Granule::Size64K => 3 - self.start_level(),
        }
    }
}

/// Whether S2SL0 can name `level` as the stage-2 starting level without FEAT_TTST / LPA2.
const fn s2_start_allowed(granule: Granule, level: u8) -> bool {
    match granule {
        Granule::Size4K => level <= 2,
        Granule::Size16K | Granule::Size64K => level >= 1 && level <= 3,
    }
}

impl<S: Stage> PageTable<S> {
    fn new_table<M: DmaMemory + ?Sized>(
        mem: &M,
        granule: Granule,
        input_bits: u8,
        output_bits: u8,
    ) -> Result<Self, Error> {
        if !INPUT_BITS.contains(&input_bits) {
            return Err(Error::UnsupportedInputSize {
                requested: input_bits,
            });
        }
        if ips(output_bits).is_none() {
            return Err(Error::UnsupportedOutputSize {
                requested: output_bits,
            });
        }
        let g = granule.bits();
        let stride = granule.stride();
        let ia = u32::from(input_bits);
        // The levels needed: each resolves `stride` bits above the page offset.
        let levels = (ia - g).div_ceil(stride);
        let mut start = (4 - levels) as u8;
        let shift = |level: u8| g + (3 - u32::from(level)) * stride;
        if S::CONCATENATION {
            let lower = start + 1;
            // Up to 16 = 2^4 concatenated tables at the next level down.
            if lower <= 3 && s2_start_allowed(granule, lower) && ia - shift(lower) <= stride + 4 {
                start = lower;
            }
            if !s2_start_allowed(granule, start) {
                return Err(Error::UnsupportedInputSize {
                    requested: input_bits,
                });
            }
        }
        let leaf_heights = (0..4).fold(0, |m, h| {
            if granule.leaf_level(3 - h) {
                m | 1 << h
            } else {
                m
            }
        });
        let geometry = Geometry::new(
            g as u8,
            stride as u8,
            4 - start,
            (ia - shift(start)) as u8,
            leaf_heights,
            input_bits,
            output_bits,
        );
        Self::create(mem, S::default(), geometry)
    }

    /// The granule.
    pub const fn granule(&self) -> Granule {
        match self.geometry().page_size() {
            0x1000 => Granule::Size4K,
            0x4000 => Granule::Size16K,
            _ => Granule::Size64K,
        }
    }

    /// The starting lookup level, 0 to 3.
    pub const fn start_level(&self) -> u8 {
        4 - self.levels()
    }

    /// How many tables are concatenated at the starting level (1 unless stage 2
    /// concatenates).
    pub const fn concatenated_tables(&self) -> u64 {
        let extra = (self.geometry().root_bits() as u32).saturating_sub(self.granule().stride());
        1 << extra
    }
}
