//! Fault reasons (§7.1.3, Table "Legacy-mode non-recoverable fault conditions" and Table
//! "Scalable-mode non-recoverable fault conditions") and what a faulting DMA reports.

/// A fault reason code as the fault recording register reports it (FRCD_REG.FR).
///
/// The names follow the spec's condition codes (LRT.x, LCT.x, LSL.x, LGN.x for legacy mode;
/// RTA.x, SRT.x, SCT.x, SPD.x, SPT.x, SFS.x, SSS.x, SGN.x for scalable mode).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum FaultReason {
    /// LRT.2: the root entry's Present field is Clear.
    RootEntryNotPresent = 0x01,
    /// LCT.2: the context entry's Present field is Clear.
    ContextEntryNotPresent = 0x02,
    /// LCT.4: invalid programming of a context entry (TT or AW not supported).
    ContextEntryInvalid = 0x03,
    /// LGN.1: input address above the width the context entry / MGAW allows.
    AddressBeyondWidth = 0x04,
    /// LGN.2: write to a page without write permission.
    WriteDenied = 0x05,
    /// LGN.3: read from a page without read permission.
    ReadDenied = 0x06,
    /// LSL.1: error accessing a second-stage paging entry.
    SecondStageAccess = 0x07,
    /// LRT.1: error accessing the root entry (also: translation enabled with no root table
    /// latched).
    RootTableAccess = 0x08,
    /// LCT.1: error accessing the context entry.
    ContextTableAccess = 0x09,
    /// LRT.3: non-zero reserved field in a present root entry.
    RootEntryReserved = 0x0a,
    /// LCT.3: non-zero reserved field in a present context entry.
    ContextEntryReserved = 0x0b,
    /// LSL.2: non-zero reserved field in a present second-stage paging entry.
    SecondStageReserved = 0x0c,
    /// LCT.5: request blocked by the context entry's TT (here also: a request-with-PASID in
    /// legacy mode).
    TranslationTypeBlocked = 0x0d,
    /// LGN.4: output address in the interrupt address range.
    InterruptAddress = 0x0e,
    /// RTA.2: RTADDR_REG.TTM holds a reserved or unsupported value.
    InvalidTtm = 0x31,
    /// SRT.1: error accessing a scalable-mode root entry.
    SmRootTableAccess = 0x38,
    /// SRT.2: the root entry's LP/UP field is Clear.
    SmRootEntryNotPresent = 0x39,
    /// SRT.3: non-zero reserved field in a scalable-mode root entry.
    SmRootEntryReserved = 0x3a,
    /// SCT.1: error accessing a scalable-mode context entry.
    SmContextTableAccess = 0x40,
    /// SCT.2: the scalable-mode context entry's Present field is Clear.
    SmContextEntryNotPresent = 0x41,
    /// SCT.3: non-zero reserved field in a scalable-mode context entry.
    SmContextEntryReserved = 0x42,
    /// SCT.4: invalid programming of a scalable-mode context entry (here also: a
    /// request-with-PASID while PASIDE is Clear, or a PASID beyond PDTS).
    SmContextEntryInvalid = 0x43,
    /// SPD.1: error accessing a PASID-directory entry.
    PasidDirectoryAccess = 0x50,
    /// SPD.2: the PASID-directory entry's Present field is Clear.
    PasidDirectoryEntryNotPresent = 0x51,
    /// SPD.3: non-zero reserved field in a PASID-directory entry.
    PasidDirectoryEntryReserved = 0x52,
    /// SPT.1: error accessing a PASID-table entry.
    PasidTableAccess = 0x58,
    /// SPT.2: the PASID-table entry's Present field is Clear.
    PasidEntryNotPresent = 0x59,
    /// SPT.3: non-zero reserved field in a PASID-table entry.
    PasidEntryReserved = 0x5a,
    /// SPT.4: invalid programming of a PASID-table entry (PGTT, AW, FLPM or DID).
    PasidEntryInvalid = 0x5b,
    /// SFS.1: error accessing a first-stage paging entry.
    FirstStageAccess = 0x70,
    /// SFS.2: a first-stage paging entry's Present field is Clear.
    FirstStageNotPresent = 0x71,
    /// SFS.3: non-zero reserved field in a present first-stage paging entry.
    FirstStageReserved = 0x72,
    /// SSS.1: error accessing a second-stage paging entry (scalable mode).
    SmSecondStageAccess = 0x78,
    /// SSS.2: non-zero reserved field in a second-stage paging entry (scalable mode).
    SmSecondStageReserved = 0x79,
    /// SGN.1: input address not canonical for first-stage translation.
    NonCanonical = 0x80,
    /// SGN.2: user-mode request to a supervisor page (U/S Clear at some level).
    UserSupervisor = 0x81,
    /// SGN.4: input address above the second-stage address width (scalable mode).
    SmAddressBeyondWidth = 0x83,
    /// SGN.5: read without read permission (scalable mode second stage).
    SmReadDenied = 0x84,
    /// SGN.6: write without write permission (first stage R/W or second stage W).
    SmWriteDenied = 0x85,
    /// SGN.8: output address in the interrupt address range (scalable mode).
    SmInterruptAddress = 0x87,
}

impl FaultReason {
    /// The 8-bit code of FRCD_REG.FR.
    pub const fn code(self) -> u8 {
        self as u8
    }
}

/// The kind of a DMA access.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
}

/// A DMA request that could not be translated (§7.1.3), as [`VtdModel::dma_read`] and
/// [`VtdModel::dma_write`] report it.
///
/// [`VtdModel::dma_read`]: super::VtdModel::dma_read
/// [`VtdModel::dma_write`]: super::VtdModel::dma_write
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ModelFault {
    pub reason: FaultReason,
    /// Requester ID (source ID) of the request.
    pub rid: u16,
    /// PASID of a request-with-PASID.
    pub pasid: Option<u32>,
    /// The faulting input address (not page-aligned; FRCD_REG.FI holds it page-aligned).
    pub addr: u64,
    pub access: Access,
    /// Whether a fault recording register took it: false when an FPD bit suppressed it or
    /// the recording registers overflowed (FSTS.PFO).
    pub recorded: bool,
}
