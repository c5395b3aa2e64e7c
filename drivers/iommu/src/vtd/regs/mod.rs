//! VT-d remapping-unit registers (Intel VT-d Architecture Specification rev 4.x, chapter 11
//! "Register Descriptions").
//!
//! - Register offsets from the unit's register base, as named constants (§11.4, register
//!   table), plus the offsets that the hardware places itself: the IOTLB registers at
//!   [`ExtendedCapability::iotlb_reg_offset`] and the fault recording registers at
//!   [`Capability::frcd_reg_offset`].
//! - Typed views: [`Version`] (VER_REG), [`Capability`] (CAP_REG) and
//!   [`ExtendedCapability`] (ECAP_REG) decode every field; [`Identification`] holds all three
//!   and prints one compact line for the boot log.
//! - Command and status bits: [`Gcmd`] / [`Gsts`] with [`Gcmd::for_set`] /
//!   [`Gcmd::for_clear`], which compute the GCMD value from GSTS as §11.4.4.1 prescribes
//!   (one-shot bits cleared, persistent enables kept), and [`Fsts`], [`Fectl`], [`Pmen`],
//!   [`Ics`], [`Iectl`], [`Prs`], [`Pectl`].
//!
//! Section numbers are those of rev 4.x, chapter 11; each item also carries the register's
//! name so that it can be found in a revision that renumbers. Field names are the spec's
//! (rev 4.0 renamed "first-level"/"second-level" to "first-stage"/"second-stage"; the
//! accessors keep the register mnemonics, e.g. `FLTS`, `SLTS`, `FL1GP`, which Linux and
//! QEMU also use).
//!
//! ```
//! use vsva_iommu::vtd::regs::{Capability, ExtendedCapability, Identification, Version};
//! let id = Identification::new(
//!     Version::new(0x10),
//!     Capability::new(0x00d2_008c_222f_0606),
//!     ExtendedCapability::new(0x4800_80f0_0f4a),
//! );
//! assert_eq!(id.cap.fault_recording_offset(), 0x220);
//! assert!(id.ecap.smts() && id.ecap.slts());
//! let line = format!("{id}");
//! assert!(line.starts_with("VT-d 1.0 | SAGAW 39,48-bit MGAW 48"));
//! ```

mod capability;
mod command;
mod extended_capability;
mod status;
#[cfg(test)]
mod tests;
mod version;

use core::fmt;

pub use capability::{Capability, Sagaw, Sllps};
pub use command::{Gcmd, GlobalCommand, Gsts};
pub use extended_capability::ExtendedCapability;
pub use status::{Fectl, Fsts, Ics, Iectl, Pectl, Pmen, Prs};
pub use version::Version;

// ---------------------------------------------------------------------------------------
// Register offsets (§11.4). 32-bit registers are accessed as aligned doublewords, 64-bit
// registers as aligned quadwords or as two doublewords, lower half first (§11.2).
// ---------------------------------------------------------------------------------------

