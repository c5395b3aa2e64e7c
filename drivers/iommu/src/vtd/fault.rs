//! Primary fault recording (VT-d spec §7.2.1, §11.4.14): decoding a 128-bit
//! fault recording register into a typed record with a named reason.

use core::fmt;

/// A decoded fault record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FaultRecord {
    /// FI: the faulting page address (bits 63:12 of the low word).
    pub address: u64,
    /// SID: requester ID (bits 79:64).
    pub source_id: u16,
    /// PASID (bits 123:104) when PP (bit 95) is set.
    pub pasid: Option<u32>,
    /// FR: fault reason (bits 103:96).
    pub reason: u8,
    /// T1/T2 (bits 126, 92): whether the request was a write.
    pub write: bool,
    /// EXE (bit 94) / PRIV (bit 93) of the request.
    pub execute: bool,
    pub privileged: bool,
}

impl FaultRecord {
    /// Decodes the two words of a fault recording register with F (bit 127) set;
    /// `None` when F is clear (no fault recorded there).
    pub fn decode(low: u64, high: u64) -> Option<Self> {
        if high >> 63 == 0 {
            return None;
        }
        let bit = |n: u32| (high >> n) & 1 == 1;
        // T2 (bit 92) and T1 (bit 126) together give the request type; for
        // untranslated requests T1 = 0 means write, 1 means read (§11.4.14).
        Some(Self {
            address: low & !0xfff,
            source_id: high as u16,
            pasid: bit(31).then_some(((high >> 40) & 0xf_ffff) as u32),
            reason: (high >> 32) as u8,
            write: !bit(62),
            execute: bit(30),
            privileged: bit(29),
        })
    }

    /// The reason's name (§7.1.3 legacy codes; the scalable-mode codes of §7.2,
    /// those QEMU reports among them).
    pub fn reason_name(&self) -> &'static str {
        reason_name(self.reason)
    }
}

/// Names of the fault reasons a translation can report.
pub fn reason_name(reason: u8) -> &'static str {
    match reason {
        0x01 => "root entry not present",
        0x02 => "context entry not present",
        0x03 => "invalid context entry",
        0x04 => "address beyond the domain's address width",
        0x05 => "write to a read-only page",
        0x06 => "read from a page without read permission",
        0x07 => "next-level table access failed",
        0x08 => "root table access failed",
        0x09 => "context table access failed",
        0x0a => "reserved bit in a root entry",
        0x0b => "reserved bit in a context entry",
        0x0c => "reserved bit in a page-table entry",
        0x0d => "translation type blocked by the context entry",
        0x0e => "address in the interrupt address range",
        0x31 => "invalid translation table mode (RTADDR.TTM)",
        0x50 => "PASID directory entry access failed",
        0x51 => "PASID directory entry not present",
        0x58 => "PASID table entry access failed",
        0x59 => "PASID table entry not present",
        0x5b => "invalid PASID table entry",
        0x70 => "first-stage paging entry access failed",
        0x71 => "first-stage paging entry not present",
        0x72 => "reserved bit in a first-stage paging entry",
        0x73 => "invalid first-stage table pointer in the PASID entry",
        0x80 => "first-stage input address not canonical",
        0x81 => "first-stage privilege (U/S) violation",
        0x85 => "write without write permission (scalable mode)",
        0x87 => "output address in the interrupt range (scalable mode)",
        _ => "unknown fault reason",
    }
}

impl fmt::Display for FaultRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} at {:#x} by {:02x}:{:02x}.{}",
            if self.write { "write" } else { "read" },
            self.address,
            self.source_id >> 8,
            (self.source_id >> 3) & 0x1f,
            self.source_id & 7
        )?;
        if let Some(p) = self.pasid {
            write!(f, " PASID {p:#x}")?;
        }
        write!(f, ": reason {:#04x} ({})", self.reason, self.reason_name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fault_records_decode_address_requester_reason_and_direction() {
        // F, T1 = 0 (write), reason 0x05, SID 00:01.0 (0x0008).
        let high = (1u64 << 63) | (0x05 << 32) | 0x0008;
        let r = FaultRecord::decode(0xdead_b123, high).unwrap();
        assert_eq!(r.address, 0xdead_b000);
        assert_eq!(r.source_id, 0x0008);
        assert!(r.write);
        assert_eq!(r.pasid, None);
        assert_eq!(
            r.to_string(),
            "write at 0xdeadb000 by 00:01.0: reason 0x05 (write to a read-only page)"
        );
        let read_with_pasid = (1u64 << 63) | (1 << 62) | (0x2a << 40) | (1 << 31) | (0x06 << 32);
        let r = FaultRecord::decode(0x1000, read_with_pasid).unwrap();
        assert!(!r.write);
        assert_eq!(r.pasid, Some(0x2a));
        assert_eq!(FaultRecord::decode(0x1000, 0x05 << 32), None, "F clear");
    }
}
