//! Invalidation-queue descriptors (§6.5.2), decoded by the model, and the page group
//! response (§7.7.1).

use super::bits::{bit, ecap_prs, ecap_smts, field, mask};

/// Granularity of a context-cache invalidation (§6.5.2.1, also CCMD_REG.CIRG).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CcGranularity {
    Global,
    Domain,
    Device,
}

/// Granularity of an IOTLB invalidation (§6.5.2.3, also IOTLB_REG.IIRG).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IotlbGranularity {
    Global,
    Domain,
    Page,
}

/// Granularity of a PASID-based-IOTLB invalidation (§6.5.2.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PiotlbGranularity {
    /// 10b: all non-global mappings of the PASID.
    NonGlobalPasid,
    /// 11b: the pages at ADDR/AM of the PASID (global ones too).
    PageInPasid,
}

/// Granularity of a PASID-cache invalidation (§6.5.2.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PcGranularity {
    /// 00b: every PASID of the domain.
    Domain,
    /// 01b: one PASID of the domain.
    Pasid,
    /// 11b: everything.
    Global,
}

/// Response code of a page group response (§7.7.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResponseCode {
    /// 0000b: the pages are there, retry.
    Success,
    /// 0001b: the request is invalid; the device must not retry.
    InvalidRequest,
    /// 1111b: the function must disable its page request interface.
    ResponseFailure,
    /// Any other (reserved) value.
    Reserved(u8),
}

/// A page group response descriptor (type 9) as software queued it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageGroupResponse {
    pub rid: u16,
    /// The PASID when the PASID Present bit was Set.
    pub pasid: Option<u32>,
    pub code: ResponseCode,
    pub lpig: bool,
    pub prgi: u16,
}

/// An invalidation-queue descriptor, decoded by the model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Descriptor {
    /// Type 1: context-cache invalidate (§6.5.2.1).
    ContextCache {
        granularity: CcGranularity,
        did: u16,
        sid: u16,
        fm: u8,
    },
    /// Type 2: IOTLB invalidate (§6.5.2.3).
    Iotlb {
        granularity: IotlbGranularity,
        did: u16,
        addr: u64,
        am: u8,
        ih: bool,
        dr: bool,
        dw: bool,
    },
    /// Type 3: device-TLB invalidate (§6.5.2.5).
    DeviceTlb {
        sid: u16,
        pfsid: u16,
        mip: u8,
        addr: u64,
        size: bool,
    },
    /// Type 4: interrupt entry cache invalidate (§6.5.2.7).
    InterruptEntryCache {
        index_selective: bool,
        index: u16,
        im: u8,
    },
    /// Type 5: invalidation wait (§6.5.2.8).
    Wait {
        interrupt: bool,
        status_write: bool,
        fence: bool,
        page_drain: bool,
        data: u32,
        addr: u64,
    },
    /// Type 6: PASID-based-IOTLB invalidate (§6.5.2.4).
    PasidIotlb {
        granularity: PiotlbGranularity,
        did: u16,
        pasid: u32,
        addr: u64,
        am: u8,
        ih: bool,
    },
    /// Type 7: PASID-cache invalidate (§6.5.2.2).
    PasidCache {
        granularity: PcGranularity,
        did: u16,
        pasid: u32,
    },
    /// Type 8: PASID-based-device-TLB invalidate (§6.5.2.6).
    PasidDeviceTlb {
        sid: u16,
        pfsid: u16,
        mip: u8,
        pasid: u32,
        global: bool,
        size: bool,
        addr: u64,
    },
    /// Type 9: page group response (§7.7.1).
    PageGroupResponse(PageGroupResponse),
}

/// IQERCD_REG.IQEI: why the queue stopped with FSTS.IQE (§11.4.9.6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Iqei {
    /// No detail (also: a descriptor failed by error injection).
    NotAvailable = 0,
    /// IQT not aligned to the descriptor width (bit 4 Set with 256-bit descriptors).
    TailMisaligned = 1,
    /// Invalid descriptor type.
    InvalidType = 3,
    /// A reserved field is not zero, or an invalid combination (wait with SW and IF).
    Reserved = 4,
    /// A descriptor that needs 256-bit descriptors in a 128-bit queue.
    InvalidWidth = 5,
}

