//! SMMUv3 registers (Arm SMMUv3 Architecture Specification, IHI 0070, chapter 6 "Memory
//! map and registers").
//!
//! - Register offsets from the SMMU base (§6.2, register map): page 0 at 0x0_0000 and
//!   page 1 at [`PAGE1`] = 0x1_0000, where the event and PRI queue producer/consumer
//!   indexes live.
//! - Typed views of the identification registers, every field decoded: [`Idr0`],
//!   [`Idr1`], [`Idr2`], [`Idr3`], [`Idr4`] (IMPLEMENTATION DEFINED), [`Idr5`], [`Iidr`],
//!   [`Aidr`]; [`Identification`] holds them and prints one compact line for the boot log.
//! - Control and error bits: [`Cr0`] (also CR0ACK), [`Cr2`], [`Statusr`], [`Gbpa`],
//!   [`IrqCtrl`] (also IRQ_CTRLACK), [`Gerror`] (also GERRORN).
//!
//! Section numbers are those of the register descriptions in §6.3 (SMMU_IDR0 is §6.3.1);
//! each item also names the register, which is what to search for in another issue of the
//! spec. QEMU implements 32-bit accesses everywhere and 64-bit accesses only on the
//! 64-bit base registers: use 32-bit accesses except there.
//!
//! ```
//! use vsva_iommu::smmuv3::regs::{Aidr, Identification, Idr0, Idr1, Idr3, Idr5, StLevel};
//! let id = Identification {
//!     idr0: Idr0::new(0x0d44_101b),
//!     idr1: Idr1::new(0x0273_0010),
//!     idr3: Idr3::new(0x1414),
//!     idr5: Idr5::new(0x74),
//!     aidr: Aidr::new(0x1),
//!     ..Identification::default()
//! };
//! assert_eq!(id.idr0.st_level(), StLevel::TwoLevel);
//! assert_eq!(id.idr1.sidsize(), 16);
//! assert!(format!("{id}").starts_with("SMMUv3.1 | S1P S2P nested-capable"));
//! ```

mod control;
mod idr;
#[cfg(test)]
mod tests;

use core::fmt;

pub use control::{Cr0, Cr2, Gbpa, Gerror, IrqCtrl, Statusr};
pub use idr::{
    Aidr, Bbml, Httu, Idr0, Idr1, Idr2, Idr3, Idr4, Idr5, Iidr, StLevel, StallModel, TtEndian, Ttf,
};

// ---------------------------------------------------------------------------------------
// Page 0 (§6.2).
// ---------------------------------------------------------------------------------------

