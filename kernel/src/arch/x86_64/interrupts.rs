//! Device interrupts on x86_64: the local APIC (xAPIC MMIO at its default base,
//! Intel SDM Vol. 3A §11.4) enabled, a small set of vectors with counters, and
//! end-of-interrupt. Message-signalled interrupts (an IOMMU's fault event, MSI)
//! target the boot CPU's APIC through [`msi_address`].

use core::sync::atomic::{AtomicUsize, Ordering};

use spin::Once;

use crate::arch::mmio::Mmio;

/// The xAPIC register page (IA32_APIC_BASE default).
const LAPIC_BASE: u64 = 0xfee0_0000;
/// APIC ID (bits 31:24), spurious-interrupt vector (bit 8: APIC enable), EOI,
/// task priority (§11.4.6, §11.8.5, §11.9).
const LAPIC_ID: usize = 0x20;
const LAPIC_TPR: usize = 0x80;
const LAPIC_EOI: usize = 0xb0;
const LAPIC_SVR: usize = 0xf0;
/// Timer: LVT Timer (vector 7:0, mask 16, one-shot mode 00), initial and
/// current count, divide configuration (§11.5.4).
const LAPIC_LVT_TIMER: usize = 0x320;
const LAPIC_TIMER_INITIAL: usize = 0x380;
const LAPIC_TIMER_CURRENT: usize = 0x390;
const LAPIC_TIMER_DIVIDE: usize = 0x3e0;
const LVT_MASKED: u32 = 1 << 16;
/// Divide configuration 0b0011: by 16.
const DIVIDE_BY_16: u32 = 0b0011;

/// The local APIC timer's vector: the partitions' preemption timer.
pub const TIMER_VECTOR: u8 = 0x40;
/// The vector for IOMMU fault events.
pub const IOMMU_FAULT_VECTOR: u8 = 0x41;
/// The spurious vector (no EOI).
pub const SPURIOUS_VECTOR: u8 = 0xff;
/// Every vector with a gate, in the order of the stubs after the exceptions.
pub const VECTORS: [u8; 3] = [TIMER_VECTOR, IOMMU_FAULT_VECTOR, SPURIOUS_VECTOR];

static COUNTS: [AtomicUsize; 3] = [const { AtomicUsize::new(0) }; 3];
/// Interrupts on vectors vsva did not ask for (counted, ended, ignored).
static UNEXPECTED: AtomicUsize = AtomicUsize::new(0);

/// Interrupts taken on vectors vsva does not use.
pub fn unexpected() -> usize {
    UNEXPECTED.load(Ordering::SeqCst)
}
/// Local APIC timer ticks (divide by 16) per millisecond, once calibrated.
static TIMER_TICKS_PER_MS: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);
/// The mapped APIC registers: mapped once, so the interrupt path never maps.
static APIC: Once<Mmio> = Once::new();

/// Interrupts taken on `vector` so far.
pub fn count(vector: u8) -> usize {
    VECTORS
        .iter()
        .position(|&v| v == vector)
        .map_or(0, |i| COUNTS[i].load(Ordering::SeqCst))
}

fn apic() -> Option<Mmio> {
    APIC.get().copied()
}

/// Masks every line of the two legacy 8259 PICs: firmware leaves the timer on
/// IRQ 0 at the BIOS vector 8, which would arrive as a double fault.
fn mask_legacy_pic() {
    // SAFETY: the 8259 interrupt mask registers (ports 0x21, 0xA1); masking all
    // lines only stops legacy interrupts, which vsva does not use.
    unsafe {
        x86_64::instructions::port::Port::<u8>::new(0x21).write(0xff);
        x86_64::instructions::port::Port::<u8>::new(0xa1).write(0xff);
    }
}

