//! Model tests over hand-built tables in simulated memory. Every structure here is encoded
//! by the test from the spec's layouts, independently of the driver.

use alloc::rc::Rc;
use alloc::vec;
use alloc::vec::Vec;

use super::*;

const STRTAB_LOG2: u64 = 8;
const CMDQ_LOG2: u64 = 6;
const EVTQ_LOG2: u64 = 4;
const PRIQ_LOG2: u64 = 3;
const AF: u64 = 1 << 10;
/// nG: the entry belongs to the ASID (not global).
const NG: u64 = 1 << 11;
/// Stage-1 AP[2]: read-only.
const RO: u64 = 1 << 7;
/// Stage-2 S2AP read and write.
const S2R: u64 = 1 << 6;
const S2W: u64 = 1 << 7;

struct Fx {
    mem: Rc<SimMemory>,
    m: SmmuModel,
    strtab: u64,
    cmdq: u64,
    evtq: u64,
    priq: u64,
    prod: core::cell::Cell<u32>,
}

impl Fx {
    /// An SMMU with a linear stream table of 256 STEs, all queues and SMMUEN enabled.
    fn new(cfg: SmmuConfig) -> Self {
        let fx = Self::bare(cfg);
        fx.m.write32(CR0, CR0_SMMUEN | CR0_CMDQEN | CR0_EVENTQEN | fx.priq_en());
        fx
    }

    /// Like [`new`](Self::new) but with SMMUEN clear.
    fn bare(cfg: SmmuConfig) -> Self {
        let mem = Rc::new(SimMemory::new(0x10_0000, 0x4000_0000));
        let m = SmmuModel::new(mem.clone(), cfg);
        let strtab = mem.alloc_pages(4).unwrap();
        let cmdq = mem.alloc_pages(1).unwrap();
        let evtq = mem.alloc_pages(1).unwrap();
        let priq = mem.alloc_pages(1).unwrap();
        m.write64(STRTAB_BASE, strtab);
        m.write32(STRTAB_BASE_CFG, STRTAB_LOG2 as u32);
        m.write64(CMDQ_BASE, cmdq | CMDQ_LOG2);
        m.write64(EVENTQ_BASE, evtq | EVTQ_LOG2);
        m.write64(PRIQ_BASE, priq | PRIQ_LOG2);
        m.write32(IRQ_CTRL, 0b111);
        Self {
            mem,
            m,
            strtab,
            cmdq,
            evtq,
            priq,
            prod: core::cell::Cell::new(0),
        }
    }

    fn priq_en(&self) -> u32 {
        if self.m.config().idr[0] & IDR0_PRI != 0 {
            CR0_PRIQEN
        } else {
            0
        }
    }

    fn page(&self, n: usize) -> u64 {
        self.mem.alloc_pages(n).unwrap()
    }

    fn w64(&self, addr: u64, v: u64) {
        self.mem.write64(addr, v);
    }

    fn r64(&self, addr: u64) -> u64 {
        self.mem.read64(addr)
    }

    fn write_words(&self, addr: u64, w: &[u64]) {
        for (i, v) in w.iter().enumerate() {
            self.w64(addr + 8 * i as u64, *v);
        }
    }

    fn set_ste(&self, sid: u32, w: [u64; 8]) {
        self.write_words(self.strtab + 64 * u64::from(sid), &w);
    }

    /// Queues commands and writes CMDQ_PROD once.
    fn cmds(&self, cmds: &[[u64; 2]]) {
        let mut prod = self.prod.get();
        for c in cmds {
            let slot = self.cmdq + 16 * u64::from(prod & ((1 << CMDQ_LOG2) - 1));
            self.write_words(slot, c);
            prod = advance(prod, CMDQ_LOG2 as u32);
        }
        self.prod.set(prod);
        self.m.write32(CMDQ_PROD, prod);
    }

    fn cons(&self) -> u32 {
        self.m.read32(CMDQ_CONS)
    }

    fn write(&self, sid: u32, ssid: Option<u32>, iova: u64, data: &[u8]) -> Result<(), ModelEvent> {
        self.m.dma_write(sid, ssid, iova, data)
    }

    fn read(
        &self,
        sid: u32,
        ssid: Option<u32>,
        iova: u64,
        len: usize,
    ) -> Result<Vec<u8>, ModelEvent> {
        let mut buf = vec![0; len];
        self.m.dma_read(sid, ssid, iova, &mut buf).map(|()| buf)
    }

    fn event(&self, r: Result<(), ModelEvent>) -> ModelEvent {
        r.expect_err("the DMA must fault")
    }
}

// ---- Encoders written for the tests from the spec's layouts ----

fn cmd_cfgi_ste(sid: u32) -> [u64; 2] {
    [0x03 | u64::from(sid) << 32, 1]
}
fn cmd_cfgi_all() -> [u64; 2] {
    [0x04, 31]
}
fn cmd_cfgi_ste_range(sid: u32, range: u64) -> [u64; 2] {
    [0x04 | u64::from(sid) << 32, range]
}
fn cmd_cfgi_cd(sid: u32, ssid: u32) -> [u64; 2] {
    [0x05 | u64::from(ssid) << 12 | u64::from(sid) << 32, 1]
}
fn cmd_cfgi_cd_all(sid: u32) -> [u64; 2] {
    [0x06 | u64::from(sid) << 32, 0]
}
fn cmd_tlbi_nh_asid(vmid: u16, asid: u16) -> [u64; 2] {
    [0x11 | u64::from(vmid) << 32 | u64::from(asid) << 48, 0]
}
fn cmd_tlbi_nh_va(vmid: u16, asid: u16, va: u64) -> [u64; 2] {
    [0x12 | u64::from(vmid) << 32 | u64::from(asid) << 48, va | 1]
}
fn cmd_tlbi_nh_vaa(vmid: u16, va: u64) -> [u64; 2] {
    [0x13 | u64::from(vmid) << 32, va]
}
/// TLBI_S2_IPA, with a range of (num + 1) << scale 4K pages when `range` is given.
fn cmd_tlbi_s2_ipa(vmid: u16, ipa: u64, range: Option<(u64, u64)>) -> [u64; 2] {
    match range {
        None => [0x2a | u64::from(vmid) << 32, ipa],
        Some((num, scale)) => [
            0x2a | num << 12 | scale << 20 | u64::from(vmid) << 32,
            ipa | 1 << 10,
        ],
    }
}
fn cmd_tlbi_s12_vmall(vmid: u16) -> [u64; 2] {
    [0x28 | u64::from(vmid) << 32, 0]
}
fn cmd_tlbi_nsnh_all() -> [u64; 2] {
    [0x30, 0]
}
fn cmd_sync() -> [u64; 2] {
    [0x46, 0]
}
fn cmd_sync_irq(data: u32, addr: u64) -> [u64; 2] {
    [0x46 | 1 << 12 | u64::from(data) << 32, addr]
}
fn cmd_resume(sid: u32, stag: u16, retry: bool) -> [u64; 2] {
    [
        0x44 | u64::from(retry) << 12 | 1 << 13 | u64::from(sid) << 32,
        u64::from(stag),
    ]
}
fn cmd_atc_inv(sid: u32) -> [u64; 2] {
    [0x40 | u64::from(sid) << 32, 0]
}

fn ste_abort() -> [u64; 8] {
    [1, 0, 0, 0, 0, 0, 0, 0]
}
fn ste_bypass() -> [u64; 8] {
    [1 | 0b100 << 1, 0, 0, 0, 0, 0, 0, 0]
}
/// Stage 1 only: S1Fmt, S1ContextPtr, S1CDMax; S1DSS in word 1.
fn ste_s1(cd: u64, fmt: u64, cdmax: u64, s1dss: u64) -> [u64; 8] {
    [
        1 | 0b101 << 1 | fmt << 4 | cd | cdmax << 59,
        s1dss,
        0,
        0,
        0,
        0,
        0,
        0,
    ]
}
/// Stage-2 word 2: S2VMID, S2T0SZ, S2SL0, S2TG, S2PS (48-bit), S2AA64, S2R.
fn s2_word(vmid: u16, t0sz: u64, sl0: u64, tg: u64) -> u64 {
    u64::from(vmid) | t0sz << 32 | sl0 << 38 | tg << 46 | 0b101 << 48 | 1 << 51 | 1 << 58
}
fn ste_s2(vmid: u16, t0sz: u64, sl0: u64, tg: u64, ttb: u64) -> [u64; 8] {
    [
        1 | 0b110 << 1,
        0,
        s2_word(vmid, t0sz, sl0, tg),
        ttb,
        0,
        0,
        0,
        0,
    ]
}
fn ste_nested(cd: u64, vmid: u16, ttb: u64) -> [u64; 8] {
    [
        1 | 0b111 << 1 | cd,
        0,
        s2_word(vmid, 25, 1, 0),
        ttb,
        0,
        0,
        0,
        0,
    ]
}
/// A valid AArch64 CD: T0SZ, TG0, EPD1 (no upper half), IPS 48-bit, R, A, ASID, TTB0.
fn cd(t0sz: u64, tg0: u64, asid: u16, ttb: u64) -> [u64; 8] {
    [
        t0sz | tg0 << 6
            | 1 << 30
            | 1 << 31
            | 0b101 << 32
            | 1 << 41
            | 1 << 45
            | 1 << 46
            | u64::from(asid) << 48,
        ttb,
        0,
        0,
        0,
        0,
        0,
        0,
    ]
}

