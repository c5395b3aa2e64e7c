//! Device interrupts on aarch64: a GICv3 (Arm IHI 0069) with its distributor,
//! the boot CPU's redistributor and the system-register CPU interface, as seen
//! from EL2. Shared peripheral interrupts (an SMMU's wired lines) are routed to
//! the boot CPU as Group 1; each INTID taken is counted, which is all a driver
//! waiting for an interrupt needs, and then ended (EOImode 0: priority drop and
//! deactivation in one write).
//!
//! Physical IRQs reach EL2 only with HCR_EL2.IMO set (Arm ARM D1.3.5: with IMO
//! clear they target EL1 and are never taken at EL2).

use core::sync::atomic::{AtomicU64, Ordering};

use spin::Once;

use crate::arch::mmio::Mmio;

/// Distributor registers (IHI 0069 §12.9).
mod gicd {
    /// GICD_CTLR: RWP (31), ARE (4; ARE_NS in the Non-secure view), the group
    /// enables (bits 1:0) — bit 0 is Group 1 in the Non-secure view and Group 0
    /// with one security state (DS = 1), so both are set.
    pub const CTLR: usize = 0x0000;
    pub const CTLR_ENABLE_GRP0_OR_1NS: u32 = 1 << 0;
    pub const CTLR_ENABLE_GRP1: u32 = 1 << 1;
    pub const CTLR_ARE: u32 = 1 << 4;
    pub const CTLR_RWP: u32 = 1 << 31;
    /// GICD_TYPER: ITLinesNumber (4:0), SPIs up to INTID 32 * (N + 1) - 1.
    pub const TYPER: usize = 0x0004;
    /// One bit per INTID: Group 1 when set.
    pub const IGROUPR: usize = 0x0080;
    pub const ISENABLER: usize = 0x0100;
    pub const ICENABLER: usize = 0x0180;
    pub const ICPENDR: usize = 0x0280;
    /// One byte per INTID.
    pub const IPRIORITYR: usize = 0x0400;
    /// Two bits per INTID; the upper one set means edge-triggered.
    pub const ICFGR: usize = 0x0c00;
    /// 64-bit per SPI: the affinity (MPIDR layout) with IRM (31) clear.
    pub const IROUTER: usize = 0x6000;
}

/// Redistributor registers (§12.10, §12.11): the RD_base frame and, 64 KiB
/// above it, the SGI_base frame for SGIs and PPIs.
mod gicr {
    pub const TYPER: usize = 0x0008;
    /// GICR_TYPER.Last (4): the last redistributor of the region; VLPIS (1):
    /// GICv4 frames, 256 KiB instead of 128 KiB.
    pub const TYPER_VLPIS: u64 = 1 << 1;
    pub const TYPER_LAST: u64 = 1 << 4;
    /// GICR_WAKER: ProcessorSleep (1), ChildrenAsleep (2).
    pub const WAKER: usize = 0x0014;
    pub const WAKER_PROCESSOR_SLEEP: u32 = 1 << 1;
    pub const WAKER_CHILDREN_ASLEEP: u32 = 1 << 2;
    pub const SGI_BASE: usize = 0x1_0000;
    pub const IGROUPR0: usize = SGI_BASE + 0x0080;
    pub const ISENABLER0: usize = SGI_BASE + 0x0100;
    pub const IPRIORITYR: usize = SGI_BASE + 0x0400;
    pub const ICFGR1: usize = SGI_BASE + 0x0c04;
}

/// INTIDs 1020–1023 are special; 1023 is "no pending interrupt" (§2.2.1).
const SPURIOUS: u32 = 1023;
/// INTIDs a GICv3 without extended ranges can have (SGIs, PPIs and SPIs).
const MAX_INTIDS: usize = 1020;
/// The priority given to every interrupt vsva enables: mid-range, so a later
/// need for higher (lower-valued) priorities has room.
const PRIORITY: u8 = 0xa0;
/// Bound on the RWP and ChildrenAsleep waits.
const TIMEOUT_NS: u64 = 10_000_000;

/// How an interrupt is signalled (the GICD_ICFGR field).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trigger {
    Level,
    Edge,
}

/// Why the GIC could not be brought up or an interrupt not configured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GicError {
    Map(crate::arch::MapError),
    /// No redistributor in the region has this CPU's affinity.
    NoRedistributor,
    /// GICD_CTLR.RWP or GICR_WAKER.ChildrenAsleep did not settle.
    TimedOut(&'static str),
    /// The INTID is not an SGI, PPI or SPI this GIC has.
    BadIntid(u32),
    /// Not initialised.
    Absent,
}

struct Gic {
    gicd: Mmio,
    gicr: Mmio,
    /// The highest SPI INTID plus one.
    lines: u32,
}

