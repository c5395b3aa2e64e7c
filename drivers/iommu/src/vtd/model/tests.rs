//! The model on its own terms: hand-built tables in simulated memory (encoded here, not by
//! the driver), DMA through every translation type, faults, caches, QI and page requests.

use alloc::rc::Rc;
use alloc::vec;

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

#[test]
fn identification_and_reset_values() {
    let r = Rig::new(QEMU_CAP, QEMU_ECAP_SCALABLE);
    assert_eq!(r.m.read32(VER_REG), 0x10);
    assert_eq!(r.m.read64(CAP_REG), QEMU_CAP);
    assert_eq!(r.m.read32(ECAP_REG + 4), (QEMU_ECAP_SCALABLE >> 32) as u32);
    assert_eq!(r.m.read32(GSTS_REG), 0);
    assert_eq!(r.m.read32(FECTL_REG), CTL_IM);
    assert_eq!(cap_fro(QEMU_CAP), 0x220);
    assert_eq!(cap_nfr(QEMU_CAP), 1);
    assert_eq!(ecap_iro(QEMU_ECAP_LEGACY), 0xf0);
    assert_eq!(cap_nfr(FULL_CAP), 8);
    assert_eq!(cap_mgaw(FULL_CAP), 57);
    assert!(ecap_nest(FULL_ECAP) && ecap_prs(FULL_ECAP) && ecap_flts(FULL_ECAP));
    assert_eq!(field(FULL_ECAP, 39, 35), 19);
}

#[test]
fn gcmd_sets_gsts_with_one_shot_and_persistent_semantics() {
    let r = Rig::new(QEMU_CAP, QEMU_ECAP_LEGACY);
    r.m.write64(RTADDR_REG, 0x5000);
    r.m.write32(GCMD_REG, GCMD_SRTP);
    assert_eq!(
        r.m.read32(GSTS_REG),
        GCMD_SRTP,
        "RTPS Set, nothing persistent"
    );
    r.m.write32(GCMD_REG, GCMD_TE);
    assert_eq!(r.m.read32(GSTS_REG), GCMD_TE | GCMD_SRTP);
    // A one-shot bit written again repeats the operation: the new RTADDR is latched.
    r.m.write64(RTADDR_REG, 0x9000 | 1 << 10);
    assert_eq!(r.m.state.borrow().root, Some((0x5000, 0)));
    r.m.write32(GCMD_REG, GCMD_TE | GCMD_SRTP);
    assert_eq!(
        r.m.state.borrow().root,
        Some((0x9000, 1)),
        "TTM latched too"
    );
    r.m.write32(GCMD_REG, GCMD_WBF);
    assert_eq!(
        r.m.read32(GSTS_REG) & (GCMD_WBF | GCMD_TE),
        0,
        "WBF done, TE cleared"
    );
    r.m.write32(GCMD_REG, GCMD_QIE | GCMD_IRE | GCMD_SIRTP);
    assert_eq!(
        r.m.read32(GSTS_REG) & (GCMD_QIE | GCMD_IRE | GCMD_SIRTP),
        GCMD_QIE | GCMD_IRE | GCMD_SIRTP
    );
    r.m.set_ignore_gcmd(true);
    r.m.write32(GCMD_REG, GCMD_TE);
    assert_eq!(r.m.read32(GSTS_REG) & GCMD_TE, 0, "ignored");
    // A unit without QI never shows QIES.
    let r = Rig::new(QEMU_CAP, QEMU_ECAP_LEGACY & !2);
    r.m.write32(GCMD_REG, GCMD_QIE);
    assert_eq!(r.m.read32(GSTS_REG), 0);
}

#[test]
fn translation_disabled_is_identity_and_te_without_root_faults() {
    let r = Rig::new(QEMU_CAP, QEMU_ECAP_LEGACY);
    r.write(None, 0x20_0000, 7).unwrap();
    assert_eq!(r.mem.read_u32(0x20_0000), 7);
    r.m.write32(GCMD_REG, GCMD_TE);
    let f = r.read(None, 0x20_0000).unwrap_err();
    assert_eq!(f.reason, FaultReason::RootTableAccess);
    assert!(f.recorded);
}