/// SMMU_IDR0, 32-bit, RO (§6.3.1).
pub const IDR0: usize = 0x00;
/// SMMU_IDR1, 32-bit, RO (§6.3.2).
pub const IDR1: usize = 0x04;
/// SMMU_IDR2, 32-bit, RO (§6.3.3).
pub const IDR2: usize = 0x08;
/// SMMU_IDR3, 32-bit, RO (§6.3.4).
pub const IDR3: usize = 0x0C;
/// SMMU_IDR4, 32-bit, RO, IMPLEMENTATION DEFINED (§6.3.5).
pub const IDR4: usize = 0x10;
/// SMMU_IDR5, 32-bit, RO (§6.3.6).
pub const IDR5: usize = 0x14;
/// SMMU_IIDR, 32-bit, RO (§6.3.7).
pub const IIDR: usize = 0x18;
/// SMMU_AIDR, 32-bit, RO (§6.3.8).
pub const AIDR: usize = 0x1C;
/// SMMU_CR0, 32-bit (§6.3.9).
pub const CR0: usize = 0x20;
/// SMMU_CR0ACK, 32-bit, RO (§6.3.10).
pub const CR0ACK: usize = 0x24;
/// SMMU_CR1, 32-bit: table and queue memory attributes (§6.3.11).
pub const CR1: usize = 0x28;
/// SMMU_CR2, 32-bit (§6.3.12).
pub const CR2: usize = 0x2C;
/// SMMU_STATUSR, 32-bit, RO (§6.3.13).
pub const STATUSR: usize = 0x40;
/// SMMU_GBPA, 32-bit (§6.3.14).
pub const GBPA: usize = 0x44;
/// SMMU_AGBPA, 32-bit, IMPLEMENTATION DEFINED bypass attributes (§6.3.15).
pub const AGBPA: usize = 0x48;
/// SMMU_IRQ_CTRL, 32-bit (§6.3.16).
pub const IRQ_CTRL: usize = 0x50;
/// SMMU_IRQ_CTRLACK, 32-bit, RO (§6.3.17).
pub const IRQ_CTRLACK: usize = 0x54;
/// SMMU_GERROR, 32-bit, RO (§6.3.18).
pub const GERROR: usize = 0x60;
/// SMMU_GERRORN, 32-bit (§6.3.19).
pub const GERRORN: usize = 0x64;
/// SMMU_GERROR_IRQ_CFG0, 64-bit: GERROR MSI address (§6.3.20).
pub const GERROR_IRQ_CFG0: usize = 0x68;
/// SMMU_GERROR_IRQ_CFG1, 32-bit: GERROR MSI data (§6.3.21).
pub const GERROR_IRQ_CFG1: usize = 0x70;
/// SMMU_GERROR_IRQ_CFG2, 32-bit: GERROR MSI attributes (§6.3.22).
pub const GERROR_IRQ_CFG2: usize = 0x74;
/// SMMU_STRTAB_BASE, 64-bit (§6.3.23).
pub const STRTAB_BASE: usize = 0x80;
/// SMMU_STRTAB_BASE_CFG, 32-bit (§6.3.24).
pub const STRTAB_BASE_CFG: usize = 0x88;
/// SMMU_CMDQ_BASE, 64-bit (§6.3.25).
pub const CMDQ_BASE: usize = 0x90;
/// SMMU_CMDQ_PROD, 32-bit (§6.3.26).
pub const CMDQ_PROD: usize = 0x98;
/// SMMU_CMDQ_CONS, 32-bit (§6.3.27).
pub const CMDQ_CONS: usize = 0x9C;
/// SMMU_EVENTQ_BASE, 64-bit (§6.3.28).
pub const EVENTQ_BASE: usize = 0xA0;
/// Page-0 alias of SMMU_EVENTQ_PROD, which some implementations (and QEMU) provide;
/// the architected register is [`EVENTQ_PROD`] in page 1 (§6.3.29).
pub const EVENTQ_PROD_PAGE0: usize = 0xA8;
/// Page-0 alias of SMMU_EVENTQ_CONS; the architected register is [`EVENTQ_CONS`] in
/// page 1 (§6.3.30).
pub const EVENTQ_CONS_PAGE0: usize = 0xAC;
/// SMMU_EVENTQ_IRQ_CFG0, 64-bit: event queue MSI address (§6.3.31).
pub const EVENTQ_IRQ_CFG0: usize = 0xB0;
/// SMMU_EVENTQ_IRQ_CFG1, 32-bit: event queue MSI data (§6.3.32).
pub const EVENTQ_IRQ_CFG1: usize = 0xB8;
/// SMMU_EVENTQ_IRQ_CFG2, 32-bit: event queue MSI attributes (§6.3.33).
pub const EVENTQ_IRQ_CFG2: usize = 0xBC;
/// SMMU_PRIQ_BASE, 64-bit (§6.3.34).
pub const PRIQ_BASE: usize = 0xC0;
/// Page-0 alias of SMMU_PRIQ_PROD; the architected register is [`PRIQ_PROD`] in page 1
/// (§6.3.35).
pub const PRIQ_PROD_PAGE0: usize = 0xC8;
/// Page-0 alias of SMMU_PRIQ_CONS; the architected register is [`PRIQ_CONS`] in page 1
/// (§6.3.36).
pub const PRIQ_CONS_PAGE0: usize = 0xCC;
/// SMMU_PRIQ_IRQ_CFG0, 64-bit: PRI queue MSI address (§6.3.37).
pub const PRIQ_IRQ_CFG0: usize = 0xD0;
/// SMMU_PRIQ_IRQ_CFG1, 32-bit: PRI queue MSI data (§6.3.38).
pub const PRIQ_IRQ_CFG1: usize = 0xD8;
/// SMMU_PRIQ_IRQ_CFG2, 32-bit: PRI queue MSI attributes (§6.3.39).
pub const PRIQ_IRQ_CFG2: usize = 0xDC;
/// SMMU_GATOS_CTRL, 32-bit; present when SMMU_IDR0.ATOS (§6.3, SMMU_GATOS_CTRL).
pub const GATOS_CTRL: usize = 0x100;
/// SMMU_GATOS_SID, 64-bit (§6.3, SMMU_GATOS_SID).
pub const GATOS_SID: usize = 0x108;
/// SMMU_GATOS_ADDR, 64-bit (§6.3, SMMU_GATOS_ADDR).
pub const GATOS_ADDR: usize = 0x110;
/// SMMU_GATOS_PAR, 64-bit (§6.3, SMMU_GATOS_PAR).
pub const GATOS_PAR: usize = 0x118;
/// SMMU_MPAMIDR, 32-bit; present when SMMU_IDR3.MPAM (§6.3, SMMU_MPAMIDR).
pub const MPAMIDR: usize = 0x130;
/// SMMU_GMPAM, 32-bit (§6.3, SMMU_GMPAM).
pub const GMPAM: usize = 0x138;
/// SMMU_GBPMPAM, 32-bit (§6.3, SMMU_GBPMPAM).
pub const GBPMPAM: usize = 0x13C;
/// SMMU_VATOS_SEL, 32-bit; present when SMMU_IDR0.VATOS (§6.3, SMMU_VATOS_SEL).
pub const VATOS_SEL: usize = 0x180;
/// SMMU_IDR6, 32-bit: ECMDQ control page layout; present when SMMU_IDR1.ECMDQ
/// (§6.3, SMMU_IDR6).
pub const IDR6: usize = 0x190;

