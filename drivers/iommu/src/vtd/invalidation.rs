//! Queued invalidation (VT-d spec §6.5.2): descriptors and the ring.
//!
//! Descriptors are typed and encoded to 128- or 256-bit slots (IQA.DW); the
//! ring lives in [`DmaMemory`] and is driven through IQT/IQH. The queue itself
//! touches no registers: [`InvalidationQueue::submit`] writes descriptors and
//! returns the new tail, which the unit writes to IQT.

use alloc::vec::Vec;

use crate::hw::DmaMemory;

/// Granularity of a context-cache invalidation (§6.5.2.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ContextGranularity {
    Global,
    Domain(u16),
    /// One device: domain, source ID and function mask (FM, 2 bits).
    Device {
        domain: u16,
        source_id: u16,
        function_mask: u8,
    },
}

/// Granularity of an IOTLB invalidation (§6.5.2.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IotlbGranularity {
    Global,
    Domain(u16),
    /// Page-selective within a domain: 2^address_mask pages at `address`
    /// (naturally aligned), `leaf_only` = IH (only leaf entries changed).
    Page {
        domain: u16,
        address: u64,
        address_mask: u8,
        leaf_only: bool,
    },
}

/// Granularity of a PASID-based IOTLB invalidation (§6.5.2.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PasidIotlbGranularity {
    /// All non-global entries of the PASID (G = 10b).
    Pasid,
    /// Page-selective within the PASID (G = 11b).
    Page {
        address: u64,
        address_mask: u8,
        leaf_only: bool,
    },
}

/// Granularity of a PASID-cache invalidation (§6.5.2.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PasidCacheGranularity {
    /// G = 00b: every PASID entry of the domain.
    Domain,
    /// G = 01b: one PASID of the domain.
    Pasid(u32),
    /// G = 11b: everything.
    Global,
}

/// One invalidation descriptor (§6.5.2, Table "Invalidation descriptor types").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Descriptor {
    /// Type 1h.
    ContextCache(ContextGranularity),
    /// Type 2h; DR/DW (drain reads/writes, bits 7:6) set where CAP.DRD/DWD.
    Iotlb {
        granularity: IotlbGranularity,
        drain_reads: bool,
        drain_writes: bool,
    },
    /// Type 3h: device-TLB (ATS) invalidation for one endpoint.
    DeviceTlb {
        source_id: u16,
        pf_source_id: u16,
        max_pending: u8,
        address: u64,
        size: bool,
    },
    /// Type 4h: interrupt entry cache, global or `index` with 2^`mask` entries.
    InterruptEntryCache { index: Option<(u16, u8)> },
    /// Type 5h: completes once every earlier descriptor has; SW writes `data`
    /// to `status_address`; IF raises the invalidation completion event; FN
    /// fences later descriptors.
    Wait {
        status: Option<(u64, u32)>,
        interrupt: bool,
        fence: bool,
    },
    /// Type 6h.
    PasidIotlb {
        domain: u16,
        pasid: u32,
        granularity: PasidIotlbGranularity,
    },
    /// Type 7h.
    PasidCache {
        domain: u16,
        granularity: PasidCacheGranularity,
    },
    /// Type 8h: PASID-based device-TLB invalidation.
    PasidDeviceTlb {
        source_id: u16,
        pf_source_id: u16,
        pasid: u32,
        max_pending: u8,
        address: u64,
        size: bool,
        global: bool,
    },
    /// Type 9h: page group response to a page request (§7.7.1).
    PageGroupResponse {
        requester: u16,
        pasid: Option<u32>,
        group_index: u16,
        code: ResponseCode,
    },
}

/// Page group response codes (§7.7.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResponseCode {
    /// 0h: the pages are now accessible; retry.
    Success,
    /// 1h: the request is invalid; the device must not retry.
    InvalidRequest,
    /// Fh: response failure; the device disables PRI.
    Failure,
}