#[test]
fn legacy_second_stage_pages_and_permissions() {
    let r = Rig::new(QEMU_CAP, QEMU_ECAP_LEGACY);
    let slpt = r.page();
    let (a, b, c) = (r.page(), 0x400_0000, 0x4000_0000);
    r.map(slpt, 4, 0x1000, ss(a, true, true), 1, 3, false);
    r.map(slpt, 4, 0x20_0000, ss(b, true, true), 2, 3, true);
    r.map(slpt, 4, 0x8000_0000, ss(c, true, false), 3, 3, true);
    r.legacy(0, 2, slpt);
    r.write(None, 0x1010, 0xaa).unwrap();
    assert_eq!(r.mem.read_u32(a + 0x10), 0xaa);
    r.write(None, 0x23_4560, 0xbb).unwrap();
    assert_eq!(r.mem.read_u32(b + 0x3_4560), 0xbb);
    r.mem.write_u32(c + 0x123_4000, 0xcc);
    assert_eq!(r.read(None, 0x8123_4000), Ok(0xcc));
    let f = r.write(None, 0x8123_4000, 1).unwrap_err();
    assert_eq!(
        (f.reason, f.access),
        (FaultReason::WriteDenied, Access::Write)
    );
    assert_eq!(
        r.mem.read_u32(c + 0x123_4000),
        0xcc,
        "no memory change on a fault"
    );
    assert_eq!(
        r.read(None, 0x5000).unwrap_err().reason,
        FaultReason::ReadDenied
    );
    // AW 2 = 48-bit: an address at bit 48 is beyond the width.
    assert_eq!(
        r.read(None, 1 << 48).unwrap_err().reason,
        FaultReason::AddressBeyondWidth
    );
    // A DMA across a page boundary where the second page faults changes nothing.
    let before = r.mem.read_u32(a + 0xffc);
    let e = r.m.dma_write(RID, None, 0x1ffc, &[1; 8]).unwrap_err();
    assert_eq!(e.addr, 0x2000);
    assert_eq!(r.mem.read_u32(a + 0xffc), before);
}

#[test]
fn legacy_context_programming_faults() {
    let r = Rig::new(QEMU_CAP, QEMU_ECAP_LEGACY);
    let slpt = r.page();
    let (root, ctx) = r.legacy(0, 2, slpt);
    // Pass-through (ECAP.PT is Set in QEMU's ECAP).
    r.mem.write64(ctx, 2 << 2 | 1);
    r.write(None, 0x30_0000, 9).unwrap();
    assert_eq!(r.mem.read_u32(0x30_0000), 9);
    // Request-with-PASID in legacy mode is blocked.
    assert_eq!(
        r.read(Some(1), 0).unwrap_err().reason,
        FaultReason::TranslationTypeBlocked
    );
    let cases = [
        (ctx, 3 << 2 | 1, FaultReason::ContextEntryInvalid),
        (ctx, slpt | 1 << 2 | 1, FaultReason::ContextEntryInvalid), // TT 01 needs ECAP.DT
        (ctx, slpt | 1 << 5 | 1, FaultReason::ContextEntryReserved),
        (ctx, 0, FaultReason::ContextEntryNotPresent),
    ];
    for (at, v, reason) in cases {
        r.mem.write64(at, v);
        r.m.write64(CCMD_REG, 1 << 63 | 1 << 61);
        assert_eq!(r.read(None, 0).unwrap_err().reason, reason, "{v:#x}");
        r.m.write32(0x220 + 12, 1 << 31);
    }
    let re = root + u64::from(RID >> 8) * 16;
    let ctp = r.mem.read64(re);
    r.mem.write64(re, ctp | 1 << 3);
    assert_eq!(
        r.read(None, 0).unwrap_err().reason,
        FaultReason::RootEntryReserved
    );
    r.m.write32(0x220 + 12, 1 << 31);
    r.mem.write64(re, 0);
    assert_eq!(
        r.read(None, 0).unwrap_err().reason,
        FaultReason::RootEntryNotPresent
    );
    // AW 1 (39-bit) is supported by QEMU; AW 3 (57-bit) is not.
    r.mem.write64(re, ctp);
    r.mem.write64(ctx, slpt | 1);
    r.mem.write64(ctx + 8, DID << 8 | 3);
    r.m.write32(0x220 + 12, 1 << 31);
    assert_eq!(
        r.read(None, 0).unwrap_err().reason,
        FaultReason::ContextEntryInvalid
    );
}

