//! Event records (§7.3) and what a DMA that the model could not complete reports.

use super::bits::mask;

/// An event number, bits 7:0 of an event record (§7.3, "Event records"). The variants are
/// the spec's names: `FTranslation` is F_TRANSLATION, `CBadSte` is C_BAD_STE.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum EventType {
    /// F_UUT: unsupported upstream transaction.
    FUut = 0x01,
    /// C_BAD_STREAMID: StreamID beyond the stream table (or an L1STD with Span 0).
    CBadStreamid = 0x02,
    /// F_STE_FETCH: external abort fetching an STE or L1STD.
    FSteFetch = 0x03,
    /// C_BAD_STE: an STE with V == 0 or an ILLEGAL field.
    CBadSte = 0x04,
    /// F_BAD_ATS_TREQ.
    FBadAtsTreq = 0x05,
    /// F_STREAM_DISABLED: a transaction without SubstreamID while STE.S1DSS terminates them.
    FStreamDisabled = 0x06,
    /// F_TRANSL_FORBIDDEN.
    FTranslForbidden = 0x07,
    /// C_BAD_SUBSTREAMID: SubstreamID out of range, substreams disabled, or an invalid L1CD.
    CBadSubstreamid = 0x08,
    /// F_CD_FETCH: external abort fetching a CD or L1CD.
    FCdFetch = 0x09,
    /// C_BAD_CD: a CD with V == 0 or an ILLEGAL field.
    CBadCd = 0x0a,
    /// F_WALK_EABT: external abort fetching a translation table descriptor.
    FWalkEabt = 0x0b,
    /// F_TRANSLATION: no valid descriptor (or input address out of range).
    FTranslation = 0x10,
    /// F_ADDR_SIZE: an output or table address beyond the configured output size.
    FAddrSize = 0x11,
    /// F_ACCESS: access flag 0 without hardware update.
    FAccess = 0x12,
    /// F_PERMISSION: the descriptors do not permit the access.
    FPermission = 0x13,
    /// F_TLB_CONFLICT.
    FTlbConflict = 0x20,
    /// F_CFG_CONFLICT.
    FCfgConflict = 0x21,
    /// E_PAGE_REQUEST.
    EPageRequest = 0x24,
}

impl EventType {
    /// Translation-related faults (F_TRANSLATION, F_ADDR_SIZE, F_ACCESS, F_PERMISSION): the
    /// ones CD.R / STE.S2R suppress and that may stall.
    pub const fn is_translation_related(self) -> bool {
        matches!(
            self,
            Self::FTranslation | Self::FAddrSize | Self::FAccess | Self::FPermission
        )
    }

    /// The event number in an event record.
    pub const fn code(self) -> u8 {
        self as u8
    }

    /// The event type of an event number, if the model knows it.
    pub fn from_code(code: u8) -> Option<Self> {
        use EventType::*;
        [
            FUut,
            CBadStreamid,
            FSteFetch,
            CBadSte,
            FBadAtsTreq,
            FStreamDisabled,
            FTranslForbidden,
            CBadSubstreamid,
            FCdFetch,
            CBadCd,
            FWalkEabt,
            FTranslation,
            FAddrSize,
            FAccess,
            FPermission,
            FTlbConflict,
            FCfgConflict,
            EPageRequest,
        ]
        .into_iter()
        .find(|e| e.code() == code)
    }
}

/// The stage-1 access a stage-2 fault happened on, an event record's Class field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Class {
    /// CD: fetching a CD (or L1CD).
    Cd = 0b00,
    /// TT: fetching a stage-1 translation table descriptor.
    Tt = 0b01,
    /// IN: the input address (stage-1 output) itself.
    In = 0b10,
}

/// The kind of a DMA access.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
}