/// Decodes the descriptor in `q` (`q[2]`, `q[3]` are zero in a 128-bit queue).
pub(crate) fn decode(q: [u64; 4], wide: bool, ecap: u64) -> Result<Descriptor, Iqei> {
    // Type: bits 3:0 plus bits 11:9 as type[6:4].
    let ty = field(q[0], 3, 0) | field(q[0], 11, 9) << 4;
    let rsv = |r0: u64, r1: u64| {
        if q[0] & r0 != 0 || q[1] & r1 != 0 || q[2] != 0 || q[3] != 0 {
            Err(Iqei::Reserved)
        } else {
            Ok(())
        }
    };
    let scalable_only = |t| matches!(t, 6..=9);
    if scalable_only(ty) {
        if !ecap_smts(ecap) || (ty == 9 && !ecap_prs(ecap)) {
            return Err(Iqei::InvalidType);
        }
        if !wide {
            return Err(Iqei::InvalidWidth);
        }
    }
    let did = field(q[0], 31, 16) as u16;
    Ok(match ty {
        1 => {
            rsv(mask(8, 6) | mask(15, 12) | mask(63, 50), u64::MAX)?;
            let granularity = match field(q[0], 5, 4) {
                1 => CcGranularity::Global,
                2 => CcGranularity::Domain,
                3 => CcGranularity::Device,
                _ => return Err(Iqei::Reserved),
            };
            Descriptor::ContextCache {
                granularity,
                did,
                sid: field(q[0], 47, 32) as u16,
                fm: field(q[0], 49, 48) as u8,
            }
        }
        2 => {
            rsv(bit8() | mask(15, 12) | mask(63, 32), mask(11, 7))?;
            let granularity = match field(q[0], 5, 4) {
                1 => IotlbGranularity::Global,
                2 => IotlbGranularity::Domain,
                3 => IotlbGranularity::Page,
                _ => return Err(Iqei::Reserved),
            };
            Descriptor::Iotlb {
                granularity,
                did,
                addr: q[1] & !0xfff,
                am: field(q[1], 5, 0) as u8,
                ih: bit(q[1], 6),
                dw: bit(q[0], 6),
                dr: bit(q[0], 7),
            }
        }
        3 => {
            rsv(mask(8, 4) | mask(31, 21) | mask(51, 48), mask(11, 1))?;
            Descriptor::DeviceTlb {
                sid: field(q[0], 47, 32) as u16,
                pfsid: (field(q[0], 15, 12) | field(q[0], 63, 52) << 4) as u16,
                mip: field(q[0], 20, 16) as u8,
                addr: q[1] & !0xfff,
                size: bit(q[1], 0),
            }
        }
        4 => {
            rsv(mask(8, 5) | mask(26, 12) | mask(63, 48), u64::MAX)?;
            Descriptor::InterruptEntryCache {
                index_selective: bit(q[0], 4),
                index: field(q[0], 47, 32) as u16,
                im: field(q[0], 31, 27) as u8,
            }
        }
        5 => {
            rsv(bit8() | mask(31, 12), mask(1, 0))?;
            let (interrupt, status_write) = (bit(q[0], 4), bit(q[0], 5));
            if interrupt && status_write {
                // QEMU aborts on this combination; the model reports it as a bad descriptor.
                return Err(Iqei::Reserved);
            }
            Descriptor::Wait {
                interrupt,
                status_write,
                fence: bit(q[0], 6),
                page_drain: bit(q[0], 7),
                data: field(q[0], 63, 32) as u32,
                addr: q[1] & !0b11,
            }
        }
        6 => {
            rsv(mask(8, 6) | mask(15, 12) | mask(63, 52), mask(11, 7))?;
            let granularity = match field(q[0], 5, 4) {
                2 => PiotlbGranularity::NonGlobalPasid,
                3 => PiotlbGranularity::PageInPasid,
                _ => return Err(Iqei::Reserved),
            };
            Descriptor::PasidIotlb {
                granularity,
                did,
                pasid: field(q[0], 51, 32) as u32,
                addr: q[1] & !0xfff,
                am: field(q[1], 5, 0) as u8,
                ih: bit(q[1], 6),
            }
        }
        7 => {
            rsv(mask(8, 6) | mask(15, 12) | mask(63, 52), u64::MAX)?;
            let granularity = match field(q[0], 5, 4) {
                0 => PcGranularity::Domain,
                1 => PcGranularity::Pasid,
                3 => PcGranularity::Global,
                _ => return Err(Iqei::Reserved),
            };
            Descriptor::PasidCache {
                granularity,
                did,
                pasid: field(q[0], 51, 32) as u32,
            }
        }
        8 => {
            rsv(0, mask(10, 1))?;
            Descriptor::PasidDeviceTlb {
                sid: field(q[0], 31, 16) as u16,
                pfsid: (field(q[0], 15, 12) | field(q[0], 63, 52) << 4) as u16,
                mip: field(q[0], 8, 4) as u8,
                pasid: field(q[0], 51, 32) as u32,
                global: bit(q[1], 0),
                size: bit(q[1], 11),
                addr: q[1] & !0xfff,
            }
        }
        9 => {
            // qw0: PP 4, RC 15:12, RID 31:16, PASID 51:32; qw1: LPIG 2, PRGI 11:3.
            if q[0] & (mask(8, 5) | mask(63, 52)) != 0 || q[1] & (mask(1, 0) | mask(63, 12)) != 0 {
                return Err(Iqei::Reserved);
            }
            let code = match field(q[0], 15, 12) as u8 {
                0 => ResponseCode::Success,
                1 => ResponseCode::InvalidRequest,
                0xf => ResponseCode::ResponseFailure,
                other => ResponseCode::Reserved(other),
            };
            Descriptor::PageGroupResponse(PageGroupResponse {
                rid: did,
                pasid: bit(q[0], 4).then_some(field(q[0], 51, 32) as u32),
                code,
                lpig: bit(q[1], 2),
                prgi: field(q[1], 11, 3) as u16,
            })
        }
        _ => return Err(Iqei::InvalidType),
    })
}

const fn bit8() -> u64 {
    1 << 8
}