#[test]
fn fault_recording_registers_status_and_events() {
    let r = Rig::new(QEMU_CAP, QEMU_ECAP_LEGACY);
    let slpt = r.page();
    r.legacy(0, 2, slpt);
    let f = r.write(None, 0x1234_5678, 1).unwrap_err();
    assert!(f.recorded);
    assert_eq!(r.m.read64(0x220), 0x1234_5000, "FI is page-aligned");
    let hi = r.m.read64(0x228);
    assert_eq!(hi & 0xffff, u64::from(RID));
    assert_eq!(field(hi, 39, 32), 0x5);
    assert!(!bit(hi, 62), "T1 = 0: write");
    assert!(bit(hi, 63));
    assert_eq!(
        r.m.read32(FSTS_REG) & (FSTS_PPF | 0xff00),
        FSTS_PPF,
        "PPF, FRI 0"
    );
    assert_eq!(r.m.read32(FECTL_REG), CTL_IM | CTL_IP, "masked: pending");
    assert_eq!(r.m.events().fault, 0);
    r.m.write32(FECTL_REG, 0);
    assert_eq!(r.m.events().fault, 1, "unmasking sends it");
    assert_eq!(r.m.read32(FECTL_REG), 0);
    // One recording register: the next fault overflows.
    let g = r.read(None, 0x9000).unwrap_err();
    assert!(!g.recorded);
    assert_eq!(r.m.read32(FSTS_REG) & FSTS_PFO, FSTS_PFO);
    assert_eq!(r.m.read64(0x220), 0x1234_5000, "first fault kept");
    // F and PFO are RW1C; the next fault lands again.
    r.m.write32(0x22c, 1 << 31);
    r.m.write32(FSTS_REG, FSTS_PFO);
    assert_eq!(r.m.read32(FSTS_REG), 0);
    r.read(None, 0x7000).unwrap_err();
    assert_eq!(r.m.read64(0x220), 0x7000);
    assert!(bit(r.m.read64(0x228), 62), "T1 = 1: read");
    assert_eq!(
        r.m.events().fault,
        3,
        "unmasked: PFO and the new PPF each sent one"
    );
    assert_eq!(r.m.faults().len(), 3);
}

#[test]
fn fpd_suppresses_recording_but_not_the_fault() {
    let r = Rig::new(QEMU_CAP, QEMU_ECAP_LEGACY);
    let slpt = r.page();
    let (_, ctx) = r.legacy(0, 2, slpt);
    r.mem.write64(ctx, slpt | 1 << 1 | 1);
    let f = r.read(None, 0x1000).unwrap_err();
    assert_eq!((f.reason, f.recorded), (FaultReason::ReadDenied, false));
    assert_eq!(r.m.read32(FSTS_REG), 0);
}

#[test]
fn iotlb_and_context_cache_stay_stale_until_invalidated() {
    let r = Rig::new(QEMU_CAP, QEMU_ECAP_LEGACY);
    let slpt = r.page();
    let (a, b) = (r.page(), r.page());
    r.mem.write_u32(a, 0xa);
    r.mem.write_u32(b, 0xb);
    r.map(slpt, 4, 0x1000, ss(a, true, true), 1, 3, false);
    let (_, ctx) = r.legacy(0, 2, slpt);
    assert_eq!(r.read(None, 0x1000), Ok(0xa));
    r.map(slpt, 4, 0x1000, ss(b, true, true), 1, 3, false);
    assert_eq!(r.read(None, 0x1000), Ok(0xa), "stale IOTLB");
    // Register-based page-selective invalidation of another page leaves it.
    r.m.write64(0xf0, 0x5000);
    r.m.write64(0xf8, 1 << 63 | 3 << 60 | DID << 32);
    assert_eq!(r.m.read64(0xf8) >> 57 & 3, 3, "IAIG page");
    assert_eq!(r.read(None, 0x1000), Ok(0xa));
    r.m.write64(0xf0, 0x1000);
    r.m.write64(0xf8, 1 << 63 | 3 << 60 | DID << 32);
    assert_eq!(r.m.read64(0xf8) >> 63, 0, "IVT self-clears");
    assert_eq!(r.read(None, 0x1000), Ok(0xb));
    // Unmapping without invalidation keeps the old translation alive.
    r.mem.write64(slpt, 0);
    assert_eq!(r.read(None, 0x1000), Ok(0xb));
    r.m.write64(0xf8, 1 << 63 | 2 << 60 | DID << 32);
    assert_eq!(
        r.read(None, 0x1000).unwrap_err().reason,
        FaultReason::ReadDenied
    );
    // Context cache: a new DID / table pointer is not seen until a context invalidation
    // that names the cached DID.
    let slpt2 = r.page();
    r.map(slpt2, 4, 0x1000, ss(a, true, true), 1, 3, false);
    r.mem.write64(ctx, slpt2 | 1);
    r.mem.write64(ctx + 8, 9 << 8 | 2);
    assert!(r.read(None, 0x1000).is_err(), "cached context, old tables");
    r.m.write64(CCMD_REG, 1 << 63 | 3 << 61 | u64::from(RID) << 16 | 9);
    let ccmd = r.m.read64(CCMD_REG);
    assert_eq!(
        (ccmd >> 63, ccmd >> 59 & 0b11),
        (0, 3),
        "ICC clear, CAIG device"
    );
    assert!(
        r.read(None, 0x1000).is_err(),
        "device-selective with the wrong DID"
    );
    r.m.write64(CCMD_REG, 1 << 63 | 3 << 61 | u64::from(RID) << 16 | DID);
    assert_eq!(r.read(None, 0x1000), Ok(0xa));
    assert_eq!(r.m.counts().register_context_cache, 2);
    assert_eq!(r.m.counts().register_iotlb, 3);
}