/// Version Register, 32-bit, RO (§11.4.1).
pub const VER_REG: usize = 0x00;
/// Capability Register, 64-bit, RO (§11.4.2).
pub const CAP_REG: usize = 0x08;
/// Extended Capability Register, 64-bit, RO (§11.4.3).
pub const ECAP_REG: usize = 0x10;
/// Global Command Register, 32-bit, WO; reads are undefined, use GSTS (§11.4.4.1).
pub const GCMD_REG: usize = 0x18;
/// Global Status Register, 32-bit, RO (§11.4.4.2).
pub const GSTS_REG: usize = 0x1C;
/// Root Table Address Register, 64-bit (§11.4.5).
pub const RTADDR_REG: usize = 0x20;
/// Context Command Register, 64-bit (§11.4.6.1).
pub const CCMD_REG: usize = 0x28;
/// Fault Status Register, 32-bit (§11.4.7.1).
pub const FSTS_REG: usize = 0x34;
/// Fault Event Control Register, 32-bit (§11.4.7.2).
pub const FECTL_REG: usize = 0x38;
/// Fault Event Data Register, 32-bit (§11.4.7.3).
pub const FEDATA_REG: usize = 0x3C;
/// Fault Event Address Register, 32-bit (§11.4.7.4).
pub const FEADDR_REG: usize = 0x40;
/// Fault Event Upper Address Register, 32-bit (§11.4.7.5).
pub const FEUADDR_REG: usize = 0x44;
/// Advanced Fault Log Register, 64-bit (§11.4.8.1).
pub const AFLOG_REG: usize = 0x58;
/// Protected Memory Enable Register, 32-bit (§11.4.9.1).
pub const PMEN_REG: usize = 0x64;
/// Protected Low-Memory Base Register, 32-bit (§11.4.9.2).
pub const PLMBASE_REG: usize = 0x68;
/// Protected Low-Memory Limit Register, 32-bit (§11.4.9.3).
pub const PLMLIMIT_REG: usize = 0x6C;
/// Protected High-Memory Base Register, 64-bit (§11.4.9.4).
pub const PHMBASE_REG: usize = 0x70;
/// Protected High-Memory Limit Register, 64-bit (§11.4.9.5).
pub const PHMLIMIT_REG: usize = 0x78;
/// Invalidation Queue Head Register, 64-bit (§11.4.10.1).
pub const IQH_REG: usize = 0x80;
/// Invalidation Queue Tail Register, 64-bit (§11.4.10.2).
pub const IQT_REG: usize = 0x88;
/// Invalidation Queue Address Register, 64-bit (§11.4.10.3).
pub const IQA_REG: usize = 0x90;
/// Invalidation Completion Status Register, 32-bit (§11.4.10.4).
pub const ICS_REG: usize = 0x9C;
/// Invalidation Event Control Register, 32-bit (§11.4.10.5).
pub const IECTL_REG: usize = 0xA0;
/// Invalidation Event Data Register, 32-bit (§11.4.10.6).
pub const IEDATA_REG: usize = 0xA4;
/// Invalidation Event Address Register, 32-bit (§11.4.10.7).
pub const IEADDR_REG: usize = 0xA8;
/// Invalidation Event Upper Address Register, 32-bit (§11.4.10.8).
pub const IEUADDR_REG: usize = 0xAC;
/// Invalidation Queue Error Record Register, 64-bit (§11.4.10.9).
pub const IQERCD_REG: usize = 0xB0;
/// Interrupt Remapping Table Address Register, 64-bit (§11.4.11.1).
pub const IRTA_REG: usize = 0xB8;
/// Page Request Queue Head Register, 64-bit (§11.4.12.1).
pub const PQH_REG: usize = 0xC0;
/// Page Request Queue Tail Register, 64-bit (§11.4.12.2).
pub const PQT_REG: usize = 0xC8;
/// Page Request Queue Address Register, 64-bit (§11.4.12.3).
pub const PQA_REG: usize = 0xD0;
/// Page Request Status Register, 32-bit (§11.4.12.4).
pub const PRS_REG: usize = 0xDC;
/// Page Request Event Control Register, 32-bit (§11.4.12.5).
pub const PECTL_REG: usize = 0xE0;
/// Page Request Event Data Register, 32-bit (§11.4.12.6).
pub const PEDATA_REG: usize = 0xE4;
/// Page Request Event Address Register, 32-bit (§11.4.12.7).
pub const PEADDR_REG: usize = 0xE8;
/// Page Request Event Upper Address Register, 32-bit (§11.4.12.8).
pub const PEUADDR_REG: usize = 0xEC;
/// MTRR Capability Register, 64-bit; valid when ECAP.MTS (§11.4.13.1).
pub const MTRRCAP_REG: usize = 0x100;
/// MTRR Default Type Register, 64-bit (§11.4.13.2).
pub const MTRRDEF_REG: usize = 0x108;
/// Fixed-range MTRR for 0x00000..0x7FFFF, 64-bit (§11.4.13.3).
pub const MTRR_FIX64K_00000_REG: usize = 0x120;
/// Fixed-range MTRR for 0x80000..0x9FFFF, 64-bit (§11.4.13.3).
pub const MTRR_FIX16K_80000_REG: usize = 0x128;
/// Fixed-range MTRR for 0xA0000..0xBFFFF, 64-bit (§11.4.13.3).
pub const MTRR_FIX16K_A0000_REG: usize = 0x130;
/// Fixed-range MTRR for 0xC0000..0xC7FFF, 64-bit (§11.4.13.3).
pub const MTRR_FIX4K_C0000_REG: usize = 0x138;
/// Fixed-range MTRR for 0xC8000..0xCFFFF, 64-bit (§11.4.13.3).
pub const MTRR_FIX4K_C8000_REG: usize = 0x140;
/// Fixed-range MTRR for 0xD0000..0xD7FFF, 64-bit (§11.4.13.3).
pub const MTRR_FIX4K_D0000_REG: usize = 0x148;
/// Fixed-range MTRR for 0xD8000..0xDFFFF, 64-bit (§11.4.13.3).
pub const MTRR_FIX4K_D8000_REG: usize = 0x150;
/// Fixed-range MTRR for 0xE0000..0xE7FFF, 64-bit (§11.4.13.3).
pub const MTRR_FIX4K_E0000_REG: usize = 0x158;
/// Fixed-range MTRR for 0xE8000..0xEFFFF, 64-bit (§11.4.13.3).
pub const MTRR_FIX4K_E8000_REG: usize = 0x160;
/// Fixed-range MTRR for 0xF0000..0xF7FFF, 64-bit (§11.4.13.3).
pub const MTRR_FIX4K_F0000_REG: usize = 0x168;
/// Fixed-range MTRR for 0xF8000..0xFFFFF, 64-bit (§11.4.13.3).
pub const MTRR_FIX4K_F8000_REG: usize = 0x170;
/// Number of variable-range MTRR pairs (§11.4.13.4).
pub const MTRR_VARIABLE_COUNT: usize = 10;