/// A test-side table writer: maps `va` to `pa` at `leaf_level` in the tables at `root`
/// (granule 2^g, input size `ia`), allocating intermediate tables. `desc_of` rewrites the
/// table addresses it writes (a nested test stores IPAs).
struct Tables<'a> {
    fx: &'a Fx,
    g: u32,
    ia: u32,
    start: u32,
}

impl Tables<'_> {
    fn shift(&self, level: u32) -> u32 {
        self.g + (self.g - 3) * (3 - level)
    }

    fn table_pages(&self) -> usize {
        1 << (self.g - 12)
    }

    fn new_table(&self) -> u64 {
        self.fx.page(self.table_pages())
    }

    fn map(&self, root: u64, va: u64, pa: u64, leaf_level: u32, attrs: u64) {
        let mut table = root;
        for level in self.start..leaf_level {
            let shift = self.shift(level);
            let bits = if level == self.start {
                self.ia - shift
            } else {
                self.g - 3
            };
            let at = table + 8 * ((va >> shift) & ((1 << bits) - 1));
            let d = self.fx.r64(at);
            table = if d & 1 == 0 {
                let next = self.new_table();
                self.fx.w64(at, next | 0b11);
                next
            } else {
                d & mask(47, self.g)
            };
        }
        let shift = self.shift(leaf_level);
        let bits = if leaf_level == self.start {
            self.ia - shift
        } else {
            self.g - 3
        };
        let at = table + 8 * ((va >> shift) & ((1 << bits) - 1));
        let kind = if leaf_level == 3 { 0b11 } else { 0b01 };
        self.fx.w64(at, pa | attrs | kind);
    }

    /// The descriptor address for `va` at `level`, for tests that edit it.
    fn entry(&self, root: u64, va: u64, level: u32) -> u64 {
        let mut table = root;
        for l in self.start..level {
            let shift = self.shift(l);
            let bits = if l == self.start {
                self.ia - shift
            } else {
                self.g - 3
            };
            table = self.fx.r64(table + 8 * ((va >> shift) & ((1 << bits) - 1))) & mask(47, self.g);
        }
        let shift = self.shift(level);
        let bits = if level == self.start {
            self.ia - shift
        } else {
            self.g - 3
        };
        table + 8 * ((va >> shift) & ((1 << bits) - 1))
    }
}

/// 4K stage-1 tables for a 48-bit input (T0SZ 16, start level 0).
fn s1_4k(fx: &Fx) -> Tables<'_> {
    Tables {
        fx,
        g: 12,
        ia: 48,
        start: 0,
    }
}

/// A stage-1 stream `sid` with one CD (ASID `asid`) over a fresh 4K table; returns
/// (CD address, table root).
fn stage1_stream(fx: &Fx, sid: u32, asid: u16) -> (u64, u64) {
    let root = fx.page(1);
    let cd_addr = fx.page(1);
    fx.write_words(cd_addr, &cd(16, 0, asid, root));
    fx.set_ste(sid, ste_s1(cd_addr, 0, 0, 0));
    (cd_addr, root)
}

// ---- Registers ----

#[test]
fn id_registers_come_from_the_presets() {
    let fx = Fx::bare(SmmuConfig::qemu());
    assert_eq!(fx.m.read32(0x00), 0x0d44_101b);
    assert_eq!(fx.m.read32(0x04), 0x0273_0010);
    assert_eq!(fx.m.read32(0x0c), 0x1414);
    assert_eq!(fx.m.read32(0x14), 0x74);
    assert_eq!(fx.m.read32(AIDR), 0x01);
    let full = Fx::bare(SmmuConfig::full());
    let idr0 = full.m.read32(0x00);
    // PRI 16, MSI 13, ATS 10, CD2L 19, STALL_MODEL 0b00.
    assert!(
        idr0 & (1 << 16 | 1 << 13 | 1 << 10 | 1 << 19) == (1 << 16 | 1 << 13 | 1 << 10 | 1 << 19)
    );
    assert_eq!((idr0 >> 24) & 3, 0);
    assert_eq!((full.m.read32(0x04) >> 6) & 0x1f, 20, "SSIDSIZE");
}

#[test]
fn cr0_is_acknowledged_unless_ignored_and_irq_ctrl_too() {
    let fx = Fx::bare(SmmuConfig::qemu());
    fx.m.write32(CR0, CR0_EVENTQEN | CR0_PRIQEN);
    // PRIQEN is not writable without PRI.
    assert_eq!(fx.m.read32(CR0ACK), CR0_EVENTQEN);
    fx.m.set_ignore_cr0(true);
    fx.m.write32(CR0, CR0_EVENTQEN | CR0_SMMUEN);
    assert_eq!(fx.m.read32(CR0), CR0_EVENTQEN | CR0_SMMUEN);
    assert_eq!(fx.m.read32(CR0ACK), CR0_EVENTQEN, "ACK poll would time out");
    fx.m.set_ignore_cr0(false);
    fx.m.write32(CR0, CR0_SMMUEN);
    assert_eq!(fx.m.read32(CR0ACK), CR0_SMMUEN);
    fx.m.write32(IRQ_CTRL, 0b101);
    assert_eq!(fx.m.read32(IRQ_CTRLACK), 0b101);
}

#[test]
fn gbpa_needs_update_and_decides_abort_or_bypass_while_disabled() {
    let fx = Fx::bare(SmmuConfig::qemu());
    assert!(
        fx.write(7, None, 0x5000, &[1, 2]).is_ok(),
        "bypass at reset"
    );
    assert_eq!(fx.mem.read_u32(0x5000) & 0xffff, 0x0201);
    fx.m.write32(GBPA, GBPA_ABORT);
    assert_eq!(fx.m.read32(GBPA) & GBPA_ABORT, 0, "ignored without UPDATE");
    fx.m.write32(GBPA, GBPA_ABORT | GBPA_UPDATE);
    assert_eq!(fx.m.read32(GBPA), GBPA_ABORT, "UPDATE completes at once");
    let ev = fx.event(fx.write(7, None, 0x5000, &[9]));
    assert_eq!(ev.event, None);
    assert!(!ev.recorded);
    assert_eq!(fx.mem.read_u32(0x5000) & 0xff, 1);
}

#[test]
fn register_widths_and_page1_aliases() {
    let fx = Fx::bare(SmmuConfig::qemu());
    assert_eq!(fx.m.read64(CMDQ_BASE), fx.cmdq | CMDQ_LOG2);
    assert_eq!(fx.m.read32(CMDQ_BASE), (fx.cmdq | CMDQ_LOG2) as u32);
    fx.m.write32(STRTAB_BASE + 4, 0x12);
    assert_eq!(fx.m.read64(STRTAB_BASE) >> 32, 0x12);
    assert_eq!(fx.m.bad_accesses(), 0);
    fx.m.read64(CR0);
    fx.m.write64(CMDQ_PROD, 0);
    assert_eq!(
        fx.m.bad_accesses(),
        2,
        "64-bit accesses to 32-bit registers"
    );
    fx.m.write32(PAGE1 + EVENTQ_CONS, 3);
    assert_eq!(fx.m.read32(EVENTQ_CONS), 3);
    assert_eq!(fx.m.read32(PAGE1 + EVENTQ_CONS), 3);
    assert_eq!(
        fx.m.read32(PAGE1 + CR0),
        u32::MAX,
        "page 1 has only PROD/CONS"
    );
}

// ---- STE configurations and stream tables ----

#[test]
fn ste_abort_bypass_and_invalid() {
    let fx = Fx::new(SmmuConfig::qemu());
    fx.set_ste(1, ste_abort());
    fx.set_ste(2, ste_bypass());
    let ev = fx.event(fx.write(1, None, 0x8000, &[1]));
    assert_eq!(
        (ev.event, ev.recorded),
        (None, false),
        "abort records nothing"
    );
    fx.write(2, None, 0x8000, &[0xaa]).unwrap();
    assert_eq!(fx.mem.read_u32(0x8000), 0xaa);
    let ev = fx.event(fx.write(3, None, 0x8000, &[1]));
    assert_eq!(ev.event, Some(EventType::CBadSte));
    assert!(ev.recorded);
    // Config 0b001 is reserved.
    fx.set_ste(4, [1 | 0b001 << 1, 0, 0, 0, 0, 0, 0, 0]);
    assert_eq!(
        fx.event(fx.write(4, None, 0, &[1])).event,
        Some(EventType::CBadSte)
    );
    let ev = fx.event(fx.write(256, None, 0, &[1]));
    assert_eq!(ev.event, Some(EventType::CBadStreamid));
    let recs = fx.m.event_records();
    assert_eq!(recs.len(), 3);
    assert_eq!((recs[0].event, recs[0].sid), (Some(EventType::CBadSte), 3));
    assert_eq!((recs[2].code, recs[2].sid), (0x02, 256));
    assert_eq!(fx.m.irqs().eventq, 3);
}

