//! CAP_REG (§11.4.2).

use core::fmt;

use bitflags::bitflags;

use super::{FRCD_REG_SIZE, bit, field, write_flags};

bitflags! {
    /// SAGAW: the adjusted guest address widths, i.e. the second-stage page-table depths,
    /// the unit supports (CAP_REG bits 12:8, §11.4.2). Bit 0 and bit 4 are reserved; they
    /// are kept in [`Sagaw::bits`] but have no name.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct Sagaw: u8 {
        /// Bit 1: 39-bit AGAW, 3-level page table.
        const AGAW39 = 1 << 1;
        /// Bit 2: 48-bit AGAW, 4-level page table.
        const AGAW48 = 1 << 2;
        /// Bit 3: 57-bit AGAW, 5-level page table.
        const AGAW57 = 1 << 3;
    }
}

impl Sagaw {
    /// The supported widths with their page-table depths, narrowest first:
    /// `(flag, address bits, levels)`.
    pub const WIDTHS: [(Sagaw, u8, u8); 3] = [
        (Sagaw::AGAW39, 39, 3),
        (Sagaw::AGAW48, 48, 4),
        (Sagaw::AGAW57, 57, 5),
    ];

    /// The widest supported AGAW in bits, or `None` if no defined width is set.
    pub fn max_width(self) -> Option<u8> {
        Self::WIDTHS
            .iter()
            .rev()
            .find(|(flag, _, _)| self.contains(*flag))
            .map(|&(_, bits, _)| bits)
    }

    /// The deepest supported second-stage page table in levels, or `None` if no defined
    /// width is set.
    pub fn max_levels(self) -> Option<u8> {
        Self::WIDTHS
            .iter()
            .rev()
            .find(|(flag, _, _)| self.contains(*flag))
            .map(|&(_, _, levels)| levels)
    }
}

impl fmt::Display for Sagaw {
    /// The supported widths as `39,48-bit`, or `none`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for &(flag, bits, _) in &Self::WIDTHS {
            if self.contains(flag) {
                if !first {
                    f.write_str(",")?;
                }
                write!(f, "{bits}")?;
                first = false;
            }
        }
        if first {
            f.write_str("none")
        } else {
            f.write_str("-bit")
        }
    }
}

bitflags! {
    /// SLLPS: the large (super) page sizes supported in second-stage translation
    /// (CAP_REG bits 37:34, §11.4.2). Bits 2 and 3 are reserved.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct Sllps: u8 {
        /// Bit 0: 2-MByte pages (21-bit offset to page frame).
        const PAGE_2M = 1 << 0;
        /// Bit 1: 1-GByte pages (30-bit offset to page frame).
        const PAGE_1G = 1 << 1;
    }
}

/// Capability Register: general remapping hardware capabilities (§11.4.2).
///
/// Every field has an accessor named after the spec's mnemonic that returns the field as
/// defined; where the spec encodes a quantity (`FRO`, `NFR`, `MGAW`, `ND`), a second
/// accessor returns the quantity itself. [`Debug`](fmt::Debug) lists every field;
/// [`Display`](fmt::Display) prints a compact summary for the boot log, e.g.
/// `SAGAW 39,48-bit MGAW 48 | 2M 1G pages | NFR 1 @0x220 | PSI MAMV 18 | ND 64K | DWD DRD`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Capability(u64);

impl Capability {
    /// Bits this type does not decode: reserved in rev 4.x (15:13, 23 — formerly ISOCH —,
    /// 38, 58:57).
    pub const RESERVED: u64 = (0b111 << 13) | (1 << 23) | (1 << 38) | (0b11 << 57);

    /// Wraps a value read from CAP_REG.
    pub const fn new(raw: u64) -> Self {
        Self(raw)
    }

    /// The register value as read.
    pub const fn raw(self) -> u64 {
        self.0
    }

    /// The reserved bits that are set (normally 0): a newer revision's fields.
    pub const fn reserved_bits(self) -> u64 {
        self.0 & Self::RESERVED
    }

    /// ND, bits 2:0: number of domains supported, encoded (§11.4.2); 7 is reserved.
    pub const fn nd(self) -> u8 {
        field(self.0, 0, 3) as u8
    }

    /// The width of a domain-id as ND encodes it: 4 + 2 * ND bits (4 to 16), or `None` for
    /// the reserved encoding 7 (§11.4.2).
    pub const fn domain_id_bits(self) -> Option<u8> {
        match self.nd() {
            7 => None,
            nd => Some(4 + 2 * nd),
        }
    }

