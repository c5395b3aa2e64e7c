//! The VT-d rig of `vsva_sva::sim`, with the two partitions the hostile
//! tests set against each other.

use std::ops::Deref;

use vsva_sva::PartitionId;
use vsva_sva::sim::vtd;

use super::{GUEST_BASE, Guest, Layout, device, pasids};

pub use vsva_sva::sim::vtd::{NESTED, SHADOW, Service};

/// A's device: host requester ID and the ID A's window shows.
pub const RID_A: u32 = 0x08;
pub const DEV_A: u32 = 0x08;
/// B's device, under other IDs on both sides.
pub const RID_B: u32 = 0x18;
pub const DEV_B: u32 = 0x10;
pub const A: PartitionId = PartitionId(1);
pub const B: PartitionId = PartitionId(2);
/// B's RAM, guest-physical: inside a 1 GiB leaf at A's RAM base.
pub const B_BASE: u64 = 0x4010_0000;

/// The shared rig, with what these tests add to it.
#[derive(Debug)]
pub struct Rig(vtd::Rig);

impl Deref for Rig {
    type Target = vtd::Rig;

    fn deref(&self) -> &vtd::Rig {
        &self.0
    }
}

impl Rig {
    pub fn new(caps: (u64, u64)) -> Self {
        Self(vtd::Rig::new(caps))
    }

    /// A (64 pages, DEV_A) and B (16 pages at B_BASE, DEV_B), 20-bit PASID
    /// devices, quota 4 and budget 256 each.
    pub fn two(&self, sva: &mut Service<'_>) -> (Guest, Guest) {
        let a = Layout::new(A, GUEST_BASE, 64);
        let a = self.partition(sva, a, Some(device(RID_A, DEV_A, pasids(20))));
        let b = Layout::new(B, B_BASE, 16);
        let b = self.partition(sva, b, Some(device(RID_B, DEV_B, pasids(20))));
        (a, b)
    }

    /// A one-byte DMA write by A's device: whether it was taken.
    pub fn dma(&self, pasid: Option<u32>, iova: u64, byte: u8) -> bool {
        let rid = RID_A as u16;
        self.model.dma_write(rid, pasid, iova, &[byte]).is_ok()
    }
}