#[test]
fn queued_invalidation_wait_and_counts() {
    let r = Rig::new(QEMU_CAP, QEMU_ECAP_LEGACY);
    let status = r.page();
    r.enable_qi(false);
    r.submit(&[
        [1 | 1 << 4, 0, 0, 0],
        [2 | 2 << 4 | DID << 16, 0, 0, 0],
        [4, 0, 0, 0],
        wait_desc(status, 0x1234),
    ]);
    assert_eq!(r.mem.read_u32(status), 0x1234);
    assert_eq!(r.m.read64(IQH_REG), 0x40);
    let c = r.m.counts();
    assert_eq!(
        (
            c.context_cache,
            c.iotlb,
            c.interrupt_entry_cache,
            c.wait,
            c.queued()
        ),
        (1, 1, 1, 1, 4)
    );
    assert_eq!(
        r.m.descriptor_log()[1],
        Descriptor::Iotlb {
            granularity: IotlbGranularity::Domain,
            did: DID as u16,
            addr: 0,
            am: 0,
            ih: false,
            dr: false,
            dw: false
        }
    );
    // IF: ICS.IWC and an invalidation event (IECTL masked at reset: IP).
    r.submit(&[[5 | 1 << 4, 0, 0, 0]]);
    assert_eq!(r.m.read32(ICS_REG), ICS_IWC);
    assert_eq!(r.m.read32(IECTL_REG), CTL_IM | CTL_IP);
    r.m.write32(ICS_REG, ICS_IWC);
    assert_eq!(r.m.read32(IECTL_REG), CTL_IM);
    // Register-based invalidation is ignored while QI is on.
    r.m.write64(CCMD_REG, 1 << 63 | 1 << 61);
    assert_eq!(r.m.counts().register_context_cache, 0);
    // Disabling QI resets IQH.
    r.m.write32(GCMD_REG, 0);
    assert_eq!(r.m.read64(IQH_REG), 0);
}

#[test]
fn invalid_descriptors_stop_the_queue_until_iqe_is_cleared() {
    let r = Rig::new(QEMU_CAP, QEMU_ECAP_LEGACY);
    let status = r.page();
    let q = r.enable_qi(false);
    r.submit(&[wait_desc(status, 1), [0xf, 0, 0, 0], wait_desc(status, 2)]);
    assert_eq!(r.mem.read_u32(status), 1);
    assert_eq!(r.m.read64(IQH_REG), 0x10, "IQH on the bad descriptor");
    assert_eq!(r.m.read32(FSTS_REG) & FSTS_IQE, FSTS_IQE);
    assert_eq!(r.m.read64(IQERCD_REG) & 0xf, Iqei::InvalidType as u64);
    // Software replaces it and clears IQE: processing resumes.
    r.mem.write64(q + 0x10, 4);
    r.m.write32(FSTS_REG, FSTS_IQE);
    assert_eq!(r.mem.read_u32(status), 2);
    assert_eq!(r.m.read64(IQH_REG), 0x30);
    // Reserved bits, a wait with SW and IF, AM above MAMV.
    for bad in [
        [1 | 1 << 4, 1, 0, 0],
        [5 | 3 << 4, status, 0, 0],
        iotlb_page_desc(DID, 0, 19),
    ] {
        let h = r.m.read64(IQH_REG);
        r.submit(&[bad]);
        assert_eq!(r.m.read64(IQH_REG), h, "{bad:x?}");
        assert_eq!(r.m.read64(IQERCD_REG) & 0xf, Iqei::Reserved as u64);
        r.mem.write64(q + h, 4);
        r.mem.write64(q + h + 8, 0);
        r.m.write32(FSTS_REG, FSTS_IQE);
        assert_eq!(r.m.read64(IQH_REG), h + 0x10);
    }
    // Scalable-mode descriptors are invalid types on a legacy-only unit.
    r.submit(&[piotlb_desc(2, DID, 1, 0, 0)]);
    assert_eq!(r.m.read64(IQERCD_REG) & 0xf, Iqei::InvalidType as u64);
}

