//! Command queue entries (§4.1–§4.7): the 16-byte commands the model decodes, with the
//! opcodes and field positions taken from the spec's command layouts.

use super::bits::{bit, field, mask};

/// Why a command stopped the queue: the CMDQ_CONS.ERR code (§7.1, "Command queue errors").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum CommandError {
    /// CERROR_NONE.
    None = 0x00,
    /// CERROR_ILL: an unknown opcode, a reserved field value, or a command for a feature
    /// the SMMU does not implement.
    Ill = 0x01,
    /// CERROR_ABT: an abort when the SMMU fetched the command.
    Abt = 0x02,
    /// CERROR_ATC_INV_SYNC: a CMD_SYNC that followed an ATC invalidation that timed out.
    AtcInvSync = 0x03,
}

/// CMD_SYNC completion signal, CS (§4.7.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyncSignal {
    /// SIG_NONE.
    None,
    /// SIG_IRQ: an interrupt (an MSI write of MSIData to MSIAddr where MSIs are supported).
    Irq,
    /// SIG_SEV: a WFE wake-up event.
    Sev,
}

/// CMD_PRI_RESP response code, Resp (§4.6.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PriResponseCode {
    Denied,
    Failure,
    Success,
}

/// CMD_RESUME action (§4.7.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResumeAction {
    /// Ac == 1: the transaction is retried as though it had just arrived.
    Retry,
    /// Ac == 0: terminated; `abort` is the Ab parameter (RAZ/WI when false).
    Terminate { abort: bool },
}

/// A TLB invalidation address: one address (TG == 0) or a range of `(NUM + 1) << SCALE`
/// granules of `1 << granule_log2` bytes starting at `addr` (§4.4.1.1, range invalidation).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TlbiAddress {
    pub addr: u64,
    /// Leaf: only last-level entries need be invalidated.
    pub leaf: bool,
    /// `Some((granule_log2, num, scale))` for a range invalidation.
    pub range: Option<(u32, u32, u32)>,
}

impl TlbiAddress {
    /// The invalidated byte range `[start, end)`.
    pub fn bounds(&self) -> (u64, u64) {
        match self.range {
            None => (self.addr, self.addr.saturating_add(1)),
            Some((g, num, scale)) => {
                let len = (u64::from(num) + 1) << (scale + g);
                (self.addr, self.addr.saturating_add(len))
            }
        }
    }
}

/// A decoded command. Names follow the spec's CMD_* names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Command {
    /// CMD_PREFETCH_CONFIG (0x01): a hint, no effect here.
    PrefetchConfig { sid: u32 },
    /// CMD_PREFETCH_ADDR (0x02): a hint, no effect here.
    PrefetchAddr { sid: u32 },
    /// CMD_CFGI_STE (0x03).
    CfgiSte { sid: u32, leaf: bool },
    /// CMD_CFGI_STE_RANGE (0x04) with Range < 31: 2^(range+1) StreamIDs.
    CfgiSteRange { sid: u32, range: u32 },
    /// CMD_CFGI_ALL: CMD_CFGI_STE_RANGE with Range == 31.
    CfgiAll,
    /// CMD_CFGI_CD (0x05).
    CfgiCd { sid: u32, ssid: u32, leaf: bool },
    /// CMD_CFGI_CD_ALL (0x06).
    CfgiCdAll { sid: u32 },
    /// CMD_TLBI_NH_ALL (0x10).
    TlbiNhAll { vmid: u16 },
    /// CMD_TLBI_NH_ASID (0x11).
    TlbiNhAsid { vmid: u16, asid: u16 },
    /// CMD_TLBI_NH_VA (0x12).
    TlbiNhVa {
        vmid: u16,
        asid: u16,
        addr: TlbiAddress,
    },
    /// CMD_TLBI_NH_VAA (0x13).
    TlbiNhVaa { vmid: u16, addr: TlbiAddress },
    /// CMD_TLBI_EL2_ALL (0x20) and the other EL2/EL3 forms: accepted, nothing cached.
    TlbiEl2 { opcode: u8 },
    /// CMD_TLBI_S12_VMALL (0x28).
    TlbiS12Vmall { vmid: u16 },
    /// CMD_TLBI_S2_IPA (0x2A).
    TlbiS2Ipa { vmid: u16, addr: TlbiAddress },
    /// CMD_TLBI_NSNH_ALL (0x30).
    TlbiNsnhAll,
    /// CMD_ATC_INV (0x40).
    AtcInv {
        sid: u32,
        ssid: Option<u32>,
        global: bool,
        addr: u64,
        size: u32,
    },
    /// CMD_PRI_RESP (0x41).
    PriResp {
        sid: u32,
        ssid: Option<u32>,
        prgi: u16,
        resp: PriResponseCode,
    },
    /// CMD_RESUME (0x44).
    Resume {
        sid: u32,
        stag: u16,
        action: ResumeAction,
    },
    /// CMD_STALL_TERM (0x45).
    StallTerm { sid: u32 },
    /// CMD_SYNC (0x46).
    Sync {
        cs: SyncSignal,
        msi_data: u32,
        msi_addr: u64,
    },
}