impl Descriptor {
    /// The descriptor's 256-bit image (words 2 and 3 are zero for every type
    /// defined here; a 128-bit queue uses words 0 and 1).
    pub fn encode(&self) -> [u64; 4] {
        let (lo, hi) = match *self {
            Descriptor::ContextCache(g) => {
                let (gran, did, sid, fm) = match g {
                    ContextGranularity::Global => (1u64, 0u64, 0u64, 0u64),
                    ContextGranularity::Domain(d) => (2, d.into(), 0, 0),
                    ContextGranularity::Device {
                        domain,
                        source_id,
                        function_mask,
                    } => (
                        3,
                        domain.into(),
                        source_id.into(),
                        u64::from(function_mask & 3),
                    ),
                };
                (
                    0x1 | (gran << 4) | (did << 16) | (sid << 32) | (fm << 48),
                    0,
                )
            }
            Descriptor::Iotlb {
                granularity,
                drain_reads,
                drain_writes,
            } => {
                let drain = (u64::from(drain_reads) << 7) | (u64::from(drain_writes) << 6);
                match granularity {
                    IotlbGranularity::Global => (0x2 | (1 << 4) | drain, 0),
                    IotlbGranularity::Domain(d) => {
                        (0x2 | (2 << 4) | drain | (u64::from(d) << 16), 0)
                    }
                    IotlbGranularity::Page {
                        domain,
                        address,
                        address_mask,
                        leaf_only,
                    } => (
                        0x2 | (3 << 4) | drain | (u64::from(domain) << 16),
                        (address & !0xfff)
                            | (u64::from(leaf_only) << 6)
                            | u64::from(address_mask & 0x3f),
                    ),
                }
            }
            Descriptor::DeviceTlb {
                source_id,
                pf_source_id,
                max_pending,
                address,
                size,
            } => (
                0x3 | (u64::from(pf_source_id & 0xf) << 12)
                    | (u64::from(max_pending & 0x1f) << 16)
                    | (u64::from(source_id) << 32)
                    | (u64::from(pf_source_id >> 4) << 52),
                (address & !0xfff) | u64::from(size),
            ),
            Descriptor::InterruptEntryCache { index } => match index {
                None => (0x4, 0),
                Some((idx, mask)) => (
                    0x4 | (1 << 4) | (u64::from(mask & 0x1f) << 27) | (u64::from(idx) << 32),
                    0,
                ),
            },
            Descriptor::Wait {
                status,
                interrupt,
                fence,
            } => {
                let (sw, addr, data) = match status {
                    Some((a, d)) => (1u64, a, u64::from(d)),
                    None => (0, 0, 0),
                };
                (
                    0x5 | (u64::from(interrupt) << 4)
                        | (sw << 5)
                        | (u64::from(fence) << 6)
                        | (data << 32),
                    addr & !3,
                )
            }
            Descriptor::PasidIotlb {
                domain,
                pasid,
                granularity,
            } => {
                let head = 0x6 | (u64::from(domain) << 16) | (u64::from(pasid & 0xf_ffff) << 32);
                match granularity {
                    PasidIotlbGranularity::Pasid => (head | (2 << 4), 0),
                    PasidIotlbGranularity::Page {
                        address,
                        address_mask,
                        leaf_only,
                    } => (
                        head | (3 << 4),
                        (address & !0xfff)
                            | (u64::from(leaf_only) << 6)
                            | u64::from(address_mask & 0x3f),
                    ),
                }
            }
            Descriptor::PasidCache {
                domain,
                granularity,
            } => {
                let (g, pasid) = match granularity {
                    PasidCacheGranularity::Domain => (0u64, 0u64),
                    PasidCacheGranularity::Pasid(p) => (1, u64::from(p & 0xf_ffff)),
                    PasidCacheGranularity::Global => (3, 0),
                };
                (
                    0x7 | (g << 4) | (u64::from(domain) << 16) | (pasid << 32),
                    0,
                )
            }
            Descriptor::PasidDeviceTlb {
                source_id,
                pf_source_id,
                pasid,
                max_pending,
                address,
                size,
                global,
            } => (
                0x8 | (u64::from(max_pending & 0x1f) << 4)
                    | (u64::from(pf_source_id & 0xf) << 12)
                    | (u64::from(source_id) << 16)
                    | (u64::from(pasid & 0xf_ffff) << 32)
                    | (u64::from(pf_source_id >> 4) << 52),
                u64::from(global) | (u64::from(size) << 11) | (address & !0xfff),
            ),
            Descriptor::PageGroupResponse {
                requester,
                pasid,
                group_index,
                code,
            } => {
                let code = match code {
                    ResponseCode::Success => 0u64,
                    ResponseCode::InvalidRequest => 1,
                    ResponseCode::Failure => 0xf,
                };
                let (pp, p) = pasid.map_or((0, 0), |p| (1u64, u64::from(p & 0xf_ffff)));
                // Response code in bits 15:12 of the first word; PRGI and LPIG
                // (set: the response closes the group) in the second (§7.7.1).
                (
                    0x9 | (pp << 4) | (code << 12) | (u64::from(requester) << 16) | (p << 32),
                    (u64::from(group_index & 0x1ff) << 3) | (1 << 2),
                )
            }
        };
        [lo, hi, 0, 0]
    }

