//! SMMUv3 queues (§3.5): the command queue's commands (§4), event records
//! (§7.3), PRI requests (§8.1), and the circular buffer with producer and
//! consumer indices carrying a wrap bit.

use crate::hw::DmaMemory;

/// A circular queue of 2^log2 entries of `entry` bytes in DMA memory. Indices
/// are `log2 + 1` bits: the top one is the wrap flag (§3.5).
#[derive(Debug)]
pub struct Ring {
    pub base: u64,
    pub log2: u8,
    pub entry: u64,
}

impl Ring {
    /// A zeroed ring, naturally aligned.
    pub fn new(memory: &dyn DmaMemory, log2: u8, entry: u64) -> Option<Self> {
        let bytes = (1u64 << log2) * entry;
        let pages = bytes.div_ceil(4096).next_power_of_two() as usize;
        let base = memory.alloc_pages(pages)?;
        Some(Self { base, log2, entry })
    }

    /// The Q_BASE register value (§6.3.20/25/29): ADDR, LOG2SIZE, RA/WA.
    pub fn base_register(&self) -> u64 {
        (1 << 62) | (self.base & 0x000f_ffff_ffff_ffe0) | u64::from(self.log2)
    }

    fn mask(&self) -> u32 {
        (1 << self.log2) - 1
    }

    fn wrap(&self) -> u32 {
        1 << self.log2
    }

    /// Whether the queue with these indices is full (same index, wrap differs).
    pub fn full(&self, prod: u32, cons: u32) -> bool {
        prod & self.mask() == cons & self.mask() && prod & self.wrap() != cons & self.wrap()
    }

    /// Whether it is empty (indices and wrap equal).
    pub fn empty(&self, prod: u32, cons: u32) -> bool {
        prod & (self.mask() | self.wrap()) == cons & (self.mask() | self.wrap())
    }

    /// The index after `i`.
    pub fn next(&self, i: u32) -> u32 {
        (i + 1) & (self.mask() | self.wrap())
    }

    /// Address of entry `i`.
    pub fn slot(&self, i: u32) -> u64 {
        self.base + u64::from(i & self.mask()) * self.entry
    }

    /// Free slots given the indices.
    pub fn space(&self, prod: u32, cons: u32) -> u32 {
        let used = (prod.wrapping_sub(cons)) & (self.mask() | self.wrap());
        (1 << self.log2) - used.min(1 << self.log2)
    }
}

/// Invalidation scope of a TLBI by address (range when IDR3.RIL, §4.4.1.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AddressRange {
    /// The first address, aligned to the granule.
    pub address: u64,
    /// TG: 0 = no range (one page of any size), 1 = 4 KiB, 2 = 16 KiB, 3 = 64 KiB.
    pub tg: u8,
    /// NUM (5 bits) and SCALE (5 bits): (NUM + 1) * 2^SCALE granules.
    pub num: u8,
    pub scale: u8,
    /// Leaf: only last-level entries changed.
    pub leaf: bool,
}

/// A command (§4), encoded to 128 bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Command {
    /// CFGI_STE (0x03): one STE.
    CfgiSte { sid: u32, leaf: bool },
    /// CFGI_STE_RANGE (0x04): 2^(range + 1) STEs from `sid`; range 31 = all.
    CfgiSteRange { sid: u32, range: u8 },
    /// CFGI_CD (0x05): one CD.
    CfgiCd { sid: u32, ssid: u32, leaf: bool },
    /// CFGI_CD_ALL (0x06): every CD of a stream.
    CfgiCdAll { sid: u32 },
    /// TLBI_NH_ALL (0x10): all non-hypervisor stage-1 entries (of `vmid`).
    TlbiNhAll { vmid: u16 },
    /// TLBI_NH_ASID (0x11).
    TlbiNhAsid { vmid: u16, asid: u16 },
    /// TLBI_NH_VA (0x12).
    TlbiNhVa {
        vmid: u16,
        asid: u16,
        range: AddressRange,
    },
    /// TLBI_NH_VAA (0x13): by address, all ASIDs.
    TlbiNhVaa { vmid: u16, range: AddressRange },
    /// TLBI_S12_VMALL (0x28): everything of a VMID.
    TlbiS12Vmall { vmid: u16 },
    /// TLBI_S2_IPA (0x2a).
    TlbiS2Ipa { vmid: u16, range: AddressRange },
    /// TLBI_NSNH_ALL (0x30): all non-secure non-hypervisor entries.
    TlbiNsnhAll,
    /// ATC_INV (0x40): a device's ATC, `size` = log2 of the span in pages.
    AtcInv {
        sid: u32,
        ssid: Option<u32>,
        address: u64,
        size: u8,
        global: bool,
    },
    /// PRI_RESP (0x41).
    PriResp {
        sid: u32,
        ssid: Option<u32>,
        group: u16,
        response: PriResponse,
    },
    /// RESUME (0x44): a stalled transaction, retried or aborted.
    Resume { sid: u32, stag: u16, retry: bool },
    /// CMD_SYNC (0x46): completes after every earlier command, then signals
    /// completion as `signal` says.
    Sync { signal: SyncSignal },
}