/// Variable-range MTRR base register `n` (`MTRR_PHYSBASEn_REG`, 64-bit), or `None` if
/// `n >= MTRR_VARIABLE_COUNT` (§11.4.13.4).
pub const fn mtrr_physbase_reg(n: usize) -> Option<usize> {
    if n < MTRR_VARIABLE_COUNT {
        Some(0x180 + 16 * n)
    } else {
        None
    }
}

/// Variable-range MTRR mask register `n` (`MTRR_PHYSMASKn_REG`, 64-bit), or `None` if
/// `n >= MTRR_VARIABLE_COUNT` (§11.4.13.4).
pub const fn mtrr_physmask_reg(n: usize) -> Option<usize> {
    match mtrr_physbase_reg(n) {
        Some(base) => Some(base + 8),
        None => None,
    }
}

/// Virtual Command Capability Register, 64-bit; present when ECAP.VCS (§11.4.14.1).
pub const VCCAP_REG: usize = 0xE00;
/// Virtual Command Register, 64-bit (§11.4.14.2).
pub const VCMD_REG: usize = 0xE10;
/// Virtual Command Response Register, 64-bit (§11.4.14.3).
pub const VCRSP_REG: usize = 0xE20;

/// Size of one fault recording register, 128-bit (§11.4.7.6).
pub const FRCD_REG_SIZE: usize = 16;

// ---------------------------------------------------------------------------------------
// Field extraction, used only by the register types of this module.
// ---------------------------------------------------------------------------------------

/// Bits `lo .. lo + width` of `value`, shifted down.
const fn field(value: u64, lo: u32, width: u32) -> u64 {
    (value >> lo) & ((1u64 << width) - 1)
}

/// Bit `n` of `value`.
const fn bit(value: u64, n: u32) -> bool {
    (value >> n) & 1 == 1
}

/// Writes `items` separated by single spaces, skipping the ones whose flag is false.
fn write_flags(f: &mut fmt::Formatter<'_>, items: &[(bool, &str)]) -> fmt::Result {
    let mut first = true;
    for &(set, name) in items {
        if set {
            if !first {
                f.write_str(" ")?;
            }
            f.write_str(name)?;
            first = false;
        }
    }
    Ok(())
}

/// The three identification registers of one remapping unit: what the kernel logs at boot
/// and what the driver checks before using a feature.
///
/// [`Display`](fmt::Display) prints one compact line:
/// `VT-d 1.0 | <capability> | <extended capability>`, each part as printed by
/// [`Capability`] and [`ExtendedCapability`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Identification {
    /// VER_REG (§11.4.1).
    pub version: Version,
    /// CAP_REG (§11.4.2).
    pub cap: Capability,
    /// ECAP_REG (§11.4.3).
    pub ecap: ExtendedCapability,
}

impl Identification {
    /// Collects the three registers as read from the unit.
    pub const fn new(version: Version, cap: Capability, ecap: ExtendedCapability) -> Self {
        Self { version, cap, ecap }
    }
}

impl fmt::Display for Identification {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "VT-d {} | {} | {}", self.version, self.cap, self.ecap)
    }
}