static GIC: Once<Gic> = Once::new();
static COUNTS: [AtomicU64; MAX_INTIDS] = [const { AtomicU64::new(0) }; MAX_INTIDS];

/// Interrupts taken on `intid` so far.
pub fn count(intid: u32) -> u64 {
    COUNTS
        .get(intid as usize)
        .map_or(0, |c| c.load(Ordering::SeqCst))
}

/// An interrupt line counted by this driver, for drivers waiting on one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Line(pub u32);

impl vsva_iommu::hw::InterruptLine for Line {
    fn count(&self) -> u64 {
        count(self.0)
    }
}

fn wait(what: &'static str, mut done: impl FnMut() -> bool) -> Result<(), GicError> {
    let deadline = super::time::uptime_nanos().saturating_add(TIMEOUT_NS);
    while !done() {
        if super::time::uptime_nanos() > deadline {
            return Err(GicError::TimedOut(what));
        }
        core::hint::spin_loop();
    }
    Ok(())
}

/// This CPU's affinity in the MPIDR layout (Aff3 in 39:32, Aff2..Aff0 in 23:0),
/// which is also GICD_IROUTER's.
fn affinity() -> u64 {
    let mpidr: u64;
    // SAFETY: reads MPIDR_EL1, which has no side effects.
    unsafe { core::arch::asm!("mrs {}, mpidr_el1", out(reg) mpidr, options(nomem, nostack)) };
    mpidr & 0xff_00ff_ffff
}

/// GICR_TYPER.Affinity_Value (63:32) as Aff3.Aff2.Aff1.Aff0 for `affinity`.
fn typer_affinity(affinity: u64) -> u64 {
    ((affinity >> 32) << 24) | (affinity & 0xff_ffff)
}

/// Finds the redistributor whose affinity is this CPU's among the frames of
/// `[base, base + len)`, walking until GICR_TYPER.Last or the region's end.
fn find_redistributor(base: u64, len: u64) -> Result<Mmio, GicError> {
    let want = typer_affinity(affinity());
    let mut offset = 0;
    while offset + 0x2_0000 <= len {
        let frame = Mmio::map(base + offset, 0x2_0000).map_err(GicError::Map)?;
        let typer = frame.read64(gicr::TYPER).unwrap_or(0);
        if typer >> 32 == want {
            return Ok(frame);
        }
        if typer & gicr::TYPER_LAST != 0 {
            break;
        }
        offset += if typer & gicr::TYPER_VLPIS != 0 {
            0x4_0000
        } else {
            0x2_0000
        };
    }
    Err(GicError::NoRedistributor)
}

/// Brings up the distributor (affinity routing, Group 1 enabled), wakes this
/// CPU's redistributor and enables the EL2 system-register CPU interface, with
/// every priority accepted, then unmasks IRQs at PSTATE. That is safe at any
/// point of the kernel because the handler takes no lock: it only counts.
pub fn init(
    distributor: u64,
    redistributors: u64,
    redistributors_len: u64,
) -> Result<(), GicError> {
    let gic = GIC.try_call_once(|| -> Result<Gic, GicError> {
        let gicd = Mmio::map(distributor, 0x1_0000).map_err(GicError::Map)?;
        let gicr = find_redistributor(redistributors, redistributors_len)?;
        let lines = 32 * ((gicd.read32(gicd::TYPER).unwrap_or(0) & 0x1f) + 1);
        Ok(Gic {
            gicd,
            gicr,
            lines: lines.min(MAX_INTIDS as u32),
        })
    })?;
    let rwp = || gic.gicd.read32(gicd::CTLR).unwrap_or(0) & gicd::CTLR_RWP == 0;
    gic.gicd.write32(gicd::CTLR, 0);
    wait("GICD_CTLR.RWP", rwp)?;
    gic.gicd.write32(gicd::CTLR, gicd::CTLR_ARE);
    wait("GICD_CTLR.RWP", rwp)?;
    gic.gicd.write32(
        gicd::CTLR,
        gicd::CTLR_ARE | gicd::CTLR_ENABLE_GRP1 | gicd::CTLR_ENABLE_GRP0_OR_1NS,
    );
    wait("GICD_CTLR.RWP", rwp)?;

    let waker = gic.gicr.read32(gicr::WAKER).unwrap_or(0);
    gic.gicr
        .write32(gicr::WAKER, waker & !gicr::WAKER_PROCESSOR_SLEEP);
    wait("GICR_WAKER.ChildrenAsleep", || {
        gic.gicr.read32(gicr::WAKER).unwrap_or(0) & gicr::WAKER_CHILDREN_ASLEEP == 0
    })?;
    // SGIs and PPIs: Group 1, disabled until asked for.
    gic.gicr.write32(gicr::IGROUPR0, u32::MAX);

    // SAFETY: the GICv3 CPU interface registers (Arm ARM D19, "GIC system
    // registers"): ICC_SRE_EL2.SRE (0) selects the system-register interface and
    // Enable (3) lets EL1 use it too (for guests); PMR 0xff accepts every
    // priority, BPR1 0 uses all priority bits, CTLR_EL1 0 is EOImode 0, and
    // IGRPEN1 enables Group 1. HCR_EL2.IMO (4) routes physical IRQs to EL2.
    // None of this touches memory; the ISBs make each write take effect.
    unsafe {
        core::arch::asm!(
            "mrs {t}, icc_sre_el2",
            "mov {u}, #0x9",
            "orr {t}, {t}, {u}",
            "msr icc_sre_el2, {t}",
            "isb",
            "mov {t}, #0xff",
            "msr icc_pmr_el1, {t}",
            "msr icc_bpr1_el1, xzr",
            "msr icc_ctlr_el1, xzr",
            "mov {t}, #1",
            "msr icc_igrpen1_el1, {t}",
            "mrs {t}, hcr_el2",
            "orr {t}, {t}, #0x10",
            "msr hcr_el2, {t}",
            "isb",
            "msr daifclr, #2",
            t = out(reg) _,
            u = out(reg) _,
            options(nomem, nostack)
        );
    }
    Ok(())
}