/// How a CMD_SYNC signals its completion: its CS field and MSI fields (§4.7.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyncSignal {
    /// CS = SIG_NONE: only CMDQ_CONS moving past it shows completion.
    None,
    /// CS = SIG_IRQ with MSIAddress 0: the `cmdq-sync` wired interrupt (no MSI
    /// is written, §4.7.3), for SMMUs without MSIs or where a wired line is used.
    WiredIrq,
    /// CS = SIG_IRQ with an MSI writing `data` to `address`.
    Msi { address: u64, data: u32 },
}

/// PRI_RESP.Resp (§4.7.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PriResponse {
    Deny,
    Fail,
    Success,
}

impl Command {
    pub fn encode(&self) -> [u64; 2] {
        let op = |code: u64| code;
        let range_words = |head: u64, r: &AddressRange| {
            (
                head | (u64::from(r.num & 0x1f) << 12) | (u64::from(r.scale & 0x1f) << 20),
                u64::from(r.leaf) | (u64::from(r.tg & 3) << 10) | (r.address & !0xfff),
            )
        };
        let (w0, w1) = match *self {
            Command::CfgiSte { sid, leaf } => (op(0x03) | (u64::from(sid) << 32), u64::from(leaf)),
            Command::CfgiSteRange { sid, range } => {
                (op(0x04) | (u64::from(sid) << 32), u64::from(range & 0x1f))
            }
            Command::CfgiCd { sid, ssid, leaf } => (
                op(0x05) | (u64::from(ssid & 0xf_ffff) << 12) | (u64::from(sid) << 32),
                u64::from(leaf),
            ),
            Command::CfgiCdAll { sid } => (op(0x06) | (u64::from(sid) << 32), 0),
            Command::TlbiNhAll { vmid } => (op(0x10) | (u64::from(vmid) << 32), 0),
            Command::TlbiNhAsid { vmid, asid } => (
                op(0x11) | (u64::from(vmid) << 32) | (u64::from(asid) << 48),
                0,
            ),
            Command::TlbiNhVa { vmid, asid, range } => range_words(
                op(0x12) | (u64::from(vmid) << 32) | (u64::from(asid) << 48),
                &range,
            ),
            Command::TlbiNhVaa { vmid, range } => {
                range_words(op(0x13) | (u64::from(vmid) << 32), &range)
            }
            Command::TlbiS12Vmall { vmid } => (op(0x28) | (u64::from(vmid) << 32), 0),
            Command::TlbiS2Ipa { vmid, range } => {
                let (w0, w1) = range_words(op(0x2a) | (u64::from(vmid) << 32), &range);
                (w0, w1 & 0x000f_ffff_ffff_ffff)
            }
            Command::TlbiNsnhAll => (op(0x30), 0),
            Command::AtcInv {
                sid,
                ssid,
                address,
                size,
                global,
            } => (
                op(0x40)
                    | (u64::from(global) << 9)
                    | (u64::from(ssid.is_some()) << 11)
                    | (u64::from(ssid.unwrap_or(0) & 0xf_ffff) << 12)
                    | (u64::from(sid) << 32),
                u64::from(size & 0x3f) | (address & !0xfff),
            ),
            Command::PriResp {
                sid,
                ssid,
                group,
                response,
            } => {
                let resp = match response {
                    PriResponse::Deny => 0u64,
                    PriResponse::Fail => 1,
                    PriResponse::Success => 2,
                };
                (
                    op(0x41)
                        | (u64::from(ssid.is_some()) << 11)
                        | (u64::from(ssid.unwrap_or(0) & 0xf_ffff) << 12)
                        | (u64::from(sid) << 32),
                    u64::from(group & 0x1ff) | (resp << 12),
                )
            }
            // Resp (bits 13:12): 0b01 retry, 0b10 abort.
            Command::Resume { sid, stag, retry } => (
                op(0x44) | ((if retry { 1 } else { 2 }) << 12) | (u64::from(sid) << 32),
                u64::from(stag),
            ),
            Command::Sync { signal } => match signal {
                // CS = SIG_IRQ (0b01), MSH inner shareable, MSIAttr write-back.
                SyncSignal::Msi { address, data } => (
                    op(0x46) | (0b01 << 12) | (0b11 << 22) | (0xf << 24) | (u64::from(data) << 32),
                    address & 0x000f_ffff_ffff_fffc,
                ),
                SyncSignal::WiredIrq => (op(0x46) | (0b01 << 12), 0),
                SyncSignal::None => (op(0x46), 0),
            },
        };
        [w0, w1]
    }
}

