//! How VT-d tables are made: the level count from the address width and the unit's
//! capabilities, and the fields that name it in the context and PASID entries. The
//! engine itself is [`crate::pt`].

use super::entry::SHAPE;
use super::{FirstStage, IoPageTable, MAX_PHYS_BITS, SecondStage};
use crate::hw::DmaMemory;
use crate::pt::{Error, Geometry};
use crate::vtd::regs::{Capability, ExtendedCapability, Sagaw};

/// Every VT-d table: 4 KiB pages, 512 entries per table at every level.
const fn geometry(levels: u8, leaf_heights: u8, address_width: u8) -> Geometry {
    let (page, stride) = SHAPE;
    Geometry::new(
        page,
        stride,
        levels,
        stride,
        leaf_heights,
        address_width,
        MAX_PHYS_BITS,
    )
}

impl IoPageTable<SecondStage> {
    /// A second-stage table for IOVAs below 2^`address_width`, with the fewest levels that
    /// CAP.SAGAW supports and that cover the width (3: 39 bits, 4: 48, 5: 57; §3.7, §11.4.2),
    /// large pages per CAP.SLLPS and SNP per ECAP.SC ([`SecondStage::from_capabilities`]).
    pub fn new<M: DmaMemory + ?Sized>(
        mem: &M,
        cap: Capability,
        ecap: ExtendedCapability,
        address_width: u8,
    ) -> Result<Self, Error> {
        Self::with_format(
            mem,
            SecondStage::from_capabilities(cap, ecap),
            cap.sagaw(),
            cap.max_guest_address_width(),
            address_width,
        )
    }

    /// Like [`new`](Self::new) with an explicit format (e.g. without SNP, or with execute).
    pub fn with_format<M: DmaMemory + ?Sized>(
        mem: &M,
        format: SecondStage,
        sagaw: Sagaw,
        mgaw_bits: u8,
        address_width: u8,
    ) -> Result<Self, Error> {
        let unsupported = Error::UnsupportedInputSize {
            requested: address_width,
        };
        // At least one level of 2 MiB entries' worth (21 bits), at most MGAW.
        if address_width < 21 || address_width > mgaw_bits {
            return Err(unsupported);
        }
        let levels = Sagaw::WIDTHS
            .iter()
            .find(|&&(flag, bits, _)| sagaw.contains(flag) && bits >= address_width)
            .map(|&(_, _, levels)| levels)
            .ok_or(unsupported)?;
        let g = geometry(levels, format.leaf_heights(), address_width);
        Self::create(mem, format, g)
    }

    /// The AW field of the context entry / scalable-mode PASID entry for this table
    /// (§9.3, §9.6): 1 = 3-level, 2 = 4-level, 3 = 5-level.
    pub const fn aw(&self) -> u8 {
        self.levels() - 2
    }
}

impl IoPageTable<FirstStage> {
    /// A 4-level table in the first-stage (x86 paging) format for addresses below
    /// 2^`address_width` (at most 48), independent of any unit's capabilities: the
    /// format AMD nested paging walks too (AMD64 APM Vol. 2 §15.25.5), whose walks
    /// count as user accesses, which U/S = 1 on every entry here allows.
    pub fn four_level<M: DmaMemory + ?Sized>(
        mem: &M,
        format: FirstStage,
        address_width: u8,
    ) -> Result<Self, Error> {
        if !(12..=48).contains(&address_width) {
            return Err(Error::UnsupportedInputSize {
                requested: address_width,
            });
        }
        let g = geometry(4, format.leaf_heights(), address_width);
        Self::create(mem, format, g)
    }

    /// A first-stage table for IOVAs below 2^`address_width`: 4-level up to 48 bits,
    /// 5-level up to 57 bits when CAP.FS5LP (§3.6, §11.4.2); 1 GiB pages when CAP.FS1GP.
    pub fn new<M: DmaMemory + ?Sized>(
        mem: &M,
        cap: Capability,
        address_width: u8,
    ) -> Result<Self, Error> {
        let levels = match address_width {
            12..=48 => 4,
            49..=57 if cap.fl5lp() => 5,
            _ => {
                return Err(Error::UnsupportedInputSize {
                    requested: address_width,
                });
            }
        };
        let format = FirstStage::from_capabilities(cap);
        let g = geometry(levels, format.leaf_heights(), address_width);
        Self::create(mem, format, g)
    }

    /// The FLPM field (rev 4.x: FSPM) of the scalable-mode PASID entry for this table
    /// (§9.6): 0 = 4-level, 1 = 5-level paging.
    pub const fn flpm(&self) -> u8 {
        self.levels() - 4
    }
}