/// Routes `intid` to this CPU as a Group 1 interrupt with `trigger`, clears
/// anything pending on it and enables it. SPIs are configured at the
/// distributor, PPIs at this CPU's redistributor.
pub fn enable(intid: u32, trigger: Trigger) -> Result<(), GicError> {
    let gic = GIC.get().ok_or(GicError::Absent)?;
    let (word, bit) = ((intid / 32) as usize * 4, 1u32 << (intid % 32));
    let cfg_shift = (intid % 16) * 2 + 1;
    let edge = u32::from(trigger == Trigger::Edge) << cfg_shift;
    match intid {
        16..32 => {
            let r = gic.gicr;
            let cfg = r.read32(gicr::ICFGR1).unwrap_or(0) & !(1 << cfg_shift);
            r.write32(gicr::ICFGR1, cfg | edge);
            set_priority(&r, gicr::IPRIORITYR, intid);
            r.write32(gicr::ISENABLER0, bit);
        }
        32.. if intid < gic.lines => {
            let d = gic.gicd;
            d.write32(gicd::ICENABLER + word, bit);
            let group = d.read32(gicd::IGROUPR + word).unwrap_or(0);
            d.write32(gicd::IGROUPR + word, group | bit);
            let cfg_reg = gicd::ICFGR + (intid / 16) as usize * 4;
            let cfg = d.read32(cfg_reg).unwrap_or(0) & !(1 << cfg_shift);
            d.write32(cfg_reg, cfg | edge);
            set_priority(&d, gicd::IPRIORITYR, intid);
            d.write64(gicd::IROUTER + intid as usize * 8, affinity());
            d.write32(gicd::ICPENDR + word, bit);
            d.write32(gicd::ISENABLER + word, bit);
        }
        _ => return Err(GicError::BadIntid(intid)),
    }
    Ok(())
}

/// Writes PRIORITY into `intid`'s byte of the IPRIORITYR array at `base`
/// (byte-accessible, §12.9.19, but written as its word to keep to one access size).
fn set_priority(regs: &Mmio, base: usize, intid: u32) {
    let reg = base + (intid as usize & !3);
    let shift = (intid % 4) * 8;
    let value = regs.read32(reg).unwrap_or(0) & !(0xff << shift);
    regs.write32(reg, value | (u32::from(PRIORITY) << shift));
}

/// Called from the IRQ vector: acknowledges every pending interrupt, counts
/// it, and ends it.
pub fn handle() {
    loop {
        let intid: u64;
        // SAFETY: ICC_IAR1_EL1 acknowledges the highest-priority pending Group 1
        // interrupt (or reads 1023); no memory is touched.
        unsafe {
            core::arch::asm!("mrs {}, icc_iar1_el1", out(reg) intid, options(nomem, nostack))
        };
        let intid = (intid & 0xff_ffff) as u32;
        if intid >= SPURIOUS - 3 {
            return;
        }
        if let Some(c) = COUNTS.get(intid as usize) {
            c.fetch_add(1, Ordering::SeqCst);
        }
        // SAFETY: ICC_EOIR1_EL1 with the INTID just acknowledged: priority drop
        // and deactivation (EOImode 0).
        unsafe {
            core::arch::asm!("msr icc_eoir1_el1, {}", in(reg) u64::from(intid), options(nomem, nostack))
        };
    }
}

/// Interrupt IDs the distributor has (SGIs, PPIs and SPIs); 0 before [`init`].
pub fn lines() -> u32 {
    GIC.get().map_or(0, |g| g.lines)
}

/// Whether [`init`] succeeded.
pub fn present() -> bool {
    GIC.get().is_some()
}