/// Commands consumed, per type.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CommandCounts {
    pub prefetch: usize,
    pub cfgi_ste: usize,
    pub cfgi_ste_range: usize,
    pub cfgi_all: usize,
    pub cfgi_cd: usize,
    pub cfgi_cd_all: usize,
    pub tlbi_nh_all: usize,
    pub tlbi_nh_asid: usize,
    pub tlbi_nh_va: usize,
    pub tlbi_nh_vaa: usize,
    pub tlbi_el2: usize,
    pub tlbi_s12_vmall: usize,
    pub tlbi_s2_ipa: usize,
    pub tlbi_nsnh_all: usize,
    pub atc_inv: usize,
    pub pri_resp: usize,
    pub resume: usize,
    pub stall_term: usize,
    pub sync: usize,
}

impl CommandCounts {
    /// Every command consumed.
    pub fn total(&self) -> usize {
        self.prefetch
            + self.cfgi()
            + self.tlbi()
            + self.atc_inv
            + self.pri_resp
            + self.resume
            + self.stall_term
            + self.sync
    }

    /// Configuration invalidations of every kind.
    pub fn cfgi(&self) -> usize {
        self.cfgi_ste + self.cfgi_ste_range + self.cfgi_all + self.cfgi_cd + self.cfgi_cd_all
    }

    /// TLB invalidations of every kind.
    pub fn tlbi(&self) -> usize {
        self.tlbi_nh_all
            + self.tlbi_nh_asid
            + self.tlbi_nh_va
            + self.tlbi_nh_vaa
            + self.tlbi_el2
            + self.tlbi_s12_vmall
            + self.tlbi_s2_ipa
            + self.tlbi_nsnh_all
    }

    pub(crate) fn count(&mut self, c: &Command) {
        let n = match c {
            Command::PrefetchConfig { .. } | Command::PrefetchAddr { .. } => &mut self.prefetch,
            Command::CfgiSte { .. } => &mut self.cfgi_ste,
            Command::CfgiSteRange { .. } => &mut self.cfgi_ste_range,
            Command::CfgiAll => &mut self.cfgi_all,
            Command::CfgiCd { .. } => &mut self.cfgi_cd,
            Command::CfgiCdAll { .. } => &mut self.cfgi_cd_all,
            Command::TlbiNhAll { .. } => &mut self.tlbi_nh_all,
            Command::TlbiNhAsid { .. } => &mut self.tlbi_nh_asid,
            Command::TlbiNhVa { .. } => &mut self.tlbi_nh_va,
            Command::TlbiNhVaa { .. } => &mut self.tlbi_nh_vaa,
            Command::TlbiEl2 { .. } => &mut self.tlbi_el2,
            Command::TlbiS12Vmall { .. } => &mut self.tlbi_s12_vmall,
            Command::TlbiS2Ipa { .. } => &mut self.tlbi_s2_ipa,
            Command::TlbiNsnhAll => &mut self.tlbi_nsnh_all,
            Command::AtcInv { .. } => &mut self.atc_inv,
            Command::PriResp { .. } => &mut self.pri_resp,
            Command::Resume { .. } => &mut self.resume,
            Command::StallTerm { .. } => &mut self.stall_term,
            Command::Sync { .. } => &mut self.sync,
        };
        *n += 1;
    }
}

/// What the SMMU implements, as far as command legality goes.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Features {
    pub s1p: bool,
    pub s2p: bool,
    pub ats: bool,
    pub pri: bool,
    pub stall: bool,
    pub ril: bool,
    pub ssidsize: u32,
}