/// A DMA the model did not complete, as [`SmmuModel::dma_read`] and
/// [`SmmuModel::dma_write`] report it: the event the SMMU raised (§7.3), and whether it
/// reached the event queue.
///
/// [`SmmuModel::dma_read`]: super::SmmuModel::dma_read
/// [`SmmuModel::dma_write`]: super::SmmuModel::dma_write
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ModelEvent {
    /// `None` when the transaction was aborted without any event: STE.Config == abort
    /// (§5.2), or SMMU_CR0.SMMUEN == 0 with SMMU_GBPA.ABORT == 1 (§6.3.14).
    pub event: Option<EventType>,
    pub sid: u32,
    /// SubstreamID, with SSV.
    pub ssid: Option<u32>,
    /// The input address of the access that faulted (for a multi-page DMA: the first
    /// address of the faulting page chunk).
    pub addr: u64,
    pub access: Access,
    /// The fault was at stage 2 (S2 field).
    pub s2: bool,
    /// Class of a stage-2 fault.
    pub class: Class,
    /// For a stage-2 fault: the IPA that stage 2 failed to translate.
    pub ipa: u64,
    /// For F_STE_FETCH, F_CD_FETCH, F_WALK_EABT: the address of the failed fetch.
    pub fetch_addr: u64,
    /// STAG of a stalled transaction (Stall == 1 in the record).
    pub stag: Option<u16>,
    /// Whether an event record was written to the event queue: false when CD.R / STE.S2R
    /// suppressed it, the event queue is disabled, or the queue was full (overflow).
    pub recorded: bool,
}

impl ModelEvent {
    /// The 32-byte event record (§7.3): word 0 EventType 7:0, SSV 11, SubstreamID 31:12,
    /// StreamID 63:32; word 1 STAG 15:0, Stall 31, PnU 33, InD 34, RnW 35, S2 39,
    /// Class 41:40; word 2 InputAddr; word 3 IPA or FetchAddr 51:3.
    pub fn record(&self) -> [u64; 4] {
        let Some(event) = self.event else {
            return [0; 4];
        };
        let w0 = u64::from(event.code())
            | u64::from(self.ssid.is_some()) << 11
            | u64::from(self.ssid.unwrap_or(0) & 0xf_ffff) << 12
            | u64::from(self.sid) << 32;
        let walk = event.is_translation_related() || event == EventType::FWalkEabt;
        let w1 = if walk {
            u64::from(self.stag.unwrap_or(0))
                | u64::from(self.stag.is_some()) << 31
                | u64::from(self.access == Access::Read) << 35
                | u64::from(self.s2) << 39
                | (self.class as u64) << 40
        } else {
            0
        };
        let w2 = if walk { self.addr } else { 0 };
        let w3 = match event {
            EventType::FSteFetch | EventType::FCdFetch | EventType::FWalkEabt => {
                self.fetch_addr & mask(51, 3)
            }
            _ if self.s2 => self.ipa & mask(51, 3),
            _ => 0,
        };
        [w0, w1, w2, w3]
    }
}

/// An event record read back from the event queue (for tests), decoded by the model's own
/// reading of §7.3.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EventRecord {
    pub event: Option<EventType>,
    pub code: u8,
    pub sid: u32,
    pub ssid: Option<u32>,
    pub stag: Option<u16>,
    pub read: bool,
    pub s2: bool,
    pub class: u8,
    pub addr: u64,
    /// Word 3 bits 51:3 (IPA or fetch address).
    pub ipa_or_fetch: u64,
}

impl EventRecord {
    pub fn decode(w: [u64; 4]) -> Self {
        use super::bits::{bit, field};
        let code = field(w[0], 7, 0) as u8;
        Self {
            event: EventType::from_code(code),
            code,
            sid: field(w[0], 63, 32) as u32,
            ssid: bit(w[0], 11).then_some(field(w[0], 31, 12) as u32),
            stag: bit(w[1], 31).then_some(field(w[1], 15, 0) as u16),
            read: bit(w[1], 35),
            s2: bit(w[1], 39),
            class: field(w[1], 41, 40) as u8,
            addr: w[2],
            ipa_or_fetch: w[3] & mask(51, 3),
        }
    }
}