#[test]
fn wide_queue_rules() {
    let r = Rig::new(QEMU_CAP, QEMU_ECAP_SCALABLE);
    r.enable_qi(false);
    r.submit(&[piotlb_desc(2, DID, 1, 0, 0)]);
    assert_eq!(
        r.m.read64(IQERCD_REG) & 0xf,
        Iqei::InvalidWidth as u64,
        "needs DW=1"
    );
    let r = Rig::new(QEMU_CAP, QEMU_ECAP_SCALABLE);
    r.enable_qi(true);
    r.m.write64(IQT_REG, 0x10);
    assert_eq!(r.m.read64(IQERCD_REG) & 0xf, Iqei::TailMisaligned as u64);
    r.m.write64(IQT_REG, 0);
    r.m.write32(FSTS_REG, FSTS_IQE);
    r.submit(&[
        piotlb_desc(3, DID, 1, 0x4000, 1),
        [7 | 1 << 4 | DID << 16 | 1 << 32, 0, 0, 0],
    ]);
    assert_eq!(r.m.read64(IQH_REG), 0x40);
    assert_eq!(r.m.counts().pasid_iotlb, 1);
    assert_eq!(r.m.counts().pasid_cache, 1);
    // The upper 128 bits of a 256-bit descriptor are reserved.
    r.submit(&[[4, 0, 1, 0]]);
    assert_eq!(r.m.read32(FSTS_REG) & FSTS_IQE, FSTS_IQE);
}

#[test]
fn scalable_second_stage_with_pasid_cache() {
    let r = Rig::new(QEMU_CAP, QEMU_ECAP_SCALABLE_PASID);
    let slpt = r.page();
    let a = r.page();
    r.mem.write_u32(a + 8, 0x55);
    r.map(slpt, 3, 0x7000, ss(a, true, false), 1, 3, false);
    let (dir, ctx) = r.scalable(0, true, false);
    let pe = r.pasid_entry(dir, 0, slpt | 2 << 6 | 1 << 2 | 1, DID, 0);
    assert_eq!(
        r.read(None, 0x7008),
        Ok(0x55),
        "RID_PASID 0, AW 1 = 3-level"
    );
    assert_eq!(
        r.write(None, 0x7008, 1).unwrap_err().reason,
        FaultReason::SmWriteDenied
    );
    assert_eq!(
        r.read(None, 1 << 39).unwrap_err().reason,
        FaultReason::SmAddressBeyondWidth
    );
    assert_eq!(
        r.read(None, 0x8000).unwrap_err().reason,
        FaultReason::SmReadDenied
    );
    // A request-with-PASID: PASID 77 has no table entry yet.
    assert_eq!(
        r.read(Some(7), 0x7008).unwrap_err().reason,
        FaultReason::PasidEntryNotPresent
    );
    assert_eq!(
        r.read(Some(64 * 200), 0).unwrap_err().reason,
        FaultReason::SmContextEntryInvalid,
        "beyond PDTS"
    );
    assert_eq!(
        r.read(Some(64 * 100), 0).unwrap_err().reason,
        FaultReason::PasidDirectoryEntryNotPresent
    );
    r.pasid_entry(dir, 7, slpt | 2 << 6 | 1 << 2 | 1, 7, 0);
    let h = r.m.read32(FSTS_REG);
    assert_ne!(h, 0);
    assert_eq!(r.read(Some(7), 0x7008), Ok(0x55));
    // Changing the PASID entry is invisible until a PASID-cache invalidation for its DID.
    r.mem.write64(pe, 0);
    assert_eq!(r.read(None, 0x7008), Ok(0x55));
    r.enable_qi(true);
    r.submit(&[[7 | 1 << 4 | 7 << 16, 0, 0, 0]]);
    assert_eq!(r.read(None, 0x7008), Ok(0x55), "other DID");
    r.submit(&[[7 | 1 << 4 | DID << 16, 0, 0, 0]]);
    // The entry is re-read: the IOTLB cannot be reached without the PASID entry's DID.
    assert_eq!(
        r.read(None, 0x7008).unwrap_err().reason,
        FaultReason::PasidEntryNotPresent
    );
    // PASIDE Clear rejects requests-with-PASID.
    r.mem.write64(ctx, dir | 1);
    r.submit(&[[1 | 1 << 4, 0, 0, 0]]);
    assert_eq!(
        r.read(Some(7), 0x7008).unwrap_err().reason,
        FaultReason::SmContextEntryInvalid
    );
    // Nested PGTT is rejected without ECAP.NEST, as QEMU does.
    r.mem.write64(ctx, dir | 1 << 3 | 1);
    r.pasid_entry(dir, 5, slpt | 3 << 6 | 1 << 2 | 1, 7, 0);
    r.submit(&[[1 | 1 << 4, 0, 0, 0]]);
    assert_eq!(
        r.read(Some(5), 0).unwrap_err().reason,
        FaultReason::PasidEntryInvalid
    );
}