/// Event types (§7.3, Table 7-x "Event records").
pub mod event_type {
    pub const F_UUT: u8 = 0x01;
    pub const C_BAD_STREAMID: u8 = 0x02;
    pub const F_STE_FETCH: u8 = 0x03;
    pub const C_BAD_STE: u8 = 0x04;
    pub const F_BAD_ATS_TREQ: u8 = 0x05;
    pub const F_STREAM_DISABLED: u8 = 0x06;
    pub const F_TRANSL_FORBIDDEN: u8 = 0x07;
    pub const C_BAD_SUBSTREAMID: u8 = 0x08;
    pub const F_CD_FETCH: u8 = 0x09;
    pub const C_BAD_CD: u8 = 0x0a;
    pub const F_WALK_EABT: u8 = 0x0b;
    pub const F_TRANSLATION: u8 = 0x10;
    pub const F_ADDR_SIZE: u8 = 0x11;
    pub const F_ACCESS: u8 = 0x12;
    pub const F_PERMISSION: u8 = 0x13;
    pub const F_TLB_CONFLICT: u8 = 0x20;
    pub const F_CFG_CONFLICT: u8 = 0x21;
    pub const E_PAGE_REQUEST: u8 = 0x24;
    pub const F_VMS_FETCH: u8 = 0x25;
}

/// The name of an event type.
pub fn event_name(kind: u8) -> &'static str {
    use event_type::*;
    match kind {
        F_UUT => "F_UUT",
        C_BAD_STREAMID => "C_BAD_STREAMID",
        F_STE_FETCH => "F_STE_FETCH",
        C_BAD_STE => "C_BAD_STE",
        F_BAD_ATS_TREQ => "F_BAD_ATS_TREQ",
        F_STREAM_DISABLED => "F_STREAM_DISABLED",
        F_TRANSL_FORBIDDEN => "F_TRANSL_FORBIDDEN",
        C_BAD_SUBSTREAMID => "C_BAD_SUBSTREAMID",
        F_CD_FETCH => "F_CD_FETCH",
        C_BAD_CD => "C_BAD_CD",
        F_WALK_EABT => "F_WALK_EABT",
        F_TRANSLATION => "F_TRANSLATION",
        F_ADDR_SIZE => "F_ADDR_SIZE",
        F_ACCESS => "F_ACCESS",
        F_PERMISSION => "F_PERMISSION",
        F_TLB_CONFLICT => "F_TLB_CONFLICT",
        F_CFG_CONFLICT => "F_CFG_CONFLICT",
        E_PAGE_REQUEST => "E_PAGE_REQUEST",
        F_VMS_FETCH => "F_VMS_FETCH",
        _ => "unknown event",
    }
}

/// A decoded event record (§7.3), 32 bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Event {
    pub kind: u8,
    pub stream_id: u32,
    pub substream_id: Option<u32>,
    /// The faulting input address (VA or IPA).
    pub address: u64,
    /// RnW: the transaction was a read.
    pub read: bool,
    /// S2: the fault was in stage 2.
    pub stage2: bool,
    /// Stall: the transaction is stalled, awaiting RESUME with `stag`.
    pub stalled: Option<u16>,
    /// The IPA for stage-2 faults.
    pub ipa: u64,
}

impl Event {
    pub fn decode(w: [u64; 4]) -> Self {
        let bit = |word: u64, n: u32| (word >> n) & 1 == 1;
        Self {
            kind: w[0] as u8,
            stream_id: (w[0] >> 32) as u32,
            substream_id: bit(w[0], 11).then_some(((w[0] >> 12) & 0xf_ffff) as u32),
            address: w[2],
            read: bit(w[1], 35),
            stage2: bit(w[1], 39),
            stalled: bit(w[1], 31).then_some(w[1] as u16),
            ipa: w[3] & 0x000f_ffff_ffff_f000,
        }
    }