#[test]
fn two_level_stream_table_with_spans() {
    let fx = Fx::bare(SmmuConfig::qemu());
    // 16-bit StreamIDs, SPLIT 8: 256 L1 descriptors.
    let l1 = fx.page(1);
    fx.m.write64(STRTAB_BASE, l1);
    fx.m.write32(STRTAB_BASE_CFG, 16 | 8 << 6 | 1 << 16);
    fx.m.write32(CR0, CR0_SMMUEN | CR0_EVENTQEN | CR0_CMDQEN);
    let l2 = fx.page(4);
    // Span 3: 4 STEs (StreamIDs 0x300..0x303).
    fx.w64(l1 + 8 * 3, l2 | 3);
    fx.write_words(l2 + 64 * 2, &ste_bypass());
    fx.write(0x302, None, 0x9000, &[5]).unwrap();
    assert_eq!(fx.mem.read_u32(0x9000), 5);
    assert_eq!(
        fx.event(fx.write(0x304, None, 0x9000, &[1])).event,
        Some(EventType::CBadStreamid)
    );
    assert_eq!(
        fx.event(fx.write(0x402, None, 0x9000, &[1])).event,
        Some(EventType::CBadStreamid),
        "Span 0"
    );
    assert_eq!(
        fx.event(fx.write(0x300, None, 0x9000, &[1])).event,
        Some(EventType::CBadSte)
    );
    assert_eq!(
        fx.event(fx.write(0x1_0000, None, 0, &[1])).event,
        Some(EventType::CBadStreamid)
    );
}

#[test]
fn external_aborts_on_ste_and_walk_fetches() {
    let fx = Fx::new(SmmuConfig::qemu());
    let (_, root) = stage1_stream(&fx, 5, 1);
    fx.m.add_external_abort(fx.strtab + 64 * 6..fx.strtab + 64 * 7);
    let ev = fx.event(fx.write(6, None, 0, &[1]));
    assert_eq!(
        (ev.event, ev.fetch_addr),
        (Some(EventType::FSteFetch), fx.strtab + 64 * 6)
    );
    fx.m.add_external_abort(root..root + 4096);
    let ev = fx.event(fx.write(5, None, 0x1000, &[1]));
    assert_eq!(
        (ev.event, ev.fetch_addr),
        (Some(EventType::FWalkEabt), root)
    );
    assert_eq!(fx.m.event_records()[1].ipa_or_fetch, root);
    fx.m.clear_external_aborts();
    fx.m.add_external_abort(fx.cmdq..fx.cmdq + 16);
    fx.cmds(&[cmd_sync()]);
    assert_eq!(fx.cons() >> 24 & 0x7f, CommandError::Abt as u32);
}

// ---- Stage 1 ----

#[test]
fn stage1_4k_pages_blocks_and_permissions() {
    let fx = Fx::new(SmmuConfig::qemu());
    let (_, root) = stage1_stream(&fx, 1, 3);
    let t = s1_4k(&fx);
    let pa = fx.page(1);
    t.map(root, 0x4000_0000, pa, 3, AF);
    t.map(root, 0x8000_0000, 0x20_0000, 2, AF | RO);
    t.map(root, 0x1_0000_0000, 0x4000_0000, 1, AF);
    fx.write(1, None, 0x4000_0010, &[1, 2, 3]).unwrap();
    assert_eq!(fx.mem.read_u32(pa + 0x10) & 0xff_ffff, 0x03_0201);
    assert_eq!(fx.read(1, None, 0x4000_0011, 2).unwrap(), [2, 3]);
    assert_eq!(fx.read(1, None, 0x8012_3456, 1).unwrap(), [0]);
    let ev = fx.event(fx.write(1, None, 0x8012_3456, &[1]));
    assert_eq!(
        (ev.event, ev.s2, ev.recorded),
        (Some(EventType::FPermission), false, true)
    );
    fx.write(1, None, 0x1_2345_6789, &[0x77]).unwrap();
    assert_eq!(fx.mem.read_u32(0x4000_0000 + 0x2345_6789) & 0xff, 0x77);
    let ev = fx.event(fx.write(1, None, 0x5000_0000, &[1]));
    assert_eq!(
        (ev.event, ev.addr, ev.access),
        (Some(EventType::FTranslation), 0x5000_0000, Access::Write)
    );
    let rec = fx.m.event_records()[1];
    assert_eq!(
        (rec.sid, rec.addr, rec.read, rec.s2),
        (1, 0x5000_0000, false, false)
    );
}

#[test]
fn stage1_faults_record_only_with_cd_r_and_never_change_memory() {
    let fx = Fx::new(SmmuConfig::qemu());
    let (cd_addr, root) = stage1_stream(&fx, 1, 3);
    let pa = fx.page(1);
    s1_4k(&fx).map(root, 0x1000, pa, 3, AF);
    // Clear CD.R.
    fx.w64(cd_addr, fx.r64(cd_addr) & !(1 << 45));
    // The second page of the write is unmapped: nothing is written.
    let ev = fx.event(fx.write(1, None, 0x1ff0, &[0xee; 32]));
    assert_eq!(
        (ev.event, ev.addr, ev.recorded),
        (Some(EventType::FTranslation), 0x2000, false)
    );
    assert_eq!(fx.r64(pa + 0xff0), 0);
    assert!(fx.m.event_records().is_empty());
    assert_eq!(fx.m.faults().len(), 1);
}

#[test]
fn stage1_16k_and_64k_granules() {
    for (tg0, g, t0sz, start) in [(0b10u64, 14u32, 25u64, 1u32), (0b01, 16, 16, 1)] {
        let fx = Fx::new(SmmuConfig::qemu());
        let pages = 1 << (g - 12);
        let root = fx.page(pages);
        let cd_addr = fx.page(1);
        fx.write_words(cd_addr, &cd(t0sz, tg0, 1, root));
        fx.set_ste(1, ste_s1(cd_addr, 0, 0, 0));
        let t = Tables {
            fx: &fx,
            g,
            ia: 64 - t0sz as u32,
            start,
        };
        let pa = fx.page(pages);
        t.map(root, 0x40 << g, pa, 3, AF);
        // A level-2 block: 32 MiB (16K) or 512 MiB (64K).
        let block = 1u64 << t.shift(2);
        t.map(root, 2 * block, block, 2, AF);
        fx.write(1, None, (0x40 << g) + 0x123, &[9]).unwrap();
        assert_eq!(fx.mem.read_u32(pa + 0x123) & 0xff, 9, "granule {g}");
        fx.write(1, None, 2 * block + 0x4567, &[8]).unwrap();
        assert_eq!(fx.mem.read_u32(block + 0x4567) & 0xff, 8);
        // A block at level 1 is not allowed with these granules.
        if start == 1 {
            let e = t.entry(root, 3 << t.shift(1), 1);
            fx.w64(e, AF | 0b01);
            let ev = fx.event(fx.write(1, None, 3 << t.shift(1), &[1]));
            assert_eq!(ev.event, Some(EventType::FTranslation));
        }
    }
}

#[test]
fn access_flag_faults_or_is_updated_by_hardware() {
    let fx = Fx::new(SmmuConfig::qemu());
    let (_, root) = stage1_stream(&fx, 1, 3);
    let pa = fx.page(1);
    s1_4k(&fx).map(root, 0x3000, pa, 3, 0);
    assert_eq!(
        fx.event(fx.write(1, None, 0x3000, &[1])).event,
        Some(EventType::FAccess)
    );
    let full = Fx::new(SmmuConfig::full());
    let (cd_addr, root) = stage1_stream(&full, 1, 3);
    let t = s1_4k(&full);
    let pa = full.page(1);
    t.map(root, 0x3000, pa, 3, 0);
    // CD.HA (bit 43).
    full.w64(cd_addr, full.r64(cd_addr) | 1 << 43);
    full.write(1, None, 0x3000, &[1]).unwrap();
    assert_ne!(
        full.r64(t.entry(root, 0x3000, 3)) & AF,
        0,
        "AF set by the walk"
    );
}

#[test]
fn output_beyond_oas_is_an_address_size_fault() {
    let fx = Fx::new(SmmuConfig::qemu());
    let (_, root) = stage1_stream(&fx, 1, 3);
    // QEMU's OAS is 44 bits.
    s1_4k(&fx).map(root, 0x6000, 1 << 45, 3, AF);
    assert_eq!(
        fx.event(fx.write(1, None, 0x6000, &[1])).event,
        Some(EventType::FAddrSize)
    );
    // Input beyond T0SZ: a translation fault.
    assert_eq!(
        fx.event(fx.write(1, None, 1 << 50, &[1])).event,
        Some(EventType::FTranslation)
    );
}

#[test]
fn invalid_cds_are_bad() {
    let fx = Fx::new(SmmuConfig::qemu());
    let (cd_addr, _) = stage1_stream(&fx, 1, 3);
    let good = fx.r64(cd_addr);
    for bad in [
        good & !(1 << 31),
        good & !(1 << 41),
        good & !(1 << 46),
        (good & !0x3f) | 40,
        good | 0b11 << 6,
    ] {
        fx.w64(cd_addr, bad);
        // The CD is not cached after a failure: each variant is read afresh.
        assert_eq!(
            fx.event(fx.write(1, None, 0, &[1])).event,
            Some(EventType::CBadCd),
            "{bad:#x}"
        );
    }
}