// ---------------------------------------------------------------------------------------
// Page 1 (§6.2).
// ---------------------------------------------------------------------------------------

/// Offset of register page 1 from the SMMU base.
pub const PAGE1: usize = 0x1_0000;
/// Size of the two architected register pages, which the SMMU's MMIO window must cover.
pub const REGISTER_SPACE_SIZE: usize = 0x2_0000;
/// SMMU_EVENTQ_PROD, 32-bit, page 1 (§6.3.29).
pub const EVENTQ_PROD: usize = PAGE1 + 0xA8;
/// SMMU_EVENTQ_CONS, 32-bit, page 1 (§6.3.30).
pub const EVENTQ_CONS: usize = PAGE1 + 0xAC;
/// SMMU_PRIQ_PROD, 32-bit, page 1 (§6.3.35).
pub const PRIQ_PROD: usize = PAGE1 + 0xC8;
/// SMMU_PRIQ_CONS, 32-bit, page 1 (§6.3.36).
pub const PRIQ_CONS: usize = PAGE1 + 0xCC;

// ---------------------------------------------------------------------------------------
// Field extraction, used only by the register types of this module.
// ---------------------------------------------------------------------------------------

/// Bits `lo .. lo + width` of `value`, shifted down.
const fn field(value: u32, lo: u32, width: u32) -> u32 {
    (value >> lo) & (u32::MAX >> (32 - width))
}

/// Bit `n` of `value`.
const fn bit(value: u32, n: u32) -> bool {
    (value >> n) & 1 == 1
}

/// Writes the names whose flag is set, separated by single spaces.
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

/// Writes ` | ` and the set flags, or nothing if none is set.
fn write_flag_group(f: &mut fmt::Formatter<'_>, items: &[(bool, &str)]) -> fmt::Result {
    if items.iter().any(|&(set, _)| set) {
        f.write_str(" | ")?;
        write_flags(f, items)?;
    }
    Ok(())
}

