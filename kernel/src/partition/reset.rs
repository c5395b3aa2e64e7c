//! Device resets between owners: a function is reset when it is assigned
//! and again when its partition releases it, so that nothing an owner left
//! in it (registers, buffers, armed DMA) reaches the next one. The methods
//! and their waits are `vsva_pci::reset`'s; this module picks one, waits on
//! the boot clock and applies the manifest's opt-in for devices that have
//! none (`devices_without_reset`).

use log::warn;
use vsva_pci::Bdf;
use vsva_pci::reset::{self, Delay, ResetMethod};

use super::assign::Isolation;
use crate::pci::Segment;

/// Waits on the boot clock, which always advances, so every wait ends.
struct BootClock;

impl Delay for BootClock {
    fn delay_us(&mut self, us: u32) {
        let now = crate::arch::time::uptime_nanos;
        let end = now().saturating_add(u64::from(us) * 1000);
        while now() < end {
            core::hint::spin_loop();
        }
    }
}

/// Resets `bdf` before a partition gets it. `lone_bridge`: the bridge above
/// it when it is alone on that bridge's secondary bus (a bus reset may be
/// used). `may_skip`: the manifest lets it go without a reset when it has
/// none. Returns the method used, which the release uses again.
pub(super) fn before_assign(
    seg: &Segment,
    bdf: Bdf,
    lone_bridge: Option<Bdf>,
    may_skip: bool,
) -> Result<Option<ResetMethod>, Isolation> {
    match reset::method(&seg.access, bdf, lone_bridge) {
        Some(method) => {
            reset::reset(&seg.access, &mut BootClock, bdf, method)
                .map_err(|e| Isolation::ResetFailed(method, e))?;
            Ok(Some(method))
        }
        None if may_skip => {
            warn!(
                "{:04x}:{bdf} has no reset (no FLR, no PM reset, not alone below a bridge): assigned as the manifest allows, its state passes between owners",
                seg.segment
            );
            Ok(None)
        }
        None => Err(Isolation::NoReset),
    }
}

/// Resets a released function with the method its assignment used (bus
/// mastering is off already). A failure is logged: the function stays as it
/// is, unreachable by DMA, and the next assignment resets it again or
/// refuses it.
pub(super) fn after_release(seg: &Segment, bdf: Bdf, method: Option<ResetMethod>) {
    if let Some(method) = method
        && let Err(e) = reset::reset(&seg.access, &mut BootClock, bdf, method)
    {
        warn!(
            "{:04x}:{bdf}: {method:?} after release failed ({e:?}); it is reset again before its next assignment",
            seg.segment
        );
    }
}