/// A CD with both halves over 4K tables of 48-bit input (T0SZ = T1SZ = 16): word 0 of
/// [`cd`] with EPD1 cleared, T1SZ 16 and TG1 = 0b10 (4K in TG1's encoding), TTB1 in word 2.
fn cd_both(asid: u16, ttb0: u64, ttb1: u64) -> [u64; 8] {
    let mut w = cd(16, 0, asid, ttb0);
    w[0] = (w[0] & !(1 << 30)) | 16 << 16 | 0b10 << 22;
    w[2] = ttb1;
    w
}

/// TTB0 translates addresses with VA[55] == 0 and TTB1 those with VA[55] == 1, indexed by
/// their low 48 bits; an address in neither half's range, and any upper address with
/// EPD1, is a translation fault reporting the whole address. TBI1 ignores an upper
/// address's top byte. The TLB keeps the halves apart although their low bits match.
#[test]
fn stage1_upper_half_translates_through_ttb1() {
    let fx = Fx::new(SmmuConfig::qemu());
    let (root0, root1, cd_addr) = (fx.page(1), fx.page(1), fx.page(1));
    fx.write_words(cd_addr, &cd_both(3, root0, root1));
    fx.set_ste(1, ste_s1(cd_addr, 0, 0, 0));
    let t = s1_4k(&fx);
    let (lo, hi) = (fx.page(1), fx.page(1));
    let offset = 0x12_3456_7000;
    t.map(root0, offset, lo, 3, AF | NG);
    t.map(root1, offset, hi, 3, AF | NG);
    let upper = 0xffff_0000_0000_0000 | offset;

    fx.write(1, None, upper + 8, &[0xa1]).unwrap();
    fx.write(1, None, offset + 8, &[0xb2]).unwrap();
    assert_eq!(fx.mem.read_u32(hi + 8) & 0xff, 0xa1, "upper through TTB1");
    assert_eq!(fx.mem.read_u32(lo + 8) & 0xff, 0xb2, "lower through TTB0");
    assert_eq!(fx.read(1, None, upper + 8, 1).unwrap(), [0xa1], "TLB hit");

    // VA[55] == 1 but bits 63:48 not all ones, and the same with VA[55] == 0.
    for gap in [
        0x00ff_0000_0000_0000 | offset,
        0x8000_0000_0000_0000 | offset,
    ] {
        let ev = fx.event(fx.write(1, None, gap, &[1]));
        assert_eq!((ev.event, ev.addr), (Some(EventType::FTranslation), gap));
    }
    // A tagged upper address: a fault without TBI1, the same page with it.
    let tagged = (upper & mask(55, 0)) | 0x5a << 56;
    assert_eq!(
        fx.event(fx.write(1, None, tagged, &[1])).event,
        Some(EventType::FTranslation)
    );
    fx.w64(cd_addr, fx.r64(cd_addr) | 1 << 39);
    fx.cmds(&[cmd_cfgi_cd(1, 0), cmd_sync()]);
    fx.write(1, None, tagged + 9, &[0xc3]).unwrap();
    assert_eq!(fx.mem.read_u32(hi + 8) & 0xffff, 0xc3a1);

    // EPD1: upper addresses fault without a walk (the TLB emptied first), lower ones
    // still translate; TTB1's other fields are IGNORED, so a reserved TG1 is no error.
    fx.w64(cd_addr, (fx.r64(cd_addr) | 1 << 30) & !(0b11 << 22));
    fx.cmds(&[cmd_cfgi_cd(1, 0), cmd_tlbi_nh_asid(0, 3), cmd_sync()]);
    let ev = fx.event(fx.write(1, None, upper, &[1]));
    assert_eq!(
        (ev.event, ev.addr, ev.recorded),
        (Some(EventType::FTranslation), upper, true)
    );
    assert_eq!(fx.read(1, None, offset + 8, 1).unwrap(), [0xb2]);
}

/// TTB1's fields make the CD ILLEGAL only while EPD1 is clear: T1SZ outside 16..=39
/// (QEMU has no STT) and the reserved TG1 0b00.
#[test]
fn ttb1_fields_are_checked_unless_epd1() {
    let fx = Fx::new(SmmuConfig::qemu());
    let (root0, root1, cd_addr) = (fx.page(1), fx.page(1), fx.page(1));
    let good = cd_both(3, root0, root1);
    fx.set_ste(1, ste_s1(cd_addr, 0, 0, 0));
    let t1sz = |w0: u64, v: u64| (w0 & !(0x3f << 16)) | v << 16;
    for (w0, bad) in [
        (good[0], false),
        (t1sz(good[0], 40), true),
        (t1sz(good[0], 15), true),
        (good[0] & !(0b11 << 22), true),
        (t1sz(good[0], 40) | 1 << 30, false),
        ((good[0] & !(0b11 << 22)) | 1 << 30, false),
    ] {
        fx.write_words(cd_addr, &[w0, good[1], good[2]]);
        fx.cmds(&[cmd_cfgi_cd(1, 0), cmd_sync()]);
        // Nothing is mapped: a valid CD gives a translation fault.
        let ev = fx.event(fx.write(1, None, 0x1000, &[1])).event;
        let want = if bad {
            EventType::CBadCd
        } else {
            EventType::FTranslation
        };
        assert_eq!(ev, Some(want), "{w0:#x}");
    }
}

/// CD.HAD0 (word 1 bit 1) makes APTable[1] in TTB0's table descriptors no longer deny
/// writes, where SMMU_IDR3.HAD says HAD is implemented; without IDR3.HAD it is IGNORED.
#[test]
fn had0_disables_aptable_where_idr3_had() {
    let no_had = SmmuConfig {
        idr: [QEMU_IDR0, QEMU_IDR1, 0, QEMU_IDR3 & !IDR3_HAD, 0, QEMU_IDR5],
        ..SmmuConfig::qemu()
    };
    for (cfg, honoured) in [(SmmuConfig::qemu(), true), (no_had, false)] {
        let fx = Fx::new(cfg);
        let (cd_addr, root) = stage1_stream(&fx, 1, 3);
        let t = s1_4k(&fx);
        let pa = fx.page(1);
        t.map(root, 0x4000_0000, pa, 3, AF | NG);
        // APTable[1] (bit 62) in the level-1 table descriptor.
        let l1 = t.entry(root, 0x4000_0000, 1);
        fx.w64(l1, fx.r64(l1) | 1 << 62);
        assert_eq!(
            fx.event(fx.write(1, None, 0x4000_0000, &[1])).event,
            Some(EventType::FPermission)
        );
        assert_eq!(fx.read(1, None, 0x4000_0000, 1).unwrap(), [0]);

        fx.w64(cd_addr + 8, fx.r64(cd_addr + 8) | 1 << 1);
        fx.cmds(&[cmd_cfgi_cd(1, 0), cmd_tlbi_nh_asid(0, 3), cmd_sync()]);
        let r = fx.write(1, None, 0x4000_0000, &[7]);
        assert_eq!(r.is_ok(), honoured, "IDR3 {:#x}: {r:?}", cfg.idr[3]);
    }
}

/// CD.ENDI: big-endian tables are ILLEGAL on a little-endian-only SMMU (IDR0.TTENDIAN =
/// 0b10, as QEMU) unless both halves are disabled, and a mixed-endian SMMU (0b00) walks
/// byte-reversed descriptors, writing the access flag back big-endian too.
#[test]
fn cd_endi_follows_idr0_ttendian() {
    let fx = Fx::new(SmmuConfig::qemu());
    let (cd_addr, root) = stage1_stream(&fx, 1, 3);
    s1_4k(&fx).map(root, 0x2000, fx.page(1), 3, AF);
    let good = fx.r64(cd_addr);
    fx.w64(cd_addr, good | 1 << 15);
    assert_eq!(
        fx.event(fx.write(1, None, 0x2000, &[1])).event,
        Some(EventType::CBadCd)
    );
    fx.w64(cd_addr, good | 1 << 15 | 1 << 14);
    assert_eq!(
        fx.event(fx.write(1, None, 0x2000, &[1])).event,
        Some(EventType::FTranslation),
        "ENDI IGNORED with EPD0 and EPD1"
    );

    let mixed = SmmuConfig {
        idr: [
            (FULL_IDR0 & !(0b11 << IDR0_TTENDIAN_SHIFT)) | 1 << IDR0_HTTU_SHIFT,
            FULL_IDR1,
            0,
            QEMU_IDR3,
            0,
            FULL_IDR5,
        ],
        ..SmmuConfig::full()
    };
    let fx = Fx::new(mixed);
    let (cd_addr, root) = stage1_stream(&fx, 1, 3);
    let t = s1_4k(&fx);
    let pa = fx.page(1);
    let va = 0x7654_3000;
    // A leaf without AF, for CD.HA to set.
    t.map(root, va, pa, 3, NG);
    let entries: Vec<u64> = (0..4).map(|level| t.entry(root, va, level)).collect();
    for &e in &entries {
        fx.w64(e, fx.r64(e).swap_bytes());
    }
    fx.w64(cd_addr, fx.r64(cd_addr) | 1 << 15 | 1 << 43);
    fx.write(1, None, va + 4, &[0x99]).unwrap();
    assert_eq!(fx.mem.read_u32(pa + 4) & 0xff, 0x99);
    assert_ne!(
        fx.r64(entries[3]).swap_bytes() & AF,
        0,
        "AF written big-endian"
    );
    // The same little-endian descriptors read as nonsense: the leaf is not valid.
    fx.w64(cd_addr, fx.r64(cd_addr) & !(1 << 15));
    fx.cmds(&[cmd_cfgi_cd(1, 0), cmd_tlbi_nh_asid(0, 3), cmd_sync()]);
    assert!(fx.write(1, None, va, &[1]).is_err());
}