    /// Whether a 128-bit queue can carry this descriptor: the PASID-based types
    /// and page group responses need 256-bit descriptors (§6.5.2).
    pub fn needs_wide_queue(&self) -> bool {
        matches!(
            self,
            Descriptor::PasidIotlb { .. }
                | Descriptor::PasidCache { .. }
                | Descriptor::PasidDeviceTlb { .. }
                | Descriptor::PageGroupResponse { .. }
        )
    }
}

/// The invalidation-queue ring (§6.5.2): 2^(QS) 4 KiB pages of 128- or 256-bit
/// slots in DMA memory.
#[derive(Debug)]
pub struct InvalidationQueue {
    base: u64,
    pages: usize,
    /// Descriptor width in bytes: 16 or 32.
    width: u64,
    /// Next slot software writes (IQT's index).
    tail: u64,
    /// Wait-descriptor status words, one 4-byte slot per in-flight wait.
    status: u64,
    sequence: u32,
}

/// Why descriptors could not be queued.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueueError {
    /// The ring could not be allocated.
    OutOfMemory,
    /// More descriptors than free slots.
    Full,
    /// A PASID-based descriptor on a 128-bit queue.
    NeedsWideQueue,
}

impl InvalidationQueue {
    /// A ring of `pages` (a power of two, at most 128: QS is 3 bits) with
    /// 256-bit descriptors when `wide`.
    pub fn new(memory: &dyn DmaMemory, pages: usize, wide: bool) -> Result<Self, QueueError> {
        let pages = pages.clamp(1, 128).next_power_of_two();
        let base = memory.alloc_pages(pages).ok_or(QueueError::OutOfMemory)?;
        let status = memory.alloc_pages(1).ok_or(QueueError::OutOfMemory)?;
        Ok(Self {
            base,
            pages,
            width: if wide { 32 } else { 16 },
            tail: 0,
            status,
            sequence: 0,
        })
    }

    /// The IQA_REG value: base, DW (bit 11), QS (bits 2:0) (§11.4.9.3).
    pub fn iqa(&self) -> u64 {
        let qs = self.pages.trailing_zeros() as u64;
        self.base | (u64::from(self.width == 32) << 11) | qs
    }

    pub fn is_wide(&self) -> bool {
        self.width == 32
    }

    fn slots(&self) -> u64 {
        self.pages as u64 * 4096 / self.width
    }

    /// IQT/IQH are byte offsets into the ring shifted by 4 (128-bit) or the
    /// descriptor index << 5 (256-bit): both are "index * width" (§11.4.9.1).
    pub fn tail_register(&self) -> u64 {
        self.tail * self.width
    }

    /// The slot index an IQH value points at.
    pub fn index_of(&self, iqh: u64) -> u64 {
        (iqh / self.width) % self.slots()
    }

    /// The descriptor software wrote at slot `index` (for error reports).
    pub fn read_slot(&self, memory: &dyn DmaMemory, index: u64) -> [u64; 4] {
        let at = self.base + (index % self.slots()) * self.width;
        let words = (self.width / 8) as usize;
        let mut out = [0u64; 4];
        for (i, w) in out.iter_mut().enumerate().take(words) {
            *w = memory.read64(at + 8 * i as u64);
        }
        out
    }