/// Decodes the command in words `w` (word 0 holds the opcode in bits 7:0). Returns
/// CERROR_ILL for an unknown opcode, a reserved encoding or a command the SMMU's features
/// make illegal.
pub(crate) fn decode(w: [u64; 2], f: &Features) -> Result<Command, CommandError> {
    let [w0, w1] = w;
    let opcode = field(w0, 7, 0) as u8;
    // Common fields (§4.1.6): StreamID 63:32, SubstreamID 31:12, SSV 11 of word 0.
    let sid = field(w0, 63, 32) as u32;
    let ssid = field(w0, 31, 12) as u32;
    let ssv = bit(w0, 11);
    // TLBI fields (§4.4): NUM 16:12, SCALE 24:20, VMID 47:32, ASID 63:48 of word 0;
    // Leaf 0, TTL 9:8, TG 11:10, Address 63:12 of word 1.
    let vmid = field(w0, 47, 32) as u16;
    let asid = field(w0, 63, 48) as u16;
    let tlbi_addr = |addr_mask: u64| -> Result<TlbiAddress, CommandError> {
        let tg = field(w1, 11, 10);
        let range = if f.ril && tg != 0 {
            let g = match tg {
                1 => 12,
                2 => 14,
                _ => 16,
            };
            Some((g, field(w0, 16, 12) as u32, field(w0, 24, 20) as u32))
        } else {
            None
        };
        Ok(TlbiAddress {
            addr: w1 & addr_mask,
            leaf: bit(w1, 0),
            range,
        })
    };
    let ill = Err(CommandError::Ill);
    let cmd = match opcode {
        0x01 => Command::PrefetchConfig { sid },
        0x02 => Command::PrefetchAddr { sid },
        0x03 => Command::CfgiSte {
            sid,
            leaf: bit(w1, 0),
        },
        0x04 => match field(w1, 4, 0) as u32 {
            31 => Command::CfgiAll,
            range => Command::CfgiSteRange { sid, range },
        },
        0x05 | 0x06 if !f.s1p => return ill,
        0x05 => Command::CfgiCd {
            sid,
            ssid,
            leaf: bit(w1, 0),
        },
        0x06 => Command::CfgiCdAll { sid },
        0x10..=0x13 if !f.s1p => return ill,
        0x10 => Command::TlbiNhAll { vmid },
        0x11 => Command::TlbiNhAsid { vmid, asid },
        0x12 => Command::TlbiNhVa {
            vmid,
            asid,
            addr: tlbi_addr(mask(63, 12))?,
        },
        0x13 => Command::TlbiNhVaa {
            vmid,
            addr: tlbi_addr(mask(63, 12))?,
        },
        0x20..=0x23 | 0x18 | 0x1a => Command::TlbiEl2 { opcode },
        0x28 | 0x2a if !f.s2p => return ill,
        0x28 => Command::TlbiS12Vmall { vmid },
        0x2a => Command::TlbiS2Ipa {
            vmid,
            addr: tlbi_addr(mask(51, 12))?,
        },
        0x30 => Command::TlbiNsnhAll,
        0x40 if !f.ats => return ill,
        // CMD_ATC_INV: Global 9; Size 5:0 and Address 63:12 of word 1.
        0x40 => Command::AtcInv {
            sid,
            ssid: ssv.then_some(ssid),
            global: bit(w0, 9),
            addr: w1 & mask(63, 12),
            size: field(w1, 5, 0) as u32,
        },
        0x41 if !f.pri => return ill,
        // CMD_PRI_RESP: PRGI 8:0 and Resp 13:12 of word 1.
        0x41 => Command::PriResp {
            sid,
            ssid: ssv.then_some(ssid),
            prgi: field(w1, 8, 0) as u16,
            resp: match field(w1, 13, 12) {
                0 => PriResponseCode::Denied,
                1 => PriResponseCode::Failure,
                2 => PriResponseCode::Success,
                _ => return ill,
            },
        },
        0x44 | 0x45 if !f.stall => return ill,
        // CMD_RESUME: Ac 12, Ab 13 of word 0; STAG 15:0 of word 1.
        0x44 => Command::Resume {
            sid,
            stag: field(w1, 15, 0) as u16,
            action: if bit(w0, 12) {
                ResumeAction::Retry
            } else {
                ResumeAction::Terminate { abort: bit(w0, 13) }
            },
        },
        0x45 => Command::StallTerm { sid },
        // CMD_SYNC: CS 13:12, MSIData 63:32 of word 0; MSIAddress 51:2 of word 1.
        0x46 => Command::Sync {
            cs: match field(w0, 13, 12) {
                0 => SyncSignal::None,
                1 => SyncSignal::Irq,
                2 => SyncSignal::Sev,
                _ => return ill,
            },
            msi_data: field(w0, 63, 32) as u32,
            msi_addr: w1 & mask(51, 2),
        },
        _ => return ill,
    };
    // A SubstreamID beyond SSIDSIZE is an out-of-range parameter; the model rejects it.
    if let Command::CfgiCd { ssid, .. } = cmd
        && f.ssidsize < 20
        && ssid >> f.ssidsize != 0
    {
        return ill;
    }
    Ok(cmd)
}