// ---- Substreams ----

#[test]
fn substreams_through_a_linear_cd_table() {
    let fx = Fx::new(SmmuConfig::full());
    // S1CDMax 2: four CDs.
    let cds = fx.page(1);
    let roots: Vec<u64> = (0..4).map(|_| fx.page(1)).collect();
    let pas: Vec<u64> = (0..4).map(|_| fx.page(1)).collect();
    for i in 0..4 {
        fx.write_words(cds + 64 * i as u64, &cd(16, 0, 10 + i as u16, roots[i]));
        s1_4k(&fx).map(roots[i], 0x7000, pas[i], 3, AF | NG);
    }
    fx.set_ste(1, ste_s1(cds, 0, 2, 0));
    fx.write(1, Some(1), 0x7000, &[1]).unwrap();
    fx.write(1, Some(3), 0x7000, &[3]).unwrap();
    assert_eq!(fx.mem.read_u32(pas[1]), 1);
    assert_eq!(fx.mem.read_u32(pas[3]), 3);
    let ev = fx.event(fx.write(1, Some(4), 0x7000, &[1]));
    assert_eq!(
        (ev.event, ev.ssid),
        (Some(EventType::CBadSubstreamid), Some(4))
    );
    assert_eq!(fx.m.event_records()[0].ssid, Some(4));
    // No SubstreamID: S1DSS 0b00 terminates, 0b01 bypasses stage 1, 0b10 uses CD 0.
    assert_eq!(
        fx.event(fx.write(1, None, 0x7000, &[1])).event,
        Some(EventType::FStreamDisabled)
    );
    fx.set_ste(2, ste_s1(cds, 0, 2, 0b01));
    fx.write(2, None, 0x7000, &[0x42]).unwrap();
    assert_eq!(fx.mem.read_u32(0x7000), 0x42);
    fx.set_ste(3, ste_s1(cds, 0, 2, 0b10));
    fx.write(3, None, 0x7000, &[0x10]).unwrap();
    assert_eq!(fx.mem.read_u32(pas[0]), 0x10);
    assert_eq!(
        fx.event(fx.write(3, Some(0), 0x7000, &[1])).event,
        Some(EventType::CBadSubstreamid)
    );
    // Substreams without stage 1, or with S1CDMax 0.
    fx.set_ste(4, ste_bypass());
    assert_eq!(
        fx.event(fx.write(4, Some(1), 0, &[1])).event,
        Some(EventType::CBadSubstreamid)
    );
    stage1_stream(&fx, 5, 1);
    assert_eq!(
        fx.event(fx.write(5, Some(1), 0, &[1])).event,
        Some(EventType::CBadSubstreamid)
    );
}

#[test]
fn substreams_through_two_level_cd_tables() {
    for (fmt, leaf_cds) in [(1u64, 64u32), (2, 1024)] {
        let fx = Fx::new(SmmuConfig::full());
        let l1 = fx.page(1);
        let leaf = fx.page(if fmt == 1 { 1 } else { 16 });
        let ssid = 3 * leaf_cds + 5;
        fx.w64(l1 + 8 * 3, leaf | 1);
        let root = fx.page(1);
        let pa = fx.page(1);
        fx.write_words(leaf + 64 * 5, &cd(16, 0, 7, root));
        s1_4k(&fx).map(root, 0x2000, pa, 3, AF);
        fx.set_ste(1, ste_s1(l1, fmt, 20, 0));
        fx.write(1, Some(ssid), 0x2000, &[6]).unwrap();
        assert_eq!(fx.mem.read_u32(pa), 6);
        let ev = fx.event(fx.write(1, Some(4 * leaf_cds), 0x2000, &[1]));
        assert_eq!(ev.event, Some(EventType::CBadSubstreamid), "L1CD.V == 0");
        let ev = fx.event(fx.write(1, Some(ssid + 1), 0x2000, &[1]));
        assert_eq!(ev.event, Some(EventType::CBadCd));
    }
}

#[test]
fn qemu_has_no_substreams_or_two_level_cd_tables() {
    let fx = Fx::new(SmmuConfig::qemu());
    let cds = fx.page(1);
    fx.set_ste(1, ste_s1(cds, 0, 1, 0));
    assert_eq!(
        fx.event(fx.write(1, None, 0, &[1])).event,
        Some(EventType::CBadSte)
    );
}

// ---- Stage 2 and nested ----

#[test]
fn stage2_with_each_granule_concatenation_and_s2ap() {
    // (S2TG, granule, S2T0SZ, S2SL0, start level)
    for (tg, g, t0sz, sl0, start) in [
        (0u64, 12u32, 24u64, 1u64, 1u32), // 40-bit IPA, level 1: two concatenated tables
        (0, 12, 32, 1, 1),
        (2, 14, 28, 1, 2), // 36-bit IPA, 16K, level 2 (concatenated)
        (1, 16, 22, 1, 2), // 42-bit IPA, 64K, level 2
    ] {
        let fx = Fx::new(SmmuConfig::qemu());
        let t = Tables {
            fx: &fx,
            g,
            ia: 64 - t0sz as u32,
            start,
        };
        let start_bits = t.ia - t.shift(start);
        let root = fx.page(
            ((8u64 << start_bits) as usize)
                .div_ceil(4096)
                .next_power_of_two(),
        );
        fx.set_ste(1, ste_s2(9, t0sz, sl0, tg, root));
        let pa = fx.page(1 << (g - 12));
        let ipa = (1u64 << (t.ia - 1)) + (5 << g);
        t.map(root, ipa, pa, 3, AF | S2R | S2W);
        t.map(root, ipa + (1 << g), pa, 3, AF | S2R);
        fx.write(1, None, ipa + 8, &[7]).unwrap();
        assert_eq!(fx.mem.read_u32(pa + 8), 7, "granule {g}");
        assert_eq!(fx.read(1, None, ipa + (1 << g) + 8, 1).unwrap(), [7]);
        let ev = fx.event(fx.write(1, None, ipa + (1 << g), &[1]));
        assert_eq!(
            (ev.event, ev.s2, ev.class, ev.ipa),
            (
                Some(EventType::FPermission),
                true,
                Class::In,
                ipa + (1 << g)
            )
        );
        let rec = *fx.m.event_records().last().unwrap();
        assert!(rec.s2);
        assert_eq!(rec.ipa_or_fetch, ipa + (1 << g));
        assert_eq!(
            fx.event(fx.write(1, None, 1 << t.ia, &[1])).event,
            Some(EventType::FTranslation)
        );
    }
}

#[test]
fn stage2_configuration_errors_are_bad_stes() {
    let fx = Fx::new(SmmuConfig::qemu());
    let root = fx.page(1);
    // SL0 0 (level 2) cannot resolve a 40-bit IPA with 4K pages; S2AA64 0; S2TG 0b11.
    let mut bad = vec![ste_s2(1, 24, 0, 0, root), ste_s2(1, 32, 1, 3, root)];
    let mut aa32 = ste_s2(1, 32, 1, 0, root);
    aa32[2] &= !(1 << 51);
    bad.push(aa32);
    for (i, ste) in bad.into_iter().enumerate() {
        fx.set_ste(i as u32, ste);
        assert_eq!(
            fx.event(fx.write(i as u32, None, 0, &[1])).event,
            Some(EventType::CBadSte),
            "{i}"
        );
    }
}

#[test]
fn stage2_faults_record_only_with_s2r() {
    let fx = Fx::new(SmmuConfig::qemu());
    let root = fx.page(1);
    let mut ste = ste_s2(1, 32, 1, 0, root);
    ste[2] &= !(1 << 58);
    fx.set_ste(1, ste);
    let ev = fx.event(fx.write(1, None, 0x1000, &[1]));
    assert_eq!(
        (ev.event, ev.s2, ev.recorded),
        (Some(EventType::FTranslation), true, false)
    );
}

/// A nested stream: stage 2 maps IPA 0x4000_0000.. to fresh pages; the CD and the stage-1
/// tables live at IPAs.
struct Nested {
    s2_root: u64,
    cd_ipa: u64,
    s1_root_ipa: u64,
}