    /// Writes `descriptors` followed by a wait descriptor with a status write,
    /// given the hardware head `head_index`; returns the status address and
    /// value that signal completion of the whole batch.
    pub fn submit(
        &mut self,
        memory: &dyn DmaMemory,
        head_index: u64,
        descriptors: &[Descriptor],
    ) -> Result<(u64, u32), QueueError> {
        if !self.is_wide() && descriptors.iter().any(Descriptor::needs_wide_queue) {
            return Err(QueueError::NeedsWideQueue);
        }
        let used = (self.tail + self.slots() - head_index) % self.slots();
        // One slot always stays empty so a full ring is told apart from an empty one.
        let free = self.slots() - 1 - used;
        if descriptors.len() as u64 + 1 > free {
            return Err(QueueError::Full);
        }
        self.sequence = self.sequence.wrapping_add(1).max(1);
        let status_addr = self.status;
        memory.write64(status_addr, 0);
        let wait = Descriptor::Wait {
            status: Some((status_addr, self.sequence)),
            interrupt: false,
            fence: true,
        };
        let mut all: Vec<Descriptor> = descriptors.to_vec();
        all.push(wait);
        for d in &all {
            let at = self.base + self.tail * self.width;
            let image = d.encode();
            for (i, w) in image.iter().take((self.width / 8) as usize).enumerate() {
                memory.write64(at + 8 * i as u64, *w);
            }
            self.tail = (self.tail + 1) % self.slots();
        }
        memory.publish();
        Ok((status_addr, self.sequence))
    }

    /// Skips the descriptor at `index` after an IQE by overwriting it with a
    /// harmless wait descriptor (no status write), so hardware can go on.
    pub fn neutralize(&self, memory: &dyn DmaMemory, index: u64) {
        let at = self.base + (index % self.slots()) * self.width;
        let nop = Descriptor::Wait {
            status: None,
            interrupt: false,
            fence: false,
        }
        .encode();
        for (i, w) in nop.iter().take((self.width / 8) as usize).enumerate() {
            memory.write64(at + 8 * i as u64, *w);
        }
        memory.publish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hw::sim::SimMemory;

    #[test]
    fn descriptors_put_type_granularity_and_ids_in_place() {
        let cc = Descriptor::ContextCache(ContextGranularity::Device {
            domain: 5,
            source_id: 0x0008,
            function_mask: 0,
        });
        assert_eq!(cc.encode()[0], 0x1 | (3 << 4) | (5 << 16) | (0x8 << 32));
        let psi = Descriptor::Iotlb {
            granularity: IotlbGranularity::Page {
                domain: 3,
                address: 0x40_0000,
                address_mask: 9,
                leaf_only: true,
            },
            drain_reads: true,
            drain_writes: true,
        };
        let w = psi.encode();
        assert_eq!(w[0], 0x2 | (3 << 4) | (1 << 7) | (1 << 6) | (3 << 16));
        assert_eq!(w[1], 0x40_0000 | (1 << 6) | 9);
        let wait = Descriptor::Wait {
            status: Some((0x1000, 7)),
            interrupt: false,
            fence: true,
        };
        assert_eq!(
            wait.encode()[..2],
            [0x5 | (1 << 5) | (1 << 6) | (7 << 32), 0x1000]
        );
        let pc = Descriptor::PasidCache {
            domain: 2,
            granularity: PasidCacheGranularity::Pasid(9),
        };
        assert_eq!(pc.encode()[0], 0x7 | (1 << 4) | (2 << 16) | (9 << 32));
        assert!(pc.needs_wide_queue());
    }

    #[test]
    fn queue_wraps_refuses_overflow_and_ends_batches_with_a_status_wait() {
        let m = SimMemory::new(0x1000, 0x40000);
        let mut q = InvalidationQueue::new(&m, 1, false).unwrap();
        assert_eq!(q.iqa() & 0x807, 0);
        let d = Descriptor::ContextCache(ContextGranularity::Global);
        let (addr, seq) = q.submit(&m, 0, &[d, d]).unwrap();
        assert_eq!(q.tail_register(), 3 * 16);
        let wait = q.read_slot(&m, 2);
        assert_eq!(wait[0] & 0xf, 5);
        assert_eq!(wait[1], addr);
        assert_eq!((wait[0] >> 32) as u32, seq);
        // 256 slots of 16 bytes; hardware has consumed nothing (head 0): three are
        // used and one stays empty, so 252 are free, not enough for 252 + a wait.
        let many = vec![d; 252];
        assert_eq!(q.submit(&m, 0, &many), Err(QueueError::Full));
        assert!(q.submit(&m, 0, &many[..251]).is_ok());
        let pasid = Descriptor::PasidCache {
            domain: 1,
            granularity: PasidCacheGranularity::Global,
        };
        assert_eq!(q.submit(&m, 3, &[pasid]), Err(QueueError::NeedsWideQueue));
        let wide = InvalidationQueue::new(&m, 2, true).unwrap();
        assert_eq!(wide.iqa() & 0x807, (1 << 11) | 1);
    }
}
