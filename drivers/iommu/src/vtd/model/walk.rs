//! Table walks, decoded by the model's own code: root and context entries (§9.1–§9.4),
//! PASID directory and table entries (§9.5, §9.6), first-stage (§3.6, §9.7) and
//! second-stage (§3.7, §9.8) paging entries.

use super::bits::{bit, cap_domain_bits, cap_fs1gp, cap_fs5lp, cap_mgaw, cap_sagaw};
use super::bits::{cap_sl_1g, cap_sl_2m, ecap_dt, ecap_flts, ecap_nest, ecap_pt, ecap_slts};
use super::bits::{field, mask};
use super::fault::{Access, FaultReason};
use crate::hw::DmaMemory;
use crate::hw::sim::SimMemory;

/// A fault found by a walk, with whether a present entry on the way had FPD Set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct WalkFault {
    pub reason: FaultReason,
    pub fpd: bool,
}

impl WalkFault {
    pub fn new(reason: FaultReason, fpd: bool) -> Self {
        Self { reason, fpd }
    }
}

/// A decoded context entry (§9.3 legacy, §9.4 scalable mode).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ContextEntry {
    Legacy {
        fpd: bool,
        /// TT: 00 untranslated requests through second stage, 01 also translated requests
        /// (device-TLB), 10 pass-through.
        tt: u8,
        slptptr: u64,
        /// AW: 1 = 3-level, 2 = 4-level, 3 = 5-level.
        aw: u8,
        did: u16,
    },
    Scalable {
        fpd: bool,
        dte: bool,
        paside: bool,
        pre: bool,
        /// PDTS: the PASID directory has 2^(PDTS+7) entries.
        pdts: u8,
        pasid_dir: u64,
        rid_pasid: u32,
    },
}

impl ContextEntry {
    /// The DID a legacy context entry carries (scalable-mode entries have none).
    pub fn did(&self) -> Option<u16> {
        match *self {
            Self::Legacy { did, .. } => Some(did),
            Self::Scalable { .. } => None,
        }
    }
}

/// PGTT values of a PASID-table entry (§9.6).
pub(crate) const PGTT_FIRST: u8 = 1;
pub(crate) const PGTT_SECOND: u8 = 2;
pub(crate) const PGTT_NESTED: u8 = 3;
pub(crate) const PGTT_PT: u8 = 4;

/// A decoded scalable-mode PASID-table entry (512 bits, §9.6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PasidEntry {
    /// FPD of the PASID-directory entry or of this entry.
    pub fpd: bool,
    pub aw: u8,
    pub slee: bool,
    pub pgtt: u8,
    pub slade: bool,
    pub slptptr: u64,
    pub did: u16,
    pub sre: bool,
    pub flpm: u8,
    pub wpe: bool,
    pub nxe: bool,
    pub flptptr: u64,
}

/// What a successful walk found: a page of `1 << size_log2` bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Leaf {
    pub out: u64,
    pub size_log2: u32,
    pub read: bool,
    pub write: bool,
    pub global: bool,
}

impl Leaf {
    /// The output address of `addr` inside this page.
    pub fn output(&self, addr: u64) -> u64 {
        self.out | (addr & ((1 << self.size_log2) - 1))
    }
}

/// Reads tables in simulated memory with the unit's capabilities.
pub(crate) struct Walker<'a> {
    pub mem: &'a SimMemory,
    pub cap: u64,
    pub ecap: u64,
}