fn nested_stream(fx: &Fx, sid: u32) -> Nested {
    // Stage 2: S2T0SZ 25 (39-bit IPA), SL0 1 (level 1), 4K.
    let s2 = Tables {
        fx,
        g: 12,
        ia: 39,
        start: 1,
    };
    let s2_root = fx.page(1);
    let ipa_to_pa = |ipa: u64| {
        let pa = fx.page(1);
        s2.map(s2_root, ipa, pa, 3, AF | S2R | S2W);
        pa
    };
    let cd_ipa = 0x4000_0000;
    let cd_pa = ipa_to_pa(cd_ipa);
    let s1_root_ipa = 0x4000_1000;
    let s1_root_pa = ipa_to_pa(s1_root_ipa);
    // Stage-1 tables at IPAs: levels 0..2 at 0x4000_2000.., each backed by a page.
    let l1_ipa = 0x4000_2000;
    let l2_ipa = 0x4000_3000;
    let l3_ipa = 0x4000_4000;
    let l1_pa = ipa_to_pa(l1_ipa);
    let l2_pa = ipa_to_pa(l2_ipa);
    let l3_pa = ipa_to_pa(l3_ipa);
    // VA 0x1000 → IPA 0x4001_0000.
    fx.w64(s1_root_pa, l1_ipa | 0b11);
    fx.w64(l1_pa, l2_ipa | 0b11);
    fx.w64(l2_pa, l3_ipa | 0b11);
    fx.w64(l3_pa + 8, 0x4001_0000 | AF | 0b11);
    // VA 0x2000 → IPA 0x4002_0000, which stage 2 does not map.
    fx.w64(l3_pa + 16, 0x4002_0000 | AF | 0b11);
    fx.write_words(cd_pa, &cd(16, 0, 4, s1_root_ipa));
    fx.set_ste(sid, ste_nested(cd_ipa, 6, s2_root));
    Nested {
        s2_root,
        cd_ipa,
        s1_root_ipa,
    }
}

/// STE.S2PTW (§5.2): a stage-1 walk whose table is Device memory at stage 2
/// (MemAttr 0b0000, as the nested stream's pages are) takes a stage-2
/// permission fault of class TT; without S2PTW, or with the table Normal
/// (MemAttr 0b1111), the walk goes on.
#[test]
fn s2ptw_stops_stage1_walks_into_device_memory() {
    const NORMAL: u64 = 0b1111 << 2;
    for (ptw, memattr, walks) in [(true, 0, false), (false, 0, true), (true, NORMAL, true)] {
        let fx = Fx::new(SmmuConfig::qemu());
        let n = nested_stream(&fx, 1);
        let s2 = Tables {
            fx: &fx,
            g: 12,
            ia: 39,
            start: 1,
        };
        // Every page the walk reads, re-mapped with `memattr`.
        for ipa in [
            n.cd_ipa,
            n.s1_root_ipa,
            0x4000_2000,
            0x4000_3000,
            0x4000_4000,
        ] {
            let at = s2.entry(n.s2_root, ipa, 3);
            fx.w64(at, fx.r64(at) | memattr);
        }
        let data = fx.page(1);
        s2.map(n.s2_root, 0x4001_0000, data, 3, AF | S2R | S2W | NORMAL);
        let mut ste = ste_nested(n.cd_ipa, 6, n.s2_root);
        ste[2] |= u64::from(ptw) << 54;
        fx.set_ste(1, ste);
        let result = fx.write(1, None, 0x1000, &[0x3c]);
        if walks {
            result.unwrap();
            assert_eq!(fx.mem.read_u32(data) & 0xff, 0x3c);
        } else {
            let ev = fx.event(result);
            assert_eq!(
                (ev.event, ev.s2, ev.class, ev.ipa),
                (Some(EventType::FPermission), true, Class::Tt, n.s1_root_ipa)
            );
        }
    }
}

#[test]
fn nested_translation_walks_cd_and_tables_through_stage2() {
    let fx = Fx::new(SmmuConfig::qemu());
    let n = nested_stream(&fx, 1);
    let s2 = Tables {
        fx: &fx,
        g: 12,
        ia: 39,
        start: 1,
    };
    let data_pa = fx.page(1);
    s2.map(n.s2_root, 0x4001_0000, data_pa, 3, AF | S2R | S2W);
    fx.write(1, None, 0x1004, &[0x5a]).unwrap();
    assert_eq!(fx.mem.read_u32(data_pa + 4), 0x5a);
    // The final IPA faults at stage 2: Class IN, IPA reported.
    let ev = fx.event(fx.write(1, None, 0x2000, &[1]));
    assert_eq!(
        (ev.event, ev.s2, ev.class, ev.ipa),
        (Some(EventType::FTranslation), true, Class::In, 0x4002_0000)
    );
    assert_eq!(fx.m.event_records()[0].class, Class::In as u8);

    // Stage 2 loses the stage-1 root table: Class TT.
    let fx = Fx::new(SmmuConfig::qemu());
    let n = nested_stream(&fx, 1);
    let s2 = Tables {
        fx: &fx,
        g: 12,
        ia: 39,
        start: 1,
    };
    fx.w64(s2.entry(n.s2_root, n.s1_root_ipa, 3), 0);
    let ev = fx.event(fx.write(1, None, 0x1000, &[1]));
    assert_eq!(
        (ev.event, ev.s2, ev.class, ev.ipa),
        (
            Some(EventType::FTranslation),
            true,
            Class::Tt,
            n.s1_root_ipa
        )
    );

    // Stage 2 loses the CD: Class CD.
    let fx = Fx::new(SmmuConfig::qemu());
    let n = nested_stream(&fx, 1);
    let s2 = Tables {
        fx: &fx,
        g: 12,
        ia: 39,
        start: 1,
    };
    fx.w64(s2.entry(n.s2_root, n.cd_ipa, 3), 0);
    let ev = fx.event(fx.write(1, None, 0x1000, &[1]));
    assert_eq!(
        (ev.event, ev.class, ev.ipa),
        (Some(EventType::FTranslation), Class::Cd, n.cd_ipa)
    );
    let rec = fx.m.event_records()[0];
    assert_eq!(
        (rec.s2, rec.class, rec.ipa_or_fetch),
        (true, Class::Cd as u8, n.cd_ipa)
    );
}

// ---- Caches and invalidation ----

#[test]
fn ste_is_stale_until_cfgi_ste() {
    let fx = Fx::new(SmmuConfig::qemu());
    fx.set_ste(1, ste_bypass());
    fx.write(1, None, 0x8000, &[1]).unwrap();
    fx.set_ste(1, ste_abort());
    fx.write(1, None, 0x8000, &[2]).expect("cached bypass STE");
    fx.cmds(&[cmd_cfgi_ste(2), cmd_sync()]);
    fx.write(1, None, 0x8000, &[3])
        .expect("another StreamID's invalidation");
    fx.cmds(&[cmd_cfgi_ste(1), cmd_sync()]);
    assert!(fx.write(1, None, 0x8000, &[4]).is_err());
    assert_eq!(fx.mem.read_u32(0x8000) & 0xff, 3);
    let c = fx.m.counts();
    assert_eq!((c.cfgi_ste, c.sync, c.total()), (2, 2, 4));
    assert_eq!(
        fx.m.command_log()[0],
        Command::CfgiSte { sid: 2, leaf: true }
    );
    // CFGI_STE_RANGE and CFGI_ALL.
    for sid in 8..12 {
        fx.set_ste(sid, ste_bypass());
        fx.write(sid, None, 0, &[1]).unwrap();
        fx.set_ste(sid, ste_abort());
    }
    fx.cmds(&[cmd_cfgi_ste_range(9, 0)]);
    assert!(fx.write(8, None, 0, &[1]).is_err());
    assert!(fx.write(9, None, 0, &[1]).is_err());
    assert!(fx.write(10, None, 0, &[1]).is_ok());
    fx.cmds(&[cmd_cfgi_all()]);
    assert!(fx.write(11, None, 0, &[1]).is_err());
    assert_eq!(fx.m.counts().cfgi_all, 1);
}

#[test]
fn cd_is_stale_until_cfgi_cd_or_cfgi_ste() {
    let fx = Fx::new(SmmuConfig::qemu());
    let (cd_addr, root) = stage1_stream(&fx, 1, 3);
    let t = s1_4k(&fx);
    let (old_pa, new_pa) = (fx.page(1), fx.page(1));
    t.map(root, 0x1000, old_pa, 3, AF);
    fx.write(1, None, 0x1000, &[1]).unwrap();
    // A new table with a new ASID; VA 0x5000 was never translated.
    let new_root = fx.page(1);
    t.map(root, 0x5000, old_pa, 3, AF | NG);
    t.map(new_root, 0x5000, new_pa, 3, AF | NG);
    fx.write_words(cd_addr, &cd(16, 0, 4, new_root));
    fx.write(1, None, 0x5000, &[7]).unwrap();
    assert_eq!(
        fx.mem.read_u32(old_pa) & 0xff,
        7,
        "cached CD walks the old table"
    );
    fx.cmds(&[cmd_cfgi_cd(1, 0), cmd_sync()]);
    fx.write(1, None, 0x5000, &[8]).unwrap();
    assert_eq!(fx.mem.read_u32(new_pa) & 0xff, 8);
    // CFGI_STE drops the CDs fetched through it; CFGI_CD_ALL too.
    fx.w64(cd_addr, 0);
    fx.cmds(&[cmd_cfgi_ste(1)]);
    assert_eq!(
        fx.event(fx.write(1, None, 0x9000, &[1])).event,
        Some(EventType::CBadCd)
    );
    fx.write_words(cd_addr, &cd(16, 0, 4, new_root));
    fx.write(1, None, 0x5000, &[8]).unwrap();
    fx.w64(cd_addr, 0);
    fx.cmds(&[cmd_cfgi_cd_all(1)]);
    assert_eq!(
        fx.event(fx.write(1, None, 0x9000, &[1])).event,
        Some(EventType::CBadCd)
    );
}