    /// The number of domains supported: 2^(4 + 2 * ND), or `None` if ND is reserved
    /// (§11.4.2).
    pub const fn domain_count(self) -> Option<u32> {
        match self.domain_id_bits() {
            Some(bits) => Some(1 << bits),
            None => None,
        }
    }

    /// AFL, bit 3: advanced fault logging supported (§11.4.2).
    pub const fn afl(self) -> bool {
        bit(self.0, 3)
    }

    /// RWBF, bit 4: software must flush the write buffer (GCMD.WBF) after updating
    /// remapping structures (§11.4.2).
    pub const fn rwbf(self) -> bool {
        bit(self.0, 4)
    }

    /// PLMR, bit 5: protected low-memory region supported (§11.4.2).
    pub const fn plmr(self) -> bool {
        bit(self.0, 5)
    }

    /// PHMR, bit 6: protected high-memory region supported (§11.4.2).
    pub const fn phmr(self) -> bool {
        bit(self.0, 6)
    }

    /// CM, bit 7: caching mode — the unit may cache not-present and erroneous entries, so
    /// software must invalidate after making an entry present (§11.4.2).
    pub const fn cm(self) -> bool {
        bit(self.0, 7)
    }

    /// SAGAW, bits 12:8: supported adjusted guest address widths (§11.4.2).
    pub const fn sagaw(self) -> Sagaw {
        Sagaw::from_bits_retain(field(self.0, 8, 5) as u8)
    }

    /// MGAW, bits 21:16: maximum guest address width, encoded as width − 1 (§11.4.2).
    pub const fn mgaw(self) -> u8 {
        field(self.0, 16, 6) as u8
    }

    /// The maximum guest address width in bits: MGAW + 1 (§11.4.2).
    pub const fn max_guest_address_width(self) -> u8 {
        self.mgaw() + 1
    }

    /// ZLR, bit 22: zero-length DMA reads to write-only pages are supported (§11.4.2).
    pub const fn zlr(self) -> bool {
        bit(self.0, 22)
    }

    /// FRO, bits 33:24: offset of the first fault recording register, in 16-byte units
    /// (§11.4.2).
    pub const fn fro(self) -> u16 {
        field(self.0, 24, 10) as u16
    }

    /// The byte offset of the first fault recording register: FRO * 16 (§11.4.2).
    pub const fn fault_recording_offset(self) -> usize {
        self.fro() as usize * 16
    }

    /// The byte offset of fault recording register `n` (`FRCD_REG[n]`, 128-bit), or
    /// `None` if `n` is not below [`fault_recording_count`](Self::fault_recording_count)
    /// (§11.4.7.6).
    pub const fn frcd_reg_offset(self, n: usize) -> Option<usize> {
        if n < self.fault_recording_count() {
            Some(self.fault_recording_offset() + n * FRCD_REG_SIZE)
        } else {
            None
        }
    }

    /// SLLPS, bits 37:34: second-stage large page sizes supported (§11.4.2).
    pub const fn sllps(self) -> Sllps {
        Sllps::from_bits_retain(field(self.0, 34, 4) as u8)
    }

    /// PSI, bit 39: page-selective IOTLB invalidation supported (§11.4.2).
    pub const fn psi(self) -> bool {
        bit(self.0, 39)
    }

    /// NFR, bits 47:40: number of fault recording registers, encoded as count − 1
    /// (§11.4.2).
    pub const fn nfr(self) -> u8 {
        field(self.0, 40, 8) as u8
    }

    /// The number of fault recording registers: NFR + 1, 1 to 256 (§11.4.2).
    pub const fn fault_recording_count(self) -> usize {
        self.nfr() as usize + 1
    }

    /// MAMV, bits 53:48: maximum address mask value for page-selective invalidation;
    /// valid when PSI (§11.4.2).
    pub const fn mamv(self) -> u8 {
        field(self.0, 48, 6) as u8
    }

    /// DWD, bit 54: write draining supported on IOTLB invalidation (§11.4.2).
    pub const fn dwd(self) -> bool {
        bit(self.0, 54)
    }

    /// DRD, bit 55: read draining supported on IOTLB invalidation (§11.4.2).
    pub const fn drd(self) -> bool {
        bit(self.0, 55)
    }

    /// FL1GP, bit 56: 1-GByte pages supported in first-stage translation (rev 4.x: FS1GP)
    /// (§11.4.2).
    pub const fn fl1gp(self) -> bool {
        bit(self.0, 56)
    }