/// Masks the legacy PICs, maps and software-enables the local APIC, accepting
/// every priority.
pub fn init_local_apic() -> Result<(), crate::arch::MapError> {
    mask_legacy_pic();
    let apic = *APIC.try_call_once(|| Mmio::map(LAPIC_BASE, 0x1000))?;
    // TPR priority class 1: fixed interrupts with vectors 0x10-0x1F, which
    // would look like exceptions, are never delivered (SDM Vol. 3A §11.8.3.1).
    apic.write32(LAPIC_TPR, 0x10);
    apic.write32(LAPIC_SVR, (1 << 8) | u32::from(SPURIOUS_VECTOR));
    Ok(())
}

/// The MSI address that targets this CPU's APIC in physical destination mode
/// (SDM Vol. 3A §11.11.1: 0xFEE, destination ID in bits 19:12).
pub fn msi_address() -> u64 {
    let id = apic()
        .and_then(|a| a.read32(LAPIC_ID))
        .map_or(0, |v| v >> 24);
    LAPIC_BASE | (u64::from(id) << 12)
}

/// Called from the trap entry for vectors 32 and up.
pub fn handle(vector: u8) {
    match VECTORS.iter().position(|&v| v == vector) {
        Some(i) => COUNTS[i].fetch_add(1, Ordering::SeqCst),
        None => UNEXPECTED.fetch_add(1, Ordering::SeqCst),
    };
    if vector != SPURIOUS_VECTOR
        && let Some(apic) = apic()
    {
        apic.write32(LAPIC_EOI, 0);
    }
}

/// Runs `f` with interrupts enabled, then masks them again.
pub fn with_interrupts<T>(f: impl FnOnce() -> T) -> T {
    x86_64::instructions::interrupts::enable();
    let out = f();
    x86_64::instructions::interrupts::disable();
    out
}

/// Measures the local APIC timer against the boot clock (once): ticks per
/// millisecond at divide-by-16.
pub fn calibrate_timer() {
    if TIMER_TICKS_PER_MS.load(Ordering::SeqCst) != 0 {
        return;
    }
    let Some(apic) = apic() else {
        return;
    };
    apic.write32(LAPIC_TIMER_DIVIDE, DIVIDE_BY_16);
    apic.write32(LAPIC_LVT_TIMER, LVT_MASKED | u32::from(TIMER_VECTOR));
    apic.write32(LAPIC_TIMER_INITIAL, u32::MAX);
    let start = super::time::uptime_nanos();
    while super::time::uptime_nanos() - start < 2_000_000 {
        core::hint::spin_loop();
    }
    let elapsed = super::time::uptime_nanos() - start;
    let current = apic.read32(LAPIC_TIMER_CURRENT).unwrap_or(u32::MAX);
    apic.write32(LAPIC_TIMER_INITIAL, 0);
    let ticks = u64::from(u32::MAX - current);
    let per_ms = (ticks * 1_000_000 / elapsed.max(1)).max(1);
    TIMER_TICKS_PER_MS.store(per_ms, Ordering::SeqCst);
    log::debug!("local APIC timer: {per_ms} ticks/ms at divide-by-16");
}

/// Arms the local APIC timer, one-shot, to interrupt on TIMER_VECTOR in `ns`.
pub fn arm_timer(ns: u64) {
    let Some(apic) = apic() else {
        return;
    };
    let per_ms = TIMER_TICKS_PER_MS.load(Ordering::SeqCst).max(1);
    let count =
        (u128::from(ns) * u128::from(per_ms) / 1_000_000).clamp(1, u128::from(u32::MAX)) as u32;
    apic.write32(LAPIC_TIMER_DIVIDE, DIVIDE_BY_16);
    apic.write32(LAPIC_LVT_TIMER, u32::from(TIMER_VECTOR));
    apic.write32(LAPIC_TIMER_INITIAL, count);
}

/// Stops the timer (an interrupt it already raised stays pending).
pub fn disarm_timer() {
    if let Some(apic) = apic() {
        apic.write32(LAPIC_TIMER_INITIAL, 0);
        apic.write32(LAPIC_LVT_TIMER, LVT_MASKED | u32::from(TIMER_VECTOR));
    }
}