#[test]
fn stage1_tlb_is_stale_until_the_matching_tlbi() {
    let fx = Fx::new(SmmuConfig::qemu());
    let (_, root) = stage1_stream(&fx, 1, 3);
    let t = s1_4k(&fx);
    let (a, b) = (fx.page(1), fx.page(1));
    t.map(root, 0x1000, a, 3, AF);
    fx.write(1, None, 0x1000, &[1]).unwrap();
    t.map(root, 0x1000, b, 3, AF);
    fx.write(1, None, 0x1000, &[2]).unwrap();
    assert_eq!(fx.mem.read_u32(a), 2, "stale TLB entry");
    fx.cmds(&[
        cmd_tlbi_nh_asid(0, 4),
        cmd_tlbi_nh_va(0, 3, 0x2000),
        cmd_tlbi_nh_asid(1, 3),
    ]);
    fx.write(1, None, 0x1000, &[3]).unwrap();
    assert_eq!(fx.mem.read_u32(a), 3, "other ASID, other page, other VMID");
    fx.cmds(&[cmd_tlbi_nh_va(0, 3, 0x1000)]);
    fx.write(1, None, 0x1000, &[4]).unwrap();
    assert_eq!(fx.mem.read_u32(b), 4);
    // A global entry (nG == 0) survives TLBI_NH_ASID, not TLBI_NH_VAA.
    t.map(root, 0x1000, a, 3, AF);
    fx.cmds(&[cmd_tlbi_nh_asid(0, 3)]);
    fx.write(1, None, 0x1000, &[5]).unwrap();
    assert_eq!(fx.mem.read_u32(b), 5, "the global entry survived");
    t.map(root, 0x1000, b, 3, AF | NG);
    fx.cmds(&[cmd_tlbi_nh_vaa(0, 0x1000)]);
    fx.write(1, None, 0x1000, &[6]).unwrap();
    assert_eq!(fx.mem.read_u32(b), 6);
    t.map(root, 0x1000, a, 3, AF | NG);
    fx.cmds(&[cmd_tlbi_nh_asid(0, 3)]);
    fx.write(1, None, 0x1000, &[7]).unwrap();
    assert_eq!(
        fx.mem.read_u32(a),
        7,
        "a non-global entry goes with its ASID"
    );
    // A read-only page made writable stays read-only until invalidated.
    t.map(root, 0x3000, a, 3, AF | RO);
    fx.read(1, None, 0x3000, 1).unwrap();
    t.map(root, 0x3000, a, 3, AF);
    assert_eq!(
        fx.event(fx.write(1, None, 0x3000, &[1])).event,
        Some(EventType::FPermission)
    );
    fx.cmds(&[cmd_tlbi_nsnh_all()]);
    fx.write(1, None, 0x3000, &[1]).unwrap();
    assert_eq!(fx.m.cache_sizes().2, 1);
}

#[test]
fn stage2_tlb_is_stale_until_s2_ipa_or_vmall_and_ranges_count() {
    let fx = Fx::new(SmmuConfig::qemu());
    let root = fx.page(1);
    fx.set_ste(1, ste_s2(9, 32, 1, 0, root));
    let t = Tables {
        fx: &fx,
        g: 12,
        ia: 32,
        start: 1,
    };
    let (a, b) = (fx.page(8), fx.page(8));
    for i in 0..8u64 {
        t.map(
            root,
            0x10_0000 + (i << 12),
            a + (i << 12),
            3,
            AF | S2R | S2W,
        );
    }
    for i in 0..8u64 {
        fx.write(1, None, 0x10_0000 + (i << 12), &[1]).unwrap();
        t.map(
            root,
            0x10_0000 + (i << 12),
            b + (i << 12),
            3,
            AF | S2R | S2W,
        );
    }
    fx.cmds(&[cmd_tlbi_s2_ipa(8, 0x10_0000, None), cmd_tlbi_nh_asid(9, 0)]);
    fx.write(1, None, 0x10_0000, &[2]).unwrap();
    assert_eq!(
        fx.mem.read_u32(a) & 0xff,
        2,
        "other VMID; NH does not touch stage 2"
    );
    fx.cmds(&[cmd_tlbi_s2_ipa(9, 0x10_0000, None)]);
    fx.write(1, None, 0x10_0000, &[3]).unwrap();
    assert_eq!(fx.mem.read_u32(b) & 0xff, 3);
    // Range: NUM 1, SCALE 1 → 4 pages from 0x10_2000 (IDR3.RIL).
    fx.cmds(&[cmd_tlbi_s2_ipa(9, 0x10_2000, Some((1, 1)))]);
    for i in 1..8u64 {
        fx.write(1, None, 0x10_0000 + (i << 12), &[4]).unwrap();
    }
    let in_b: Vec<u64> = (1..8)
        .filter(|i| fx.mem.read_u32(b + (i << 12)) & 0xff == 4)
        .collect();
    assert_eq!(in_b, [2, 3, 4, 5]);
    fx.cmds(&[cmd_tlbi_s12_vmall(9)]);
    fx.write(1, None, 0x10_7000, &[5]).unwrap();
    assert_eq!(fx.mem.read_u32(b + 0x7000) & 0xff, 5);
    assert_eq!(fx.m.counts().tlbi_s2_ipa, 3);
    // Without RIL the range fields are ignored: one address.
    let mut cfg = SmmuConfig::qemu();
    cfg.idr[3] &= !IDR3_RIL;
    let fx = Fx::new(cfg);
    fx.cmds(&[cmd_tlbi_s2_ipa(9, 0x10_2000, Some((1, 1)))]);
    match fx.m.command_log()[0] {
        Command::TlbiS2Ipa { addr, .. } => assert_eq!(addr.range, None),
        ref c => panic!("{c:?}"),
    }
}

// ---- Command queue errors and completion ----

#[test]
fn illegal_commands_stop_the_queue_until_gerror_is_acknowledged() {
    let fx = Fx::new(SmmuConfig::qemu());
    fx.cmds(&[cmd_sync(), [0xff, 0], cmd_cfgi_all(), cmd_sync()]);
    assert_eq!(fx.cons() & 0xff, 1, "stopped at the bad command");
    assert_eq!(fx.cons() >> 24 & 0x7f, CommandError::Ill as u32);
    assert_eq!(fx.m.read32(GERROR) ^ fx.m.read32(GERRORN), GERROR_CMDQ_ERR);
    assert_eq!(fx.m.irqs().gerror, 1);
    assert_eq!(fx.m.counts().total(), 1);
    // More commands do not run while the error is active.
    fx.cmds(&[cmd_sync()]);
    assert_eq!(fx.m.counts().total(), 1);
    // Software replaces the command with a CMD_SYNC and acknowledges.
    fx.write_words(fx.cmdq + 16, &cmd_sync());
    fx.m.write32(GERRORN, fx.m.read32(GERROR));
    assert_eq!(fx.cons() & 0xff, 5);
    assert_eq!(fx.m.counts().total(), 5);
    // ATC_INV and PRI_RESP are illegal on QEMU's SMMU (no ATS, no PRI), so is RESUME.
    for c in [cmd_atc_inv(1), [0x41, 2 << 12], cmd_resume(1, 0, true)] {
        let before = fx.cons() & 0xff;
        fx.cmds(&[c]);
        assert_eq!(fx.cons() & 0xff, before);
        fx.write_words(fx.cmdq + 16 * u64::from(before), &cmd_sync());
        fx.m.write32(GERRORN, fx.m.read32(GERROR));
    }
}

#[test]
fn injected_command_errors() {
    let fx = Fx::new(SmmuConfig::full());
    fx.m.inject(InjectedError::CommandIllegal);
    fx.cmds(&[cmd_sync()]);
    assert_eq!(fx.cons() >> 24 & 0x7f, CommandError::Ill as u32);
    fx.m.write32(GERRORN, fx.m.read32(GERROR));
    assert_eq!(fx.cons() & 0xff, 1, "the same command now passes");
    fx.m.inject(InjectedError::CommandAbort);
    fx.cmds(&[cmd_sync()]);
    assert_eq!(fx.cons() >> 24 & 0x7f, CommandError::Abt as u32);
    fx.m.write32(GERRORN, fx.m.read32(GERROR));
    fx.m.inject(InjectedError::AtcInvTimeout);
    fx.cmds(&[cmd_atc_inv(1), cmd_sync()]);
    assert_eq!(fx.cons() & 0xff, 3, "stopped on the CMD_SYNC");
    assert_eq!(fx.cons() >> 24 & 0x7f, CommandError::AtcInvSync as u32);
    // A second error while one is active does not toggle GERROR again.
    let g = fx.m.read32(GERROR);
    fx.m.write32(GERRORN, g);
    assert_eq!(fx.cons() & 0xff, 4);
    assert_eq!(fx.m.counts().atc_inv, 1);
}