    /// PI, bit 59: posted interrupts supported (§11.4.2).
    pub const fn pi(self) -> bool {
        bit(self.0, 59)
    }

    /// FL5LP, bit 60: 5-level paging supported in first-stage translation (rev 4.x: FS5LP)
    /// (§11.4.2).
    pub const fn fl5lp(self) -> bool {
        bit(self.0, 60)
    }

    /// ECMDS, bit 61: enhanced command interface (ECMD_REG) supported (§11.4.2).
    pub const fn ecmds(self) -> bool {
        bit(self.0, 61)
    }

    /// ESIRTPS, bit 62: a Set Interrupt Remapping Table Pointer operation also invalidates
    /// the interrupt entry cache (§11.4.2).
    pub const fn esirtps(self) -> bool {
        bit(self.0, 62)
    }

    /// ESRTPS, bit 63: a Set Root Table Pointer operation also invalidates all caches
    /// (context, PASID, IOTLB) (§11.4.2).
    pub const fn esrtps(self) -> bool {
        bit(self.0, 63)
    }
}

impl From<u64> for Capability {
    fn from(raw: u64) -> Self {
        Self(raw)
    }
}

impl fmt::Debug for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Capability")
            .field("raw", &format_args!("{:#018x}", self.0))
            .field("nd", &self.nd())
            .field("afl", &self.afl())
            .field("rwbf", &self.rwbf())
            .field("plmr", &self.plmr())
            .field("phmr", &self.phmr())
            .field("cm", &self.cm())
            .field("sagaw", &self.sagaw())
            .field("mgaw", &self.mgaw())
            .field("zlr", &self.zlr())
            .field("fro", &self.fro())
            .field("sllps", &self.sllps())
            .field("psi", &self.psi())
            .field("nfr", &self.nfr())
            .field("mamv", &self.mamv())
            .field("dwd", &self.dwd())
            .field("drd", &self.drd())
            .field("fl1gp", &self.fl1gp())
            .field("pi", &self.pi())
            .field("fl5lp", &self.fl5lp())
            .field("ecmds", &self.ecmds())
            .field("esirtps", &self.esirtps())
            .field("esrtps", &self.esrtps())
            .field("reserved", &format_args!("{:#x}", self.reserved_bits()))
            .finish()
    }
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "SAGAW {} MGAW {}",
            self.sagaw(),
            self.max_guest_address_width()
        )?;
        let sllps = self.sllps();
        if sllps.contains(Sllps::PAGE_2M | Sllps::PAGE_1G) {
            f.write_str(" | 2M 1G pages")?;
        } else if sllps.contains(Sllps::PAGE_2M) {
            f.write_str(" | 2M pages")?;
        } else if sllps.contains(Sllps::PAGE_1G) {
            f.write_str(" | 1G pages")?;
        } else {
            f.write_str(" | 4K pages only")?;
        }
        write!(
            f,
            " | NFR {} @{:#x}",
            self.fault_recording_count(),
            self.fault_recording_offset()
        )?;
        if self.psi() {
            write!(f, " | PSI MAMV {}", self.mamv())?;
        } else {
            f.write_str(" | no PSI")?;
        }
        match self.domain_id_bits() {
            Some(bits) if bits >= 10 => write!(f, " | ND {}K", 1u32 << (bits - 10))?,
            Some(bits) => write!(f, " | ND {}", 1u32 << bits)?,
            None => f.write_str(" | ND reserved")?,
        }
        let flags = [
            (self.cm(), "CM"),
            (self.rwbf(), "RWBF"),
            (self.afl(), "AFL"),
            (self.plmr(), "PLMR"),
            (self.phmr(), "PHMR"),
            (self.zlr(), "ZLR"),
            (self.dwd(), "DWD"),
            (self.drd(), "DRD"),
            (self.fl1gp(), "FL1GP"),
            (self.fl5lp(), "FL5LP"),
            (self.pi(), "PI"),
            (self.ecmds(), "ECMDS"),
            (self.esirtps(), "ESIRTPS"),
            (self.esrtps(), "ESRTPS"),
        ];
        if flags.iter().any(|&(set, _)| set) {
            f.write_str(" | ")?;
            write_flags(f, &flags)?;
        }
        if self.reserved_bits() != 0 {
            write!(f, " | rsvd {:#x}", self.reserved_bits())?;
        }
        Ok(())
    }
}
