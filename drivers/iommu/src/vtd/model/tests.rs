//! The model on its own terms: hand-built tables in simulated memory (encoded here, not by
//! the driver), DMA through every translation type, faults, caches, QI and page requests.
//!
//! This module holds the fixture the topic modules share ([`Rig`] and the descriptor and
//! leaf encoders).

mod faults;
mod invalidation;
mod legacy;
mod page_requests;
mod registers;
mod scalable;

use alloc::rc::Rc;

use super::*;
use crate::hw::DmaMemory;

const RID: u16 = 0x0108; // 01:01.0
const DID: u64 = 5;

struct Rig {
    mem: Rc<SimMemory>,
    m: VtdModel,
}

impl Rig {
    fn new(cap: u64, ecap: u64) -> Self {
        let mem = Rc::new(SimMemory::new(0x10_0000, 0x1000_0000));
        let m = VtdModel::new(mem.clone(), cap, ecap);
        Self { mem, m }
    }

    fn page(&self) -> u64 {
        self.mem.alloc_pages(1).unwrap()
    }

    fn set_root(&self, root: u64, ttm: u64) {
        self.m.write64(RTADDR_REG, root | ttm << 10);
        let gsts = self.m.read32(GSTS_REG);
        self.m.write32(GCMD_REG, (gsts & 0x96ff_ffff) | GCMD_SRTP);
        assert_ne!(self.m.read32(GSTS_REG) & GCMD_SRTP, 0, "RTPS");
        let gsts = self.m.read32(GSTS_REG);
        self.m.write32(GCMD_REG, (gsts & 0x96ff_ffff) | GCMD_TE);
    }

    /// Writes a leaf into a multi-level table at `root`, creating tables on the way.
    /// `leaf_level` 1 = 4K, 2 = 2M, 3 = 1G; `table_flags` go into non-leaf entries.
    #[allow(clippy::too_many_arguments)] // a test helper: one argument per table property
    fn map(
        &self,
        root: u64,
        levels: u32,
        va: u64,
        leaf: u64,
        leaf_level: u32,
        table_flags: u64,
        ps: bool,
    ) {
        let mut table = root;
        for level in (leaf_level..=levels).rev() {
            let at = table + ((va >> (12 + 9 * (level - 1))) & 0x1ff) * 8;
            if level == leaf_level {
                let ps_bit = if ps && level > 1 { 1 << 7 } else { 0 };
                self.mem.write64(at, leaf | ps_bit);
                return;
            }
            let e = self.mem.read64(at);
            table = if e & mask(51, 12) != 0 && e & 0x3 != 0 {
                e & mask(51, 12)
            } else {
                let t = self.page();
                self.mem.write64(at, t | table_flags);
                t
            };
        }
    }

    /// A legacy root + context entry for `RID`: TT, AW, DID, SLPTPTR.
    fn legacy(&self, tt: u64, aw: u64, slptptr: u64) -> (u64, u64) {
        let root = self.page();
        let ctx = self.page();
        self.mem.write64(root + u64::from(RID >> 8) * 16, ctx | 1);
        let at = ctx + u64::from(RID & 0xff) * 16;
        self.mem.write64(at, slptptr | tt << 2 | 1);
        self.mem.write64(at + 8, DID << 8 | aw);
        self.set_root(root, 0);
        (root, at)
    }

    /// A scalable root + context + PASID directory for `RID` (PDTS 0: 128 dir entries).
    fn scalable(&self, rid_pasid: u64, paside: bool, pre: bool) -> (u64, u64) {
        let root = self.page();
        let ctx = self.page();
        let dir = self.page();
        self.mem.write64(root + u64::from(RID >> 8) * 16, ctx | 1);
        let at = ctx + u64::from(RID & 0x7f) * 32;
        self.mem
            .write64(at, dir | u64::from(pre) << 4 | u64::from(paside) << 3 | 1);
        self.mem.write64(at + 8, rid_pasid);
        self.set_root(root, 1);
        (dir, at)
    }

    /// A PASID-table entry under `dir`; returns its address.
    fn pasid_entry(&self, dir: u64, pasid: u32, qw0: u64, qw1: u64, qw2: u64) -> u64 {
        let de = dir + u64::from(pasid >> 6) * 8;
        let mut table = self.mem.read64(de) & !0xfff;
        if table == 0 {
            table = self.page();
            self.mem.write64(de, table | 1);
        }
        let at = table + u64::from(pasid & 0x3f) * 64;
        self.mem.write64(at, qw0);
        self.mem.write64(at + 8, qw1);
        self.mem.write64(at + 16, qw2);
        at
    }

    fn read(&self, pasid: Option<u32>, iova: u64) -> Result<u32, ModelFault> {
        let mut b = [0; 4];
        self.m
            .dma_read(RID, pasid, iova, &mut b)
            .map(|()| u32::from_le_bytes(b))
    }

    fn write(&self, pasid: Option<u32>, iova: u64, v: u32) -> Result<(), ModelFault> {
        self.m.dma_write(RID, pasid, iova, &v.to_le_bytes())
    }

    /// Sets up a one-page invalidation queue and enables QI.
    fn enable_qi(&self, wide: bool) -> u64 {
        let q = self.page();
        self.m.write64(IQA_REG, q | u64::from(wide) << 11);
        self.m.write64(IQT_REG, 0);
        let gsts = self.m.read32(GSTS_REG);
        self.m.write32(GCMD_REG, (gsts & 0x96ff_ffff) | GCMD_QIE);
        assert_ne!(self.m.read32(GSTS_REG) & GCMD_QIE, 0);
        q
    }

    /// Appends descriptors at IQT and writes IQT once.
    fn submit(&self, descs: &[[u64; 4]]) {
        let iqa = self.m.read64(IQA_REG);
        let wide = iqa >> 11 & 1 == 1;
        let size = if wide { 32 } else { 16 };
        let mut t = self.m.read64(IQT_REG);
        for d in descs {
            for (i, w) in d.iter().take(size / 8).enumerate() {
                self.mem.write64((iqa & !0xfff) + t + 8 * i as u64, *w);
            }
            t = (t + size as u64) % 4096;
        }
        self.m.write64(IQT_REG, t);
    }
}

fn wait_desc(addr: u64, data: u32) -> [u64; 4] {
    [5 | 1 << 5 | u64::from(data) << 32, addr, 0, 0]
}

fn iotlb_page_desc(did: u64, addr: u64, am: u64) -> [u64; 4] {
    [2 | 3 << 4 | did << 16, addr | am, 0, 0]
}

fn piotlb_desc(g: u64, did: u64, pasid: u64, addr: u64, am: u64) -> [u64; 4] {
    [6 | g << 4 | did << 16 | pasid << 32, addr | am, 0, 0]
}

/// Second-stage 4K leaf: R, W.
fn ss(pa: u64, r: bool, w: bool) -> u64 {
    pa | u64::from(r) | u64::from(w) << 1
}

/// First-stage leaf: P, R/W, U/S.
fn fs(pa: u64, rw: bool, us: bool) -> u64 {
    pa | 1 | u64::from(rw) << 1 | u64::from(us) << 2
}