#[test]
fn cmd_sync_signals_irq_msi_and_sev() {
    let fx = Fx::new(SmmuConfig::full());
    let flag = fx.page(1);
    fx.cmds(&[cmd_sync_irq(0xfeed, flag + 4), [0x46 | 2 << 12, 0]]);
    assert_eq!(fx.mem.read_u32(flag + 4), 0xfeed);
    let irqs = fx.m.irqs();
    assert_eq!((irqs.cmd_sync, irqs.msi_writes, irqs.sev), (1, 1, 1));
    let q = Fx::new(SmmuConfig::qemu());
    q.cmds(&[cmd_sync_irq(0xfeed, flag + 8)]);
    assert_eq!(q.mem.read_u32(flag + 8), 0, "no MSI without IDR0.MSI");
    assert_eq!(q.m.irqs().cmd_sync, 1);
    // CS 0b11 is reserved.
    q.cmds(&[[0x46 | 3 << 12, 0]]);
    assert_eq!(q.cons() >> 24 & 0x7f, CommandError::Ill as u32);
}

#[test]
fn command_queue_wraps() {
    let fx = Fx::new(SmmuConfig::qemu());
    for _ in 0..3 {
        fx.cmds(&vec![cmd_sync(); 40]);
    }
    assert_eq!(fx.m.counts().sync, 120);
    assert_eq!(fx.cons(), fx.prod.get());
    assert_ne!(
        fx.prod.get() & 1 << CMDQ_LOG2,
        0,
        "wrap bit flipped an odd number of times"
    );
}

// ---- Event queue ----

#[test]
fn event_queue_overflow_sets_ovflg_until_acknowledged() {
    let fx = Fx::new(SmmuConfig::qemu());
    assert_eq!(fx.m.fill_event_queue(1), 16);
    fx.set_ste(2, ste_abort());
    let ev = fx.event(fx.write(3, None, 0, &[1]));
    assert!(!ev.recorded);
    assert_ne!(fx.m.read32(PAGE1 + EVENTQ_PROD) & Q_OVFLG, 0);
    fx.event(fx.write(3, None, 0, &[1]));
    assert_ne!(fx.m.read32(EVENTQ_PROD) & Q_OVFLG, 0, "no second toggle");
    // Software consumes everything and acknowledges.
    let prod = fx.m.read32(EVENTQ_PROD);
    fx.m.write32(PAGE1 + EVENTQ_CONS, prod);
    assert!(fx.event(fx.write(3, None, 0, &[1])).recorded);
    assert_eq!(fx.m.event_records().len(), 1);
    assert_eq!(fx.m.faults().len(), 3);
}

#[test]
fn events_are_dropped_while_the_event_queue_is_disabled() {
    let fx = Fx::new(SmmuConfig::qemu());
    fx.m.write32(CR0, CR0_SMMUEN | CR0_CMDQEN);
    assert!(!fx.event(fx.write(3, None, 0, &[1])).recorded);
    assert_eq!(fx.m.read32(EVENTQ_PROD), 0);
    let _ = fx.evtq;
}

// ---- PRI ----

#[test]
fn page_requests_fill_the_pri_queue_and_responses_are_recorded() {
    let fx = Fx::new(SmmuConfig::full());
    let req = PageRequest {
        sid: 0x12,
        ssid: Some(0x345),
        addr: 0xdead_b123,
        read: true,
        write: true,
        last: true,
        prgi: 0x1a5,
        ..Default::default()
    };
    fx.m.inject_page_request(&req).unwrap();
    let w0 = fx.r64(fx.priq);
    let w1 = fx.r64(fx.priq + 8);
    assert_eq!(w0 & 0xffff_ffff, 0x12);
    assert_eq!(w0 >> 32 & 0xf_ffff, 0x345);
    assert_eq!(
        w0 >> 58,
        0b111100,
        "SSV, Last, Write, Read; not Exec, not Priv"
    );
    assert_eq!(w1, 0xdead_b000 | 0x1a5);
    assert_eq!(fx.m.read32(PAGE1 + PRIQ_PROD), 1);
    assert_eq!(fx.m.irqs().priq, 1);
    for _ in 1..8 {
        fx.m.inject_page_request(&req).unwrap();
    }
    assert_eq!(
        fx.m.inject_page_request(&req),
        Err(PageRequestError::Overflow)
    );
    assert_ne!(fx.m.read32(PRIQ_PROD) & Q_OVFLG, 0);
    fx.cmds(&[
        [0x41 | 0x12 << 32 | 0x345 << 12 | 1 << 11, 0x1a5 | 2 << 12],
        cmd_sync(),
    ]);
    assert_eq!(
        fx.m.pri_responses(),
        [PriResponse {
            sid: 0x12,
            ssid: Some(0x345),
            prgi: 0x1a5,
            resp: PriResponseCode::Success
        }]
    );
    let q = Fx::new(SmmuConfig::qemu());
    assert_eq!(
        q.m.inject_page_request(&req),
        Err(PageRequestError::NotSupported)
    );
    let off = Fx::bare(SmmuConfig::full());
    assert_eq!(
        off.m.inject_page_request(&req),
        Err(PageRequestError::NotEnabled)
    );
}

// ---- Stall model ----

#[test]
fn stalled_transactions_wait_for_resume() {
    let fx = Fx::new(SmmuConfig::full());
    let (cd_addr, root) = stage1_stream(&fx, 1, 3);
    // CD.S (bit 44); CD.R clear: a stall is recorded anyway.
    fx.w64(cd_addr, (fx.r64(cd_addr) | 1 << 44) & !(1 << 45));
    let ev = fx.event(fx.write(1, None, 0x4000, &[0xab, 0xcd]));
    let stag = ev.stag.expect("stalled");
    assert!(ev.recorded);
    assert_eq!(fx.m.event_records()[0].stag, Some(stag));
    assert_eq!(fx.m.pending_stalls().len(), 1);
    let pa = fx.page(1);
    s1_4k(&fx).map(root, 0x4000, pa, 3, AF);
    fx.cmds(&[
        cmd_resume(1, stag.wrapping_add(1), true),
        cmd_resume(2, stag, true),
    ]);
    assert_eq!(
        fx.m.pending_stalls().len(),
        1,
        "STAG and StreamID must both match"
    );
    fx.cmds(&[cmd_resume(1, stag, true), cmd_sync()]);
    assert!(fx.m.pending_stalls().is_empty());
    assert_eq!(fx.mem.read_u32(pa) & 0xffff, 0xcdab);
    assert_eq!(
        fx.m.resume_outcomes(),
        [ResumeOutcome::Completed { stag, read: None }]
    );
    // A stalled read resumed with retry returns its data; another is terminated.
    let ev = fx.event(fx.read(1, None, 0x5000, 2).map(|_| ()));
    fx.m.dma_read(1, None, 0x6000, &mut [0; 1]).unwrap_err();
    s1_4k(&fx).map(root, 0x5000, pa, 3, AF);
    fx.cmds(&[
        cmd_resume(1, ev.stag.unwrap(), true),
        cmd_resume(1, ev.stag.unwrap() + 1, false),
    ]);
    let outcomes = fx.m.resume_outcomes();
    assert_eq!(
        outcomes[1],
        ResumeOutcome::Completed {
            stag: ev.stag.unwrap(),
            read: Some(vec![0xab, 0xcd])
        }
    );
    assert_eq!(
        outcomes[2],
        ResumeOutcome::Terminated {
            stag: ev.stag.unwrap() + 1,
            abort: true
        }
    );
    // CMD_STALL_TERM ends every stall of the stream.
    fx.write(1, None, 0x7000, &[1]).unwrap_err();
    fx.write(1, None, 0x8000, &[1]).unwrap_err();
    fx.cmds(&[[0x45 | 1 << 32, 0]]);
    assert!(fx.m.pending_stalls().is_empty());
    assert_eq!(fx.m.counts().stall_term, 1);
    // STE.S1STALLD disables stalling: the fault is recorded per CD.R (clear: not).
    let mut ste = ste_s1(cd_addr, 0, 0, 0);
    ste[1] |= 1 << 27;
    fx.set_ste(1, ste);
    fx.cmds(&[cmd_cfgi_ste(1)]);
    let ev = fx.event(fx.write(1, None, 0x9000, &[1]));
    assert_eq!((ev.stag, ev.recorded), (None, false));
}

#[test]
fn qemu_never_stalls() {
    let fx = Fx::new(SmmuConfig::qemu());
    let (cd_addr, _) = stage1_stream(&fx, 1, 3);
    fx.w64(cd_addr, fx.r64(cd_addr) | 1 << 44);
    let ev = fx.event(fx.write(1, None, 0x4000, &[1]));
    assert_eq!((ev.stag, ev.recorded), (None, true));
    assert!(fx.m.pending_stalls().is_empty());
}
