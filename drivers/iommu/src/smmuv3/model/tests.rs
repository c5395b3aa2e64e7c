//! Model tests over hand-built tables in simulated memory. Every structure here is encoded
//! by the test from the spec's layouts, independently of the driver.
//!
//! This module holds the fixture the topic modules share: [`Fx`], an SMMU over a stream
//! table and queues in simulated memory, the command, STE and CD encoders, and the
//! test-side table writer [`Tables`].

mod command_queue;
mod event_queue;
mod invalidation;
mod pri;
mod registers;
mod stage1;
mod stage2;
mod stall;
mod stream_table;
mod substreams;

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