#[test]
fn scalable_first_stage_checks_and_piotlb() {
    let r = Rig::new(QEMU_CAP_FLTS, QEMU_ECAP_FLTS);
    let pml4 = r.page();
    let (a, b) = (r.page(), r.page());
    r.mem.write_u32(a, 0xa);
    r.mem.write_u32(b, 0xb);
    let va = 0x7fff_0000_1000;
    r.map(pml4, 4, va, fs(a, true, true), 1, 0b111, false);
    r.map(pml4, 4, 0x2000, fs(b, false, true), 1, 0b111, false);
    r.map(pml4, 4, 0x3000, fs(b, true, false), 1, 0b111, false);
    r.map(
        pml4,
        4,
        0x4000_0000,
        fs(0x8000_0000, true, true),
        3,
        0b111,
        true,
    );
    let (dir, _) = r.scalable(3, true, false);
    r.pasid_entry(dir, 3, 1 << 6 | 1, DID, pml4);
    assert_eq!(r.read(None, va), Ok(0xa));
    // A and D set by the walk.
    assert_ne!(
        r.mem.read64(pml4 + 0xff * 8) & 1 << 5,
        0,
        "A in the PML4 entry"
    );
    r.write(None, va, 0xaa).unwrap();
    assert_eq!(r.read(None, 0x2000), Ok(0xb));
    assert_eq!(
        r.write(None, 0x2000, 0).unwrap_err().reason,
        FaultReason::SmWriteDenied
    );
    assert_eq!(
        r.read(None, 0x3000).unwrap_err().reason,
        FaultReason::UserSupervisor
    );
    assert_eq!(
        r.read(None, 0x5000).unwrap_err().reason,
        FaultReason::FirstStageNotPresent
    );
    assert_eq!(
        r.read(None, 1 << 47).unwrap_err().reason,
        FaultReason::NonCanonical
    );
    r.mem.write_u32(0x8123_4000, 0x1d);
    assert_eq!(r.read(None, 0x4123_4000), Ok(0x1d), "1 GiB page with FS1GP");
    // A type-2 page-selective invalidation leaves first-stage entries; P_IOTLB drops them.
    r.map(pml4, 4, va, fs(b, true, true), 1, 0b111, false);
    r.enable_qi(true);
    r.submit(&[iotlb_page_desc(DID, va, 0)]);
    assert_eq!(r.read(None, va), Ok(0xaa), "stale");
    r.submit(&[piotlb_desc(3, DID, 4, va, 0)]);
    assert_eq!(r.read(None, va), Ok(0xaa), "other PASID");
    r.submit(&[piotlb_desc(3, DID, 3, va, 0)]);
    assert_eq!(r.read(None, va), Ok(0xb));
    // 1 GiB first-stage pages without FS1GP are reserved.
    let r2 = Rig::new(QEMU_CAP, QEMU_ECAP_FLTS);
    let pml4 = r2.page();
    r2.map(
        pml4,
        4,
        0x4000_0000,
        fs(0x8000_0000, true, true),
        3,
        0b111,
        true,
    );
    let (dir, _) = r2.scalable(3, true, false);
    r2.pasid_entry(dir, 3, 1 << 6 | 1, DID, pml4);
    assert_eq!(
        r2.read(None, 0x4000_0000).unwrap_err().reason,
        FaultReason::FirstStageReserved
    );
}

