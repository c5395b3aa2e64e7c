//! Device resets between owners: the functions of an assignment (the
//! assigned one and the rest of its isolation group, which the owner can
//! reach inside the device) are reset when assigned and again when their
//! partition releases them, so that nothing an owner left in them
//! (registers, buffers, armed DMA) reaches the next one. The methods and
//! their waits are `vsva_pci::reset`'s; this module picks one per function,
//! waits on the boot clock, checks that the same function came back, and
//! applies the manifest's opt-in for devices that have no reset
//! (`devices_without_reset`).

use alloc::vec::Vec;

use log::warn;
use vsva_pci::reset::{self, Delay, ResetError, ResetMethod};
use vsva_pci::{Bdf, ConfigAccess, group};

use super::assign::Isolation;
use crate::pci::{PciFunction, Segment};

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

/// The functions of one assignment and how each is reset (`None`: it has
/// no reset and the manifest allowed that).
pub(super) type Plan = Vec<(Bdf, Option<ResetMethod>)>;

/// Resets `f` with `method` and checks that the function enumeration found
/// answers again (same IDs and class): a device that came back as another
/// is not given to anyone.
fn reset_one(seg: &Segment, f: &PciFunction, method: ResetMethod) -> Result<(), ResetError> {
    let bdf = f.function.bdf;
    reset::reset(&seg.access, &mut BootClock, bdf, method)?;
    let ids = u32::from(f.function.vendor_id) | u32::from(f.function.device_id) << 16;
    let class = seg
        .access
        .read32(bdf, vsva_pci::header::offset::REVISION_ID)
        >> 8;
    if seg.access.read32(bdf, vsva_pci::header::offset::VENDOR_ID) != ids
        || class != f.function.class.value()
    {
        return Err(ResetError::Changed);
    }
    Ok(())
}

/// Resets `members` (the assigned function first, then the rest of its
/// group) before a partition gets them. `may_skip`: the manifest lets this
/// assignment go without resets where a function has none. Returns the plan
/// the release follows.
pub(super) fn before_assign(
    seg: &Segment,
    members: &[Bdf],
    may_skip: bool,
) -> Result<Plan, Isolation> {
    let all: Vec<Bdf> = seg.functions.iter().map(|o| o.function.bdf).collect();
    let mut plan = Plan::new();
    for &bdf in members {
        let Some(f) = seg.functions.iter().find(|o| o.function.bdf == bdf) else {
            continue;
        };
        let lone = group::lone_parent(bdf, f.function.parent, &all);
        match reset::method(&seg.access, bdf, lone) {
            Some(method) => {
                reset_one(seg, f, method).map_err(|e| Isolation::ResetFailed(method, e))?;
                plan.push((bdf, Some(method)));
            }
            None if may_skip => {
                warn!(
                    "{:04x}:{bdf} has no reset (no FLR, no PM reset, not alone below a bridge): assigned as the manifest allows, its state passes between owners",
                    seg.segment
                );
                plan.push((bdf, None));
            }
            None => return Err(Isolation::NoReset),
        }
    }
    Ok(plan)
}

/// Resets the functions of a released assignment (bus mastering is off
/// already). Returns those whose reset failed: they may hold what the
/// owner left, so they are never given to another partition.
pub(super) fn after_release(seg: &Segment, plan: &Plan) -> Vec<Bdf> {
    let mut failed = Vec::new();
    for &(bdf, method) in plan {
        let (Some(method), Some(f)) =
            (method, seg.functions.iter().find(|o| o.function.bdf == bdf))
        else {
            continue;
        };
        if let Err(e) = reset_one(seg, f, method) {
            warn!(
                "{:04x}:{bdf}: {method:?} after release failed ({e:?}): it is kept from every partition",
                seg.segment
            );
            failed.push(bdf);
        }
    }
    failed
}