    pub fn name(&self) -> &'static str {
        event_name(self.kind)
    }
}

/// A PRI queue entry (§8.1): a page request from an ATS device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageRequest {
    pub stream_id: u32,
    pub substream_id: Option<u32>,
    pub address: u64,
    pub read: bool,
    pub write: bool,
    pub execute: bool,
    pub privileged: bool,
    pub last: bool,
    pub group: u16,
}

impl PageRequest {
    pub fn decode(w: [u64; 2]) -> Self {
        let bit = |word: u64, n: u32| (word >> n) & 1 == 1;
        // SID 31:0, SSID 51:32, PRIV 58, EXEC 59, READ 60, WRITE 61, LAST 62,
        // SSV 63; PRG index 8:0 and address 63:12 in the second word.
        Self {
            stream_id: w[0] as u32,
            substream_id: bit(w[0], 63).then_some(((w[0] >> 32) & 0xf_ffff) as u32),
            privileged: bit(w[0], 58),
            execute: bit(w[0], 59),
            read: bit(w[0], 60),
            write: bit(w[0], 61),
            last: bit(w[0], 62),
            group: (w[1] & 0x1ff) as u16,
            address: w[1] & !0xfff,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hw::sim::SimMemory;

    #[test]
    fn rings_track_wrap_full_and_empty() {
        let m = SimMemory::new(0x1000, 0x10_0000);
        let r = Ring::new(&m, 2, 16).unwrap();
        assert!(r.empty(0, 0));
        assert!(r.full(0b100, 0b000));
        assert!(!r.full(0b011, 0b000));
        assert_eq!(r.next(0b011), 0b100);
        assert_eq!(r.next(0b111), 0b000);
        assert_eq!(r.space(0b011, 0b000), 1);
        assert_eq!(r.slot(0b101), r.base + 16);
        assert_eq!(r.base_register() & 0x1f, 2);
    }

    #[test]
    fn commands_put_opcode_ids_and_ranges_in_place() {
        assert_eq!(
            Command::CfgiSte { sid: 8, leaf: true }.encode(),
            [0x03 | (8 << 32), 1]
        );
        let range = AddressRange {
            address: 0x4000_0000,
            tg: 1,
            num: 3,
            scale: 2,
            leaf: true,
        };
        let w = Command::TlbiNhVa {
            vmid: 0,
            asid: 5,
            range,
        }
        .encode();
        assert_eq!(w[0], 0x12 | (3 << 12) | (2 << 20) | (5 << 48));
        assert_eq!(w[1], 0x4000_0000 | (1 << 10) | 1);
        let w = Command::Sync {
            signal: SyncSignal::Msi {
                address: 0x1000,
                data: 7,
            },
        }
        .encode();
        assert_eq!(w[0] & 0xff, 0x46);
        assert_eq!((w[0] >> 12) & 3, 1);
        assert_eq!(w[0] >> 32, 7);
        assert_eq!(w[1], 0x1000);
        let w = Command::Sync {
            signal: SyncSignal::WiredIrq,
        }
        .encode();
        assert_eq!(w, [0x46 | (1 << 12), 0], "SIG_IRQ, no MSI address");
        let w = Command::Sync {
            signal: SyncSignal::None,
        }
        .encode();
        assert_eq!(w, [0x46, 0], "SIG_NONE");
        assert_eq!(
            Command::Resume {
                sid: 3,
                stag: 9,
                retry: false
            }
            .encode(),
            [0x44 | (2 << 12) | (3 << 32), 9]
        );
        assert_eq!(
            Command::Resume {
                sid: 3,
                stag: 9,
                retry: true
            }
            .encode()[0]
                >> 12
                & 3,
            1
        );
    }

    #[test]
    fn events_decode_stream_address_direction_and_stage() {
        let e = Event::decode([
            0x10 | (8 << 32),
            (1 << 35) | (1 << 39),
            0xdead_0000,
            0x1234_5000,
        ]);
        assert_eq!(e.name(), "F_TRANSLATION");
        assert_eq!(
            (e.stream_id, e.address, e.read, e.stage2),
            (8, 0xdead_0000, true, true)
        );
        assert_eq!(e.substream_id, None);
        assert_eq!(e.ipa, 0x1234_5000);
    }
}