#[test]
fn nested_translation_walks_first_stage_tables_through_second_stage() {
    let r = Rig::new(FULL_CAP, FULL_ECAP);
    // Guest-physical layout: first-stage tables at GPA 0x1000.., data at GPA 0x10_0000.
    let slpt = r.page();
    let gpa_map = |gpa: u64| {
        let hpa = r.page();
        r.map(slpt, 4, gpa, ss(hpa, true, true), 1, 3, false);
        hpa
    };
    let tables: Vec<u64> = (0..4).map(|i| gpa_map(0x1000 * (i + 1))).collect();
    let data = gpa_map(0x10_0000);
    // PML4 at GPA 0x1000 -> PDPT 0x2000 -> PD 0x3000 -> PT 0x4000 -> data GPA 0x10_0000.
    let va = 0x40_0000u64;
    for (level, t) in tables.iter().enumerate() {
        let shift = 39 - 9 * level as u64;
        let next = if level < 3 {
            0x1000 * (level as u64 + 2)
        } else {
            0x10_0000
        };
        r.mem
            .write64(t + ((va >> shift) & 0x1ff) * 8, fs(next, true, true));
    }
    r.mem.write_u32(data + 0x10, 0x4e);
    let (dir, _) = r.scalable(0, true, true);
    r.pasid_entry(dir, 9, slpt | 3 << 6 | 2 << 2 | 1, DID, 0x1000);
    assert_eq!(r.read(Some(9), va + 0x10), Ok(0x4e));
    r.write(Some(9), va + 0x10, 0x4f).unwrap();
    assert_eq!(r.mem.read_u32(data + 0x10), 0x4f);
    // Removing the second-stage mapping of a first-stage table faults once invalidated.
    r.map(slpt, 4, 0x3000, 0, 1, 3, false);
    assert_eq!(
        r.read(Some(9), va + 0x10),
        Ok(0x4f),
        "cached nested translation"
    );
    r.enable_qi(true);
    r.submit(&[[2 | 2 << 4 | DID << 16, 0, 0, 0]]);
    assert_eq!(
        r.read(Some(9), va).unwrap_err().reason,
        FaultReason::SmReadDenied
    );
    let f = r.m.faults().last().copied().unwrap();
    assert_eq!((f.pasid, f.addr), (Some(9), va));
    // Pass-through.
    r.pasid_entry(dir, 10, 4 << 6 | 1, DID, 0);
    r.write(Some(10), 0x50_0000, 3).unwrap();
    assert_eq!(r.mem.read_u32(0x50_0000), 3);
    // Output in the interrupt range faults.
    assert_eq!(
        r.write(Some(10), 0xfee0_0000, 3).unwrap_err().reason,
        FaultReason::SmInterruptAddress
    );
}

#[test]
fn page_requests_and_responses() {
    let r = Rig::new(FULL_CAP, FULL_ECAP);
    let pq = r.page();
    r.m.write64(PQA_REG, pq);
    r.m.write64(PQH_REG, 0);
    r.m.write64(PQT_REG, 0);
    let req = PageRequest {
        rid: RID,
        pasid: Some(0x12345),
        addr: 0xdead_b123,
        write: true,
        lpig: true,
        prgi: 0x1ab,
        ..Default::default()
    };
    r.m.inject_page_request(&req).unwrap();
    let qw0 = r.mem.read64(pq);
    let qw1 = r.mem.read64(pq + 8);
    assert_eq!(qw0, 1 << 8 | u64::from(RID) << 16 | 0x12345 << 32);
    assert_eq!(qw1, 0xdead_b000 | 0x1ab << 3 | 1 << 2 | 1 << 1);
    assert_eq!(r.m.read64(PQT_REG), 0x20);
    assert_eq!(r.m.read32(PRS_REG), PRS_PPR);
    assert_eq!(r.m.read32(PECTL_REG), CTL_IM | CTL_IP);
    r.m.write32(PECTL_REG, 0);
    assert_eq!(r.m.events().page_request, 1);
    // Fill the 128-entry queue: the 128th request overflows.
    for _ in 1..127 {
        r.m.inject_page_request(&req).unwrap();
    }
    assert_eq!(
        r.m.inject_page_request(&req),
        Err(PageRequestError::Overflow)
    );
    assert_eq!(r.m.read32(PRS_REG), PRS_PPR | PRS_PRO);
    // With translation on, the context entry must have PRE.
    let (_, ctx) = r.scalable(0, true, false);
    assert_eq!(
        r.m.inject_page_request(&req),
        Err(PageRequestError::NotEnabled)
    );
    let _ = ctx;
    // A page group response through the queue is recorded.
    r.enable_qi(true);
    r.submit(&[[
        9 | 1 << 4 | 1 << 12 | u64::from(RID) << 16 | 0x12345 << 32,
        1 << 2 | 0x1ab << 3,
        0,
        0,
    ]]);
    assert_eq!(
        r.m.page_responses(),
        vec![PageGroupResponse {
            rid: RID,
            pasid: Some(0x12345),
            code: ResponseCode::InvalidRequest,
            lpig: true,
            prgi: 0x1ab
        }]
    );
    assert_eq!(
        Rig::new(QEMU_CAP, QEMU_ECAP_SCALABLE)
            .m
            .inject_page_request(&req),
        Err(PageRequestError::NotSupported)
    );
}

