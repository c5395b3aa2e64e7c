//! A fuzz harness for the vSVA service (feature `sim`): [`run`] decodes its
//! input into a scenario and drives the service on the host, against the
//! VT-d model (its nested unit beside one of QEMU's, whose tables the
//! service shadows) or the SMMUv3 model (its full SMMU beside QEMU's), with
//! two or three partitions, each with RAM in one simulated memory and
//! devices on either unit.
//!
//! A scenario is a sequence of steps: every vSVA call with argument structs
//! built from the input (well-formed, at hostile addresses, of wrong sizes,
//! or raw bytes), guest page tables, CD tables and event rings written into
//! the caller's RAM (valid entries and scribbles), DMA by every device
//! (assigned or not, with and without PASIDs), page requests, stalls, SMMU
//! external aborts and event floods, polls and deliveries as time advances,
//! hardware errors armed for one step, partitions removed and made again.
//!
//! What must hold (else a [`Violation`]; a panic or a hang is a finding
//! too, and every loop is bounded by the input's length):
//! - a DMA that completes (directly, or a stalled one retried) touches only
//!   host memory of the RAM of the partition that owns the device; a read
//!   may also reach the table-window pages the service placed for that
//!   partition (read-only there); a device no partition owns completes
//!   nothing;
//! - no record in a partition's ring, and no routed fault, names a device
//!   that is not the partition's;
//! - a call answers `Ok` only for what the caller owns (its devices, its
//!   PASIDs), PASIDs stay within the quota;
//! - a removal quarantines only when an injected error was armed for it;
//!   otherwise every page the service and the units took on the
//!   partition's behalf is back (owner tags of the simulated memory),
//!   its PASIDs and bindings are gone; when the scenario ends, no PASID is
//!   held and the units hold what they held after bring-up. A partition
//!   an injected error reached is accounted for: its pages are reported in
//!   [`Outcome::kept_pages`], the others are still checked.

mod args;
mod calls;
mod devices;
mod guest;
mod input;
mod platform;
mod world;

use alloc::string::String;

use input::Input;
use platform::{Arm, Platform, X86};
use world::World;

/// What a scenario did, for tests that check the harness reaches things.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Steps run.
    pub steps: usize,
    /// vSVA calls made, and those that succeeded.
    pub calls: usize,
    pub calls_ok: usize,
    /// Stage-1 and CD-table binds that succeeded.
    pub binds: usize,
    /// DMA attempts, and those that completed.
    pub dma: usize,
    pub dma_ok: usize,
    /// Page requests the units took.
    pub requests: usize,
    /// Records written into rings.
    pub records: usize,
    /// Partitions removed, and those that were quarantined.
    pub removals: usize,
    pub quarantines: usize,
    /// Pages kept for partitions an injected error reached (quarantined,
    /// or with bindings the unit could not be sure were gone).
    pub kept_pages: usize,
}

/// What went wrong, and at which step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    pub step: usize,
    pub what: String,
}

impl core::fmt::Display for Violation {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "step {}: {}", self.step, self.what)
    }
}

/// Runs the scenario `data` describes; the first property that failed.
pub fn run(data: &[u8]) -> Result<Outcome, Violation> {
    let mut input = Input::new(data);
    let machine = input.u8();
    if machine & 1 == 0 {
        scenario(&X86::new(machine >> 1), &mut input)
    } else {
        scenario(&Arm::new(), &mut input)
    }
}

/// Step choices (an input byte modulo this).
const STEPS: u8 = 16;
/// The step that arms a hardware error for the step after it.
const INJECT: u8 = STEPS - 1;

fn scenario<P: Platform>(platform: &P, input: &mut Input<'_>) -> Result<Outcome, Violation> {
    let mut w = World::new(platform, input)?;
    while !input.is_empty() {
        w.step += 1;
        let mut choice = input.u8() % STEPS;
        let armed = choice == INJECT;
        if armed {
            let unit = input.below(2);
            platform.inject(unit, input.u8());
            w.armed = true;
            choice = input.u8() % INJECT;
            w.one_step(choice, input)?;
            P::flush(&mut w.sva, unit);
            w.armed = false;
        } else {
            w.one_step(choice, input)?;
        }
        w.check_stalls()?;
    }
    w.finish()
}

impl<P: Platform> World<'_, P> {
    /// One step of kind `choice` (below [`INJECT`]).
    fn one_step(&mut self, choice: u8, input: &mut Input<'_>) -> Result<(), Violation> {
        match choice {
            0..=2 => self.call_step(input),
            3 => self.setup_step(input),
            4 => self.raw_call_step(input),
            5 => self.map_step(input),
            6 => self.scribble_step(input),
            7 => self.cd_step(input),
            8 | 9 => self.dma_step(input),
            10 => self.request_step(input),
            11 => self.slice_step(input),
            12 => self.consume_step(input),
            13 => self.faults_step(input),
            _ => self.lifecycle_step(input),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_input_is_a_scenario_without_steps() {
        let out = run(&[]).unwrap();
        assert_eq!(out.steps, 0);
        let out = run(&[1]).unwrap();
        assert_eq!(out.steps, 0);
    }
}