impl Walker<'_> {
    /// Host address width: the model uses MGAW (as QEMU does), at most 52.
    fn haw(&self) -> u32 {
        cap_mgaw(self.cap).min(52)
    }

    /// Address bits of a table pointer above the host address width (bits 63:HAW).
    fn above_haw(&self) -> u64 {
        mask(63, self.haw())
    }

    /// Bits 51:HAW of a paging entry's address field.
    fn pte_above_haw(&self) -> u64 {
        let haw = self.haw();
        if haw >= 52 { 0 } else { mask(51, haw) }
    }

    fn did_fits(&self, did: u64) -> bool {
        did >> cap_domain_bits(self.cap) == 0
    }

    /// The context entry of `rid` under the root table at `root` (§3.4.2, §3.4.3).
    pub fn context(&self, root: u64, scalable: bool, rid: u16) -> Result<ContextEntry, WalkFault> {
        let bus = u64::from(rid >> 8);
        let devfn = u64::from(rid & 0xff);
        let lo = self.mem.read64(root + bus * 16);
        let hi = self.mem.read64(root + bus * 16 + 8);
        if !scalable {
            // Root entry (§9.1): P bit 0, CTP 63:12; bits 11:1 and the upper 64 bits reserved.
            if !bit(lo, 0) {
                return Err(WalkFault::new(FaultReason::RootEntryNotPresent, false));
            }
            if lo & (mask(11, 1) | self.above_haw()) != 0 || hi != 0 {
                return Err(WalkFault::new(FaultReason::RootEntryReserved, false));
            }
            let ctp = lo & !0xfff;
            // Context entry (§9.3): lo: P 0, FPD 1, TT 3:2, SLPTPTR 63:12;
            // hi: AW 2:0, AVAIL 6:3, DID 23:8.
            let clo = self.mem.read64(ctp + devfn * 16);
            let chi = self.mem.read64(ctp + devfn * 16 + 8);
            if !bit(clo, 0) {
                return Err(WalkFault::new(FaultReason::ContextEntryNotPresent, false));
            }
            let fpd = bit(clo, 1);
            let did = field(chi, 23, 8);
            if clo & (mask(11, 4) | self.above_haw()) != 0
                || chi & (1 << 7 | mask(63, 24)) != 0
                || !self.did_fits(did)
            {
                return Err(WalkFault::new(FaultReason::ContextEntryReserved, fpd));
            }
            let tt = field(clo, 3, 2) as u8;
            let aw = field(chi, 2, 0) as u8;
            let tt_ok = match tt {
                0 => true,
                1 => ecap_dt(self.ecap),
                2 => ecap_pt(self.ecap),
                _ => false,
            };
            if !tt_ok || (tt != 2 && !self.aw_supported(aw)) {
                return Err(WalkFault::new(FaultReason::ContextEntryInvalid, fpd));
            }
            return Ok(ContextEntry::Legacy {
                fpd,
                tt,
                slptptr: clo & !0xfff,
                aw,
                did: did as u16,
            });
        }
        // Scalable-mode root entry (§9.2): LP bit 0, LCTP 63:12 (devfn 0-127);
        // UP bit 64, UCTP 127:76 (devfn 128-255); bits 11:1 of each half reserved.
        let half = if devfn < 128 { lo } else { hi };
        if !bit(half, 0) {
            return Err(WalkFault::new(FaultReason::SmRootEntryNotPresent, false));
        }
        if half & (mask(11, 1) | self.above_haw()) != 0 {
            return Err(WalkFault::new(FaultReason::SmRootEntryReserved, false));
        }
        let ctp = half & !0xfff;
        // Scalable-mode context entry (§9.4), 256 bits: qw0: P 0, FPD 1, DTE 2, PASIDE 3,
        // PRE 4, PDTS 11:9, PASIDDIRPTR 63:12; qw1: RID_PASID 19:0, RID_PRIV 20; qw2, qw3
        // reserved.
        let at = ctp + (devfn & 0x7f) * 32;
        let q = [0, 1, 2, 3].map(|i| self.mem.read64(at + 8 * i));
        if !bit(q[0], 0) {
            return Err(WalkFault::new(FaultReason::SmContextEntryNotPresent, false));
        }
        let fpd = bit(q[0], 1);
        if q[0] & (mask(8, 5) | self.above_haw()) != 0
            || q[1] & mask(63, 21) != 0
            || q[2] != 0
            || q[3] != 0
        {
            return Err(WalkFault::new(FaultReason::SmContextEntryReserved, fpd));
        }
        let dte = bit(q[0], 2);
        if dte && !ecap_dt(self.ecap) {
            return Err(WalkFault::new(FaultReason::SmContextEntryInvalid, fpd));
        }
        Ok(ContextEntry::Scalable {
            fpd,
            dte,
            paside: bit(q[0], 3),
            pre: bit(q[0], 4),
            pdts: field(q[0], 11, 9) as u8,
            pasid_dir: q[0] & !0xfff,
            rid_pasid: field(q[1], 19, 0) as u32,
        })
    }

    fn aw_supported(&self, aw: u8) -> bool {
        (1..=3).contains(&aw) && bit(cap_sagaw(self.cap), u32::from(aw))
    }

    /// The PASID-table entry for `pasid` under a scalable-mode context entry's PASID
    /// directory (§3.4.3, §9.5, §9.6).
    pub fn pasid_entry(
        &self,
        pasid_dir: u64,
        pdts: u8,
        ctx_fpd: bool,
        pasid: u32,
    ) -> Result<PasidEntry, WalkFault> {
        let dir_index = u64::from(pasid >> 6);
        if dir_index >= 1 << (u32::from(pdts) + 7) {
            return Err(WalkFault::new(FaultReason::SmContextEntryInvalid, ctx_fpd));
        }
        // PASID-directory entry (§9.5): P 0, FPD 1, bits 11:2 reserved, SMPTBLPTR 63:12.
        let de = self.mem.read64(pasid_dir + dir_index * 8);
        if !bit(de, 0) {
            return Err(WalkFault::new(
                FaultReason::PasidDirectoryEntryNotPresent,
                ctx_fpd,
            ));
        }
        let mut fpd = ctx_fpd || bit(de, 1);
        if de & (mask(11, 2) | self.above_haw()) != 0 {
            return Err(WalkFault::new(
                FaultReason::PasidDirectoryEntryReserved,
                fpd,
            ));
        }
        let at = (de & !0xfff) + u64::from(pasid & 0x3f) * 64;
        let q = [0, 1, 2, 3, 4, 5, 6, 7].map(|i| self.mem.read64(at + 8 * i));
        // qw0: P 0, FPD 1, AW 4:2, SLEE 5, PGTT 8:6, SLADE 9, SLPTPTR 63:12.
        if !bit(q[0], 0) {
            return Err(WalkFault::new(FaultReason::PasidEntryNotPresent, fpd));
        }
        fpd |= bit(q[0], 1);
        // Reserved: qw0 11:10, qw1 22:16 (DID 15:0, PWSNP 23, PGSNP 24, CD/EMT/PAT above),
        // qw4..qw7. qw2: SRE 0, ERE 1, FLPM 3:2, WPE 4, NXE 5, SMEP 6, EAFE 7, FLPTPTR 63:12.
        if q[0] & mask(11, 10) != 0 || q[1] & mask(22, 16) != 0 || q[4..].iter().any(|&w| w != 0) {
            return Err(WalkFault::new(FaultReason::PasidEntryReserved, fpd));
        }
        let e = PasidEntry {
            fpd,
            aw: field(q[0], 4, 2) as u8,
            slee: bit(q[0], 5),
            pgtt: field(q[0], 8, 6) as u8,
            slade: bit(q[0], 9),
            slptptr: q[0] & !0xfff,
            did: field(q[1], 15, 0) as u16,
            sre: bit(q[2], 0),
            flpm: field(q[2], 3, 2) as u8,
            wpe: bit(q[2], 4),
            nxe: bit(q[2], 5),
            flptptr: q[2] & !0xfff,
        };
        let uses_second = matches!(e.pgtt, PGTT_SECOND | PGTT_NESTED);
        let uses_first = matches!(e.pgtt, PGTT_FIRST | PGTT_NESTED);
        let pgtt_ok = match e.pgtt {
            PGTT_FIRST => ecap_flts(self.ecap),
            PGTT_SECOND => ecap_slts(self.ecap),
            PGTT_NESTED => ecap_nest(self.ecap) && ecap_flts(self.ecap) && ecap_slts(self.ecap),
            PGTT_PT => ecap_pt(self.ecap),
            _ => false,
        };
        let flpm_ok = match e.flpm {
            0 => true,
            1 => cap_fs5lp(self.cap),
            _ => false,
        };
        if !pgtt_ok
            || (uses_second && !self.aw_supported(e.aw))
            || (uses_first && !flpm_ok)
            || !self.did_fits(u64::from(e.did))
        {
            return Err(WalkFault::new(FaultReason::PasidEntryInvalid, fpd));
        }
        if (uses_second && e.slptptr & self.above_haw() != 0)
            || (uses_first && e.flptptr & self.above_haw() != 0)
        {
            return Err(WalkFault::new(FaultReason::PasidEntryReserved, fpd));
        }
        Ok(e)
    }

    /// Second-stage translation of `addr` (§3.7, §9.8): `aw` 1/2/3 selects 3/4/5 levels.
    /// `set_ad` sets the Accessed/Dirty bits (scalable mode with SLADE).
    pub fn second_stage(
        &self,
        ptr: u64,
        aw: u8,
        addr: u64,
        access: Access,
        scalable: bool,
        set_ad: bool,
    ) -> Result<Leaf, FaultReason> {
        let (beyond, reserved, read_denied, write_denied) = if scalable {
            (
                FaultReason::SmAddressBeyondWidth,
                FaultReason::SmSecondStageReserved,
                FaultReason::SmReadDenied,
                FaultReason::SmWriteDenied,
            )
        } else {
            (
                FaultReason::AddressBeyondWidth,
                FaultReason::SecondStageReserved,
                FaultReason::ReadDenied,
                FaultReason::WriteDenied,
            )
        };
        let levels = u32::from(aw) + 2;
        let width = (12 + 9 * levels).min(cap_mgaw(self.cap));
        if width < 64 && addr >> width != 0 {
            return Err(beyond);
        }
        let denied = if access == Access::Write {
            write_denied
        } else {
            read_denied
        };
        let mut table = ptr;
        let mut write = true;
        for level in (1..=levels).rev() {
            let shift = 12 + 9 * (level - 1);
            let at = table + ((addr >> shift) & 0x1ff) * 8;
            let e = self.mem.read64(at);
            // R bit 0, W bit 1, (X bit 2), PS bit 7, A bit 8, D bit 9, ADDR 51:12.
            let (r, w) = (bit(e, 0), bit(e, 1));
            if !r && !w {
                return Err(denied);
            }
            let ps = bit(e, 7);
            let leaf = level == 1 || (ps && (level == 2 || level == 3));
            let mut rsv = e & self.pte_above_haw();
            if ps && (level >= 4 || (level == 3 && !cap_sl_1g(self.cap)))
                || (ps && level == 2 && !cap_sl_2m(self.cap))
            {
                rsv |= 1 << 7;
            }
            if leaf && level > 1 {
                rsv |= e & mask(shift - 1, 12);
            }
            if rsv != 0 {
                return Err(reserved);
            }
            if !r && access == Access::Read {
                return Err(read_denied);
            }
            if !w && access == Access::Write {
                return Err(write_denied);
            }
            write &= w;
            if set_ad {
                let mut new = e | 1 << 8;
                if leaf && access == Access::Write {
                    new |= 1 << 9;
                }
                if new != e {
                    self.mem.write64(at, new);
                }
            }
            let next = e & mask(51, 12);
            if leaf {
                return Ok(Leaf {
                    out: next & !((1 << shift) - 1),
                    size_log2: shift,
                    read: true,
                    write,
                    global: false,
                });
            }
            table = next;
        }
        unreachable!("level 1 is always a leaf")
    }

    /// First-stage translation of `addr` (§3.6, §9.7): x86 4- or 5-level paging for a
    /// user-mode (non-privileged) request, so U/S must be Set at every level and a write
    /// needs R/W Set at every level. `table_address` turns each table pointer into the
    /// address to read (identity, or a second-stage walk when nested). Accessed and Dirty
    /// are set as the walk goes.
    pub fn first_stage(
        &self,
        e: &PasidEntry,
        addr: u64,
        access: Access,
        table_address: &mut dyn FnMut(u64) -> Result<u64, FaultReason>,
    ) -> Result<Leaf, FaultReason> {
        let levels = if e.flpm == 1 { 5 } else { 4 };
        let width = 12 + 9 * levels;
        let sign = ((addr as i64) << (64 - width)) >> (64 - width);
        if sign as u64 != addr {
            return Err(FaultReason::NonCanonical);
        }
        let mut table = e.flptptr;
        let mut write = true;
        for level in (1..=levels).rev() {
            let shift = 12 + 9 * (level - 1);
            let base = table_address(table)?;
            let at = base + ((addr >> shift) & 0x1ff) * 8;
            let pte = self.mem.read64(at);
            // P 0, R/W 1, U/S 2, PWT 3, PCD 4, A 5, D 6, PS 7, G 8, (PAT 12 in large
            // pages), ADDR 51:12, XD 63.
            if !bit(pte, 0) {
                return Err(FaultReason::FirstStageNotPresent);
            }
            let ps = bit(pte, 7) && level > 1;
            let leaf = level == 1 || ps;
            let mut rsv = pte & self.pte_above_haw();
            if bit(pte, 63) && !e.nxe {
                rsv |= 1 << 63;
            }
            if ps && (level >= 4 || (level == 3 && !cap_fs1gp(self.cap))) {
                rsv |= 1 << 7;
            }
            if leaf && level > 1 {
                rsv |= pte & mask(shift - 1, 13);
            }
            if rsv != 0 {
                return Err(FaultReason::FirstStageReserved);
            }
            if !bit(pte, 2) {
                return Err(FaultReason::UserSupervisor);
            }
            if !bit(pte, 1) && access == Access::Write {
                return Err(FaultReason::SmWriteDenied);
            }
            write &= bit(pte, 1);
            let mut new = pte | 1 << 5;
            if leaf && access == Access::Write {
                new |= 1 << 6;
            }
            if new != pte {
                self.mem.write64(at, new);
            }
            let next = pte & mask(51, 12);
            if leaf {
                let out = if level > 1 {
                    next & !((1u64 << shift) - 1)
                } else {
                    next
                };
                return Ok(Leaf {
                    out,
                    size_log2: shift,
                    read: true,
                    write,
                    global: bit(pte, 8),
                });
            }
            table = next;
        }
        unreachable!("level 1 is always a leaf")
    }
}