#[test]
fn injected_invalidation_errors() {
    let r = Rig::new(FULL_CAP, FULL_ECAP);
    let status = r.page();
    r.enable_qi(true);
    r.m.inject(InjectedError::CompletionError);
    r.m.inject(InjectedError::DeviceTlbTimeout);
    let dev_tlb = [3 | 0x0200_u64 << 32, 0, 0, 0];
    r.submit(&[dev_tlb, wait_desc(status, 1)]);
    let fsts = r.m.read32(FSTS_REG);
    assert_eq!(fsts & (FSTS_ICE | FSTS_ITE), FSTS_ICE | FSTS_ITE);
    assert_eq!(
        r.m.read64(IQERCD_REG) >> 32,
        0x0200_0200,
        "ICESID and ITESID"
    );
    assert_eq!(
        r.mem.read_u32(status),
        0,
        "the wait after a timeout is not processed"
    );
    r.m.write32(FSTS_REG, FSTS_ITE | FSTS_ICE);
    assert_eq!(r.mem.read_u32(status), 1, "resumes once ITE is cleared");
    r.m.inject(InjectedError::DescriptorError);
    r.submit(&[wait_desc(status, 2)]);
    assert_eq!(r.m.read32(FSTS_REG) & FSTS_IQE, FSTS_IQE);
    assert_eq!(r.mem.read_u32(status), 1);
    r.m.write32(FSTS_REG, FSTS_IQE);
    assert_eq!(r.mem.read_u32(status), 2);
    assert_eq!(r.m.counts().device_tlb, 1);
}

#[test]
fn split_32_bit_accesses_and_scalable_iotlb_staleness() {
    let r = Rig::new(FULL_CAP, FULL_ECAP);
    let slpt = r.page();
    let (a, b) = (r.page(), r.page());
    r.mem.write_u32(a, 0xa);
    r.mem.write_u32(b, 0xb);
    r.map(slpt, 4, 0x1000, ss(a, true, true), 1, 3, false);
    let (dir, _) = r.scalable(0, true, false);
    r.pasid_entry(dir, 0, slpt | 2 << 6 | 2 << 2 | 1, DID, 0);
    assert_eq!(r.read(None, 0x1000), Ok(0xa));
    r.map(slpt, 4, 0x1000, ss(b, true, true), 1, 3, false);
    // Register-based IOTLB invalidation written as two halves, lower first: only the
    // upper half (with IVT) acts. A PASID-based invalidation does not touch second-stage
    // entries.
    r.m.write32(0xf0, 0x1000);
    r.m.write32(0xf4, 0);
    r.m.write32(0xf8, 0);
    assert_eq!(r.read(None, 0x1000), Ok(0xa));
    r.m.write32(0xfc, 1 << 31 | 3 << 28 | DID as u32);
    assert_eq!(r.read(None, 0x1000), Ok(0xb));
    r.map(slpt, 4, 0x1000, ss(a, true, true), 1, 3, false);
    r.enable_qi(true);
    r.submit(&[piotlb_desc(2, DID, 0, 0, 0)]);
    assert_eq!(
        r.read(None, 0x1000),
        Ok(0xb),
        "P_IOTLB leaves second-stage entries"
    );
    r.submit(&[iotlb_page_desc(DID, 0x1000, 0)]);
    assert_eq!(r.read(None, 0x1000), Ok(0xa));
    // A 32-bit write to the lower half of a fault recording register's upper quadword
    // does not clear F; a write of bit 31 of the upper doubleword does.
    r.read(None, 0x9000).unwrap_err();
    r.m.write32(0x228, u32::MAX);
    assert_eq!(r.m.read32(FSTS_REG) & FSTS_PPF, FSTS_PPF);
    r.m.write32(0x22c, 1 << 31);
    assert_eq!(r.m.read32(FSTS_REG) & FSTS_PPF, 0);
    assert_eq!(r.m.cache_sizes().0, 1);
}