/// The identification registers of one SMMU: what the kernel logs at boot and what the
/// driver checks before using a feature.
///
/// [`Display`](fmt::Display) prints one compact line, e.g. for QEMU's SMMUv3:
/// `SMMUv3.1 | S1P S2P nested-capable | AArch64 tables | 2-level STE | SID 16 bits SSID 0 |
/// ASID16 VMID16 | CMDQ 2^19 EVENTQ 2^19 | COHACC | HAD XNX RIL BBML2 | OAS 44-bit
/// 4K/16K/64K`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Identification {
    /// SMMU_IDR0 (§6.3.1).
    pub idr0: Idr0,
    /// SMMU_IDR1 (§6.3.2).
    pub idr1: Idr1,
    /// SMMU_IDR2 (§6.3.3).
    pub idr2: Idr2,
    /// SMMU_IDR3 (§6.3.4).
    pub idr3: Idr3,
    /// SMMU_IDR4 (§6.3.5).
    pub idr4: Idr4,
    /// SMMU_IDR5 (§6.3.6).
    pub idr5: Idr5,
    /// SMMU_IIDR (§6.3.7).
    pub iidr: Iidr,
    /// SMMU_AIDR (§6.3.8).
    pub aidr: Aidr,
}

impl Identification {
    /// The registers read, in offset order, from [`IDR0`] to [`AIDR`].
    pub const REGISTERS: [usize; 8] = [IDR0, IDR1, IDR2, IDR3, IDR4, IDR5, IIDR, AIDR];

    /// Builds the set from the eight values read at [`Identification::REGISTERS`], in
    /// that order.
    pub const fn from_raw(raw: [u32; 8]) -> Self {
        Self {
            idr0: Idr0::new(raw[0]),
            idr1: Idr1::new(raw[1]),
            idr2: Idr2::new(raw[2]),
            idr3: Idr3::new(raw[3]),
            idr4: Idr4::new(raw[4]),
            idr5: Idr5::new(raw[5]),
            iidr: Iidr::new(raw[6]),
            aidr: Aidr::new(raw[7]),
        }
    }
}

impl fmt::Display for Identification {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (idr0, idr1) = (self.idr0, self.idr1);
        write!(f, "{}", self.aidr)?;
        f.write_str(match (idr0.s1p(), idr0.s2p()) {
            (true, true) => " | S1P S2P nested-capable",
            (true, false) => " | S1P",
            (false, true) => " | S2P",
            (false, false) => " | no translation stages",
        })?;
        f.write_str(match idr0.ttf() {
            Ttf::AArch32 => " | AArch32 tables",
            Ttf::AArch64 => " | AArch64 tables",
            Ttf::AArch32AndAArch64 => " | AArch32+AArch64 tables",
            Ttf::Reserved => " | TTF reserved",
        })?;
        f.write_str(match idr0.st_level() {
            StLevel::Linear => " | linear STE",
            StLevel::TwoLevel => " | 2-level STE",
            StLevel::Reserved => " | ST_LEVEL reserved",
        })?;
        write!(f, " | SID {} bits SSID {}", idr1.sidsize(), idr1.ssidsize())?;
        write!(
            f,
            " | ASID{} VMID{}",
            if idr0.asid16() { 16 } else { 8 },
            if idr0.vmid16() { 16 } else { 8 }
        )?;
        write!(f, " | CMDQ 2^{} EVENTQ 2^{}", idr1.cmdqs(), idr1.eventqs())?;
        if idr0.pri() {
            write!(f, " PRIQ 2^{}", idr1.priqs())?;
        }
        write_flag_group(f, &idr::idr0_flags(idr0))?;
        write_flag_group(f, &idr::idr1_flags(idr1))?;
        write_flag_group(f, &idr::idr3_flags(self.idr3))?;
        write!(f, " | {}", self.idr5)
    }
}
